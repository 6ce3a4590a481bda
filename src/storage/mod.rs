//! Typed page access over Postgres buffers, with RAII guards.
//!
//! * [`PageRead`]: pin + share lock; released on drop.
//! * [`WalWrite`]: exclusive locks on up to four pages + one GenericXLog record. Changes are
//!   made to GenericXLog's copies and reach the buffers, WAL-logged, only in
//!   [`WalWrite::commit`]. Dropped without commit (an error, a panic, an early return) the
//!   record is aborted and the pages are untouched, so no page ever changes without WAL.
//!   [`WalWrite::extend`] adds a new page under the relation extension lock, logged as a full
//!   image.
//! * [`BulkPage`]: a new page filled during CREATE INDEX without WAL; the build then logs
//!   every page once with `log_newpage_range` ([`log_all_pages`]).
//!
//! Page formats themselves are plain byte layouts in `vector_core::pages`; a guard
//! hands out the page as `&[u8]` / `&mut [u8]` of `BLCKSZ` bytes.
//!
//! **On the error path guards leave their locks and pins alone.** An ERROR raised inside
//! Postgres resets `InterruptHoldoffCount` to 0 before pgrx turns it into an unwind; releasing
//! an LWLock then would drive the count negative (an assertion failure on a cassert build, and
//! on any build a backend that ignores cancel requests from then on). Transaction (or
//! subtransaction) abort releases them all anyway: `LWLockReleaseAll` and the resource owner.
//!
//! **WAL is decided once, from `RelationNeedsWAL`.** GenericXLog checks it itself; the bulk
//! build's `log_newpage_range` goes through [`needs_wal`]: with `wal_level = minimal` a
//! relation file created in this transaction gets no WAL (it is fsynced at commit instead),
//! and page images logged anyway would be replayed over the newer pages after a crash.

use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::pages::{Meta, MetaError, PAGE_HEADER, PAGE_SIZE};
use vector_core::store::{PageStore, Record, Span};

use crate::types::error_with_detail;

pub mod backend_cache;

pub type BlockNumber = pg_sys::BlockNumber;
pub const META_BLOCK: BlockNumber = 0;

const BUFFER_LOCK_UNLOCK: i32 = 0;
const BUFFER_LOCK_SHARE: i32 = 1;
const BUFFER_LOCK_EXCLUSIVE: i32 = 2;

/// A pinned, share-locked page.
pub struct PageRead {
    buf: pg_sys::Buffer,
}

impl PageRead {
    pub fn new(rel: pg_sys::Relation, block: BlockNumber) -> Self {
        Self::with_strategy(rel, block, std::ptr::null_mut())
    }

    /// Read through a buffer access strategy (a ring for bulk scans, so they do not evict
    /// the rest of shared buffers).
    pub fn with_strategy(
        rel: pg_sys::Relation,
        block: BlockNumber,
        strategy: pg_sys::BufferAccessStrategy,
    ) -> Self {
        unsafe {
            let buf = pg_sys::ReadBufferExtended(
                rel,
                pg_sys::ForkNumber::MAIN_FORKNUM,
                block,
                pg_sys::ReadBufferMode::RBM_NORMAL,
                strategy,
            );
            pg_sys::LockBuffer(buf, BUFFER_LOCK_SHARE);
            PageRead { buf }
        }
    }

    /// Like [`PageRead::new`], trying first the buffer that held this block last time
    /// (`ReadRecentBuffer` pins it without the buffer-mapping lookup if it still does).
    pub fn with_hint(
        rel: pg_sys::Relation,
        block: BlockNumber,
        hint: pg_sys::Buffer,
        strategy: &Strategy,
    ) -> Self {
        unsafe {
            if hint != 0
                && pg_sys::ReadRecentBuffer(
                    (*rel).rd_node,
                    pg_sys::ForkNumber::MAIN_FORKNUM,
                    block,
                    hint,
                )
            {
                pg_sys::LockBuffer(hint, BUFFER_LOCK_SHARE);
                return PageRead { buf: hint };
            }
        }
        Self::with_strategy(rel, block, strategy.0)
    }

