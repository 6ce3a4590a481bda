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

/// Reads indexed values back from the heap during an index scan, by TID and under the scan's
/// snapshot (as the executor will read the rows the scan returns): how a scan over quantized
/// codes computes exact distances for its candidates. Expression indexes are evaluated as
/// CREATE INDEX evaluated them (`FormIndexDatum`), in a per-row memory context.
pub struct HeapFetcher {
    fetch: *mut pg_sys::IndexFetchTableData,
    slot: *mut pg_sys::TupleTableSlot,
    estate: *mut pg_sys::EState,
    info: *mut pg_sys::IndexInfo,
    snapshot: pg_sys::Snapshot,
}

impl HeapFetcher {
    /// For the scan `scan` (its heap relation and snapshot).
    ///
    /// # Safety
    /// `scan` is a live index scan with a heap relation.
    pub unsafe fn new(scan: pg_sys::IndexScanDesc) -> HeapFetcher {
        let heap = (*scan).heapRelation;
        let estate = pg_sys::CreateExecutorState();
        let econtext = pg_sys::MakePerTupleExprContext(estate);
        let slot = pg_sys::table_slot_create(heap, std::ptr::null_mut());
        (*econtext).ecxt_scantuple = slot;
        HeapFetcher {
            fetch: pg_sys::table_index_fetch_begin(heap),
            slot,
            estate,
            info: pg_sys::BuildIndexInfo((*scan).indexRelation),
            snapshot: (*scan).xs_snapshot,
        }
    }

    /// `f(values, bytes, dims)` over the indexed value of the row version at `tid` visible to
    /// the scan, or `None` when none is (deleted, or not yet committed) or the value is NULL.
    pub fn with_row<R>(
        &mut self,
        tid: Tid,
        elem: ElemKind,
        f: impl FnOnce(&[f32], &[u8], usize) -> R,
    ) -> Option<R> {
        unsafe {
            let mut ip = super::tid_to_item_pointer(tid);
            let (mut call_again, mut all_dead) = (false, false);
            let found = pg_sys::table_index_fetch_tuple(
                self.fetch,
                &mut ip,
                self.snapshot,
                self.slot,
                &mut call_again,
                &mut all_dead,
            );
            if !found {
                return None;
            }
            let econtext = (*self.estate).es_per_tuple_exprcontext;
            let memory = (*econtext).ecxt_per_tuple_memory;
            let column = (*self.info).ii_IndexAttrNumbers[0] as i32;
            let result = RowContext::run(memory, || {
                let (value, null) = if column != 0 {
                    // A plain column: read it, no expression machinery.
                    let mut null = false;
                    let v = pg_sys::slot_getattr(self.slot, column, &mut null);
                    (v, null)
                } else {
                    let mut values = [pg_sys::Datum::from(0usize); pg_sys::INDEX_MAX_KEYS as usize];
                    let mut nulls = [false; pg_sys::INDEX_MAX_KEYS as usize];
                    pg_sys::FormIndexDatum(
                        self.info,
                        self.slot,
                        self.estate,
                        values.as_mut_ptr(),
                        nulls.as_mut_ptr(),
                    );
                    (values[0], nulls[0])
                };
                (!null).then(|| with_datum(value, elem, f))
            });
            pg_sys::ExecClearTuple(self.slot);
            result
        }
    }
}

impl HeapFetcher {
    /// Release the heap buffer pin and the executor state (at `amendscan`). Not a `Drop`: a
    /// scan that fails is dropped during the transaction's abort, which has already released
    /// its pins and frees the memory itself.
    pub fn close(self) {
        unsafe {
            pg_sys::table_index_fetch_end(self.fetch);
            pg_sys::ExecDropSingleTupleTableSlot(self.slot);
            pg_sys::FreeExecutorState(self.estate);
        }
    }
}
