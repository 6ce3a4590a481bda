//! What the index access methods share: the handler's return type, resolving an opclass to a
//! metric and element type, reading indexed vectors, cost estimation, opclass validation and
//! the worker pool used for pure compute.

pub mod flat;
pub mod ivf;
pub mod stream;

use std::sync::OnceLock;

use pgrx::callconv::{BoxRet, FcInfo};
use pgrx::datum::Datum;
use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::distance::Metric;
use vector_core::flat::ElemKind;

use crate::types::{error, HalfVec, Vector};

/// An `IndexAmRoutine` node returned by an `index_am_handler` function.
pub struct AmRoutine(pub *mut pg_sys::IndexAmRoutine);

unsafe impl BoxRet for AmRoutine {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        fcinfo.return_raw_datum(pg_sys::Datum::from(self.0))
    }
}
pgrx::impl_sql_translatable!(AmRoutine, "index_am_handler");

/// A zeroed routine with the properties every vector AM shares: one key column, ordering by
/// a distance operator, no WHERE-clause search, no uniqueness.
pub fn base_routine() -> *mut pg_sys::IndexAmRoutine {
    unsafe {
        let r = pg_sys::palloc0(std::mem::size_of::<pg_sys::IndexAmRoutine>())
            as *mut pg_sys::IndexAmRoutine;
        (*r).type_ = pg_sys::NodeTag::T_IndexAmRoutine;
        (*r).amstrategies = 0;
        (*r).amoptsprocnum = 0;
        (*r).amcanorder = false;
        (*r).amcanorderbyop = true;
        (*r).amcanbackward = false;
        (*r).amcanunique = false;
        (*r).amcanmulticol = false;
        (*r).amoptionalkey = true;
        (*r).amsearcharray = false;
        (*r).amsearchnulls = false;
        (*r).amstorage = false;
        (*r).amclusterable = false;
        (*r).ampredlocks = false;
        (*r).amcanparallel = false;
        (*r).amcaninclude = false;
        (*r).amusemaintenanceworkmem = false;
        (*r).amparallelvacuumoptions = pg_sys::VACUUM_OPTION_PARALLEL_BULKDEL as u8;
        (*r).amkeytype = pg_sys::InvalidOid;
        (*r).amcostestimate = Some(cost_estimate);
        (*r).amvalidate = Some(validate);
        (*r).amoptions = Some(no_options);
        r
    }
}

/// The element type and metric an index was built for, from its opclass's support function 1:
/// our distance functions are recognised by their C symbol.
pub fn opclass_metric(index: pg_sys::Relation) -> (Metric, ElemKind) {
    let symbol = unsafe {
        let proc_oid = pg_sys::index_getprocid(index, 1, 1);
        function_symbol(proc_oid)
    };
    metric_for_symbol(&symbol).unwrap_or_else(|| {
        error(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("unsupported distance function \"{symbol}\" for a vector_ext index"),
        )
    })
}

fn metric_for_symbol(symbol: &str) -> Option<(Metric, ElemKind)> {
    let (elem, rest) = if let Some(rest) = symbol.strip_prefix("vector_") {
        (ElemKind::F32, rest)
    } else {
        (ElemKind::F16, symbol.strip_prefix("halfvec_")?)
    };
    let metric = match rest {
        "l2_squared_distance_wrapper" => Metric::L2,
        "negative_inner_product_wrapper" => Metric::InnerProduct,
        "cosine_distance_wrapper" => Metric::Cosine,
        "l1_distance_wrapper" => Metric::L1,
        _ => return None,
    };
    Some((metric, elem))
}

/// `pg_proc.prosrc` of a C function: its symbol name.
unsafe fn function_symbol(proc_oid: pg_sys::Oid) -> String {
    let tuple = pg_sys::SearchSysCache1(
        pg_sys::SysCacheIdentifier::PROCOID as i32,
        pg_sys::Datum::from(proc_oid),
    );
    if tuple.is_null() {
        return String::new();
    }
    let mut is_null = false;
    let d = pg_sys::SysCacheGetAttr(
        pg_sys::SysCacheIdentifier::PROCOID as i32,
        tuple,
        pg_sys::Anum_pg_proc_prosrc as i16,
        &mut is_null,
    );
    let s = if is_null {
        String::new()
    } else {
        String::from_datum(d, false).unwrap_or_default()
    };
    pg_sys::ReleaseSysCache(tuple);
    s
}

