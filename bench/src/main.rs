//! `vector-bench`: benchmark / demo CLI for vector_ext and pgvector.
//!
//! Subcommands: `gen` (generate / cache a dataset and its ground truth),
//! `run` (load, build indexes, sweep search settings, report), `bandwidth`
//! (memory-read bandwidth). Progress goes to stderr, results to stdout.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use vector_bench::bandwidth::{self, Bandwidth};
use vector_bench::dataset::{self, fnv1a, Matrix, SynthParams};
use vector_bench::loaders::{self, read_ivecs, IMatrix};
use vector_bench::pg::{self, IndexSpec, ParamFormat, QuerySet};
use vector_bench::report::{
    self, ConfigResult, DatasetInfo, Report, SettingResult, ToolInfo, TruthInfo,
};
use vector_bench::truth::{self, Metric, Truth};
use vector_bench::{plot, TOOL_VERSION};

mod load;
use load::*;

const DEFAULT_URL: &str = "host=127.0.0.1 port=5544 user=postgres dbname=postgres";

#[derive(Parser)]
#[command(
    name = "vector-bench",
    version,
    about = "Benchmark vector_ext (or pgvector) inside PostgreSQL: recall@k, latency, QPS, build time, size",
    after_help = "Examples:\n  \
      vector-bench gen -n 100000 --dim 128 --seed 42\n  \
      vector-bench run -n 100000 --dim 128 --index flat --index ivfflat:lists=100 --probes 1,2,4,8,16\n  \
      vector-bench run --ext vector --url 'host=127.0.0.1 port=5544 user=postgres dbname=pgvector' \\\n      \
      --index ivfflat:lists=100 --index hnsw:m=16,ef_construction=64 --build-set maintenance_work_mem=1GB\n  \
      vector-bench run --data sift_base.fvecs --queries sift_query.fvecs --truth sift_groundtruth.ivecs -k 10\n  \
      vector-bench bandwidth\n\n\
      Build with --release: ground truth and the bandwidth test are CPU bound."
)]
struct Cli {
    /// Worker threads for ground truth / generation / bandwidth (default: all cores)
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Generate (or load) a dataset and its query set, cache them with their ground truth
    Gen(GenArgs),
    /// Load the table (if missing or changed), build each index, run the query sweep, report
    Run(Box<RunArgs>),
    /// Measure memory-read bandwidth (single thread and all threads)
    Bandwidth(BwArgs),
}

/// Where the vectors come from (synthetic unless --data is given).
#[derive(Args, Clone, Debug)]
struct DataArgs {
    /// Base vectors file (.fvecs, .bvecs, .npy, .csv, .json); synthetic data if omitted
    #[arg(long, help_heading = "Dataset")]
    data: Option<PathBuf>,
    /// Query vectors file; if omitted: generated with --query-seed (synthetic), or the last
    /// --nq rows of --data held out (not loaded)
    #[arg(long, help_heading = "Dataset")]
    queries: Option<PathBuf>,
    /// Ground-truth neighbour ids (.ivecs, e.g. SIFT groundtruth) instead of computing it
    #[arg(long, help_heading = "Dataset")]
    truth: Option<PathBuf>,
    /// Use only the first N vectors of --data
    #[arg(long, help_heading = "Dataset")]
    limit: Option<usize>,
    /// Synthetic: number of base vectors
    #[arg(short = 'n', long, default_value_t = 100_000, help_heading = "Dataset")]
    n: usize,
    /// Synthetic: dimensions
    #[arg(long, default_value_t = 128, help_heading = "Dataset")]
    dim: usize,
    /// Synthetic: number of clusters (centres uniform in [-1,1]^dim)
    #[arg(long, default_value_t = 100, help_heading = "Dataset")]
    clusters: usize,
    /// Synthetic: standard deviation of the gaussian noise around a centre
    #[arg(long, default_value_t = 0.2, help_heading = "Dataset")]
    spread: f32,
    /// Synthetic: Zipf exponent of cluster sizes (0 = equal sizes)
    #[arg(long, default_value_t = 1.0, help_heading = "Dataset")]
    skew: f64,
    /// Synthetic: seed of centres and base vectors
    #[arg(long, default_value_t = 42, help_heading = "Dataset")]
    seed: u64,
    /// Number of queries
    #[arg(long, default_value_t = 1000, help_heading = "Dataset")]
    nq: usize,
    /// Synthetic: seed of the held-out queries (default: --seed + 1)
    #[arg(long, help_heading = "Dataset")]
    query_seed: Option<u64>,
    /// Cache directory for generated data and ground truth
    #[arg(long, default_value = "bench-results/cache", help_heading = "Dataset")]
    cache_dir: PathBuf,
}

