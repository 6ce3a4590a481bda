//! The `hnsw` index on pages: search, insert, VACUUM, and the page images of a build.
//!
//! ```text
//!  block 0        meta page (AmMeta::Hnsw: m, ef_construction, entry node and its level,
//!                 for variable-length vectors the vector pages per segment and the spill
//!                 segment; n_slots = node numbers handed out)
//!  block 1 …      segments of 1 + V blocks: a graph page, then V vector pages
//!                 (crate::pages::hnsw draws both)
//! ```
//! A build links the graph in memory ([`crate::hnsw::Graph`]) and writes every page once
//! ([`assign_nodes`], [`write_build`]). After that, every change is a [`Record`]:
//!
//! * **insert**: search the graph for the new vector's neighbours (as a scan does, with
//!   `ef_construction`), then one record writes the node (vector, graph record with its own
//!   links, `n_slots`), then one record per neighbour adds the back link (re-selecting that
//!   neighbour's links when they are full, incrementally where its record says which links
//!   the heuristic kept: [`reselect`]), then the entry point moves up if the node is
//!   higher. A node is unreachable until its first back link, and complete by then. Inserts
//!   are serialised by the caller (Postgres: a heavyweight lock); scans never wait for them.
//! * **VACUUM** ([`Hnsw::bulk_delete`]): (1) drop dead heap rows from each node, marking a node
//!   with none left DEAD (still traversed, never returned, never chosen as a neighbour);
//!   (2) wait for inserts in flight; (3) re-select the links of every node that points to a
//!   DEAD node, from its other neighbours and the DEAD node's neighbours (the repair of the
//!   HNSW paper's deletion), and move the entry point off a DEAD node; (4) mark DEAD nodes
//!   EMPTY. Repairs are optimistic: a list is rewritten only if it is unchanged since it was
//!   read, else read again.
//!
//! A crash between records leaves at worst a node not (fully) linked: found by fewer searches,
//! never a broken page. Pages left all zero by a lost extension are initialised on first use.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use super::{Error, VacuumStats, META_BLOCK};
use crate::distance::Metric;
use crate::hnsw::{max_links, select_neighbours_kept, Graph, Scored, Visited};
use crate::pages::hnsw::{HnswLayout, Packer, MAX_TIDS, NONE, STATE_DEAD, STATE_EMPTY, STATE_LIVE};
use crate::pages::{init_page, AmMeta, Meta, MetaError, PAGE_HEADER, PAGE_SIZE};
use crate::scan::pair_distance;
use crate::store::{PageStore, Record, Span};
use crate::tid::Tid;

/// An hnsw index over a page store.
pub struct Hnsw<'s, S: PageStore> {
    pub store: &'s S,
    pub layout: HnswLayout,
    pub metric: Metric,
}

/// The hnsw part of a meta page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HnswMeta {
    pub m: usize,
    pub ef_construction: usize,
    pub entry: Option<(u32, usize)>,
    pub nodes: u32,
    /// Vector pages per segment of a variable layout (0: the layout's default).
    pub vec_pages: usize,
    /// The segment variable-length vectors spill to when their own has no room.
    pub spill: Option<u32>,
}

impl HnswMeta {
    pub fn of(meta: &Meta) -> Result<HnswMeta, Error> {
        match meta.am {
            AmMeta::Hnsw {
                m,
                ef_construction,
                entry,
                entry_level,
                vec_pages,
                spill,
            } => Ok(HnswMeta {
                m: m as usize,
                ef_construction: ef_construction as usize,
                entry: (entry != NONE).then_some((entry, entry_level as usize)),
                nodes: meta.n_slots.min(u32::MAX as u64) as u32,
                vec_pages: vec_pages as usize,
                spill: spill.checked_sub(1),
            }),
            _ => Err(Error::Meta(MetaError::Corrupt)),
        }
    }
}

/// `meta.am` for these parameters and entry point.
pub fn am_meta(m: usize, ef_construction: usize, entry: Option<(u32, usize)>) -> AmMeta {
    AmMeta::Hnsw {
        m: m as u16,
        ef_construction: ef_construction as u16,
        entry: entry.map_or(NONE, |e| e.0),
        entry_level: entry.map_or(0, |e| e.1 as u8),
        vec_pages: 0,
        spill: 0,
    }
}

/// `meta.am` with vector pages per segment `pages` (a variable layout's build sets them).
pub fn with_vec_pages(mut am: AmMeta, pages: usize) -> AmMeta {
    if let AmMeta::Hnsw { vec_pages, .. } = &mut am {
        *vec_pages = pages as u16;
    }
    am
}

fn set_entry(meta: &mut Meta, to: Option<(u32, usize)>) {
    if let AmMeta::Hnsw {
        entry, entry_level, ..
    } = &mut meta.am
    {
        *entry = to.map_or(NONE, |e| e.0);
        *entry_level = to.map_or(0, |e| e.1 as u8);
    }
}

/// What [`Hnsw::commit_node`] writes of a new node.
struct NewNode<'a> {
    n: u32,
    tid: Tid,
    level: usize,
    links: &'a [Vec<u32>],
    /// How many of its level-0 links the selection heuristic kept.
    kept0: Option<usize>,
    /// The insert looked for a freed slot from `.0` and knows none is below `.1`: the meta
    /// page's `free_hint` moves there.
    hint: Option<(u64, u64)>,
    /// The graph was empty: the node becomes the entry point.
    first: bool,
}

fn set_spill(meta: &mut Meta, segment: u32) {
    if let AmMeta::Hnsw { spill, .. } = &mut meta.am {
        *spill = segment + 1;
    }
}

/// A node's state and heap rows.
pub struct NodeRows {
    pub state: u8,
    pub tids: Vec<Tid>,
}

impl<'s, S: PageStore> Hnsw<'s, S> {
    pub fn open(store: &'s S) -> Result<(Self, Meta), Error> {
        let meta = Meta::read(&store.read(META_BLOCK)).map_err(Error::Meta)?;
        let h = HnswMeta::of(&meta)?;
        if meta.dims == 0 || !(2..=100).contains(&h.m) {
            return Err(Error::Meta(MetaError::Corrupt));
        }
        let layout =
            HnswLayout::new(meta.dims as usize, meta.elem, h.m).with_vec_pages(h.vec_pages);
        Ok((
            Hnsw {
                store,
                layout,
                metric: meta.metric,
            },
            meta,
        ))
    }

