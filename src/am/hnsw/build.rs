//! CREATE INDEX for hnsw:
//! 1. **loading tuples**: one heap scan collects every vector (rows with identical vectors
//!    share a node, up to 10 rows each) in backend memory, counted against
//!    `maintenance_work_mem`;
//! 2. **building graph**: the nodes are linked on every core (`vector_core::hnsw::Graph`, no
//!    Postgres call off the main thread), in chunks between which the backend answers cancel
//!    requests and reports progress;
//! 3. **writing pages**: every page is written once (no WAL), then WAL-logged once
//!    (`log_newpage_range`) if the relation needs WAL.
//!
//! When the vectors no longer fit `maintenance_work_mem`, pgvector's NOTICE is raised, the graph
//! so far is written out, and the remaining rows are inserted one by one as by INSERT (slower,
//! bounded memory).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::am::hnsw::{am_meta, assign_nodes, with_vec_pages, write_build, Hnsw as Index};
use vector_core::distance::Metric;
use vector_core::elem::ElemKind;
use vector_core::hnsw::{BytePoints, Graph, Params, Visited};
use vector_core::pages::hnsw::{HnswLayout, MAX_TIDS};
use vector_core::pages::Meta;
use vector_core::tid::Tid;

use super::{node_level, options, unindexable};
use crate::am::heap::scan_heap;
use crate::am::{am_error, column_dims, dimension_mismatch, ensure_pool, opclass_metric, progress};
use crate::storage::{
    log_all_pages, log_init_fork, write_meta_unlogged, BulkPage, RelStore, WalWrite,
};
use crate::types::error;

const PHASE_LOAD: i64 = 2;
const PHASE_GRAPH: i64 = 3;
const PHASE_WRITE: i64 = 4;

pub fn phase_name(phase: i64) -> Option<&'static std::ffi::CStr> {
    match phase {
        PHASE_LOAD => Some(c"loading tuples"),
        PHASE_GRAPH => Some(c"building graph"),
        PHASE_WRITE => Some(c"writing pages"),
        _ => None,
    }
}

/// The index's parameters, checked as pgvector checks them.
fn parameters(index: pg_sys::Relation) -> (u32, usize, usize) {
    let (m, ef_construction) = options(index);
    let Some(dims) = column_dims(index) else {
        error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "column does not have dimensions".into(),
        )
    };
    if ef_construction < 2 * m {
        error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "ef_construction must be greater than or equal to 2 * m".into(),
        );
    }
    (dims, m, ef_construction)
}

/// Vectors back to back, each 4-byte aligned (so f32 kernels read them in place): all of
/// `vec_bytes`, or (`vec_bytes` 0) of any length a multiple of 4, found through `starts`.
struct Vectors {
    words: Vec<u32>,
    vec_bytes: usize,
    len: usize,
    /// Variable lengths: vector `i` is bytes `starts[i]..starts[i + 1]` (`len + 1` entries).
    starts: Vec<usize>,
}

impl Vectors {
    fn new(vec_bytes: usize) -> Vectors {
        Vectors {
            words: Vec::new(),
            vec_bytes,
            len: 0,
            starts: if vec_bytes == 0 { vec![0] } else { Vec::new() },
        }
    }