/// The declared dimensions of the indexed column (`vector(n)`), if it has a typmod.
pub fn column_dims(index: pg_sys::Relation) -> Option<u32> {
    unsafe {
        let attr = (*(*index).rd_att).attrs.as_slice(1)[0];
        (attr.atttypmod > 0).then_some(attr.atttypmod as u32)
    }
}

/// An indexed value (vector or halfvec datum) as f32 values.
pub fn datum_values(datum: pg_sys::Datum, elem: ElemKind) -> Vec<f32> {
    unsafe {
        match elem {
            ElemKind::F32 => Vector::from_datum(datum, false)
                .unwrap()
                .as_slice()
                .to_vec(),
            ElemKind::F16 => HalfVec::from_datum(datum, false).unwrap().to_f32_vec(),
        }
    }
}

/// A memory context for the per-row work of build callbacks, emptied after every row. The
/// callbacks run in the statement's context, where a detoasted copy of every TOASTed vector
/// (over 2 KB: 512+ dimensions) would otherwise stay until the end of CREATE INDEX.
pub struct RowContext(pg_sys::MemoryContext);

impl RowContext {
    pub fn new() -> RowContext {
        RowContext(unsafe {
            pg_sys::AllocSetContextCreateInternal(
                pg_sys::CurrentMemoryContext,
                c"vector_ext row".as_ptr(),
                pg_sys::ALLOCSET_DEFAULT_MINSIZE as usize,
                pg_sys::ALLOCSET_DEFAULT_INITSIZE as usize,
                pg_sys::ALLOCSET_DEFAULT_MAXSIZE as usize,
            )
        })
    }

    /// The context, to [`RowContext::run`] in while the owner is borrowed mutably.
    pub fn get(&self) -> pg_sys::MemoryContext {
        self.0
    }

    /// Run `f` with `context` (a [`RowContext::get`]) current, then empty it. (After an error
    /// the transaction's abort restores the current context and frees this one with its parent.)
    pub fn run<R>(context: pg_sys::MemoryContext, f: impl FnOnce() -> R) -> R {
        /// Puts the previous context back, also when `f` unwinds (an ERROR inside it).
        struct Restore(pg_sys::MemoryContext);
        impl Drop for Restore {
            fn drop(&mut self) {
                unsafe { pg_sys::CurrentMemoryContext = self.0 };
            }
        }
        unsafe {
            let restore = Restore(pg_sys::CurrentMemoryContext);
            pg_sys::CurrentMemoryContext = context;
            let r = f();
            drop(restore);
            pg_sys::MemoryContextReset(context);
            r
        }
    }
}

impl Drop for RowContext {
    fn drop(&mut self) {
        unsafe {
            if pg_sys::CurrentMemoryContext == self.0 {
                pg_sys::CurrentMemoryContext = (*self.0).parent; // never delete the current one
            }
            pg_sys::MemoryContextDelete(self.0)
        }
    }
}

/// Calls `f(values, bytes)` with an indexed value's elements as `f32` and its raw element bytes
/// as stored on data pages (native endianness), without copying `f32` vectors.
pub fn with_datum<R>(
    datum: pg_sys::Datum,
    elem: ElemKind,
    f: impl FnOnce(&[f32], &[u8]) -> R,
) -> R {
    unsafe {
        match elem {
            ElemKind::F32 => {
                let v = Vector::from_datum(datum, false).unwrap();
                let values = v.as_slice();
                let bytes =
                    std::slice::from_raw_parts(values.as_ptr() as *const u8, values.len() * 4);
                f(values, bytes)
            }
            ElemKind::F16 => {
                let v = HalfVec::from_datum(datum, false).unwrap();
                let halves = v.as_slice();
                let bytes =
                    std::slice::from_raw_parts(halves.as_ptr() as *const u8, halves.len() * 2);
                f(&v.to_f32_vec(), bytes)
            }
        }
    }
}

