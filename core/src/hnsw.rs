//! HNSW graphs (Malkov & Yashunin, "Efficient and robust approximate nearest neighbor search
//! using Hierarchical Navigable Small World graphs"): what an `hnsw` index build fills in memory,
//! on every core, before it writes pages, and the pieces the on-page index shares with it
//! (levels, neighbour selection, the visited set).
//!
//! Nodes are numbered `0..n`; the caller owns the vectors and supplies the distance between two
//! nodes, or between a query and a node, as closures, so the graph works for every element type
//! and metric. Every node has a level drawn from a geometric distribution (`P(level ≥ l) =
//! m^−l`); on each of its levels it keeps at most `m` neighbours (`2m` on level 0), chosen by
//! the paper's heuristic (Algorithm 4): a candidate is kept only if it is nearer to the node
//! than to every neighbour kept so far, which spreads links over directions instead of
//! clustering them. Equal vectors should be one node (see the duplicates test).
//!
//! [`Graph::insert`] takes `&self`: threads insert different nodes at once. Each node's lists
//! sit behind one of a fixed set of striped locks; an insert holds at most one lock at a time
//! (it copies a list out, or rewrites one list), so there is no lock order to get wrong.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering::Relaxed};
use std::sync::Mutex;

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
}

/// Neighbours kept on `level`: `2m` on level 0, `m` above.
pub fn max_links(m: usize, level: usize) -> usize {
    if level == 0 {
        2 * m
    } else {
        m
    }
}

/// Room for links while a graph is built: the limit plus a quarter (see `Graph::link`).
fn capacity(m: usize, level: usize) -> usize {
    let max = max_links(m, level);
    max + max / 4
}

/// The level of a node whose random draw is `hash`: ⌊−ln(u) / ln(m)⌋ for `u` uniform in
/// (0, 1] derived from `hash`, at most `max`.
pub fn level_from_hash(hash: u64, m: usize, max: usize) -> usize {
    let z = SplitMix64::from_state(hash).next_u64();
    let u = ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    ((-u.ln()) / (m as f64).ln()).floor().min(max as f64) as usize
}

/// The paper's heuristic neighbour selection over `candidates` (sorted nearest first): keep a
/// candidate only if it is nearer to the node than to every neighbour kept so far, then fill up
/// with the nearest of those discarded, up to `max`. `dist(a, b)` is between two candidates.
pub fn select_neighbours(
    candidates: &[Scored],
    max: usize,
    dist: impl FnMut(u32, u32) -> f32,
) -> Vec<u32> {
    select_neighbours_kept(candidates, max, dist).0
}

/// [`select_neighbours`], and how many of the neighbours, from the first, it kept (the rest
/// are fill-ins from the discarded).
pub fn select_neighbours_kept(
    candidates: &[Scored],
    max: usize,
    mut dist: impl FnMut(u32, u32) -> f32,
) -> (Vec<u32>, usize) {
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
    let n_kept = kept.len();
    for c in discarded {
        if kept.len() == max {
            break;
        }
        kept.push(c);
    }
    (kept.into_iter().map(|s| s.id).collect(), n_kept)
}

/// What building a graph needs of its nodes' vectors: the distance between two nodes, and a
/// hint that a node's vector is about to be read (a build over vectors larger than the CPU
/// cache spends most of its time waiting for memory; starting the loads of a node's
/// neighbours together overlaps those waits). Any `Fn(u32, u32) -> f32` is one, without hints.
pub trait Points: Sync {
    fn dist(&self, a: u32, b: u32) -> f32;
    fn prefetch(&self, _node: u32) {}
}

impl<F: Fn(u32, u32) -> f32 + Sync> Points for F {
    fn dist(&self, a: u32, b: u32) -> f32 {
        self(a, b)
    }
}

/// [`Points`] over vectors held as bytes in their element format (`get(node)`), measured with
/// [`crate::scan::pair_distance`] and prefetched before they are read.
pub struct BytePoints<'a, F: Fn(u32) -> &'a [u8] + Sync> {
    pub metric: crate::distance::Metric,
    pub elem: crate::elem::ElemKind,
    pub get: F,
}

