//! CREATE INDEX for ivfflat, in three phases reported in pg_stat_progress_create_index:
//! 1. sample rows (reservoir sampling over one heap scan) and train k-means on them;
//! 2. write the meta, centroid and directory pages;
//! 3. scan the heap again, assign rows to their nearest centroid in parallel batches, and
//!    append them to per-list page images, each written out (no WAL) when full and linked in at
//!    the head of its list's chain. Memory stays at one page per list plus one batch.
//! Then every page is WAL-logged once.

use std::sync::{mpsc, Arc};

use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::distance::Metric;
use vector_core::flat::{ElemKind, IndexKind, Meta, SlotLayout, Tid, PAGE_HEADER, PAGE_SIZE};
use vector_core::ivf::{write_entry, IvfLayout, ListEntry};
use vector_core::kmeans::{self, KMeansParams};

use super::{lists_option, spherical};
use crate::am::flat::item_pointer_to_tid;
use crate::am::{column_dims, dimension_mismatch, opclass_metric, RowContext};
use crate::storage::{check_meta, log_all_pages, log_init_fork, BulkPage, WalWrite, META_BLOCK};
use crate::types::error;

const PHASE_KMEANS: i64 = 2;
const PHASE_ASSIGN: i64 = 3;
const PHASE_LOAD: i64 = 4;
const BATCH: usize = 8192;

fn progress(param: u32, value: i64) {
    unsafe { pg_sys::pgstat_progress_update_param(param as i32, value) }
}

/// Phase 1 state: a uniform reservoir sample of the indexed vectors.
struct Sampler {
    elem: vector_core::flat::ElemKind,
    dims: usize,
    target: usize,
    /// Bytes the build may use (maintenance_work_mem) ...
    memory_limit: usize,
    /// ... of which the load phase's open page images (one per list) need this much.
    reserved: usize,
    seen: u64,
    /// Rows held (`rows.len() / dims`).
    filled: usize,
    rows: Vec<f32>,
    rng: u64,
    row_context: RowContext,
}

