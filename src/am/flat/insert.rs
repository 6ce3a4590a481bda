//! INSERT: put one vector in the first free slot at or after the meta page's `free_hint`,
//! or append a slot (and a page when needed). The meta page stays locked for the whole insert,
//! which serialises inserts; the slot's page and the meta page change in one WAL record.

use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::flat::{Meta, SlotLayout};

use super::{data_block, layout};
use crate::am::dimension_mismatch;
use crate::storage::{block_count, check_meta, PageRead, WalWrite, META_BLOCK};

use super::item_pointer_to_tid;

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
    let mut w = WalWrite::start(index);
    let m = w.lock(META_BLOCK);
    let mut meta = check_meta(Meta::read(w.page(m)), index);
    let (values, bytes) = crate::am::datum_owned(*values, meta.elem);
    let dims = values.len();
    if meta.dims == 0 {
        meta.dims = dims as u32;
    } else if meta.dims as usize != dims {
        dimension_mismatch(meta.dims, dims);
    }
    let layout = layout(&meta).expect("dims are set");
    let tid = item_pointer_to_tid(&*heap_tid);

    let slot = find_free_slot(index, &layout, &meta).unwrap_or(meta.n_slots);
    meta.free_hint = slot + 1;
    meta.n_slots = meta.n_slots.max(slot + 1);
    let (page_index, pos) = layout.locate(slot);

    if layout.pages_per_slot > 1 {
        // Chunks first, in page order, each in its own record: unreachable until the TID is
        // set below, together with the meta page.
        for i in 0..layout.pages_per_slot {
            let mut cw = WalWrite::start(index);
            let p = data_page(&mut cw, index, &layout, page_index + i as u64);
            layout.write_chunk(cw.page_mut(p), i, &bytes);
            cw.commit();
        }
        let p = data_page(&mut w, index, &layout, page_index);
        layout.set_tid(w.page_mut(p), 0, tid);
    } else {
        let p = data_page(&mut w, index, &layout, page_index);
        layout.write_vector(w.page_mut(p), pos, &bytes);
        layout.set_tid(w.page_mut(p), pos, tid);
    }
    meta.write(w.page_mut(m));
    w.commit();
    false
}

/// The first free slot in `free_hint..n_slots`, reading TID arrays only.
fn find_free_slot(index: pg_sys::Relation, layout: &SlotLayout, meta: &Meta) -> Option<u64> {
    let mut slot = meta.free_hint;
    while slot < meta.n_slots {
        let (page_index, pos) = layout.locate(slot);
        let page = PageRead::new(index, data_block(page_index));
        if let Some(free) = layout.free_position(page.bytes(), pos) {
            let found = slot - pos as u64 + free as u64;
            // A free position past n_slots was never used: append instead.
            return (found < meta.n_slots).then_some(found);
        }
        slot += (layout.per_page - pos) as u64;
    }
    None
}

/// Lock data page `page_index` into the record, creating it when the relation ends before it
/// (or initialising it when a failed insert left an empty page there).
fn data_page(
    w: &mut WalWrite,
    index: pg_sys::Relation,
    layout: &SlotLayout,
    page_index: u64,
) -> usize {
    let block = data_block(page_index);
    let i = if block < block_count(index) {
        let i = w.lock(block);
        if !w.is_new(i) && SlotLayout::is_data_page(w.page(i)) {
            return i;
        }
        w.init(i);
        i
    } else {
        let i = w.extend(pg_sys::ForkNumber::MAIN_FORKNUM);
        assert_eq!(
            w.block(i),
            block,
            "flat index data pages must be contiguous"
        );
        i
    };
    layout.init_page(w.page_mut(i));
    w.set_used_end(i, layout.used_end());
    i
}