impl<'a, F: Fn(u32) -> &'a [u8] + Sync> Points for BytePoints<'a, F> {
    fn dist(&self, a: u32, b: u32) -> f32 {
        crate::scan::pair_distance(self.metric, self.elem, (self.get)(a), (self.get)(b))
    }
    fn prefetch(&self, node: u32) {
        let v = (self.get)(node);
        crate::store::prefetch(v.as_ptr(), v.len());
    }
}

/// A set of node ids (open addressing), cleared in time proportional to its size.
pub struct Visited {
    slots: Vec<u32>,
    len: usize,
}

impl Default for Visited {
    fn default() -> Self {
        Self::new()
    }
}

impl Visited {
    const EMPTY: u32 = u32::MAX;

    pub fn new() -> Visited {
        Visited {
            slots: vec![Self::EMPTY; 1024],
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.slots.len() * 4
    }

    pub fn clear(&mut self) {
        if self.slots.len() > 1 << 16 {
            self.slots = vec![Self::EMPTY; 1024];
        } else {
            self.slots.fill(Self::EMPTY);
        }
        self.len = 0;
    }

    fn hash(id: u32, mask: usize) -> usize {
        (id.wrapping_mul(0x9E37_79B1) as usize ^ (id as usize >> 16)) & mask
    }

    /// Add `id`; true if it was not there.
    pub fn insert(&mut self, id: u32) -> bool {
        debug_assert_ne!(id, Self::EMPTY);
        if (self.len + 1) * 2 > self.slots.len() {
            let grown = vec![Self::EMPTY; self.slots.len() * 2];
            let old = std::mem::replace(&mut self.slots, grown);
            self.len = 0;
            for v in old.into_iter().filter(|&v| v != Self::EMPTY) {
                self.insert(v);
            }
        }
        let mask = self.slots.len() - 1;
        let mut i = Self::hash(id, mask);
        loop {
            match self.slots[i] {
                v if v == id => return false,
                Self::EMPTY => {
                    self.slots[i] = id;
                    self.len += 1;
                    return true;
                }
                _ => i = (i + 1) & mask,
            }
        }
    }

    pub fn contains(&self, id: u32) -> bool {
        let mask = self.slots.len() - 1;
        let mut i = Self::hash(id, mask);
        loop {
            match self.slots[i] {
                v if v == id => return true,
                Self::EMPTY => return false,
                _ => i = (i + 1) & mask,
            }
        }
    }
}

const STRIPES: usize = 4096;

/// The graph: per node, its neighbour lists from level 0 up to its own level, in flat arrays
/// (`1 + max` words per list: the count, then the ids).
pub struct Graph {
    params: Params,
    levels: Vec<u8>,
    /// Start of each node's lists in `words` (level 0 first, then each upper level).
    starts: Vec<usize>,
    words: Vec<AtomicU32>,
    /// Per node: 1 + how many of its level-0 links, from the first, the selection heuristic
    /// kept (0: not known, the list was appended to since).
    kept: Vec<AtomicU8>,
    locks: Vec<Mutex<()>>,
    /// Entry point and its level.
    entry: Mutex<Option<(u32, usize)>>,
}

impl Graph {
    /// A graph of `levels.len()` nodes (none linked yet) with these levels.
    pub fn new(params: Params, levels: Vec<u8>) -> Graph {
        assert!(params.m >= 2 && params.ef_construction >= 1);
        let mut starts = Vec::with_capacity(levels.len());
        let mut total = 0;
        for &l in &levels {
            starts.push(total);
            total += (1 + capacity(params.m, 0)) + l as usize * (1 + capacity(params.m, 1));
        }
        let mut words = Vec::with_capacity(total);
        words.resize_with(total, || AtomicU32::new(0));
        let mut kept = Vec::with_capacity(levels.len());
        kept.resize_with(levels.len(), || AtomicU8::new(0));
        Graph {
            params,
            levels,
            starts,
            words,
            kept,
            locks: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            entry: Mutex::new(None),
        }
    }

    /// Bytes a graph takes per node (for memory budgets), with levels as drawn for `m`.
    pub fn bytes_per_node(m: usize) -> usize {
        // level 0 list, the expected upper lists, start offset, level
        4 * (1 + capacity(m, 0)) + 4 * (1 + capacity(m, 1)) / (m - 1) + 8 + 2
    }