impl Sampler {
    fn next_random(&mut self) -> u64 {
        // splitmix64: deterministic, so a rebuild of the same table samples the same rows
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Count one more row and decide, before it is read, where the reservoir keeps it: append
    /// (`Some(None)`), replace row `j` (`Some(Some(j))`) or skip it (`None`, most rows of a big
    /// table — and then it is never detoasted).
    fn choose(&mut self) -> Option<Option<usize>> {
        self.seen += 1;
        if self.filled < self.target {
            return Some(None);
        }
        let j = (self.next_random() % self.seen) as usize;
        (j < self.target).then_some(Some(j))
    }

    fn store(&mut self, slot: Option<usize>, values: &[f32]) {
        if self.dims == 0 {
            self.dims = values.len();
        }
        if values.len() != self.dims {
            dimension_mismatch(self.dims as u32, values.len());
        }
        match slot {
            None => {
                if (self.rows.len() + self.dims) * 4 + self.reserved > self.memory_limit {
                    let needed = self.target * self.dims * 4 + self.reserved;
                    error(
                        PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                        format!(
                            "memory required is {} MB, maintenance_work_mem is {} MB",
                            needed / (1024 * 1024) + 1,
                            self.memory_limit / (1024 * 1024)
                        ),
                    );
                }
                self.rows.extend_from_slice(values);
                self.filled += 1;
            }
            Some(j) => self.rows[j * self.dims..(j + 1) * self.dims].copy_from_slice(values),
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn sample_callback(
    _index: pg_sys::Relation,
    _tid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    is_null: *mut bool,
    _alive: bool,
    state: *mut std::ffi::c_void,
) {
    if *is_null {
        return;
    }
    let s = &mut *(state as *mut Sampler);
    if let Some(slot) = s.choose() {
        let (elem, ctx) = (s.elem, s.row_context.get());
        RowContext::run(ctx, || {
            crate::am::with_datum(*values, elem, |v, _| s.store(slot, v))
        });
    }
    if s.seen % 4096 == 0 {
        pgrx::check_for_interrupts!();
    }
}

/// Phase 3 state: the batch of rows being collected, the previous batch being assigned on the
/// worker pool meanwhile, and one open page image per list.
struct Loader {
    elem: vector_core::flat::ElemKind,
    dims: usize,
    metric: Metric,
    index: pg_sys::Relation,
    slots: SlotLayout,
    centroids: Arc<Vec<f32>>,
    batch: Batch,
    /// The batch handed to the pool, and where its lists will arrive.
    assigning: Option<(Batch, mpsc::Receiver<Vec<u32>>)>,
    /// Per list: (page image, next free position).
    open: Vec<Option<(Vec<u8>, usize)>>,
    entries: Vec<ListEntry>,
    row_context: RowContext,
}

/// Rows collected for assignment: their values (f32), TIDs and stored bytes.
#[derive(Default)]
struct Batch {
    values: Vec<f32>,
    tids: Vec<Tid>,
    bytes: Vec<u8>,
}

impl Loader {
    fn add(&mut self, tid: Tid, values: &[f32], bytes: &[u8]) {
        if values.len() != self.dims {
            dimension_mismatch(self.dims as u32, values.len());
        }
        self.batch.values.extend_from_slice(values);
        self.batch.bytes.extend_from_slice(bytes);
        self.batch.tids.push(tid);
        if self.batch.tids.len() == BATCH {
            self.flush_batch();
        }
    }

    /// Hand the current batch to the worker pool (the backend goes on reading the heap while
    /// it is assigned), and write out the previous one.
    fn flush_batch(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        let (tx, rx) = mpsc::channel();
        let (values, centroids) = (batch.values, self.centroids.clone());
        let (dims, sph) = (self.dims, spherical(self.metric));
        crate::am::ensure_pool();
        // Owned inputs only: if the backend errors out meanwhile, the task just finishes.
        // A panic must not reach rayon's handler (it aborts the process): it drops `tx`, and
        // the backend reports an error.
        rayon::spawn(move || {
            let assign = || kmeans::assign(&values, dims, &centroids, sph);
            if let Ok(lists) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(assign)) {
                let _ = tx.send(lists);
            }
        });
        let batch = Batch {
            values: Vec::new(),
            tids: batch.tids,
            bytes: batch.bytes,
        };
        if let Some(previous) = self.assigning.replace((batch, rx)) {
            self.write_batch(previous);
        }
    }

    /// Wait for the batch being assigned (if any) and write it out.
    fn finish_batches(&mut self) {
        if !self.batch.tids.is_empty() {
            self.flush_batch();
        }
        if let Some(previous) = self.assigning.take() {
            self.write_batch(previous);
        }
    }

    fn write_batch(&mut self, (batch, rx): (Batch, mpsc::Receiver<Vec<u32>>)) {
        let lists = loop {
            match rx.recv_timeout(std::time::Duration::from_millis(50)) {
                Ok(lists) => break lists,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    pgrx::check_for_interrupts!();
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => error(
                    PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                    "ivfflat build: assignment worker failed".into(),
                ),
            }
        };
        let size = self.slots.vec_bytes;
        for ((tid, bytes), list) in batch
            .tids
            .iter()
            .zip(batch.bytes.chunks_exact(size))
            .zip(lists)
        {
            self.append(list as usize, *tid, bytes);
        }
        progress(
            pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE,
            self.entries.iter().map(|e| e.count as i64).sum(),
        );
        pgrx::check_for_interrupts!();
    }

    fn append(&mut self, list: usize, tid: Tid, bytes: &[u8]) {
        let slots = self.slots;
        if slots.pages_per_slot > 1 {
            // Chunk pages written last-first, so the chain reads chunk 0, 1, … from the head.
            let mut next = self.entries[list].head;
            for i in (0..slots.pages_per_slot).rev() {
                let mut image = vec![0u8; PAGE_SIZE];
                slots.init_page(&mut image);
                slots.write_chunk(&mut image, i, bytes);
                if i == 0 {
                    slots.set_tid(&mut image, 0, tid);
                }
                slots.set_next_block(&mut image, next);
                next = self.write_page(&image);
            }
            self.entries[list].head = next;
            self.entries[list].insert = next;
        } else {
            let (image, pos) = self.open[list].get_or_insert_with(|| {
                let mut image = vec![0u8; PAGE_SIZE];
                slots.init_page(&mut image);
                (image, 0)
            });
            slots.write_vector(image, *pos, bytes);
            slots.set_tid(image, *pos, tid);
            *pos += 1;
            if *pos == slots.per_page {
                self.close_page(list);
            }
        }
        self.entries[list].count += 1;
    }

    /// Write list `list`'s open page image out and link it in at the head of its chain.
    fn close_page(&mut self, list: usize) {
        if let Some((mut image, _)) = self.open[list].take() {
            self.slots
                .set_next_block(&mut image, self.entries[list].head);
            let block = self.write_page(&image);
            self.entries[list].head = block;
            if self.entries[list].insert == vector_core::flat::INVALID_BLOCK {
                self.entries[list].insert = block;
            }
        }
    }

    fn write_page(&self, image: &[u8]) -> u32 {
        let mut page = BulkPage::extend(self.index);
        page.page_mut()[PAGE_HEADER..].copy_from_slice(&image[PAGE_HEADER..]);
        page.set_used_end(self.slots.used_end());
        page.block()
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn load_callback(
    _index: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    is_null: *mut bool,
    _alive: bool,
    state: *mut std::ffi::c_void,
) {
    if *is_null {
        return;
    }
    let l = &mut *(state as *mut Loader);
    let tid = item_pointer_to_tid(&*tid);
    let (elem, ctx) = (l.elem, l.row_context.get());
    RowContext::run(ctx, || {
        crate::am::with_datum(*values, elem, |v, bytes| l.add(tid, v, bytes))
    });
}

#[pg_guard]
pub unsafe extern "C-unwind" fn ambuild(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    index_info: *mut pg_sys::IndexInfo,
) -> *mut pg_sys::IndexBuildResult {
    let (metric, elem) = opclass_metric(index);
    let lists = lists_option(index);
    let typmod_dims = column_dims(index).unwrap_or(0) as usize;
    let reltuples = (*(*heap).rd_rel).reltuples.max(0.0) as i64;

    // Phase 1: sample and train (the sample is bounded by maintenance_work_mem).
    let target = (lists * 50).max(10_000);
    let memory_limit = pg_sys::maintenance_work_mem as usize * 1024;
    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_KMEANS);
    let mut sampler = Sampler {
        elem,
        dims: typmod_dims,
        target,
        memory_limit,
        reserved: lists * PAGE_SIZE,
        seen: 0,
        filled: 0,
        rows: Vec::new(),
        rng: 42,
        row_context: RowContext::new(),
    };
    pg_sys::table_index_build_scan(
        heap,
        index,
        index_info,
        true,
        true,
        Some(sample_callback),
        &mut sampler as *mut Sampler as *mut std::ffi::c_void,
        std::ptr::null_mut(),
    );
    let dims = sampler.dims;
    let n_sample = if dims == 0 {
        0
    } else {
        sampler.rows.len() / dims
    };
    if n_sample < lists {
        ereport!(
            NOTICE,
            PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION,
            "ivfflat index created with little data",
            "This will cause low recall."
        );
    }
    if dims == 0 {
        // No rows and no declared dimension (TRUNCATE, REINDEX or a restore of an empty
        // table): just the meta page; the first insert lays out the rest (`form`).
        let meta = unformed_meta(metric, elem, lists);
        BulkPageWriter.page(index, &mut |p| {
            meta.write(p);
            Meta::END
        });
        log_all_pages(index);
        return build_result(0);
    }
    let mut sample = sampler.rows;
    if metric == Metric::Cosine {
        normalise_rows(&mut sample, dims);
    }
    let params = KMeansParams {
        k: lists,
        dim: dims,
        spherical: spherical(metric),
        max_iters: 20,
        seed: 42,
    };
    crate::am::ensure_pool();
    // Progress and cancellation on this (the backend's) thread, between k-means steps.
    let trained = kmeans::train::<()>(&sample, &params, &mut |done, total| {
        progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, done as i64);
        progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_TOTAL, total as i64);
        pgrx::check_for_interrupts!();
        Ok(())
    });
    let centroids = trained
        .expect("k-means reports errors only through progress")
        .centroids;
    drop(sample);
    pgrx::check_for_interrupts!();

    // Phase 2: fixed pages.
    let ivf = IvfLayout::new(lists, dims);
    let meta = Meta {
        kind: IndexKind::Ivf,
        dims: dims as u32,
        elem,
        metric,
        n_slots: 0,
        free_hint: 0,
        extra: [lists as u64, super::new_stamp(), 0, 0],
    };
    write_fixed_pages(index, &ivf, Some(&meta), &centroids, BulkPageWriter);

    // Phase 3: assign and load.
    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_ASSIGN);
    progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_TOTAL, reltuples);
    let mut loader = Loader {
        elem,
        dims,
        metric,
        index,
        slots: SlotLayout::new(dims, elem),
        centroids: Arc::new(centroids),
        batch: Batch::default(),
        assigning: None,
        open: (0..lists).map(|_| None).collect(),
        entries: vec![ListEntry::EMPTY; lists],
        row_context: RowContext::new(),
    };
    pg_sys::table_index_build_scan(
        heap,
        index,
        index_info,
        true,
        true,
        Some(load_callback),
        &mut loader as *mut Loader as *mut std::ffi::c_void,
        std::ptr::null_mut(),
    );
    loader.finish_batches();
    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_LOAD);
    for list in 0..lists {
        loader.close_page(list);
    }
    write_directory(index, &ivf, &loader.entries);
    log_all_pages(index);

    build_result(loader.entries.iter().map(|e| e.count).sum())
}

