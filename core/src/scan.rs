//! Scoring slot pages against a query: batch distance kernels over a page's packed vectors,
//! and the per-worker [`Collector`] that keeps the nearest candidates.

use half::f16;

use crate::distance::{self, Metric};
use crate::elem::ElemKind;
use crate::order::Candidate;
use crate::pages::SlotLayout;

/// A query prepared for scanning: f32 values and, for cosine, its squared norm.
pub struct Query {
    pub metric: Metric,
    pub values: Vec<f32>,
    pub norm_sq: f32,
    /// For the bit metrics: the query bit string packed as stored (most significant bit of
    /// each byte first), from `values` (0 or 1 each).
    pub bits: Vec<u8>,
    /// For `sparsevec`: the query as an index stores it ([`crate::sparse::encode`]).
    pub stored: Vec<u8>,
    /// A NULL query (`ORDER BY v <-> NULL`): every distance is NaN, so all rows tie and come
    /// out in id order.
    pub null: bool,
    /// Pages of RaBitQ codes are scored through these: per list, lower bounds on the distance
    /// (the scan then re-ranks by the exact one).
    pub codes: Option<std::sync::Arc<crate::rabitq::code::CodeLists>>,
}

impl Query {
    pub fn new(metric: Metric, values: Vec<f32>) -> Query {
        let norm_sq = distance::norm_squared(&values);
        let bits = if metric.is_bitwise() {
            pack_bits(&values)
        } else {
            Vec::new()
        };
        Query {
            metric,
            values,
            norm_sq,
            bits,
            stored: Vec::new(),
            null: false,
            codes: None,
        }
    }

    /// A `sparsevec` query, as stored ([`crate::sparse::encode`]).
    pub fn sparse(metric: Metric, stored: Vec<u8>) -> Query {
        Query {
            metric,
            values: Vec::new(),
            norm_sq: 0.0,
            bits: Vec::new(),
            stored,
            null: false,
            codes: None,
        }
    }

    /// The NULL query: scores nothing, every distance is NaN.
    pub fn null(metric: Metric) -> Query {
        Query {
            metric,
            values: Vec::new(),
            norm_sq: 0.0,
            bits: Vec::new(),
            stored: Vec::new(),
            null: true,
            codes: None,
        }
    }
}

/// The largest f32 not above `d`. Hamming distances are integers (exact in f32); a Jaccard
/// distance rounded this way is a lower bound, so with the executor rechecking the exact value
/// (`xs_recheckorderby`) rows still come out in exact order.
pub fn f32_at_most(d: f64) -> f32 {
    let f = d as f32;
    if (f as f64) > d {
        f.next_down()
    } else {
        f
    }
}

/// Bits given as 0.0 / non-zero values, packed most significant bit first (Postgres' `bit`).
pub fn pack_bits(values: &[f32]) -> Vec<u8> {
    let mut out = vec![0u8; values.len().div_ceil(8)];
    for (i, &v) in values.iter().enumerate() {
        if v != 0.0 {
            out[i / 8] |= 0x80 >> (i % 8);
        }
    }
    out
}

/// Distances over `count` packed vectors in `bytes`, into `out[..count]`.
fn batch_distances(layout: &SlotLayout, q: &Query, bytes: &[u8], count: usize, out: &mut [f32]) {
    distances(layout.elem, layout.dims, q, bytes, count, out)
}

/// The ordering distance from `q` to one stored vector of `dims` elements of `elem`.
pub fn score_bytes(elem: ElemKind, dims: usize, q: &Query, bytes: &[u8]) -> f32 {
    let mut d = [0f32];
    distances(elem, dims, q, bytes, 1, &mut d);
    d[0]
}