    /// Bytes held.
    fn used(&self) -> usize {
        match self.starts.last() {
            Some(&end) => end + self.starts.len() * 8,
            None => self.len * self.vec_bytes,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let start = self
            .starts
            .last()
            .copied()
            .unwrap_or(self.len * self.vec_bytes);
        let end = start + bytes.len();
        debug_assert!(self.vec_bytes == 0 || bytes.len() == self.vec_bytes);
        debug_assert!(bytes.len().is_multiple_of(4));
        if end.div_ceil(4) > self.words.len() {
            let grow = self.words.len().max(1 << 16).max(end.div_ceil(4));
            self.words.resize(self.words.len() + grow, 0);
        }
        self.all_mut()[start..end].copy_from_slice(bytes);
        if self.vec_bytes == 0 {
            self.starts.push(end);
        }
        self.len += 1;
    }

    fn all_mut(&mut self) -> &mut [u8] {
        // SAFETY: u32 storage viewed as bytes.
        unsafe {
            std::slice::from_raw_parts_mut(self.words.as_mut_ptr() as *mut u8, self.words.len() * 4)
        }
    }

    fn get(&self, i: u32) -> &[u8] {
        // SAFETY: u32 storage viewed as bytes.
        let all = unsafe {
            std::slice::from_raw_parts(self.words.as_ptr() as *const u8, self.words.len() * 4)
        };
        if self.vec_bytes == 0 {
            return &all[self.starts[i as usize]..self.starts[i as usize + 1]];
        }
        &all[i as usize * self.vec_bytes..(i as usize + 1) * self.vec_bytes]
    }

    fn clear(&mut self) {
        *self = Vectors::new(self.vec_bytes);
    }
}

struct Builder {
    index: pg_sys::Relation,
    layout: HnswLayout,
    metric: Metric,
    elem: ElemKind,
    m: usize,
    ef_construction: usize,
    vectors: Vectors,
    /// Per node: its first heap row and level; rows beyond the first in `more_tids`.
    tids: Vec<Tid>,
    levels: Vec<u8>,
    more_tids: HashMap<u32, Vec<Tid>>,
    /// Vector hash → the last node with that hash (finds identical vectors).
    by_hash: HashMap<u64, u32>,
    budget: usize,
    /// The graph no longer fit: the pages are written and rows are inserted one by one.
    flushed: bool,
    rows: u64,
}

impl Builder {
    /// Memory the collected nodes take besides their vectors.
    fn bytes_per_node(&self) -> usize {
        Graph::bytes_per_node(self.m) + 6 + 1 + 32
    }

    fn add(&mut self, tid: Tid, values: &[f32], bytes: &[u8]) {
        if self.layout.variable {
            crate::am::check_sparse(bytes, "hnsw");
        } else if values.len() != self.layout.dims {
            dimension_mismatch(self.layout.dims as u32, values.len());
        }
        if unindexable(self.metric, values) {
            return;
        }
        self.rows += 1;
        if self.flushed {
            let store = RelStore(self.index);
            let (idx, _) = Index::open(&store).unwrap_or_else(|e| am_error(self.index, e));
            let level = node_level(tid, self.m, self.layout.max_level);
            idx.insert(tid, bytes, level)
                .unwrap_or_else(|e| am_error(self.index, e));
            return;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut h);
        let hash = h.finish();
        if let Some(&n) = self.by_hash.get(&hash) {
            if self.vectors.get(n) == bytes {
                let more = self
                    .more_tids
                    .entry(n)
                    .or_insert_with(|| vec![self.tids[n as usize]]);
                if more.len() < MAX_TIDS {
                    more.push(tid);
                    return;
                }
            }
        }
        let n = self.tids.len() as u32;
        self.vectors.push(bytes);
        self.tids.push(tid);
        self.levels
            .push(node_level(tid, self.m, self.layout.max_level) as u8);
        self.by_hash.insert(hash, n);
        if self.vectors.used() + self.tids.len() * self.bytes_per_node() > self.budget {
            pgrx::pg_sys::panic::ErrorReport::new(
                PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION,
                format!(
                    "hnsw graph no longer fits into maintenance_work_mem after {} tuples",
                    self.rows
                ),
                pgrx::function_name!(),
            )
            .set_detail("Building will take significantly more time.")
            .set_hint("Increase maintenance_work_mem to speed up builds.")
            .report(PgLogLevel::NOTICE);
            self.finish();
            self.flushed = true;
        }
    }

