//! Everything that talks to PostgreSQL: extension setup, COPY BINARY loading,
//! index specs and builds (with `pg_stat_progress_create_index` polling),
//! sizes, EXPLAIN, and timed query runs (single and concurrent clients).
//!
//! Uses the synchronous `postgres` crate. A query vector is sent either as
//! text (`$1::text::vector`, works with any extension that has text input)
//! or in pgvector's binary format (`$1::vector`, needs the type's `recv`).

use crate::dataset::Matrix;
use crate::truth::Metric;
use anyhow::{anyhow, bail, Context, Result};
use bytes::BytesMut;
use indicatif::{ProgressBar, ProgressStyle};
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Client, NoTls};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::sync::{mpsc, Barrier};
use std::time::{Duration, Instant};

/// Connect with a libpq-style connection string or URL.
pub fn connect(url: &str) -> Result<Client> {
    Client::connect(url, NoTls).with_context(|| format!("connect to {url:?}"))
}

/// If `c` no longer works (e.g. its backend crashed and the server restarted
/// every session), reconnect, waiting up to a minute for the server to
/// finish crash recovery.
pub fn ensure_connected(c: &mut Client, url: &str) -> Result<()> {
    if c.is_valid(Duration::from_secs(10)).is_ok() {
        return Ok(());
    }
    eprintln!("[server] connection lost: reconnecting");
    let t = Instant::now();
    loop {
        match connect(url) {
            Ok(n) => {
                *c = n;
                return Ok(());
            }
            Err(e) if t.elapsed() > Duration::from_secs(60) => {
                return Err(e.context("the server did not come back within 60 s"))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// Check that `s` is a plain lower-case SQL identifier (no quoting needed).
pub fn check_ident(s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        bail!("{s:?} is not a plain identifier (use [a-z_][a-z0-9_]*, at most 63 chars)")
    }
}

/// Quote an identifier.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Quote a string literal.
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `SHOW server_version`.
pub fn server_version(c: &mut Client) -> Result<String> {
    Ok(c.query_one("SHOW server_version", &[])?.get(0))
}

/// `CREATE EXTENSION IF NOT EXISTS ext`, check that type `vector` is the one
/// from `ext`, and return the installed extension version.
pub fn ensure_extension(c: &mut Client, ext: &str) -> Result<String> {
    let sql = format!("CREATE EXTENSION IF NOT EXISTS {}", quote_ident(ext));
    if let Err(e) = c.batch_execute(&sql) {
        let msg = db_error(&e);
        let hint = if msg.contains("not available") {
            "(hint: the extension is not installed on the server: --ext vector needs pgvector, \
             --ext vector_ext needs this project's extension)"
        } else {
            "(hint: vector_ext and pgvector both define type `vector`; each needs its own \
             database, e.g. --url '... dbname=pgvector')"
        };
        bail!("CREATE EXTENSION {ext} failed: {msg}\n{hint}");
    }
    let owners: Vec<String> = c
        .query(
            "SELECT e.extname::text FROM pg_type t \
             JOIN pg_depend d ON d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e' \
             JOIN pg_extension e ON e.oid = d.refobjid \
             WHERE t.typname = 'vector' AND pg_type_is_visible(t.oid)",
            &[],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if let Some(o) = owners.iter().find(|o| o.as_str() != ext) {
        bail!("type `vector` visible in this database belongs to extension {o:?}, not {ext:?}; use another database");
    }
    let v: Option<String> = c
        .query_opt(
            "SELECT extversion::text FROM pg_extension WHERE extname = $1",
            &[&ext],
        )?
        .map(|r| r.get(0));
    v.ok_or_else(|| anyhow!("extension {ext} not installed after CREATE EXTENSION"))
}

/// Human-readable text of a server error (message + detail/hint if any).
pub fn db_error(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => {
            let mut s = format!("{}: {}", d.severity(), d.message());
            if let Some(x) = d.detail() {
                s += &format!(" DETAIL: {x}");
            }
            if let Some(x) = d.hint() {
                s += &format!(" HINT: {x}");
            }
            s
        }
        None => e.to_string(),
    }
}

/// Comment stored on a loaded table: identifies dataset, extension and shape.
pub fn table_comment(fingerprint: &str, ext: &str, rows: usize, dim: usize) -> String {
    format!("vector_bench dataset={fingerprint} ext={ext} rows={rows} dim={dim}")
}

/// The table's comment, or `None` if the table does not exist.
pub fn read_table_comment(c: &mut Client, table: &str) -> Result<Option<Option<String>>> {
    let row = c.query_one(
        "SELECT to_regclass($1) IS NOT NULL, obj_description(to_regclass($1), 'pg_class')",
        &[&table],
    )?;
    let exists: bool = row.get(0);
    Ok(if exists { Some(row.get(1)) } else { None })
}

/// Does `table` hold exactly the dataset described by `comment` (and `rows`
/// rows of `embedding vector(dim)`)? If so it can be reused without reloading.
/// (`DROP EXTENSION ... CASCADE` drops the column but keeps table and comment.)
pub fn table_matches(
    c: &mut Client,
    table: &str,
    comment: &str,
    rows: usize,
    dim: usize,
) -> Result<bool> {
    match read_table_comment(c, table)? {
        Some(Some(cm)) if cm == comment => {
            let ty: Option<String> = c
                .query_opt(
                    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
                     WHERE attrelid = to_regclass($1) AND attname = 'embedding' \
                     AND NOT attisdropped",
                    &[&table],
                )?
                .map(|r| r.get(0));
            if ty.as_deref() != Some(format!("vector({dim})").as_str()) {
                return Ok(false);
            }
            let n: i64 = c
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])?
                .get(0);
            Ok(n as usize == rows)
        }
        _ => Ok(false),
    }
}

/// PGCOPY binary header: signature, flags (0), header-extension length (0).
pub fn copy_header() -> Vec<u8> {
    let mut h = b"PGCOPY\n\xff\r\n\0".to_vec();
    h.extend_from_slice(&0i32.to_be_bytes());
    h.extend_from_slice(&0i32.to_be_bytes());
    h
}

/// PGCOPY binary trailer (field count −1).
pub const COPY_TRAILER: [u8; 2] = [0xff, 0xff];

/// pgvector's binary wire format of a vector: int16 dim, int16 unused (0),
/// then `dim` float4, all big-endian.
pub fn vector_binary(v: &[f32], out: &mut Vec<u8>) {
    out.extend_from_slice(&(v.len() as i16).to_be_bytes());
    out.extend_from_slice(&0i16.to_be_bytes());
    for x in v {
        out.extend_from_slice(&x.to_be_bytes());
    }
}

/// Append one `(id int4, embedding vector)` tuple in COPY BINARY format:
/// int16 field count, then per field int32 length + bytes.
pub fn encode_row(out: &mut Vec<u8>, id: i32, v: &[f32]) {
    out.extend_from_slice(&2i16.to_be_bytes());
    out.extend_from_slice(&4i32.to_be_bytes());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&((4 + 4 * v.len()) as i32).to_be_bytes());
    vector_binary(v, out);
}

