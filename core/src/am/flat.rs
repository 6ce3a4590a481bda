//! The `flat` index's page-level algorithms over a [`PageStore`].
//!
//! ```text
//!  block 0        meta page (AmMeta::Flat)
//!  blocks 1, 2 …  slot pages, contiguous: slot s lives on data page s / per_page, position
//!                 s % per_page (a slot spanning k pages takes k consecutive blocks)
//! ```
//! An insert takes the first free slot at or after the meta page's `free_hint`, or appends
//! one; VACUUM frees the slots of dead rows and lowers `free_hint`.
//!
//! Over `sparsevec` the data pages are packed pages ([`crate::pages::packed`]) instead: rows
//! of any length back to back. `n_slots` then counts data pages and `free_hint` is the first
//! page an insert tries; an insert appends to the first page from there with room for the row
//! (else to a new page), VACUUM compacts pages and lowers `free_hint` to the first it freed
//! space on. The meta page is locked for
//! the whole insert (inserts are serialised); VACUUM locks it only after releasing every data
//! page, so the two never wait on each other in a cycle.

use super::{free_dead_slots, Error, VacuumStats, META_BLOCK};
use crate::pages::{packed, Meta, SlotLayout, PAGE_SIZE};
use crate::store::{PageStore, Record};
use crate::tid::Tid;

/// Block number of data page `page_index`.
pub fn data_block(page_index: u64) -> u32 {
    (page_index + 1) as u32
}

/// Slot layout of an index whose meta page is `meta` (`None` before the first vector).
pub fn layout(meta: &Meta) -> Option<SlotLayout> {
    (meta.dims > 0).then(|| SlotLayout::new(meta.dims as usize, meta.elem))
}

/// Store one vector (`dims` elements, stored bytes `bytes`) for heap row `tid`.
///
/// A slot spanning several pages is written chunk by chunk, each page in a record of its own
/// while the slot's TID is still invalid (so it stays free and invisible: a crash in between
/// leaves a free slot), then the TID goes in with the meta page in the last record.
pub fn insert<S: PageStore>(store: &S, tid: Tid, dims: usize, bytes: &[u8]) -> Result<(), Error> {
    let mut rec = store.record();
    let meta_i = rec.lock(META_BLOCK);
    let mut meta = Meta::read(rec.page(meta_i)).map_err(Error::Meta)?;
    if meta.dims == 0 {
        meta.dims = dims as u32;
    } else if meta.dims as usize != dims {
        return Err(Error::Dimensions {
            expected: meta.dims,
            got: dims,
        });
    }
    let layout = layout(&meta).expect("dims are set");
    if layout.packed {
        return insert_packed(store, rec, meta_i, meta, tid, bytes);
    }
    let slot = find_free_slot(store, &layout, &meta).unwrap_or(meta.n_slots);
    meta.free_hint = slot + 1;
    meta.n_slots = meta.n_slots.max(slot + 1);
    let (page_index, pos) = layout.locate(slot);

    if layout.pages_per_slot > 1 {
        for i in 0..layout.pages_per_slot {
            let mut chunk_rec = store.record();
            let page_i = data_page(&mut chunk_rec, store, &layout, page_index + i as u64);
            layout.write_chunk(chunk_rec.page_mut(page_i), i, bytes);
            chunk_rec.commit();
        }
        let page_i = data_page(&mut rec, store, &layout, page_index);
        layout.set_tid(rec.page_mut(page_i), 0, tid);
    } else {
        let page_i = data_page(&mut rec, store, &layout, page_index);
        layout.write_vector(rec.page_mut(page_i), pos, bytes);
        layout.set_tid(rec.page_mut(page_i), pos, tid);
    }
    meta.write(rec.page_mut(meta_i));
    rec.commit();
    Ok(())
}

/// Length of a packed page's row: a stored `sparsevec`.
pub const ROW_LEN: packed::RowLen = crate::sparse::stored_len_of;

/// Pages from `free_hint` on that a packed insert looks at for room before it appends.
const SEARCH_PAGES: usize = 16;

/// Room on a packed page that keeps an insert's `free_hint` from moving past it.
const KEEP_HINT_ROOM: usize = PAGE_SIZE / 4;

