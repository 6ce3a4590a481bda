//! The `flat` index's page-level algorithms over a [`PageStore`].
//!
//! ```text
//!  block 0        meta page (AmMeta::Flat)
//!  blocks 1, 2 …  slot pages, contiguous: slot s lives on data page s / per_page, position
//!                 s % per_page (a slot spanning k pages takes k consecutive blocks)
//! ```
//! An insert takes the first free slot at or after the meta page's `free_hint`, or appends
//! one; VACUUM frees the slots of dead rows and lowers `free_hint`. The meta page is locked for
//! the whole insert (inserts are serialised); VACUUM locks it only after releasing every data
//! page, so the two never wait on each other in a cycle.

use super::{free_dead_slots, Error, VacuumStats, META_BLOCK};
use crate::pages::{Meta, SlotLayout};
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
        let mut rec = store.record();
        let meta_i = rec.lock(META_BLOCK);
        let mut meta = Meta::read(rec.page(meta_i)).map_err(Error::Meta)?;
        if low < meta.free_hint {
            meta.free_hint = low;
            meta.write(rec.page_mut(meta_i));
            rec.commit();
        }
    }
    Ok(stats)
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
        let dead = |t: Tid| t.block % 2 == 0 && t.offset < 20;
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
            let got = rows(&store);
            for (t, v) in &live {
                assert_eq!(
                    got.get(t),
                    Some(v),
                    "live row {t:?} after a crash at {crash}"
                );
            }
            assert!(got.keys().all(|t| all.contains_key(t)));
            // a second VACUUM finishes the job
            bulk_delete(&store, dead, || {}).unwrap();
            assert_eq!(rows(&store), live);
        }
    }
}
