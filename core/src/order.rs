//! Handing out candidates in distance order without knowing how many will be wanted.
//!
//! An index scan computes a distance for every candidate, but the executor pulls rows one at a
//! time and never says how many it needs (`LIMIT 10`, or a `WHERE` filter that rejects most
//! rows). [`LazyOrder`] sorts lazily in batches: it selects the nearest 16 with a partial
//! selection (O(n)), sorts just those, and only when they are used up selects the next 32, 64, …
//! from what remains. `LIMIT 10` costs one O(n) pass plus a 16-element sort; a scan pulled to
//! the end costs O(n log n) in total, as a full sort would.

use std::cmp::Ordering;

/// A scored candidate: the ordering distance and an opaque id (a heap TID packed in a u64).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    pub dist: f32,
    pub id: u64,
}

/// Distance order with NaN after everything (as Postgres orders float8), then by id so the
/// order is total and deterministic.
pub fn compare(a: &Candidate, b: &Candidate) -> Ordering {
    a.dist.total_cmp(&b.dist).then(a.id.cmp(&b.id))
}

const FIRST_BATCH: usize = 16;

pub struct LazyOrder {
    items: Vec<Candidate>,
    /// Next item to hand out.
    pos: usize,
    /// items[pos..sorted_end] are sorted and no farther than anything after them.
    sorted_end: usize,
    next_batch: usize,
}

impl LazyOrder {
    pub fn new(mut items: Vec<Candidate>) -> Self {
        for c in &mut items {
            // Every NaN (either sign) sorts last.
            if c.dist.is_nan() {
                c.dist = f32::NAN.copysign(1.0);
            }
        }
        Self {
            items,
            pos: 0,
            sorted_end: 0,
            next_batch: FIRST_BATCH,
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Items not yet handed out.
    pub fn remaining(&self) -> usize {
        self.items.len() - self.pos
    }

    fn prepare_batch(&mut self) {
        let rest = &mut self.items[self.pos..];
        let batch = self.next_batch.min(rest.len());
        if batch < rest.len() {
            rest.select_nth_unstable_by(batch - 1, compare);
        }
        rest[..batch].sort_unstable_by(compare);
        self.sorted_end = self.pos + batch;
        self.next_batch = self.next_batch.saturating_mul(2);
    }
}

impl Iterator for LazyOrder {
    type Item = Candidate;

    fn next(&mut self) -> Option<Candidate> {
        if self.pos == self.items.len() {
            return None;
        }
        if self.pos == self.sorted_end {
            self.prepare_batch();
        }
        let c = self.items[self.pos];
        self.pos += 1;
        Some(c)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining(), Some(self.remaining()))
    }
}

/// Rows in exact order from repeated, bounded passes over one candidate set.
///
/// [`LazyOrder`] needs every candidate in memory; an index scan pulled through millions of rows
/// (a selective `WHERE`, a NULL query) must not hold them all. `Passes` asks its scoring
/// function for the nearest `cap` candidates strictly after the last row it handed out (in
/// [`compare`] order: distance, then id, so the order is total and a resumed pass neither
/// repeats nor skips a row). The first pass keeps `first` candidates (enough for any usual
/// LIMIT); only a scan pulled past them pays for a second pass, with `cap` (the memory budget).
pub struct Passes {
    first: usize,
    cap: usize,
    order: Option<LazyOrder>,
    /// The current pass filled its cap: rows may follow it.
    more: bool,
    last: Option<Candidate>,
}

impl Passes {
    pub fn new(first: usize, cap: usize) -> Self {
        Self {
            first: first.max(1),
            cap: cap.max(first).max(1),
            order: None,
            more: false,
            last: None,
        }
    }

