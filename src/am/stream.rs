//! The scoring pipeline shared by the index scans.
//!
//! The backend thread pins and share-locks runs of data pages (from any source: consecutive
//! blocks for `flat`, list chains for IVF) and hands them over a [`Handoff`] queue to the worker
//! pool, which scores them (pure compute on pinned memory, no Postgres calls) and reports each
//! run finished, so the backend can release it. The backend keeps a few runs in flight, and
//! when it may pin no further it scores the oldest queued run itself instead of sleeping: one
//! worker per core but one, plus the backend, so every core is busy and no thread waits on a
//! wake-up per run.

use std::sync::Mutex;

use vector_core::handoff::Handoff;
use vector_core::order::Candidate;
use vector_core::pages::{SlotLayout, PAGE_SIZE};
use vector_core::scan::{Collector, Query};

use super::ensure_pool;
use crate::storage::PageRead;

/// Pages per run, and runs in flight: at most 128 buffer locks held (Postgres allows 200).
const RUN_PAGES: usize = 32;
const MAX_IN_FLIGHT: usize = 4;

/// How a scan streams its pages: pages per run (a whole number of slots) and runs in flight,
/// within the relation's pin budget ([`crate::storage::pin_budget`]).
#[derive(Clone, Copy, Debug)]
pub struct Pipeline {
    pub run_pages: usize,
    pub in_flight: usize,
    /// Score on the backend thread alone: waking workers costs more than a small scan.
    pub alone: bool,
}

/// Below this many pages a scan is scored on the backend thread alone (measured on codes of
/// 384 dimensions: 40 pages score in ~0.1 ms, while handing them to workers spent more than
/// that in wake-ups).
const ALONE_BELOW_PAGES: usize = 64;

impl Pipeline {
    pub fn new(layout: &SlotLayout, index: pgrx::pg_sys::Relation) -> Pipeline {
        let pps = layout.pages_per_slot;
        let budget = crate::storage::pin_budget(index).clamp(pps, RUN_PAGES * MAX_IN_FLIGHT);
        let run_pages = ((budget / MAX_IN_FLIGHT).min(RUN_PAGES) / pps).max(1) * pps;
        Pipeline {
            run_pages,
            in_flight: (budget / run_pages).clamp(1, MAX_IN_FLIGHT),
            alone: false,
        }
    }

    /// For a scan of `pages` pages in all.
    pub fn sized(mut self, pages: usize) -> Pipeline {
        self.alone = pages < ALONE_BELOW_PAGES;
        self
    }
}

/// Pointers to pinned pages handed to a worker (the backend keeps them pinned until the
/// worker reports the run done).
struct PinnedRun(Vec<*const u8>);
// SAFETY: the pages are shared-buffer memory, pinned and share-locked by the backend thread
// until the run is reported done; workers only read them.
unsafe impl Send for PinnedRun {}

impl PinnedRun {
    fn score(&self, collector: &mut Collector, layout: &SlotLayout, query: &Query) {
        let pages: Vec<&[u8]> = self
            .0
            .iter()
            .map(|&p| unsafe { std::slice::from_raw_parts(p, PAGE_SIZE) })
            .collect();
        collector.add_run(layout, query, &pages);
    }
}

/// Closes the queue when dropped — also when the backend unwinds from an error — so the
/// workers finish the queued runs and leave before the pinned pages are released.
struct CloseOnDrop<'a>(&'a Handoff<PinnedRun>);
impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Reports job `.1` finished when dropped.
struct FinishOnDrop<'a>(&'a Handoff<PinnedRun>, usize);
impl Drop for FinishOnDrop<'_> {
    fn drop(&mut self) {
        self.0.finish(self.1);
    }
}

/// Score every page that `next_run` yields (runs of whole slots, pinned by the backend), with
/// a [`Collector`] per thread: with `cap` keep the nearest `cap`, with `after` skip keys up to it.
///
/// Held buffer locks hold off interrupts, so when a cancel or terminate request arrives the
/// backend stops pinning, lets the runs in flight finish, releases every page and only then
/// lets Postgres act on it: a long scan stops within one run.
pub fn score_runs(
    layout: &SlotLayout,
    query: &Query,
    cap: Option<usize>,
    after: Option<Candidate>,
    pipeline: Pipeline,
    mut next_run: impl FnMut() -> Option<Vec<PageRead>>,
) -> Vec<Candidate> {
    ensure_pool();
    // The backend thread is the other scorer.
    let workers = if pipeline.alone {
        0
    } else {
        rayon::current_num_threads().saturating_sub(1)
    };
    let handoff = Handoff::<PinnedRun>::new();
    let results = Mutex::new(Vec::with_capacity(workers + 1));
    // Declared outside the scope: if the backend errors out mid-scan, the scope first waits
    // for the workers (they finish the queued runs), and only then are the pages released.
    let mut held: Vec<Option<Vec<PageRead>>> = Vec::new();

    rayon::in_place_scope(|s| {
        for _ in 0..workers {
            let (handoff, results) = (&handoff, &results);
            s.spawn(move |_| {
                let mut collector = Collector::new(cap, after);
                while let Some((id, run)) = handoff.pop() {
                    // Reported finished even if scoring panics: the backend must not wait
                    // forever holding buffer locks; the scope re-raises the panic afterwards.
                    let _finish = FinishOnDrop(handoff, id);
                    run.score(&mut collector, layout, query);
                }
                results.lock().unwrap().push(collector);
            });
        }
        let _close = CloseOnDrop(&handoff);
        let mut own = Collector::new(cap, after);
        let (mut in_flight, mut exhausted, mut done) = (0, false, Vec::new());
        // Set once an interrupt stays pending with nothing held (our caller holds interrupts
        // off): then it cannot be served here, and the scan goes on.
        let mut held_off = false;
        loop {
            handoff.take_done(&mut done);
            for id in done.drain(..) {
                held[id] = None;
                in_flight -= 1;
                held_off = false; // look at pending interrupts again after every run
            }
            let interrupt = !held_off && unsafe { pgrx::pg_sys::InterruptPending != 0 };
            if interrupt && in_flight == 0 {
                // Nothing pinned or locked: a cancel or terminate raises its ERROR here.
                pgrx::check_for_interrupts!();
                held_off = unsafe { pgrx::pg_sys::InterruptPending != 0 };
                continue;
            }
            if !interrupt && !exhausted && in_flight < pipeline.in_flight {
                match next_run() {
                    Some(guards) if !guards.is_empty() => {
                        let run = PinnedRun(guards.iter().map(|g| g.bytes().as_ptr()).collect());
                        held.push(Some(guards));
                        handoff.push(held.len() - 1, run);
                        in_flight += 1;
                    }
                    Some(_) => {}
                    None => exhausted = true,
                }
            } else if let Some((id, run)) = handoff.try_pop() {
                run.score(&mut own, layout, query);
                held[id] = None;
                in_flight -= 1;
            } else if in_flight > 0 {
                handoff.wait_done(&mut done);
            } else {
                break;
            }
        }
        results.lock().unwrap().push(own);
    });
    drop(held);
    Collector::merge(results.into_inner().unwrap())
}
