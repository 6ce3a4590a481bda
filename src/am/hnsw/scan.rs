//! Ordered scan: the graph search with `hnsw.ef_search`, its rows nearest first.
//!
//! With `hnsw.iterative_scan` on, a scan pulled past those rows (a selective WHERE clause)
//! searches on from the candidates the last round pushed out, round after round, until
//! `hnsw.max_scan_tuples` vectors have been scored or the scan's memory passes `work_mem ×
//! hnsw.scan_mem_multiplier`; then it returns the candidates it holds, nearest first, and
//! stops (pgvector's rules). `strict_order` skips rows nearer than one already returned, so the
//! output is in distance order; `relaxed_order` returns them.

use std::collections::VecDeque;

use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::am::hnsw::{Hnsw as Index, HnswMeta, Search};
use vector_core::distance::Metric;
use vector_core::hnsw::Scored;
use vector_core::order::Candidate;
use vector_core::pages::hnsw::{HnswLayout, STATE_LIVE};
use vector_core::scan::{score_bytes, Query};

use super::{IterativeScan, EF_SEARCH, ITERATIVE_SCAN, MAX_SCAN_TUPLES, SCAN_MEM_MULTIPLIER};
use crate::am::skeleton::AmScan;
use crate::am::{am_error, QueryValue};
use crate::storage::HintedStore;
use crate::types::error;
use vector_core::elem::ElemKind;

pub struct HnswScan {
    query: Option<Query>,
    search: Search,
    /// Nodes of the last round not returned yet, nearest first; their rows are read only when
    /// the scan gets to them (a LIMIT 10 over ef_search = 100 reads 10 records, not 100).
    pending: VecDeque<Scored>,
    rows: VecDeque<Candidate>,
    /// The index's layout and metric, from the meta page at rescan.
    shape: Option<(HnswLayout, Metric)>,
    started: bool,
    done: bool,
    last: f32,
}

impl AmScan for HnswScan {
    fn begin(_index: pg_sys::Relation) -> HnswScan {
        HnswScan {
            query: None,
            search: Search::new(false),
            pending: VecDeque::new(),
            rows: VecDeque::new(),
            shape: None,
            started: false,
            done: false,
            last: f32::NEG_INFINITY,
        }
    }

    fn rescan(&mut self, index: pg_sys::Relation, query: Option<QueryValue>) {
        let store = HintedStore::new(index);
        let (idx, _) = Index::open(&store).unwrap_or_else(|e| am_error(index, e));
        let dims = idx.layout.dims;
        let query = match query {
            Some(q) if q.dims != dims => error(
                PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
                // pgvector's distance functions, called (query, stored value)
                match idx.layout.elem {
                    ElemKind::Bit => format!("different bit lengths {} and {dims}", q.dims),
                    ElemKind::Sparse => {
                        format!("different sparsevec dimensions {} and {dims}", q.dims)
                    }
                    _ => format!("different vector dimensions {} and {dims}", q.dims),
                },
            ),
            Some(q) if idx.layout.elem == ElemKind::Sparse => Query::sparse(idx.metric, q.stored),
            Some(q) => Query::new(idx.metric, q.values),
            None => Query::null(idx.metric),
        };
        self.query = Some(query);
        self.shape = Some((idx.layout, idx.metric));
        self.search = Search::new(ITERATIVE_SCAN.get() != IterativeScan::Off);
        self.pending.clear();
        self.rows.clear();
        self.started = false;
        self.done = false;
        self.last = f32::NEG_INFINITY;
    }

    fn next(&mut self, index: pg_sys::Relation) -> Option<Candidate> {
        let strict = ITERATIVE_SCAN.get() == IterativeScan::StrictOrder;
        loop {
            if let Some(c) = self.rows.pop_front() {
                if strict && c.dist < self.last {
                    continue;
                }
                self.last = c.dist;
                return Some(c);
            }
            if let Some(node) = self.pending.pop_front() {
                let store = HintedStore::new(index);
                let (layout, metric) = self.shape.expect("set at rescan");
                let idx = Index {
                    store: &store,
                    layout,
                    metric,
                };
                let rows = idx.rows(node.id);
                if rows.state == STATE_LIVE {
                    self.rows.extend(rows.tids.iter().map(|t| Candidate {
                        dist: node.dist,
                        id: t.pack(),
                    }));
                }
                continue;
            }
            if self.done {
                return None;
            }
            let query = self.query.as_ref()?;
            let store = HintedStore::new(index);
            let (idx, meta) = Index::open(&store).unwrap_or_else(|e| am_error(index, e));
            let (elem, dims) = (idx.layout.elem, idx.layout.dims);
            let f = |b: &[u8]| score_bytes(elem, dims, query, b);
            let ef = EF_SEARCH.get() as usize;
            let round = if !self.started {
                self.started = true;
                let entry = HnswMeta::of(&meta)
                    .unwrap_or_else(|e| am_error(index, e))
                    .entry;
                self.search.start(&idx, entry, &f, ef)
            } else if ITERATIVE_SCAN.get() == IterativeScan::Off {
                self.done = true;
                return None;
            } else if self.search.evaluated >= MAX_SCAN_TUPLES.get() as usize
                || self.search.bytes() as f64 > memory_limit()
            {
                // Out of budget: what is left, nearest first, then stop.
                self.done = true;
                self.search.take_discarded()
            } else {
                let r = self.search.resume(&idx, &f, ef);
                self.done = r.is_empty();
                r
            };
            self.pending.extend(round);
            pgrx::check_for_interrupts!();
        }
    }

    fn end(&mut self) {
        self.search = Search::new(false);
        self.pending = VecDeque::new();
        self.rows = VecDeque::new();
        self.query = None;
    }
}

/// `work_mem × hnsw.scan_mem_multiplier`, in bytes.
fn memory_limit() -> f64 {
    unsafe { pg_sys::work_mem as f64 * 1024.0 * SCAN_MEM_MULTIPLIER.get() }
}