fn build_result(tuples: u64) -> *mut pg_sys::IndexBuildResult {
    unsafe {
        let result = pg_sys::palloc0(std::mem::size_of::<pg_sys::IndexBuildResult>())
            as *mut pg_sys::IndexBuildResult;
        (*result).heap_tuples = tuples as f64;
        (*result).index_tuples = tuples as f64;
        result
    }
}

/// The meta page of an index with no fixed part yet (dimension unknown).
fn unformed_meta(metric: Metric, elem: ElemKind, lists: usize) -> Meta {
    Meta {
        kind: IndexKind::Ivf,
        dims: 0,
        elem,
        metric,
        n_slots: 0,
        free_hint: 0,
        extra: [lists as u64, 0, 0, 0],
    }
}

/// Centroids of a build over no rows: random unit vectors, as k-means gives for no data.
fn empty_centroids(lists: usize, dims: usize, metric: Metric) -> Vec<f32> {
    let params = KMeansParams {
        k: lists,
        dim: dims,
        spherical: spherical(metric),
        max_iters: 1,
        seed: 42,
    };
    kmeans::train::<()>(&[], &params, &mut |_, _| Ok(()))
        .expect("no progress errors")
        .centroids
}

/// Lay out the fixed pages (centroids of an empty build, empty directory) of an index that was
/// built over no rows without a declared dimension, now that the first row gives one.
///
/// The meta page stays exclusively locked throughout (a concurrent first insert waits, then
/// finds the work done). The fixed pages go to blocks 1.. in records of their own, as full
/// images; they are unreachable until the meta page, logged last, names the dimension. After a
/// crash in between, the next first insert overwrites the blocks left behind.
pub fn form(index: pg_sys::Relation, dims: usize) {
    let mut w = WalWrite::start(index);
    let m = w.lock(META_BLOCK);
    let mut meta = check_meta(Meta::read(w.page(m)), index);
    if meta.dims != 0 {
        return; // formed meanwhile; dropping `w` releases the meta page
    }
    crate::types::check_dim::<f32>(dims);
    let lists = meta.extra[0] as usize;
    let ivf = IvfLayout::new(lists, dims);
    let centroids = empty_centroids(lists, dims, meta.metric);
    write_fixed_pages(index, &ivf, None, &centroids, FormWriter { next: 1 });
    meta.dims = dims as u32;
    meta.extra[1] = super::new_stamp();
    meta.write(w.page_mut(m));
    w.commit();
}