    pub fn buffer(&self) -> pg_sys::Buffer {
        self.buf
    }

    pub fn bytes(&self) -> &[u8] {
        unsafe {
            std::slice::from_raw_parts(pg_sys::BufferGetPage(self.buf) as *const u8, PAGE_SIZE)
        }
    }
}

/// A buffer access strategy for one scan: a small ring of buffers (Postgres' bulk-read
/// strategy, as a sequential scan uses) when the scan reads more than a quarter of shared
/// buffers, so one big scan does not evict everything else; none otherwise.
pub struct Strategy(pg_sys::BufferAccessStrategy);

impl Strategy {
    pub fn for_scan(rel: pg_sys::Relation, pages: u64) -> Strategy {
        unsafe {
            let big = !is_temp(rel) && pages > (pg_sys::NBuffers / 4).max(1) as u64;
            Strategy(if big {
                pg_sys::GetAccessStrategy(pg_sys::BufferAccessStrategyType::BAS_BULKREAD)
            } else {
                std::ptr::null_mut()
            })
        }
    }
}

impl Drop for Strategy {
    fn drop(&mut self) {
        if !self.0.is_null() && !unwinding() {
            unsafe { pg_sys::FreeAccessStrategy(self.0) } // else freed with its memory context
        }
    }
}

fn is_temp(rel: pg_sys::Relation) -> bool {
    unsafe { (*(*rel).rd_rel).relpersistence == pg_sys::RELPERSISTENCE_TEMP as std::ffi::c_char }
}

/// How many pages one scan of `rel` may keep pinned (and share-locked) at once: its share of
/// the buffer pool, so many concurrent scans on a small `shared_buffers` (or a temporary table
/// with a small `temp_buffers`, whose heap pages need local buffers too) never run out.
pub fn pin_budget(rel: pg_sys::Relation) -> usize {
    unsafe {
        let share = if is_temp(rel) {
            pg_sys::num_temp_buffers / 4
        } else {
            let backends = pg_sys::MaxBackends + pg_sys::NUM_AUXILIARY_PROCS as i32;
            pg_sys::NBuffers / backends.max(1) / 2
        };
        share.max(1) as usize
    }
}

/// Per-backend memory of which shared buffer held each block of an index at its last full
/// scan. Only hints: a stale one is detected and skipped.
pub struct BufferHints {
    key: backend_cache::CacheKey,
    hints: Vec<pg_sys::Buffer>,
}

thread_local! {
    static HINTS: backend_cache::Entries<Vec<pg_sys::Buffer>> = const { backend_cache::Entries::new() };
}

impl BufferHints {
    /// Take the hints for `rel` (empty if none), sized for at least `blocks` blocks.
    pub fn take(rel: pg_sys::Relation, blocks: usize) -> BufferHints {
        let key = backend_cache::cache_key(rel, 0);
        let mut hints = backend_cache::take(&HINTS, key).unwrap_or_default();
        if hints.len() < blocks {
            hints.resize(blocks, 0);
        }
        BufferHints { key, hints }
    }

    pub fn get(&self, i: usize) -> pg_sys::Buffer {
        self.hints.get(i).copied().unwrap_or(0)
    }

    /// Remember `buf` for block `i` (growing the hints past the size they were taken with:
    /// an index being inserted into gains blocks while it is read).
    pub fn set(&mut self, i: usize, buf: pg_sys::Buffer) {
        if i >= self.hints.len() {
            self.hints.resize(i + 1, 0);
        }
        self.hints[i] = buf;
    }

    /// Keep the hints for the next scan (a few indexes at most).
    pub fn put_back(self) {
        let bytes = |h: &Vec<pg_sys::Buffer>| h.len() * 4;
        backend_cache::put_back(&HINTS, self.key, self.hints, 8, usize::MAX, bytes);
    }
}

impl Drop for PageRead {
    fn drop(&mut self) {
        if unwinding() {
            return; // abort releases the lock and the pin (see the module comment)
        }
        unsafe { pg_sys::UnlockReleaseBuffer(self.buf) }
    }
}

