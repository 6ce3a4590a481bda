//! Ordered scan.
//!
//! A pass scores every stored vector, streaming the data pages in block order through the
//! shared pipeline (`am::stream`: the backend pins, workers score), and keeps the nearest
//! candidates after the last row returned; `LazyOrder` hands them out nearest first, sorting
//! only as far as the executor pulls.
//!
//! The first pass keeps `FIRST_PASS` candidates (enough for any usual LIMIT). A scan pulled
//! past them (a selective WHERE clause) runs further passes, each resuming exactly after the
//! last row returned and keeping at most the work_mem budget, so every row still comes back
//! once, in order, in bounded memory (`vector_core::order::Passes`).

use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::distance::Metric;
use vector_core::flat::{ElemKind, Query, SlotLayout};
use vector_core::order::{Candidate, Passes};

use super::{data_block, layout};
use crate::am::stream::{score_runs, Pipeline};
use crate::am::{begin_scan, candidate_budget, order_by_query, return_row, FIRST_PASS};
use crate::storage::{read_meta, BufferHints, PageRead, Strategy};
use crate::types::error;

struct ScanState {
    /// Query values from the last rescan (`None`: a NULL query, every row ties).
    query: Option<Vec<f32>>,
    passes: Passes,
    metric: Metric,
    elem: ElemKind,
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
        passes: Passes::new(FIRST_PASS, candidate_budget()),
        metric: meta.metric,
        elem: meta.elem,
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
    state.passes = Passes::new(FIRST_PASS, candidate_budget());
    state.query = order_by_query(scan, orderbys, norderbys, state.elem);
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amgettuple(
    scan: pg_sys::IndexScanDesc,
    _direction: pg_sys::ScanDirection::Type,
) -> bool {
    let state = &mut *((*scan).opaque as *mut ScanState);
    let index = (*scan).indexRelation;
    let (query, metric) = (state.query.as_deref(), state.metric);
    let next = state
        .passes
        .next(|cap, after| score(index, query, metric, cap, after));
    let Some(c) = next else {
        return false;
    };
    return_row(scan, state.metric, c, state.query.is_none());
    true
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amendscan(scan: pg_sys::IndexScanDesc) {
    // Release the candidates now; the state itself goes with its memory context.
    let state = &mut *((*scan).opaque as *mut ScanState);
    state.passes = Passes::new(1, 1);
    state.query = None;
}

/// One pass over the stored vectors: the `cap` nearest after `after`. A NULL query (`None`)
/// scores every row as NaN: all rows tie, in TID order.
fn score(
    index: pg_sys::Relation,
    query: Option<&[f32]>,
    metric: Metric,
    cap: usize,
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
        Some(q) => Query::new(metric, q.to_vec()),
        None => Query::null(metric),
    };
    stream_pages(index, &layout, meta.n_slots, &query, cap, after)
}

/// Stream the data pages in block order through the shared scoring pipeline.
fn stream_pages(
    index: pg_sys::Relation,
    layout: &SlotLayout,
    n_slots: u64,
    query: &Query,
    cap: usize,
    after: Option<Candidate>,
) -> Vec<Candidate> {
    let total_pages = layout.pages_for(n_slots);
    let pipeline = Pipeline::new(layout, index);
    let strategy = Strategy::for_scan(index, total_pages);
    let run = pipeline.run_pages as u64;
    let mut start = 0;
    let mut hints = BufferHints::take(index, total_pages as usize);
    let found = score_runs(layout, query, Some(cap), after, pipeline, || {
        if start >= total_pages {
            return None;
        }
        let end = (start + run).min(total_pages);
        let pages: Vec<PageRead> = (start..end)
            .map(|p| {
                let hint = hints.get(p as usize);
                let page = PageRead::with_hint(index, data_block(p), hint, &strategy);
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
