//! CREATE INDEX: read the heap once, append vectors to data pages as they come (no WAL), write
//! the meta page, then WAL-log every page once. The page being filled is an image in memory,
//! written out when full: no buffer stays locked across the heap scan's callbacks, so the build
//! can be cancelled at any row.

use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::flat::{IndexKind, Meta, SlotLayout, Tid, PAGE_HEADER, PAGE_SIZE};

use crate::am::{column_dims, dimension_mismatch, opclass_metric, RowContext};
use crate::storage::{log_all_pages, log_init_fork, BulkPage, WalWrite, META_BLOCK};

struct BuildState {
    index: pg_sys::Relation,
    meta: Meta,
    layout: Option<SlotLayout>,
    /// The data page being filled, and its next free position.
    page: Vec<u8>,
    pos: usize,
    tuples: f64,
    row_context: RowContext,
}

impl BuildState {
    fn add(&mut self, tid: Tid, dims: usize, bytes: &[u8]) {
        if self.meta.dims == 0 {
            self.meta.dims = dims as u32;
        }
        if dims != self.meta.dims as usize {
            dimension_mismatch(self.meta.dims, dims);
        }
        let layout = *self
            .layout
            .get_or_insert_with(|| SlotLayout::new(dims, self.meta.elem));
        if layout.pages_per_slot > 1 {
            // One slot over consecutive blocks: the first page holds the TID and chunk 0.
            for i in 0..layout.pages_per_slot {
                let mut image = new_image(&layout);
                layout.write_chunk(&mut image, i, bytes);
                if i == 0 {
                    layout.set_tid(&mut image, 0, tid);
                }
                write_page(self.index, &layout, &image);
            }
        } else {
            if self.page.is_empty() {
                self.page = new_image(&layout);
                self.pos = 0;
            }
            layout.write_vector(&mut self.page, self.pos, bytes);
            layout.set_tid(&mut self.page, self.pos, tid);
            self.pos += 1;
            if self.pos == layout.per_page {
                self.flush();
            }
        }
        self.meta.n_slots += 1;
        self.tuples += 1.0;
    }

    /// Write the page being filled (if any) to the next block.
    fn flush(&mut self) {
        if let (Some(layout), false) = (self.layout, self.page.is_empty()) {
            write_page(self.index, &layout, &self.page);
            self.page.clear();
        }
    }
}

fn new_image(layout: &SlotLayout) -> Vec<u8> {
    let mut image = vec![0u8; PAGE_SIZE];
    layout.init_page(&mut image);
    image
}

/// Append `image` as a new data page (no WAL: the build logs every page at its end).
fn write_page(index: pg_sys::Relation, layout: &SlotLayout, image: &[u8]) {
    let mut page = BulkPage::extend(index);
    page.page_mut()[PAGE_HEADER..].copy_from_slice(&image[PAGE_HEADER..]);
    page.set_used_end(layout.used_end());
}

#[pg_guard]
pub unsafe extern "C-unwind" fn ambuild(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    index_info: *mut pg_sys::IndexInfo,
) -> *mut pg_sys::IndexBuildResult {
    let (metric, elem) = opclass_metric(index);
    let dims = column_dims(index).unwrap_or(0);
    // Block 0 is the meta page, written last.
    drop(BulkPage::extend(index));

    let mut state = BuildState {
        index,
        meta: Meta {
            kind: IndexKind::Flat,
            dims,
            elem,
            metric,
            n_slots: 0,
            free_hint: 0,
            extra: [0; 4],
        },
        layout: (dims > 0).then(|| SlotLayout::new(dims as usize, elem)),
        page: Vec::new(),
        pos: 0,
        tuples: 0.0,
        row_context: RowContext::new(),
    };
    pg_sys::pgstat_progress_update_param(pg_sys::PROGRESS_CREATEIDX_SUBPHASE as i32, 2);
    pg_sys::pgstat_progress_update_param(
        pg_sys::PROGRESS_CREATEIDX_TUPLES_TOTAL as i32,
        (*(*heap).rd_rel).reltuples.max(0.0) as i64,
    );
    pg_sys::table_index_build_scan(
        heap,
        index,
        index_info,
        true,
        true,
        Some(build_callback),
        &mut state as *mut BuildState as *mut std::ffi::c_void,
        std::ptr::null_mut(),
    );
    state.flush(); // the last data page
    state.meta.free_hint = state.meta.n_slots;
    write_meta_unlogged(index, &state.meta);
    log_all_pages(index);

    let result = pg_sys::palloc0(std::mem::size_of::<pg_sys::IndexBuildResult>())
        as *mut pg_sys::IndexBuildResult;
    (*result).heap_tuples = state.tuples;
    (*result).index_tuples = state.tuples;
    result
}

unsafe fn write_meta_unlogged(index: pg_sys::Relation, meta: &Meta) {
    let buf = pg_sys::ReadBuffer(index, META_BLOCK);
    pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32);
    let page = std::slice::from_raw_parts_mut(
        pg_sys::BufferGetPage(buf) as *mut u8,
        vector_core::flat::PAGE_SIZE,
    );
    meta.write(page);
    (*(page.as_mut_ptr() as *mut pg_sys::PageHeaderData)).pd_lower = Meta::END as u16;
    pg_sys::MarkBufferDirty(buf);
    pg_sys::UnlockReleaseBuffer(buf);
}

#[pg_guard]
unsafe extern "C-unwind" fn build_callback(
    _index: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    is_null: *mut bool,
    _alive: bool,
    state: *mut std::ffi::c_void,
) {
    if *is_null {
        return; // NULL vectors are not indexed
    }
    let state = &mut *(state as *mut BuildState);
    let (elem, ctx, tid) = (
        state.meta.elem,
        state.row_context.get(),
        item_pointer_to_tid(&*tid),
    );
    RowContext::run(ctx, || {
        crate::am::with_datum(*values, elem, |v, bytes| state.add(tid, v.len(), bytes))
    });
    if state.meta.n_slots % 1024 == 0 {
        pg_sys::pgstat_progress_update_param(
            pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE as i32,
            state.meta.n_slots as i64,
        );
        pgrx::check_for_interrupts!();
    }
}

pub fn item_pointer_to_tid(ip: &pg_sys::ItemPointerData) -> Tid {
    Tid {
        block: ((ip.ip_blkid.bi_hi as u32) << 16) | ip.ip_blkid.bi_lo as u32,
        offset: ip.ip_posid,
    }
}

/// An unlogged index's init fork: just the meta page, WAL-logged.
#[pg_guard]
pub unsafe extern "C-unwind" fn ambuildempty(index: pg_sys::Relation) {
    let (metric, elem) = opclass_metric(index);
    let meta = Meta {
        kind: IndexKind::Flat,
        dims: column_dims(index).unwrap_or(0),
        elem,
        metric,
        n_slots: 0,
        free_hint: 0,
        extra: [0; 4],
    };
    let mut w = WalWrite::start(index);
    let i = w.extend(pg_sys::ForkNumber::INIT_FORKNUM);
    meta.write(w.page_mut(i));
    w.set_used_end(i, Meta::END);
    w.commit();
    log_init_fork(index);
}

#[pg_guard]
pub unsafe extern "C-unwind" fn ambuildphasename(phase: i64) -> *mut std::ffi::c_char {
    match phase {
        2 => c"loading tuples".as_ptr() as *mut _,
        _ => std::ptr::null_mut(),
    }
}
