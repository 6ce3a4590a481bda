//! The heap scan of CREATE INDEX, shared by every access method: `scan_heap` calls a Rust
//! closure for every row whose vector is not NULL (NULL vectors are not indexed), each in a
//! memory context emptied after the row, so the detoasted copy of a TOASTed vector (over 2 KB:
//! 512+ dimensions) never outlives its row.

use pgrx::pg_sys;
use vector_core::elem::ElemKind;
use vector_core::tid::Tid;

use super::{item_pointer_to_tid, with_datum, RowContext};

/// One row of the heap scan.
pub struct HeapRow {
    pub tid: Tid,
    datum: pg_sys::Datum,
    elem: ElemKind,
}

impl HeapRow {
    /// Calls `f(values, bytes)` with the row's vector as f32 values and as stored bytes
    /// (detoasted only now: a closure that does not call this never reads the value).
    pub fn with<R>(&self, f: impl FnOnce(&[f32], &[u8], usize) -> R) -> R {
        with_datum(self.datum, self.elem, f)
    }
}

struct ScanState<'a> {
    elem: ElemKind,
    rows: u64,
    context: RowContext,
    f: &'a mut dyn FnMut(&HeapRow),
}

/// Scan `heap` for building `index` (Postgres' `table_index_build_scan`, which decides which
/// tuples a new index must contain) and call `f` for every row with a vector. Cancellable
/// between rows: no page of the index may be locked while this runs.
pub fn scan_heap(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    info: *mut pg_sys::IndexInfo,
    elem: ElemKind,
    f: &mut dyn FnMut(&HeapRow),
) {
    let mut state = ScanState {
        elem,
        rows: 0,
        context: RowContext::new(),
        f,
    };
    unsafe {
        pg_sys::table_index_build_scan(
            heap,
            index,
            info,
            true,
            true,
            Some(callback),
            &mut state as *mut ScanState as *mut std::ffi::c_void,
            std::ptr::null_mut(),
        );
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn callback(
    _index: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    is_null: *mut bool,
    _alive: bool,
    state: *mut std::ffi::c_void,
) {
    if *is_null {
        return;
    }
    let state = &mut *(state as *mut ScanState);
    let row = HeapRow {
        tid: item_pointer_to_tid(&*tid),
        datum: *values,
        elem: state.elem,
    };
    let f = &mut state.f;
    RowContext::run(state.context.get(), || f(&row));
    state.rows += 1;
    if state.rows.is_multiple_of(1024) {
        pgrx::check_for_interrupts!();
    }
}
