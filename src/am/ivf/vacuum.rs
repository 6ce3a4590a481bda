//! ivfflat VACUUM: walk every list's chain, free the slots of dead heap tuples (each page in
//! its own WAL record), and point the list's `insert` page back at the first page with free
//! slots, so inserts reuse the space. Directory pages are locked only after the list's data
//! pages are released (inserts lock the directory first), so the two never wait in a cycle.

use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::flat::INVALID_BLOCK;
use vector_core::ivf::{read_entry, write_entry};

use super::open;
use crate::am::flat::free_dead_slots;
use crate::storage::{block_count, WalWrite};

#[pg_guard]
pub unsafe extern "C-unwind" fn ambulkdelete(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
    callback: pg_sys::IndexBulkDeleteCallback,
    callback_state: *mut std::ffi::c_void,
) -> *mut pg_sys::IndexBulkDeleteResult {
    let index = (*info).index;
    let stats = crate::am::flat::ensure_stats(stats);
    let callback = callback.expect("bulk delete callback");
    let Ok(ivf) = open(index) else {
        return stats; // no fixed part yet, so no rows
    };
    let slots = ivf.slots;
    let mut live = 0f64;
    for list in 0..ivf.ivf.lists {
        let mut block = ivf.entry(index, list).head;
        let mut first_with_space = INVALID_BLOCK;
        let mut chunk = 0usize; // position within a multi-page slot's chunks
        while block != INVALID_BLOCK {
            let mut w = WalWrite::start(index);
            let p = w.lock(block);
            let next = slots.next_block(w.page(p));
            let mut changed = false;
            if chunk == 0 {
                let freed = free_dead_slots(
                    &mut w,
                    p,
                    &slots,
                    callback,
                    callback_state,
                    stats,
                    &mut live,
                );
                changed = !freed.is_empty();
                // (For multi-page slots this is the slot's first page: inserts start there.)
                if first_with_space == INVALID_BLOCK && slots.free_position(w.page(p), 0).is_some()
                {
                    first_with_space = block;
                }
            }
            if changed {
                w.commit();
            } else {
                drop(w); // aborts the empty record
            }
            chunk = (chunk + 1) % slots.pages_per_slot;
            block = next;
            // No page is locked here: a cost-based delay must never stall a query.
            pg_sys::vacuum_delay_point();
        }
        if first_with_space != INVALID_BLOCK {
            let (dir_block, at) = ivf.ivf.entry_location(list);
            let mut w = WalWrite::start(index);
            let d = w.lock(dir_block);
            let mut entry = read_entry(w.page(d), at);
            if entry.insert != first_with_space {
                entry.insert = first_with_space;
                write_entry(w.page_mut(d), at, entry);
                w.commit();
            }
        }
    }
    (*stats).num_index_tuples = live;
    (*stats).num_pages = block_count(index);
    stats
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amvacuumcleanup(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
) -> *mut pg_sys::IndexBulkDeleteResult {
    crate::am::flat::vacuum_cleanup(info, stats)
}
