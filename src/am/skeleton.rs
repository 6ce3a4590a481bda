//! One skeleton for every index access method.
//!
//! Postgres calls an index AM through a table of callbacks (`IndexAmRoutine`). Their shared
//! work lives here, once: turning Postgres' arguments into Rust values (heap TIDs, detoasted
//! vectors, the ORDER BY query), the scan descriptor and its state, VACUUM's statistics and
//! delay points, the cost model and the handler table itself. An access method implements
//! [`VectorAm`] — only what makes it different — and declares its handler with
//! `routine::<TheAm>()`.

use std::ffi::CStr;

use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::am::VacuumStats;
use vector_core::distance::Metric;
use vector_core::elem::ElemKind;
use vector_core::order::Candidate;
use vector_core::tid::Tid;

use super::{
    cost_estimate, datum_owned, item_pointer_to_tid, opclass_metric, order_by_query, return_row,
    validate, AmRoutine,
};
use crate::storage::block_count;

/// One ordered scan of an access method, from `ambeginscan` to `amendscan`.
pub trait AmScan: 'static {
    fn begin(index: pg_sys::Relation) -> Self;
    /// A new query (`None`: NULL, every row ties).
    fn rescan(&mut self, index: pg_sys::Relation, query: Option<super::QueryValue>);
    /// The next row, nearest first.
    fn next(&mut self, index: pg_sys::Relation) -> Option<Candidate>;
    /// Let go of the scan's memory (the state itself goes with its memory context).
    fn end(&mut self);
    /// The next row of the scan `scan` (an AM that reads the heap itself needs the scan's
    /// heap relation and snapshot).
    fn next_for(&mut self, scan: pg_sys::IndexScanDesc) -> Option<Candidate> {
        self.next(unsafe { (*scan).indexRelation })
    }
}

/// What makes an index access method different from the others.
pub trait VectorAm: 'static {
    type Scan: AmScan;

    /// CREATE INDEX: fill the empty relation `index` from `heap`; returns the rows indexed.
    ///
    /// # Safety
    /// Postgres' `ambuild` arguments.
    unsafe fn build(
        heap: pg_sys::Relation,
        index: pg_sys::Relation,
        info: *mut pg_sys::IndexInfo,
    ) -> u64;
    /// Indexes `sparsevec` (variable-length vectors).
    const SPARSE: bool = false;
    /// The init fork of an unlogged index: an index over no rows, WAL-logged.
    fn build_empty(index: pg_sys::Relation);
    /// The name of a CREATE INDEX phase reported in `pg_stat_progress_create_index`.
    fn phase_name(_phase: i64) -> Option<&'static CStr> {
        None
    }
    /// INSERT of one row whose vector is `values` (stored as `bytes`, of dimension `dims`).
    fn insert(index: pg_sys::Relation, tid: Tid, values: &[f32], bytes: &[u8], dims: usize);
    /// VACUUM: forget the rows `dead` reports; `delay` is the cost-based delay point, to be
    /// called with no page locked.
    fn bulk_delete(
        index: pg_sys::Relation,
        dead: &mut dyn FnMut(Tid) -> bool,
        delay: &mut dyn FnMut(),
    ) -> VacuumStats;
    /// What part of the index an ordered scan reads before its first row, and a fixed cost on
    /// top (e.g. ivfflat's centroid distances).
    fn scan_fraction(_index: pg_sys::Relation) -> (f64, f64) {
        (1.0, 0.0)
    }
    /// `amoptions`: parse the index's `WITH (…)` options (none by default).
    ///
    /// # Safety
    /// Postgres' `amoptions` arguments.
    unsafe fn options(_reloptions: pg_sys::Datum, _validate: bool) -> *mut pg_sys::bytea {
        std::ptr::null_mut()
    }
}