/// A packed layout's insert, with the meta page locked in `rec` as `meta_i`: the row goes on
/// the first page from `free_hint` with room for it, or on a new page, in one record with the
/// meta page.
fn insert_packed<S: PageStore, R: Record>(
    store: &S,
    mut rec: R,
    meta_i: usize,
    mut meta: Meta,
    tid: Tid,
    bytes: &[u8],
) -> Result<(), Error> {
    if bytes.len() > packed::MAX_ROW {
        return Err(Error::RowTooLong { len: bytes.len() });
    }
    let need = packed::entry_len(bytes.len());
    let mut page_index = meta.free_hint;
    // The first page passed over that still has room for more than a few short rows: the
    // hint stays there, so a long row does not strand the room before it.
    let mut roomy = None;
    while page_index < meta.n_slots {
        let block = data_block(page_index);
        if block >= store.blocks() {
            break;
        }
        let page = store.read(block);
        if !packed::is_packed_page(&page) || packed::room(&page) >= need {
            break; // room, or never written (left by an insert whose record was lost)
        }
        if packed::room(&page) >= KEEP_HINT_ROOM {
            roomy.get_or_insert(page_index);
        }
        page_index += 1;
        if page_index - meta.free_hint >= SEARCH_PAGES as u64 {
            // Looked far enough with the meta page locked: append instead.
            page_index = meta.n_slots;
            break;
        }
    }
    let block = data_block(page_index);
    let page_i = if block < store.blocks() {
        let i = rec.lock(block);
        // A page past n_slots holds nothing live (n_slots grows in the record that fills it).
        if page_index >= meta.n_slots || rec.is_new(i) || !packed::is_packed_page(rec.page(i)) {
            rec.init(i);
            let end = packed::init(rec.page_mut(i));
            rec.set_used_end(i, end);
        }
        i
    } else {
        let i = rec.extend();
        assert_eq!(rec.block(i), block, "flat data pages must be contiguous");
        let end = packed::init(rec.page_mut(i));
        rec.set_used_end(i, end);
        i
    };
    let end = packed::append(rec.page_mut(page_i), tid, bytes).expect("the page has room");
    rec.set_used_end(page_i, end);
    meta.free_hint = roomy.unwrap_or(page_index);
    meta.n_slots = meta.n_slots.max(page_index + 1);
    meta.write(rec.page_mut(meta_i));
    rec.commit();
    Ok(())
}

/// A packed layout's VACUUM: compact every page with dead rows, one record each.
fn bulk_delete_packed<S: PageStore>(
    store: &S,
    meta: &Meta,
    dead: &mut impl FnMut(Tid) -> bool,
    delay: &mut impl FnMut(),
) -> (VacuumStats, Option<u64>) {
    let mut stats = VacuumStats::default();
    let mut lowest = None;
    for k in 0..meta.n_slots {
        let block = data_block(k);
        if block >= store.blocks() {
            break;
        }
        let mut rec = store.record();
        let page_i = rec.lock(block);
        if packed::is_packed_page(rec.page(page_i)) {
            let (live, removed, end) = packed::compact(rec.page_mut(page_i), ROW_LEN, dead);
            stats.live += live as f64;
            stats.removed += removed as f64;
            if removed > 0 {
                rec.set_used_end(page_i, end);
                rec.commit();
                lowest.get_or_insert(k);
            }
        }
        delay();
    }
    (stats, lowest)
}

/// The first free slot in `free_hint..n_slots`, reading TID arrays only.
fn find_free_slot<S: PageStore>(store: &S, layout: &SlotLayout, meta: &Meta) -> Option<u64> {
    let mut slot = meta.free_hint;
    while slot < meta.n_slots {
        let (page_index, pos) = layout.locate(slot);
        let page = store.read(data_block(page_index));
        if SlotLayout::is_data_page(&page) {
            if let Some(free) = layout.free_position(&page, pos) {
                let found = slot - pos as u64 + free as u64;
                // A free position past n_slots was never used: append instead.
                return (found < meta.n_slots).then_some(found);
            }
        } else {
            // Never written (left by an insert that failed or whose record was lost).
            return Some(slot - pos as u64);
        }
        slot += (layout.per_page - pos) as u64;
    }
    None
}

/// Lock data page `page_index` into the record, creating it when the relation ends before it
/// (or initialising it when a failed insert left an empty page there).
fn data_page<R: Record, S: PageStore>(
    rec: &mut R,
    store: &S,
    layout: &SlotLayout,
    page_index: u64,
) -> usize {
    let block = data_block(page_index);
    let i = if block < store.blocks() {
        let i = rec.lock(block);
        if !rec.is_new(i) && SlotLayout::is_data_page(rec.page(i)) {
            return i;
        }
        rec.init(i);
        i
    } else {
        let i = rec.extend();
        assert_eq!(rec.block(i), block, "flat data pages must be contiguous");
        i
    };
    layout.init_page(rec.page_mut(i));
    rec.set_used_end(i, layout.used_end());
    i
}