    fn read_meta(&self) -> Result<Meta, Error> {
        Meta::read(&self.store.read(META_BLOCK)).map_err(Error::Meta)
    }

    /// Node `n`'s pages exist among `blocks` blocks.
    fn exists(&self, n: u32, blocks: u32) -> bool {
        if self.layout.variable {
            return self.layout.graph_block(n) < blocks;
        }
        let (vb, _) = self.layout.vector_at(n);
        vb + self.layout.pages_per_vec as u32 <= blocks
    }

    /// Node `n`'s neighbours on `level` into `out`; returns its state.
    pub fn neighbours(&self, n: u32, level: usize, out: &mut Vec<u32>) -> u8 {
        self.neighbours_kept(n, level, out).0
    }

    /// [`Hnsw::neighbours`], and on level 0 how many of them the selection heuristic kept.
    fn neighbours_kept(&self, n: u32, level: usize, out: &mut Vec<u32>) -> (u8, Option<usize>) {
        out.clear();
        let page = self.store.read(self.layout.graph_block(n));
        if !HnswLayout::is_graph_page(&page) {
            return (STATE_EMPTY, None);
        }
        let r = self.layout.rec(&page, n);
        let state = r.state();
        if state != STATE_EMPTY {
            r.neighbours_into(level, out);
        }
        let kept = if level == 0 { r.kept() } else { None };
        (state, kept.filter(|&k| k <= out.len()))
    }

    /// Node `n`'s state and heap rows.
    pub fn rows(&self, n: u32) -> NodeRows {
        let page = self.store.read(self.layout.graph_block(n));
        if !HnswLayout::is_graph_page(&page) {
            return NodeRows {
                state: STATE_EMPTY,
                tids: Vec::new(),
            };
        }
        let r = self.layout.rec(&page, n);
        NodeRows {
            state: r.state(),
            tids: r.tids().collect(),
        }
    }

    /// Node `n`'s vector, copied into `out`.
    pub fn vector_into(&self, n: u32, out: &mut Vec<u8>) {
        out.clear();
        if self.layout.variable {
            let blocks = self.store.blocks();
            if let Some(&(_, span)) = self.places(&[n], blocks).first() {
                self.store
                    .read_spans(&[span], &mut |_, v| out.extend_from_slice(v));
            }
            return;
        }
        let (block, off) = self.layout.vector_at(n);
        if self.layout.pages_per_vec == 1 {
            out.extend_from_slice(&self.store.read(block)[off..off + self.layout.vec_bytes]);
        } else {
            for c in 0..self.layout.pages_per_vec {
                let len = self.layout.chunk_len(c);
                out.extend_from_slice(&self.store.read(block + c as u32)[off..off + len]);
            }
        }
    }

    /// Score nodes `ids` with `f` over their vectors, reading each vector page once (`ids` is
    /// reordered; nodes whose pages do not exist are dropped).
    pub fn score_nodes(
        &self,
        ids: &mut Vec<u32>,
        blocks: u32,
        f: &dyn Fn(&[u8]) -> f32,
        out: &mut Vec<Scored>,
    ) {
        ids.retain(|&n| self.exists(n, blocks));
        ids.sort_unstable(); // node order is vector page order
        let vb = self.layout.vec_bytes;
        if self.layout.variable {
            let placed = self.places(ids, blocks);
            let spans: Vec<Span> = placed.iter().map(|p| p.1).collect();
            self.store.read_spans(&spans, &mut |i, bytes| {
                out.push(Scored {
                    dist: f(bytes),
                    id: placed[i].0,
                })
            });
        } else if self.layout.pages_per_vec == 1 {
            self.store
                .read_spans(&self.vector_spans(ids), &mut |i, bytes| {
                    out.push(Scored {
                        dist: f(bytes),
                        id: ids[i],
                    })
                });
        } else {
            let mut buf = Vec::with_capacity(vb);
            for &n in ids.iter() {
                self.vector_into(n, &mut buf);
                out.push(Scored {
                    dist: f(&buf),
                    id: n,
                });
            }
        }
    }

    /// Where the vectors of `ids` (sorted) are in a variable layout, from their records: the
    /// nodes that have one on an existing page, in page order.
    fn places(&self, ids: &[u32], blocks: u32) -> Vec<(u32, Span)> {
        let mut out = Vec::with_capacity(ids.len());
        let mut k = 0;
        while k < ids.len() {
            let gb = self.layout.graph_block(ids[k]);
            let end = k + ids[k..]
                .iter()
                .take_while(|&&n| self.layout.graph_block(n) == gb)
                .count();
            if gb < blocks {
                let page = self.store.read(gb);
                if HnswLayout::is_graph_page(&page) {
                    for &n in &ids[k..end] {
                        let r = self.layout.rec(&page, n);
                        if r.state() == STATE_EMPTY {
                            continue;
                        }
                        if let Some((block, offset, len)) = r.vector_place() {
                            if block < blocks {
                                out.push((n, Span { block, offset, len }));
                            }
                        }
                    }
                }
            }
            k = end;
        }
        out.sort_unstable_by_key(|p| (p.1.block, p.1.offset));
        out
    }

    /// Where the vectors of `ids` (sorted, each within one page) are.
    fn vector_spans(&self, ids: &[u32]) -> Vec<Span> {
        ids.iter()
            .map(|&n| {
                let (block, offset) = self.layout.vector_at(n);
                Span {
                    block,
                    offset,
                    len: self.layout.vec_bytes,
                }
            })
            .collect()
    }

