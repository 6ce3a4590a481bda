//! The page store the index algorithms are written against.
//!
//! An index is a sequence of `PAGE_SIZE` pages. Algorithms read pages (share-locked while the
//! guard lives) and change them only inside a [`Record`]: up to four exclusively locked pages
//! whose changes land together, WAL-logged, at [`Record::commit`], or not at all (a record
//! dropped without commit changes nothing). That is the contract of Postgres' GenericXLog, which
//! the extension implements this trait over; [`MemStore`] implements it over plain memory for
//! tests, and can "crash" after any number of records to check that every multi-record
//! operation leaves a consistent index at every step.
//!
//! Extending the relation is immediate (as `smgrextend` is): a record that extends and is then
//! dropped, or lost in a crash, leaves an all-zero page behind. Algorithms must treat such
//! pages as unused.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ops::Deref;

use crate::pages::{init_page, is_new_page, PAGE_SIZE};

/// Pages of one index relation.
pub trait PageStore {
    type Page<'a>: Deref<Target = [u8]>
    where
        Self: 'a;
    type Record<'a>: Record
    where
        Self: 'a;

    /// Number of blocks.
    fn blocks(&self) -> u32;
    /// Block `block`, share-locked while the guard lives.
    fn read(&self, block: u32) -> Self::Page<'_>;
    /// Start a record (a WAL record: up to four pages changed atomically).
    fn record(&self) -> Self::Record<'_>;

    /// Read the byte ranges `spans` (block, offset, length; sorted by block), calling `f(i,
    /// bytes)` for each in order, every page share-locked while its spans are read. A store
    /// may first fetch all the pages and start loading the spans into the CPU cache, so that
    /// their memory latencies overlap instead of adding up (a graph search scores a node's
    /// neighbours, a few dozen scattered vectors, at once).
    fn read_spans(&self, spans: &[Span], f: &mut dyn FnMut(usize, &[u8])) {
        let mut i = 0;
        while i < spans.len() {
            let block = spans[i].block;
            let page = self.read(block);
            while i < spans.len() && spans[i].block == block {
                let s = spans[i];
                f(i, &page[s.offset..s.offset + s.len]);
                i += 1;
            }
        }
    }
}

/// A byte range of one page: what [`PageStore::read_spans`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub block: u32,
    pub offset: usize,
    pub len: usize,
}

/// Ask the CPU to start loading `len` bytes at `ptr` into its cache (a hint: nothing is read,
/// so the memory need not be locked or even valid).
#[inline]
pub fn prefetch(ptr: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let mut off = 0;
        while off < len {
            // SAFETY: prefetching never faults and reads nothing.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(ptr.wrapping_add(off) as *const i8) };
            off += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (ptr, len);
    }
}

/// Pages changed together: every change reaches the store at [`Record::commit`], none if the
/// record is dropped.
pub trait Record {
    /// Lock existing block `block` for change; returns its index in this record. (A page that
    /// is still all zeroes is logged as a full image.)
    fn lock(&mut self, block: u32) -> usize;
    /// Append a new, initialised page.
    fn extend(&mut self) -> usize;
    /// Block `block` as a new, initialised page: an existing block whatever it holds, or the
    /// block just past the end.
    fn overwrite_or_extend(&mut self, block: u32) -> usize;
    fn block(&self, i: usize) -> u32;
    /// True for a page never initialised (all zeroes).
    fn is_new(&self, i: usize) -> bool;
    /// Initialise page `i` as an empty page.
    fn init(&mut self, i: usize);
    fn page(&self, i: usize) -> &[u8];
    fn page_mut(&mut self, i: usize) -> &mut [u8];
    /// How far page `i`'s content reaches (`pd_lower`).
    fn set_used_end(&mut self, i: usize, end: usize);
    fn commit(self);
}

// ------------------------------------------------------------------ in memory

/// An in-memory page store for tests. Locks are tracked: a page locked for change twice at
/// once, or read while locked for change by the same thread, panics (Postgres would
/// self-deadlock). [`MemStore::crash_after`] drops every record committed after the first `n`.
#[derive(Default)]
pub struct MemStore {
    pages: RefCell<Vec<Box<[u8]>>>,
    /// Per block: readers (> 0) or a writer (-1).
    locks: RefCell<HashMap<u32, i32>>,
    committed: Cell<usize>,
    crash_after: Cell<Option<usize>>,
}

impl MemStore {
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// Records committed so far (including those a crash dropped).
    pub fn records(&self) -> usize {
        self.committed.get()
    }

    /// From now on, records after the first `n` in total are lost (`None`: none are).
    pub fn crash_after(&self, n: Option<usize>) {
        self.crash_after.set(n);
    }

    /// A copy of every page (the state a crash would leave).
    pub fn snapshot(&self) -> Vec<Box<[u8]>> {
        self.pages.borrow().clone()
    }

    pub fn from_pages(pages: Vec<Box<[u8]>>) -> MemStore {
        MemStore {
            pages: RefCell::new(pages),
            ..MemStore::default()
        }
    }