/// An indexed value's elements as `f32` and its stored bytes, copied out of Postgres memory; a
/// detoasted copy lives only in a temporary context (aminsert may run in a long-lived one).
pub fn datum_owned(datum: pg_sys::Datum, elem: ElemKind) -> (Vec<f32>, Vec<u8>) {
    let ctx = RowContext::new();
    RowContext::run(ctx.get(), || {
        with_datum(datum, elem, |v, b| (v.to_vec(), b.to_vec()))
    })
}

/// Candidates the first pass of a scan keeps: enough for any usual LIMIT.
pub const FIRST_PASS: usize = 4096;

/// Candidates a later pass of a scan may keep (`vector_core::order::Passes`): `work_mem` shared
/// by the copies a pass holds at its peak (each thread's collector up to twice its cap, then
/// the merged array), never fewer than [`FIRST_PASS`].
pub fn candidate_budget() -> usize {
    ensure_pool();
    let threads = rayon::current_num_threads().max(1);
    let bytes = unsafe { pg_sys::work_mem }.max(64) as usize * 1024;
    (bytes / std::mem::size_of::<vector_core::order::Candidate>() / (3 * threads)).max(FIRST_PASS)
}

pub fn dimension_mismatch(expected: u32, got: usize) -> ! {
    error(
        PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
        format!("expected {expected} dimensions, not {got}"),
    )
}

// ------------------------------------------------------------------ worker pool

/// Make sure rayon's global pool (used for all pure computation inside a backend: scans,
/// k-means, assignment) exists with threads that block every signal, so Postgres' signal
/// handlers only ever run on the backend's own thread. Those threads never call Postgres.
pub fn ensure_pool() {
    static POOL: OnceLock<()> = OnceLock::new();
    POOL.get_or_init(|| {
        let _ = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("vector_ext-{i}"))
            .start_handler(|_| unsafe {
                let mut all: libc::sigset_t = std::mem::zeroed();
                libc::sigfillset(&mut all);
                libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
            })
            .build_global();
    });
}

// ------------------------------------------------------------------ shared callbacks

#[pg_guard]
unsafe extern "C-unwind" fn no_options(
    _reloptions: pg_sys::Datum,
    _validate: bool,
) -> *mut pg_sys::bytea {
    std::ptr::null_mut()
}

/// The index answers `ORDER BY col <op> const` only. Its work happens before the first row:
/// every stored vector is read once (densely packed, sequentially) and scored by a SIMD kernel,
/// far cheaper per row than a sequential scan's function call, tuple deform and sort.
#[pg_guard]
unsafe extern "C-unwind" fn cost_estimate(
    _root: *mut pg_sys::PlannerInfo,
    path: *mut pg_sys::IndexPath,
    _loop_count: f64,
    startup: *mut pg_sys::Cost,
    total: *mut pg_sys::Cost,
    selectivity: *mut pg_sys::Selectivity,
    correlation: *mut f64,
    pages: *mut f64,
) {
    estimate(
        path,
        1.0,
        0.0,
        startup,
        total,
        selectivity,
        correlation,
        pages,
    );
}