/// Text form `[1,2.5,-3]` (shortest round-trip float formatting).
pub fn vector_text(v: &[f32]) -> String {
    let mut s = String::with_capacity(v.len() * 10 + 2);
    s.push('[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!("{x}"));
    }
    s.push(']');
    s
}

/// A query vector bound as a `vector` parameter in binary format.
#[derive(Debug)]
pub struct VectorParam<'a>(pub &'a [f32]);

impl ToSql for VectorParam<'_> {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let mut b = Vec::with_capacity(4 + 4 * self.0.len());
        vector_binary(self.0, &mut b);
        out.extend_from_slice(&b);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        ty.name() == "vector"
    }
    to_sql_checked!();
}

/// Statistics of a table load.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoadStats {
    /// True when the table already held this dataset and was reused.
    pub reused: bool,
    pub rows: u64,
    /// COPY time.
    pub copy_seconds: f64,
    pub rows_per_sec: f64,
    pub mb_per_sec: f64,
    /// ALTER TABLE ... ADD PRIMARY KEY time.
    pub primary_key_seconds: f64,
    /// VACUUM ANALYZE time.
    pub vacuum_analyze_seconds: f64,
}

/// (Re)create `table` as `(id int4 primary key, embedding vector(dim))` and
/// fill it from `base` with COPY BINARY (ids are row indexes). The primary
/// key is added after the COPY (faster, same final table), then the table is
/// VACUUM ANALYZEd and tagged with `comment`.
pub fn load_table(c: &mut Client, table: &str, base: &Matrix, comment: &str) -> Result<LoadStats> {
    check_ident(table)?;
    c.batch_execute(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int4 NOT NULL, embedding vector({}))",
        base.dim
    ))
    .map_err(|e| anyhow!("create table {table}: {}", db_error(&e)))?;

    let pb = ProgressBar::new(base.rows as u64).with_style(
        ProgressStyle::with_template(
            "load  {bar:40.cyan/blue} {pos}/{len} rows {per_sec} eta {eta}",
        )
        .unwrap()
        .progress_chars("=> "),
    );
    let t = Instant::now();
    let mut w = c
        .copy_in(&format!(
            "COPY {table} (id, embedding) FROM STDIN (FORMAT binary)"
        ))
        .map_err(|e| anyhow!("COPY: {}", db_error(&e)))?;
    let mut buf = copy_header();
    const BATCH: usize = 2048;
    for (i, row) in base.iter_rows().enumerate() {
        encode_row(&mut buf, i as i32, row);
        if (i + 1) % BATCH == 0 {
            w.write_all(&buf)?;
            buf.clear();
            pb.set_position(i as u64 + 1);
        }
    }
    buf.extend_from_slice(&COPY_TRAILER);
    w.write_all(&buf)?;
    let rows = w.finish().map_err(|e| anyhow!("COPY: {}", db_error(&e)))?;
    let copy_seconds = t.elapsed().as_secs_f64();
    pb.finish_and_clear();
    if rows as usize != base.rows {
        bail!("COPY loaded {rows} rows, expected {}", base.rows);
    }

    let t = Instant::now();
    c.batch_execute(&format!("ALTER TABLE {table} ADD PRIMARY KEY (id)"))?;
    let primary_key_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    c.batch_execute(&format!("VACUUM (ANALYZE) {table}"))?;
    let vacuum_analyze_seconds = t.elapsed().as_secs_f64();
    c.batch_execute(&format!(
        "COMMENT ON TABLE {table} IS {}",
        quote_literal(comment)
    ))?;
    Ok(LoadStats {
        reused: false,
        rows,
        copy_seconds,
        rows_per_sec: rows as f64 / copy_seconds,
        mb_per_sec: base.bytes() as f64 / copy_seconds / 1e6,
        primary_key_seconds,
        vacuum_analyze_seconds,
    })
}

