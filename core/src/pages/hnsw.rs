//! `hnsw` pages: graph records and vectors, addressed by node number alone.
//!
//! Node `n` belongs to segment `s = n / per_seg` at position `i = n % per_seg`. Segment `s` is
//! `1 + V` consecutive blocks from `1 + s·(1 + V)`: one graph page (the records of its
//! `per_seg` nodes) and `V` vector pages. A neighbour is a node number (4 bytes), so following a
//! link needs no lookup: block and offset are arithmetic.
//!
//! Graph page:
//! ```text
//!  0        24                    32                           32+per_seg·R    upper_end   8192
//!  +--------+---------------------+----------------------------+---------------+-----------+
//!  | PageHdr| magic u32           | records[per_seg], R bytes  | upper lists   |   free    |
//!  | 24 B   | upper_end u16       | each (below)               | (bump         |           |
//!  |        | reserved u16        |                            |  allocated)   |           |
//!  +--------+---------------------+----------------------------+---------------+-----------+
//!
//! record (R = 72 + 8·m bytes):
//!  0 state u8: 0 empty (never used, or freed by VACUUM), 1 live, 2 dead (VACUUM found every
//!    heap row gone; still linked until its neighbours are repaired, never returned)
//!  1 level u8      2 ntids u8     3 kept u8: 0 unknown, else 1 + how many of the level-0
//!    links, from the first, the selection heuristic kept (the rest are fill-ins it pruned)
//!                                 4 upper u16: offset on this page of the
//!  node's upper lists (levels 1..=level, m u32 each), 0 for level 0     6 reserved u16
//!  8 heap tids[10], 6 B each (rows with identical vectors share a node, as in pgvector)
//!  68 reserved u32
//!  72 level-0 neighbours[2m] u32, unused entries NONE (u32::MAX); upper lists likewise
//! ```
//! Vector page: the page header, magic u32, reserved u32, then vectors from byte 32 packed back
//! to back (`per_page` of them; vector `j` of the segment on vector page `j / per_page`). A
//! vector larger than a page spans `pages_per_vec` consecutive vector pages in chunks of
//! `PAGE_SIZE − 32` bytes.
//!
//! **Variable-length vectors** (`sparsevec`): the record grows by 8 bytes, at 72: the vector's
//! block u32, offset u16 and length u16; the level-0 neighbours start at 80. A segment's `V`
//! vector pages (`V` chosen by the build from its data, kept in the meta page) hold its nodes'
//! vectors packed from byte 32 to `pd_lower`. When an insert finds no room there, the vector
//! goes to a *spill segment*: a whole segment the insert takes for vectors alone (its graph
//! page stays without records; the meta page names it and moves the node counter past it).
//!
//! A record and its vector are written before any link to the node exists, and links are
//! added one record at a time, so a reader that reaches a node finds it complete.

use super::{get_u32, put_u32, PAGE_HEADER, PAGE_SIZE};
use crate::elem::ElemKind;
use crate::tid::{Tid, TID_SIZE};

pub const GRAPH_MAGIC: u32 = 0x5658_4847; // "VXHG"
pub const VECTOR_MAGIC: u32 = 0x5658_4856; // "VXHV"
pub const NONE: u32 = u32::MAX;
/// Heap rows one node can hold (rows whose vectors are identical).
pub const MAX_TIDS: usize = 10;

pub const STATE_EMPTY: u8 = 0;
pub const STATE_LIVE: u8 = 1;
pub const STATE_DEAD: u8 = 2;

const RECORDS: usize = PAGE_HEADER + 8;
const VECTORS: usize = PAGE_HEADER + 8;
const CHUNK: usize = PAGE_SIZE - VECTORS;
const REC_FIXED: usize = 72;
/// The fixed part of a record of variable-length vectors (with the vector's place).
const REC_FIXED_VARIABLE: usize = 80;
/// First byte of a vector page's vectors.
pub const VECTORS_START: usize = VECTORS;

/// Where nodes live, for one index (dimensions, element type and `m`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HnswLayout {
    pub dims: usize,
    pub elem: ElemKind,
    pub m: usize,
    pub vec_bytes: usize,
    /// Bytes of one graph record.
    pub record: usize,
    /// Nodes per segment (records per graph page).
    pub per_seg: usize,
    /// Vector pages per segment.
    pub vec_pages: usize,
    /// Vectors per vector page (1 when a vector spans pages).
    pub per_page: usize,
    /// Vector pages per vector (1 unless a vector is larger than a page).
    pub pages_per_vec: usize,
    /// Highest level a node can have (its upper lists must fit a graph page's spare room).
    pub max_level: usize,
    /// Vectors of varying length (`sparsevec`), each found through its record.
    pub variable: bool,
    /// Offset of the level-0 neighbours in a record.
    pub links_at: usize,
}