/// Cost of an ordered scan that scores `fraction` of the index before its first row, plus
/// `fixed` (e.g. centroid distances). Without an ORDER BY the index is never used: it does not
/// store NULL vectors, so an unordered scan would miss rows. Its cost is infinite, which no
/// other path (not even one disabled by `enable_seqscan = off`) can exceed.
///
/// The alternative is a sequential scan that evaluates the distance operator on every row and
/// sorts. Per row the index does strictly less: a SIMD kernel over packed pages instead of a
/// tuple deform, a detoast (vectors over ~500 dimensions live in TOAST, which the planner's
/// seq-scan estimate does not see) and a function call. So the full scan is costed at half of
/// the seq-scan estimate for the same relation, never below a small per-row CPU charge.
#[allow(clippy::too_many_arguments)]
pub unsafe fn estimate(
    path: *mut pg_sys::IndexPath,
    fraction: f64,
    fixed: f64,
    startup: *mut pg_sys::Cost,
    total: *mut pg_sys::Cost,
    selectivity: *mut pg_sys::Selectivity,
    correlation: *mut f64,
    pages: *mut f64,
) {
    let info = (*path).indexinfo;
    let index_pages = (*info).pages as f64;
    let tuples = (*info).tuples.max(0.0);
    let heap = (*info).rel;
    let heap_pages = (*heap).pages as f64;
    let heap_tuples = (*heap).tuples.max(tuples);
    *pages = index_pages;
    *selectivity = 1.0;
    *correlation = 0.0;
    if (*path).indexorderbys.is_null() {
        *startup = f64::INFINITY;
        *total = f64::INFINITY;
        *selectivity = 0.0;
        *pages = 0.0;
        return;
    }
    let seq_scan = heap_pages * pg_sys::seq_page_cost
        + heap_tuples * (pg_sys::cpu_tuple_cost + pg_sys::cpu_operator_cost);
    let full = (0.5 * seq_scan).max(tuples * pg_sys::cpu_operator_cost * 0.5);
    let scan = fixed + fraction * full;
    *startup = scan;
    *total = scan + fraction * tuples * pg_sys::cpu_index_tuple_cost * 0.1;
}

// ------------------------------------------------------------------ scan helpers

/// `ambeginscan` for both AMs: the scan descriptor, the ORDER BY value arrays (the AM owns
/// them: RelationGetIndexScan leaves them unset) and the AM's state, freed with the scan's
/// memory context, also when the query fails.
pub unsafe fn begin_scan<S: 'static>(
    index: pg_sys::Relation,
    nkeys: i32,
    norderbys: i32,
    state: S,
) -> pg_sys::IndexScanDesc {
    let scan = pg_sys::RelationGetIndexScan(index, nkeys, norderbys);
    let n = norderbys.max(1) as usize;
    (*scan).xs_orderbyvals = pg_sys::palloc0(n * std::mem::size_of::<pg_sys::Datum>()) as *mut _;
    (*scan).xs_orderbynulls = pg_sys::palloc(n * std::mem::size_of::<bool>()) as *mut bool;
    std::ptr::write_bytes((*scan).xs_orderbynulls, 1, n);
    (*scan).opaque = pgrx::PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(state)
        as *mut std::ffi::c_void;
    scan
}

/// Hand one row to the executor: its heap TID and its exact ORDER BY value (no recheck).
pub unsafe fn return_row(
    scan: pg_sys::IndexScanDesc,
    metric: Metric,
    c: vector_core::order::Candidate,
    null_query: bool,
) {
    let tid = vector_core::flat::Tid::unpack(c.id);
    (*scan).xs_heaptid = flat::tid_to_item_pointer(tid);
    (*scan).xs_recheck = false;
    (*scan).xs_recheckorderby = false;
    if (*scan).numberOfOrderBys > 0 {
        let value = vector_core::flat::operator_value(metric, c.dist);
        *(*scan).xs_orderbyvals = pg_sys::Datum::from(value.to_bits());
        *(*scan).xs_orderbynulls = null_query || value.is_nan();
    }
}

/// The query of the first ORDER BY key (`None` for a NULL query), keeping the executor's
/// copy of the keys as other AMs do.
pub unsafe fn order_by_query(
    scan: pg_sys::IndexScanDesc,
    orderbys: pg_sys::ScanKey,
    norderbys: i32,
    elem: ElemKind,
) -> Option<Vec<f32>> {
    if norderbys <= 0 || orderbys.is_null() {
        return None;
    }
    if !(*scan).orderByData.is_null() && (*scan).orderByData != orderbys {
        std::ptr::copy(orderbys, (*scan).orderByData, norderbys as usize);
    }
    let key = &*orderbys;
    (key.sk_flags & pg_sys::SK_ISNULL as i32 == 0).then(|| datum_values(key.sk_argument, elem))
}