impl std::ops::Deref for PageRead {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes()
    }
}

/// An index relation as the page store the core algorithms run on: reads are [`PageRead`]s,
/// records [`WalWrite`]s (GenericXLog).
#[derive(Clone, Copy)]
pub struct RelStore(pub pg_sys::Relation);

impl PageStore for RelStore {
    type Page<'a> = PageRead;
    type Record<'a> = WalWrite;

    fn blocks(&self) -> u32 {
        block_count(self.0)
    }

    fn read(&self, block: u32) -> PageRead {
        PageRead::new(self.0, block)
    }

    fn record(&self) -> WalWrite {
        WalWrite::start(self.0)
    }
}

impl Record for WalWrite {
    fn lock(&mut self, block: u32) -> usize {
        WalWrite::lock(self, block)
    }
    fn extend(&mut self) -> usize {
        WalWrite::extend(self, pg_sys::ForkNumber::MAIN_FORKNUM)
    }
    fn overwrite_or_extend(&mut self, block: u32) -> usize {
        WalWrite::overwrite_or_extend(self, block)
    }
    fn block(&self, i: usize) -> u32 {
        WalWrite::block(self, i)
    }
    fn is_new(&self, i: usize) -> bool {
        WalWrite::is_new(self, i)
    }
    fn init(&mut self, i: usize) {
        WalWrite::init(self, i)
    }
    fn page(&self, i: usize) -> &[u8] {
        WalWrite::page(self, i)
    }
    fn page_mut(&mut self, i: usize) -> &mut [u8] {
        WalWrite::page_mut(self, i)
    }
    fn set_used_end(&mut self, i: usize, end: usize) {
        WalWrite::set_used_end(self, i, end)
    }
    fn commit(self) {
        WalWrite::commit(self)
    }
}

/// An index as a page store, like [`RelStore`], whose reads go first to the buffer that held
/// each block at this backend's last read of it ([`BufferHints`]): a graph search reads a few
/// hundred scattered pages per query, and `ReadRecentBuffer` pins a page still in its buffer
/// without the buffer-mapping lookup that otherwise costs as much as the distances. The hints
/// are put back for the next scan when the store is dropped.
pub struct HintedStore {
    rel: pg_sys::Relation,
    hints: std::cell::RefCell<Option<BufferHints>>,
    none: Strategy,
    pins: usize,
}

impl HintedStore {
    pub fn new(rel: pg_sys::Relation) -> HintedStore {
        HintedStore {
            rel,
            // Sized as blocks are read (no relation size lookup per scan).
            hints: std::cell::RefCell::new(Some(BufferHints::take(rel, 0))),
            none: Strategy(std::ptr::null_mut()),
            pins: pin_budget(rel).max(1),
        }
    }
}

impl Drop for HintedStore {
    fn drop(&mut self) {
        if let Some(h) = self.hints.get_mut().take() {
            if !unwinding() {
                h.put_back();
            }
        }
    }
}

impl PageStore for HintedStore {
    type Page<'a> = PageRead;
    type Record<'a> = WalWrite;

    fn blocks(&self) -> u32 {
        block_count(self.rel)
    }

    fn read(&self, block: u32) -> PageRead {
        let mut hints = self.hints.borrow_mut();
        let hints = hints.as_mut().expect("hints are there until drop");
        let page = PageRead::with_hint(self.rel, block, hints.get(block as usize), &self.none);
        hints.set(block as usize, page.buffer());
        page
    }

    fn record(&self) -> WalWrite {
        WalWrite::start(self.rel)
    }