    /// Copies of the vectors of `ids` (those whose pages exist), read in batches.
    fn load_vectors(&self, ids: &[u32], blocks: u32) -> VectorSet {
        let mut set = VectorSet {
            ids: ids
                .iter()
                .copied()
                .filter(|&n| self.exists(n, blocks))
                .collect(),
            bytes: Vec::new(),
            starts: Vec::new(),
        };
        set.ids.sort_unstable();
        set.ids.dedup();
        if self.layout.variable {
            let placed = self.places(&set.ids, blocks);
            let mut got: Vec<(u32, Vec<u8>)> = Vec::with_capacity(placed.len());
            let spans: Vec<Span> = placed.iter().map(|p| p.1).collect();
            self.store
                .read_spans(&spans, &mut |i, v| got.push((placed[i].0, v.to_vec())));
            got.sort_unstable_by_key(|g| g.0);
            set.ids.clear();
            for (n, v) in got {
                set.ids.push(n);
                set.starts.push(set.bytes.len());
                set.bytes.extend_from_slice(&v);
            }
            set.starts.push(set.bytes.len());
            return set;
        }
        let len = self.layout.vec_bytes;
        set.bytes.reserve(set.ids.len() * len);
        set.starts = (0..=set.ids.len()).map(|i| i * len).collect();
        if self.layout.pages_per_vec == 1 {
            let spans = self.vector_spans(&set.ids);
            let bytes = &mut set.bytes;
            self.store
                .read_spans(&spans, &mut |_, v| bytes.extend_from_slice(v));
        } else {
            let mut buf = Vec::new();
            for &n in &set.ids {
                self.vector_into(n, &mut buf);
                set.bytes.extend_from_slice(&buf);
            }
        }
        set
    }

    fn pair(&self, a: &[u8], b: &[u8]) -> f32 {
        pair_distance(self.metric, self.layout.elem, a, b)
    }

    /// Lock block `block` in `rec`, initialising it first if it is still all zeroes.
    fn lock_page<R: Record>(&self, rec: &mut R, block: u32) -> usize {
        let i = rec.lock(block);
        if rec.is_new(i) {
            rec.init(i);
            self.init_by_role(rec, i);
        }
        i
    }

    fn init_by_role<R: Record>(&self, rec: &mut R, i: usize) {
        if self.layout.first_node_of(rec.block(i)).is_some() {
            self.layout.init_graph_page(rec.page_mut(i));
            let end = HnswLayout::upper_end(rec.page(i));
            rec.set_used_end(i, end);
        } else {
            self.layout.init_vector_page(rec.page_mut(i));
            rec.set_used_end(i, self.layout.vector_page_end());
        }
    }

    /// Extend the relation to at least `need` blocks, one initialised page per record.
    fn ensure_blocks(&self, need: u32) {
        while self.store.blocks() < need {
            let mut rec = self.store.record();
            let i = rec.extend();
            self.init_by_role(&mut rec, i);
            rec.commit();
        }
    }

    // ------------------------------------------------------------------ insert

    /// Insert heap row `tid` with stored vector `vector` (its node on `level`, at most the
    /// layout's `max_level`). The caller serialises inserts.
    pub fn insert(&self, tid: Tid, vector: &[u8], level: usize) -> Result<(), Error> {
        let fits = if self.layout.variable {
            vector.len() <= self.layout.vec_bytes
                && crate::sparse::stored_len_of(vector) == Some(vector.len())
        } else {
            vector.len() == self.layout.vec_bytes
        };
        if !fits {
            return Err(Error::Dimensions {
                expected: self.layout.dims as u32,
                got: vector.len(),
            });
        }
        let meta = self.read_meta()?;
        let h = HnswMeta::of(&meta)?;
        let level = level.min(self.layout.max_level);
        let blocks = self.store.blocks();
        let f = |b: &[u8]| self.pair(vector, b);
        let mut chosen: Vec<Vec<u32>> = vec![Vec::new(); level + 1];
        let mut kept0 = None;
        if let Some((entry, top)) = h.entry {
            let mut s = Search::new(false);
            let mut at = self.score_one(entry, blocks, &f);
            for l in (level + 1..=top).rev() {
                at = s.greedy(self, blocks, &f, at, l);
            }
            let mut entries = vec![at];
            for l in (0..=level.min(top)).rev() {
                s.visited.clear();
                for e in &entries {
                    s.visited.insert(e.id);
                }
                let mut states = HashMap::new();
                let found = s.search_level(
                    self,
                    blocks,
                    &f,
                    &entries,
                    h.ef_construction,
                    l,
                    Some(&mut states),
                );
                let live: Vec<Scored> = found
                    .iter()
                    .filter(|c| states.get(&c.id) == Some(&STATE_LIVE))
                    .copied()
                    .collect();
                let ids: Vec<u32> = live.iter().map(|c| c.id).collect();
                let vectors = self.load_vectors(&ids, blocks);
                if l == 0 {
                    // A row whose vector is already there joins that node.
                    for c in live.iter().take(4) {
                        if vectors.get(c.id).is_some_and(|v| v == vector) && self.add_tid(c.id, tid)
                        {
                            return Ok(());
                        }
                    }
                }
                let (list, kept) =
                    select_neighbours_kept(&live, max_links(h.m, l), |a, b| {
                        match (vectors.get(a), vectors.get(b)) {
                            (Some(x), Some(y)) => self.pair(x, y),
                            _ => f32::INFINITY,
                        }
                    });
                chosen[l] = list;
                if l == 0 {
                    kept0 = Some(kept);
                }
                entries = found;
            }
        }
        // A level-0 node takes a slot VACUUM freed, if there is one; taller nodes (1 in m)
        // need upper-list room and go to the end.
        let (n, hint) = match (level, self.free_slot(meta.free_hint, h.nodes)) {
            (0, Some(n)) => {
                self.ensure_blocks(self.layout.blocks_for(n + 1));
                (n, Some(n as u64 + 1))
            }
            (0, None) => {
                let n = self.allocate(h.nodes, 0);
                (n, Some(n as u64 + 1))
            }
            _ => (self.allocate(h.nodes, level), None),
        };
        let hint = hint.map(|to| (meta.free_hint, to));
        let node = NewNode {
            n,
            tid,
            level,
            links: &chosen,
            kept0,
            hint,
            first: h.entry.is_none(),
        };
        self.write_node(&node, vector, &h)?;
        for (l, links) in chosen.iter().enumerate() {
            for &c in links {
                self.link(c, n, l, vector);
            }
        }
        if let Some((_, top)) = h.entry {
            if level > top {
                let mut rec = self.store.record();
                let i = rec.lock(META_BLOCK);
                let mut meta = Meta::read(rec.page(i)).map_err(Error::Meta)?;
                if HnswMeta::of(&meta)?.entry.is_none_or(|(_, t)| t < level) {
                    set_entry(&mut meta, Some((n, level)));
                    meta.write(rec.page_mut(i));
                    rec.commit();
                }
            }
        }
        Ok(())
    }

