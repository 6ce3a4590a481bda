//! CREATE INDEX: read the heap once, append vectors to data pages as they come (no WAL), write
//! the meta page, then WAL-log every page once. The page being filled is an image in memory,
//! written out when full: no buffer stays locked across the heap scan, so the build can be
//! cancelled at any row.

use pgrx::pg_sys;
use vector_core::am::flat::layout;
use vector_core::pages::{AmMeta, Meta, SlotLayout, PAGE_SIZE};
use vector_core::tid::Tid;

use crate::am::heap::scan_heap;
use crate::am::{column_dims, dimension_mismatch, opclass_metric, progress};
use crate::storage::{log_all_pages, log_init_fork, write_meta_unlogged, BulkPage, WalWrite};

pub const PHASE_LOAD: i64 = 2;

struct Builder {
    index: pg_sys::Relation,
    meta: Meta,
    /// The data page being filled, and its next free position.
    page: Vec<u8>,
    pos: usize,
}

impl Builder {
    fn add(&mut self, tid: Tid, dims: usize, bytes: &[u8]) {
        if self.meta.dims == 0 {
            self.meta.dims = dims as u32;
        }
        if dims != self.meta.dims as usize {
            dimension_mismatch(self.meta.dims, dims);
        }
        let layout = layout(&self.meta).expect("dims are set");
        if layout.pages_per_slot > 1 {
            // One slot over consecutive blocks: the first page holds the TID and chunk 0.
            for i in 0..layout.pages_per_slot {
                let mut image = new_image(&layout);
                layout.write_chunk(&mut image, i, bytes);
                if i == 0 {
                    layout.set_tid(&mut image, 0, tid);
                }
                BulkPage::append_image(self.index, &image, layout.used_end());
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
    }

    /// Write the page being filled (if any) to the next block.
    fn flush(&mut self) {
        if let (Some(layout), false) = (layout(&self.meta), self.page.is_empty()) {
            BulkPage::append_image(self.index, &self.page, layout.used_end());
            self.page.clear();
        }
    }
}

fn new_image(layout: &SlotLayout) -> Vec<u8> {
    let mut image = vec![0u8; PAGE_SIZE];
    layout.init_page(&mut image);
    image
}

pub unsafe fn build(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    info: *mut pg_sys::IndexInfo,
) -> u64 {
    let (metric, elem) = opclass_metric(index);
    let dims = column_dims(index).unwrap_or(0);
    drop(BulkPage::extend(index)); // block 0, the meta page, is written last
    let mut b = Builder {
        index,
        meta: Meta::new(AmMeta::Flat, dims, elem, metric),
        page: Vec::new(),
        pos: 0,
    };
    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_LOAD);
    progress(
        pg_sys::PROGRESS_CREATEIDX_TUPLES_TOTAL,
        (*(*heap).rd_rel).reltuples.max(0.0) as i64,
    );
    scan_heap(heap, index, info, elem, &mut |row| {
        row.with(|v, bytes| b.add(row.tid, v.len(), bytes));
        if b.meta.n_slots.is_multiple_of(1024) {
            progress(
                pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE,
                b.meta.n_slots as i64,
            );
        }
    });
    b.flush(); // the last data page
    b.meta.free_hint = b.meta.n_slots;
    write_meta_unlogged(index, &b.meta);
    log_all_pages(index);
    b.meta.n_slots
}

/// An unlogged index's init fork: just the meta page, WAL-logged.
pub fn build_empty(index: pg_sys::Relation) {
    let (metric, elem) = opclass_metric(index);
    let meta = Meta::new(AmMeta::Flat, column_dims(index).unwrap_or(0), elem, metric);
    let mut w = WalWrite::start(index);
    let i = w.extend(pg_sys::ForkNumber::INIT_FORKNUM);
    meta.write(w.page_mut(i));
    w.set_used_end(i, Meta::END);
    w.commit();
    log_init_fork(index);
}