fn normalise_rows(rows: &mut [f32], dims: usize) {
    for row in rows.chunks_exact_mut(dims) {
        let n = row
            .iter()
            .map(|x| (*x as f64) * (*x as f64))
            .sum::<f64>()
            .sqrt();
        if n > 0.0 {
            for x in row.iter_mut() {
                *x = (*x as f64 / n) as f32;
            }
        }
    }
}

/// Where the fixed pages go: unlogged bulk pages during a build, or the init fork of an
/// unlogged index (logged afterwards with `log_init_fork`).
trait FixedPageWriter {
    fn page(&mut self, index: pg_sys::Relation, fill: &mut dyn FnMut(&mut [u8]) -> usize);
}

struct BulkPageWriter;
impl FixedPageWriter for BulkPageWriter {
    fn page(&mut self, index: pg_sys::Relation, fill: &mut dyn FnMut(&mut [u8]) -> usize) {
        let mut p = BulkPage::extend(index);
        let end = fill(p.page_mut());
        p.set_used_end(end);
    }
}

struct InitForkWriter;
impl FixedPageWriter for InitForkWriter {
    fn page(&mut self, index: pg_sys::Relation, fill: &mut dyn FnMut(&mut [u8]) -> usize) {
        let mut w = WalWrite::start(index);
        let i = w.extend(pg_sys::ForkNumber::INIT_FORKNUM);
        let end = fill(w.page_mut(i));
        w.set_used_end(i, end);
        w.commit();
    }
}