impl HnswLayout {
    pub fn new(dims: usize, elem: ElemKind, m: usize) -> HnswLayout {
        assert!(dims > 0 && (2..=100).contains(&m));
        let vec_bytes = elem.bytes(dims);
        let variable = elem == ElemKind::Sparse;
        let links_at = if variable {
            REC_FIXED_VARIABLE
        } else {
            REC_FIXED
        };
        let record = links_at + 8 * m;
        // Room kept for upper lists: a node reaches level l with probability m^-l, so a page of
        // per_seg nodes needs about per_seg·4 bytes on average; keep far more, and at least
        // four levels of one node.
        let reserve = (16 * 4 * m).max(1024);
        let mut per_seg = (PAGE_SIZE - RECORDS - reserve) / record;
        let (per_page, pages_per_vec, vec_pages);
        if variable {
            // Room for vectors of 64 elements on average until a build measures its data.
            assert!(vec_bytes <= CHUNK, "a stored sparse vector fits a page");
            per_page = 1;
            pages_per_vec = 1;
            vec_pages = (per_seg * crate::sparse::stored_len(64)).div_ceil(CHUNK);
        } else if vec_bytes <= CHUNK {
            per_page = CHUNK / vec_bytes;
            if per_seg > per_page {
                per_seg -= per_seg % per_page; // no half-empty last vector page
            }
            pages_per_vec = 1;
            vec_pages = per_seg.div_ceil(per_page);
        } else {
            per_page = 1;
            pages_per_vec = vec_bytes.div_ceil(CHUNK);
            vec_pages = per_seg * pages_per_vec;
        }
        let spare = PAGE_SIZE - RECORDS - per_seg * record;
        HnswLayout {
            dims,
            elem,
            m,
            vec_bytes,
            record,
            per_seg,
            vec_pages,
            per_page,
            pages_per_vec,
            max_level: (spare / (4 * m)).min(32),
            variable,
            links_at,
        }
    }

    /// A variable layout with `pages` vector pages per segment (0: keep the default).
    pub fn with_vec_pages(mut self, pages: usize) -> HnswLayout {
        if self.variable && pages > 0 {
            self.vec_pages = pages;
        }
        self
    }

    /// Vector pages per segment a build needs to pack the vectors of its nodes: node `nodes[i]`
    /// has a vector of `len(i)` bytes (a variable layout; see [`HnswLayout::pack`]).
    pub fn vec_pages_for(&self, nodes: &[u32], len: impl Fn(usize) -> usize) -> usize {
        let mut most = 1;
        let mut packer = Packer::new();
        let mut seg = u32::MAX;
        for (i, &n) in nodes.iter().enumerate() {
            if n / self.per_seg as u32 != seg {
                seg = n / self.per_seg as u32;
                packer = Packer::new();
            }
            let (page, _) = packer.place(len(i));
            most = most.max(page + 1);
        }
        most
    }

    pub fn seg_blocks(&self) -> u32 {
        1 + self.vec_pages as u32
    }

    /// Block of node `n`'s graph record, and the record's offset.
    pub fn graph_block(&self, n: u32) -> u32 {
        1 + (n / self.per_seg as u32) * self.seg_blocks()
    }

    pub fn record_offset(&self, n: u32) -> usize {
        RECORDS + (n as usize % self.per_seg) * self.record
    }

    /// First node of the segment whose graph page is `block` (`None`: not a graph page).
    pub fn first_node_of(&self, block: u32) -> Option<u32> {
        let b = block.checked_sub(1)?;
        (b % self.seg_blocks() == 0).then(|| (b / self.seg_blocks()) * self.per_seg as u32)
    }

    /// The vector pages holding node `n`'s vector: first block and byte offset (for a vector
    /// spanning pages, chunk `c` is on block `first + c` at offset 32).
    pub fn vector_at(&self, n: u32) -> (u32, usize) {
        debug_assert!(
            !self.variable,
            "a variable layout finds vectors through records"
        );
        let i = n as usize % self.per_seg;
        let base = self.graph_block(n) + 1;
        if self.pages_per_vec == 1 {
            (
                base + (i / self.per_page) as u32,
                VECTORS + (i % self.per_page) * self.vec_bytes,
            )
        } else {
            (base + (i * self.pages_per_vec) as u32, VECTORS)
        }
    }

