//! Per-backend memory of things derived from an index's pages (buffer hints, centroids),
//! kept between scans: a short list of entries, most recently returned last, bounded in count
//! and bytes. An entry is taken out while a scan uses it and put back when it ends, so two live
//! scans never share one. Keys name the relation file (`relfilenode`) plus, where the content
//! can change within one file, a stamp: REINDEX, TRUNCATE and an unlogged index's reset after a
//! crash all give a new file.

use std::cell::RefCell;
use std::thread::LocalKey;

use pgrx::pg_sys;

/// Tablespace, database, relation file, owning backend (temporary relations; −1 for the
/// others: a temporary and a permanent file may share a number), and a stamp (0 where none
/// is needed).
pub type CacheKey = (u32, u32, u32, i32, u64);

pub fn cache_key(rel: pg_sys::Relation, stamp: u64) -> CacheKey {
    let (node, backend) = unsafe { ((*rel).rd_node, (*rel).rd_backend) };
    (
        node.spcNode.to_u32(),
        node.dbNode.to_u32(),
        node.relNode.to_u32(),
        backend,
        stamp,
    )
}

/// A cache's storage: `thread_local! { static X: Entries<T> = const { Entries::new() }; }`.
pub struct Entries<T>(RefCell<Vec<(CacheKey, T)>>);

impl<T> Entries<T> {
    pub const fn new() -> Self {
        Entries(RefCell::new(Vec::new()))
    }
}

impl<T> Default for Entries<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Take the entry for `key` out of `cache`, if there is one.
pub fn take<T>(cache: &'static LocalKey<Entries<T>>, key: CacheKey) -> Option<T> {
    cache.with(|c| {
        let mut all = c.0.borrow_mut();
        let i = all.iter().position(|(k, _)| *k == key)?;
        Some(all.remove(i).1)
    })
}

/// Keep `value` under `key`, then drop the least recently returned entries beyond `max`
/// entries or `budget` bytes (as `bytes` counts them; the newest entry always stays).
pub fn put_back<T>(
    cache: &'static LocalKey<Entries<T>>,
    key: CacheKey,
    value: T,
    max: usize,
    budget: usize,
    bytes: impl Fn(&T) -> usize,
) {
    cache.with(|c| {
        let mut all = c.0.borrow_mut();
        all.retain(|(k, _)| *k != key);
        all.push((key, value));
        let mut total: usize = all.iter().map(|(_, v)| bytes(v)).sum();
        while all.len() > max || (total > budget && all.len() > 1) {
            total -= bytes(&all.remove(0).1);
        }
    })
}