    fn score_one(&self, n: u32, blocks: u32, f: &dyn Fn(&[u8]) -> f32) -> Scored {
        let mut out = Vec::with_capacity(1);
        self.score_nodes(&mut vec![n], blocks, f, &mut out);
        out.pop().unwrap_or(Scored {
            dist: f32::INFINITY,
            id: n,
        })
    }

    /// Add `tid` to live node `n` if it has room.
    fn add_tid(&self, n: u32, tid: Tid) -> bool {
        let mut rec = self.store.record();
        let i = rec.lock(self.layout.graph_block(n));
        let r = self.layout.rec(rec.page(i), n);
        if r.state() != STATE_LIVE {
            return false;
        }
        let mut tids: Vec<Tid> = r.tids().collect();
        if tids.len() >= MAX_TIDS {
            return false;
        }
        tids.push(tid);
        self.layout.set_tids(rec.page_mut(i), n, &tids);
        rec.commit();
        true
    }

    /// The first freed node slot at or after `from` (below `nodes`): a record VACUUM emptied,
    /// or one a build or a spill segment left unused.
    fn free_slot(&self, from: u64, nodes: u32) -> Option<u32> {
        let per_seg = self.layout.per_seg as u32;
        let blocks = self.store.blocks();
        let mut n = from.min(nodes as u64) as u32;
        while n < nodes {
            let seg_end = ((n / per_seg + 1) * per_seg).min(nodes);
            let gb = self.layout.graph_block(n);
            if gb >= blocks {
                return None;
            }
            let page = self.store.read(gb);
            if HnswLayout::is_graph_page(&page) {
                let empty = |x: &u32| self.layout.rec(&page, *x).state() == STATE_EMPTY;
                if let Some(f) = (n..seg_end).find(empty) {
                    return Some(f);
                }
            }
            n = seg_end;
        }
        None
    }

    /// The node number for a new node on `level`: the next one, or the first of the next
    /// segment when its graph page has no room for the node's upper lists.
    fn allocate(&self, next: u32, level: usize) -> u32 {
        let mut n = next;
        loop {
            self.ensure_blocks(self.layout.blocks_for(n + 1));
            if level == 0 {
                return n;
            }
            let page = self.store.read(self.layout.graph_block(n));
            if !HnswLayout::is_graph_page(&page) || self.layout.upper_fits(&page, level) {
                return n;
            }
            n = (n / self.layout.per_seg as u32 + 1) * self.layout.per_seg as u32;
        }
    }

    /// Write node `n` (vector, record with its links, `n_slots`; the entry point when the
    /// graph was empty).
    fn write_node(&self, node: &NewNode, vector: &[u8], h: &HnswMeta) -> Result<(), Error> {
        if self.layout.variable {
            return self.write_variable_node(node, vector, h);
        }
        let (vblock, off) = self.layout.vector_at(node.n);
        let spanning = self.layout.pages_per_vec > 1;
        if spanning {
            // The chunks first, in records of up to four pages (nothing points at them yet).
            let chunks: Vec<usize> = (0..self.layout.pages_per_vec).collect();
            for group in chunks.chunks(4) {
                let mut rec = self.store.record();
                for &c in group {
                    let i = self.lock_page(&mut rec, vblock + c as u32);
                    let start = c * self.layout.chunk_bytes();
                    let len = self.layout.chunk_len(c);
                    rec.page_mut(i)[off..off + len].copy_from_slice(&vector[start..start + len]);
                }
                rec.commit();
            }
        }
        let mut rec = self.store.record();
        let g = self.lock_page(&mut rec, self.layout.graph_block(node.n));
        if !spanning {
            let v = self.lock_page(&mut rec, vblock);
            rec.page_mut(v)[off..off + vector.len()].copy_from_slice(vector);
        }
        self.commit_node(rec, g, node, None, |_| {})
    }

    /// The end of writing node `node`, in `rec` (which holds its graph page as `g`, and its
    /// vector): the record (and in a variable layout the vector's `place`), `n_slots`, the
    /// free-slot hint and the entry point on the meta page, plus what `more` changes there.
    fn commit_node<R: Record>(
        &self,
        mut rec: R,
        g: usize,
        node: &NewNode,
        place: Option<(u32, usize, usize)>,
        more: impl FnOnce(&mut Meta),
    ) -> Result<(), Error> {
        let n = node.n;
        let m = rec.lock(META_BLOCK);
        let mut meta = Meta::read(rec.page(m)).map_err(Error::Meta)?;
        let page = rec.page_mut(g);
        self.layout
            .write_new_record(page, n, node.level, &[node.tid]);
        if let Some((block, offset, len)) = place {
            self.layout.set_vector_place(page, n, block, offset, len);
        }
        for (l, list) in node.links.iter().enumerate() {
            self.layout.set_neighbours(page, n, l, list);
        }
        if let Some(k) = node.kept0 {
            self.layout.set_kept(page, n, k);
        }
        let end = HnswLayout::upper_end(rec.page(g));
        rec.set_used_end(g, end);
        meta.n_slots = meta.n_slots.max(n as u64 + 1);
        if let Some((from, to)) = node.hint {
            // unless VACUUM lowered it meanwhile
            if meta.free_hint >= from {
                meta.free_hint = to;
            }
        }
        more(&mut meta);
        if node.first {
            set_entry(&mut meta, Some((n, node.level)));
        }
        meta.write(rec.page_mut(m));
        rec.commit();
        Ok(())
    }