/// Size of a table (heap, TOAST, free space and visibility maps), and that
/// plus its primary key (other indexes, e.g. one kept by an earlier run, are
/// not counted), in bytes.
pub fn table_sizes(c: &mut Client, table: &str) -> Result<(i64, i64)> {
    let r = c.query_one(
        "SELECT pg_table_size(to_regclass($1)), pg_table_size(to_regclass($1)) + \
         coalesce((SELECT sum(pg_relation_size(indexrelid))::bigint FROM pg_index \
                   WHERE indrelid = to_regclass($1) AND indisprimary), 0)",
        &[&table],
    )?;
    Ok((r.get(0), r.get(1)))
}

/// An index to build, parsed from `method[:key=value,...]`, e.g. `flat`,
/// `ivfflat:lists=1000`, `hnsw:m=16,ef_construction=64`. The pseudo-method
/// `seqscan` means "no index, exact sequential scan baseline".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexSpec {
    pub method: String,
    pub options: Vec<(String, String)>,
}

impl IndexSpec {
    /// Parse a spec string.
    pub fn parse(s: &str) -> Result<IndexSpec> {
        let (method, opts) = match s.split_once(':') {
            Some((m, o)) => (m.trim(), o.trim()),
            None => (s.trim(), ""),
        };
        check_ident(method).with_context(|| format!("index spec {s:?}: bad method"))?;
        let mut options = Vec::new();
        for kv in opts.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| anyhow!("index spec {s:?}: option {kv:?} is not key=value"))?;
            let (k, v) = (k.trim(), v.trim());
            check_ident(k).with_context(|| format!("index spec {s:?}: bad option name"))?;
            if v.is_empty()
                || !v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
            {
                bail!("index spec {s:?}: bad option value {v:?}");
            }
            options.push((k.to_string(), v.to_string()));
        }
        if method == "seqscan" && !options.is_empty() {
            bail!("seqscan takes no options");
        }
        Ok(IndexSpec {
            method: method.to_string(),
            options,
        })
    }

    /// Is this the no-index sequential-scan baseline?
    pub fn is_seqscan(&self) -> bool {
        self.method == "seqscan"
    }

    /// Does this configuration compute exact distances for every row (so
    /// "GB/s scanned" is meaningful)?
    pub fn is_exact_scan(&self) -> bool {
        self.is_seqscan() || self.method == "flat"
    }

    /// Option value by name.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Label like `ivfflat(lists=1000)`.
    pub fn label(&self) -> String {
        if self.options.is_empty() {
            self.method.clone()
        } else {
            let o: Vec<String> = self
                .options
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("{}({})", self.method, o.join(","))
        }
    }

    /// Index relation name for `table`.
    pub fn index_name(&self, table: &str) -> String {
        let mut n = format!("{table}_{}_idx", self.method);
        n.truncate(63);
        n
    }

    /// `CREATE INDEX` statement.
    pub fn create_sql(&self, table: &str, metric: Metric) -> String {
        let mut s = format!(
            "CREATE INDEX {} ON {table} USING {} (embedding {})",
            self.index_name(table),
            self.method,
            metric.opclass()
        );
        if !self.options.is_empty() {
            let o: Vec<String> = self
                .options
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
            s += &format!(" WITH ({})", o.join(", "));
        }
        s
    }
}

