//! The two heap passes of an ivfflat build: a reservoir sample for k-means ([`Sampler`]), and
//! the load ([`Loader`]): rows are assigned to their nearest centroid in parallel batches (the
//! backend reads the next batch from the heap meanwhile) and appended to per-list page images,
//! each written out (no WAL) when full and linked in at the head of its list's chain. Memory:
//! one page image per list plus two batches.

use std::sync::{mpsc, Arc};

use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::distance::Metric;
use vector_core::elem::ElemKind;
use vector_core::kmeans::{self, SplitMix64};
use vector_core::pages::ivf::ListEntry;
use vector_core::pages::{SlotLayout, INVALID_BLOCK, PAGE_SIZE};
use vector_core::rabitq::code::Encoder;
use vector_core::tid::Tid;

use super::spherical;
use crate::am::{dimension_mismatch, progress};
use crate::storage::BulkPage;
use crate::types::error;

/// Rows per assignment batch: 8192, fewer for long vectors so a batch (values and stored bytes)
/// stays within 32 MB.
fn batch_rows(dims: usize) -> usize {
    ((32 << 20) / (dims * 8 + 8)).clamp(64, 8192)
}

/// Phase 1 state: a uniform reservoir sample of the indexed vectors.
pub struct Sampler {
    #[allow(dead_code)]
    elem: ElemKind,
    pub dims: usize,
    target: usize,
    /// Bytes the build may use (maintenance_work_mem) ...
    memory_limit: usize,
    /// ... for the sample and what the lists need (see [`Sampler::memory_needed`]).
    lists: usize,
    seen: u64,
    /// Rows held (`rows.len() / dims`).
    filled: usize,
    pub rows: Vec<f32>,
    /// Deterministic, so a rebuild of the same table samples the same rows.
    rng: SplitMix64,
}

impl Sampler {
    /// A sample of up to `target` rows of `dims` (0: unknown yet) dimensions for `lists`
    /// lists, whose build must fit in `memory_limit` bytes.
    pub fn new(
        elem: ElemKind,
        dims: usize,
        target: usize,
        memory_limit: usize,
        lists: usize,
    ) -> Self {
        Sampler {
            elem,
            dims,
            target,
            memory_limit,
            lists,
            seen: 0,
            filled: 0,
            rows: Vec::new(),
            rng: SplitMix64::from_state(42),
        }
    }

    /// Memory an ivfflat build holds with `rows` sampled rows: the sample and k-means' per-row
    /// state (label, bounds, order), k-means' centroid copies (current, new, centred, panels,
    /// seeding: about 24 bytes per centroid element), then the load phase's page image per
    /// list and two batches of rows in flight.
    fn memory_needed(&self, rows: usize) -> usize {
        let d = self.dims;
        rows * (d * 4 + 32) + self.lists * (d * 24 + PAGE_SIZE) + 2 * batch_rows(d) * (d * 8 + 8)
    }

    /// table — and then it is never detoasted).
    pub fn choose(&mut self) -> Option<Option<usize>> {
        self.seen += 1;
        if self.filled < self.target {
            return Some(None);
        }
        let j = (self.rng.next_u64() % self.seen) as usize;
        (j < self.target).then_some(Some(j))
    }