    /// Pin every page of a batch first (no lock yet), start the CPU loading each span, then
    /// lock and read the pages one at a time: one page lock at a time, as everywhere, so
    /// readers never wait on each other's writers in a cycle. The buffer headers a batch will
    /// pin are prefetched too: a pin is an atomic update of a header that is, in a big buffer
    /// pool, rarely in the CPU cache.
    fn read_spans(&self, spans: &[Span], f: &mut dyn FnMut(usize, &[u8])) {
        let batch = self.pins.min(MAX_BATCH_PINS);
        let mut blocks: Vec<(u32, pg_sys::Buffer)> = Vec::with_capacity(batch);
        let mut pins: Vec<Pin> = Vec::with_capacity(batch);
        let mut i = 0;
        while i < spans.len() {
            // The next `batch` distinct pages from span `i` on, and their hints.
            let mut held = self.hints.borrow_mut();
            let hints = held.as_mut().expect("hints are there until drop");
            blocks.clear();
            let mut end = i;
            while end < spans.len() {
                let block = spans[end].block;
                if blocks.last().is_none_or(|&(b, _)| b != block) {
                    if blocks.len() == batch {
                        break;
                    }
                    let hint = hints.get(block as usize);
                    if hint > 0 {
                        prefetch_header(hint);
                    }
                    blocks.push((block, hint));
                }
                end += 1;
            }
            let mut s = i;
            for &(block, hint) in &blocks {
                let buf = pin_with_hint(self.rel, block, hint);
                hints.set(block as usize, buf);
                pins.push(Pin { buf, block });
                let page = unsafe { pg_sys::BufferGetPage(buf) } as *const u8;
                while s < end && spans[s].block == block {
                    let span = spans[s];
                    vector_core::store::prefetch(page.wrapping_add(span.offset), span.len);
                    s += 1;
                }
            }
            drop(held);
            for pin in pins.drain(..) {
                unsafe { pg_sys::LockBuffer(pin.buf, BUFFER_LOCK_SHARE) };
                let page = unsafe {
                    std::slice::from_raw_parts(
                        pg_sys::BufferGetPage(pin.buf) as *const u8,
                        PAGE_SIZE,
                    )
                };
                while i < end && spans[i].block == pin.block {
                    let span = spans[i];
                    f(i, &page[span.offset..span.offset + span.len]);
                    i += 1;
                }
                unsafe { pg_sys::LockBuffer(pin.buf, BUFFER_LOCK_UNLOCK) };
            }
        }
    }
}

/// Pages one [`PageStore::read_spans`] batch keeps pinned at most: 7 stays within the
/// backend's array of pin counts (8 entries; more spill into a hash table, which costs more
/// than the overlap gains), and below the store's share of the buffer pool ([`pin_budget`]).
const MAX_BATCH_PINS: usize = 7;

/// Start loading shared buffer `buf`'s header into the CPU cache.
fn prefetch_header(buf: pg_sys::Buffer) {
    unsafe {
        let header = pg_sys::BufferDescriptors.wrapping_add(buf as usize - 1);
        vector_core::store::prefetch(header as *const u8, 64);
    }
}

/// A pinned (not locked) buffer, unpinned on drop.
struct Pin {
    buf: pg_sys::Buffer,
    block: u32,
}

impl Drop for Pin {
    fn drop(&mut self) {
        if !unwinding() {
            unsafe { pg_sys::ReleaseBuffer(self.buf) }
        }
    }
}

/// Pin `block`, through buffer `hint` if it still holds it.
fn pin_with_hint(
    rel: pg_sys::Relation,
    block: BlockNumber,
    hint: pg_sys::Buffer,
) -> pg_sys::Buffer {
    unsafe {
        if hint != 0
            && pg_sys::ReadRecentBuffer(
                (*rel).rd_node,
                pg_sys::ForkNumber::MAIN_FORKNUM,
                block,
                hint,
            )
        {
            return hint;
        }
        pg_sys::ReadBufferExtended(
            rel,
            pg_sys::ForkNumber::MAIN_FORKNUM,
            block,
            pg_sys::ReadBufferMode::RBM_NORMAL,
            std::ptr::null_mut(),
        )
    }
}

/// True while an error unwinds through our frames: locks and pins are then left to abort.
fn unwinding() -> bool {
    std::thread::panicking()
}