    fn take_lock(&self, block: u32, exclusive: bool) {
        let mut locks = self.locks.borrow_mut();
        let l = locks.entry(block).or_insert(0);
        if exclusive {
            assert_eq!(*l, 0, "block {block} locked for change while locked");
            *l = -1;
        } else {
            assert!(*l >= 0, "block {block} read while locked for change");
            *l += 1;
        }
    }

    fn release(&self, block: u32, exclusive: bool) {
        let mut locks = self.locks.borrow_mut();
        let l = locks.get_mut(&block).expect("lock held");
        if exclusive {
            *l = 0;
        } else {
            *l -= 1;
        }
    }

    fn new_block(&self) -> u32 {
        let mut pages = self.pages.borrow_mut();
        pages.push(vec![0u8; PAGE_SIZE].into_boxed_slice());
        (pages.len() - 1) as u32
    }
}

/// A share-locked page of a [`MemStore`] (a copy: the store may grow meanwhile).
pub struct MemPage<'a> {
    store: &'a MemStore,
    block: u32,
    bytes: Box<[u8]>,
}

impl Deref for MemPage<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for MemPage<'_> {
    fn drop(&mut self) {
        self.store.release(self.block, false);
    }
}

/// A record over a [`MemStore`]: copies of the locked pages, written back at commit.
pub struct MemRecord<'a> {
    store: &'a MemStore,
    pages: Vec<(u32, Vec<u8>)>,
}

impl MemRecord<'_> {
    fn add(&mut self, block: u32) -> usize {
        assert!(self.pages.len() < 4, "a record holds at most 4 pages");
        self.store.take_lock(block, true);
        let copy = self.store.pages.borrow()[block as usize].to_vec();
        self.pages.push((block, copy));
        self.pages.len() - 1
    }
}

impl Record for MemRecord<'_> {
    fn lock(&mut self, block: u32) -> usize {
        assert!(block < self.store.blocks(), "block {block} does not exist");
        self.add(block)
    }

    fn extend(&mut self) -> usize {
        let block = self.store.new_block();
        let i = self.add(block);
        self.init(i);
        i
    }

    fn overwrite_or_extend(&mut self, block: u32) -> usize {
        let blocks = self.store.blocks();
        assert!(block <= blocks, "block {block} beyond the end ({blocks})");
        if block == blocks {
            return self.extend();
        }
        let i = self.add(block);
        self.pages[i].1.fill(0);
        self.init(i);
        i
    }

    fn block(&self, i: usize) -> u32 {
        self.pages[i].0
    }

    fn is_new(&self, i: usize) -> bool {
        is_new_page(&self.pages[i].1)
    }

    fn init(&mut self, i: usize) {
        init_page(&mut self.pages[i].1);
    }

    fn page(&self, i: usize) -> &[u8] {
        &self.pages[i].1
    }

    fn page_mut(&mut self, i: usize) -> &mut [u8] {
        &mut self.pages[i].1
    }

    fn set_used_end(&mut self, i: usize, end: usize) {
        crate::pages::set_used_end(&mut self.pages[i].1, end);
    }

    fn commit(mut self) {
        let n = self.store.committed.get() + 1;
        self.store.committed.set(n);
        let lost = self.store.crash_after.get().is_some_and(|after| n > after);
        let pages = std::mem::take(&mut self.pages);
        for (block, copy) in pages {
            if !lost {
                self.store.pages.borrow_mut()[block as usize].copy_from_slice(&copy);
            }
            self.store.release(block, true);
        }
    }
}

impl Drop for MemRecord<'_> {
    fn drop(&mut self) {
        for (block, _) in self.pages.drain(..) {
            self.store.release(block, true);
        }
    }
}

impl PageStore for MemStore {
    type Page<'a> = MemPage<'a>;
    type Record<'a> = MemRecord<'a>;

    fn blocks(&self) -> u32 {
        self.pages.borrow().len() as u32
    }

    fn read(&self, block: u32) -> MemPage<'_> {
        assert!(block < self.blocks(), "block {block} does not exist");
        self.take_lock(block, false);
        MemPage {
            store: self,
            block,
            bytes: self.pages.borrow()[block as usize].clone(),
        }
    }

    fn record(&self) -> MemRecord<'_> {
        MemRecord {
            store: self,
            pages: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_all_or_nothing_and_crashes_drop_later_ones() {
        let s = MemStore::new();
        let mut w = s.record();
        let a = w.extend();
        w.page_mut(a)[100] = 7;
        w.commit();
        let mut w = s.record();
        let b = w.extend();
        w.page_mut(b)[100] = 8;
        drop(w); // aborted: the block exists, all zeroes
        assert_eq!(s.blocks(), 2);
        assert!(is_new_page(&s.read(1)));
        assert_eq!(s.read(0)[100], 7);
        s.crash_after(Some(1));
        let mut w = s.record();
        let p = w.lock(0);
        w.page_mut(p)[100] = 9;
        w.commit(); // lost
        assert_eq!(s.read(0)[100], 7);
        assert_eq!(s.records(), 2);
    }

    #[test]
    #[should_panic(expected = "locked for change while locked")]
    fn locking_a_page_twice_panics() {
        let s = MemStore::new();
        let mut w = s.record();
        w.extend();
        w.commit();
        let mut a = s.record();
        a.lock(0);
        let mut b = s.record();
        b.lock(0);
    }
}
