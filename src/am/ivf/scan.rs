//! ivfflat scan: rank lists by their centroid's distance to the query, score the vectors of
//! the nearest `ivfflat.probes` lists through the shared pipeline (the backend walks each
//! list's page chain, workers score), and hand rows out nearest first. With
//! `ivfflat.iterative_scan = relaxed_order`, a scan pulled past those rows probes the next
//! lists, up to `ivfflat.max_probes`: later rows may then be nearer than earlier ones.
//! Within one batch of lists rows come out in exact order through bounded passes
//! (`vector_core::order::Passes`), so `probes = lists` needs no more memory than `LIMIT 10`.

use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::distance::Metric;
use vector_core::order::{Candidate, Passes, Rerank};
use vector_core::pages::ivf::{nearest_lists, read_entry};
use vector_core::scan::score_bytes;
use vector_core::scan::Query;
use vector_core::tid::Tid;

use vector_core::rabitq::code::{CodeLists, CodeQuery};

use super::{open, IterativeScan, IvfIndex, ITERATIVE_SCAN, MAX_PROBES, PROBES, RABITQ_EPSILON};
use crate::am::heap::HeapFetcher;
use crate::am::skeleton::AmScan;
use crate::am::stream::{score_runs, Pipeline};
use crate::am::{candidate_budget, FIRST_PASS};
use crate::storage::{PageRead, Strategy};
use crate::types::error;

pub struct IvfScan {
    probing: Probing,
    /// An index of RaBitQ codes: the exact query, the re-ranking of candidates (arriving by
    /// lower bound) by exact distance, and the heap reader that gives those.
    exact: Option<Query>,
    rerank: Rerank,
    heap: Option<HeapFetcher>,
}

/// Which lists a scan probes, and the candidates they give.
struct Probing {
    index: Option<IvfIndex>,
    /// Query values (`None`: NULL query, every row ties).
    query: Option<Vec<f32>>,
    /// Lists in probe order, as many as may be probed.
    lists: Vec<usize>,
    probed: usize,
    probes: usize,
    /// The batch of lists being handed out, and its passes.
    batch: Vec<usize>,
    passes: Option<Passes>,
    /// RaBitQ: the query, rotated once per rescan.
    codes: Option<CodeQuery>,
}

impl AmScan for IvfScan {
    fn begin(_index: pg_sys::Relation) -> IvfScan {
        IvfScan {
            probing: Probing {
                index: None,
                query: None,
                lists: Vec::new(),
                probed: 0,
                probes: 1,
                batch: Vec::new(),
                passes: None,
                codes: None,
            },
            exact: None,
            rerank: Rerank::default(),
            heap: None,
        }
    }

    fn rescan(&mut self, index: pg_sys::Relation, query: Option<crate::am::QueryValue>) {
        // The rows waiting for their exact turn share the scan's candidate budget (work_mem).
        self.rerank = Rerank::with_cap(candidate_budget());
        let p = &mut self.probing;
        p.passes = None;
        p.probed = 0;
        p.lists.clear();
        p.query = query.map(|q| q.values);
        if p.index.is_none() {
            p.index = open(index).ok();
        }
        let Some(ivf) = p.index.as_mut() else {
            return; // nothing indexed yet (no fixed part): no rows
        };
        if let Some(q) = &p.query {
            if q.len() != ivf.meta.dims as usize {
                let what = if ivf.meta.elem == vector_core::elem::ElemKind::Bit {
                    "bit lengths"
                } else {
                    "vector dimensions"
                };
                error(
                    PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
                    format!("different {what} {} and {}", ivf.meta.dims, q.len()),
                );
            }
        }
        let lists = ivf.layout.lists;
        p.probes = (PROBES.get() as usize).clamp(1, lists);
        let limit = if ITERATIVE_SCAN.get() == IterativeScan::RelaxedOrder {
            (MAX_PROBES.get() as usize).clamp(p.probes, lists)
        } else {
            p.probes
        };
        let metric = ivf.meta.metric;
        (p.codes, self.exact) = match (&ivf.encoder, &p.query) {
            (Some(e), Some(q)) => (
                Some(CodeQuery::new(
                    &e.rotation,
                    metric,
                    q,
                    RABITQ_EPSILON.get() as f32,
                )),
                Some(Query::new(metric, q.clone())),
            ),
            _ => (None, None),
        };
        let zero = vec![0f32; ivf.meta.dims as usize];
        let distances = ivf.centroid_distances(p.query.as_deref().unwrap_or(&zero));
        p.lists = nearest_lists(&distances, limit);
    }

    fn next(&mut self, index: pg_sys::Relation) -> Option<Candidate> {
        self.probing.next(index)
    }