    /// How many of `node`'s level-0 links, from the first, the selection heuristic kept, if
    /// known (the page's record keeps it for inserts to re-select cheaply).
    pub fn kept(&self, node: u32) -> Option<usize> {
        (self.kept[node as usize].load(Relaxed) as usize).checked_sub(1)
    }

    pub fn len(&self) -> usize {
        self.levels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    pub fn params(&self) -> Params {
        self.params
    }

    /// The entry point (a node of the top level) and its level.
    pub fn entry(&self) -> Option<(u32, usize)> {
        *self.entry.lock().unwrap()
    }

    /// Level of `node` (0: only the bottom layer).
    pub fn level(&self, node: u32) -> usize {
        self.levels[node as usize] as usize
    }

    fn list_start(&self, node: u32, level: usize) -> usize {
        let s = self.starts[node as usize];
        if level == 0 {
            s
        } else {
            s + (1 + capacity(self.params.m, 0)) + (level - 1) * (1 + capacity(self.params.m, 1))
        }
    }

    fn lock(&self, node: u32) -> std::sync::MutexGuard<'_, ()> {
        self.locks[node as usize % STRIPES].lock().unwrap()
    }

    /// A copy of `node`'s neighbours on `level`.
    pub fn neighbours(&self, node: u32, level: usize) -> Vec<u32> {
        let mut out = Vec::new();
        self.neighbours_into(node, level, &mut out);
        out
    }

    fn neighbours_into(&self, node: u32, level: usize, out: &mut Vec<u32>) {
        out.clear();
        let s = self.list_start(node, level);
        let _g = self.lock(node);
        let n = self.words[s].load(Relaxed) as usize;
        out.extend((0..n).map(|k| self.words[s + 1 + k].load(Relaxed)));
    }

    pub(crate) fn set_list(&self, node: u32, level: usize, links: &[u32]) {
        if level == 0 {
            self.kept[node as usize].store(0, Relaxed);
        }
        let s = self.list_start(node, level);
        debug_assert!(links.len() <= capacity(self.params.m, level));
        self.words[s].store(links.len() as u32, Relaxed);
        for (k, &v) in links.iter().enumerate() {
            self.words[s + 1 + k].store(v, Relaxed);
        }
    }

    /// Link node `id` into the graph (each node once; threads may insert different nodes at
    /// the same time). `dist(a, b)` is the distance between two nodes.
    pub fn insert(&self, id: u32, points: &impl Points, visited: &mut Visited) {
        let level = self.level(id);
        let entry = {
            let mut e = self.entry.lock().unwrap();
            match *e {
                None => {
                    *e = Some((id, level));
                    return;
                }
                Some(x) => x,
            }
        };
        let (entry, top) = entry;
        let to_new = |other: u32| points.dist(id, other);
        let pre = |n: u32| points.prefetch(n);
        let dist = |a: u32, b: u32| points.dist(a, b);
        let mut nearest = Scored {
            dist: to_new(entry),
            id: entry,
        };
        let mut scratch = Vec::new();
        for l in (level + 1..=top).rev() {
            nearest = self.greedy(nearest, l, &to_new, &pre, &mut scratch);
        }
        // Choose the neighbours on every level first, then write the node's own lists, then
        // the links back: the node is reachable only once all its lists are there.
        let mut entries = vec![nearest];
        let mut chosen = vec![Vec::new(); level.min(top) + 1];
        let mut kept0 = 0;
        for l in (0..=level.min(top)).rev() {
            let found = self.search_level(
                &entries,
                self.params.ef_construction,
                l,
                &to_new,
                &pre,
                visited,
            );
            let max = max_links(self.params.m, l);
            let candidates: Vec<Scored> = found.iter().filter(|s| s.id != id).copied().collect();
            let (list, kept) = select_neighbours_kept(&candidates, max, dist);
            chosen[l] = list;
            if l == 0 {
                kept0 = kept;
            }
            entries = found;
        }
        for (l, list) in chosen.iter().enumerate() {
            let _g = self.lock(id);
            self.set_list(id, l, list);
            if l == 0 {
                self.kept[id as usize].store(kept0 as u8 + 1, Relaxed);
            }
        }
        for (l, list) in chosen.iter().enumerate() {
            for &n in list {
                self.link(n, id, l, &dist);
            }
        }
        if level > top {
            let mut e = self.entry.lock().unwrap();
            if e.is_none_or(|(_, t)| level > t) {
                *e = Some((id, level));
            }
        }
    }

