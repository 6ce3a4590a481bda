//! The `hnsw` access method (pgvector's syntax, options and GUCs): a hierarchical navigable
//! small-world graph. Page format: `vector_core::pages::hnsw`; graph and page algorithms:
//! `vector_core::hnsw` (the build's in-memory graph) and `vector_core::am::hnsw`.
//!
//! Inserts are serialised by a heavyweight lock on the index (page lock 0, as pgvector's update
//! lock), held while a row is linked; scans take no such lock (they see each link change
//! atomically, one page at a time). VACUUM waits on the same lock once, between marking nodes
//! dead and repairing links, so no insert still links to a node it saw live.

mod build;
mod scan;

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::am::hnsw::Hnsw as Index;
use vector_core::am::VacuumStats;
use vector_core::distance::Metric;
use vector_core::elem::ElemKind;
use vector_core::hnsw::level_from_hash;
use vector_core::tid::Tid;

use super::skeleton::{routine, VectorAm};
use super::{am_error, AmRoutine};
use crate::storage::{HintedStore, RelStore};

pub const DEFAULT_M: i32 = 16;
pub const DEFAULT_EF_CONSTRUCTION: i32 = 64;

pub static EF_SEARCH: GucSetting<i32> = GucSetting::<i32>::new(40);
pub static MAX_SCAN_TUPLES: GucSetting<i32> = GucSetting::<i32>::new(20000);
pub static SCAN_MEM_MULTIPLIER: GucSetting<f64> = GucSetting::<f64>::new(1.0);
pub static ITERATIVE_SCAN: GucSetting<IterativeScan> =
    GucSetting::<IterativeScan>::new(IterativeScan::Off);

#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum IterativeScan {
    #[name = c"off"]
    Off,
    #[name = c"relaxed_order"]
    RelaxedOrder,
    #[name = c"strict_order"]
    StrictOrder,
}

static mut RELOPT_KIND: pg_sys::relopt_kind::Type = 0;

/// `WITH (m = …, ef_construction = …)`, as Postgres stores parsed reloptions.
#[repr(C)]
struct HnswOptions {
    vl_len: i32,
    m: i32,
    ef_construction: i32,
}

/// Registers the GUCs and reloptions (from `_PG_init`), with pgvector's names, ranges and
/// descriptions.
pub fn init() {
    GucRegistry::define_int_guc(
        c"hnsw.ef_search",
        c"Sets the size of the dynamic candidate list for search",
        c"Valid range is 1..1000.",
        &EF_SEARCH,
        1,
        1000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"hnsw.iterative_scan",
        c"Sets the mode for iterative scans",
        c"",
        &ITERATIVE_SCAN,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"hnsw.max_scan_tuples",
        c"Sets the max number of tuples to visit for iterative scans",
        c"",
        &MAX_SCAN_TUPLES,
        1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"hnsw.scan_mem_multiplier",
        c"Sets the multiple of work_mem to use for iterative scans",
        c"",
        &SCAN_MEM_MULTIPLIER,
        1.0,
        1000.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    unsafe {
        pg_sys::MarkGUCPrefixReserved(c"hnsw".as_ptr());
        RELOPT_KIND = pg_sys::add_reloption_kind();
        let lock = pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE;
        pg_sys::add_int_reloption(
            RELOPT_KIND as _,
            c"m".as_ptr(),
            c"Max number of connections".as_ptr(),
            DEFAULT_M,
            2,
            100,
            lock,
        );
        pg_sys::add_int_reloption(
            RELOPT_KIND as _,
            c"ef_construction".as_ptr(),
            c"Size of the dynamic candidate list for construction".as_ptr(),
            DEFAULT_EF_CONSTRUCTION,
            4,
            1000,
            lock,
        );
    }
}

pub struct Hnsw;

#[pg_extern(sql = false)]
fn hnsw_handler(_fcinfo: pg_sys::FunctionCallInfo) -> AmRoutine {
    routine::<Hnsw>()
}

/// The index's `m` and `ef_construction` options.
fn options(index: pg_sys::Relation) -> (usize, usize) {
    unsafe {
        let opts = (*index).rd_options as *const HnswOptions;
        if opts.is_null() {
            (DEFAULT_M as usize, DEFAULT_EF_CONSTRUCTION as usize)
        } else {
            ((*opts).m as usize, (*opts).ef_construction as usize)
        }
    }
}

/// The level of a new node, drawn from its heap row (so a rebuild draws the same levels).
pub(crate) fn node_level(tid: Tid, m: usize, max: usize) -> usize {
    level_from_hash(tid.pack() ^ 0x5EED_0F_4E57, m, max)
}

/// A vector the index cannot order by its metric: a zero vector under cosine distance (its
/// distance to everything is NaN), which pgvector's hnsw does not index either.
pub(crate) fn unindexable(metric: Metric, values: &[f32]) -> bool {
    metric == Metric::Cosine && values.iter().all(|&x| x == 0.0)
}

/// Postgres' heavyweight lock serialising inserts (and VACUUM's wait for them).
struct InsertLock(pg_sys::Relation);

impl InsertLock {
    const PAGE: pg_sys::BlockNumber = 0;

    fn take(index: pg_sys::Relation) -> InsertLock {
        unsafe { pg_sys::LockPage(index, Self::PAGE, pg_sys::ExclusiveLock as i32) };
        InsertLock(index)
    }
}

impl Drop for InsertLock {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            unsafe { pg_sys::UnlockPage(self.0, Self::PAGE, pg_sys::ExclusiveLock as i32) };
        }
    }
}