/// The `IndexAmRoutine` of access method `A`: the properties every vector AM shares (one key
/// column, ordering by a distance operator, no WHERE-clause search, no uniqueness) and the
/// generic callbacks below.
pub fn routine<A: VectorAm>() -> AmRoutine {
    unsafe {
        let r = pg_sys::palloc0(std::mem::size_of::<pg_sys::IndexAmRoutine>())
            as *mut pg_sys::IndexAmRoutine;
        (*r).type_ = pg_sys::NodeTag::T_IndexAmRoutine;
        (*r).amstrategies = 0;
        (*r).amsupport = super::SUPPORT_PROCS;
        (*r).amoptsprocnum = 0;
        (*r).amcanorder = false;
        (*r).amcanorderbyop = true;
        (*r).amcanbackward = false;
        (*r).amcanunique = false;
        (*r).amcanmulticol = false;
        (*r).amoptionalkey = true;
        (*r).amsearcharray = false;
        (*r).amsearchnulls = false;
        (*r).amstorage = false;
        (*r).amclusterable = false;
        (*r).ampredlocks = false;
        (*r).amcanparallel = false;
        (*r).amcaninclude = false;
        (*r).amusemaintenanceworkmem = false;
        (*r).amparallelvacuumoptions = pg_sys::VACUUM_OPTION_PARALLEL_BULKDEL as u8;
        (*r).amkeytype = pg_sys::InvalidOid;
        (*r).amvalidate = Some(validate);
        (*r).amcostestimate = Some(cost_estimate::<A>);
        (*r).amoptions = Some(amoptions::<A>);
        (*r).ambuild = Some(ambuild::<A>);
        (*r).ambuildempty = Some(ambuildempty::<A>);
        (*r).ambuildphasename = Some(ambuildphasename::<A>);
        (*r).aminsert = Some(aminsert::<A>);
        (*r).ambulkdelete = Some(ambulkdelete::<A>);
        (*r).amvacuumcleanup = Some(amvacuumcleanup);
        (*r).ambeginscan = Some(ambeginscan::<A>);
        (*r).amrescan = Some(amrescan::<A>);
        (*r).amgettuple = Some(amgettuple::<A>);
        (*r).amendscan = Some(amendscan::<A>);
        AmRoutine(r)
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn amoptions<A: VectorAm>(
    reloptions: pg_sys::Datum,
    validate: bool,
) -> *mut pg_sys::bytea {
    A::options(reloptions, validate)
}

#[pg_guard]
unsafe extern "C-unwind" fn ambuild<A: VectorAm>(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    info: *mut pg_sys::IndexInfo,
) -> *mut pg_sys::IndexBuildResult {
    check_type::<A>(index);
    let tuples = A::build(heap, index, info) as f64;
    let result = pg_sys::palloc0(std::mem::size_of::<pg_sys::IndexBuildResult>())
        as *mut pg_sys::IndexBuildResult;
    (*result).heap_tuples = tuples;
    (*result).index_tuples = tuples;
    result
}

#[pg_guard]
unsafe extern "C-unwind" fn ambuildempty<A: VectorAm>(index: pg_sys::Relation) {
    check_type::<A>(index);
    A::build_empty(index)
}

/// An opclass of someone's making may name a type the access method cannot store.
unsafe fn check_type<A: VectorAm>(index: pg_sys::Relation) {
    let (_, elem) = opclass_metric(index);
    if elem == ElemKind::Sparse && !A::SPARSE {
        crate::types::error(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!(
                "access method of index \"{}\" does not support type sparsevec",
                crate::storage::relation_name(index)
            ),
        );
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn ambuildphasename<A: VectorAm>(phase: i64) -> *mut std::ffi::c_char {
    A::phase_name(phase).map_or(std::ptr::null_mut(), |n| n.as_ptr() as *mut _)
}

#[pg_guard]
#[allow(clippy::too_many_arguments)]
unsafe extern "C-unwind" fn aminsert<A: VectorAm>(
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
        return false; // NULL vectors are not indexed
    }
    let (_, elem) = opclass_metric(index);
    let (v, bytes, dims) = datum_owned(*values, elem);
    A::insert(index, item_pointer_to_tid(&*heap_tid), &v, &bytes, dims);
    false
}

#[pg_guard]
unsafe extern "C-unwind" fn ambulkdelete<A: VectorAm>(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
    callback: pg_sys::IndexBulkDeleteCallback,
    callback_state: *mut std::ffi::c_void,
) -> *mut pg_sys::IndexBulkDeleteResult {
    let index = (*info).index;
    let stats = ensure_stats(stats);
    let callback = callback.expect("bulk delete callback");
    let mut dead = |tid: Tid| {
        let mut ip = super::tid_to_item_pointer(tid);
        unsafe { callback(&mut ip, callback_state) }
    };
    let mut delay = || unsafe { pg_sys::vacuum_delay_point() };
    let found = A::bulk_delete(index, &mut dead, &mut delay);
    (*stats).tuples_removed += found.removed;
    (*stats).num_index_tuples = found.live;
    (*stats).num_pages = block_count(index);
    stats
}

/// Page count, and the heap's tuple estimate when no bulk delete ran (as other AMs do).
#[pg_guard]
unsafe extern "C-unwind" fn amvacuumcleanup(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
) -> *mut pg_sys::IndexBulkDeleteResult {
    if (*info).analyze_only {
        return stats;
    }
    let stats = ensure_stats(stats);
    (*stats).num_pages = block_count((*info).index);
    if (*stats).num_index_tuples == 0.0 && (*stats).tuples_removed == 0.0 {
        (*stats).num_index_tuples = (*info).num_heap_tuples;
        (*stats).estimated_count = (*info).estimated_count;
    }
    stats
}

unsafe fn ensure_stats(
    stats: *mut pg_sys::IndexBulkDeleteResult,
) -> *mut pg_sys::IndexBulkDeleteResult {
    if stats.is_null() {
        pg_sys::palloc0(std::mem::size_of::<pg_sys::IndexBulkDeleteResult>())
            as *mut pg_sys::IndexBulkDeleteResult
    } else {
        stats
    }
}

/// A scan's state: what every AM's scan needs, and the AM's own.
struct Scan<A: VectorAm> {
    metric: Metric,
    elem: ElemKind,
    null_query: bool,
    /// No row returned since the last rescan (the scan is counted then).
    fresh: bool,
    am: A::Scan,
}

/// Postgres' `pgstat_count_index_scan`: one more scan in `pg_stat_user_indexes.idx_scan`
/// (`idx_tup_read` is counted by Postgres for every row an index returns).
unsafe fn count_index_scan(index: pg_sys::Relation) {
    if (*index).pgstat_info.is_null() {
        if !(*index).pgstat_enabled {
            return;
        }
        pg_sys::pgstat_assoc_relation(index);
    }
    if let Some(info) = (*index).pgstat_info.as_mut() {
        info.t_counts.t_numscans += 1;
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn ambeginscan<A: VectorAm>(
    index: pg_sys::Relation,
    nkeys: i32,
    norderbys: i32,
) -> pg_sys::IndexScanDesc {
    let scan = pg_sys::RelationGetIndexScan(index, nkeys, norderbys);
    // The AM owns the ORDER BY value arrays (RelationGetIndexScan leaves them unset).
    let n = norderbys.max(1) as usize;
    (*scan).xs_orderbyvals = pg_sys::palloc0(n * std::mem::size_of::<pg_sys::Datum>()) as *mut _;
    (*scan).xs_orderbynulls = pg_sys::palloc(n * std::mem::size_of::<bool>()) as *mut bool;
    std::ptr::write_bytes((*scan).xs_orderbynulls, 1, n);
    let (metric, elem) = opclass_metric(index);
    let state = Scan::<A> {
        metric,
        elem,
        null_query: true,
        fresh: true,
        am: A::Scan::begin(index),
    };
    // Freed with the scan's memory context, also when the query fails.
    (*scan).opaque = pgrx::PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(state)
        as *mut std::ffi::c_void;
    scan
}

#[pg_guard]
unsafe extern "C-unwind" fn amrescan<A: VectorAm>(
    scan: pg_sys::IndexScanDesc,
    _keys: pg_sys::ScanKey,
    _nkeys: i32,
    orderbys: pg_sys::ScanKey,
    norderbys: i32,
) {
    let state = &mut *((*scan).opaque as *mut Scan<A>);
    let query = order_by_query(scan, orderbys, norderbys, state.elem);
    state.null_query = query.is_none();
    state.fresh = true;
    state.am.rescan((*scan).indexRelation, query);
}

#[pg_guard]
unsafe extern "C-unwind" fn amgettuple<A: VectorAm>(
    scan: pg_sys::IndexScanDesc,
    _direction: pg_sys::ScanDirection::Type,
) -> bool {
    let state = &mut *((*scan).opaque as *mut Scan<A>);
    if state.fresh {
        state.fresh = false;
        count_index_scan((*scan).indexRelation);
    }
    match state.am.next_for(scan) {
        Some(c) => {
            return_row(scan, state.metric, c, state.null_query);
            true
        }
        None => false,
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn amendscan<A: VectorAm>(scan: pg_sys::IndexScanDesc) {
    let state = &mut *((*scan).opaque as *mut Scan<A>);
    state.am.end();
}