    /// Bytes of node `n`'s vector held by chunk `c` of a spanning vector.
    pub fn chunk_len(&self, c: usize) -> usize {
        CHUNK.min(self.vec_bytes - c * CHUNK)
    }

    pub fn chunk_bytes(&self) -> usize {
        CHUNK
    }

    /// Blocks an index needs to hold nodes `0..nodes`.
    pub fn blocks_for(&self, nodes: u32) -> u32 {
        1 + nodes.div_ceil(self.per_seg as u32) * self.seg_blocks()
    }

    /// Neighbour slots on `level`.
    pub fn max_links(&self, level: usize) -> usize {
        if level == 0 {
            2 * self.m
        } else {
            self.m
        }
    }

    /// Initialise a graph page (after `init_page`).
    pub fn init_graph_page(&self, page: &mut [u8]) {
        put_u32(page, PAGE_HEADER, GRAPH_MAGIC);
        let end = (RECORDS + self.per_seg * self.record) as u16;
        page[PAGE_HEADER + 4..PAGE_HEADER + 6].copy_from_slice(&end.to_ne_bytes());
    }

    pub fn init_vector_page(&self, page: &mut [u8]) {
        put_u32(page, PAGE_HEADER, VECTOR_MAGIC);
    }

    pub fn is_graph_page(page: &[u8]) -> bool {
        get_u32(page, PAGE_HEADER) == GRAPH_MAGIC
    }

    /// First byte of the graph page not in use (its `pd_lower`).
    pub fn upper_end(page: &[u8]) -> usize {
        u16::from_ne_bytes([page[PAGE_HEADER + 4], page[PAGE_HEADER + 5]]) as usize
    }

    /// Room on a graph page for `levels` upper lists?
    pub fn upper_fits(&self, page: &[u8], levels: usize) -> bool {
        levels == 0 || Self::upper_end(page) + levels * self.m * 4 <= PAGE_SIZE
    }

    /// Used end of a vector page (of a variable layout: of an empty one).
    pub fn vector_page_end(&self) -> usize {
        if self.variable {
            VECTORS
        } else if self.pages_per_vec == 1 {
            VECTORS + self.per_page * self.vec_bytes
        } else {
            PAGE_SIZE
        }
    }

    /// A view of node `n`'s record on its graph page.
    pub fn rec<'p>(&self, page: &'p [u8], n: u32) -> Rec<'p> {
        Rec {
            page,
            at: self.record_offset(n),
            m: self.m,
            links_at: self.links_at,
        }
    }

    /// Write a new record for node `n`: state live, `level`, `tids`, no neighbours yet; upper
    /// lists allocated on the page. The caller checked [`HnswLayout::upper_fits`].
    pub fn write_new_record(&self, page: &mut [u8], n: u32, level: usize, tids: &[Tid]) {
        assert!(!tids.is_empty() && tids.len() <= MAX_TIDS && level <= self.max_level);
        let at = self.record_offset(n);
        let r = &mut page[at..at + self.record];
        r.fill(0);
        r[0] = STATE_LIVE;
        r[1] = level as u8;
        r[2] = tids.len() as u8;
        for (i, t) in tids.iter().enumerate() {
            t.write(&mut r[8 + i * TID_SIZE..]);
        }
        for x in r[self.links_at..].chunks_exact_mut(4) {
            x.copy_from_slice(&NONE.to_ne_bytes());
        }
        if level > 0 {
            let upper = Self::upper_end(page);
            let len = level * self.m * 4;
            assert!(upper + len <= PAGE_SIZE, "no room for upper lists");
            for x in page[upper..upper + len].chunks_exact_mut(4) {
                x.copy_from_slice(&NONE.to_ne_bytes());
            }
            page[at + 4..at + 6].copy_from_slice(&(upper as u16).to_ne_bytes());
            let end = (upper + len) as u16;
            page[PAGE_HEADER + 4..PAGE_HEADER + 6].copy_from_slice(&end.to_ne_bytes());
        }
    }

    fn list_at(&self, page: &[u8], n: u32, level: usize) -> (usize, usize) {
        let at = self.record_offset(n);
        if level == 0 {
            (at + self.links_at, 2 * self.m)
        } else {
            let upper = u16::from_ne_bytes([page[at + 4], page[at + 5]]) as usize;
            (upper + (level - 1) * self.m * 4, self.m)
        }
    }

    /// Replace node `n`'s neighbours on `level` (at most [`HnswLayout::max_links`]); on level
    /// 0 the kept count becomes unknown ([`HnswLayout::set_kept`]).
    pub fn set_neighbours(&self, page: &mut [u8], n: u32, level: usize, links: &[u32]) {
        if level == 0 {
            page[self.record_offset(n) + 3] = 0;
        }
        let (start, cap) = self.list_at(page, n, level);
        assert!(links.len() <= cap && level <= page[self.record_offset(n) + 1] as usize);
        for (k, x) in page[start..start + cap * 4].chunks_exact_mut(4).enumerate() {
            x.copy_from_slice(&links.get(k).copied().unwrap_or(NONE).to_ne_bytes());
        }
    }

    /// Record where node `n`'s vector is (a variable layout).
    pub fn set_vector_place(&self, page: &mut [u8], n: u32, block: u32, offset: usize, len: usize) {
        assert!(self.variable && offset + len <= PAGE_SIZE);
        let at = self.record_offset(n) + REC_FIXED;
        put_u32(page, at, block);
        page[at + 4..at + 6].copy_from_slice(&(offset as u16).to_ne_bytes());
        page[at + 6..at + 8].copy_from_slice(&(len as u16).to_ne_bytes());
    }

    /// Record that the first `kept` of node `n`'s level-0 links are the ones the selection
    /// heuristic kept (after [`HnswLayout::set_neighbours`]).
    pub fn set_kept(&self, page: &mut [u8], n: u32, kept: usize) {
        assert!(kept <= 2 * self.m);
        page[self.record_offset(n) + 3] = kept as u8 + 1;
    }

    pub fn set_state(&self, page: &mut [u8], n: u32, state: u8) {
        page[self.record_offset(n)] = state;
    }

    /// Replace node `n`'s heap rows (at least one).
    pub fn set_tids(&self, page: &mut [u8], n: u32, tids: &[Tid]) {
        assert!(!tids.is_empty() && tids.len() <= MAX_TIDS);
        let at = self.record_offset(n);
        page[at + 2] = tids.len() as u8;
        for (i, t) in tids.iter().enumerate() {
            t.write(&mut page[at + 8 + i * TID_SIZE..]);
        }
    }
}

