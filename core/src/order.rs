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
fn compare(a: &Candidate, b: &Candidate) -> Ordering {
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
}