    /// Add `new` to `node`'s neighbours on `level`. A list may grow a little past its limit
    /// (`capacity`); only then is it re-selected down to the limit, so the heuristic (the
    /// costliest step of a build) runs once per several links instead of on every one.
    /// [`Graph::finish`] brings every list back to its limit.
    fn link(&self, node: u32, new: u32, level: usize, dist: &impl Fn(u32, u32) -> f32) {
        let _g = self.lock(node);
        let s = self.list_start(node, level);
        let n = self.words[s].load(Relaxed) as usize;
        let mut list: Vec<u32> = (0..n)
            .map(|k| self.words[s + 1 + k].load(Relaxed))
            .collect();
        if list.contains(&new) {
            return;
        }
        list.push(new);
        if list.len() > capacity(self.params.m, level) {
            let (l, kept) = self.reselect(node, &list, max_links(self.params.m, level), dist);
            self.set_list(node, level, &l);
            if level == 0 {
                self.kept[node as usize].store(kept as u8 + 1, Relaxed);
            }
            return;
        }
        self.set_list(node, level, &list);
    }

    fn reselect(
        &self,
        node: u32,
        list: &[u32],
        max: usize,
        dist: &impl Fn(u32, u32) -> f32,
    ) -> (Vec<u32>, usize) {
        let mut scored: Vec<Scored> = list
            .iter()
            .map(|&n| Scored {
                dist: dist(node, n),
                id: n,
            })
            .collect();
        scored.sort();
        select_neighbours_kept(&scored, max, dist)
    }

    /// Bring every list back to its limit (after the last insert), on every thread of the
    /// current rayon pool.
    pub fn finish(&self, points: &impl Points) {
        let dist = |a: u32, b: u32| points.dist(a, b);
        use rayon::prelude::*;
        (0..self.len() as u32).into_par_iter().for_each(|node| {
            for level in 0..=self.level(node) {
                let max = max_links(self.params.m, level);
                let list = self.neighbours(node, level);
                if list.len() > max {
                    let (kept, n_kept) = self.reselect(node, &list, max, &dist);
                    let _g = self.lock(node);
                    self.set_list(node, level, &kept);
                    if level == 0 {
                        self.kept[node as usize].store(n_kept as u8 + 1, Relaxed);
                    }
                }
            }
        });
        let top = self.levels.iter().copied().max().unwrap_or(0) as usize;
        for level in 0..=top {
            self.adopt_orphans(level, &dist);
        }
        self.connect_unreachable(&dist);
    }

    /// Give every node on `level` that no list points to (its in-links all lost to other
    /// nodes' neighbour selection, so no search can reach it) a link from its nearest
    /// neighbour: into a free slot, else in place of that neighbour's farthest link whose
    /// target keeps another in-link. Sequential: orphans are a handful per thousand nodes.
    fn adopt_orphans(&self, level: usize, dist: &impl Fn(u32, u32) -> f32) {
        let on_level = |n: usize| self.levels[n] as usize >= level;
        let mut indeg = vec![0u32; self.len()];
        for n in (0..self.len()).filter(|&n| on_level(n)) {
            for x in self.neighbours(n as u32, level) {
                indeg[x as usize] += 1;
            }
        }
        let entry = self.entry().map(|e| e.0);
        for o in (0..self.len() as u32).filter(|&o| on_level(o as usize)) {
            if indeg[o as usize] > 0 || Some(o) == entry {
                continue;
            }
            let mut near: Vec<Scored> = self
                .neighbours(o, level)
                .into_iter()
                .map(|c| Scored {
                    dist: dist(o, c),
                    id: c,
                })
                .collect();
            near.sort();
            // First a neighbour whose farthest replaceable link is farther than o, then any.
            let _ = [true, false].iter().any(|&strict| {
                near.iter()
                    .any(|c| self.attach(o, *c, level, strict, &mut indeg, dist))
            });
        }
    }