/// Drop every non-primary-key index of `table` (so the planner can only use
/// the one under test).
pub fn drop_secondary_indexes(c: &mut Client, table: &str) -> Result<Vec<String>> {
    drop_secondary_indexes_except(c, table, None)
}

/// Drop every non-primary-key index of `table` but `keep`; returns the names dropped.
pub fn drop_secondary_indexes_except(
    c: &mut Client,
    table: &str,
    keep: Option<&str>,
) -> Result<Vec<String>> {
    let names: Vec<String> = c
        .query(
            "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE i.indrelid = to_regclass($1) AND NOT i.indisprimary",
            &[&table],
        )?
        .iter()
        .map(|r| r.get::<_, String>(0))
        .filter(|n| Some(n.as_str()) != keep)
        .collect();
    for n in &names {
        c.batch_execute(&format!("DROP INDEX IF EXISTS {}", quote_ident(n)))?;
    }
    Ok(names)
}

/// Result of an index build.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BuildStats {
    pub index_name: String,
    pub sql: String,
    pub seconds: f64,
    pub index_bytes: i64,
    /// Phases seen in `pg_stat_progress_create_index`, in order.
    pub phases: Vec<String>,
}

/// Set session GUCs with `set_config` (values passed as parameters).
pub fn apply_gucs(c: &mut Client, gucs: &[(String, String)]) -> Result<()> {
    for (k, v) in gucs {
        c.query("SELECT set_config($1, $2, false)", &[k, v])
            .map_err(|e| anyhow!("SET {k} = {v}: {}", db_error(&e)))?;
    }
    Ok(())
}

