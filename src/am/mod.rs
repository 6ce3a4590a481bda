//! What the index access methods share: the skeleton every AM plugs into (`skeleton`), the
//! opclass support function that names an index's metric, reading indexed vectors, the heap
//! scan of a build (`heap`), the scan pipeline (`stream`), cost estimation, opclass validation
//! and the worker pool used for pure compute.

pub mod flat;
pub mod heap;
pub mod hnsw;
pub mod ivf;
pub mod skeleton;
pub mod stream;

use std::sync::OnceLock;

use pgrx::callconv::{BoxRet, FcInfo};
use pgrx::datum::Datum;
use pgrx::pg_sys;
use pgrx::prelude::*;
use vector_core::am::Error as AmError;
use vector_core::distance::Metric;
use vector_core::elem::ElemKind;
use vector_core::tid::Tid;

use crate::types::sparsevec::PgSparse;
use crate::types::{error, HalfVec, Vector};
use skeleton::VectorAm;

/// An `IndexAmRoutine` node returned by an `index_am_handler` function.
pub struct AmRoutine(pub *mut pg_sys::IndexAmRoutine);

unsafe impl BoxRet for AmRoutine {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        fcinfo.return_raw_datum(pg_sys::Datum::from(self.0))
    }
}
pgrx::impl_sql_translatable!(AmRoutine, "index_am_handler");

/// Support function 2 of every index opclass: what the opclass indexes, as
/// `vector_core::elem::opclass_code` (the access methods call it; so may a user, harmlessly).
macro_rules! opclass_support {
    ($($name:ident: $elem:ident, $metric:ident;)*) => {$(
        #[pg_extern(immutable, strict, parallel_safe, sql = false)]
        fn $name(_unused: pgrx::Internal) -> i32 {
            vector_core::elem::opclass_code(ElemKind::$elem, Metric::$metric)
        }
    )*};
}
opclass_support! {
    _vector_ext_support_vector_l2_ops: F32, L2;
    _vector_ext_support_vector_ip_ops: F32, InnerProduct;
    _vector_ext_support_vector_cosine_ops: F32, Cosine;
    _vector_ext_support_vector_l1_ops: F32, L1;
    _vector_ext_support_halfvec_l2_ops: F16, L2;
    _vector_ext_support_halfvec_ip_ops: F16, InnerProduct;
    _vector_ext_support_halfvec_cosine_ops: F16, Cosine;
    _vector_ext_support_halfvec_l1_ops: F16, L1;
    _vector_ext_support_bit_hamming_ops: Bit, Hamming;
    _vector_ext_support_bit_jaccard_ops: Bit, Jaccard;
    _vector_ext_support_sparsevec_l2_ops: Sparse, L2;
    _vector_ext_support_sparsevec_ip_ops: Sparse, InnerProduct;
    _vector_ext_support_sparsevec_cosine_ops: Sparse, Cosine;
    _vector_ext_support_sparsevec_l1_ops: Sparse, L1;
}

/// What pgvector's per-type support functions (`hnsw_halfvec_support` and the like) return
/// here: a pointer to a static record of the element type they stand for
/// (`vector_core::elem::ElemKind` as u32). They exist so that every object of pgvector's is
/// there by name and signature (tools and hand-written opclasses may name them); vector_ext's
/// own opclasses say what they index through support function 2 instead.
#[repr(C)]
pub struct TypeSupport {
    pub elem: u32,
}

pub struct TypeSupportPtr(&'static TypeSupport);

unsafe impl BoxRet for TypeSupportPtr {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        fcinfo.return_raw_datum(pg_sys::Datum::from(self.0 as *const TypeSupport))
    }
}
pgrx::impl_sql_translatable!(TypeSupportPtr, "internal");

macro_rules! type_support {
    ($($name:ident: $elem:ident;)*) => {$(
        #[pg_extern(sql = false)]
        fn $name(_fcinfo: pg_sys::FunctionCallInfo) -> TypeSupportPtr {
            static SUPPORT: TypeSupport = TypeSupport { elem: ElemKind::$elem as u32 };
            TypeSupportPtr(&SUPPORT)
        }
    )*};
}
type_support! {
    hnsw_halfvec_support: F16;
    hnsw_bit_support: Bit;
    hnsw_sparsevec_support: Sparse;
    ivfflat_halfvec_support: F16;
    ivfflat_bit_support: Bit;
}