    /// Link `c.id` (at distance `c.dist` from `o`) to `o` on `level`: into a free slot, else in
    /// place of its farthest link whose target has another in-link (`strict`: only if that
    /// one is farther than `o`). `indeg` follows the change.
    fn attach(
        &self,
        o: u32,
        c: Scored,
        level: usize,
        strict: bool,
        indeg: &mut [u32],
        dist: &impl Fn(u32, u32) -> f32,
    ) -> bool {
        let mut list = self.neighbours(c.id, level);
        if list.contains(&o) {
            return true;
        }
        if list.len() < max_links(self.params.m, level) {
            list.push(o);
        } else {
            let far = list
                .iter()
                .enumerate()
                .filter(|&(_, &x)| indeg[x as usize] > 1)
                .map(|(k, &x)| (dist(c.id, x), k))
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let Some((d, k)) = far else { return false };
            if strict && d < c.dist {
                return false;
            }
            indeg[list[k] as usize] -= 1;
            list[k] = o;
        }
        indeg[o as usize] += 1;
        let _g = self.lock(c.id);
        self.set_list(c.id, level, &list);
        true
    }

    /// Make every node reachable on level 0 from the entry point: for each node a walk from
    /// there misses (a few nodes linked only among themselves), search the graph for it and
    /// link it from the nearest node found that the walk reaches.
    fn connect_unreachable(&self, dist: &impl Fn(u32, u32) -> f32) {
        let Some((entry, _)) = self.entry() else {
            return;
        };
        let mut indeg = vec![0u32; self.len()];
        for n in 0..self.len() as u32 {
            for x in self.neighbours(n, 0) {
                indeg[x as usize] += 1;
            }
        }
        let mut seen = vec![false; self.len()];
        let mut todo = Vec::new();
        let walk = |from: u32, seen: &mut Vec<bool>, todo: &mut Vec<u32>| {
            todo.push(from);
            while let Some(n) = todo.pop() {
                if !std::mem::replace(&mut seen[n as usize], true) {
                    todo.extend(self.neighbours(n, 0));
                }
            }
        };
        walk(entry, &mut seen, &mut todo);
        for u in 0..self.len() as u32 {
            if seen[u as usize] {
                continue;
            }
            let found = self.search(self.params.ef_construction, &|x| dist(u, x));
            let _ = [true, false].iter().any(|&strict| {
                found
                    .iter()
                    .filter(|c| c.id != u && seen[c.id as usize])
                    .any(|c| self.attach(u, *c, 0, strict, &mut indeg, dist))
            });
            walk(u, &mut seen, &mut todo);
        }
    }

    /// Move to a nearer neighbour on `level` while there is one.
    fn greedy(
        &self,
        mut at: Scored,
        level: usize,
        to: &impl Fn(u32) -> f32,
        pre: &impl Fn(u32),
        scratch: &mut Vec<u32>,
    ) -> Scored {
        loop {
            let mut moved = false;
            self.neighbours_into(at.id, level, scratch);
            scratch.iter().for_each(|&n| pre(n));
            for &n in scratch.iter() {
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
        pre: &impl Fn(u32),
        visited: &mut Visited,
    ) -> Vec<Scored> {
        visited.clear();
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
        let mut scratch = Vec::new();
        while let Some(Reverse(c)) = frontier.pop() {
            if best.len() >= ef && c > *best.peek().unwrap() {
                break;
            }
            self.neighbours_into(c.id, level, &mut scratch);
            scratch.retain(|&n| visited.insert(n));
            scratch.iter().for_each(|&n| pre(n));
            for &n in &scratch {
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
    /// the query's distance to a node. Only nodes already inserted are reached.
    pub fn search(&self, ef: usize, to: &impl Fn(u32) -> f32) -> Vec<Scored> {
        let Some((entry, top)) = self.entry() else {
            return Vec::new();
        };
        let mut at = Scored {
            dist: to(entry),
            id: entry,
        };
        let mut scratch = Vec::new();
        for l in (1..=top).rev() {
            at = self.greedy(at, l, to, &|_| {}, &mut scratch);
        }
        self.search_level(&[at], ef.max(1), 0, to, &|_| {}, &mut Visited::new())
    }

    /// Insert nodes `range` on every thread of the current rayon pool.
    pub fn insert_parallel(&self, range: std::ops::Range<u32>, points: &impl Points) {
        use rayon::prelude::*;
        range
            .into_par_iter()
            .for_each_init(Visited::new, |visited, id| self.insert(id, points, visited));
    }
}

#[cfg(test)]
pub(crate) mod tests;