/// The ordering distance between two stored vectors (as [`score_bytes`] would give with one of
/// them as the query).
pub fn pair_distance(metric: Metric, elem: ElemKind, a: &[u8], b: &[u8]) -> f32 {
    match elem {
        ElemKind::Sparse => {
            use crate::sparse;
            let (mut ca, mut cb) = Default::default();
            let (x, y) = (
                sparse::stored_view(a, &mut ca),
                sparse::stored_view(b, &mut cb),
            );
            match metric {
                Metric::L2 => sparse::l2_squared(x, y),
                Metric::InnerProduct => -sparse::inner_product(x, y),
                Metric::L1 => sparse::l1(x, y),
                _ => sparse::cosine_distance(x, y) as f32,
            }
        }
        ElemKind::Bit => {
            let d = match metric {
                Metric::Jaccard => crate::bits::jaccard(a, b),
                _ => crate::bits::hamming(a, b),
            };
            f32_at_most(d)
        }
        ElemKind::F32 => {
            let n = a.len() / 4;
            let (mut ca, mut cb) = (Vec::new(), Vec::new());
            let (x, y) = (as_f32(a, n, &mut ca), as_f32(b, n, &mut cb));
            match metric {
                Metric::L2 => distance::l2_squared(x, y),
                Metric::InnerProduct => -distance::dot(x, y),
                Metric::L1 => distance::l1(x, y),
                _ => {
                    let (dot, na, nb) = distance::cosine_parts(x, y);
                    distance::cosine_distance_from_parts(dot, na, nb)
                }
            }
        }
        ElemKind::F16 => {
            let n = a.len() / 2;
            let (mut ca, mut cb) = (Vec::new(), Vec::new());
            let (x, y) = (as_f16(a, n, &mut ca), as_f16(b, n, &mut cb));
            match metric {
                Metric::L2 => distance::l2_squared_f16(x, y),
                Metric::InnerProduct => -distance::dot_f16(x, y),
                Metric::L1 => distance::l1_f16(x, y),
                _ => {
                    let (dot, na, nb) = distance::cosine_parts_f16(x, y);
                    distance::cosine_distance_from_parts(dot, na, nb)
                }
            }
        }
    }
}

fn distances(elem: ElemKind, dims: usize, q: &Query, bytes: &[u8], count: usize, out: &mut [f32]) {
    if q.null {
        out[..count].fill(f32::NAN);
        return;
    }
    if elem == ElemKind::Bit {
        let distance = match q.metric {
            Metric::Jaccard => crate::bits::jaccard,
            _ => crate::bits::hamming,
        };
        for (o, v) in out[..count]
            .iter_mut()
            .zip(bytes.chunks_exact(elem.bytes(dims)))
        {
            *o = f32_at_most(distance(&q.bits, v));
        }
        return;
    }
    if elem == ElemKind::Sparse {
        let mut at = 0;
        for o in out[..count].iter_mut() {
            let len = crate::sparse::stored_len_of(&bytes[at..]).expect("a stored sparse vector");
            *o = pair_distance(q.metric, elem, &q.stored, &bytes[at..at + len]);
            at += len;
        }
        return;
    }
    let n = count * dims;
    match elem {
        ElemKind::F32 => {
            let mut aligned = Vec::new();
            let data = as_f32(bytes, n, &mut aligned);
            distance::batch_f32(q.metric, &q.values, q.norm_sq, data, &mut out[..count]);
        }
        ElemKind::F16 => {
            let mut aligned = Vec::new();
            let data = as_f16(bytes, n, &mut aligned);
            distance::batch_f16(q.metric, &q.values, q.norm_sq, data, &mut out[..count]);
        }
        ElemKind::Bit | ElemKind::Sparse => unreachable!("handled above"),
    }
}

/// View bytes as f32 in place when aligned (buffer pages are), else copy.
fn as_f32<'a>(bytes: &'a [u8], n: usize, copy: &'a mut Vec<f32>) -> &'a [f32] {
    let bytes = &bytes[..n * 4];
    // SAFETY: every bit pattern is a valid f32.
    let (pre, mid, _) = unsafe { bytes.align_to::<f32>() };
    if pre.is_empty() && mid.len() == n {
        return mid;
    }
    copy.extend(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_ne_bytes(c.try_into().unwrap())),
    );
    copy
}

fn as_f16<'a>(bytes: &'a [u8], n: usize, copy: &'a mut Vec<f16>) -> &'a [f16] {
    let bytes = &bytes[..n * 2];
    // SAFETY: every bit pattern is a valid f16.
    let (pre, mid, _) = unsafe { bytes.align_to::<f16>() };
    if pre.is_empty() && mid.len() == n {
        return mid;
    }
    copy.extend(
        bytes
            .chunks_exact(2)
            .map(|c| f16::from_ne_bytes([c[0], c[1]])),
    );
    copy
}