/// A read-only view of one graph record.
pub struct Rec<'p> {
    page: &'p [u8],
    at: usize,
    m: usize,
    links_at: usize,
}

impl Rec<'_> {
    pub fn state(&self) -> u8 {
        self.page[self.at]
    }

    pub fn level(&self) -> usize {
        self.page[self.at + 1] as usize
    }

    /// How many of the level-0 links, from the first, the selection heuristic kept (`None`:
    /// not known, e.g. written by a build or appended to).
    pub fn kept(&self) -> Option<usize> {
        (self.page[self.at + 3] as usize).checked_sub(1)
    }

    pub fn tids(&self) -> impl Iterator<Item = Tid> + '_ {
        let n = (self.page[self.at + 2] as usize).min(MAX_TIDS);
        (0..n).map(move |i| Tid::read(&self.page[self.at + 8 + i * TID_SIZE..]))
    }

    /// Where the node's vector is, in a variable layout: (block, offset, length); `None`
    /// before it was written.
    pub fn vector_place(&self) -> Option<(u32, usize, usize)> {
        let at = self.at + REC_FIXED;
        let block = get_u32(self.page, at);
        let offset = u16::from_ne_bytes([self.page[at + 4], self.page[at + 5]]) as usize;
        let len = u16::from_ne_bytes([self.page[at + 6], self.page[at + 7]]) as usize;
        (len > 0 && offset >= VECTORS && offset + len <= PAGE_SIZE).then_some((block, offset, len))
    }

    /// Neighbours on `level` (≤ this node's level), appended to `out`.
    pub fn neighbours_into(&self, level: usize, out: &mut Vec<u32>) {
        let (start, cap) = if level == 0 {
            (self.at + self.links_at, 2 * self.m)
        } else {
            let upper =
                u16::from_ne_bytes([self.page[self.at + 4], self.page[self.at + 5]]) as usize;
            if upper == 0 || level > self.level() {
                return;
            }
            (upper + (level - 1) * self.m * 4, self.m)
        };
        for k in 0..cap {
            let v = get_u32(self.page, start + 4 * k);
            if v == NONE {
                break;
            }
            out.push(v);
        }
    }

    pub fn neighbours(&self, level: usize) -> Vec<u32> {
        let mut v = Vec::new();
        self.neighbours_into(level, &mut v);
        v
    }
}

/// How a build packs one segment's variable-length vectors: in node order, each on the first
/// of the segment's vector pages with room after the ones before it.
pub struct Packer {
    page: usize,
    end: usize,
}

impl Default for Packer {
    fn default() -> Self {
        Packer::new()
    }
}

