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
use vector_core::am::flat::{data_block, layout};
use vector_core::distance::Metric;
use vector_core::elem::ElemKind;
use vector_core::order::{Candidate, Passes};
use vector_core::pages::SlotLayout;
use vector_core::scan::Query;

use crate::am::skeleton::AmScan;
use crate::am::stream::{score_runs, Pipeline};
use crate::am::QueryValue;
use crate::am::{candidate_budget, FIRST_PASS};
use crate::storage::{read_meta, BufferHints, PageRead, Strategy};
use crate::types::error;

pub struct FlatScan {
    /// The query from the last rescan (`None`: a NULL query, every row ties).
    query: Option<QueryValue>,
    passes: Passes,
    metric: Metric,
}

impl AmScan for FlatScan {
    fn begin(index: pg_sys::Relation) -> FlatScan {
        FlatScan {
            query: None,
            passes: Passes::new(FIRST_PASS, candidate_budget()),
            metric: read_meta(index).metric,
        }
    }

    fn rescan(&mut self, _index: pg_sys::Relation, query: Option<QueryValue>) {
        self.passes = Passes::new(FIRST_PASS, candidate_budget());
        self.query = query;
    }

    fn next(&mut self, index: pg_sys::Relation) -> Option<Candidate> {
        let (query, metric) = (self.query.as_ref(), self.metric);
        self.passes
            .next(|cap, after| score(index, query, metric, cap, after))
    }

    fn end(&mut self) {
        self.passes = Passes::new(1, 1);
        self.query = None;
    }
}

/// One pass over the stored vectors: the `cap` nearest after `after`. A NULL query (`None`)
/// scores every row as NaN: all rows tie, in TID order.
fn score(
    index: pg_sys::Relation,
    query: Option<&QueryValue>,
    metric: Metric,
    cap: usize,
    after: Option<Candidate>,
) -> Vec<Candidate> {
    let meta = read_meta(index);
    let Some(layout) = layout(&meta) else {
        return Vec::new(); // nothing stored yet
    };
    // As a sequential scan words it: the row's dimension first, then the query's.
    let query = match query {
        Some(q) if q.dims != layout.dims => error(
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            match meta.elem {
                ElemKind::Bit => format!("different bit lengths {} and {}", layout.dims, q.dims),
                ElemKind::Sparse => format!(
                    "different sparsevec dimensions {} and {}",
                    layout.dims, q.dims
                ),
                _ => format!("different vector dimensions {} and {}", layout.dims, q.dims),
            },
        ),
        Some(q) if meta.elem == ElemKind::Sparse => Query::sparse(metric, q.stored.clone()),
        Some(q) => Query::new(metric, q.values.clone()),
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
    let pipeline = Pipeline::new(layout, index).sized(total_pages as usize);
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