/// Support function numbers: 1 the ordering distance (pgvector's), 2 what the opclass indexes.
pub const SUPPORT_PROCS: u16 = 2;
const SUPPORT_OPCLASS: u16 = 2;

/// The metric and element type an index was built for, from its opclass's support function 2.
pub fn opclass_metric(index: pg_sys::Relation) -> (Metric, ElemKind) {
    let code = unsafe {
        // The relcache keeps the function's lookup for the index: no catalog access per call.
        let proc_oid = pg_sys::index_getprocid(index, 1, SUPPORT_OPCLASS);
        (proc_oid != pg_sys::InvalidOid).then(|| {
            let finfo = pg_sys::index_getprocinfo(index, 1, SUPPORT_OPCLASS);
            pg_sys::FunctionCall1Coll(finfo, pg_sys::InvalidOid, pg_sys::Datum::from(0usize))
                .value() as i32
        })
    };
    match code
        .and_then(vector_core::elem::decode_opclass)
        .or_else(|| unsafe { opclass_by_operator(index) })
    {
        Some((elem, metric)) => (metric, elem),
        None => crate::types::error_with_hint(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!(
                "operator class of index \"{}\" has no vector_ext support function 2",
                unsafe { crate::storage::relation_name(index) }
            ),
            "Run ALTER EXTENSION vector_ext UPDATE.".into(),
        ),
    }
}

/// For an opclass created by vector_ext 0.1.0, which has no support function 2: what it
/// indexes, from its type and ORDER BY operator (both pgvector's SQL names, which never
/// change). Needed between installing a new library and `ALTER EXTENSION vector_ext UPDATE`,
/// and afterwards in sessions that were open then (Postgres caches opclass members per backend
/// and never refreshes them).
unsafe fn opclass_by_operator(index: pg_sys::Relation) -> Option<(ElemKind, Metric)> {
    let (family, ty) = (*(*index).rd_opfamily, *(*index).rd_opcintype);
    let op = pg_sys::get_opfamily_member(family, ty, ty, 1);
    if op == pg_sys::InvalidOid {
        return None;
    }
    let name = std::ffi::CStr::from_ptr(pg_sys::get_opname(op));
    let metric = match name.to_bytes() {
        b"<->" => Metric::L2,
        b"<#>" => Metric::InnerProduct,
        b"<=>" => Metric::Cosine,
        b"<+>" => Metric::L1,
        _ => return None,
    };
    let tuple = pg_sys::SearchSysCache1(
        pg_sys::SysCacheIdentifier::TYPEOID as i32,
        pg_sys::Datum::from(ty),
    );
    if tuple.is_null() {
        return None;
    }
    let form = pg_sys::GETSTRUCT(tuple) as *const pg_sys::FormData_pg_type;
    let elem = match std::ffi::CStr::from_ptr((*form).typname.data.as_ptr()).to_bytes() {
        b"vector" => Some(ElemKind::F32),
        b"halfvec" => Some(ElemKind::F16),
        _ => None,
    };
    pg_sys::ReleaseSysCache(tuple);
    Some((elem?, metric))
}

/// Calls support function `proc_oid` (it takes an unused `internal` and returns an integer).
unsafe fn opclass_code_of(proc_oid: pg_sys::Oid) -> i32 {
    let d = pg_sys::OidFunctionCall1Coll(proc_oid, pg_sys::InvalidOid, pg_sys::Datum::from(0usize));
    d.value() as i32
}

/// The declared dimensions of the indexed column (`vector(n)`), if it has a typmod.
pub fn column_dims(index: pg_sys::Relation) -> Option<u32> {
    unsafe {
        let attr = (*(*index).rd_att).attrs.as_slice(1)[0];
        (attr.atttypmod > 0).then_some(attr.atttypmod as u32)
    }
}

