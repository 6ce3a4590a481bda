//! The `ivfflat` access method (pgvector's syntax and GUCs): k-means centroids partition the
//! vectors into lists; a query scans only the lists whose centroids are nearest.
//! Page formats: `vector_core::pages::ivf` (centroids, list directory), `vector_core::pages`
//! (meta page, slot pages chained per list); page algorithms: `vector_core::am::ivf`.

mod build;
mod cache;
mod load;
mod scan;

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::am::VacuumStats;
use vector_core::distance::Metric;
use vector_core::kmeans;
use vector_core::pages::ivf::{IvfLayout, MAX_LISTS};
use vector_core::pages::{AmMeta, Meta, SlotLayout};
use vector_core::rabitq::code::{Encoder, ROTATION_SEED};
use vector_core::tid::Tid;

use super::skeleton::{routine, VectorAm};
use super::{dimension_mismatch, AmRoutine};
use crate::storage::{read_meta, PageRead, RelStore};
use crate::types::error;
use cache::IvfCache;

pub const DEFAULT_LISTS: i32 = 100;

pub static PROBES: GucSetting<i32> = GucSetting::<i32>::new(1);
/// How many standard deviations of estimation error a RaBitQ lower bound allows for.
pub static RABITQ_EPSILON: GucSetting<f64> =
    GucSetting::<f64>::new(vector_core::rabitq::EPSILON0 as f64);
pub static MAX_PROBES: GucSetting<i32> = GucSetting::<i32>::new(32768);
pub static ITERATIVE_SCAN: GucSetting<IterativeScan> =
    GucSetting::<IterativeScan>::new(IterativeScan::Off);

#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum IterativeScan {
    #[name = c"off"]
    Off,
    #[name = c"relaxed_order"]
    RelaxedOrder,
}

static mut RELOPT_KIND: pg_sys::relopt_kind::Type = 0;

/// `WITH (lists = …, quantization = …)`, as Postgres stores parsed reloptions (a string
/// option as the offset of its text from the start of the struct).
#[repr(C)]
struct IvfOptions {
    vl_len: i32,
    lists: i32,
    quantization: i32,
}

/// `quantization`'s values.
const QUANTIZATIONS: [&str; 2] = ["none", "rabitq"];

#[pg_guard]
unsafe extern "C-unwind" fn validate_quantization(value: *const std::ffi::c_char) {
    if value.is_null() {
        return;
    }
    let v = std::ffi::CStr::from_ptr(value).to_string_lossy();
    if !QUANTIZATIONS.contains(&v.as_ref()) {
        pgrx::pg_sys::panic::ErrorReport::new(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("invalid value for parameter \"quantization\": \"{v}\""),
            pgrx::function_name!(),
        )
        .set_detail("Valid values are \"none\" and \"rabitq\".")
        .report(PgLogLevel::ERROR);
    }
}

/// Registers the GUCs and the `lists` reloption (from `_PG_init`).
pub fn init() {
    GucRegistry::define_int_guc(
        c"ivfflat.probes",
        c"Sets the number of probes",
        c"Valid range is 1..lists.",
        &PROBES,
        1,
        MAX_LISTS as i32,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"ivfflat.iterative_scan",
        c"Sets the mode for iterative scans",
        c"off, or relaxed_order: keep probing further lists while the executor asks for rows.",
        &ITERATIVE_SCAN,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"ivfflat.rabitq_epsilon",
        c"Sets the error bound of RaBitQ distance estimates, in standard deviations",
        c"A row's exact distance is computed once its estimate minus this many standard \
          deviations of error is among the nearest; larger values check more rows exactly and \
          miss fewer neighbours (1.9 loses almost none; 3.5 about one pair in 5000).",
        &RABITQ_EPSILON,
        0.0,
        10.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ivfflat.max_probes",
        c"Sets the max number of probes for iterative scans",
        c"",
        &MAX_PROBES,
        1,
        MAX_LISTS as i32,
        GucContext::Userset,
        GucFlags::default(),
    );
    unsafe {
        pg_sys::MarkGUCPrefixReserved(c"ivfflat".as_ptr());
        RELOPT_KIND = pg_sys::add_reloption_kind();
        pg_sys::add_int_reloption(
            RELOPT_KIND as _,
            c"lists".as_ptr(),
            c"Number of inverted lists".as_ptr(),
            DEFAULT_LISTS,
            1,
            MAX_LISTS as i32,
            pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE,
        );
        pg_sys::add_string_reloption(
            RELOPT_KIND as _,
            c"quantization".as_ptr(),
            c"How lists store rows: none (vectors) or rabitq (1-bit RaBitQ codes)".as_ptr(),
            c"none".as_ptr(),
            Some(validate_quantization),
            pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE,
        );
    }
}