#[derive(Args, Debug)]
struct GenArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Metrics to compute ground truth for (comma separated)
    #[arg(long, value_enum, value_delimiter = ',', default_value = "l2")]
    metric: Vec<Metric>,
    /// Neighbours per query
    #[arg(short = 'k', long, default_value_t = 10)]
    k: usize,
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    data: DataArgs,
    /// PostgreSQL connection string or URL
    #[arg(long, default_value = DEFAULT_URL)]
    url: String,
    /// Extension providing type vector: vector_ext, or vector for pgvector
    #[arg(long, default_value = "vector_ext")]
    ext: String,
    /// Table name (reloaded only when the dataset or extension changes)
    #[arg(long, default_value = "bench_items")]
    table: String,
    /// Distance metric
    #[arg(long, value_enum, default_value = "l2")]
    metric: Metric,
    /// Neighbours per query (LIMIT k, recall@k)
    #[arg(short = 'k', long, default_value_t = 10)]
    k: usize,
    /// Index configuration, repeatable: seqscan | flat | ivfflat:lists=N | hnsw:m=16,ef_construction=64
    /// (default: seqscan, flat, ivfflat with rows/1000 lists; pgvector: seqscan, ivfflat, hnsw)
    #[arg(long = "index", value_name = "SPEC")]
    indexes: Vec<String>,
    /// ivfflat.probes values to sweep (values above lists are skipped)
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16,32,64")]
    probes: Vec<usize>,
    /// hnsw.ef_search values to sweep
    #[arg(long, value_delimiter = ',', default_value = "10,20,40,80,160,320")]
    ef_search: Vec<usize>,
    /// max_parallel_workers_per_gather values for the seqscan baseline
    #[arg(long, value_delimiter = ',', default_value = "0")]
    seqscan_workers: Vec<usize>,
    /// Also run every setting with N concurrent clients (own connection each) for aggregate QPS
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// Untimed queries before each timed pass
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// Run only the first N queries for exact configs (seqscan, flat), which are slow; 0 = all
    #[arg(long, default_value_t = 200)]
    exact_queries: usize,
    /// Session setting for query connections, repeatable: KEY=VALUE (e.g. work_mem=64MB)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Session setting for the index build connection, repeatable (e.g. maintenance_work_mem=2GB)
    #[arg(long = "build-set", value_name = "KEY=VALUE")]
    build_sets: Vec<String>,
    /// SET enable_seqscan = off for index configurations
    #[arg(long)]
    force_index: bool,
    /// Keep the last successfully built index at the end (an index is then dropped only once
    /// the next one has been built, so a failed build leaves the previous one in place)
    #[arg(long)]
    keep_indexes: bool,
    /// Reload the table even if it already holds this dataset
    #[arg(long)]
    reload: bool,
    /// How query vectors are sent
    #[arg(long, value_enum, default_value = "text")]
    param_format: ParamFormat,
    /// Directory for the JSON report and plots
    #[arg(long, default_value = "bench-results")]
    out_dir: PathBuf,
    /// Base name of output files (default: derived from extension, metric and dataset)
    #[arg(long)]
    name: Option<String>,
    /// Skip the memory bandwidth measurement
    #[arg(long)]
    no_bandwidth: bool,
    /// Bandwidth test buffer size in MiB
    #[arg(long, default_value_t = 1024)]
    bw_mib: u64,
    /// Bandwidth test repetitions (median reported)
    #[arg(long, default_value_t = 5)]
    bw_runs: usize,
    /// Do not write the SVG/PNG plot
    #[arg(long)]
    no_plot: bool,
}