/// An ORDER BY value, as a scan needs it.
pub struct QueryValue {
    /// The elements as f32 (bit strings: 0.0 / 1.0 per bit; `sparsevec`: none).
    pub values: Vec<f32>,
    /// A `sparsevec` as an index stores it (empty for the other types).
    pub stored: Vec<u8>,
    /// Its dimension (bit strings: length).
    pub dims: usize,
}

/// An ORDER BY value of the opclass's type.
pub fn datum_query(datum: pg_sys::Datum, elem: ElemKind) -> QueryValue {
    unsafe {
        let values = match elem {
            ElemKind::F32 => Vector::from_datum(datum, false)
                .unwrap()
                .as_slice()
                .to_vec(),
            ElemKind::F16 => HalfVec::from_datum(datum, false).unwrap().to_f32_vec(),
            ElemKind::Bit => with_datum(datum, elem, |v, _, _| v.to_vec()),
            ElemKind::Sparse => {
                let s = PgSparse::from_datum(datum, false).unwrap();
                return QueryValue {
                    values: Vec::new(),
                    stored: vector_core::sparse::encode(s.indices(), s.values()),
                    dims: s.dim() as usize,
                };
            }
        };
        QueryValue {
            dims: values.len(),
            values,
            stored: Vec::new(),
        }
    }
}

/// Longest bit string an index takes: 64 KB, as many bytes as the longest `vector`.
pub const MAX_INDEX_BITS: u32 = 524_288;

