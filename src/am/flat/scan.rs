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
use vector_core::flat::{ElemKind, Query, SlotLayout};
use vector_core::order::{Candidate, LazyOrder};

use super::{data_block, layout};
use crate::am::stream::{run_pages, score_runs};
use crate::am::{begin_scan, order_by_query, return_row};
use crate::storage::{read_meta, BufferHints, PageRead};
use crate::types::error;

/// Candidates kept by the first pass.
const FIRST_PASS: usize = 4096;

struct ScanState {
    /// Query values from the last rescan (`None`: a NULL query, every row ties).
    query: Option<Vec<f32>>,
    order: Option<LazyOrder>,
    metric: Metric,
    elem: ElemKind,
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
    let meta = read_meta(index);
    let state = ScanState {
        query: None,
        order: None,
        metric: meta.metric,
        elem: meta.elem,
        capped: false,
        last: None,
    };
    begin_scan(index, nkeys, norderbys, state)
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
    state.last = None;
    state.capped = false;
    state.query = order_by_query(scan, orderbys, norderbys, state.elem);
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
    return_row(scan, state.metric, c, state.query.is_none());
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
    let mut hints = BufferHints::take(index, total_pages as usize);
    let found = score_runs(layout, query, cap, after, || {
        if start >= total_pages {
            return None;
        }
        let end = (start + run).min(total_pages);
        let pages: Vec<PageRead> = (start..end)
            .map(|p| {
                let page = PageRead::with_hint(index, data_block(p), hints.get(p as usize));
                hints.set(p as usize, page.buffer());
                page
            })
            .collect();
        start = end;
        Some(pages)
    });
    hints.put_back();
    found
}
