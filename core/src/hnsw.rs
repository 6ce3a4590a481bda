//! HNSW graphs in memory (Malkov & Yashunin, "Efficient and robust approximate nearest neighbor
//! search using Hierarchical Navigable Small World graphs"): the structure an `hnsw` index build
//! fills before it writes pages, and the searches over it.
//!
//! Nodes are numbered `0..n` in insertion order; the caller owns the vectors and supplies the
//! distance between two nodes, or between a query and a node, as closures, so the graph works
//! for every element type and metric. Every node has a level drawn from a deterministic
//! geometric distribution (`P(level ≥ l) = m^−l`); on each of its levels it keeps at most
//! `m` neighbours (`2m` on level 0), chosen by the paper's heuristic (Algorithm 4): a candidate
//! is kept only if it is nearer to the new node than to every neighbour already kept, which
//! keeps links spread over directions instead of clustered. Equal vectors should be one node
//! (see the duplicates test).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::kmeans::SplitMix64;

/// A node id and its distance to whatever is being searched for; ordered by distance, then id.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    pub dist: f32,
    pub id: u32,
}

impl Eq for Scored {}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist
            .total_cmp(&other.dist)
            .then(self.id.cmp(&other.id))
    }
}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Build parameters (pgvector's names and defaults: m = 16, ef_construction = 64).
#[derive(Clone, Copy, Debug)]
pub struct Params {
    pub m: usize,
    pub ef_construction: usize,
    pub seed: u64,
}

/// The graph: per node, its neighbour lists from level 0 up to its own level.
pub struct Graph {
    params: Params,
    /// `links[node][level]`: neighbours on that level.
    links: Vec<Vec<Vec<u32>>>,
    entry: Option<u32>,
    rng: SplitMix64,
}

impl Graph {
    pub fn new(params: Params) -> Graph {
        assert!(params.m >= 2 && params.ef_construction >= 1);
        Graph {
            params,
            links: Vec::new(),
            entry: None,
            rng: SplitMix64::from_state(params.seed),
        }
    }

    pub fn len(&self) -> usize {
        self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// The entry point (a node of the top level).
    pub fn entry(&self) -> Option<u32> {
        self.entry
    }

    /// Level of `node` (0: only the bottom layer).
    pub fn level(&self, node: u32) -> usize {
        self.links[node as usize].len() - 1
    }

    pub fn neighbours(&self, node: u32, level: usize) -> &[u32] {
        &self.links[node as usize][level]
    }

    fn max_links(&self, level: usize) -> usize {
        if level == 0 {
            2 * self.params.m
        } else {
            self.params.m
        }
    }

    /// A random level: ⌊−ln(u) / ln(m)⌋ for u uniform in (0, 1].
    fn random_level(&mut self) -> usize {
        let u = ((self.rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        ((-u.ln()) / (self.params.m as f64).ln()).floor().min(16.0) as usize
    }

    /// Insert the next node (id `self.len()`); `dist(a, b)` is the distance between two nodes.
    pub fn insert(&mut self, dist: &impl Fn(u32, u32) -> f32) -> u32 {
        let id = self.links.len() as u32;
        let level = self.random_level();
        self.links.push(vec![Vec::new(); level + 1]);
        let Some(entry) = self.entry else {
            self.entry = Some(id);
            return id;
        };
        let to_new = |other: u32| dist(id, other);
        let top = self.level(entry);
        // Greedy descent through the levels above the new node's.
        let mut nearest = Scored {
            dist: to_new(entry),
            id: entry,
        };
        for l in (level + 1..=top).rev() {
            nearest = self.greedy(nearest, l, &to_new);
        }
        // On each of its levels: search, link to a diverse set of the nearest, link back.
        let mut entries = vec![nearest];
        for l in (0..=level.min(top)).rev() {
            let found = self.search_level(&entries, self.params.ef_construction, l, &to_new);
            let chosen = self.select(&found, self.max_links(l), dist);
            for &n in &chosen {
                self.link(n, id, l, dist);
            }
            self.links[id as usize][l] = chosen;
            entries = found;
        }
        if level > top {
            self.entry = Some(id);
        }
        id
    }

    /// Add `new` to `node`'s neighbours on `level`; past the limit, re-select them.
    fn link(&mut self, node: u32, new: u32, level: usize, dist: &impl Fn(u32, u32) -> f32) {
        let max = self.max_links(level);
        self.links[node as usize][level].push(new);
        if self.links[node as usize][level].len() > max {
            let mut scored: Vec<Scored> = self.links[node as usize][level]
                .iter()
                .map(|&n| Scored {
                    dist: dist(node, n),
                    id: n,
                })
                .collect();
            scored.sort();
            let kept = self.select(&scored, max, dist);
            self.links[node as usize][level] = kept;
        }
    }

    /// The paper's heuristic neighbour selection over `candidates` (sorted nearest first): keep
    /// a candidate only if it is nearer to the node than to every neighbour kept so far, then
    /// fill up with the nearest of those discarded, up to `max`.
    fn select(
        &self,
        candidates: &[Scored],
        max: usize,
        dist: &impl Fn(u32, u32) -> f32,
    ) -> Vec<u32> {
        let mut kept: Vec<Scored> = Vec::with_capacity(max);
        let mut discarded = Vec::new();
        for &c in candidates {
            if kept.len() == max {
                break;
            }
            if kept.iter().all(|k| dist(c.id, k.id) > c.dist) {
                kept.push(c);
            } else {
                discarded.push(c);
            }
        }
        for c in discarded {
            if kept.len() == max {
                break;
            }
            kept.push(c);
        }
        kept.into_iter().map(|s| s.id).collect()
    }

    /// Move to a nearer neighbour on `level` while there is one.
    fn greedy(&self, mut at: Scored, level: usize, to: &impl Fn(u32) -> f32) -> Scored {
        loop {
            let mut moved = false;
            for &n in self.neighbours(at.id, level) {
                let d = Scored { dist: to(n), id: n };
                if d < at {
                    at = d;
                    moved = true;
                }
            }
            if !moved {
                return at;
            }
        }
    }

    /// Best-first search on one level from `entries`, keeping the `ef` nearest found (sorted).
    fn search_level(
        &self,
        entries: &[Scored],
        ef: usize,
        level: usize,
        to: &impl Fn(u32) -> f32,
    ) -> Vec<Scored> {
        let mut visited = std::collections::HashSet::with_capacity(ef * 4);
        let mut frontier: BinaryHeap<Reverse<Scored>> = BinaryHeap::new();
        let mut best: BinaryHeap<Scored> = BinaryHeap::new();
        for &e in entries {
            if visited.insert(e.id) {
                frontier.push(Reverse(e));
                best.push(e);
            }
        }
        while best.len() > ef {
            best.pop();
        }
        while let Some(Reverse(c)) = frontier.pop() {
            if best.len() >= ef && c > *best.peek().unwrap() {
                break;
            }
            for &n in self.neighbours(c.id, level) {
                if !visited.insert(n) {
                    continue;
                }
                let d = Scored { dist: to(n), id: n };
                if best.len() < ef || d < *best.peek().unwrap() {
                    frontier.push(Reverse(d));
                    best.push(d);
                    if best.len() > ef {
                        best.pop();
                    }
                }
            }
        }
        best.into_sorted_vec()
    }

    /// The (approximately) `ef` nearest nodes to a query, sorted nearest first; `to(node)` is
    /// the query's distance to a node.
    pub fn search(&self, ef: usize, to: &impl Fn(u32) -> f32) -> Vec<Scored> {
        let Some(entry) = self.entry else {
            return Vec::new();
        };
        let mut at = Scored {
            dist: to(entry),
            id: entry,
        };
        for l in (1..=self.level(entry)).rev() {
            at = self.greedy(at, l, to);
        }
        self.search_level(&[at], ef.max(1), 0, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distance::l2_squared;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// Points on a few clusters in a low-dimensional subspace of `dim` dimensions, like text
    /// embeddings more than isotropic noise.
    fn data(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let basis: Vec<Vec<f32>> = (0..8)
            .map(|_| (0..dim).map(|_| rng.gen_range(-1.0..1.0)).collect())
            .collect();
        (0..n)
            .map(|i| {
                let centre = (i % 20) as f32;
                let mut v = vec![0f32; dim];
                for (k, b) in basis.iter().enumerate() {
                    let c = (centre * (k as f32 + 1.0)).sin() * 3.0 + rng.gen_range(-0.5..0.5);
                    for (x, &y) in v.iter_mut().zip(b) {
                        *x += c * y;
                    }
                }
                for x in v.iter_mut() {
                    *x += rng.gen_range(-0.05..0.05);
                }
                v
            })
            .collect()
    }

    fn build(points: &[Vec<f32>], m: usize, ef: usize) -> Graph {
        let mut g = Graph::new(Params {
            m,
            ef_construction: ef,
            seed: 7,
        });
        let dist = |a: u32, b: u32| l2_squared(&points[a as usize], &points[b as usize]);
        for _ in 0..points.len() {
            g.insert(&dist);
        }
        g
    }

    fn recall(g: &Graph, points: &[Vec<f32>], queries: &[Vec<f32>], k: usize, ef: usize) -> f64 {
        let mut hits = 0;
        for q in queries {
            let mut truth: Vec<Scored> = points
                .iter()
                .enumerate()
                .map(|(i, p)| Scored {
                    dist: l2_squared(q, p),
                    id: i as u32,
                })
                .collect();
            truth.sort();
            let kth = truth[k - 1].dist;
            let found = g.search(ef, &|n| l2_squared(q, &points[n as usize]));
            // A hit: a true neighbour, or tied with the k-th.
            hits += found.iter().take(k).filter(|s| s.dist <= kth).count();
        }
        hits as f64 / (queries.len() * k) as f64
    }

    #[test]
    fn recall_against_brute_force_rises_with_ef() {
        let points = data(2000, 32, 1);
        let queries = data(50, 32, 2);
        let g = build(&points, 16, 64);
        let (low, high) = (
            recall(&g, &points, &queries, 10, 10),
            recall(&g, &points, &queries, 10, 100),
        );
        eprintln!("hnsw recall@10: ef 10 {low:.3}, ef 100 {high:.3}");
        assert!(high >= 0.97, "recall@10 at ef 100: {high}");
        assert!(high >= low, "{low} then {high}");
        // A broken graph (links dropped) must fail the floor.
        let mut broken = build(&points, 16, 64);
        for node in broken.links.iter_mut() {
            for l in node.iter_mut() {
                l.truncate(1);
            }
        }
        assert!(recall(&broken, &points, &queries, 10, 100) < 0.9);
    }

    #[test]
    fn structure_invariants() {
        let points = data(1000, 8, 3);
        let g = build(&points, 4, 20);
        let top = g.level(g.entry().unwrap());
        for node in 0..g.len() as u32 {
            assert!(g.level(node) <= top, "the entry point has the top level");
            for l in 0..=g.level(node) {
                let n = g.neighbours(node, l);
                assert!(n.len() <= g.max_links(l));
                assert!(!n.contains(&node), "no self links");
                let mut sorted = n.to_vec();
                sorted.sort();
                sorted.dedup();
                assert_eq!(sorted.len(), n.len(), "no duplicate links");
                assert!(
                    n.iter().all(|&x| g.level(x) >= l),
                    "links stay on the level"
                );
            }
        }
        // Levels follow P(level >= 1) = 1/m roughly.
        let upper = (0..g.len() as u32).filter(|&n| g.level(n) >= 1).count();
        assert!((150..350).contains(&upper), "{upper} of 1000 above level 0");
    }

    /// Exact duplicates all tie at distance 0, so the heuristic keeps the lowest ids and later
    /// duplicates lose their in-links: an index must merge rows with equal vectors into one
    /// node (pgvector keeps up to 10 heap TIDs per element) rather than insert each.
    #[test]
    fn small_graphs_and_exact_duplicates() {
        let points = vec![vec![1.0, 0.0]; 50];
        let g = build(&points, 4, 8);
        let found = g.search(60, &|n| l2_squared(&[1.0, 0.0], &points[n as usize]));
        assert!(!found.is_empty() && found.iter().all(|s| s.dist == 0.0));
        let one = build(&points[..1], 4, 8);
        assert_eq!(one.search(5, &|_| 0.0).len(), 1);
        let empty = Graph::new(Params {
            m: 4,
            ef_construction: 8,
            seed: 1,
        });
        assert!(empty.search(5, &|_| 0.0).is_empty());
    }

    #[test]
    fn builds_are_deterministic() {
        let points = data(500, 8, 4);
        let (a, b) = (build(&points, 8, 32), build(&points, 8, 32));
        assert_eq!(a.links, b.links);
        assert_eq!(a.entry(), b.entry());
    }
}
