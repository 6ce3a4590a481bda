//! Ordered scan.
//!
//! The first `amgettuple` after a rescan scores every stored vector, streaming the data pages
//! in block order through the shared pipeline (`am::stream`: the backend pins, workers score).
//! Candidates are then handed out nearest first by `LazyOrder`, which sorts only as far as the
//! executor pulls.
//!
//! The first pass keeps only the `FIRST_PASS` nearest candidates (enough for any usual LIMIT).
//! A scan pulled past them (a selective WHERE clause) runs a second, uncapped pass that resumes
//! exactly after the last row returned, so every row still comes back once, in order.

use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::distance::Metric;
use vector_core::flat::{operator_value, Query, SlotLayout, Tid};
use vector_core::order::{Candidate, LazyOrder};

use super::{data_block, layout};
use crate::am::datum_values;
use crate::am::stream::{run_pages, score_runs};
use crate::storage::{read_meta, PageRead};
use crate::types::error;

/// Candidates kept by the first pass.
const FIRST_PASS: usize = 4096;

struct ScanState {
    /// Query values from the last rescan (`None`: a NULL query, every row ties).
    query: Option<Vec<f32>>,
    order: Option<LazyOrder>,
    metric: Metric,
    /// The current candidates are a capped first pass: more rows may exist after them.
    capped: bool,
    /// The last candidate handed out.
    last: Option<Candidate>,
}

#[pg_guard]
pub unsafe extern "C-unwind" fn ambeginscan(
    index: pg_sys::Relation,
    nkeys: i32,
    norderbys: i32,
) -> pg_sys::IndexScanDesc {
    let scan = pg_sys::RelationGetIndexScan(index, nkeys, norderbys);
    // The AM owns the arrays for ORDER BY values (RelationGetIndexScan leaves them unset).
    let n = norderbys.max(1) as usize;
    (*scan).xs_orderbyvals = pg_sys::palloc0(n * std::mem::size_of::<pg_sys::Datum>()) as *mut _;
    (*scan).xs_orderbynulls = pg_sys::palloc(n * std::mem::size_of::<bool>()) as *mut bool;
    std::ptr::write_bytes((*scan).xs_orderbynulls, 1, n);
    let meta = read_meta(index);
    let state = ScanState {
        query: None,
        order: None,
        metric: meta.metric,
        capped: false,
        last: None,
    };
    // Freed with the scan's memory context, also when the query fails.
    (*scan).opaque = pgrx::PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(state)
        as *mut std::ffi::c_void;
    scan
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amrescan(
    scan: pg_sys::IndexScanDesc,
    _keys: pg_sys::ScanKey,
    _nkeys: i32,
    orderbys: pg_sys::ScanKey,
    norderbys: i32,
) {
    let state = &mut *((*scan).opaque as *mut ScanState);
    state.order = None;
    state.query = None;
    state.last = None;
    state.capped = false;
    if norderbys > 0 && !orderbys.is_null() {
        let key = &*orderbys;
        if key.sk_flags & pg_sys::SK_ISNULL as i32 == 0 {
            let meta = read_meta((*scan).indexRelation);
            state.query = Some(datum_values(key.sk_argument, meta.elem));
        }
        // Keep the executor's copy of the keys, as other AMs do.
        if !(*scan).orderByData.is_null() && (*scan).orderByData != orderbys {
            std::ptr::copy(orderbys, (*scan).orderByData, norderbys as usize);
        }
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amgettuple(
    scan: pg_sys::IndexScanDesc,
    _direction: pg_sys::ScanDirection::Type,
) -> bool {
    let state = &mut *((*scan).opaque as *mut ScanState);
    let index = (*scan).indexRelation;
    if state.order.is_none() {
        let cap = state.query.is_some().then_some(FIRST_PASS);
        let candidates = score(index, state.query.as_deref(), state.metric, cap, None);
        state.capped = cap.is_some_and(|cap| candidates.len() >= cap);
        state.order = Some(LazyOrder::new(candidates));
    }
    let mut next = state.order.as_mut().unwrap().next();
    if next.is_none() && state.capped {
        // Pulled past the first pass: score again, keeping everything after the last row.
        let candidates = score(
            index,
            state.query.as_deref(),
            state.metric,
            None,
            state.last,
        );
        state.capped = false;
        state.order = Some(LazyOrder::new(candidates));
        next = state.order.as_mut().unwrap().next();
    }
    let Some(c) = next else {
        return false;
    };
    state.last = Some(c);
    let tid = Tid::unpack(c.id);
    let heap_tid = &mut (*scan).xs_heaptid;
    heap_tid.ip_blkid.bi_hi = (tid.block >> 16) as u16;
    heap_tid.ip_blkid.bi_lo = tid.block as u16;
    heap_tid.ip_posid = tid.offset;
    (*scan).xs_recheck = false;
    (*scan).xs_recheckorderby = false;
    if (*scan).numberOfOrderBys > 0 {
        let value = operator_value(state.metric, c.dist);
        *(*scan).xs_orderbyvals = pg_sys::Datum::from(value.to_bits());
        *(*scan).xs_orderbynulls = state.query.is_none() || value.is_nan();
    }
    true
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amendscan(scan: pg_sys::IndexScanDesc) {
    // Release the candidate array now; the state itself goes with its memory context.
    let state = &mut *((*scan).opaque as *mut ScanState);
    state.order = None;
    state.query = None;
}

/// Score the stored vectors: with `cap`, keep the `cap` nearest; with `after`, only those after
/// that key. A NULL query (`None`) scores every row as NaN: all rows tie.
fn score(
    index: pg_sys::Relation,
    query: Option<&[f32]>,
    metric: Metric,
    cap: Option<usize>,
    after: Option<Candidate>,
) -> Vec<Candidate> {
    let meta = read_meta(index);
    let Some(layout) = layout(&meta) else {
        return Vec::new(); // nothing stored yet
    };
    let query = match query {
        Some(q) if q.len() != layout.dims => error(
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            format!(
                "different vector dimensions {} and {}",
                layout.dims,
                q.len()
            ),
        ),
        Some(q) => Some(Query::new(metric, q.to_vec())),
        None => None,
    };
    let Some(query) = query else {
        let zero = Query::new(metric, vec![0.0; layout.dims]);
        let mut all = stream_pages(index, &layout, meta.n_slots, &zero, None, None);
        for c in &mut all {
            c.dist = f32::NAN;
        }
        return all;
    };
    stream_pages(index, &layout, meta.n_slots, &query, cap, after)
}

/// Stream the data pages in block order through the shared scoring pipeline.
fn stream_pages(
    index: pg_sys::Relation,
    layout: &SlotLayout,
    n_slots: u64,
    query: &Query,
    cap: Option<usize>,
    after: Option<Candidate>,
) -> Vec<Candidate> {
    let total_pages = layout.pages_for(n_slots);
    let run = run_pages(layout);
    let mut start = 0;
    score_runs(layout, query, cap, after, || {
        if start >= total_pages {
            return None;
        }
        let end = (start + run).min(total_pages);
        let pages = (start..end)
            .map(|p| PageRead::new(index, data_block(p)))
            .collect();
        start = end;
        Some(pages)
    })
}