/// Fixed pages of a formed index (`form`), WAL-logged one by one at blocks 1, 2, …
struct FormWriter {
    next: pg_sys::BlockNumber,
}
impl FixedPageWriter for FormWriter {
    fn page(&mut self, index: pg_sys::Relation, fill: &mut dyn FnMut(&mut [u8]) -> usize) {
        let mut w = WalWrite::start(index);
        let i = w.overwrite_or_extend(self.next);
        let end = fill(w.page_mut(i));
        w.set_used_end(i, end);
        w.commit();
        self.next += 1;
    }
}

/// Meta page (unless `None`: it exists), centroid pages and empty directory pages, in block
/// order.
fn write_fixed_pages(
    index: pg_sys::Relation,
    ivf: &IvfLayout,
    meta: Option<&Meta>,
    centroids: &[f32],
    mut writer: impl FixedPageWriter,
) {
    if let Some(meta) = meta {
        writer.page(index, &mut |p| {
            meta.write(p);
            Meta::END
        });
    }
    for i in 0..ivf.centroid_pages {
        writer.page(index, &mut |p| {
            ivf.write_centroid_page(p, i, centroids);
            ivf.centroid_page_end(i)
        });
    }
    for i in 0..ivf.directory_pages {
        writer.page(index, &mut |p| {
            ivf.init_directory_page(p, i);
            ivf.directory_page_end(i)
        });
    }
}

/// Fill in the directory entries after loading (pages already exist, written unlogged).
fn write_directory(index: pg_sys::Relation, ivf: &IvfLayout, entries: &[ListEntry]) {
    for i in 0..ivf.directory_pages {
        unsafe {
            let block = ivf.first_directory_block() + i as u32;
            let buf = pg_sys::ReadBuffer(index, block);
            pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32);
            let page =
                std::slice::from_raw_parts_mut(pg_sys::BufferGetPage(buf) as *mut u8, PAGE_SIZE);
            for list in ivf.lists_on_directory_page(i) {
                let (_, at) = ivf.entry_location(list);
                write_entry(page, at, entries[list]);
            }
            pg_sys::MarkBufferDirty(buf);
            pg_sys::UnlockReleaseBuffer(buf);
        }
    }
}

/// An unlogged index's init fork: an index over no rows, with centroids of an empty build (or,
/// without a declared dimension, just the meta page).
#[pg_guard]
pub unsafe extern "C-unwind" fn ambuildempty(index: pg_sys::Relation) {
    let (metric, elem) = opclass_metric(index);
    let lists = lists_option(index);
    let Some(dims) = column_dims(index) else {
        let meta = unformed_meta(metric, elem, lists);
        InitForkWriter.page(index, &mut |p| {
            meta.write(p);
            Meta::END
        });
        log_init_fork(index);
        return;
    };
    let dims = dims as usize;
    let centroids = empty_centroids(lists, dims, metric);
    let ivf = IvfLayout::new(lists, dims);
    let meta = Meta {
        kind: IndexKind::Ivf,
        dims: dims as u32,
        elem,
        metric,
        n_slots: 0,
        free_hint: 0,
        extra: [lists as u64, super::new_stamp(), 0, 0],
    };
    write_fixed_pages(index, &ivf, Some(&meta), &centroids, InitForkWriter);
    log_init_fork(index);
}

#[pg_guard]
pub unsafe extern "C-unwind" fn ambuildphasename(phase: i64) -> *mut std::ffi::c_char {
    match phase {
        PHASE_KMEANS => c"performing k-means".as_ptr() as *mut _,
        PHASE_ASSIGN => c"assigning tuples".as_ptr() as *mut _,
        PHASE_LOAD => c"loading tuples".as_ptr() as *mut _,
        _ => std::ptr::null_mut(),
    }
}