impl Packer {
    pub fn new() -> Packer {
        Packer {
            page: 0,
            end: VECTORS,
        }
    }

    /// The vector page (counted from the segment's first) and offset for `len` more bytes.
    pub fn place(&mut self, len: usize) -> (usize, usize) {
        debug_assert!(len <= CHUNK && len.is_multiple_of(4));
        if self.end + len > PAGE_SIZE {
            self.page += 1;
            self.end = VECTORS;
        }
        let at = self.end;
        self.end += len;
        (self.page, at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::init_page;

    #[test]
    fn layouts_fit_their_pages() {
        for &(dims, elem) in &[
            (3, ElemKind::F32),
            (128, ElemKind::F32),
            (384, ElemKind::F32),
            (384, ElemKind::F16),
            (1536, ElemKind::F32),
            (2040, ElemKind::F32),
            (2041, ElemKind::F32),
            (16000, ElemKind::F32),
            (64000, ElemKind::Bit),
        ] {
            for m in [2, 16, 48, 100] {
                let l = HnswLayout::new(dims, elem, m);
                assert!(l.per_seg >= 1 && l.max_level >= 4, "{l:?}");
                assert!(RECORDS + l.per_seg * l.record + l.max_level * 4 * m <= PAGE_SIZE);
                if l.pages_per_vec == 1 {
                    assert!(l.vector_page_end() <= PAGE_SIZE);
                    assert!(l.vec_pages * l.per_page >= l.per_seg);
                } else {
                    assert!(l.pages_per_vec * l.chunk_bytes() >= l.vec_bytes);
                }
                // Every node's vector lies inside its own segment, after its graph page.
                for n in [0, 1, l.per_seg as u32 - 1, l.per_seg as u32, 1000] {
                    let g = l.graph_block(n);
                    let (vb, off) = l.vector_at(n);
                    assert!(vb > g && vb + (l.pages_per_vec as u32) <= g + l.seg_blocks());
                    assert!(off + l.vec_bytes.min(l.chunk_bytes()) <= PAGE_SIZE);
                    assert_eq!(l.first_node_of(g), Some(n - n % l.per_seg as u32));
                    assert_eq!(l.first_node_of(vb), None);
                }
            }
        }
        let l = HnswLayout::new(128, ElemKind::F32, 16);
        assert_eq!((l.per_seg, l.vec_pages), (30, 2), "{l:?}");
    }

    #[test]
    fn records_round_trip() {
        let l = HnswLayout::new(8, ElemKind::F32, 4);
        let mut page = vec![0u8; PAGE_SIZE];
        init_page(&mut page);
        l.init_graph_page(&mut page);
        assert!(HnswLayout::is_graph_page(&page));
        let tids = [
            Tid {
                block: 7,
                offset: 3,
            },
            Tid {
                block: 1 << 20,
                offset: 9,
            },
        ];
        l.write_new_record(&mut page, 1, 0, &tids[..1]);
        l.write_new_record(&mut page, 2, 2, &tids);
        l.set_neighbours(&mut page, 2, 0, &[5, 6, 7]);
        l.set_neighbours(&mut page, 2, 2, &[9]);
        l.set_neighbours(&mut page, 1, 0, &[2; 8]);
        let r = l.rec(&page, 2);
        assert_eq!((r.state(), r.level()), (STATE_LIVE, 2));
        assert_eq!(r.tids().collect::<Vec<_>>(), tids);
        assert_eq!(r.neighbours(0), [5, 6, 7]);
        assert!(r.neighbours(1).is_empty());
        assert_eq!(r.neighbours(2), [9]);
        assert!(r.neighbours(3).is_empty(), "above the node's level");
        assert_eq!(l.rec(&page, 1).neighbours(0), [2; 8]);
        assert!(l.rec(&page, 1).neighbours(1).is_empty());
        assert_eq!(l.rec(&page, 0).state(), STATE_EMPTY);
        l.set_state(&mut page, 2, STATE_DEAD);
        l.set_tids(&mut page, 1, &tids[1..]);
        assert_eq!(l.rec(&page, 2).state(), STATE_DEAD);
        assert_eq!(l.rec(&page, 1).tids().collect::<Vec<_>>(), &tids[1..]);
        // Upper room runs out: a page only fits so many levels.
        let mut levels = 0;
        while l.upper_fits(&page, 1) {
            let before = HnswLayout::upper_end(&page);
            l.write_new_record(&mut page, 3, 1, &tids[..1]);
            assert_eq!(HnswLayout::upper_end(&page), before + 16);
            levels += 1;
        }
        assert!(levels >= l.max_level);
    }
}
