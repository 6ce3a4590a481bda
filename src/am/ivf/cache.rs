//! Per-backend memory of an ivfflat index's immutable parts: its centroids and the block
//! sequence of each list's page chain, with the shared buffer each block was last found in.
//!
//! What makes caching safe:
//! - Centroids never change after a build. Every build writes a fresh nonzero *stamp* into the
//!   meta page (`extra[1]`), and an entry is used only for the same relation file and stamp;
//!   REINDEX, TRUNCATE and an unlogged index's reset after a crash all change one of the two.
//! - A page's `next` link is written once, when the page is created: inserts link new pages in
//!   at the head, VACUUM frees slots but never unlinks pages. So the chain that starts at a
//!   given head block is fixed forever, and a list whose directory entry names a new head only
//!   needs the new pages walked, up to the old head.
//! - Buffer numbers are hints: `PageRead::with_hint` checks the buffer still holds the block.
//!
//! A scan takes its index's entry out of the cache and puts it back when it ends (or when its
//! memory context goes), so entries are never shared between two live scans.

use pgrx::pg_sys;

use crate::storage::backend_cache::{self, cache_key, CacheKey, Entries};

/// One list's chain: blocks in chain order, from `head`.
#[derive(Default)]
pub struct Chain {
    pub head: u32,
    pub blocks: Vec<u32>,
    pub hints: Vec<pg_sys::Buffer>,
}

pub struct IvfCache {
    key: CacheKey,
    pub centroids: Vec<f32>,
    /// Indexed by list; `None` until a scan walks the list.
    pub chains: Vec<Option<Chain>>,
    /// RaBitQ: each centroid rotated as the codes are (empty until a scan needs it).
    rotated: Vec<Vec<f32>>,
}

thread_local! {
    static CACHE: Entries<IvfCache> = const { Entries::new() };
}

/// Indexes remembered per backend, and the memory they may take together (least recently used
/// dropped first). An index whose centroids alone exceed a quarter of the budget (e.g. 32768
/// lists of 2000 dimensions) is not kept: each scan reads its centroid pages again.
const ENTRIES: usize = 8;
const BUDGET_BYTES: usize = 256 << 20;

impl IvfCache {
    /// The entry for `rel` built with `stamp`, if this backend has one (taken out of the cache).
    /// Stamp 0 (an index with no fixed part yet) is never cached.
    pub fn take(rel: pg_sys::Relation, stamp: u64) -> Option<IvfCache> {
        if stamp == 0 {
            return None;
        }
        backend_cache::take(&CACHE, cache_key(rel, stamp))
    }

    /// A placeholder that is never cached.
    pub fn none() -> IvfCache {
        IvfCache {
            key: (0, 0, 0, 0, 0),
            centroids: Vec::new(),
            chains: Vec::new(),
            rotated: Vec::new(),
        }
    }

    pub fn new(rel: pg_sys::Relation, stamp: u64, centroids: Vec<f32>, lists: usize) -> IvfCache {
        IvfCache {
            key: cache_key(rel, stamp),
            centroids,
            chains: (0..lists).map(|_| None).collect(),
            rotated: vec![Vec::new(); lists],
        }
    }

    /// Memory held by this entry.
    fn bytes(&self) -> usize {
        let chains: usize = self
            .chains
            .iter()
            .flatten()
            .map(|c| c.blocks.len() * 8)
            .sum();
        let rotated: usize = self.rotated.iter().map(|r| r.len() * 4).sum();
        self.centroids.len() * 4
            + self.chains.len() * std::mem::size_of::<Option<Chain>>()
            + chains
            + rotated
    }

    /// Centroid `list` and the same rotated by `rotation` (computed on first use, then kept).
    pub fn centroid_and_rotated(
        &mut self,
        list: usize,
        dims: usize,
        rotation: &vector_core::rabitq::Rotation,
    ) -> (&[f32], &[f32]) {
        let centre = &self.centroids[list * dims..(list + 1) * dims];
        if self.rotated[list].is_empty() {
            rotation.apply(centre, &mut self.rotated[list]);
        }
        (centre, &self.rotated[list])
    }

    /// Keep this entry for later scans of the same index (within the memory budget).
    pub fn put_back(self) {
        if self.key.4 == 0 || self.centroids.len() * 4 > BUDGET_BYTES / 4 {
            return;
        }
        backend_cache::put_back(
            &CACHE,
            self.key,
            self,
            ENTRIES,
            BUDGET_BYTES,
            IvfCache::bytes,
        );
    }

    /// The chain of `list` whose directory entry now names `head`: from the cache, extended by
    /// walking the pages linked in since (`next_of(block)` reads a page's `next` link).
    pub fn chain(&mut self, list: usize, head: u32, next_of: impl FnMut(u32) -> u32) -> &mut Chain {
        let slot = &mut self.chains[list];
        let old = slot.take().unwrap_or_default();
        let known = (!old.blocks.is_empty()).then_some(old.head);
        let new = vector_core::am::ivf::new_chain_blocks(head, known, next_of);
        let mut chain = Chain {
            head,
            hints: vec![0; new.len()],
            blocks: new,
        };
        if known.is_some() {
            chain.blocks.extend_from_slice(&old.blocks);
            chain.hints.extend_from_slice(&old.hints);
        }
        slot.insert(chain)
    }
}