    /// The next row. `score(cap, after)` returns at most `cap` candidates, the nearest of those
    /// strictly after `after` (all of them when fewer exist).
    pub fn next(
        &mut self,
        mut score: impl FnMut(usize, Option<Candidate>) -> Vec<Candidate>,
    ) -> Option<Candidate> {
        loop {
            if let Some(order) = &mut self.order {
                if let Some(c) = order.next() {
                    self.last = Some(c);
                    return Some(c);
                }
                if !self.more {
                    return None;
                }
            }
            let cap = if self.order.is_none() {
                self.first
            } else {
                self.cap
            };
            let items = score(cap, self.last);
            assert!(items.len() <= cap, "a pass returned more than its cap");
            self.more = items.len() == cap;
            self.order = Some(LazyOrder::new(items));
        }
    }
}

/// Candidates arriving in lower-bound order (distances estimated from quantized codes) turned
/// into rows in exact-distance order: each arrival's exact distance is computed, and a row is
/// handed out once its exact distance is at most the next arrival's lower bound, so nothing
/// still to come can be nearer. A bound that fails (an estimate's error beyond its bound,
/// rare by construction) lets its row come out late, still once. At most `cap` rows wait
/// (the memory budget): beyond it the nearest waiting row goes out at once, so loose bounds
/// over a huge scan cost order within the band, never unbounded memory.
pub struct Rerank {
    ready: std::collections::BinaryHeap<std::cmp::Reverse<Keyed>>,
    pending: Option<Candidate>,
    done: bool,
    cap: usize,
    /// Exact distances computed so far.
    pub exact: u64,
}

impl Default for Rerank {
    fn default() -> Self {
        Rerank::with_cap(usize::MAX)
    }
}

#[derive(Clone, Copy, Debug)]
struct Keyed(Candidate);

impl PartialEq for Keyed {
    fn eq(&self, o: &Self) -> bool {
        compare(&self.0, &o.0) == Ordering::Equal
    }
}
impl Eq for Keyed {}
impl PartialOrd for Keyed {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Keyed {
    fn cmp(&self, o: &Self) -> Ordering {
        compare(&self.0, &o.0)
    }
}

/// NaN as Postgres orders it: after every number.
fn positive_nan(d: f32) -> f32 {
    if d.is_nan() {
        f32::NAN.copysign(1.0)
    } else {
        d
    }
}

impl Rerank {
    /// At most `cap` (≥ 1) rows waiting for their turn.
    pub fn with_cap(cap: usize) -> Rerank {
        Rerank {
            ready: Default::default(),
            pending: None,
            done: false,
            cap: cap.max(1),
            exact: 0,
        }
    }