/// Up to four exclusively locked pages changed under one GenericXLog record: either every
/// change lands, WAL-logged, in [`WalWrite::commit`], or (on drop without commit: an error, a
/// panic, an early return) the record is aborted and no page changes.
pub struct WalWrite {
    rel: pg_sys::Relation,
    state: *mut pg_sys::GenericXLogState,
    bufs: Vec<(pg_sys::Buffer, pg_sys::Page)>,
}

impl WalWrite {
    pub fn start(rel: pg_sys::Relation) -> Self {
        WalWrite {
            rel,
            state: unsafe { pg_sys::GenericXLogStart(rel) },
            bufs: Vec::with_capacity(4),
        }
    }

    /// Lock an existing page for change; returns its index in this record. A page that is
    /// still all zeroes (extended by a change whose WAL never reached disk) is logged as a full
    /// image: replay must not depend on a block that WAL never created.
    pub fn lock(&mut self, block: BlockNumber) -> usize {
        unsafe {
            let buf = read_exclusive(self.rel, block);
            let header = pg_sys::BufferGetPage(buf) as *const pg_sys::PageHeaderData;
            let flags = if (*header).pd_upper == 0 {
                pg_sys::GENERIC_XLOG_FULL_IMAGE as i32
            } else {
                0
            };
            self.register(buf, flags)
        }
    }

    /// Append a new page to `fork`, initialised (`PageInit`) and logged as a full image.
    pub fn extend(&mut self, fork: pg_sys::ForkNumber::Type) -> usize {
        unsafe {
            let buf = extend_locked(self.rel, fork);
            let i = self.register(buf, pg_sys::GENERIC_XLOG_FULL_IMAGE as i32);
            pg_sys::PageInit(self.bufs[i].1, PAGE_SIZE, 0);
            i
        }
    }

    /// Block `block` of the main fork as a new empty page logged as a full image: an existing
    /// block is overwritten whatever it holds, the block after the last one is appended.
    pub fn overwrite_or_extend(&mut self, block: BlockNumber) -> usize {
        let blocks = block_count(self.rel);
        assert!(
            block <= blocks,
            "block {block} is beyond the end ({blocks})"
        );
        if block == blocks {
            return self.extend(pg_sys::ForkNumber::MAIN_FORKNUM);
        }
        unsafe {
            let buf = read_exclusive(self.rel, block);
            let i = self.register(buf, pg_sys::GENERIC_XLOG_FULL_IMAGE as i32);
            pg_sys::PageInit(self.bufs[i].1, PAGE_SIZE, 0);
            i
        }
    }

    unsafe fn register(&mut self, buf: pg_sys::Buffer, flags: i32) -> usize {
        assert!(
            self.bufs.len() < 4,
            "a GenericXLog record holds at most 4 pages"
        );
        let page = pg_sys::GenericXLogRegisterBuffer(self.state, buf, flags);
        self.bufs.push((buf, page));
        self.bufs.len() - 1
    }

    pub fn block(&self, i: usize) -> BlockNumber {
        unsafe { pg_sys::BufferGetBlockNumber(self.bufs[i].0) }
    }

    /// True for a page that was never initialised (all zeroes).
    pub fn is_new(&self, i: usize) -> bool {
        unsafe { (*(self.bufs[i].1 as *const pg_sys::PageHeaderData)).pd_upper == 0 }
    }

    /// Initialise page `i` as an empty page.
    pub fn init(&mut self, i: usize) {
        unsafe { pg_sys::PageInit(self.bufs[i].1, PAGE_SIZE, 0) }
    }

    pub fn page(&self, i: usize) -> &[u8] {
        unsafe { std::slice::from_raw_parts(self.bufs[i].1 as *const u8, PAGE_SIZE) }
    }

    pub fn page_mut(&mut self, i: usize) -> &mut [u8] {
        unsafe { std::slice::from_raw_parts_mut(self.bufs[i].1 as *mut u8, PAGE_SIZE) }
    }

    /// Declare how far page `i`'s content reaches (`pd_lower`), so WAL and checksums cover it.
    pub fn set_used_end(&mut self, i: usize, end: usize) {
        unsafe { set_pd_lower(self.bufs[i].1, end) }
    }

