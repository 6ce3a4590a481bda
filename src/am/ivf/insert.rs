//! ivfflat INSERT: find the nearest centroid and add the row to that list. The list's
//! directory entry stays locked for the whole insert (serialising inserts into the list); the
//! row goes into the first page with a free slot among the entry's `insert` page and the few
//! pages after it, or into a new page linked in at the head of the chain. The directory page
//! and the data page change in one WAL record.

use pgrx::pg_sys;
use vector_core::flat::{SlotLayout, INVALID_BLOCK};
use vector_core::ivf::{read_entry, write_entry};
use vector_core::kmeans;

use super::{open, spherical};
use crate::am::dimension_mismatch;
use crate::am::flat::item_pointer_to_tid;
use crate::storage::{PageRead, WalWrite};
use pgrx::prelude::*;

/// Pages after the entry's `insert` page an insert looks at before extending the list.
const SEARCH_PAGES: usize = 8;

#[pg_guard]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C-unwind" fn aminsert(
    index: pg_sys::Relation,
    values: *mut pg_sys::Datum,
    is_null: *mut bool,
    heap_tid: pg_sys::ItemPointer,
    _heap: pg_sys::Relation,
    _check_unique: pg_sys::IndexUniqueCheck::Type,
    _index_unchanged: bool,
    _index_info: *mut pg_sys::IndexInfo,
) -> bool {
    if *is_null {
        return false;
    }
    let ivf = match open(index) {
        Ok(ivf) => Ok(ivf),
        Err(meta) => Err(meta.elem),
    };
    let elem = ivf.as_ref().map_or_else(|&e| e, |i| i.meta.elem);
    let (v, bytes) = crate::am::datum_owned(*values, elem);
    let ivf = ivf.unwrap_or_else(|_| {
        // The first row into an index built over no rows without a declared dimension.
        super::build::form(index, v.len());
        open(index).unwrap_or_else(|_| unreachable!("formed above"))
    });
    if v.len() != ivf.meta.dims as usize {
        dimension_mismatch(ivf.meta.dims, v.len());
    }
    let tid = item_pointer_to_tid(&*heap_tid);
    let list = kmeans::nearest(
        &v,
        &ivf.cache.centroids,
        v.len(),
        spherical(ivf.meta.metric),
    );
    let slots = ivf.slots;

    let mut w = WalWrite::start(index);
    let (dir_block, at) = ivf.ivf.entry_location(list);
    let d = w.lock(dir_block);
    let mut entry = read_entry(w.page(d), at);

    if slots.pages_per_slot > 1 {
        if let Some(block) = reuse_spanning_slot(index, &slots, entry.insert, &bytes) {
            // Continuation chunks are written; now chunk 0 and the TID, with the directory.
            let p = w.lock(block);
            slots.write_chunk(w.page_mut(p), 0, &bytes);
            slots.set_tid(w.page_mut(p), 0, tid);
            entry.insert = block;
        } else {
            // Continuation chunks first (unreachable until the head moves), last chunk first.
            let mut next = entry.head;
            for i in (1..slots.pages_per_slot).rev() {
                let mut cw = WalWrite::start(index);
                let p = cw.extend(pg_sys::ForkNumber::MAIN_FORKNUM);
                slots.init_page(cw.page_mut(p));
                cw.set_used_end(p, slots.used_end());
                slots.write_chunk(cw.page_mut(p), i, &bytes);
                slots.set_next_block(cw.page_mut(p), next);
                next = cw.block(p);
                cw.commit();
            }
            let p = w.extend(pg_sys::ForkNumber::MAIN_FORKNUM);
            slots.init_page(w.page_mut(p));
            w.set_used_end(p, slots.used_end());
            slots.write_chunk(w.page_mut(p), 0, &bytes);
            slots.set_tid(w.page_mut(p), 0, tid);
            slots.set_next_block(w.page_mut(p), next);
            entry.head = w.block(p);
            entry.insert = entry.head;
        }
    } else {
        // Look for a free slot without locking pages for change.
        let mut candidate = entry.insert;
        let mut found = None;
        for _ in 0..=SEARCH_PAGES {
            if candidate == INVALID_BLOCK {
                break;
            }
            let page = PageRead::new(index, candidate);
            if let Some(pos) = slots.free_position(page.bytes(), 0) {
                found = Some((candidate, pos));
                break;
            }
            candidate = slots.next_block(page.bytes());
        }
        match found {
            Some((block, pos)) => {
                let p = w.lock(block);
                slots.write_vector(w.page_mut(p), pos, &bytes);
                slots.set_tid(w.page_mut(p), pos, tid);
                entry.insert = block;
            }
            None => {
                let p = w.extend(pg_sys::ForkNumber::MAIN_FORKNUM);
                slots.init_page(w.page_mut(p));
                w.set_used_end(p, slots.used_end());
                slots.write_vector(w.page_mut(p), 0, &bytes);
                slots.set_tid(w.page_mut(p), 0, tid);
                slots.set_next_block(w.page_mut(p), entry.head);
                entry.head = w.block(p);
                entry.insert = entry.head;
            }
        }
    }
    entry.count += 1;
    write_entry(w.page_mut(d), at, entry);
    w.commit();
    false
}

/// For vectors spanning several pages: look for a freed slot from the list's `insert` page (a
/// slot's first page; VACUUM points it at the first free one), at most `SEARCH_PAGES` slots
/// along the chain. If one is found, write `bytes`' continuation chunks into its later pages
/// (each its own WAL record: the slot stays invisible while its first page's TID is invalid,
/// so a crash in between leaves a free slot) and return its first page. The caller holds the
/// list's directory page, so no other insert into this list runs meanwhile.
fn reuse_spanning_slot(
    index: pg_sys::Relation,
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
        let page = PageRead::new(index, first);
        let free = SlotLayout::is_data_page(page.bytes())
            && slots.free_position(page.bytes(), 0).is_some();
        let mut next = slots.next_block(page.bytes());
        drop(page);
        while blocks.len() < slots.pages_per_slot && next != INVALID_BLOCK {
            blocks.push(next);
            next = slots.next_block(PageRead::new(index, next).bytes());
        }
        if free && blocks.len() == slots.pages_per_slot {
            for (i, &block) in blocks.iter().enumerate().skip(1) {
                let mut cw = WalWrite::start(index);
                let p = cw.lock(block);
                slots.write_chunk(cw.page_mut(p), i, bytes);
                cw.commit();
            }
            return Some(first);
        }
        first = next;
    }
    None
}