    /// The next row in exact order: `pull` gives the next candidate by lower bound, `exact`
    /// its exact distance (`None`: the row is gone, e.g. not visible).
    pub fn next(
        &mut self,
        mut pull: impl FnMut() -> Option<Candidate>,
        mut exact: impl FnMut(Candidate) -> Option<f32>,
    ) -> Option<Candidate> {
        loop {
            if self.pending.is_none() && !self.done {
                self.pending = pull().map(|c| Candidate {
                    dist: positive_nan(c.dist),
                    id: c.id,
                });
                self.done = self.pending.is_none();
            }
            if let Some(std::cmp::Reverse(Keyed(top))) = self.ready.peek() {
                let safe = match &self.pending {
                    None => true,
                    Some(next) => top.dist.total_cmp(&next.dist) != Ordering::Greater,
                } || self.ready.len() >= self.cap;
                if safe {
                    let top = *top;
                    self.ready.pop();
                    return Some(top);
                }
            }
            let c = self.pending.take()?;
            self.exact += 1;
            if let Some(d) = exact(c) {
                self.ready.push(std::cmp::Reverse(Keyed(Candidate {
                    dist: positive_nan(d),
                    id: c.id,
                })));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    fn random_items(n: usize, seed: u64, distinct: u32) -> Vec<Candidate> {
        let mut rng = SmallRng::seed_from_u64(seed);
        (0..n)
            .map(|i| Candidate {
                dist: (rng.gen_range(0..distinct) as f32) * 0.5 - 3.0,
                id: i as u64,
            })
            .collect()
    }

    #[test]
    fn matches_full_sort_for_every_prefix_length() {
        for (n, distinct) in [
            (0, 1),
            (1, 1),
            (15, 5),
            (16, 100),
            (17, 3),
            (1000, 50),
            (5000, 5000),
        ] {
            let items = random_items(n, n as u64, distinct);
            let mut want = items.clone();
            want.sort_by(|a, b| a.dist.partial_cmp(&b.dist).unwrap().then(a.id.cmp(&b.id)));
            let got: Vec<_> = LazyOrder::new(items).collect();
            assert_eq!(got, want, "n={n}");
        }
    }

    #[test]
    fn first_items_need_only_a_partial_pass() {
        let items = random_items(100_000, 9, 1_000_000);
        let mut min = items.clone();
        min.sort_by(compare);
        let mut lazy = LazyOrder::new(items);
        let first: Vec<_> = lazy.by_ref().take(10).collect();
        assert_eq!(first, min[..10]);
        // Only the first batch was sorted.
        assert_eq!(lazy.sorted_end, FIRST_BATCH);
        assert_eq!(lazy.remaining(), 100_000 - 10);
    }

    /// The reference a scan's pass computes: the nearest `cap` of `all` after `after`.
    fn pass(all: &[Candidate], cap: usize, after: Option<Candidate>) -> Vec<Candidate> {
        let mut rest: Vec<Candidate> = LazyOrder::new(all.to_vec())
            .filter(|c| after.is_none_or(|a| compare(c, &a) == Ordering::Greater))
            .collect();
        // Hand them back unsorted, as a scan would.
        rest.truncate(cap);
        rest.reverse();
        rest
    }

    #[test]
    fn passes_return_every_row_once_in_order_within_the_cap() {
        for (n, distinct, first, cap) in [
            (0, 1, 4, 8),
            (1, 1, 4, 8),
            (100, 3, 4, 8), // many ties across pass boundaries
            (100, 100, 16, 16),
            (1000, 7, 10, 33),
            (1000, 1000, 999, 1000),
            (1000, 1000, 1000, 1000),
            (5000, 40, 64, 512),
        ] {
            let mut items = random_items(n, n as u64 + 1, distinct);
            for c in items.iter_mut().step_by(13) {
                c.dist = f32::NAN; // NaN rows come last, in id order
            }
            let want: Vec<_> = LazyOrder::new(items.clone()).collect();
            let mut passes = Passes::new(first, cap);
            let mut calls = 0;
            let mut got = Vec::new();
            while let Some(c) = passes.next(|k, after| {
                calls += 1;
                assert!(k == first || k == cap);
                pass(&items, k, after)
            }) {
                got.push(c);
            }
            let bits = |v: &[Candidate]| -> Vec<(u32, u64)> {
                v.iter().map(|c| (c.dist.to_bits(), c.id)).collect()
            };
            assert_eq!(bits(&got), bits(&want), "n={n} first={first} cap={cap}");
            let expect_calls = if n < first { 1 } else { 2 + (n - first) / cap };
            assert_eq!(calls, expect_calls, "n={n} first={first} cap={cap}");
        }
    }

    #[test]
    fn nan_and_infinity_sort_last() {
        let items = vec![
            Candidate {
                dist: f32::NAN,
                id: 1,
            },
            Candidate { dist: 1.0, id: 2 },
            Candidate {
                dist: -f32::NAN,
                id: 3,
            },
            Candidate {
                dist: f32::INFINITY,
                id: 4,
            },
            Candidate {
                dist: f32::NEG_INFINITY,
                id: 5,
            },
        ];
        let ids: Vec<u64> = LazyOrder::new(items).map(|c| c.id).collect();
        assert_eq!(ids, vec![5, 2, 4, 1, 3]);
    }

    /// Rows arriving by lower bound come out in exact order, each once; the rows gone (None)
    /// are skipped; with bounds that hold, no more exact distances are computed than the
    /// rows whose bound is below the k-th exact distance.
    #[test]
    fn rerank_hands_out_rows_in_exact_order() {
        let mut state = 7u64;
        let mut rnd = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32
        };
        let rows: Vec<(f32, f32)> = (0..2000)
            .map(|_| {
                let exact = rnd() * 10.0;
                (exact - rnd() * 0.5, exact) // (lower bound, exact)
            })
            .collect();
        let mut by_bound: Vec<Candidate> = rows
            .iter()
            .enumerate()
            .map(|(i, &(lb, _))| Candidate {
                dist: lb,
                id: i as u64,
            })
            .collect();
        by_bound.sort_by(compare);
        let gone = |id: u64| id % 97 == 3;
        let mut r = Rerank::default();
        let mut it = by_bound.into_iter();
        let mut out = Vec::new();
        while let Some(c) = r.next(
            || it.next(),
            |c| (!gone(c.id)).then_some(rows[c.id as usize].1),
        ) {
            out.push(c);
            if out.len() == 10 {
                let kth = out[9].dist;
                let needed = rows.iter().filter(|r| r.0 <= kth).count() as u64;
                assert!(r.exact <= needed + 1, "{} exact for {needed}", r.exact);
            }
        }
        let mut want: Vec<Candidate> = rows
            .iter()
            .enumerate()
            .filter(|(i, _)| !gone(*i as u64))
            .map(|(i, &(_, e))| Candidate {
                dist: e,
                id: i as u64,
            })
            .collect();
        want.sort_by(compare);
        assert_eq!(out, want);

        // Within a budget of 5 waiting rows every row still comes out once, and no more than
        // 5 ever wait.
        let mut r = Rerank::with_cap(5);
        let mut by_bound: Vec<Candidate> = rows
            .iter()
            .enumerate()
            .map(|(i, _)| Candidate {
                dist: 0.0,
                id: i as u64,
            })
            .collect();
        by_bound.sort_by(compare); // bounds that say nothing
        let mut it = by_bound.into_iter();
        let mut ids = Vec::new();
        while let Some(c) = r.next(|| it.next(), |c| Some(rows[c.id as usize].1)) {
            assert!(r.ready.len() <= 5);
            ids.push(c.id);
        }
        ids.sort();
        assert_eq!(ids, (0..rows.len() as u64).collect::<Vec<_>>());
    }
}
