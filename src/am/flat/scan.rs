//! Ordered scan. The first `amgettuple` after a rescan scores every stored vector: the backend
//! thread pins and share-locks a run of data pages while the worker pool scores the previous
//! run (pure compute over pinned memory, no Postgres calls), so buffer access and SIMD overlap.
//! Candidates are then handed out nearest first by `LazyOrder`, which sorts only as far as the
//! executor actually pulls.

use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::flat::{operator_value, Query, SlotLayout, Tid};
use vector_core::order::{Candidate, LazyOrder};

use super::{data_block, layout};
use crate::am::{datum_values, pool};
use crate::storage::{read_meta, PageRead};
use crate::types::error;

/// Pages held pinned per run; two runs are in flight at once (well under Postgres' limit of
/// 200 simultaneously held buffer locks).
const RUN_PAGES: u64 = 48;

struct ScanState {
    /// Query values from the last rescan (`None`: a NULL query, every row ties).
    query: Option<Vec<f32>>,
    order: Option<LazyOrder>,
    metric: vector_core::distance::Metric,
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
    if state.order.is_none() {
        let candidates = score_all((*scan).indexRelation, state.query.as_deref(), state.metric);
        state.order = Some(LazyOrder::new(candidates));
    }
    let Some(c) = state.order.as_mut().unwrap().next() else {
        return false;
    };
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

/// Distances to every stored vector (NaN for all when the query is NULL: every row ties).
fn score_all(
    index: pg_sys::Relation,
    query: Option<&[f32]>,
    metric: vector_core::distance::Metric,
) -> Vec<Candidate> {
    let meta = read_meta(index);
    let Some(layout) = layout(&meta) else {
        return Vec::new(); // nothing stored yet
    };
    let null_query = query.is_none();
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
        None => Query::new(metric, vec![0.0; layout.dims]),
    };
    let total_pages = layout.pages_for(meta.n_slots);
    let run = (RUN_PAGES / layout.pages_per_slot as u64).max(1) * layout.pages_per_slot as u64;
    let strategy =
        unsafe { pg_sys::GetAccessStrategy(pg_sys::BufferAccessStrategyType::BAS_BULKREAD) };
    let pin_run = |start: u64| -> Vec<PageRead> {
        (start..(start + run).min(total_pages))
            .map(|p| PageRead::with_strategy(index, data_block(p), strategy))
            .collect()
    };

    let mut out: Vec<Candidate> = Vec::with_capacity(meta.n_slots as usize);
    let mut current = pin_run(0);
    let mut next_start = run;
    while !current.is_empty() {
        let mut scored = Vec::new();
        let mut next = Vec::new();
        {
            let pages: Vec<&[u8]> = current.iter().map(|g| g.bytes()).collect();
            let (layout, query, pages, scored) = (&layout, &query, &pages, &mut scored);
            // Workers score `current` while this thread pins the next run.
            pool().in_place_scope(|s| {
                s.spawn(move |_| *scored = score_run(layout, query, pages));
                if next_start < total_pages {
                    next = pin_run(next_start);
                }
            });
        }
        out.extend_from_slice(&scored);
        drop(std::mem::replace(&mut current, next));
        next_start += run;
        pgrx::check_for_interrupts!();
    }
    unsafe { pg_sys::FreeAccessStrategy(strategy) };
    if null_query {
        for c in &mut out {
            c.dist = f32::NAN;
        }
    }
    out
}

fn score_run(layout: &SlotLayout, query: &Query, pages: &[&[u8]]) -> Vec<Candidate> {
    vector_core::flat::scan_pages_parallel(layout, query, pages)
}