    /// [`Hnsw::write_node`] for a variable layout: the vector goes to the first of its
    /// segment's vector pages with room, else to the spill segment's, else to a new spill
    /// segment (taken in the same record: the meta page moves the node counter past it).
    fn write_variable_node(
        &self,
        node: &NewNode,
        vector: &[u8],
        h: &HnswMeta,
    ) -> Result<(), Error> {
        let n = node.n;
        let per_seg = self.layout.per_seg as u32;
        let room = |seg: u32| -> Option<u32> {
            let first = self.layout.graph_block(seg * per_seg) + 1;
            (first..first + self.layout.vec_pages as u32).find(|&b| {
                let page = self.store.read(b);
                let end = if crate::pages::is_new_page(&page) {
                    crate::pages::hnsw::VECTORS_START
                } else {
                    crate::pages::used_end(&page)
                };
                end + vector.len() <= PAGE_SIZE
            })
        };
        let own = n / per_seg;
        // A freed node's own vector space, when the new vector fits it.
        let old = {
            let page = self.store.read(self.layout.graph_block(n));
            let r = self.layout.rec(&page, n);
            (HnswLayout::is_graph_page(&page) && r.state() == STATE_EMPTY)
                .then(|| r.vector_place())
                .flatten()
                .filter(|&(b, _, len)| len >= vector.len() && b < self.store.blocks())
        };
        let (vblock, claim) = match old {
            Some((b, _, _)) => (b, None),
            None => match room(own).or_else(|| h.spill.and_then(room)) {
                Some(b) => (b, None),
                None => {
                    // the first segment past every node (n may be a reused slot)
                    let seg = (own + 1).max(h.nodes.div_ceil(per_seg));
                    self.ensure_blocks(self.layout.blocks_for((seg + 1) * per_seg));
                    (self.layout.graph_block(seg * per_seg) + 1, Some(seg))
                }
            },
        };
        let mut rec = self.store.record();
        let g = self.lock_page(&mut rec, self.layout.graph_block(n));
        let v = self.lock_page(&mut rec, vblock);
        let off = match old {
            Some((_, off, _)) => off,
            None => {
                let off = crate::pages::used_end(rec.page(v));
                assert!(
                    off + vector.len() <= PAGE_SIZE,
                    "vector page filled under an insert"
                );
                rec.set_used_end(v, off + vector.len());
                off
            }
        };
        rec.page_mut(v)[off..off + vector.len()].copy_from_slice(vector);
        let place = Some((vblock, off, vector.len()));
        self.commit_node(rec, g, node, place, |meta| {
            if let Some(seg) = claim {
                set_spill(meta, seg);
                meta.n_slots = meta.n_slots.max(((seg + 1) * per_seg) as u64);
            }
        })
    }

    /// Add a link from `c` to `n` on `level`, re-selecting `c`'s links when they are full.
    fn link(&self, c: u32, n: u32, level: usize, n_vector: &[u8]) {
        let max = max_links(self.layout.m, level);
        let mut list = Vec::new();
        for _attempt in 0..4 {
            let (state, kept) = self.neighbours_kept(c, level, &mut list);
            if state == STATE_EMPTY || list.contains(&n) {
                return;
            }
            let (new_list, new_kept) = if list.len() < max {
                let mut l = list.clone();
                l.push(n);
                (l, None) // n's place in the heuristic's order is not known
            } else {
                let blocks = self.store.blocks();
                let mut wanted = list.clone();
                wanted.push(c);
                let vectors = self.load_vectors(&wanted, blocks);
                let Some(own) = vectors.get(c) else {
                    return; // c's pages are gone (cannot happen while it is linked)
                };
                let d = |a: &[u8], b: &[u8]| self.pair(a, b);
                let Some((l, k)) = reselect(own, n, n_vector, &list, kept, max, &vectors, d) else {
                    return; // n is the one left out
                };
                (l, Some(k))
            };
            if self.write_list_if_unchanged(c, level, &list, &new_list, new_kept) {
                return;
            }
        }
    }

    /// Replace `c`'s links on `level` with `new` if they are still `old`.
    fn write_list_if_unchanged(
        &self,
        c: u32,
        level: usize,
        old: &[u32],
        new: &[u32],
        kept: Option<usize>,
    ) -> bool {
        let mut rec = self.store.record();
        let i = rec.lock(self.layout.graph_block(c));
        let r = self.layout.rec(rec.page(i), c);
        if r.state() == STATE_EMPTY {
            return true; // freed meanwhile: nothing to link
        }
        if r.neighbours(level) != old {
            return false;
        }
        self.layout.set_neighbours(rec.page_mut(i), c, level, new);
        if let (0, Some(k)) = (level, kept) {
            self.layout.set_kept(rec.page_mut(i), c, k);
        }
        rec.commit();
        true
    }

    // ------------------------------------------------------------------ VACUUM

