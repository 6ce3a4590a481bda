//! VACUUM: free the slots of dead heap tuples (their TID becomes the free marker) and lower
//! the meta page's `free_hint` so inserts reuse the space. Each data page is changed in its own
//! WAL record; the meta page is locked only after all data pages are released (inserts lock
//! meta first, then a data page, so the two never wait on each other in a cycle).

use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::flat::{Meta, SlotLayout, Tid};

use super::{data_block, layout};
use crate::storage::{block_count, check_meta, read_meta, WalWrite, META_BLOCK};

#[pg_guard]
pub unsafe extern "C-unwind" fn ambulkdelete(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
    callback: pg_sys::IndexBulkDeleteCallback,
    callback_state: *mut std::ffi::c_void,
) -> *mut pg_sys::IndexBulkDeleteResult {
    let index = (*info).index;
    let stats = ensure_stats(stats);
    let callback = callback.expect("bulk delete callback");
    let meta = read_meta(index);
    let Some(layout) = layout(&meta) else {
        return stats;
    };
    let mut lowest_freed: Option<u64> = None;
    let mut live = 0f64;
    let slots_per_first_page = layout.per_page as u64;
    let first_pages = meta.n_slots.div_ceil(slots_per_first_page);
    for k in 0..first_pages {
        let page_index = k * layout.pages_per_slot as u64;
        let mut w = WalWrite::start(index);
        let p = w.lock(data_block(page_index));
        let freed = free_dead_slots(
            &mut w,
            p,
            &layout,
            callback,
            callback_state,
            stats,
            &mut live,
        );
        if let Some(&pos) = freed.first() {
            let slot = k * slots_per_first_page + pos as u64;
            lowest_freed = Some(lowest_freed.map_or(slot, |l| l.min(slot)));
            w.commit();
        } else {
            drop(w); // aborts the empty record
        }
        // No page is locked here: a cost-based delay must never stall a query.
        pg_sys::vacuum_delay_point();
    }
    if let Some(low) = lowest_freed {
        let mut w = WalWrite::start(index);
        let m = w.lock(META_BLOCK);
        let mut meta = check_meta(Meta::read(w.page(m)), index);
        if low < meta.free_hint {
            meta.free_hint = low;
            meta.write(w.page_mut(m));
            w.commit();
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
    vacuum_cleanup(info, stats)
}

/// Shared by the access methods: page count, and the heap's tuple estimate when no bulk delete
/// ran.
pub unsafe fn vacuum_cleanup(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
) -> *mut pg_sys::IndexBulkDeleteResult {
    if (*info).analyze_only {
        return stats;
    }
    let stats = ensure_stats(stats);
    (*stats).num_pages = block_count((*info).index);
    if (*stats).num_index_tuples == 0.0 && (*stats).tuples_removed == 0.0 {
        // No bulk delete ran: report the heap's estimate, as other index AMs do.
        (*stats).num_index_tuples = (*info).num_heap_tuples;
        (*stats).estimated_count = (*info).estimated_count;
    }
    stats
}

/// Free the slots on page `p` of `w` whose heap tuples the callback reports dead; counts live
/// and removed rows. Returns the freed positions (the caller commits `w` when there are any).
pub unsafe fn free_dead_slots(
    w: &mut WalWrite,
    p: usize,
    layout: &SlotLayout,
    callback: unsafe extern "C-unwind" fn(pg_sys::ItemPointer, *mut std::ffi::c_void) -> bool,
    callback_state: *mut std::ffi::c_void,
    stats: *mut pg_sys::IndexBulkDeleteResult,
    live: &mut f64,
) -> Vec<usize> {
    let count = layout.count(w.page(p)).min(layout.per_page);
    let mut freed = Vec::new();
    for pos in 0..count {
        let tid = layout.tid(w.page(p), pos);
        if !tid.is_valid() {
            continue;
        }
        let mut ip = tid_to_item_pointer(tid);
        if callback(&mut ip, callback_state) {
            layout.set_tid(w.page_mut(p), pos, Tid::INVALID);
            (*stats).tuples_removed += 1.0;
            freed.push(pos);
        } else {
            *live += 1.0;
        }
    }
    freed
}

pub unsafe fn ensure_stats(
    stats: *mut pg_sys::IndexBulkDeleteResult,
) -> *mut pg_sys::IndexBulkDeleteResult {
    if stats.is_null() {
        pg_sys::palloc0(std::mem::size_of::<pg_sys::IndexBulkDeleteResult>())
            as *mut pg_sys::IndexBulkDeleteResult
    } else {
        stats
    }
}

pub fn tid_to_item_pointer(tid: Tid) -> pg_sys::ItemPointerData {
    let mut ip = pg_sys::ItemPointerData::default();
    ip.ip_blkid.bi_hi = (tid.block >> 16) as u16;
    ip.ip_blkid.bi_lo = tid.block as u16;
    ip.ip_posid = tid.offset;
    ip
}
