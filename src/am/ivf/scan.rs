//! ivfflat scan: rank lists by their centroid's distance to the query, score the vectors of
//! the nearest `ivfflat.probes` lists through the shared pipeline (the backend walks each
//! list's page chain, workers score), and hand rows out nearest first. With
//! `ivfflat.iterative_scan = relaxed_order`, a scan pulled past those rows probes the next
//! lists, up to `ivfflat.max_probes`: later rows may then be nearer than earlier ones.
//! Within one batch of lists rows come out in exact order through bounded passes
//! (`vector_core::order::Passes`), so `probes = lists` needs no more memory than `LIMIT 10`.

use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::order::{Candidate, Passes};
use vector_core::pages::ivf::{nearest_lists, read_entry};
use vector_core::scan::Query;

use super::{open, IterativeScan, IvfIndex, ITERATIVE_SCAN, MAX_PROBES, PROBES};
use crate::am::skeleton::AmScan;
use crate::am::stream::{score_runs, Pipeline};
use crate::am::{candidate_budget, FIRST_PASS};
use crate::storage::{PageRead, Strategy};
use crate::types::error;

pub struct IvfScan {
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
}

impl AmScan for IvfScan {
    fn begin(_index: pg_sys::Relation) -> IvfScan {
        IvfScan {
            index: None,
            query: None,
            lists: Vec::new(),
            probed: 0,
            probes: 1,
            batch: Vec::new(),
            passes: None,
        }
    }

    fn rescan(&mut self, index: pg_sys::Relation, query: Option<crate::am::QueryValue>) {
        self.passes = None;
        self.probed = 0;
        self.lists.clear();
        self.query = query.map(|q| q.values);
        if self.index.is_none() {
            self.index = open(index).ok();
        }
        let Some(ivf) = self.index.as_mut() else {
            return; // nothing indexed yet (no fixed part): no rows
        };
        if let Some(q) = &self.query {
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
        self.probes = (PROBES.get() as usize).clamp(1, lists);
        let limit = if ITERATIVE_SCAN.get() == IterativeScan::RelaxedOrder {
            (MAX_PROBES.get() as usize).clamp(self.probes, lists)
        } else {
            self.probes
        };
        let zero = vec![0f32; ivf.meta.dims as usize];
        let distances = ivf.centroid_distances(self.query.as_deref().unwrap_or(&zero));
        self.lists = nearest_lists(&distances, limit);
    }

    fn next(&mut self, index: pg_sys::Relation) -> Option<Candidate> {
        loop {
            if let Some(passes) = self.passes.as_mut() {
                let (ivf, query, batch) = (self.index.as_mut().unwrap(), &self.query, &self.batch);
                let next = passes.next(|cap, after| {
                    score_lists(index, ivf, query.as_deref(), batch, cap, after)
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

    fn end(&mut self) {
        self.passes = None;
        self.index = None;
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
    lists: &[usize],
    cap: usize,
    after: Option<Candidate>,
) -> Vec<Candidate> {
    let slots = ivf.slots;
    let metric = ivf.meta.metric;
    let query = query.map_or(Query::null(metric), |q| Query::new(metric, q.to_vec()));
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
    let pipeline = Pipeline::new(&slots, index);
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