/// Score one multi-page slot given its pages in order; `scratch` is reused between calls.
pub fn scan_spanning_slot(
    layout: &SlotLayout,
    q: &Query,
    pages: &[&[u8]],
    scratch: &mut Vec<u8>,
) -> Option<Candidate> {
    debug_assert_eq!(pages.len(), layout.pages_per_slot);
    let tid = layout.tid(pages[0], 0);
    if !tid.is_valid() {
        return None;
    }
    scratch.clear();
    for (i, page) in pages.iter().enumerate() {
        let len = layout
            .chunk_bytes
            .min(layout.vec_bytes - i * layout.chunk_bytes);
        scratch.extend_from_slice(&page[layout.vectors_offset..layout.vectors_offset + len]);
    }
    let mut d = [0f32];
    batch_distances(layout, q, scratch, 1, &mut d);
    Some(Candidate {
        dist: d[0],
        id: tid.pack(),
    })
}

/// Collects scored candidates for one worker.
///
/// With a `cap`, only candidates that can still be among the `cap` nearest are kept: the
/// buffer is cut back to `cap` (by partial selection) whenever it doubles, and anything farther
/// than the cut is dropped on arrival, so a `LIMIT 10` scan stores a few thousand candidates, not
/// millions. With `after`, candidates at or before that key in scan order (distance, then id)
/// are skipped: a second pass resumes exactly where the first one stopped.
pub struct Collector {
    cap: Option<usize>,
    after: Option<Candidate>,
    buf: Vec<Candidate>,
    /// Farthest key still worth keeping (only with a cap, once the buffer was cut).
    threshold: Option<Candidate>,
    scratch: Vec<u8>,
    dist: Vec<f32>,
}

pub use crate::order::compare as key_cmp;

fn canonical_nan(d: f32) -> f32 {
    if d.is_nan() {
        f32::NAN.copysign(1.0)
    } else {
        d
    }
}

impl Collector {
    pub fn new(cap: Option<usize>, after: Option<Candidate>) -> Collector {
        Collector {
            cap,
            after,
            buf: Vec::new(),
            threshold: None,
            scratch: Vec::new(),
            dist: Vec::new(),
        }
    }

    fn push(&mut self, c: Candidate) {
        let c = Candidate {
            dist: canonical_nan(c.dist),
            id: c.id,
        };
        if let Some(a) = &self.after {
            if key_cmp(&c, a) != std::cmp::Ordering::Greater {
                return;
            }
        }
        if let Some(t) = &self.threshold {
            if key_cmp(&c, t) == std::cmp::Ordering::Greater {
                return;
            }
        }
        self.buf.push(c);
        if let Some(cap) = self.cap {
            if self.buf.len() >= 2 * cap.max(16) {
                self.cut(cap);
            }
        }
    }

    fn cut(&mut self, cap: usize) {
        if self.buf.len() > cap && cap > 0 {
            self.buf.select_nth_unstable_by(cap - 1, key_cmp);
            self.buf.truncate(cap);
            self.threshold = self.buf.iter().copied().max_by(key_cmp);
        }
    }

    /// Score every live slot of one data page (single-page slots).
    pub fn add_page(&mut self, layout: &SlotLayout, q: &Query, page: &[u8]) {
        let count = layout.count(page).min(layout.per_page);
        if count == 0 {
            return;
        }
        self.dist.resize(count, 0.0);
        let mut dist = std::mem::take(&mut self.dist);
        let vectors = &page[layout.vectors_offset..];
        match (&q.codes, q.null) {
            (Some(codes), false) => {
                let Some(lq) = codes.list(layout.owner(page)) else {
                    self.dist = dist;
                    return; // a list this scan does not probe
                };
                lq.lower_bounds(vectors, layout.vec_bytes, count, &mut dist);
            }
            _ => batch_distances(layout, q, vectors, count, &mut dist),
        }
        for (pos, &d) in dist.iter().enumerate() {
            // Most candidates of a long scan are beyond the cut: reject those before reading
            // their TIDs (ties and NaN take the full comparison in `push`).
            if self.after.is_none() && self.threshold.is_some_and(|t| d > t.dist) {
                continue;
            }
            let tid = layout.tid(page, pos);
            if tid.is_valid() {
                self.push(Candidate {
                    dist: d,
                    id: tid.pack(),
                });
            }
        }
        self.dist = dist;
    }

    /// Score every row of a packed page ([`crate::pages::packed`]; rows: stored `sparsevec`).
    pub fn add_packed_page(&mut self, q: &Query, page: &[u8]) {
        use crate::pages::packed;
        if !packed::is_packed_page(page) {
            return; // never written (left by an insert whose record was lost)
        }
        for (tid, row) in packed::entries(page, crate::sparse::stored_len_of) {
            let dist = if q.null {
                f32::NAN
            } else {
                pair_distance(q.metric, ElemKind::Sparse, &q.stored, row)
            };
            self.push(Candidate {
                dist,
                id: tid.pack(),
            });
        }
    }