/// A `bit` value's bits as 0.0 / 1.0 (its length is the index's "dimension") and its bytes.
fn bit_values(b: &crate::types::bit::PgBit) -> Vec<f32> {
    if b.is_empty() {
        error(
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            "an index cannot hold an empty bit string".into(),
        );
    }
    if b.len() > MAX_INDEX_BITS {
        error(
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!(
                "bit string of {} bits is too long for an index: at most {MAX_INDEX_BITS}",
                b.len()
            ),
        );
    }
    let bytes = b.bytes();
    (0..b.len() as usize)
        .map(|i| ((bytes[i / 8] >> (7 - i % 8)) & 1) as f32)
        .collect()
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

/// Calls `f(values, bytes, dims)` with an indexed value's elements as `f32`, its raw element
/// bytes as stored on data pages (native endianness) and its dimension, without copying `f32`
/// vectors.
pub fn with_datum<R>(
    datum: pg_sys::Datum,
    elem: ElemKind,
    f: impl FnOnce(&[f32], &[u8], usize) -> R,
) -> R {
    unsafe {
        match elem {
            ElemKind::F32 => {
                let v = Vector::from_datum(datum, false).unwrap();
                let values = v.as_slice();
                let bytes =
                    std::slice::from_raw_parts(values.as_ptr() as *const u8, values.len() * 4);
                f(values, bytes, values.len())
            }
            ElemKind::F16 => {
                let v = HalfVec::from_datum(datum, false).unwrap();
                let halves = v.as_slice();
                let bytes =
                    std::slice::from_raw_parts(halves.as_ptr() as *const u8, halves.len() * 2);
                f(&v.to_f32_vec(), bytes, halves.len())
            }
            ElemKind::Bit => {
                let b = crate::types::bit::PgBit::from_datum(datum, false).unwrap();
                let values = bit_values(&b);
                f(&values, b.bytes(), values.len())
            }
            // The non-zero values (none: a zero vector) and the stored form.
            ElemKind::Sparse => {
                let s = PgSparse::from_datum(datum, false).unwrap();
                f(
                    s.values(),
                    &vector_core::sparse::encode(s.indices(), s.values()),
                    s.dim() as usize,
                )
            }
        }
    }
}

/// An indexed value's elements as `f32`, its stored bytes and its dimension, copied out of
/// Postgres memory; a detoasted copy lives only in a temporary context (aminsert may run in a
/// long-lived one).
pub fn datum_owned(datum: pg_sys::Datum, elem: ElemKind) -> (Vec<f32>, Vec<u8>, usize) {
    let ctx = RowContext::new();
    RowContext::run(ctx.get(), || {
        with_datum(datum, elem, |v, b, dims| (v.to_vec(), b.to_vec(), dims))
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

/// The most elements of a `sparsevec` an index holds: pgvector's limit for hnsw, also `flat`'s
/// (a row must fit a page); `bytes`: as stored; `am`: the access method, for the message.
pub fn check_sparse(bytes: &[u8], am: &str) {
    let nnz = bytes.len().saturating_sub(4) / 8;
    if nnz > vector_core::sparse::HNSW_MAX_NNZ {
        error(
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!(
                "sparsevec cannot have more than {} non-zero elements for {am} index",
                vector_core::sparse::HNSW_MAX_NNZ
            ),
        );
    }
}

pub fn dimension_mismatch(expected: u32, got: usize) -> ! {
    error(
        PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
        format!("expected {expected} dimensions, not {got}"),
    )
}

/// An error of a core index algorithm, as a SQL error.
pub fn am_error(index: pg_sys::Relation, e: AmError) -> ! {
    match e {
        AmError::Meta(m) => {
            crate::storage::check_meta(Err(m), index);
            unreachable!("check_meta raises an ERROR for a meta error")
        }
        AmError::Dimensions { expected, got } => dimension_mismatch(expected, got),
        AmError::RowTooLong { len } => error(
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!(
                "a row of {len} bytes is too long for a page of index \"{}\"",
                unsafe { crate::storage::relation_name(index) }
            ),
        ),
    }
}

/// A heap TID from Postgres' `ItemPointerData`.
pub fn item_pointer_to_tid(ip: &pg_sys::ItemPointerData) -> Tid {
    Tid {
        block: ((ip.ip_blkid.bi_hi as u32) << 16) | ip.ip_blkid.bi_lo as u32,
        offset: ip.ip_posid,
    }
}

pub fn tid_to_item_pointer(tid: Tid) -> pg_sys::ItemPointerData {
    let mut ip = pg_sys::ItemPointerData::default();
    ip.ip_blkid.bi_hi = (tid.block >> 16) as u16;
    ip.ip_blkid.bi_lo = tid.block as u16;
    ip.ip_posid = tid.offset;
    ip
}

/// Report a CREATE INDEX progress counter (`pg_stat_progress_create_index`).
pub fn progress(param: u32, value: i64) {
    unsafe { pg_sys::pgstat_progress_update_param(param as i32, value) }
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

/// The index answers `ORDER BY col <op> const` only. Its work happens before the first row:
/// the part of the index the AM scans (`VectorAm::scan_fraction`) is read once, densely
/// packed and sequentially, and scored by a SIMD kernel, far cheaper per row than a
/// sequential scan's function call, tuple deform and sort.
#[pg_guard]
#[allow(clippy::too_many_arguments)]
unsafe extern "C-unwind" fn cost_estimate<A: VectorAm>(
    _root: *mut pg_sys::PlannerInfo,
    path: *mut pg_sys::IndexPath,
    _loop_count: f64,
    startup: *mut pg_sys::Cost,
    total: *mut pg_sys::Cost,
    selectivity: *mut pg_sys::Selectivity,
    correlation: *mut f64,
    pages: *mut f64,
) {
    let index = pg_sys::index_open((*(*path).indexinfo).indexoid, pg_sys::NoLock as i32);
    let (fraction, fixed) = A::scan_fraction(index);
    pg_sys::index_close(index, pg_sys::NoLock as i32);
    estimate(
        path,
        fraction,
        fixed,
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
unsafe fn estimate(
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

/// Hand one row to the executor: its heap TID and its exact ORDER BY value (no recheck).
unsafe fn return_row(
    scan: pg_sys::IndexScanDesc,
    metric: Metric,
    c: vector_core::order::Candidate,
    null_query: bool,
) {
    let tid = Tid::unpack(c.id);
    (*scan).xs_heaptid = tid_to_item_pointer(tid);
    (*scan).xs_recheck = false;
    // Jaccard distances are scored as f32 lower bounds: the executor recomputes them and
    // reorders (exact order); every other ordering value is exact.
    (*scan).xs_recheckorderby = metric == Metric::Jaccard;
    if (*scan).numberOfOrderBys > 0 {
        let value = vector_core::elem::operator_value(metric, c.dist);
        *(*scan).xs_orderbyvals = pg_sys::Datum::from(value.to_bits());
        *(*scan).xs_orderbynulls = null_query || value.is_nan();
    }
}

/// The query of the first ORDER BY key (`None` for a NULL query), keeping the executor's
/// copy of the keys as other AMs do.
unsafe fn order_by_query(
    scan: pg_sys::IndexScanDesc,
    orderbys: pg_sys::ScanKey,
    norderbys: i32,
    elem: ElemKind,
) -> Option<QueryValue> {
    if norderbys <= 0 || orderbys.is_null() {
        return None;
    }
    if !(*scan).orderByData.is_null() && (*scan).orderByData != orderbys {
        std::ptr::copy(orderbys, (*scan).orderByData, norderbys as usize);
    }
    let key = &*orderbys;
    (key.sk_flags & pg_sys::SK_ISNULL as i32 == 0).then(|| datum_query(key.sk_argument, elem))
}

/// Checks an opclass of a vector_ext AM: one ORDER BY operator (strategy 1) between two
/// values of the opclass type; support function 1 (the ordering distance) for that type; and
/// support function 2 naming that type and the metric of the operator.
#[pg_guard]
pub(crate) unsafe extern "C-unwind" fn validate(opclass: pg_sys::Oid) -> bool {
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
    let one = |sql: &str| Spi::get_one::<String>(sql).ok().flatten();
    let type_name = one(&format!(
        "SELECT opcintype::regtype::text FROM pg_opclass WHERE oid = {oid}"
    ))
    .unwrap_or_default();
    let op = one(&format!(
        "SELECT string_agg(o.oprname::text, ' ') FROM pg_amop a
         JOIN pg_opclass c ON c.opcfamily = a.amopfamily JOIN pg_operator o ON o.oid = a.amopopr
         WHERE c.oid = {oid} AND a.amopstrategy = 1 AND a.amoppurpose = 'o'
           AND a.amoplefttype = c.opcintype AND a.amoprighttype = c.opcintype"
    ));
    let Some(op) = op.filter(|o| !o.contains(' ')) else {
        report(format!(
            "operator class \"{name}\" needs exactly one ORDER BY operator as strategy 1"
        ));
        return false;
    };
    let support = |n: u16| {
        Spi::get_one::<pg_sys::Oid>(&format!(
            "SELECT a.amproc FROM pg_amproc a JOIN pg_opclass c ON c.opcfamily = a.amprocfamily
             WHERE c.oid = {oid} AND a.amprocnum = {n}
               AND a.amproclefttype = c.opcintype AND a.amprocrighttype = c.opcintype"
        ))
        .ok()
        .flatten()
    };
    if support(1).is_none() {
        report(format!(
            "operator class \"{name}\" needs support function 1: the distance it orders by"
        ));
        return false;
    }
    let Some((elem, metric)) = support(SUPPORT_OPCLASS)
        .and_then(|f| vector_core::elem::decode_opclass(opclass_code_of(f)))
    else {
        report(format!(
            "operator class \"{name}\" needs support function 2: a vector_ext opclass support function"
        ));
        return false;
    };
    let expected_type = match elem {
        ElemKind::F32 => "vector",
        ElemKind::F16 => "halfvec",
        ElemKind::Bit => "bit",
        ElemKind::Sparse => "sparsevec",
    };
    if type_name != expected_type {
        report(format!(
            "operator class \"{name}\" is for type {type_name}, its support function 2 for {expected_type}"
        ));
        return false;
    }
    let expected_op = match metric {
        Metric::L2 => "<->",
        Metric::InnerProduct => "<#>",
        Metric::Cosine => "<=>",
        Metric::L1 => "<+>",
        Metric::Hamming => "<~>",
        Metric::Jaccard => "<%>",
    };
    if op != expected_op {
        report(format!(
            "operator class \"{name}\" orders by {op}, its support function 2 by {expected_op}"
        ));
        return false;
    }
    true
}