pub struct Ivf;

#[pg_extern(sql = false)]
fn ivfflat_handler(_fcinfo: pg_sys::FunctionCallInfo) -> AmRoutine {
    routine::<Ivf>()
}

impl VectorAm for Ivf {
    type Scan = scan::IvfScan;

    unsafe fn build(
        heap: pg_sys::Relation,
        index: pg_sys::Relation,
        info: *mut pg_sys::IndexInfo,
    ) -> u64 {
        build::build(heap, index, info)
    }

    fn build_empty(index: pg_sys::Relation) {
        build::build_empty(index)
    }

    fn phase_name(phase: i64) -> Option<&'static std::ffi::CStr> {
        build::phase_name(phase)
    }

    /// Into the list of the nearest centroid (laying the index out first if it has no fixed
    /// part yet).
    fn insert(index: pg_sys::Relation, tid: Tid, values: &[f32], bytes: &[u8], _dims: usize) {
        let ivf = open(index).unwrap_or_else(|_| {
            build::form(index, values.len());
            open(index).unwrap_or_else(|_| unreachable!("formed above"))
        });
        if values.len() != ivf.meta.dims as usize {
            dimension_mismatch(ivf.meta.dims, values.len());
        }
        let dims = values.len();
        let list = kmeans::nearest(
            values,
            &ivf.cache.centroids,
            dims,
            spherical(ivf.meta.metric),
        );
        let code;
        let bytes = match &ivf.encoder {
            Some(e) => {
                let mut c = Vec::with_capacity(e.code_bytes());
                e.encode(
                    values,
                    &ivf.cache.centroids[list * dims..(list + 1) * dims],
                    &mut c,
                );
                code = c;
                &code[..]
            }
            None => bytes,
        };
        vector_core::am::ivf::insert(&RelStore(index), &ivf.layout, &ivf.slots, list, tid, bytes);
    }

    fn bulk_delete(
        index: pg_sys::Relation,
        dead: &mut dyn FnMut(Tid) -> bool,
        delay: &mut dyn FnMut(),
    ) -> VacuumStats {
        match open(index) {
            Ok(ivf) => vector_core::am::ivf::bulk_delete(
                &RelStore(index),
                &ivf.layout,
                &ivf.slots,
                dead,
                delay,
            ),
            Err(_) => VacuumStats::default(), // no fixed part yet, so no rows
        }
    }

    /// ORDER BY … LIMIT through the nearest `ivfflat.probes` lists: the work is that fraction
    /// of the index, plus the centroid distances.
    fn scan_fraction(index: pg_sys::Relation) -> (f64, f64) {
        let lists = lists_option(index) as f64;
        let fraction = (PROBES.get() as f64 / lists).min(1.0);
        (fraction, lists * unsafe { pg_sys::cpu_operator_cost })
    }

    unsafe fn options(reloptions: pg_sys::Datum, validate: bool) -> *mut pg_sys::bytea {
        let tab = [
            pg_sys::relopt_parse_elt {
                optname: c"lists".as_ptr(),
                opttype: pg_sys::relopt_type::RELOPT_TYPE_INT,
                offset: std::mem::offset_of!(IvfOptions, lists) as i32,
            },
            pg_sys::relopt_parse_elt {
                optname: c"quantization".as_ptr(),
                opttype: pg_sys::relopt_type::RELOPT_TYPE_STRING,
                offset: std::mem::offset_of!(IvfOptions, quantization) as i32,
            },
        ];
        pg_sys::build_reloptions(
            reloptions,
            validate,
            RELOPT_KIND,
            std::mem::size_of::<IvfOptions>(),
            tab.as_ptr(),
            tab.len() as i32,
        ) as *mut pg_sys::bytea
    }
}

/// The index's `lists` option.
fn lists_option(index: pg_sys::Relation) -> usize {
    unsafe {
        let opts = (*index).rd_options as *const IvfOptions;
        if opts.is_null() {
            DEFAULT_LISTS as usize
        } else {
            (*opts).lists as usize
        }
    }
}