    /// Score one slot spanning `pages` (in order).
    pub fn add_spanning_slot(&mut self, layout: &SlotLayout, q: &Query, pages: &[&[u8]]) {
        let mut scratch = std::mem::take(&mut self.scratch);
        if let Some(c) = scan_spanning_slot(layout, q, pages, &mut scratch) {
            self.push(c);
        }
        self.scratch = scratch;
    }

    /// Score a run of consecutive data pages.
    pub fn add_run(&mut self, layout: &SlotLayout, q: &Query, pages: &[&[u8]]) {
        if layout.packed {
            for (i, page) in pages.iter().enumerate() {
                if let Some(ahead) = pages.get(i + PREFETCH_AHEAD) {
                    prefetch(&ahead[..crate::pages::packed::end(ahead)]);
                }
                self.add_packed_page(q, page);
            }
        } else if layout.pages_per_slot == 1 {
            for (i, page) in pages.iter().enumerate() {
                if let Some(ahead) = pages.get(i + PREFETCH_AHEAD) {
                    prefetch(&ahead[..layout.used_end()]);
                }
                self.add_page(layout, q, page);
            }
        } else {
            let mut slots = pages.chunks(layout.pages_per_slot).peekable();
            while let Some(slot_pages) = slots.next() {
                if let Some(ahead) = slots.peek() {
                    ahead.iter().for_each(|p| prefetch(&p[..layout.used_end()]));
                }
                self.add_spanning_slot(layout, q, slot_pages);
            }
        }
    }

    /// Merge workers' results: with a cap, the `cap` nearest of them all.
    pub fn merge(mut parts: Vec<Collector>) -> Vec<Candidate> {
        let cap = parts.first().and_then(|p| p.cap);
        if let Some(cap) = cap {
            // Each part down to `cap` first: the merged copy stays within threads × cap.
            parts.iter_mut().for_each(|p| p.cut(cap));
        }
        let mut all: Vec<Candidate> = Vec::with_capacity(parts.iter().map(|p| p.buf.len()).sum());
        for p in parts {
            all.extend_from_slice(&p.buf);
        }
        if let Some(cap) = cap {
            if all.len() > cap {
                all.select_nth_unstable_by(cap - 1, key_cmp);
                all.truncate(cap);
            }
        }
        all
    }
}

/// How many pages ahead of the page being scored `add_run` prefetches.
const PREFETCH_AHEAD: usize = 1;

/// Ask the CPU to start loading `bytes` into L2/L3 (not L1: the page being scored stays there).
/// Pages sit wherever shared buffers put them, so the hardware prefetcher, which follows an
/// address stream only within a 4 KiB page, would otherwise start cold twice per page. (The
/// README's design notes give the measurements behind L2, the next page, every line.)
#[inline]
fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: prefetching is a hint; the address is inside a live slice.
        unsafe {
            core::arch::x86_64::_mm_prefetch(
                line.as_ptr() as *const i8,
                core::arch::x86_64::_MM_HINT_T2,
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// Score a run of consecutive data pages on the rayon pool (pure compute: the caller keeps the
/// pages pinned). Results come back in page order whatever the thread count.
pub fn scan_pages_parallel(layout: &SlotLayout, q: &Query, pages: &[&[u8]]) -> Vec<Candidate> {
    use rayon::prelude::*;
    let step = if layout.pages_per_slot == 1 {
        16
    } else {
        layout.pages_per_slot
    };
    let parts: Vec<Collector> = pages
        .par_chunks(step)
        .map(|chunk| {
            let mut c = Collector::new(None, None);
            c.add_run(layout, q, chunk);
            c
        })
        .collect();
    Collector::merge(parts)
}

#[cfg(test)]
mod tests {
    use super::f32_at_most;

    #[test]
    fn f32_lower_bounds_are_tight() {
        for u in 1..3000u32 {
            for a in [0, 1, u / 3, u / 2, u.saturating_sub(1), u] {
                let d = 1.0 - a as f64 / u as f64;
                let f = f32_at_most(d);
                assert!(f as f64 <= d, "{a}/{u}");
                assert!(f.next_up() as f64 > d, "{a}/{u}: not the largest");
            }
        }
    }
}