/// Build `spec` on `table` from a dedicated connection, showing progress by
/// polling `pg_stat_progress_create_index` from `monitor`.
pub fn build_index(
    url: &str,
    monitor: &mut Client,
    table: &str,
    spec: &IndexSpec,
    metric: Metric,
    build_gucs: &[(String, String)],
) -> Result<BuildStats> {
    let sql = spec.create_sql(table, metric);
    let (tx, rx) = mpsc::channel::<i32>();
    let url2 = url.to_string();
    let sql2 = sql.clone();
    let gucs = build_gucs.to_vec();
    let handle = std::thread::spawn(move || -> Result<f64> {
        let mut c = connect(&url2)?;
        apply_gucs(&mut c, &gucs)?;
        let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[])?.get(0);
        let _ = tx.send(pid);
        let t = Instant::now();
        c.batch_execute(&sql2)
            .map_err(|e| anyhow!("{}", db_error(&e)))?;
        Ok(t.elapsed().as_secs_f64())
    });
    // A bar while the phase reports counts (tuples, blocks, or e.g. k-means
    // iterations), just the spinner while it does not.
    let with_bar = ProgressStyle::with_template(
        "build {spinner} [{elapsed_precise}] {prefix}: {msg} {wide_bar:.green/blue} {pos}/{len}",
    )
    .unwrap()
    .progress_chars("=> ");
    let no_bar =
        ProgressStyle::with_template("build {spinner} [{elapsed_precise}] {prefix}: {msg}")
            .unwrap();
    let pb = ProgressBar::new(0).with_style(no_bar.clone());
    let mut barred = false;
    pb.set_prefix(spec.label());
    pb.enable_steady_tick(Duration::from_millis(120));
    let mut phases: Vec<String> = Vec::new();
    if let Ok(pid) = rx.recv() {
        while !handle.is_finished() {
            let r = monitor.query_opt(
                "SELECT phase::text, blocks_total, blocks_done, tuples_total, tuples_done \
                 FROM pg_stat_progress_create_index WHERE pid = $1",
                &[&pid],
            );
            if let Ok(Some(r)) = r {
                let phase: String = r.get::<_, Option<String>>(0).unwrap_or_default();
                let bt: i64 = r.get::<_, Option<i64>>(1).unwrap_or(0);
                let bd: i64 = r.get::<_, Option<i64>>(2).unwrap_or(0);
                let tt: i64 = r.get::<_, Option<i64>>(3).unwrap_or(0);
                let td: i64 = r.get::<_, Option<i64>>(4).unwrap_or(0);
                if phases.last() != Some(&phase) && !phase.is_empty() {
                    phases.push(phase.clone());
                }
                let (done, total) = if tt > 0 {
                    (td, tt)
                } else if bt > 0 {
                    (bd, bt)
                } else {
                    (0, 0)
                };
                if (total > 0) != barred {
                    barred = total > 0;
                    pb.set_style(if barred {
                        with_bar.clone()
                    } else {
                        no_bar.clone()
                    });
                }
                pb.set_message(phase.trim_start_matches("building index: ").to_string());
                pb.set_length(total.max(0) as u64);
                pb.set_position(done.max(0) as u64);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let res = handle
        .join()
        .map_err(|_| anyhow!("index build thread panicked"))?;
    pb.finish_and_clear();
    let seconds = res?;
    let name = spec.index_name(table);
    let index_bytes: i64 = monitor
        .query_one("SELECT pg_relation_size(to_regclass($1))", &[&name])?
        .get::<_, Option<i64>>(0)
        .unwrap_or(0);
    Ok(BuildStats {
        index_name: name,
        sql,
        seconds,
        index_bytes,
        phases,
    })
}

/// How query vectors are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ParamFormat {
    /// `'[1,2,3]'` as text, cast with `$1::text::vector`.
    Text,
    /// pgvector binary format bound directly as `$1::vector`.
    Binary,
}

/// The k-NN query for `table`.
pub fn query_sql(table: &str, metric: Metric, k: usize, fmt: ParamFormat) -> String {
    let param = match fmt {
        ParamFormat::Text => "$1::text::vector",
        ParamFormat::Binary => "$1::vector",
    };
    format!(
        "SELECT id FROM {table} ORDER BY embedding {} {param} LIMIT {k}",
        metric.operator()
    )
}

/// `EXPLAIN (FORMAT TEXT)` of the k-NN query with `q` inlined.
pub fn explain(
    c: &mut Client,
    table: &str,
    metric: Metric,
    k: usize,
    q: &[f32],
) -> Result<Vec<String>> {
    let sql = format!(
        "EXPLAIN (FORMAT TEXT) SELECT id FROM {table} ORDER BY embedding {} {}::vector LIMIT {k}",
        metric.operator(),
        quote_literal(&vector_text(q))
    );
    Ok(c.query(&sql, &[])?
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect())
}

/// Query vectors prepared for sending (text literals precomputed so text
/// formatting is not timed).
pub struct QuerySet<'a> {
    pub queries: &'a Matrix,
    pub texts: Vec<String>,
    pub fmt: ParamFormat,
}

impl<'a> QuerySet<'a> {
    /// Prepare `queries` for `fmt`.
    pub fn new(queries: &'a Matrix, fmt: ParamFormat) -> Self {
        let texts = match fmt {
            ParamFormat::Text => queries.iter_rows().map(vector_text).collect(),
            ParamFormat::Binary => Vec::new(),
        };
        QuerySet {
            queries,
            texts,
            fmt,
        }
    }

