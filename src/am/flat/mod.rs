//! The `flat` access method: exact nearest-neighbour search over vectors packed densely on
//! slot pages, or for `sparsevec` rows of any length on packed pages (layouts in
//! `vector_core::pages`, page algorithms in `vector_core::am::flat`). Block 0 is the meta
//! page, data pages follow contiguously from block 1.

mod build;
mod scan;

use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::am::VacuumStats;
use vector_core::tid::Tid;

use super::skeleton::{routine, VectorAm};
use super::{am_error, AmRoutine};
use crate::storage::RelStore;

pub struct Flat;

#[pg_extern(sql = false)]
fn flat_handler(_fcinfo: pg_sys::FunctionCallInfo) -> AmRoutine {
    routine::<Flat>()
}

impl VectorAm for Flat {
    type Scan = scan::FlatScan;
    const SPARSE: bool = true;

    unsafe fn build(
        heap: pg_sys::Relation,
        index: pg_sys::Relation,
        info: *mut pg_sys::IndexInfo,
    ) -> u64 {
        build::build(heap, index, info)
    }

    fn build_empty(index: pg_sys::Relation) {
        build::build_empty(index)
    }

    fn phase_name(phase: i64) -> Option<&'static std::ffi::CStr> {
        (phase == build::PHASE_LOAD).then_some(c"loading tuples")
    }

    fn insert(index: pg_sys::Relation, tid: Tid, _values: &[f32], bytes: &[u8], dims: usize) {
        if crate::am::opclass_metric(index).1 == vector_core::elem::ElemKind::Sparse {
            crate::am::check_sparse(bytes, "flat");
        }
        vector_core::am::flat::insert(&RelStore(index), tid, dims, bytes)
            .unwrap_or_else(|e| am_error(index, e))
    }

    fn bulk_delete(
        index: pg_sys::Relation,
        dead: &mut dyn FnMut(Tid) -> bool,
        delay: &mut dyn FnMut(),
    ) -> VacuumStats {
        vector_core::am::flat::bulk_delete(&RelStore(index), dead, delay)
            .unwrap_or_else(|e| am_error(index, e))
    }
}