/// VACUUM: free the slots whose rows `dead` reports, each data page in a record of its own,
/// calling `delay` between pages with no page locked; then lower `free_hint` to the lowest
/// freed slot.
pub fn bulk_delete<S: PageStore>(
    store: &S,
    mut dead: impl FnMut(Tid) -> bool,
    mut delay: impl FnMut(),
) -> Result<VacuumStats, Error> {
    let meta = Meta::read(&store.read(META_BLOCK)).map_err(Error::Meta)?;
    let mut stats = VacuumStats::default();
    let Some(layout) = layout(&meta) else {
        return Ok(stats);
    };
    if layout.packed {
        let (stats, lowest) = bulk_delete_packed(store, &meta, &mut dead, &mut delay);
        if let Some(low) = lowest {
            lower_free_hint(store, low)?;
        }
        return Ok(stats);
    }
    let mut lowest_freed: Option<u64> = None;
    let per_first_page = layout.per_page as u64;
    let first_pages = meta.n_slots.div_ceil(per_first_page);
    for k in 0..first_pages {
        let block = data_block(k * layout.pages_per_slot as u64);
        if block >= store.blocks() {
            break;
        }
        let mut rec = store.record();
        let page_i = rec.lock(block);
        let freed = if SlotLayout::is_data_page(rec.page(page_i)) {
            free_dead_slots(&mut rec, page_i, &layout, &mut dead, &mut stats)
        } else {
            Vec::new()
        };
        if let Some(&pos) = freed.first() {
            let slot = k * per_first_page + pos as u64;
            lowest_freed = Some(lowest_freed.map_or(slot, |l| l.min(slot)));
            rec.commit();
        } else {
            drop(rec); // nothing changed: the record is dropped
        }
        delay();
    }
    if let Some(low) = lowest_freed {
        lower_free_hint(store, low)?;
    }
    Ok(stats)
}