    /// Run query `i` on `stmt`, returning the ids.
    pub fn run(
        &self,
        c: &mut Client,
        stmt: &postgres::Statement,
        i: usize,
    ) -> Result<Vec<u32>, postgres::Error> {
        let rows = match self.fmt {
            ParamFormat::Text => c.query(stmt, &[&self.texts[i]])?,
            ParamFormat::Binary => c.query(stmt, &[&VectorParam(self.queries.row(i))])?,
        };
        Ok(rows.iter().map(|r| r.get::<_, i32>(0) as u32).collect())
    }
}

/// Ids and per-query latencies of one pass.
pub struct Pass {
    pub ids: Vec<Vec<u32>>,
    pub latencies_ms: Vec<f64>,
    pub wall_seconds: f64,
}

/// Run `warmup` untimed queries then every query in `order`, one at a time.
pub fn run_pass(
    c: &mut Client,
    sql: &str,
    qs: &QuerySet<'_>,
    order: &[usize],
    warmup: usize,
    label: &str,
) -> Result<Pass> {
    let stmt = c
        .prepare(sql)
        .map_err(|e| anyhow!("prepare {sql}: {}", db_error(&e)))?;
    for &i in order.iter().take(warmup) {
        qs.run(c, &stmt, i)
            .map_err(|e| anyhow!("{}", db_error(&e)))?;
    }
    let pb = ProgressBar::new(order.len() as u64).with_style(
        ProgressStyle::with_template("query {prefix} {bar:30.yellow/blue} {pos}/{len} {per_sec}")
            .unwrap()
            .progress_chars("=> "),
    );
    pb.set_prefix(label.to_string());
    let mut ids = Vec::with_capacity(order.len());
    let mut lat = Vec::with_capacity(order.len());
    let t0 = Instant::now();
    for (n, &i) in order.iter().enumerate() {
        let t = Instant::now();
        let r = qs
            .run(c, &stmt, i)
            .map_err(|e| anyhow!("{}", db_error(&e)))?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        ids.push(r);
        if n % 16 == 0 {
            pb.set_position(n as u64);
        }
    }
    let wall_seconds = t0.elapsed().as_secs_f64();
    pb.finish_and_clear();
    Ok(Pass {
        ids,
        latencies_ms: lat,
        wall_seconds,
    })
}

/// Aggregate result of concurrent clients.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Concurrent {
    pub clients: usize,
    pub queries: usize,
    pub wall_seconds: f64,
    pub qps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// `clients` threads, each with its own connection and `gucs`, each running
/// every query in `order` (client `t` starts at offset `t * len / clients`),
/// all released together by a barrier. Reports aggregate QPS.
pub fn run_concurrent(
    url: &str,
    gucs: &[(String, String)],
    sql: &str,
    qs: &QuerySet<'_>,
    order: &[usize],
    clients: usize,
) -> Result<Concurrent> {
    let barrier = Barrier::new(clients + 1);
    let len = order.len();
    let (t0, results) = std::thread::scope(|s| -> Result<(Instant, Vec<Result<Vec<f64>>>)> {
        let handles: Vec<_> = (0..clients)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || -> Result<Vec<f64>> {
                    let setup = (|| -> Result<(Client, postgres::Statement)> {
                        let mut c = connect(url)?;
                        apply_gucs(&mut c, gucs)?;
                        let stmt = c.prepare(sql)?;
                        // Light per-connection warm-up.
                        for &i in order.iter().take(5) {
                            qs.run(&mut c, &stmt, i)?;
                        }
                        Ok((c, stmt))
                    })();
                    barrier.wait();
                    let (mut c, stmt) = setup?;
                    let mut lat = Vec::with_capacity(len);
                    let off = t * len / clients.max(1);
                    for j in 0..len {
                        let i = order[(off + j) % len];
                        let t = Instant::now();
                        qs.run(&mut c, &stmt, i)
                            .map_err(|e| anyhow!("{}", db_error(&e)))?;
                        lat.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                    Ok(lat)
                })
            })
            .collect();
        barrier.wait();
        let t0 = Instant::now();
        let res = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("client thread panicked")))
            })
            .collect();
        Ok((t0, res))
    })?;
    let wall = t0.elapsed().as_secs_f64();
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    let n = all.len();
    Ok(Concurrent {
        clients,
        queries: n,
        wall_seconds: wall,
        qps: n as f64 / wall,
        p50_ms: crate::report::percentile(&all, 50.0),
        p99_ms: crate::report::percentile(&all, 99.0),
    })
}