/// The index's `quantization` option: true for `rabitq`.
fn rabitq_option(index: pg_sys::Relation) -> bool {
    unsafe {
        let opts = (*index).rd_options as *const IvfOptions;
        if opts.is_null() || (*opts).quantization == 0 {
            return false;
        }
        let text =
            (opts as *const u8).add((*opts).quantization as usize) as *const std::ffi::c_char;
        std::ffi::CStr::from_ptr(text).to_bytes() == b"rabitq"
    }
}

/// RaBitQ codes need a metric they can bound (not L1) over real-valued vectors (not bits).
fn check_rabitq(metric: Metric, elem: vector_core::elem::ElemKind) {
    let what = if elem == vector_core::elem::ElemKind::Bit {
        Some("bit vectors")
    } else if metric == Metric::L1 {
        Some("L1 distance")
    } else {
        None
    };
    if let Some(what) = what {
        error(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("quantization \"rabitq\" does not support {what}"),
        );
    }
}

/// Lists are chosen by L2 distance to centroids for L2 and L1, by inner product with unit
/// centroids (spherical k-means) for inner product and cosine.
fn spherical(metric: Metric) -> bool {
    matches!(metric, Metric::InnerProduct | Metric::Cosine)
}

/// Everything a scan or insert needs from the fixed part of the index.
struct IvfIndex {
    meta: Meta,
    layout: IvfLayout,
    slots: SlotLayout,
    /// For an index of RaBitQ codes: the rotation its codes are made with.
    encoder: Option<Encoder>,
    /// Centroids and list chains, remembered per backend (returned to the cache on drop).
    cache: IvfCache,
}

impl Drop for IvfIndex {
    fn drop(&mut self) {
        std::mem::replace(&mut self.cache, IvfCache::none()).put_back();
    }
}

/// A fresh nonzero stamp for a build's meta page: lets backends tell this build's
/// centroids from any earlier ones in the same relation file.
fn new_stamp() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = unsafe { pg_sys::GetCurrentTimestamp() } as u64;
    let pid = unsafe { pg_sys::MyProcPid } as u64;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    (now ^ (pid << 44) ^ n.rotate_right(16)).max(1)
}

/// The index's fixed part, or `Err(meta)` while it has none: built over no rows from a column
/// without a declared dimension, it is laid out by the first insert (`build::form`).
fn open(index: pg_sys::Relation) -> Result<IvfIndex, Meta> {
    let meta = read_meta(index);
    if meta.dims == 0 {
        return Err(meta);
    }
    let (lists, stamp) = meta.ivf();
    let layout = IvfLayout::new(lists, meta.dims as usize);
    let encoder = matches!(meta.am, AmMeta::Ivf { rabitq: true, .. })
        .then(|| Encoder::new(meta.dims as usize, ROTATION_SEED, meta.metric));
    let slots = match &encoder {
        Some(e) => SlotLayout::for_codes(e.code_bytes()),
        None => SlotLayout::new(meta.dims as usize, meta.elem),
    };
    if let Some(cache) = IvfCache::take(index, stamp) {
        if cache.centroids.len() == lists * meta.dims as usize {
            return Ok(IvfIndex {
                meta,
                layout,
                slots,
                encoder,
                cache,
            });
        }
    }
    let mut stream = Vec::with_capacity(lists * meta.dims as usize * 4);
    for i in 0..layout.centroid_pages {
        let page = PageRead::new(index, layout.first_centroid_block() + i as u32);
        if !layout.read_centroid_page(&page, i, &mut stream) {
            error(
                PgSqlErrorCode::ERRCODE_INDEX_CORRUPTED,
                format!("ivfflat index \"{}\" has a damaged centroid page", unsafe {
                    crate::storage::relation_name(index)
                }),
            );
        }
    }
    let centroids = layout.centroids_from_stream(&stream);
    Ok(IvfIndex {
        cache: IvfCache::new(index, stamp, centroids, lists),
        slots,
        encoder,
        meta,
        layout,
    })
}

impl IvfIndex {
    /// Distance from `q` to every centroid, by the list-selection rule.
    fn centroid_distances(&self, q: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; self.layout.lists];
        let metric = if spherical(self.meta.metric) {
            Metric::InnerProduct
        } else {
            Metric::L2
        };
        vector_core::distance::batch_f32(metric, q, 0.0, &self.cache.centroids, &mut out);
        out
    }
}