impl VectorAm for Hnsw {
    type Scan = scan::HnswScan;
    const SPARSE: bool = true;

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

    fn insert(index: pg_sys::Relation, tid: Tid, values: &[f32], bytes: &[u8], _dims: usize) {
        let store = HintedStore::new(index);
        let (idx, _) = Index::open(&store).unwrap_or_else(|e| am_error(index, e));
        if idx.layout.elem == ElemKind::Sparse {
            super::check_sparse(bytes, "hnsw");
        } else if values.len() != idx.layout.dims {
            super::dimension_mismatch(idx.layout.dims as u32, values.len());
        }
        if unindexable(idx.metric, values) {
            return;
        }
        let level = node_level(tid, idx.layout.m, idx.layout.max_level);
        let _lock = InsertLock::take(index);
        idx.insert(tid, bytes, level)
            .unwrap_or_else(|e| am_error(index, e));
    }

    fn bulk_delete(
        index: pg_sys::Relation,
        dead: &mut dyn FnMut(Tid) -> bool,
        delay: &mut dyn FnMut(),
    ) -> VacuumStats {
        let store = RelStore(index);
        let (idx, _) = Index::open(&store).unwrap_or_else(|e| am_error(index, e));
        let mut wait = || drop(InsertLock::take(index));
        let mut delay_and_check = || {
            delay();
            pgrx::check_for_interrupts!();
        };
        idx.bulk_delete(dead, &mut delay_and_check, &mut wait)
            .unwrap_or_else(|e| am_error(index, e))
    }

    /// An ordered scan visits about `ef_search · 2m` vectors of the graph before its first row.
    fn scan_fraction(index: pg_sys::Relation) -> (f64, f64) {
        let (m, _) = options(index);
        let tuples = unsafe { (*(*index).rd_rel).reltuples }.max(1.0) as f64;
        let visited = EF_SEARCH.get() as f64 * 2.0 * m as f64;
        ((visited / tuples).min(1.0), 0.0)
    }

    unsafe fn options(reloptions: pg_sys::Datum, validate: bool) -> *mut pg_sys::bytea {
        let tab = [
            pg_sys::relopt_parse_elt {
                optname: c"m".as_ptr(),
                opttype: pg_sys::relopt_type::RELOPT_TYPE_INT,
                offset: std::mem::offset_of!(HnswOptions, m) as i32,
            },
            pg_sys::relopt_parse_elt {
                optname: c"ef_construction".as_ptr(),
                opttype: pg_sys::relopt_type::RELOPT_TYPE_INT,
                offset: std::mem::offset_of!(HnswOptions, ef_construction) as i32,
            },
        ];
        pg_sys::build_reloptions(
            reloptions,
            validate,
            RELOPT_KIND,
            std::mem::size_of::<HnswOptions>(),
            tab.as_ptr(),
            tab.len() as i32,
        ) as *mut pg_sys::bytea
    }
}