/// Checks an opclass of a vector_ext AM: one ORDER BY operator (strategy 1) between two
/// values of the opclass type, and support function 1 one of our distance functions for that
/// type whose metric matches the operator.
#[pg_guard]
unsafe extern "C-unwind" fn validate(opclass: pg_sys::Oid) -> bool {
    let report = |msg: String| {
        ereport!(INFO, PgSqlErrorCode::ERRCODE_INVALID_OBJECT_DEFINITION, msg);
    };
    let oid = opclass.to_u32();
    let Ok(Some(name)) = Spi::get_one::<String>(&format!(
        "SELECT opcname::text FROM pg_opclass WHERE oid = {oid}"
    )) else {
        report(format!("operator class {oid} does not exist"));
        return false;
    };
    let Ok(Some(type_name)) = Spi::get_one::<String>(&format!(
        "SELECT opcintype::regtype::text FROM pg_opclass WHERE oid = {oid}"
    )) else {
        return false;
    };
    let elem = match type_name.as_str() {
        "vector" => ElemKind::F32,
        "halfvec" => ElemKind::F16,
        other => {
            report(format!(
                "operator class \"{name}\" is for type {other}, not vector or halfvec"
            ));
            return false;
        }
    };
    let ops = Spi::get_one::<i64>(&format!(
        "SELECT count(*) FROM pg_amop a JOIN pg_opclass c ON c.opcfamily = a.amopfamily
         WHERE c.oid = {oid} AND a.amopstrategy = 1 AND a.amoppurpose = 'o'
           AND a.amoplefttype = c.opcintype AND a.amoprighttype = c.opcintype"
    ))
    .ok()
    .flatten()
    .unwrap_or(0);
    if ops != 1 {
        report(format!(
            "operator class \"{name}\" needs exactly one ORDER BY operator as strategy 1"
        ));
        return false;
    }
    let support = Spi::get_one::<String>(&format!(
        "SELECT p.prosrc FROM pg_amproc a JOIN pg_opclass c ON c.opcfamily = a.amprocfamily
         JOIN pg_proc p ON p.oid = a.amproc
         WHERE c.oid = {oid} AND a.amprocnum = 1
           AND a.amproclefttype = c.opcintype AND a.amprocrighttype = c.opcintype"
    ))
    .ok()
    .flatten();
    let Some((metric, support_elem)) = support.as_deref().and_then(metric_for_symbol) else {
        report(format!(
            "operator class \"{name}\" needs support function 1: a vector_ext distance function"
        ));
        return false;
    };
    if support_elem != elem {
        report(format!(
            "operator class \"{name}\": support function 1 is for another type"
        ));
        return false;
    }
    let op_symbol = Spi::get_one::<String>(&format!(
        "SELECT p.prosrc FROM pg_amop a JOIN pg_opclass c ON c.opcfamily = a.amopfamily
         JOIN pg_operator o ON o.oid = a.amopopr JOIN pg_proc p ON p.oid = o.oprcode
         WHERE c.oid = {oid} AND a.amopstrategy = 1"
    ))
    .ok()
    .flatten()
    .unwrap_or_default();
    let op_metric = op_symbol
        .strip_prefix(if elem == ElemKind::F32 {
            "vector_"
        } else {
            "halfvec_"
        })
        .and_then(|s| s.strip_suffix("_wrapper"))
        .and_then(|s| match s {
            "l2_distance" => Some(Metric::L2),
            "negative_inner_product" => Some(Metric::InnerProduct),
            "cosine_distance" => Some(Metric::Cosine),
            "l1_distance" => Some(Metric::L1),
            _ => None,
        });
    if op_metric != Some(metric) {
        report(format!(
            "operator class \"{name}\": the ORDER BY operator does not match support function 1"
        ));
        return false;
    }
    true
}