#[derive(Args, Debug)]
struct BwArgs {
    /// Buffer size in MiB
    #[arg(long, default_value_t = 1024)]
    mib: u64,
    /// Repetitions (median reported)
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Also write the result as JSON to this file
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    if let Some(t) = cli.threads {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(t.max(1))
            .build_global();
    }
    let r = match cli.cmd {
        Cmd::Gen(a) => cmd_gen(a),
        Cmd::Run(a) => cmd_run(*a),
        Cmd::Bandwidth(a) => cmd_bandwidth(a),
    };
    if let Err(e) = r {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn cmd_gen(a: GenArgs) -> Result<()> {
    let d = load_dataset(&a.data, true)?;
    println!(
        "dataset {}: {} rows x {} dim, {} queries",
        d.info.fingerprint, d.info.rows, d.info.dim, d.info.queries
    );
    println!("cache: {}", d.base_dir.display());
    for &m in &a.metric {
        let (_, info) = get_truth(&d, m, a.k)?;
        println!(
            "ground truth {} k={}: {} ({:.2} s) in {}",
            m.name(),
            a.k,
            info.source,
            info.seconds,
            info.cache_dir
        );
    }
    Ok(())
}

fn cmd_bandwidth(a: BwArgs) -> Result<()> {
    let b = measure_bandwidth(a.mib, a.runs);
    print_bandwidth(&b);
    if let Some(p) = a.json {
        std::fs::write(&p, serde_json::to_string_pretty(&b)? + "\n")?;
        println!("wrote {}", p.display());
    }
    Ok(())
}

fn measure_bandwidth(mib: u64, runs: usize) -> Bandwidth {
    let pb = ProgressBar::new_spinner()
        .with_message(format!("measuring memory bandwidth ({mib} MiB buffer)"));
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    let b = bandwidth::measure(mib << 20, runs);
    pb.finish_and_clear();
    b
}

fn print_bandwidth(b: &Bandwidth) {
    println!(
        "memory read bandwidth: {:.2} GB/s single thread, {:.2} GB/s all {} threads ({} MiB buffer, median of {} runs)",
        b.single_thread_gbs,
        b.all_threads_gbs,
        b.threads,
        b.buffer_bytes >> 20,
        b.runs
    );
}

/// Parse `KEY=VALUE` settings.
fn parse_gucs(v: &[String]) -> Result<Vec<(String, String)>> {
    v.iter()
        .map(|s| {
            let (k, val) = s
                .split_once('=')
                .ok_or_else(|| anyhow!("setting {s:?} is not KEY=VALUE"))?;
            Ok((k.trim().to_string(), val.trim().to_string()))
        })
        .collect()
}

fn default_lists(rows: usize) -> usize {
    if rows <= 1_000_000 {
        (rows / 1000).max(1)
    } else {
        (rows as f64).sqrt().round() as usize
    }
}

/// Index configurations to run.
fn index_specs(a: &RunArgs, rows: usize) -> Result<Vec<IndexSpec>> {
    let specs: Vec<String> = if a.indexes.is_empty() {
        let lists = default_lists(rows);
        if a.ext == "vector" {
            vec![
                "seqscan".into(),
                format!("ivfflat:lists={lists}"),
                "hnsw:m=16,ef_construction=64".into(),
            ]
        } else {
            vec![
                "seqscan".into(),
                "flat".into(),
                format!("ivfflat:lists={lists}"),
            ]
        }
    } else {
        a.indexes.clone()
    };
    specs.iter().map(|s| IndexSpec::parse(s)).collect()
}

/// The search settings to sweep for an index configuration: (label, GUCs).
fn settings_for(spec: &IndexSpec, a: &RunArgs) -> Vec<(String, Vec<(String, String)>)> {
    let g = |k: &str, v: String| (k.to_string(), v);
    let mut out: Vec<(String, Vec<(String, String)>)> = match spec.method.as_str() {
        "seqscan" => a
            .seqscan_workers
            .iter()
            .map(|w| {
                (
                    format!("workers={w}"),
                    vec![
                        g("enable_indexscan", "off".into()),
                        g("enable_bitmapscan", "off".into()),
                        g("max_parallel_workers_per_gather", w.to_string()),
                    ],
                )
            })
            .collect(),
        "ivfflat" => {
            let lists: usize = spec
                .option("lists")
                .and_then(|v| v.parse().ok())
                .unwrap_or(100);
            let mut p: Vec<usize> = a
                .probes
                .iter()
                .copied()
                .filter(|&p| p >= 1 && p <= lists)
                .collect();
            if p.is_empty() {
                p.push(lists.max(1));
            }
            p.into_iter()
                .map(|p| {
                    (
                        format!("probes={p}"),
                        vec![g("ivfflat.probes", p.to_string())],
                    )
                })
                .collect()
        }
        "hnsw" => a
            .ef_search
            .iter()
            .map(|e| {
                (
                    format!("ef_search={e}"),
                    vec![g("hnsw.ef_search", e.to_string())],
                )
            })
            .collect(),
        _ => vec![("-".to_string(), vec![])],
    };
    if a.force_index && !spec.is_seqscan() {
        for (_, gucs) in &mut out {
            gucs.push(g("enable_seqscan", "off".into()));
        }
    }
    out
}

/// Drop the secondary indexes of `table` except `keep`, and say so.
fn drop_indexes(c: &mut postgres::Client, table: &str, keep: Option<&str>) -> Result<()> {
    let dropped = pg::drop_secondary_indexes_except(c, table, keep)?;
    if !dropped.is_empty() {
        eprintln!("[index] dropped {}", dropped.join(", "));
    }
    Ok(())
}

/// Command line with connection strings redacted (they may hold passwords).
fn redacted_args() -> Vec<String> {
    let mut out = Vec::new();
    let mut hide = false;
    for a in std::env::args() {
        if hide {
            out.push("<redacted>".into());
            hide = false;
        } else if a == "--url" {
            out.push(a);
            hide = true;
        } else if a.starts_with("--url=") {
            out.push("--url=<redacted>".into());
        } else {
            out.push(a);
        }
    }
    out
}

/// Run every setting of one configuration on the loaded table.
#[allow(clippy::too_many_arguments)]
fn run_config(
    c: &mut postgres::Client,
    a: &RunArgs,
    d: &Loaded,
    tr: &Truth,
    qs: &QuerySet<'_>,
    spec: &IndexSpec,
    session: &[(String, String)],
    bw: Option<&Bandwidth>,
) -> Vec<SettingResult> {
    let sql = pg::query_sql(&a.table, a.metric, a.k, a.param_format);
    let nq = if spec.is_exact_scan() && a.exact_queries > 0 {
        a.exact_queries.min(d.queries.rows)
    } else {
        d.queries.rows
    };
    let order: Vec<usize> = (0..nq).collect();
    let mut results = Vec::new();
    for (label, sgucs) in settings_for(spec, a) {
        let mut gucs = session.to_vec();
        gucs.extend(sgucs.iter().cloned());
        let mut r = SettingResult {
            setting: label.clone(),
            gucs: gucs.clone(),
            queries: nq,
            ..Default::default()
        };
        let res = (|| -> Result<()> {
            c.batch_execute("RESET ALL")?;
            pg::apply_gucs(c, &gucs)?;
            let plan = pg::explain(c, &a.table, a.metric, a.k, d.queries.row(0))?;
            r.plan_first_line = plan.first().cloned().unwrap_or_default();
            r.plan_scan_line = plan
                .iter()
                .find(|l| l.contains("Scan"))
                .cloned()
                .unwrap_or_else(|| r.plan_first_line.clone())
                .trim()
                .trim_start_matches("->")
                .trim()
                .to_string();
            // Plan lines can embed the whole query vector: keep them short.
            r.plan = plan
                .into_iter()
                .map(|l| {
                    if l.chars().count() > 300 {
                        l.chars().take(300).collect::<String>() + "..."
                    } else {
                        l
                    }
                })
                .collect();
            let pass = pg::run_pass(
                c,
                &sql,
                qs,
                &order,
                a.warmup,
                &format!("{} {label}", spec.label()),
            )?;
            let mut recalls = Vec::with_capacity(nq);
            let mut returned = 0usize;
            for (j, &qi) in order.iter().enumerate() {
                let ids = &pass.ids[j];
                returned += ids.len();
                let q = d.queries.row(qi);
                let rc = truth::recall_at_k(tr.ids(qi), tr.kth(qi), ids, a.k, |id| {
                    if (id as usize) < d.base.rows {
                        truth::distance(a.metric, q, d.base.row(id as usize))
                    } else {
                        f64::INFINITY
                    }
                });
                recalls.push(rc);
            }
            r.recall = recalls.iter().sum::<f64>() / nq as f64;
            r.recall_min = recalls.iter().copied().fold(1.0, f64::min);
            r.mean_returned = returned as f64 / nq as f64;
            let l = &pass.latencies_ms;
            r.mean_ms = l.iter().sum::<f64>() / l.len() as f64;
            r.p50_ms = report::percentile(l, 50.0);
            r.p95_ms = report::percentile(l, 95.0);
            r.p99_ms = report::percentile(l, 99.0);
            r.qps = nq as f64 / pass.wall_seconds;
            if spec.is_exact_scan() {
                let g = d.base.bytes() as f64 / (r.p50_ms / 1e3) / 1e9;
                r.gbs_scanned = Some(g);
                // flat scores pages on a pool of worker threads.
                let parallel = spec.method == "flat"
                    || gucs
                        .iter()
                        .any(|(k, v)| k == "max_parallel_workers_per_gather" && v != "0");
                r.bandwidth_fraction = bw.map(|b| {
                    g / if parallel {
                        b.all_threads_gbs
                    } else {
                        b.single_thread_gbs
                    }
                });
            }
            if a.clients > 1 {
                r.concurrent = Some(pg::run_concurrent(
                    &a.url, &gucs, &sql, qs, &order, a.clients,
                )?);
            }
            Ok(())
        })();
        match res {
            Ok(()) => eprintln!(
                "[query] {} {label}: recall@{} {:.4}, p50 {:.3} ms, {:.1} QPS{}",
                spec.label(),
                a.k,
                r.recall,
                r.p50_ms,
                r.qps,
                r.concurrent
                    .as_ref()
                    .map(|c| format!(", {:.1} QPS with {} clients", c.qps, c.clients))
                    .unwrap_or_default()
            ),
            Err(e) => {
                eprintln!("[query] {} {label}: error: {e:#}", spec.label());
                r.error = Some(format!("{e:#}"));
                // A crashed backend takes the connection with it: wait for the server.
                if let Err(e) = pg::ensure_connected(c, &a.url) {
                    eprintln!("[query] {e:#}");
                }
            }
        }
        results.push(r);
    }
    let _ = c.batch_execute("RESET ALL");
    results
}

fn output_name(a: &RunArgs, d: &Loaded) -> String {
    if let Some(n) = &a.name {
        return n.clone();
    }
    let ds = match (&d.info.synthetic, &d.info.data_path) {
        (Some(p), _) => format!("synth-n{}-d{}-c{}-s{}", p.n, p.dim, p.clusters, p.seed),
        (None, Some(path)) => Path::new(path)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("data")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect(),
        _ => "data".into(),
    };
    format!("{}-{}-k{}-{ds}", a.ext, a.metric.name(), a.k)
}

fn cmd_run(a: RunArgs) -> Result<()> {
    pg::check_ident(&a.table)?;
    if a.k == 0 {
        bail!("-k must be at least 1");
    }
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let session = parse_gucs(&a.sets)?;
    let build_gucs = parse_gucs(&a.build_sets)?;
    let d = load_dataset(&a.data, false)?;
    let specs = index_specs(&a, d.base.rows)?;
    let (tr, truth_info) = get_truth(&d, a.metric, a.k)?;

    let bw = if a.no_bandwidth {
        None
    } else {
        let b = measure_bandwidth(a.bw_mib, a.bw_runs);
        eprintln!(
            "[bandwidth] {:.2} GB/s single thread, {:.2} GB/s all threads",
            b.single_thread_gbs, b.all_threads_gbs
        );
        Some(b)
    };

    let mut c = pg::connect(&a.url)?;
    let server_version = pg::server_version(&mut c)?;
    let ext_version = pg::ensure_extension(&mut c, &a.ext)?;
    eprintln!(
        "[server] PostgreSQL {server_version}, extension {} {ext_version}",
        a.ext
    );

    let comment = pg::table_comment(&d.info.fingerprint, &a.ext, d.base.rows, d.base.dim);
    let load =
        if !a.reload && pg::table_matches(&mut c, &a.table, &comment, d.base.rows, d.base.dim)? {
            eprintln!(
                "[load] table {} already holds dataset {}: reusing",
                a.table, d.info.fingerprint
            );
            pg::LoadStats {
                reused: true,
                rows: d.base.rows as u64,
                copy_seconds: 0.0,
                rows_per_sec: 0.0,
                mb_per_sec: 0.0,
                primary_key_seconds: 0.0,
                vacuum_analyze_seconds: 0.0,
            }
        } else {
            let l = pg::load_table(&mut c, &a.table, &d.base, &comment)?;
            eprintln!(
                "[load] {} rows in {:.2} s ({:.0} rows/s, {:.0} MB/s)",
                l.rows, l.copy_seconds, l.rows_per_sec, l.mb_per_sec
            );
            l
        };
    let (table_bytes, table_total_bytes) = pg::table_sizes(&mut c, &a.table)?;

    let qs = QuerySet::new(&d.queries, a.param_format);
    let mut configs = Vec::new();
    for spec in &specs {
        let mut cr = ConfigResult {
            label: spec.label(),
            spec: spec.clone(),
            build: None,
            error: None,
            results: vec![],
        };
        // The seqscan baseline disables index scans, so indexes may stay for it.
        if !a.keep_indexes {
            drop_indexes(&mut c, &a.table, None)?;
        }
        if !spec.is_seqscan() {
            // A leftover of the same name (e.g. kept by an earlier run) would be in the way.
            let name = spec.index_name(&a.table);
            c.batch_execute(&format!("DROP INDEX IF EXISTS {}", pg::quote_ident(&name)))?;
            eprintln!("[build] {}", spec.create_sql(&a.table, a.metric));
            match pg::build_index(&a.url, &mut c, &a.table, spec, a.metric, &build_gucs) {
                Ok(b) => {
                    eprintln!(
                        "[build] {}: {:.2} s, {}",
                        spec.label(),
                        b.seconds,
                        report::human_bytes(b.index_bytes)
                    );
                    // Only the index under test may be used by the planner.
                    drop_indexes(&mut c, &a.table, Some(&b.index_name))?;
                    cr.build = Some(b);
                }
                Err(e) => {
                    eprintln!("[build] {}: FAILED: {e:#}", spec.label());
                    cr.error = Some(format!("{e:#}"));
                    configs.push(cr);
                    // A build that crashed the server takes our connection with it.
                    pg::ensure_connected(&mut c, &a.url)?;
                    continue;
                }
            }
        }
        cr.results = run_config(&mut c, &a, &d, &tr, &qs, spec, &session, bw.as_ref());
        configs.push(cr);
    }
    if !a.keep_indexes {
        drop_indexes(&mut c, &a.table, None)?;
    }

    let rep = Report {
        tool: ToolInfo {
            name: "vector-bench".into(),
            version: TOOL_VERSION.into(),
        },
        started_unix,
        command_line: redacted_args(),
        dataset: d.info.clone(),
        metric: a.metric,
        k: a.k,
        ext: a.ext.clone(),
        ext_version,
        server_version,
        param_format: a.param_format,
        client_threads: a.clients,
        session_gucs: session,
        build_gucs,
        truth: truth_info,
        bandwidth: bw,
        load,
        table: a.table.clone(),
        table_bytes,
        table_total_bytes,
        configs,
    };
    print!("{}", report::render(&rep));

    std::fs::create_dir_all(&a.out_dir)
        .with_context(|| format!("create {}", a.out_dir.display()))?;
    let name = output_name(&a, &d);
    let json = a.out_dir.join(format!("{name}.json"));
    std::fs::write(&json, serde_json::to_string_pretty(&rep)? + "\n")?;
    println!("\nreport: {}", json.display());
    if !a.no_plot {
        let data = plot::series(&rep);
        if data.is_empty() {
            eprintln!("[plot] nothing to plot");
        } else {
            let svg = a.out_dir.join(format!("{name}.svg"));
            let png = a.out_dir.join(format!("{name}.png"));
            let title = format!(
                "{} {}: {} x {}d, {}, k={}",
                rep.ext,
                rep.ext_version,
                rep.dataset.rows,
                rep.dataset.dim,
                rep.metric.name(),
                rep.k
            );
            match plot::plot(&title, rep.k, &data, &svg, Some(&png)) {
                Ok(()) => println!("plot:   {}\n        {}", svg.display(), png.display()),
                Err(e) => eprintln!("[plot] failed: {e:#}"),
            }
        }
    }
    // Failed index builds and settings are results; nothing working at all is an error.
    let measured = rep
        .configs
        .iter()
        .flat_map(|c| &c.results)
        .any(|x| x.error.is_none());
    if !measured {
        bail!("no configuration could be measured (see the errors above)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn settings_sweeps() {
        let cli = Cli::try_parse_from([
            "vector-bench",
            "run",
            "--probes",
            "1,4,500",
            "--force-index",
        ])
        .unwrap();
        let Cmd::Run(a) = cli.cmd else { panic!() };
        let s = settings_for(&IndexSpec::parse("ivfflat:lists=100").unwrap(), &a);
        let labels: Vec<&str> = s.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(labels, ["probes=1", "probes=4"]);
        assert!(s[0].1.contains(&("enable_seqscan".into(), "off".into())));
        let s = settings_for(&IndexSpec::parse("seqscan").unwrap(), &a);
        assert_eq!(s.len(), 1);
        assert!(s[0].1.contains(&("enable_indexscan".into(), "off".into())));
        let specs = index_specs(&a, 100_000).unwrap();
        assert_eq!(specs[2].label(), "ivfflat(lists=100)");
    }
}
