//! ivfflat scan: rank lists by their centroid's distance to the query, score the vectors of
//! the nearest `ivfflat.probes` lists through the shared pipeline (the backend walks each
//! list's page chain, workers score), and hand rows out nearest first. With
//! `ivfflat.iterative_scan = relaxed_order`, a scan pulled past those rows probes the next
//! lists, up to `ivfflat.max_probes`: later rows may then be nearer than earlier ones.
//! Within one batch of lists rows come out in exact order through bounded passes
//! (`vector_core::order::Passes`), so `probes = lists` needs no more memory than `LIMIT 10`.

use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::flat::Query;
use vector_core::ivf::{nearest_lists, read_entry};
use vector_core::order::{Candidate, Passes};

use super::{open, IterativeScan, IvfIndex, ITERATIVE_SCAN, MAX_PROBES, PROBES};
use crate::am::stream::{score_runs, Pipeline};
use crate::am::{begin_scan, candidate_budget, order_by_query, return_row, FIRST_PASS};
use crate::storage::{PageRead, Strategy};
use crate::types::error;

struct ScanState {
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

#[pg_guard]
pub unsafe extern "C-unwind" fn ambeginscan(
    index: pg_sys::Relation,
    nkeys: i32,
    norderbys: i32,
) -> pg_sys::IndexScanDesc {
    let state = ScanState {
        index: None,
        query: None,
        lists: Vec::new(),
        probed: 0,
        probes: 1,
        batch: Vec::new(),
        passes: None,
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
    state.passes = None;
    state.probed = 0;
    state.lists.clear();
    if state.index.is_none() {
        state.index = open((*scan).indexRelation).ok();
    }
    let Some(ivf) = state.index.as_mut() else {
        return; // nothing indexed yet (no fixed part): no rows
    };
    state.query = order_by_query(scan, orderbys, norderbys, ivf.meta.elem);
    if let Some(q) = &state.query {
        if q.len() != ivf.meta.dims as usize {
            error(
                PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
                format!(
                    "different vector dimensions {} and {}",
                    ivf.meta.dims,
                    q.len()
                ),
            );
        }
    }
    let lists = ivf.ivf.lists;
    state.probes = (PROBES.get() as usize).clamp(1, lists);
    let limit = if ITERATIVE_SCAN.get() == IterativeScan::RelaxedOrder {
        (MAX_PROBES.get() as usize).clamp(state.probes, lists)
    } else {
        state.probes
    };
    let zero = vec![0f32; ivf.meta.dims as usize];
    let distances = ivf.centroid_distances(state.query.as_deref().unwrap_or(&zero));
    state.lists = nearest_lists(&distances, limit);
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amgettuple(
    scan: pg_sys::IndexScanDesc,
    _direction: pg_sys::ScanDirection::Type,
) -> bool {
    let state = &mut *((*scan).opaque as *mut ScanState);
    let index = (*scan).indexRelation;
    loop {
        if let Some(passes) = state.passes.as_mut() {
            let (ivf, query, batch) = (state.index.as_mut().unwrap(), &state.query, &state.batch);
            let next = passes
                .next(|cap, after| score_lists(index, ivf, query.as_deref(), batch, cap, after));
            if let Some(c) = next {
                return_row(scan, ivf.meta.metric, c, state.query.is_none());
                return true;
            }
        }
        if state.probed >= state.lists.len() {
            return false;
        }
        // Probe the next batch of lists (the first `probes`, then more when iterating).
        let end = (state.probed + state.probes).min(state.lists.len());
        state.batch = state.lists[state.probed..end].to_vec();
        state.probed = end;
        state.passes = Some(Passes::new(FIRST_PASS, candidate_budget()));
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
        let (block, at) = ivf.ivf.entry_location(list);
        if dir.as_ref().map(|d| d.0) != Some(block) {
            drop(dir.take()); // one directory page pinned at a time
            dir = Some((block, PageRead::new(index, block)));
        }
        heads.push(read_entry(dir.as_ref().unwrap().1.bytes(), at).head);
    }
    drop(dir);
    for (&list, &head) in lists.iter().zip(&heads) {
        ivf.cache.chain(list, head, |block| {
            pgrx::check_for_interrupts!();
            slots.next_block(PageRead::new(index, block).bytes())
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

#[pg_guard]
pub unsafe extern "C-unwind" fn amendscan(scan: pg_sys::IndexScanDesc) {
    let state = &mut *((*scan).opaque as *mut ScanState);
    state.passes = None;
    state.index = None;
}