    /// Link the nodes collected so far and write every page and the meta page.
    fn finish(&mut self) {
        let n = self.tids.len() as u32;
        progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_GRAPH);
        progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_TOTAL, n as i64);
        let graph = Graph::new(
            Params {
                m: self.m,
                ef_construction: self.ef_construction,
            },
            std::mem::take(&mut self.levels),
        );
        let (metric, elem, vectors) = (self.metric, self.elem, &self.vectors);
        let dist = BytePoints {
            metric,
            elem,
            get: |n| vectors.get(n),
        };
        ensure_pool();
        // The first nodes on one thread (a graph of a handful of nodes gains nothing from
        // two), then chunks on every core, answering cancel requests in between.
        let mut visited = Visited::new();
        let head = n.min(64);
        for i in 0..head {
            graph.insert(i, &dist, &mut visited);
        }
        let chunk = (n / 64).clamp(1024, 65536);
        let mut done = head;
        while done < n {
            let end = (done + chunk).min(n);
            graph.insert_parallel(done..end, &dist);
            done = end;
            pgrx::check_for_interrupts!();
            progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, done as i64);
        }
        graph.finish(&dist);
        pgrx::check_for_interrupts!();
        progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_WRITE);
        let levels: Vec<u8> = (0..n).map(|i| graph.level(i) as u8).collect();
        let nodes = assign_nodes(&self.layout, &levels);
        if self.layout.variable {
            let pages = self
                .layout
                .vec_pages_for(&nodes, |i| vectors.get(i as u32).len());
            self.layout = self.layout.with_vec_pages(pages);
        }
        let (tids, more) = (&self.tids, &self.more_tids);
        let index = self.index;
        let mut written = 0u32;
        write_build(
            &self.layout,
            &graph,
            &nodes,
            |i| vectors.get(i),
            |i| {
                more.get(&i)
                    .map_or(std::slice::from_ref(&tids[i as usize]), |v| v.as_slice())
            },
            |image, end| {
                BulkPage::append_image(index, image, end);
                written += 1;
                if written.is_multiple_of(256) {
                    pgrx::check_for_interrupts!();
                }
            },
        );
        let entry = graph.entry().map(|(e, l)| (nodes[e as usize], l));
        let mut meta = Meta::new(
            with_vec_pages(
                am_meta(self.m, self.ef_construction, entry),
                if self.layout.variable {
                    self.layout.vec_pages
                } else {
                    0
                },
            ),
            self.layout.dims as u32,
            self.elem,
            self.metric,
        );
        meta.n_slots = nodes.last().map_or(0, |&l| l as u64 + 1);
        write_meta_unlogged(index, &meta);
        // Logged now: rows inserted after a flush are WAL-logged one by one on top.
        log_all_pages(index);
        drop(graph);
        self.vectors.clear();
        self.by_hash = HashMap::new();
        self.more_tids = HashMap::new();
    }
}

pub unsafe fn build(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    info: *mut pg_sys::IndexInfo,
) -> u64 {
    let (metric, elem) = opclass_metric(index);
    let (dims, m, ef_construction) = parameters(index);
    let layout = HnswLayout::new(dims as usize, elem, m);
    drop(BulkPage::extend(index)); // block 0, the meta page, is written with the rest
    let mut b = Builder {
        index,
        layout,
        metric,
        elem,
        m,
        ef_construction,
        vectors: Vectors::new(if layout.variable { 0 } else { layout.vec_bytes }),
        tids: Vec::new(),
        levels: Vec::new(),
        more_tids: HashMap::new(),
        by_hash: HashMap::new(),
        budget: pg_sys::maintenance_work_mem as usize * 1024,
        flushed: false,
        rows: 0,
    };
    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_LOAD);
    progress(
        pg_sys::PROGRESS_CREATEIDX_TUPLES_TOTAL,
        (*(*heap).rd_rel).reltuples.max(0.0) as i64,
    );
    scan_heap(heap, index, info, elem, &mut |row| {
        row.with(|v, bytes, _| b.add(row.tid, v, bytes));
        if b.rows.is_multiple_of(1024) {
            progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, b.rows as i64);
        }
    });
    if !b.flushed {
        b.finish();
    }
    b.rows
}

/// An unlogged index's init fork: the meta page of an empty graph, WAL-logged.
pub fn build_empty(index: pg_sys::Relation) {
    let (metric, elem) = opclass_metric(index);
    let (dims, m, ef_construction) = parameters(index);
    let meta = Meta::new(am_meta(m, ef_construction, None), dims, elem, metric);
    let mut w = WalWrite::start(index);
    let i = w.extend(pg_sys::ForkNumber::INIT_FORKNUM);
    meta.write(w.page_mut(i));
    w.set_used_end(i, Meta::END);
    w.commit();
    log_init_fork(index);
}