    /// Write the record and release the pages.
    pub fn commit(mut self) {
        unsafe { pg_sys::GenericXLogFinish(self.state) };
        self.state = std::ptr::null_mut();
    }
}

impl Drop for WalWrite {
    fn drop(&mut self) {
        unsafe {
            if !self.state.is_null() {
                pg_sys::GenericXLogAbort(self.state); // frees the copies; the pages are untouched
            }
            if unwinding() {
                return; // abort releases the locks and pins
            }
            for (buf, _) in self.bufs.drain(..) {
                pg_sys::UnlockReleaseBuffer(buf);
            }
        }
    }
}

/// A new page written during a bulk build, without WAL: the build WAL-logs the whole relation
/// at the end with [`log_all_pages`]. Marked dirty and released on drop.
pub struct BulkPage {
    buf: pg_sys::Buffer,
}

impl BulkPage {
    pub fn extend(rel: pg_sys::Relation) -> Self {
        unsafe {
            let buf = extend_locked(rel, pg_sys::ForkNumber::MAIN_FORKNUM);
            pg_sys::PageInit(pg_sys::BufferGetPage(buf), PAGE_SIZE, 0);
            BulkPage { buf }
        }
    }

    /// An existing page of a relation being built, locked for change without WAL.
    pub fn existing(rel: pg_sys::Relation, block: BlockNumber) -> Self {
        BulkPage {
            buf: unsafe { read_exclusive(rel, block) },
        }
    }

    /// Append a page holding `image` (all of it after the page header), its content reaching
    /// `used_end`; returns its block.
    pub fn append_image(rel: pg_sys::Relation, image: &[u8], used_end: usize) -> BlockNumber {
        let mut page = BulkPage::extend(rel);
        page.page_mut()[PAGE_HEADER..].copy_from_slice(&image[PAGE_HEADER..]);
        page.set_used_end(used_end);
        page.block()
    }

    pub fn block(&self) -> BlockNumber {
        unsafe { pg_sys::BufferGetBlockNumber(self.buf) }
    }

    pub fn page_mut(&mut self) -> &mut [u8] {
        unsafe {
            std::slice::from_raw_parts_mut(pg_sys::BufferGetPage(self.buf) as *mut u8, PAGE_SIZE)
        }
    }

    pub fn set_used_end(&mut self, end: usize) {
        unsafe { set_pd_lower(pg_sys::BufferGetPage(self.buf), end) }
    }
}

impl Drop for BulkPage {
    fn drop(&mut self) {
        if unwinding() {
            return; // the build fails and its relation file goes away with the transaction
        }
        unsafe {
            pg_sys::MarkBufferDirty(self.buf);
            pg_sys::UnlockReleaseBuffer(self.buf);
        }
    }
}

/// Block `block` of the main fork, pinned and exclusively locked.
unsafe fn read_exclusive(rel: pg_sys::Relation, block: BlockNumber) -> pg_sys::Buffer {
    let buf = pg_sys::ReadBufferExtended(
        rel,
        pg_sys::ForkNumber::MAIN_FORKNUM,
        block,
        pg_sys::ReadBufferMode::RBM_NORMAL,
        std::ptr::null_mut(),
    );
    pg_sys::LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
    buf
}

/// A new buffer at the end of `fork`, exclusively locked, allocated under the relation
/// extension lock.
unsafe fn extend_locked(rel: pg_sys::Relation, fork: pg_sys::ForkNumber::Type) -> pg_sys::Buffer {
    pg_sys::LockRelationForExtension(rel, pg_sys::ExclusiveLock as i32);
    let buf = pg_sys::ReadBufferExtended(
        rel,
        fork,
        pg_sys::InvalidBlockNumber,
        pg_sys::ReadBufferMode::RBM_NORMAL,
        std::ptr::null_mut(),
    );
    pg_sys::LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
    pg_sys::UnlockRelationForExtension(rel, pg_sys::ExclusiveLock as i32);
    buf
}

