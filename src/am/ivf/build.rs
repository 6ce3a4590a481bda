//! CREATE INDEX for ivfflat, in three phases reported in pg_stat_progress_create_index:
//! 1. sample rows (one heap scan) and train k-means on them;
//! 2. write the meta, centroid and directory pages;
//! 3. scan the heap again and load every row into its list (`load`).
//!
//! Then every page is WAL-logged once.
//!
//! Also the empty builds: an unlogged index's init fork, and an index over no rows without a
//! declared dimension, whose fixed part its first insert lays out (`form`).

use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::distance::Metric;
use vector_core::elem::ElemKind;
use vector_core::kmeans::{self, KMeansParams};
use vector_core::pages::ivf::{write_entry, IvfLayout, ListEntry};
use vector_core::pages::{AmMeta, Meta, SlotLayout};

use super::load::{Loader, Sampler};
use super::{check_rabitq, lists_option, new_stamp, rabitq_option, spherical};
use crate::am::heap::scan_heap;
use crate::am::{am_error, column_dims, opclass_metric, progress};
use crate::storage::{log_all_pages, log_init_fork, BulkPage, RelStore, WalWrite};
use vector_core::rabitq::code::{Encoder, ROTATION_SEED};

const PHASE_KMEANS: i64 = 2;
const PHASE_ASSIGN: i64 = 3;
const PHASE_LOAD: i64 = 4;

pub fn phase_name(phase: i64) -> Option<&'static std::ffi::CStr> {
    match phase {
        PHASE_KMEANS => Some(c"performing k-means"),
        PHASE_ASSIGN => Some(c"assigning tuples"),
        PHASE_LOAD => Some(c"loading tuples"),
        _ => None,
    }
}

pub unsafe fn build(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    info: *mut pg_sys::IndexInfo,
) -> u64 {
    let (metric, elem) = opclass_metric(index);
    let lists = lists_option(index);
    let rabitq = rabitq_option(index);
    if rabitq {
        check_rabitq(metric, elem);
    }
    let typmod_dims = column_dims(index).unwrap_or(0) as usize;
    let reltuples = (*(*heap).rd_rel).reltuples.max(0.0) as i64;

    // Phase 1: sample and train (the sample, and the load phase's page images, are bounded by
    // maintenance_work_mem).
    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_KMEANS);
    let mut sampler = Sampler::new(
        elem,
        typmod_dims,
        (lists * 50).max(10_000),
        pg_sys::maintenance_work_mem as usize * 1024,
        lists,
    );
    scan_heap(heap, index, info, elem, &mut |row| {
        // Decided before the row is read: most rows of a big table are never detoasted.
        if let Some(slot) = sampler.choose() {
            row.with(|v, _, _| sampler.store(slot, v));
        }
    });
    let dims = sampler.dims;
    let n_sample = sampler.rows.len().checked_div(dims).unwrap_or(0);
    if n_sample < lists {
        pgrx::pg_sys::panic::ErrorReport::new(
            PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION,
            "ivfflat index created with little data",
            pgrx::function_name!(),
        )
        .set_detail("This will cause low recall.")
        .set_hint("Drop the index until the table has more data.")
        .report(PgLogLevel::NOTICE);
    }
    if dims == 0 {
        // No rows and no declared dimension (TRUNCATE, REINDEX or a restore of an empty
        // table): just the meta page; the first insert lays out the rest (`form`).
        write_fixed_pages(
            index,
            &unformed_meta(metric, elem, lists, rabitq),
            None,
            BulkPageWriter,
        );
        log_all_pages(index);
        return 0;
    }
    let mut sample = sampler.rows;
    if metric == Metric::Cosine {
        normalize_rows(&mut sample, dims);
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
    let meta = formed_meta(metric, elem, lists, dims, rabitq);
    write_fixed_pages(index, &meta, Some((&ivf, &centroids)), BulkPageWriter);

    // Phase 3: assign and load.
    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_ASSIGN);
    progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_TOTAL, reltuples);
    let encoder = rabitq.then(|| Encoder::new(dims, ROTATION_SEED, metric));
    let slots = match &encoder {
        Some(e) => SlotLayout::for_codes(e.code_bytes()),
        None => SlotLayout::new(dims, elem),
    };
    let mut loader = Loader::new(index, metric, slots, dims, encoder, centroids, lists);
    scan_heap(heap, index, info, elem, &mut |row| {
        row.with(|v, bytes, _| loader.add(row.tid, v, bytes))
    });
    loader.finish_batches();
    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_LOAD);
    for list in 0..lists {
        loader.close_page(list);
    }
    write_directory(index, &ivf, &loader.entries);
    log_all_pages(index);
    loader.entries.iter().map(|e| e.count).sum()
}

