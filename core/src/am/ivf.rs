//! The IVF index's page-level algorithms over a [`PageStore`] (page formats in
//! [`crate::pages::ivf`]): insert into a list, VACUUM's walk of every list chain, extending a
//! cached chain, and laying out the fixed part of an index built without a known dimension.
//!
//! A list's chain starts at its directory entry's `head` and follows the pages' `next` links.
//! New pages are linked in at the head; a page's `next` never changes after it is written and
//! pages are never unlinked, so the chain from any head a reader once saw stays valid.

use super::{free_dead_slots, Error, VacuumStats, META_BLOCK};
use crate::pages::ivf::{read_entry, write_entry, IvfLayout};
use crate::pages::{AmMeta, Meta, SlotLayout, INVALID_BLOCK};
use crate::store::{PageStore, Record};
use crate::tid::Tid;

/// Pages after the entry's `insert` page an insert looks at before extending the list.
const SEARCH_PAGES: usize = 8;

/// Add row `tid` (stored bytes `bytes`) to list `list`.
///
/// The list's directory page stays locked for the whole insert (serialising inserts into the
/// list). The row goes into the first free slot among the entry's `insert` page and the few
/// after it, or into a new page linked in at the head; the data page and the directory entry
/// change in one record. A slot spanning pages is written continuation chunks first, each in
/// a record of its own, while it is unreachable (a new slot: not yet linked in; a reused one:
/// its TID still invalid), so a crash in between loses nothing and shows nothing half-written.
pub fn insert<S: PageStore>(
    store: &S,
    ivf: &IvfLayout,
    slots: &SlotLayout,
    list: usize,
    tid: Tid,
    bytes: &[u8],
) {
    let mut rec = store.record();
    let (dir_block, at) = ivf.entry_location(list);
    let dir_i = rec.lock(dir_block);
    let mut entry = read_entry(rec.page(dir_i), at);

    if slots.pages_per_slot > 1 {
        if let Some(block) = reuse_spanning_slot(store, slots, entry.insert, bytes) {
            let page_i = rec.lock(block);
            slots.write_chunk(rec.page_mut(page_i), 0, bytes);
            slots.set_tid(rec.page_mut(page_i), 0, tid);
            entry.insert = block;
        } else {
            // Continuation chunks first, last chunk first, so the chain reads 0, 1, … from
            // the head once the first page is linked in.
            let mut next = entry.head;
            for i in (1..slots.pages_per_slot).rev() {
                let mut chunk_rec = store.record();
                let page_i = new_slot_page(&mut chunk_rec, slots, next, list);
                slots.write_chunk(chunk_rec.page_mut(page_i), i, bytes);
                next = chunk_rec.block(page_i);
                chunk_rec.commit();
            }
            let page_i = new_slot_page(&mut rec, slots, next, list);
            slots.write_chunk(rec.page_mut(page_i), 0, bytes);
            slots.set_tid(rec.page_mut(page_i), 0, tid);
            entry.head = rec.block(page_i);
            entry.insert = entry.head;
        }
    } else {
        match find_free_slot(store, slots, entry.insert) {
            Some((block, pos)) => {
                let page_i = rec.lock(block);
                slots.write_vector(rec.page_mut(page_i), pos, bytes);
                slots.set_tid(rec.page_mut(page_i), pos, tid);
                entry.insert = block;
            }
            None => {
                let page_i = new_slot_page(&mut rec, slots, entry.head, list);
                slots.write_vector(rec.page_mut(page_i), 0, bytes);
                slots.set_tid(rec.page_mut(page_i), 0, tid);
                entry.head = rec.block(page_i);
                entry.insert = entry.head;
            }
        }
    }
    entry.count += 1;
    write_entry(rec.page_mut(dir_i), at, entry);
    rec.commit();
}

/// A new slot page in the record, linked to `next`.
fn new_slot_page<R: Record>(rec: &mut R, slots: &SlotLayout, next: u32, list: usize) -> usize {
    let page_i = rec.extend();
    slots.init_page(rec.page_mut(page_i));
    slots.set_owner(rec.page_mut(page_i), list as u32);
    rec.set_used_end(page_i, slots.used_end());
    slots.set_next_block(rec.page_mut(page_i), next);
    page_i
}