unsafe fn set_pd_lower(page: pg_sys::Page, end: usize) {
    debug_assert!(end <= PAGE_SIZE);
    (*(page as *mut pg_sys::PageHeaderData)).pd_lower = end as u16;
}

/// Blocks in the relation's main fork.
pub fn block_count(rel: pg_sys::Relation) -> BlockNumber {
    unsafe { pg_sys::RelationGetNumberOfBlocksInFork(rel, pg_sys::ForkNumber::MAIN_FORKNUM) }
}

/// Turn a meta-page decoding error into a clear SQL error.
pub fn check_meta(result: Result<Meta, MetaError>, rel: pg_sys::Relation) -> Meta {
    let name = unsafe { relation_name(rel) };
    match result {
        Ok(m) => m,
        Err(MetaError::Version(v)) => error_with_detail(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!(
                "index \"{name}\" has on-disk format version {v}, this build reads version {}",
                vector_core::pages::FORMAT_VERSION
            ),
            format!("Run REINDEX INDEX \"{name}\" to rebuild it."),
        ),
        Err(_) => error_with_detail(
            PgSqlErrorCode::ERRCODE_INDEX_CORRUPTED,
            format!("index \"{name}\" has no valid vector_ext meta page"),
            format!("Run REINDEX INDEX \"{name}\" to rebuild it."),
        ),
    }
}

/// Write the meta page of a relation being built (block 0, already allocated), without WAL.
pub fn write_meta_unlogged(rel: pg_sys::Relation, meta: &Meta) {
    let mut page = BulkPage::existing(rel, META_BLOCK);
    meta.write(page.page_mut());
    page.set_used_end(Meta::END);
}

pub fn read_meta(rel: pg_sys::Relation) -> Meta {
    let page = PageRead::new(rel, META_BLOCK);
    check_meta(Meta::read(page.bytes()), rel)
}

/// # Safety
/// `rel` is an open relation.
pub unsafe fn relation_name(rel: pg_sys::Relation) -> String {
    std::ffi::CStr::from_ptr((*(*rel).rd_rel).relname.data.as_ptr())
        .to_string_lossy()
        .into_owned()
}

/// WAL-log every page of an unlogged index's init fork. GenericXLog writes no WAL for
/// unlogged relations, yet the init fork is what the index is reset to after a crash and what
/// a standby gets, so it must be logged explicitly (as Postgres' own AMs do).
pub fn log_init_fork(rel: pg_sys::Relation) {
    unsafe {
        let fork = pg_sys::ForkNumber::INIT_FORKNUM;
        let blocks = pg_sys::RelationGetNumberOfBlocksInFork(rel, fork);
        pg_sys::log_newpage_range(rel, fork, 0, blocks, true);
    }
}

/// Postgres' `RelationNeedsWAL`: a permanent relation, unless `wal_level = minimal` and its
/// file was created (or truncated to a new file) in the current transaction.
pub fn needs_wal(rel: pg_sys::Relation) -> bool {
    unsafe {
        let permanent =
            (*(*rel).rd_rel).relpersistence == pg_sys::RELPERSISTENCE_PERMANENT as std::ffi::c_char;
        let xlog_needed = pg_sys::wal_level >= pg_sys::WalLevel::WAL_LEVEL_REPLICA as i32;
        const INVALID_SUBXID: pg_sys::SubTransactionId = 0; // InvalidSubTransactionId
        let new_in_transaction = (*rel).rd_createSubid != INVALID_SUBXID
            || (*rel).rd_firstRelfilenodeSubid != INVALID_SUBXID;
        permanent && (xlog_needed || !new_in_transaction)
    }
}

/// WAL-log every page of a relation built without WAL (bulk build), for crash recovery and
/// standbys, when the relation needs WAL at all ([`needs_wal`]).
pub fn log_all_pages(rel: pg_sys::Relation) {
    unsafe {
        if needs_wal(rel) {
            pg_sys::log_newpage_range(
                rel,
                pg_sys::ForkNumber::MAIN_FORKNUM,
                0,
                block_count(rel),
                true,
            );
        }
    }
}
