//! Handing runs of pinned pages from the Postgres backend thread to compute threads — with the
//! backend scoring runs itself whenever it has nothing else to do.
//!
//! An index scan has two kinds of work: *pinning* pages (buffer-manager calls, allowed only on
//! the backend thread) and *scoring* them (pure SIMD over pinned memory, any thread). The
//! backend produces runs into a [`Handoff`]; workers [`pop`](Handoff::pop) and score them and
//! report each one [`finish`](Handoff::finish)ed, so the backend can release its pages. When
//! the backend has pinned as far ahead as it may, it does not sleep: it
//! [`try_pop`](Handoff::try_pop)s a run and scores it too. On a 2-core machine that is two busy
//! threads for two cores instead of three, and no wake-up per run.
//!
//! Waiting (a worker for the next run, the backend for a finished one) blocks on a condition
//! variable at once. Spinning ~50 µs first was tried: no faster for one client, and with four
//! concurrent clients on two cores flat scans ran at 28–31 instead of 31–39 queries per second.
//!
//! ```text
//!   backend:  pin ─push─►  queue (FIFO)  ◄─pop── worker: score ─finish─► done ids
//!               ▲            │ try_pop                                   │
//!               └─ release ◄─┴─ score it on the backend thread  ◄────────┘ take_done
//! ```

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};

struct Queue<J> {
    jobs: VecDeque<(usize, J)>,
    closed: bool,
    sleeping_workers: usize,
}

struct Done {
    ids: Vec<usize>,
    producer_sleeping: bool,
}

/// A FIFO of jobs (each with an id) from one producer to any number of consumers, and the
/// list of ids finished by the consumers back to the producer.
pub struct Handoff<J> {
    queue: Mutex<Queue<J>>,
    work: Condvar,
    done: Mutex<Done>,
    done_cv: Condvar,
}

impl<J> Default for Handoff<J> {
    fn default() -> Self {
        Self::new()
    }
}

impl<J> Handoff<J> {
    pub fn new() -> Self {
        Handoff {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                closed: false,
                sleeping_workers: 0,
            }),
            work: Condvar::new(),
            done: Mutex::new(Done {
                ids: Vec::new(),
                producer_sleeping: false,
            }),
            done_cv: Condvar::new(),
        }
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Queue<J>> {
        // A panicking worker poisons nothing we cannot continue from: the queue stays valid.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_done(&self) -> std::sync::MutexGuard<'_, Done> {
        self.done.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Producer: queue a job.
    pub fn push(&self, id: usize, job: J) {
        let mut q = self.lock_queue();
        q.jobs.push_back((id, job));
        if q.sleeping_workers > 0 {
            self.work.notify_one();
        }
    }

    /// Take the oldest queued job without waiting (the producer scoring one itself).
    pub fn try_pop(&self) -> Option<(usize, J)> {
        self.lock_queue().jobs.pop_front()
    }

    /// Jobs queued and not yet taken.
    pub fn queued(&self) -> usize {
        self.lock_queue().jobs.len()
    }

    /// Consumer: the next job, waiting for one; `None` once the queue is closed and empty.
    pub fn pop(&self) -> Option<(usize, J)> {
        let mut q = self.lock_queue();
        loop {
            if let Some(job) = q.jobs.pop_front() {
                return Some(job);
            }
            if q.closed {
                return None;
            }
            q.sleeping_workers += 1;
            q = self.work.wait(q).unwrap_or_else(|e| e.into_inner());
            q.sleeping_workers -= 1;
        }
    }

    /// Producer: no more jobs; consumers drain the queue and then `pop` returns `None`.
    pub fn close(&self) {
        let mut q = self.lock_queue();
        q.closed = true;
        self.work.notify_all();
    }

    /// Consumer: job `id` is finished.
    pub fn finish(&self, id: usize) {
        let mut d = self.lock_done();
        d.ids.push(id);
        if d.producer_sleeping {
            self.done_cv.notify_one();
        }
    }

    /// Producer: move the ids finished so far into `out`, without waiting.
    pub fn take_done(&self, out: &mut Vec<usize>) {
        out.append(&mut self.lock_done().ids);
    }

    /// Producer: wait until at least one job is finished, and move the finished ids into `out`.
    pub fn wait_done(&self, out: &mut Vec<usize>) {
        let mut d = self.lock_done();
        while d.ids.is_empty() {
            d.producer_sleeping = true;
            d = self.done_cv.wait(d).unwrap_or_else(|e| e.into_inner());
            d.producer_sleeping = false;
        }
        out.append(&mut d.ids);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::time::Duration;

    /// One producer that also consumes when it is `ahead` jobs ahead, and `workers` consumers:
    /// every job is processed exactly once and every id comes back finished exactly once.
    fn run(workers: usize, jobs: usize, ahead: usize) {
        let h = Handoff::<u64>::new();
        let sum = AtomicU64::new(0);
        let processed: Vec<AtomicUsize> = (0..jobs).map(|_| AtomicUsize::new(0)).collect();
        let mut released = vec![false; jobs];
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    while let Some((id, v)) = h.pop() {
                        processed[id].fetch_add(1, Ordering::Relaxed);
                        sum.fetch_add(v, Ordering::Relaxed);
                        h.finish(id);
                    }
                });
            }
            let (mut next, mut in_flight, mut ids) = (0, 0, Vec::new());
            loop {
                h.take_done(&mut ids);
                for id in ids.drain(..) {
                    assert!(!released[id], "job {id} reported twice");
                    released[id] = true;
                    in_flight -= 1;
                }
                if next < jobs && in_flight < ahead {
                    h.push(next, next as u64 * 3);
                    next += 1;
                    in_flight += 1;
                } else if let Some((id, v)) = h.try_pop() {
                    processed[id].fetch_add(1, Ordering::Relaxed);
                    sum.fetch_add(v, Ordering::Relaxed);
                    released[id] = true;
                    in_flight -= 1;
                } else if in_flight > 0 {
                    h.wait_done(&mut ids);
                } else if next == jobs {
                    break;
                }
            }
            h.close();
        });
        assert!(released.iter().all(|&r| r));
        assert!(processed.iter().all(|p| p.load(Ordering::Relaxed) == 1));
        let expect: u64 = (0..jobs as u64).map(|i| i * 3).sum();
        assert_eq!(sum.load(Ordering::Relaxed), expect);
    }

    #[test]
    fn every_job_once_any_worker_count() {
        for workers in [0, 1, 2, 5] {
            for ahead in [1, 2, 4, 16] {
                run(workers, 2000, ahead);
            }
        }
    }

    #[test]
    fn close_wakes_sleeping_workers() {
        let h = Handoff::<()>::new();
        std::thread::scope(|s| {
            let t = s.spawn(|| h.pop());
            std::thread::sleep(Duration::from_millis(20)); // the worker is asleep by now
            h.close();
            assert!(t.join().unwrap().is_none());
        });
    }

    #[test]
    fn sleeping_producer_is_woken_by_finish() {
        let h = Handoff::<u8>::new();
        h.push(7, 1);
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(20));
                let (id, _) = h.pop().unwrap();
                h.finish(id);
            });
            let mut ids = Vec::new();
            h.wait_done(&mut ids);
            assert_eq!(ids, vec![7]);
        });
    }
}
