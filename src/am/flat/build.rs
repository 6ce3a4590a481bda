//! CREATE INDEX: read the heap once, append vectors to data pages as they come (no WAL), write
//! the meta page, then WAL-log every page once. The page being filled is an image in memory,
//! written out when full: no buffer stays locked across the heap scan, so the build can be
//! cancelled at any row.

use pgrx::pg_sys;
use vector_core::am::flat::layout;
use vector_core::pages::{self, packed, AmMeta, Meta, SlotLayout, PAGE_SIZE};
use vector_core::tid::Tid;

use crate::am::heap::scan_heap;
use crate::am::{column_dims, dimension_mismatch, opclass_metric, progress};
use crate::storage::{log_all_pages, log_init_fork, write_meta_unlogged, BulkPage, WalWrite};

pub const PHASE_LOAD: i64 = 2;

struct Builder {
    index: pg_sys::Relation,
    meta: Meta,
    /// The data page being filled, and its next free position (slot layouts).
    page: Vec<u8>,
    pos: usize,
    rows: u64,
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
        if layout.packed {
            crate::am::check_sparse(bytes, "flat");
            if self.page.is_empty() {
                self.page = new_image(&layout);
            }
            let end = match packed::append(&mut self.page, tid, bytes) {
                Some(end) => end,
                None => {
                    self.flush();
                    self.page = new_image(&layout);
                    packed::append(&mut self.page, tid, bytes).expect("a row fits an empty page")
                }
            };
            pages::set_used_end(&mut self.page, end);
        } else if layout.pages_per_slot > 1 {
            // One slot over consecutive blocks: the first page holds the TID and chunk 0.
            for i in 0..layout.pages_per_slot {
                let mut image = new_image(&layout);
                layout.write_chunk(&mut image, i, bytes);
                if i == 0 {
                    layout.set_tid(&mut image, 0, tid);
                }
                BulkPage::append_image(self.index, &image, layout.used_end());
            }
            self.meta.n_slots += 1;
        } else {
            if self.page.is_empty() {
                self.page = new_image(&layout);
                self.pos = 0;
            }
            layout.write_vector(&mut self.page, self.pos, bytes);
            layout.set_tid(&mut self.page, self.pos, tid);
            self.pos += 1;
            self.meta.n_slots += 1;
            if self.pos == layout.per_page {
                self.flush();
            }
        }
        self.rows += 1;
    }

    /// Write the page being filled (if any) to the next block.
    fn flush(&mut self) {
        if let (Some(layout), false) = (layout(&self.meta), self.page.is_empty()) {
            let end = if layout.packed {
                self.meta.n_slots += 1; // a packed layout counts pages
                packed::end(&self.page)
            } else {
                layout.used_end()
            };
            BulkPage::append_image(self.index, &self.page, end);
            self.page.clear();
        }
    }
}

fn new_image(layout: &SlotLayout) -> Vec<u8> {
    let mut image = vec![0u8; PAGE_SIZE];
    pages::init_page(&mut image);
    if layout.packed {
        let end = packed::init(&mut image);
        pages::set_used_end(&mut image, end);
    } else {
        layout.init_page(&mut image);
    }
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
        rows: 0,
    };
    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_LOAD);
    progress(
        pg_sys::PROGRESS_CREATEIDX_TUPLES_TOTAL,
        (*(*heap).rd_rel).reltuples.max(0.0) as i64,
    );
    scan_heap(heap, index, info, elem, &mut |row| {
        row.with(|_, bytes, dims| b.add(row.tid, dims, bytes));
        if b.rows.is_multiple_of(1024) {
            progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, b.rows as i64);
        }
    });
    b.flush(); // the last data page
               // Slot layouts: every slot is taken. Packed layouts: the last page may have room.
    b.meta.free_hint = match layout(&b.meta) {
        Some(l) if l.packed => b.meta.n_slots.saturating_sub(1),
        _ => b.meta.n_slots,
    };
    write_meta_unlogged(index, &b.meta);
    log_all_pages(index);
    b.rows
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