    /// Forget the heap rows `dead` reports and unlink nodes left with none. `delay` is called
    /// between pages with nothing locked; `wait_for_inserts` returns once every insert that
    /// started before it has finished.
    pub fn bulk_delete(
        &self,
        dead: &mut dyn FnMut(Tid) -> bool,
        delay: &mut dyn FnMut(),
        wait_for_inserts: &mut dyn FnMut(),
    ) -> Result<VacuumStats, Error> {
        let meta = self.read_meta()?;
        let nodes = HnswMeta::of(&meta)?.nodes;
        let per_seg = self.layout.per_seg as u32;
        let segments = nodes.div_ceil(per_seg);
        let mut stats = VacuumStats::default();
        let mut gone: HashSet<u32> = HashSet::new();
        let mut highest: Option<(usize, u32)> = None;
        // (1) rows
        for s in 0..segments {
            delay();
            let gb = self.layout.graph_block(s * per_seg);
            if gb >= self.store.blocks() {
                break;
            }
            let mut rec = self.store.record();
            let i = rec.lock(gb);
            if !HnswLayout::is_graph_page(rec.page(i)) {
                continue;
            }
            let mut changed = false;
            for n in s * per_seg..((s + 1) * per_seg).min(nodes) {
                let r = self.layout.rec(rec.page(i), n);
                match r.state() {
                    STATE_LIVE => {
                        let tids: Vec<Tid> = r.tids().collect();
                        let level = r.level();
                        let kept: Vec<Tid> = tids.iter().copied().filter(|&t| !dead(t)).collect();
                        stats.removed += (tids.len() - kept.len()) as f64;
                        stats.live += kept.len() as f64;
                        if kept.is_empty() {
                            self.layout.set_state(rec.page_mut(i), n, STATE_DEAD);
                            gone.insert(n);
                            changed = true;
                        } else {
                            if kept.len() != tids.len() {
                                self.layout.set_tids(rec.page_mut(i), n, &kept);
                                changed = true;
                            }
                            if highest.is_none_or(|(l, _)| level > l) {
                                highest = Some((level, n));
                            }
                        }
                    }
                    STATE_DEAD => {
                        gone.insert(n); // from a VACUUM that did not finish
                    }
                    _ => {}
                }
            }
            if changed {
                rec.commit();
            }
        }
        if gone.is_empty() {
            return Ok(stats);
        }
        // (2) no insert still holds a node it saw live before (1) marked it
        wait_for_inserts();
        // (3) repair links and the entry point
        let h = HnswMeta::of(&self.read_meta()?)?;
        let mut list = Vec::new();
        for s in 0..segments {
            delay();
            let gb = self.layout.graph_block(s * per_seg);
            if gb >= self.store.blocks() {
                break;
            }
            let todo: Vec<(u32, usize)> = {
                let page = self.store.read(gb);
                if !HnswLayout::is_graph_page(&page) {
                    continue;
                }
                let mut todo = Vec::new();
                for n in s * per_seg..((s + 1) * per_seg).min(nodes) {
                    let r = self.layout.rec(&page, n);
                    if r.state() != STATE_LIVE {
                        continue;
                    }
                    for l in 0..=r.level() {
                        list.clear();
                        r.neighbours_into(l, &mut list);
                        if list.iter().any(|x| gone.contains(x)) {
                            todo.push((n, l));
                        }
                    }
                }
                todo
            };
            for (n, l) in todo {
                self.repair(n, l, &gone, &h);
            }
        }
        {
            let mut rec = self.store.record();
            let i = rec.lock(META_BLOCK);
            let mut meta = Meta::read(rec.page(i)).map_err(Error::Meta)?;
            if let Some((e, _)) = HnswMeta::of(&meta)?.entry {
                if gone.contains(&e) {
                    set_entry(&mut meta, highest.map(|(l, n)| (n, l)));
                    meta.write(rec.page_mut(i));
                    rec.commit();
                }
            }
        }
        // (4) free, and tell inserts where the first freed slot is
        let lowest = gone.iter().min().copied();
        for s in 0..segments {
            let first = s * per_seg;
            let last = ((s + 1) * per_seg).min(nodes);
            if !(first..last).any(|n| gone.contains(&n)) {
                continue;
            }
            delay();
            let mut rec = self.store.record();
            let i = rec.lock(self.layout.graph_block(first));
            for n in (first..last).filter(|n| gone.contains(n)) {
                if self.layout.rec(rec.page(i), n).state() == STATE_DEAD {
                    self.layout.set_state(rec.page_mut(i), n, STATE_EMPTY);
                }
            }
            rec.commit();
        }
        if let Some(low) = lowest {
            let mut rec = self.store.record();
            let i = rec.lock(META_BLOCK);
            let mut meta = Meta::read(rec.page(i)).map_err(Error::Meta)?;
            if (low as u64) < meta.free_hint {
                meta.free_hint = low as u64;
                meta.write(rec.page_mut(i));
                rec.commit();
            }
        }
        Ok(stats)
    }

    /// Re-select node `n`'s links on `level` without the nodes in `gone`: from its other
    /// neighbours, the neighbours of those gone, and a search for `n`'s own vector from the
    /// entry point (as an insert searches), so heavy deletes do not cut the graph apart.
    fn repair(&self, n: u32, level: usize, gone: &HashSet<u32>, h: &HnswMeta) {
        let max = max_links(self.layout.m, level);
        let mut list = Vec::new();
        let mut more = Vec::new();
        let mut own = Vec::new();
        self.vector_into(n, &mut own);
        let blocks = self.store.blocks();
        let f = |b: &[u8]| self.pair(&own, b);
        let mut searched: Vec<u32> = Vec::new();
        if let Some((entry, top)) = h.entry {
            let mut s = Search::new(false);
            let mut at = self.score_one(entry, blocks, &f);
            for l in (level + 1..=top).rev() {
                at = s.greedy(self, blocks, &f, at, l);
            }
            if level <= top {
                s.visited.insert(at.id);
                let mut states = HashMap::new();
                let found = s.search_level(
                    self,
                    blocks,
                    &f,
                    &[at],
                    h.ef_construction,
                    level,
                    Some(&mut states),
                );
                searched = found
                    .iter()
                    .filter(|c| states.get(&c.id) == Some(&STATE_LIVE) && !gone.contains(&c.id))
                    .map(|c| c.id)
                    .collect();
            }
        }
        for _attempt in 0..4 {
            if self.neighbours(n, level, &mut list) != STATE_LIVE {
                return;
            }
            let mut candidates: Vec<u32> = searched.clone();
            for &x in &list {
                if gone.contains(&x) {
                    self.neighbours(x, level, &mut more);
                    candidates.extend(more.iter().filter(|&&y| !gone.contains(&y)));
                } else {
                    candidates.push(x);
                }
            }
            candidates.retain(|&y| y != n);
            candidates.sort_unstable();
            candidates.dedup();
            let vectors = self.load_vectors(&candidates, blocks);
            let mut scored: Vec<Scored> = candidates
                .iter()
                .filter_map(|&x| {
                    vectors.get(x).map(|v| Scored {
                        dist: self.pair(&own, v),
                        id: x,
                    })
                })
                .collect();
            scored.sort();
            let (new, kept) = select_neighbours_kept(&scored, max, |a, b| {
                match (vectors.get(a), vectors.get(b)) {
                    (Some(x), Some(y)) => self.pair(x, y),
                    _ => f32::INFINITY,
                }
            });
            if self.write_list_if_unchanged(n, level, &list, &new, Some(kept)) {
                return;
            }
        }
    }
}

/// Copies of some nodes' vectors, found by node number (sorted numbers, one flat buffer).
struct VectorSet {
    ids: Vec<u32>,
    bytes: Vec<u8>,
    /// Vector `i` is `bytes[starts[i]..starts[i + 1]]`.
    starts: Vec<usize>,
}

impl VectorSet {
    fn get(&self, n: u32) -> Option<&[u8]> {
        let i = self.ids.binary_search(&n).ok()?;
        Some(&self.bytes[self.starts[i]..self.starts[i + 1]])
    }
}

