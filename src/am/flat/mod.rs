//! The `flat` access method: exact nearest-neighbour search over vectors packed densely on
//! pages (layout in `vector_core::flat`). Blocks: 0 is the meta page, data pages follow
//! contiguously from block 1; slot `s` lives on data page `s / per_page`.
//!
//! Each callback is short: it turns Postgres inputs into Rust values and calls the core.

mod build;
mod insert;
mod scan;
mod vacuum;

pub use build::item_pointer_to_tid;
pub use vacuum::{ensure_stats, free_dead_slots, tid_to_item_pointer, vacuum_cleanup};

use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::flat::{Meta, SlotLayout};

use super::{base_routine, AmRoutine};
use crate::storage::BlockNumber;

#[pg_extern(sql = false)]
fn flat_handler(_fcinfo: pg_sys::FunctionCallInfo) -> AmRoutine {
    let r = base_routine();
    unsafe {
        (*r).amsupport = 1;
        (*r).ambuild = Some(build::ambuild);
        (*r).ambuildempty = Some(build::ambuildempty);
        (*r).ambuildphasename = Some(build::ambuildphasename);
        (*r).aminsert = Some(insert::aminsert);
        (*r).ambulkdelete = Some(vacuum::ambulkdelete);
        (*r).amvacuumcleanup = Some(vacuum::amvacuumcleanup);
        (*r).ambeginscan = Some(scan::ambeginscan);
        (*r).amrescan = Some(scan::amrescan);
        (*r).amgettuple = Some(scan::amgettuple);
        (*r).amendscan = Some(scan::amendscan);
    }
    AmRoutine(r)
}

/// Slot layout of an index whose meta page is `meta` (`None` before the first vector).
fn layout(meta: &Meta) -> Option<SlotLayout> {
    (meta.dims > 0).then(|| SlotLayout::new(meta.dims as usize, meta.elem))
}

/// Block number of data page `page_index`.
fn data_block(page_index: u64) -> BlockNumber {
    (page_index + 1) as BlockNumber
}