/// The meta page of an index with no fixed part yet (dimension unknown).
fn unformed_meta(metric: Metric, elem: ElemKind, lists: usize, rabitq: bool) -> Meta {
    let am = AmMeta::Ivf {
        lists: lists as u32,
        stamp: 0,
        rabitq,
    };
    Meta::new(am, 0, elem, metric)
}

/// The meta page of a new build (a fresh stamp).
fn formed_meta(metric: Metric, elem: ElemKind, lists: usize, dims: usize, rabitq: bool) -> Meta {
    let am = AmMeta::Ivf {
        lists: lists as u32,
        stamp: new_stamp(),
        rabitq,
    };
    Meta::new(am, dims as u32, elem, metric)
}

/// Centroids of a build over no rows: random unit vectors, as k-means gives for no data
/// (within maintenance_work_mem: `lists × dims` floats, held twice while they are written).
fn empty_centroids(lists: usize, dims: usize, metric: Metric) -> Vec<f32> {
    let needed = lists * dims * 8;
    let limit = unsafe { pg_sys::maintenance_work_mem } as usize * 1024;
    if needed > limit {
        crate::types::error(
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!(
                "memory required is {} MB, maintenance_work_mem is {} MB",
                needed / (1024 * 1024) + 1,
                limit / (1024 * 1024)
            ),
        );
    }
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

/// Lay out the fixed part of an index built over no rows without a declared dimension, now
/// that the first row gives one (`vector_core::am::ivf::form`, WAL-logged page by page).
pub fn form(index: pg_sys::Relation, dims: usize) {
    crate::types::check_dim::<f32>(dims);
    let meta = crate::storage::read_meta(index);
    let (lists, _) = meta.ivf();
    let centroids = empty_centroids(lists, dims, meta.metric);
    vector_core::am::ivf::form(&RelStore(index), dims, &centroids, new_stamp())
        .unwrap_or_else(|e| am_error(index, e));
}

fn normalize_rows(rows: &mut [f32], dims: usize) {
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

/// The meta page, then (for a formed index) the centroid pages and empty directory pages, in
/// block order.
fn write_fixed_pages(
    index: pg_sys::Relation,
    meta: &Meta,
    formed: Option<(&IvfLayout, &[f32])>,
    mut writer: impl FixedPageWriter,
) {
    writer.page(index, &mut |p| {
        meta.write(p);
        Meta::END
    });
    let Some((ivf, centroids)) = formed else {
        return;
    };
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
        let mut page = BulkPage::existing(index, ivf.first_directory_block() + i as u32);
        for list in ivf.lists_on_directory_page(i) {
            let (_, at) = ivf.entry_location(list);
            write_entry(page.page_mut(), at, entries[list]);
        }
    }
}

/// An unlogged index's init fork: an index over no rows, with centroids of an empty build (or,
/// without a declared dimension, just the meta page).
pub fn build_empty(index: pg_sys::Relation) {
    let (metric, elem) = opclass_metric(index);
    let lists = lists_option(index);
    let rabitq = rabitq_option(index);
    if rabitq {
        check_rabitq(metric, elem);
    }
    match column_dims(index) {
        None => write_fixed_pages(
            index,
            &unformed_meta(metric, elem, lists, rabitq),
            None,
            InitForkWriter,
        ),
        Some(dims) => {
            let dims = dims as usize;
            let centroids = empty_centroids(lists, dims, metric);
            let ivf = IvfLayout::new(lists, dims);
            let meta = formed_meta(metric, elem, lists, dims, rabitq);
            write_fixed_pages(index, &meta, Some((&ivf, &centroids)), InitForkWriter);
        }
    }
    log_init_fork(index);
}
