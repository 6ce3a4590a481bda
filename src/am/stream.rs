//! The scoring pipeline shared by the index scans.
//!
//! The backend thread pins and share-locks runs of data pages (from any source: consecutive
//! blocks for `flat`, list chains for IVF) and streams them over a channel to the worker pool,
//! which scores them (pure compute on pinned memory, no Postgres calls) and reports each run
//! done, so the backend can release it. A few runs are in flight at once, so buffer access and
//! SIMD overlap continuously.

use std::sync::{mpsc, Mutex};

use vector_core::flat::{Collector, Query, SlotLayout, PAGE_SIZE};
use vector_core::order::Candidate;

use super::ensure_pool;
use crate::storage::PageRead;

/// Pages per run, and runs in flight: at most 128 buffer locks held (Postgres allows 200).
const RUN_PAGES: u64 = 32;
const MAX_IN_FLIGHT: usize = 4;

/// Pages per run for this layout: a whole number of slots.
pub fn run_pages(layout: &SlotLayout) -> u64 {
    let pps = layout.pages_per_slot as u64;
    (RUN_PAGES / pps).max(1) * pps
}

/// Pointers to pinned pages handed to a worker (the backend keeps them pinned until the
/// worker reports the run done).
struct PinnedRun(Vec<*const u8>);
// SAFETY: the pages are shared-buffer memory, pinned and share-locked by the backend thread
// until the run is reported done; workers only read them.
unsafe impl Send for PinnedRun {}

/// Score every page that `next_run` yields (runs of whole slots, pinned by the backend), with
/// a [`Collector`] per worker: with `cap` keep the nearest `cap`, with `after` skip keys up to it.
pub fn score_runs(
    layout: &SlotLayout,
    query: &Query,
    cap: Option<usize>,
    after: Option<Candidate>,
    mut next_run: impl FnMut() -> Option<Vec<PageRead>>,
) -> Vec<Candidate> {
    ensure_pool();
    let workers = rayon::current_num_threads().max(1);
    let (job_tx, job_rx) = mpsc::channel::<(usize, PinnedRun)>();
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel::<usize>();
    let results = Mutex::new(Vec::with_capacity(workers));
    // Declared outside the scope: if the backend errors out mid-scan, the scope first waits
    // for the workers (they finish the queued runs), and only then are the pages released.
    let mut held: Vec<Option<Vec<PageRead>>> = Vec::new();

    rayon::in_place_scope(|s| {
        for _ in 0..workers {
            let (job_rx, done_tx, results) = (&job_rx, done_tx.clone(), &results);
            s.spawn(move |_| {
                let mut collector = Collector::new(cap, after);
                loop {
                    let job = job_rx.lock().unwrap().recv();
                    let Ok((id, run)) = job else { break };
                    let pages: Vec<&[u8]> = run
                        .0
                        .iter()
                        .map(|&p| unsafe { std::slice::from_raw_parts(p, PAGE_SIZE) })
                        .collect();
                    collector.add_run(layout, query, &pages);
                    let _ = done_tx.send(id);
                }
                results.lock().unwrap().push(collector);
            });
        }
        drop(done_tx);
        let job_tx = job_tx; // dropped at the end of this closure, also when unwinding
        let mut in_flight = 0;
        loop {
            while in_flight >= MAX_IN_FLIGHT {
                let done = done_rx.recv().expect("scan workers alive");
                held[done] = None;
                in_flight -= 1;
            }
            let Some(guards) = next_run() else { break };
            if guards.is_empty() {
                continue;
            }
            let run = PinnedRun(guards.iter().map(|g| g.bytes().as_ptr()).collect());
            held.push(Some(guards));
            job_tx
                .send((held.len() - 1, run))
                .expect("scan workers alive");
            in_flight += 1;
            pgrx::check_for_interrupts!();
        }
        drop(job_tx);
        while in_flight > 0 {
            let done = done_rx.recv().expect("scan workers alive");
            held[done] = None;
            in_flight -= 1;
        }
    });
    drop(held);
    Collector::merge(results.into_inner().unwrap())
}