/// The links of a node (vector `own`) whose full list `list` gains new node `n`: the
/// selection heuristic ([`select_neighbours_kept`]) over the list and `n`, and how many of the
/// result it kept; `None` when `n` is the candidate left out. `kept` says how many of `list`,
/// from the first, the heuristic kept when it last chose them: then only the decisions `n`
/// can change are made again (pgvector's closer caching): a kept link is checked against the
/// candidates newly kept before it, a pruned one stays pruned unless a kept one before it was
/// pruned meanwhile. The result is the same as selecting afresh, for about a tenth of the
/// distances.
#[allow(clippy::too_many_arguments)]
fn reselect(
    own: &[u8],
    n: u32,
    n_vector: &[u8],
    list: &[u32],
    kept: Option<usize>,
    max: usize,
    vectors: &VectorSet,
    dist: impl Fn(&[u8], &[u8]) -> f32,
) -> Option<(Vec<u32>, usize)> {
    struct Cand<'v> {
        dist: f32,
        id: u32,
        v: &'v [u8],
        /// The last selection's decision (`None`: `n`, or not known).
        was_kept: Option<bool>,
    }
    let mut cands = Vec::with_capacity(list.len() + 1);
    for (k, &e) in list.iter().enumerate() {
        let v = vectors.get(e)?; // a link's pages are gone: leave the list as it is
        cands.push(Cand {
            dist: dist(own, v),
            id: e,
            v,
            was_kept: kept.map(|kept| k < kept),
        });
    }
    cands.push(Cand {
        dist: dist(own, n_vector),
        id: n,
        v: n_vector,
        was_kept: None,
    });
    cands.sort_by(|a, b| a.dist.total_cmp(&b.dist).then(a.id.cmp(&b.id)));
    let prunes = |c: &Cand, by: &Cand| dist(c.v, by.v) <= c.dist;
    let (mut chosen, mut added, mut pruned): (Vec<usize>, Vec<usize>, Vec<usize>) =
        (Vec::new(), Vec::new(), Vec::new());
    let mut removed_any = false;
    for (i, c) in cands.iter().enumerate() {
        if chosen.len() == max {
            break;
        }
        let keep = match c.was_kept {
            None => {
                let keep = chosen.iter().all(|&k| !prunes(c, &cands[k]));
                if keep && kept.is_some() {
                    added.push(i);
                }
                keep
            }
            Some(true) => {
                let keep = added.iter().all(|&k| !prunes(c, &cands[k]));
                removed_any |= !keep;
                keep
            }
            Some(false) => {
                let keep = removed_any && chosen.iter().all(|&k| !prunes(c, &cands[k]));
                if keep {
                    added.push(i);
                }
                keep
            }
        };
        if keep {
            chosen.push(i);
        } else {
            pruned.push(i);
        }
    }
    let n_kept = chosen.len();
    chosen.extend(pruned.into_iter().take(max - n_kept));
    chosen
        .iter()
        .any(|&i| cands[i].id == n)
        .then(|| (chosen.iter().map(|&i| cands[i].id).collect(), n_kept))
}

// ---------------------------------------------------------------------- search

/// One search of the graph: the best-first search of the paper, resumable for iterative
/// scans (candidates pushed out of the result set are kept and searched from next round).
pub struct Search {
    pub visited: Visited,
    frontier: BinaryHeap<Reverse<Scored>>,
    best: BinaryHeap<Scored>,
    discarded: BinaryHeap<Reverse<Scored>>,
    keep_discarded: bool,
    /// Vectors scored so far.
    pub evaluated: usize,
    scratch: Vec<u32>,
    scored: Vec<Scored>,
}

impl Search {
    pub fn new(keep_discarded: bool) -> Search {
        Search {
            visited: Visited::new(),
            frontier: BinaryHeap::new(),
            best: BinaryHeap::new(),
            discarded: BinaryHeap::new(),
            keep_discarded,
            evaluated: 0,
            scratch: Vec::new(),
            scored: Vec::new(),
        }
    }

    /// Memory held, in bytes.
    pub fn bytes(&self) -> usize {
        self.visited.bytes()
            + 8 * (self.frontier.capacity() + self.best.capacity() + self.discarded.capacity())
    }

    /// Start over (keeping allocations).
    pub fn reset(&mut self) {
        self.visited.clear();
        self.frontier.clear();
        self.best.clear();
        self.discarded.clear();
        self.evaluated = 0;
    }

    /// Move to a nearer neighbour on `level` while there is one.
    fn greedy<S: PageStore>(
        &mut self,
        idx: &Hnsw<'_, S>,
        blocks: u32,
        f: &dyn Fn(&[u8]) -> f32,
        mut at: Scored,
        level: usize,
    ) -> Scored {
        loop {
            idx.neighbours(at.id, level, &mut self.scratch);
            self.scored.clear();
            idx.score_nodes(&mut self.scratch, blocks, f, &mut self.scored);
            self.evaluated += self.scored.len();
            match self.scored.iter().min() {
                Some(&b) if b < at => at = b,
                _ => return at,
            }
        }
    }

    /// Best-first search on `level` from `entries` (already in `visited`), keeping the `ef`
    /// nearest; returns them sorted. `states` collects the state of every node expanded.
    #[allow(clippy::too_many_arguments)]
    fn search_level<S: PageStore>(
        &mut self,
        idx: &Hnsw<'_, S>,
        blocks: u32,
        f: &dyn Fn(&[u8]) -> f32,
        entries: &[Scored],
        ef: usize,
        level: usize,
        mut states: Option<&mut HashMap<u32, u8>>,
    ) -> Vec<Scored> {
        self.frontier.clear();
        self.best.clear();
        for &e in entries {
            self.frontier.push(Reverse(e));
            self.best.push(e);
        }
        while self.best.len() > ef {
            let e = self.best.pop().unwrap();
            if self.keep_discarded {
                self.discarded.push(Reverse(e));
            }
        }
        while let Some(Reverse(c)) = self.frontier.pop() {
            if self.best.len() >= ef && c > *self.best.peek().unwrap() {
                break;
            }
            let state = idx.neighbours(c.id, level, &mut self.scratch);
            if let Some(s) = states.as_deref_mut() {
                s.insert(c.id, state);
            }
            let visited = &mut self.visited;
            self.scratch.retain(|&n| n != NONE && visited.insert(n));
            self.scored.clear();
            idx.score_nodes(&mut self.scratch, blocks, f, &mut self.scored);
            self.evaluated += self.scored.len();
            for &d in &self.scored {
                if self.best.len() < ef || d < *self.best.peek().unwrap() {
                    self.frontier.push(Reverse(d));
                    self.best.push(d);
                    if self.best.len() > ef {
                        let e = self.best.pop().unwrap();
                        if self.keep_discarded {
                            self.discarded.push(Reverse(e));
                        }
                    }
                } else if self.keep_discarded {
                    self.discarded.push(Reverse(d));
                }
            }
        }
        std::mem::take(&mut self.best).into_sorted_vec()
    }