/// Lower the meta page's `free_hint` to `low` (VACUUM freed room there).
fn lower_free_hint<S: PageStore>(store: &S, low: u64) -> Result<(), Error> {
    let mut rec = store.record();
    let meta_i = rec.lock(META_BLOCK);
    let mut meta = Meta::read(rec.page(meta_i)).map_err(Error::Meta)?;
    if low < meta.free_hint {
        meta.free_hint = low;
        meta.write(rec.page_mut(meta_i));
        rec.commit();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::am::testing::{new_store_with_meta, vector_bytes, visible_rows};
    use crate::distance::Metric;
    use crate::elem::ElemKind;
    use crate::pages::AmMeta;
    use crate::store::MemStore;
    use std::collections::BTreeMap;

    fn tid(i: u32) -> Tid {
        Tid {
            block: i / 100,
            offset: (i % 100 + 1) as u16,
        }
    }

    fn meta(store: &MemStore) -> Meta {
        Meta::read(&store.read(META_BLOCK)).unwrap()
    }

    /// Every slot whose TID is set, with its bytes (chunks joined).
    fn rows(store: &MemStore) -> BTreeMap<Tid, Vec<u8>> {
        let meta_i = meta(store);
        let Some(l) = layout(&meta_i) else {
            return BTreeMap::new();
        };
        let blocks: Vec<u32> = (0..l.pages_for(meta_i.n_slots))
            .map(data_block)
            .filter(|&b| b < store.blocks())
            .collect();
        visible_rows(store, &l, &blocks)
    }

    /// Every row of a packed layout's pages, with its bytes.
    fn packed_rows(store: &MemStore) -> BTreeMap<Tid, Vec<u8>> {
        let m = meta(store);
        let mut out = BTreeMap::new();
        for k in 0..m.n_slots {
            let page = store.read(data_block(k));
            if !packed::is_packed_page(&page) {
                continue;
            }
            for (t, row) in packed::entries(&page, ROW_LEN) {
                assert!(out.insert(t, row.to_vec()).is_none(), "{t:?} stored twice");
            }
        }
        out
    }

    /// A stored sparse row of `nnz` elements, distinct per `i`.
    fn sparse_row(i: u32, nnz: usize) -> Vec<u8> {
        let idx: Vec<i32> = (0..nnz as i32).map(|k| k * 7 + (i % 5) as i32).collect();
        let val: Vec<f32> = (0..nnz).map(|k| i as f32 + k as f32 * 0.25 + 1.0).collect();
        crate::sparse::encode(&idx, &val)
    }

    fn sparse_store() -> MemStore {
        new_store_with_meta(Meta::new(
            AmMeta::Flat,
            100_000,
            ElemKind::Sparse,
            Metric::L2,
        ))
    }

    /// Row lengths from one element to a page's worth, in a fixed mixed order.
    fn nnz_of(i: u32) -> usize {
        match i % 10 {
            0 => 1000,
            1..=3 => (i as usize * 31) % 300 + 1,
            _ => (i as usize * 7) % 40,
        }
    }

    #[test]
    fn sparse_rows_pack_pages_and_vacuum_makes_room_again() {
        let store = sparse_store();
        let mut want = BTreeMap::new();
        for i in 0..400 {
            let r = sparse_row(i, nnz_of(i));
            insert(&store, tid(i), 100_000, &r).unwrap();
            want.insert(tid(i), r);
        }
        assert_eq!(packed_rows(&store), want);
        let bytes: usize = want.values().map(|r| packed::entry_len(r.len())).sum();
        let pages = meta(&store).n_slots as usize;
        assert_eq!(pages, store.blocks() as usize - 1);
        assert!(
            pages * (PAGE_SIZE - packed::ENTRIES_OFFSET) < bytes * 13 / 10,
            "pages are at least 77% full: {pages} pages for {bytes} bytes"
        );
        assert_eq!(
            insert(&store, tid(999), 100_000, &vec![0u8; packed::MAX_ROW + 4]),
            Err(Error::RowTooLong {
                len: packed::MAX_ROW + 4
            })
        );
        assert_eq!(
            insert(&store, tid(999), 7, &sparse_row(1, 1)),
            Err(Error::Dimensions {
                expected: 100_000,
                got: 7
            })
        );
        let first_dead_page = (0..pages as u64)
            .find(|&k| {
                packed::entries(&store.read(data_block(k)), ROW_LEN).any(|(t, _)| t.offset % 2 == 0)
            })
            .unwrap();
        let mut delays = 0;
        let stats = bulk_delete(&store, |t| t.offset % 2 == 0, || delays += 1).unwrap();
        want.retain(|t, _| t.offset % 2 != 0);
        assert_eq!(packed_rows(&store), want);
        assert_eq!(
            (stats.live as usize, stats.removed as usize),
            (want.len(), 400 - want.len())
        );
        assert_eq!(delays, pages, "one delay point per data page");
        assert_eq!(
            meta(&store).free_hint,
            first_dead_page,
            "inserts look from the first page VACUUM freed room on"
        );
        // as many bytes again fit without a new page
        let freed: usize = (0..400u32)
            .filter(|&i| tid(i).offset.is_multiple_of(2))
            .map(|i| packed::entry_len(sparse_row(i, nnz_of(i)).len()))
            .sum();
        let mut used = 0;
        for i in 1000.. {
            let r = sparse_row(i, (i as usize * 13) % 60);
            used += packed::entry_len(r.len());
            if used > freed / 2 {
                break;
            }
            insert(&store, tid(i), 100_000, &r).unwrap();
            want.insert(tid(i), r);
        }
        assert_eq!(packed_rows(&store), want);
        assert_eq!(store.blocks() as usize, pages + 1, "freed room was reused");
    }

    /// A stored sparse row as a dense f64 vector of `dim` elements (the reference below).
    fn dense(row: &[u8], dim: usize) -> Vec<f64> {
        let nnz = (row.len() - 4) / 8;
        let word = |at: usize| <[u8; 4]>::try_from(&row[at..at + 4]).unwrap();
        let mut v = vec![0f64; dim];
        for k in 0..nnz {
            let i = i32::from_ne_bytes(word(4 + 4 * k)) as usize;
            v[i] = f32::from_ne_bytes(word(4 + 4 * nnz + 4 * k)) as f64;
        }
        v
    }

    /// The ordering distance over dense f64 vectors (NaN for a cosine with a zero vector).
    fn dense_distance(metric: Metric, a: &[f64], b: &[f64]) -> f64 {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        match metric {
            Metric::L2 => a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum(),
            Metric::InnerProduct => -dot,
            Metric::L1 => a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum(),
            _ => {
                let n = (a.iter().map(|x| x * x).sum::<f64>()
                    * b.iter().map(|x| x * x).sum::<f64>())
                .sqrt();
                1.0 - dot / n
            }
        }
    }

    /// A scan over packed pages finds, per metric, the nearest rows a dense f64 brute force
    /// finds, at its distances.
    #[test]
    fn packed_pages_score_like_brute_force() {
        use crate::scan::{Collector, Query};
        let store = sparse_store();
        let mut rows = Vec::new();
        for i in 0..300 {
            let r = sparse_row(i, nnz_of(i));
            insert(&store, tid(i), 100_000, &r).unwrap();
            rows.push((tid(i), r));
        }
        let l = layout(&meta(&store)).unwrap();
        assert!(l.packed);
        let pages: Vec<Vec<u8>> = (0..meta(&store).n_slots)
            .map(|k| store.read(data_block(k)).to_vec())
            .collect();
        let refs: Vec<&[u8]> = pages.iter().map(|p| &p[..]).collect();
        let query = sparse_row(77, 25);
        for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine, Metric::L1] {
            let q = Query::sparse(metric, query.clone());
            let mut c = Collector::new(Some(10), None);
            c.add_run(&l, &q, &refs);
            let mut got = Collector::merge(vec![c]);
            got.sort_by(crate::scan::key_cmp);
            let dim = 7 * 1000 + 5; // beyond every index sparse_row uses
            let qd = dense(&query, dim);
            let mut want: Vec<(f64, u64)> = rows
                .iter()
                .map(|(t, r)| (dense_distance(metric, &qd, &dense(r, dim)), t.pack()))
                .collect();
            want.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            assert_eq!(got.len(), 10);
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-4 * b.abs().max(1.0);
            let kth = want[9].0;
            for (c, w) in got.iter().zip(&want) {
                assert!(
                    close(c.dist as f64, w.0),
                    "{metric:?}: {} vs {}",
                    c.dist,
                    w.0
                );
                // the same rows, but for ties at the cut
                let d = want.iter().find(|x| x.1 == c.id).unwrap().0;
                assert!(
                    want[..10].iter().any(|x| x.1 == c.id) || close(d, kth),
                    "{metric:?}"
                );
            }
        }
    }

    /// An insert is one record; VACUUM one per changed page, then the meta page: a crash after
    /// any of them loses no live row, and a second VACUUM finishes the job.
    #[test]
    fn sparse_insert_and_vacuum_are_crash_safe_after_every_record() {
        let base = sparse_store();
        let mut all = BTreeMap::new();
        for i in 0..300 {
            let r = sparse_row(i, nnz_of(i));
            insert(&base, tid(i), 100_000, &r).unwrap();
            all.insert(tid(i), r);
        }
        for crash in 0..=1 {
            let store = MemStore::from_pages(base.snapshot());
            store.crash_after(Some(store.records() + crash));
            insert(&store, tid(5000), 100_000, &sparse_row(5000, 900)).unwrap();
            store.crash_after(None);
            let mut want = all.clone();
            if crash == 1 {
                want.insert(tid(5000), sparse_row(5000, 900));
            }
            assert_eq!(packed_rows(&store), want, "insert, crash after {crash}");
            insert(&store, tid(5001), 100_000, &sparse_row(5001, 3)).unwrap();
            want.insert(tid(5001), sparse_row(5001, 3));
            assert_eq!(packed_rows(&store), want, "insert after a crash at {crash}");
        }
        vacuum_survives_a_crash_after_every_record(
            &base,
            &all,
            |t| t.block.is_multiple_of(3),
            packed_rows,
        );
    }

    fn store(dims: u32) -> MemStore {
        new_store_with_meta(Meta::new(AmMeta::Flat, dims, ElemKind::F32, Metric::L2))
    }

    #[test]
    fn inserts_fill_pages_and_reuse_vacuumed_slots() {
        let store = store(0); // no declared dimension: the first row sets it
        let mut want = BTreeMap::new();
        for i in 0..500 {
            let v = vector_bytes(i, 16);
            insert(&store, tid(i), 16, &v).unwrap();
            want.insert(tid(i), v);
        }
        assert_eq!(rows(&store), want);
        assert_eq!(
            insert(&store, tid(999), 3, &vector_bytes(1, 3)),
            Err(Error::Dimensions {
                expected: 16,
                got: 3
            })
        );
        let blocks = store.blocks();
        let mut delays = 0;
        let stats = bulk_delete(&store, |t| (t.offset % 3) == 0, || delays += 1).unwrap();
        want.retain(|t, _| t.offset % 3 != 0);
        assert_eq!(rows(&store), want);
        assert_eq!(stats.live as usize, want.len());
        assert_eq!((stats.removed as usize) + want.len(), 500);
        assert_eq!(delays, store.blocks() - 1, "one delay point per data page");
        for i in 1000..1000 + stats.removed as u32 {
            let v = vector_bytes(i, 16);
            insert(&store, tid(i), 16, &v).unwrap();
            want.insert(tid(i), v);
        }
        assert_eq!(rows(&store), want);
        assert_eq!(
            store.blocks(),
            blocks,
            "freed slots were reused, nothing appended"
        );
    }

    /// A slot spanning pages takes several records: a crash after any of them leaves either
    /// the old rows or the old rows plus the complete new one, and the index stays usable.
    #[test]
    fn spanning_insert_is_crash_safe_after_every_record() {
        let dims = 3000; // 12 KB: two pages per slot
        let base = store(dims as u32);
        for i in 0..3 {
            insert(&base, tid(i), dims, &vector_bytes(i, dims)).unwrap();
        }
        bulk_delete(&base, |t| t == tid(1), || {}).unwrap(); // a freed slot to reuse
        let before = rows(&base);
        let records = {
            let store = MemStore::from_pages(base.snapshot());
            insert(&store, tid(7), dims, &vector_bytes(7, dims)).unwrap();
            store.records()
        };
        assert_eq!(records, 3, "two chunk records and the TID + meta record");
        for crash in 0..=records {
            let store = MemStore::from_pages(base.snapshot());
            store.crash_after(Some(crash));
            insert(&store, tid(7), dims, &vector_bytes(7, dims)).unwrap();
            store.crash_after(None);
            let mut want = before.clone();
            if crash == records {
                want.insert(tid(7), vector_bytes(7, dims));
            }
            assert_eq!(rows(&store), want, "crash after record {crash}");
            // after recovery: inserts work and every row reads back whole
            insert(&store, tid(8), dims, &vector_bytes(8, dims)).unwrap();
            insert(&store, tid(9), dims, &vector_bytes(9, dims)).unwrap();
            want.insert(tid(8), vector_bytes(8, dims));
            want.insert(tid(9), vector_bytes(9, dims));
            assert_eq!(rows(&store), want, "after a crash at record {crash}");
        }
    }

    /// VACUUM's records (one per changed page, then the meta page): a crash after any of them
    /// loses no live row and frees only dead ones.
    #[test]
    fn bulk_delete_is_crash_safe_after_every_record() {
        let base = store(8);
        let mut all = BTreeMap::new();
        for i in 0..300 {
            insert(&base, tid(i), 8, &vector_bytes(i, 8)).unwrap();
            all.insert(tid(i), vector_bytes(i, 8));
        }
        vacuum_survives_a_crash_after_every_record(
            &base,
            &all,
            |t| t.block.is_multiple_of(2) && t.offset < 20,
            rows,
        );
    }

    /// VACUUM over `base` (holding `all`) with a crash after each of its records: no live row
    /// is lost, nothing but stored rows reads back, and a second VACUUM leaves the live rows.
    fn vacuum_survives_a_crash_after_every_record(
        base: &MemStore,
        all: &BTreeMap<Tid, Vec<u8>>,
        dead: impl Fn(Tid) -> bool + Copy,
        read: fn(&MemStore) -> BTreeMap<Tid, Vec<u8>>,
    ) {
        let records = {
            let store = MemStore::from_pages(base.snapshot());
            let r0 = store.records();
            bulk_delete(&store, dead, || {}).unwrap();
            store.records() - r0
        };
        assert!(records >= 3);
        let live: BTreeMap<_, _> = all
            .iter()
            .filter(|(t, _)| !dead(**t))
            .map(|(t, v)| (*t, v.clone()))
            .collect();
        for crash in 0..=records {
            let store = MemStore::from_pages(base.snapshot());
            store.crash_after(Some(store.records() + crash));
            bulk_delete(&store, dead, || {}).unwrap();
            store.crash_after(None);
            let got = read(&store);
            for (t, v) in &live {
                assert_eq!(
                    got.get(t),
                    Some(v),
                    "live row {t:?} after a crash at {crash}"
                );
            }
            assert!(got.iter().all(|(t, v)| all.get(t) == Some(v)));
            // a second VACUUM finishes the job
            bulk_delete(&store, dead, || {}).unwrap();
            assert_eq!(read(&store), live, "after a crash at {crash}");
        }
    }
}