    pub fn store(&mut self, slot: Option<usize>, values: &[f32]) {
        if self.dims == 0 {
            self.dims = values.len();
        }
        if values.len() != self.dims {
            dimension_mismatch(self.dims as u32, values.len());
        }
        match slot {
            None => {
                if self.memory_needed(self.filled + 1) > self.memory_limit {
                    let needed = self.memory_needed(self.target);
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

/// Phase 3 state: the batch of rows being collected, the previous batch being assigned on the
/// worker pool meanwhile, and one open page image per list.
pub struct Loader {
    dims: usize,
    metric: Metric,
    index: pg_sys::Relation,
    slots: SlotLayout,
    /// RaBitQ: rows are stored as codes relative to their list's centroid, made on the pool
    /// with the assignment.
    encoder: Option<Arc<Encoder>>,
    centroids: Arc<Vec<f32>>,
    batch: Batch,
    /// The batch handed to the pool, and where its lists (and codes) will arrive.
    assigning: Option<(Batch, mpsc::Receiver<Assigned>)>,
    /// Per list: (page image, next free position).
    open: Vec<Option<(Vec<u8>, usize)>>,
    pub entries: Vec<ListEntry>,
}

/// A batch's lists, and with RaBitQ its codes back to back.
type Assigned = (Vec<u32>, Vec<u8>);

/// Rows collected for assignment: their values (f32), TIDs and stored bytes.
#[derive(Default)]
struct Batch {
    values: Vec<f32>,
    tids: Vec<Tid>,
    bytes: Vec<u8>,
}

impl Loader {
    pub fn new(
        index: pg_sys::Relation,
        metric: Metric,
        slots: SlotLayout,
        dims: usize,
        encoder: Option<Encoder>,
        centroids: Vec<f32>,
        lists: usize,
    ) -> Self {
        Loader {
            dims,
            metric,
            index,
            slots,
            encoder: encoder.map(Arc::new),
            centroids: Arc::new(centroids),
            batch: Batch::default(),
            assigning: None,
            open: (0..lists).map(|_| None).collect(),
            entries: vec![ListEntry::EMPTY; lists],
        }
    }

    pub fn add(&mut self, tid: Tid, values: &[f32], bytes: &[u8]) {
        if values.len() != self.dims {
            dimension_mismatch(self.dims as u32, values.len());
        }
        self.batch.values.extend_from_slice(values);
        if self.encoder.is_none() {
            self.batch.bytes.extend_from_slice(bytes);
        }
        self.batch.tids.push(tid);
        if self.batch.tids.len() == batch_rows(self.dims) {
            self.flush_batch();
        }
    }

    /// Hand the current batch to the worker pool (the backend goes on reading the heap while
    /// it is assigned), and write out the previous one.
    fn flush_batch(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        let (tx, rx) = mpsc::channel();
        let (values, centroids) = (batch.values, self.centroids.clone());
        let (dims, sph, encoder) = (self.dims, spherical(self.metric), self.encoder.clone());
        crate::am::ensure_pool();
        // Owned inputs only: if the backend errors out meanwhile, the task just finishes.
        // A panic must not reach rayon's handler (it aborts the process): it drops `tx`, and
        // the backend reports an error.
        rayon::spawn(move || {
            let assign = || {
                let lists = kmeans::assign(&values, dims, &centroids, sph);
                let mut codes = Vec::new();
                if let Some(e) = &encoder {
                    codes.reserve(lists.len() * e.code_bytes());
                    for (row, &list) in values.chunks_exact(dims).zip(&lists) {
                        let l = list as usize;
                        e.encode(row, &centroids[l * dims..(l + 1) * dims], &mut codes);
                    }
                }
                (lists, codes)
            };
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
    pub fn finish_batches(&mut self) {
        if !self.batch.tids.is_empty() {
            self.flush_batch();
        }
        if let Some(previous) = self.assigning.take() {
            self.write_batch(previous);
        }
    }

    fn write_batch(&mut self, (batch, rx): (Batch, mpsc::Receiver<Assigned>)) {
        let (lists, codes) = loop {
            match rx.recv_timeout(std::time::Duration::from_millis(50)) {
                Ok(assigned) => break assigned,
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
        let stored = if self.encoder.is_some() {
            codes
        } else {
            batch.bytes
        };
        for ((tid, bytes), list) in batch.tids.iter().zip(stored.chunks_exact(size)).zip(lists) {
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
                slots.set_owner(&mut image, list as u32);
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
                slots.set_owner(&mut image, list as u32);
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
    pub fn close_page(&mut self, list: usize) {
        if let Some((mut image, _)) = self.open[list].take() {
            self.slots
                .set_next_block(&mut image, self.entries[list].head);
            let block = self.write_page(&image);
            self.entries[list].head = block;
            if self.entries[list].insert == INVALID_BLOCK {
                self.entries[list].insert = block;
            }
        }
    }

    fn write_page(&self, image: &[u8]) -> u32 {
        BulkPage::append_image(self.index, image, self.slots.used_end())
    }
}