/// A free position on the chain from `start`, looking at most `SEARCH_PAGES` pages further,
/// reading without locking pages for change.
fn find_free_slot<S: PageStore>(store: &S, slots: &SlotLayout, start: u32) -> Option<(u32, usize)> {
    let mut block = start;
    for _ in 0..=SEARCH_PAGES {
        if block == INVALID_BLOCK {
            return None;
        }
        let page = store.read(block);
        if let Some(pos) = slots.free_position(&page, 0) {
            return Some((block, pos));
        }
        block = slots.next_block(&page);
    }
    None
}

/// For vectors spanning several pages: a freed slot from the list's `insert` page (a slot's
/// first page; VACUUM points it at the first free one), at most `SEARCH_PAGES` slots along the
/// chain. If one is found, `bytes`' continuation chunks are written into its later pages (each
/// its own record: the slot stays invisible while its first page's TID is invalid) and its
/// first page is returned for the caller to finish. The caller holds the list's directory
/// page, so no other insert into this list runs meanwhile.
fn reuse_spanning_slot<S: PageStore>(
    store: &S,
    slots: &SlotLayout,
    insert: u32,
    bytes: &[u8],
) -> Option<u32> {
    let mut first = insert;
    for _ in 0..SEARCH_PAGES {
        if first == INVALID_BLOCK {
            return None;
        }
        // The slot's pages in chain order, and the first page of the slot after it.
        let mut blocks = vec![first];
        let (free, mut next) = {
            let page = store.read(first);
            let free = SlotLayout::is_data_page(&page) && slots.free_position(&page, 0).is_some();
            (free, slots.next_block(&page))
        };
        while blocks.len() < slots.pages_per_slot && next != INVALID_BLOCK {
            blocks.push(next);
            next = slots.next_block(&store.read(next));
        }
        if free && blocks.len() == slots.pages_per_slot {
            for (i, &block) in blocks.iter().enumerate().skip(1) {
                let mut chunk_rec = store.record();
                let page_i = chunk_rec.lock(block);
                slots.write_chunk(chunk_rec.page_mut(page_i), i, bytes);
                chunk_rec.commit();
            }
            return Some(first);
        }
        first = next;
    }
    None
}

/// VACUUM: walk every list's chain, free the slots whose rows `dead` reports (each page in a
/// record of its own, `delay` called between pages with nothing locked), and point the list's
/// `insert` page back at the first page with a free slot, so inserts reuse the space. The
/// directory page is locked only after the list's pages are released (inserts lock the
/// directory first), so the two never wait in a cycle.
pub fn bulk_delete<S: PageStore>(
    store: &S,
    ivf: &IvfLayout,
    slots: &SlotLayout,
    mut dead: impl FnMut(Tid) -> bool,
    mut delay: impl FnMut(),
) -> VacuumStats {
    let mut stats = VacuumStats::default();
    for list in 0..ivf.lists {
        let (dir_block, at) = ivf.entry_location(list);
        let mut block = read_entry(&store.read(dir_block), at).head;
        let mut first_with_space = INVALID_BLOCK;
        let mut chunk = 0usize; // position within a multi-page slot's chunks
        while block != INVALID_BLOCK {
            let mut rec = store.record();
            let page_i = rec.lock(block);
            let next = slots.next_block(rec.page(page_i));
            let mut changed = false;
            if chunk == 0 {
                changed =
                    !free_dead_slots(&mut rec, page_i, slots, &mut dead, &mut stats).is_empty();
                // (For multi-page slots this is the slot's first page: inserts start there.)
                if first_with_space == INVALID_BLOCK
                    && slots.free_position(rec.page(page_i), 0).is_some()
                {
                    first_with_space = block;
                }
            }
            if changed {
                rec.commit();
            } else {
                drop(rec);
            }
            chunk = (chunk + 1) % slots.pages_per_slot;
            block = next;
            delay();
        }
        if first_with_space != INVALID_BLOCK {
            let mut rec = store.record();
            let dir_i = rec.lock(dir_block);
            let mut entry = read_entry(rec.page(dir_i), at);
            if entry.insert != first_with_space {
                entry.insert = first_with_space;
                write_entry(rec.page_mut(dir_i), at, entry);
                rec.commit();
            }
        }
    }
    stats
}