    /// The first round of a scan: the `ef` nearest nodes found from the entry point, sorted.
    pub fn start<S: PageStore>(
        &mut self,
        idx: &Hnsw<'_, S>,
        entry: Option<(u32, usize)>,
        f: &dyn Fn(&[u8]) -> f32,
        ef: usize,
    ) -> Vec<Scored> {
        self.reset();
        let Some((entry, top)) = entry else {
            return Vec::new();
        };
        let blocks = idx.store.blocks();
        let mut at = idx.score_one(entry, blocks, f);
        self.evaluated += 1;
        for l in (1..=top).rev() {
            at = self.greedy(idx, blocks, f, at, l);
        }
        self.visited.insert(at.id);
        self.search_level(idx, blocks, f, &[at], ef.max(1), 0, None)
    }

    /// Every candidate scored and not returned, nearest first (the scan's budget is spent).
    pub fn take_discarded(&mut self) -> Vec<Scored> {
        let mut v: Vec<Scored> = std::mem::take(&mut self.discarded)
            .into_iter()
            .map(|Reverse(s)| s)
            .collect();
        v.sort();
        v
    }

    /// The next round of an iterative scan: searched on from the `ef` nearest candidates not
    /// returned yet; empty when there are none.
    pub fn resume<S: PageStore>(
        &mut self,
        idx: &Hnsw<'_, S>,
        f: &dyn Fn(&[u8]) -> f32,
        ef: usize,
    ) -> Vec<Scored> {
        let mut entries = Vec::with_capacity(ef);
        while entries.len() < ef.max(1) {
            match self.discarded.pop() {
                Some(Reverse(c)) => entries.push(c),
                None => break,
            }
        }
        if entries.is_empty() {
            return Vec::new();
        }
        let blocks = idx.store.blocks();
        self.search_level(idx, blocks, f, &entries, ef.max(1), 0, None)
    }
}

// ---------------------------------------------------------------------- build

/// Graph pages' spare room for upper lists.
fn upper_room(layout: &HnswLayout) -> usize {
    PAGE_SIZE - (PAGE_HEADER + 8) - layout.per_seg * layout.record
}

/// Node numbers for a build's nodes with these levels, in order: consecutive, except that a
/// node whose upper lists would not fit its graph page starts the next segment.
pub fn assign_nodes(layout: &HnswLayout, levels: &[u8]) -> Vec<u32> {
    let per_seg = layout.per_seg as u32;
    let room = upper_room(layout);
    let mut out = Vec::with_capacity(levels.len());
    let (mut n, mut used) = (0u32, 0usize);
    for &l in levels {
        let need = l as usize * layout.m * 4;
        if n % per_seg == 0 {
            used = 0;
        }
        if used + need > room {
            n = (n / per_seg + 1) * per_seg;
            used = 0;
        }
        out.push(n);
        used += need;
        n += 1;
    }
    out
}

/// Every page of a built index after the meta page, in block order: `emit(image, used_end)`.
/// `nodes[i]` is graph node `i`'s number ([`assign_nodes`]); `vector(i)` and `tids(i)` its
/// stored vector and heap rows.
pub fn write_build<'v>(
    layout: &HnswLayout,
    graph: &Graph,
    nodes: &[u32],
    vector: impl Fn(u32) -> &'v [u8],
    tids: impl Fn(u32) -> &'v [Tid],
    mut emit: impl FnMut(&[u8], usize),
) {
    let Some(&last) = nodes.last() else {
        return;
    };
    let per_seg = layout.per_seg as u32;
    let mut graph_page = vec![0u8; PAGE_SIZE];
    let mut vec_pages = vec![vec![0u8; PAGE_SIZE]; layout.vec_pages];
    let mut ends = vec![layout.vector_page_end(); layout.vec_pages];
    let mut i = 0usize; // next graph node
    let mut links = Vec::new();
    for s in 0..=last / per_seg {
        init_page(&mut graph_page);
        layout.init_graph_page(&mut graph_page);
        for p in vec_pages.iter_mut() {
            init_page(p);
            layout.init_vector_page(p);
        }
        ends.fill(layout.vector_page_end());
        let mut packer = Packer::new();
        while i < nodes.len() && nodes[i] / per_seg == s {
            let n = nodes[i];
            let level = graph.level(i as u32);
            layout.write_new_record(&mut graph_page, n, level, tids(i as u32));
            for l in 0..=level {
                links.clear();
                links.extend(
                    graph
                        .neighbours(i as u32, l)
                        .iter()
                        .map(|&x| nodes[x as usize]),
                );
                layout.set_neighbours(&mut graph_page, n, l, &links);
            }
            if let Some(k) = graph.kept(i as u32) {
                layout.set_kept(&mut graph_page, n, k);
            }
            let v = vector(i as u32);
            if layout.variable {
                let (p, off) = packer.place(v.len());
                assert!(p < layout.vec_pages, "vec_pages_for sized the segments");
                vec_pages[p][off..off + v.len()].copy_from_slice(v);
                ends[p] = off + v.len();
                let block = layout.graph_block(n) + 1 + p as u32;
                layout.set_vector_place(&mut graph_page, n, block, off, v.len());
                i += 1;
                continue;
            }
            let (block, off) = layout.vector_at(n);
            let first = (block - layout.graph_block(n) - 1) as usize;
            if layout.pages_per_vec == 1 {
                vec_pages[first][off..off + v.len()].copy_from_slice(v);
            } else {
                for c in 0..layout.pages_per_vec {
                    let start = c * layout.chunk_bytes();
                    let len = layout.chunk_len(c);
                    vec_pages[first + c][off..off + len].copy_from_slice(&v[start..start + len]);
                }
            }
            i += 1;
        }
        emit(&graph_page, HnswLayout::upper_end(&graph_page));
        for (p, &end) in vec_pages.iter().zip(&ends) {
            emit(p, end);
        }
    }
}

#[cfg(test)]
mod tests;