    /// With RaBitQ codes, candidates come by lower bound and leave by exact distance, read
    /// from the heap under the scan's snapshot (rows it cannot see are skipped, as the
    /// executor would skip them).
    fn next_for(&mut self, scan: pg_sys::IndexScanDesc) -> Option<Candidate> {
        let index = unsafe { (*scan).indexRelation };
        let Some(exact) = &self.exact else {
            return self.probing.next(index);
        };
        let heap = self
            .heap
            .get_or_insert_with(|| unsafe { HeapFetcher::new(scan) });
        let elem = self.probing.index.as_ref().unwrap().meta.elem;
        let dims = exact.values.len();
        let probing = &mut self.probing;
        self.rerank.next(
            || probing.next(index),
            |c| {
                // Loose bounds can mean many fetches: each one may be cancelled (no page is
                // locked here, the heap fetch holds only a pin).
                pgrx::check_for_interrupts!();
                heap.with_row(Tid::unpack(c.id), elem, |_, bytes, _| {
                    score_bytes(elem, dims, exact, bytes)
                })
            },
        )
    }

    fn end(&mut self) {
        self.probing.passes = None;
        self.probing.index = None;
        if let Some(heap) = self.heap.take() {
            heap.close();
        }
    }
}

impl Probing {
    fn next(&mut self, index: pg_sys::Relation) -> Option<Candidate> {
        loop {
            if let Some(passes) = self.passes.as_mut() {
                let (ivf, query, batch) = (self.index.as_mut().unwrap(), &self.query, &self.batch);
                let codes = self.codes.as_ref();
                let next = passes.next(|cap, after| {
                    score_lists(index, ivf, query.as_deref(), codes, batch, cap, after)
                });
                if next.is_some() {
                    return next;
                }
            }
            if self.probed >= self.lists.len() {
                return None;
            }
            // Probe the next batch of lists (the first `probes`, then more when iterating).
            let end = (self.probed + self.probes).min(self.lists.len());
            self.batch = self.lists[self.probed..end].to_vec();
            self.probed = end;
            self.passes = Some(Passes::new(FIRST_PASS, candidate_budget()));
        }
    }
}

/// One pass over every vector of `lists`: the `cap` nearest after `after`. Each list's chain
/// comes from the backend's cache (walking only pages linked in since it was cached), so its
/// pages are pinned without first reading their predecessors, mostly through the buffer each
/// was last found in.
fn score_lists(
    index: pg_sys::Relation,
    ivf: &mut IvfIndex,
    query: Option<&[f32]>,
    codes: Option<&CodeQuery>,
    lists: &[usize],
    cap: usize,
    after: Option<Candidate>,
) -> Vec<Candidate> {
    let slots = ivf.slots;
    let metric = ivf.meta.metric;
    let mut query = query.map_or(Query::null(metric), |q| Query::new(metric, q.to_vec()));
    if let (Some(cq), Some(encoder)) = (codes, &ivf.encoder) {
        // Per probed list, the query residual: L2 needs the rotated centroid (cached).
        let dims = ivf.meta.dims as usize;
        let mut per_list = CodeLists::new(ivf.layout.lists);
        for &list in lists {
            let (centre, rotated) = if metric == Metric::L2 {
                ivf.cache
                    .centroid_and_rotated(list, dims, &encoder.rotation)
            } else {
                (
                    &ivf.cache.centroids[list * dims..(list + 1) * dims],
                    &[][..],
                )
            };
            per_list.set(list, cq.for_list(centre, rotated));
        }
        query.codes = Some(std::sync::Arc::new(per_list));
    }
    // The lists' current heads, each directory page pinned once (and released before any data
    // page is pinned: inserts lock a data page and then the directory).
    let mut heads = Vec::with_capacity(lists.len());
    let mut dir: Option<(u32, PageRead)> = None;
    for &list in lists {
        let (block, at) = ivf.layout.entry_location(list);
        if dir.as_ref().map(|d| d.0) != Some(block) {
            drop(dir.take()); // one directory page pinned at a time
            dir = Some((block, PageRead::new(index, block)));
        }
        heads.push(read_entry(&dir.as_ref().unwrap().1, at).head);
    }
    drop(dir);
    for (&list, &head) in lists.iter().zip(&heads) {
        ivf.cache.chain(list, head, |block| {
            pgrx::check_for_interrupts!();
            slots.next_block(&PageRead::new(index, block))
        });
    }

    let chains = &mut ivf.cache.chains;
    let total: usize = lists
        .iter()
        .map(|&l| chains[l].as_ref().map_or(0, |c| c.blocks.len()))
        .sum();
    let strategy = Strategy::for_scan(index, total as u64);
    let pipeline = Pipeline::new(&slots, index).sized(total);
    let (mut li, mut pos) = (0, 0);
    score_runs(&slots, &query, Some(cap), after, pipeline, || {
        let mut pages = Vec::with_capacity(pipeline.run_pages);
        while pages.len() < pipeline.run_pages && li < lists.len() {
            let chain = chains[lists[li]].as_mut().expect("chain resolved above");
            if pos >= chain.blocks.len() {
                (li, pos) = (li + 1, 0);
                continue;
            }
            let page = PageRead::with_hint(index, chain.blocks[pos], chain.hints[pos], &strategy);
            chain.hints[pos] = page.buffer();
            pages.push(page);
            pos += 1;
        }
        (!pages.is_empty()).then_some(pages)
    })
}