/// The blocks linked in at the head of a chain since it was last walked: from `head` up to
/// (not including) `known_head`, the head then (`None`: never walked, so the whole chain).
/// `next_of(block)` reads a page's `next` link.
pub fn new_chain_blocks(
    head: u32,
    known_head: Option<u32>,
    mut next_of: impl FnMut(u32) -> u32,
) -> Vec<u32> {
    let mut blocks = Vec::new();
    let mut block = head;
    while block != INVALID_BLOCK && Some(block) != known_head {
        blocks.push(block);
        block = next_of(block);
    }
    blocks
}

/// Lay out the fixed part (centroid pages, an empty directory) of an index built over no rows
/// without a known dimension, now that the first row gives one (`centroids`: lists × dims).
///
/// The meta page stays locked for change throughout (a concurrent first insert waits, then
/// finds the work done: `Ok(false)`). The fixed pages go to blocks 1, 2, … in records of their
/// own, as new pages; they are unreachable until the meta page, changed last, names the
/// dimension. After a crash in between, the next attempt overwrites the blocks left behind.
pub fn form<S: PageStore>(
    store: &S,
    dims: usize,
    centroids: &[f32],
    stamp: u64,
) -> Result<bool, Error> {
    let mut rec = store.record();
    let meta_i = rec.lock(META_BLOCK);
    let mut meta = Meta::read(rec.page(meta_i)).map_err(Error::Meta)?;
    if meta.dims != 0 {
        return Ok(false);
    }
    let (lists, _) = meta.ivf();
    let ivf = IvfLayout::new(lists, dims);
    assert_eq!(centroids.len(), lists * dims);
    let mut block = ivf.first_centroid_block();
    for i in 0..ivf.centroid_pages {
        let mut page_rec = store.record();
        let page_i = page_rec.overwrite_or_extend(block);
        ivf.write_centroid_page(page_rec.page_mut(page_i), i, centroids);
        page_rec.set_used_end(page_i, ivf.centroid_page_end(i));
        page_rec.commit();
        block += 1;
    }
    for i in 0..ivf.directory_pages {
        let mut page_rec = store.record();
        let page_i = page_rec.overwrite_or_extend(block);
        ivf.init_directory_page(page_rec.page_mut(page_i), i);
        page_rec.set_used_end(page_i, ivf.directory_page_end(i));
        page_rec.commit();
        block += 1;
    }
    meta.dims = dims as u32;
    let rabitq = matches!(meta.am, AmMeta::Ivf { rabitq: true, .. });
    meta.am = AmMeta::Ivf {
        lists: lists as u32,
        stamp,
        rabitq,
    };
    meta.write(rec.page_mut(meta_i));
    rec.commit();
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::am::testing::{new_store_with_meta, vector_bytes, visible_rows};
    use crate::distance::Metric;
    use crate::elem::ElemKind;
    use crate::store::MemStore;
    use std::collections::BTreeMap;

    const LISTS: usize = 3;

    fn tid(i: u32) -> Tid {
        Tid {
            block: i,
            offset: 1,
        }
    }

    /// An empty, formed index of `dims` dimensions.
    fn store(dims: usize) -> (MemStore, IvfLayout, SlotLayout) {
        let meta = Meta::new(
            AmMeta::Ivf {
                lists: LISTS as u32,
                stamp: 0,
                rabitq: false,
            },
            0,
            ElemKind::F32,
            Metric::L2,
        );
        let store = new_store_with_meta(meta);
        let centroids = vec![0.5; LISTS * dims];
        assert_eq!(form(&store, dims, &centroids, 7), Ok(true));
        (
            store,
            IvfLayout::new(LISTS, dims),
            SlotLayout::new(dims, ElemKind::F32),
        )
    }

    fn chain(store: &MemStore, ivf: &IvfLayout, slots: &SlotLayout, list: usize) -> Vec<u32> {
        let (b, at) = ivf.entry_location(list);
        let head = read_entry(&store.read(b), at).head;
        new_chain_blocks(head, None, |b| slots.next_block(&store.read(b)))
    }

    fn rows(
        store: &MemStore,
        ivf: &IvfLayout,
        slots: &SlotLayout,
    ) -> BTreeMap<(usize, Tid), Vec<u8>> {
        let mut out = BTreeMap::new();
        for list in 0..LISTS {
            for (t, v) in visible_rows(store, slots, &chain(store, ivf, slots, list)) {
                out.insert((list, t), v);
            }
        }
        out
    }

    #[test]
    fn inserts_vacuum_and_reuse() {
        let (store, ivf, slots) = store(16);
        let mut want = BTreeMap::new();
        for i in 0..400 {
            let list = (i % LISTS as u32) as usize;
            insert(&store, &ivf, &slots, list, tid(i), &vector_bytes(i, 16));
            want.insert((list, tid(i)), vector_bytes(i, 16));
        }
        assert_eq!(rows(&store, &ivf, &slots), want);
        let blocks = store.blocks();
        let mut delays = 0;
        let stats = bulk_delete(&store, &ivf, &slots, |t| t.block % 4 == 1, || delays += 1);
        want.retain(|(_, t), _| t.block % 4 != 1);
        assert_eq!(rows(&store, &ivf, &slots), want);
        assert_eq!(stats.live as usize, want.len());
        let pages: usize = (0..LISTS)
            .map(|l| chain(&store, &ivf, &slots, l).len())
            .sum();
        assert_eq!(delays, pages, "one delay point per chain page");
        for i in 1000..1000 + stats.removed as u32 {
            let list = (i % LISTS as u32) as usize;
            insert(&store, &ivf, &slots, list, tid(i), &vector_bytes(i, 16));
            want.insert((list, tid(i)), vector_bytes(i, 16));
        }
        assert_eq!(rows(&store, &ivf, &slots), want);
        assert!(
            store.blocks() <= blocks + LISTS as u32,
            "freed slots reused"
        );
    }

    /// New and reused slots spanning pages: a crash after any record leaves the old rows, or
    /// the old rows plus the whole new one, and later inserts work.
    #[test]
    fn spanning_inserts_are_crash_safe_after_every_record() {
        let dims = 4000; // three pages per slot
        let (base, ivf, slots) = store(dims);
        assert_eq!(slots.pages_per_slot, 2);
        for i in 0..4 {
            insert(&base, &ivf, &slots, 0, tid(i), &vector_bytes(i, dims));
        }
        let mut reuse = MemStore::from_pages(base.snapshot());
        bulk_delete(&reuse, &ivf, &slots, |t| t == tid(2), || {});
        for (label, start) in [("new slot", &base), ("reused slot", &mut reuse)] {
            let before = rows(start, &ivf, &slots);
            let records = {
                let store = MemStore::from_pages(start.snapshot());
                insert(&store, &ivf, &slots, 0, tid(9), &vector_bytes(9, dims));
                store.records()
            };
            assert_eq!(
                records, 2,
                "{label}: one chunk record, then chunk 0 + TID + entry"
            );
            for crash in 0..=records {
                let store = MemStore::from_pages(start.snapshot());
                store.crash_after(Some(crash));
                insert(&store, &ivf, &slots, 0, tid(9), &vector_bytes(9, dims));
                store.crash_after(None);
                let mut want = before.clone();
                if crash == records {
                    want.insert((0, tid(9)), vector_bytes(9, dims));
                }
                assert_eq!(
                    rows(&store, &ivf, &slots),
                    want,
                    "{label}: crash after {crash}"
                );
                insert(&store, &ivf, &slots, 0, tid(10), &vector_bytes(10, dims));
                want.insert((0, tid(10)), vector_bytes(10, dims));
                assert_eq!(
                    rows(&store, &ivf, &slots),
                    want,
                    "{label}: after crash {crash}"
                );
            }
        }
    }

    #[test]
    fn bulk_delete_is_crash_safe_after_every_record() {
        let (base, ivf, slots) = store(8);
        let mut all = BTreeMap::new();
        for i in 0..600 {
            let list = (i % LISTS as u32) as usize;
            insert(&base, &ivf, &slots, list, tid(i), &vector_bytes(i, 8));
            all.insert((list, tid(i)), vector_bytes(i, 8));
        }
        let dead = |t: Tid| t.block % 5 == 0;
        let live: BTreeMap<_, _> = all
            .iter()
            .filter(|((_, t), _)| !dead(*t))
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        let records = {
            let store = MemStore::from_pages(base.snapshot());
            bulk_delete(&store, &ivf, &slots, dead, || {});
            store.records()
        };
        for crash in 0..=records {
            let store = MemStore::from_pages(base.snapshot());
            store.crash_after(Some(crash));
            bulk_delete(&store, &ivf, &slots, dead, || {});
            store.crash_after(None);
            let got = rows(&store, &ivf, &slots);
            assert!(
                live.iter().all(|(k, v)| got.get(k) == Some(v)),
                "crash after {crash}"
            );
            bulk_delete(&store, &ivf, &slots, dead, || {});
            assert_eq!(rows(&store, &ivf, &slots), live);
        }
    }

    /// Laying out the fixed part: a crash after any record leaves an index that is still
    /// unformed (and whose next first insert forms it) or fully formed.
    #[test]
    fn form_is_crash_safe_after_every_record() {
        let dims = 1500; // centroid stream over several pages
        let meta = Meta::new(
            AmMeta::Ivf {
                lists: LISTS as u32,
                stamp: 0,
                rabitq: false,
            },
            0,
            ElemKind::F32,
            Metric::L2,
        );
        let base = new_store_with_meta(meta);
        let centroids: Vec<f32> = (0..LISTS * dims).map(|i| i as f32).collect();
        let clean = MemStore::from_pages(base.snapshot());
        form(&clean, dims, &centroids, 5).unwrap();
        let records = clean.records();
        let ivf = IvfLayout::new(LISTS, dims);
        assert_eq!(records, ivf.centroid_pages + ivf.directory_pages + 1);
        for crash in 0..=records {
            let store = MemStore::from_pages(base.snapshot());
            store.crash_after(Some(crash));
            form(&store, dims, &centroids, 5).unwrap();
            store.crash_after(None);
            let meta_i = Meta::read(&store.read(META_BLOCK)).unwrap();
            assert_eq!(meta_i.dims != 0, crash == records, "crash after {crash}");
            if meta_i.dims == 0 {
                assert_eq!(form(&store, dims, &centroids, 5), Ok(true));
            }
            assert_eq!(form(&store, dims, &centroids, 6), Ok(false), "formed once");
            assert_eq!(
                store.snapshot(),
                clean.snapshot(),
                "crash after {crash}: same pages"
            );
        }
    }

    #[test]
    fn chain_extension_walks_only_new_pages() {
        let (store, ivf, slots) = store(16);
        for i in 0..300 {
            insert(&store, &ivf, &slots, 1, tid(i), &vector_bytes(i, 16));
        }
        let old = chain(&store, &ivf, &slots, 1);
        for i in 300..700 {
            insert(&store, &ivf, &slots, 1, tid(i), &vector_bytes(i, 16));
        }
        let full = chain(&store, &ivf, &slots, 1);
        let mut walked = 0;
        let new = new_chain_blocks(full[0], Some(old[0]), |b| {
            walked += 1;
            slots.next_block(&store.read(b))
        });
        assert_eq!([new.clone(), old.clone()].concat(), full);
        assert_eq!(walked, new.len(), "only the new pages were read");
        assert_eq!(
            new_chain_blocks(full[0], Some(full[0]), |_| unreachable!()),
            Vec::<u32>::new()
        );
    }
}
