//! Result records (serialised to the JSON report), latency statistics and the
//! human-readable results table.

use crate::bandwidth::Bandwidth;
use crate::dataset::SynthParams;
use crate::pg::{BuildStats, Concurrent, IndexSpec, LoadStats};
use crate::truth::Metric;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Percentile `p` (0–100) of `v` with linear interpolation; NaN if empty.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let pos = (p / 100.0).clamp(0.0, 1.0) * (s.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
}

/// Where the dataset came from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// "synthetic" or "file".
    pub source: String,
    pub synthetic: Option<SynthParams>,
    pub query_seed: Option<u64>,
    pub data_path: Option<String>,
    pub queries_path: Option<String>,
    pub truth_path: Option<String>,
    /// Queries held out from the end of the data file (not loaded).
    pub held_out_queries: bool,
    pub fingerprint: String,
    pub rows: usize,
    pub dim: usize,
    pub queries: usize,
    pub data_bytes: u64,
}

/// How the ground truth was obtained.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TruthInfo {
    /// "computed", "cache" or "file".
    pub source: String,
    pub seconds: f64,
    pub cache_dir: String,
}

/// Measurements of one search setting of one index configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SettingResult {
    /// Short label, e.g. `probes=8`, `ef_search=40`, `workers=0` or `-`.
    pub setting: String,
    pub gucs: Vec<(String, String)>,
    pub queries: usize,
    /// Mean tie-aware recall@k.
    pub recall: f64,
    pub recall_min: f64,
    /// Mean number of rows returned (< k means the index returned too few).
    pub mean_returned: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// Single-client queries per second (queries / wall time).
    pub qps: f64,
    /// Exact-scan configs: rows*dim*4 bytes / median latency, GB/s.
    pub gbs_scanned: Option<f64>,
    /// `gbs_scanned` as a fraction of the measured memory bandwidth.
    pub bandwidth_fraction: Option<f64>,
    pub concurrent: Option<Concurrent>,
    pub plan_first_line: String,
    /// First plan line mentioning a scan node (shows which index is used).
    pub plan_scan_line: String,
    pub plan: Vec<String>,
    pub error: Option<String>,
}

/// One index configuration (or the seqscan baseline) and its settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConfigResult {
    pub label: String,
    pub spec: IndexSpec,
    pub build: Option<BuildStats>,
    pub error: Option<String>,
    pub results: Vec<SettingResult>,
}

/// Tool identification.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

/// Everything a `run` measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub tool: ToolInfo,
    pub started_unix: u64,
    pub command_line: Vec<String>,
    pub dataset: DatasetInfo,
    pub metric: Metric,
    pub k: usize,
    pub ext: String,
    pub ext_version: String,
    pub server_version: String,
    pub param_format: crate::pg::ParamFormat,
    pub client_threads: usize,
    pub session_gucs: Vec<(String, String)>,
    pub build_gucs: Vec<(String, String)>,
    pub truth: TruthInfo,
    pub bandwidth: Option<Bandwidth>,
    pub load: LoadStats,
    /// Name of the table queried.
    #[serde(default)]
    pub table: String,
    pub table_bytes: i64,
    pub table_total_bytes: i64,
    pub configs: Vec<ConfigResult>,
}

/// Bytes as MiB/GiB text.
pub fn human_bytes(b: i64) -> String {
    let b = b as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    }
}

/// Align `rows` (the first is the header) into columns two spaces apart, a
/// dashed rule under the header; `right[i]` right-aligns column `i`. A row
/// shorter than the header ends in a free-text cell: it spans the remaining
/// columns, is left-aligned and does not widen its column.
fn table(rows: &[Vec<String>], right: &[bool]) -> String {
    let cols = rows.first().map(|r| r.len()).unwrap_or(0);
    let mut w = vec![0usize; cols];
    for r in rows {
        let spans = r.len() < cols;
        for (i, c) in r.iter().enumerate().take(cols) {
            if !(spans && i + 1 == r.len()) {
                w[i] = w[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    for (ri, r) in rows.iter().enumerate() {
        let spans = r.len() < cols;
        let mut line = String::new();
        for (i, c) in r.iter().enumerate().take(cols) {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = w[i].saturating_sub(c.chars().count());
            if spans && i + 1 == r.len() {
                line.push_str(c);
            } else if right.get(i).copied().unwrap_or(false) {
                line.push_str(&" ".repeat(pad));
                line.push_str(c);
            } else {
                line.push_str(c);
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
        if ri == 0 {
            let total: usize = w.iter().sum::<usize>() + 2 * (cols.saturating_sub(1));
            out.push_str(&"-".repeat(total));
            out.push('\n');
        }
    }
    out
}

/// `s` on one line (line breaks become spaces), cut to at most `max`
/// characters with `...` marking a cut.
pub fn ellipsize(s: &str, max: usize) -> String {
    let s = s.replace("\r\n", " ").replace(['\n', '\r'], " ");
    if s.chars().count() <= max {
        s
    } else {
        s.chars().take(max.saturating_sub(3)).collect::<String>() + "..."
    }
}

/// The plan nodes of an `EXPLAIN (FORMAT TEXT)` output, top down, without
/// costs or node properties: `Limit -> Index Scan using x_idx on x`.
pub fn plan_shape(plan: &[String]) -> String {
    let mut nodes = Vec::new();
    for (i, l) in plan.iter().enumerate() {
        let t = l.trim();
        let node = if i == 0 {
            t
        } else if let Some(n) = t.strip_prefix("->") {
            n.trim()
        } else {
            continue;
        };
        let node = node.split("  (cost=").next().unwrap_or(node);
        let node = node.split(" (cost=").next().unwrap_or(node).trim();
        if !node.is_empty() {
            nodes.push(node.to_string());
        }
    }
    nodes.join(" -> ")
}

/// Does the plan of an index configuration use its index? (Always true for
/// the seqscan baseline.)
pub fn uses_index(c: &ConfigResult, x: &SettingResult) -> bool {
    if c.spec.is_seqscan() {
        return true;
    }
    let name = c
        .build
        .as_ref()
        .map(|b| b.index_name.clone())
        .unwrap_or_default();
    name.is_empty() || x.plan.iter().any(|l| l.contains(&format!(" {name} ")))
}

/// Width the human-readable report is laid out for (plan lines, errors).
pub const WIDTH: usize = 100;

/// Render the human-readable summary, the query plans and the results table
/// (laid out to fit in [`WIDTH`] columns; everything else is in the JSON).
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let d = &r.dataset;
    let mut line = |k: &str, v: String| {
        let _ = writeln!(s, "{k:<10}{v}");
    };
    line(
        "dataset:",
        format!(
            "{}, {} rows x {} dim ({}), {} queries, metric {}, k = {}",
            d.fingerprint,
            d.rows,
            d.dim,
            human_bytes(d.data_bytes as i64),
            d.queries,
            r.metric.name(),
            r.k
        ),
    );
    if let Some(p) = &d.synthetic {
        line(
            "",
            format!(
                "synthetic: {} gaussian clusters (spread {}, Zipf skew {}), seed {}, query seed {}",
                p.clusters,
                p.spread,
                p.skew,
                p.seed,
                d.query_seed.map(|q| q.to_string()).unwrap_or("-".into())
            ),
        );
    }
    if let Some(p) = &d.data_path {
        line("", ellipsize(&format!("file: {p}"), WIDTH - 10));
    }
    line(
        "server:",
        format!(
            "PostgreSQL {}, extension {} {}, query vectors sent as {}",
            // "15.4 (Debian 15.4-1.pgdg120+1)": the packaging note is in the JSON.
            r.server_version
                .split(" (")
                .next()
                .unwrap_or(&r.server_version),
            r.ext,
            r.ext_version,
            format!("{:?}", r.param_format).to_lowercase()
        ),
    );
    line(
        "truth:",
        format!(
            "exact top-{}, {} ({:.2} s)",
            r.k,
            match r.truth.source.as_str() {
                "cache" => "from the cache",
                "file" => "from --truth",
                other => other,
            },
            r.truth.seconds
        ),
    );
    if let Some(b) = &r.bandwidth {
        line(
            "memory:",
            format!(
                "read bandwidth {:.1} GB/s with 1 thread, {:.1} GB/s with {} ({} MiB, median of {})",
                b.single_thread_gbs,
                b.all_threads_gbs,
                b.threads,
                b.buffer_bytes >> 20,
                b.runs
            ),
        );
    }
    let table_name = if r.table.is_empty() {
        "table".to_string()
    } else {
        r.table.clone()
    };
    line(
        "table:",
        format!(
            "{table_name}: {} rows, {} (with primary key and TOAST {}){}",
            r.load.rows,
            human_bytes(r.table_bytes),
            human_bytes(r.table_total_bytes),
            if r.load.reused {
                ", reused".to_string()
            } else {
                String::new()
            }
        ),
    );
    if !r.load.reused {
        line(
            "load:",
            format!(
                "COPY BINARY {:.2} s ({:.0} rows/s, {:.0} MB/s), primary key {:.2} s, \
                 VACUUM ANALYZE {:.2} s",
                r.load.copy_seconds,
                r.load.rows_per_sec,
                r.load.mb_per_sec,
                r.load.primary_key_seconds,
                r.load.vacuum_analyze_seconds
            ),
        );
    }
    let mut first = true;
    for c in &r.configs {
        let v = if let Some(b) = &c.build {
            format!(
                "{}: built in {:.2} s, {}",
                c.label,
                b.seconds,
                human_bytes(b.index_bytes)
            )
        } else if let Some(e) = &c.error {
            ellipsize(&format!("{}: build FAILED: {e}", c.label), WIDTH - 10)
        } else {
            continue;
        };
        line(if first { "index:" } else { "" }, v);
        first = false;
    }

    // Which plan each configuration ran (settings grouped when they share a plan).
    let _ = writeln!(
        s,
        "\nplans: EXPLAIN SELECT id FROM {table_name} ORDER BY embedding {} $1 LIMIT {}",
        r.metric.operator(),
        r.k
    );
    let lw = r
        .configs
        .iter()
        .map(|c| c.label.chars().count())
        .max()
        .unwrap_or(0);
    let mut warn = false;
    for c in &r.configs {
        let mut groups: Vec<(String, Vec<&str>, bool)> = Vec::new();
        for x in c.results.iter().filter(|x| !x.plan.is_empty()) {
            let shape = plan_shape(&x.plan);
            match groups.iter_mut().find(|g| g.0 == shape) {
                Some(g) => g.1.push(&x.setting),
                None => groups.push((shape, vec![&x.setting], uses_index(c, x))),
            }
        }
        let single = groups.len() == 1;
        for (i, (shape, settings, used)) in groups.into_iter().enumerate() {
            let label = if i == 0 { c.label.as_str() } else { "" };
            let mut text = if single {
                shape
            } else {
                format!("{}: {shape}", settings.join(","))
            };
            if !used {
                warn = true;
                text = format!("(index NOT used) {text}");
            }
            let _ = writeln!(
                s,
                "  {}",
                ellipsize(&format!("{label:<lw$}  {text}"), WIDTH - 2)
            );
        }
    }
    if warn {
        s.push_str("  (!) the planner did not use the index for some settings: their figures are a seq scan's\n");
    }
    s.push('\n');

    let conc = r
        .configs
        .iter()
        .flat_map(|c| &c.results)
        .find_map(|x| x.concurrent.as_ref().map(|c| c.clients));
    // Speed-up relative to the (first) seqscan baseline.
    let base_qps = r
        .configs
        .iter()
        .filter(|c| c.spec.is_seqscan())
        .flat_map(|c| &c.results)
        .find(|x| x.error.is_none() && x.qps > 0.0)
        .map(|x| x.qps);
    let mut head = vec![
        "config".to_string(),
        "setting".into(),
        format!("recall@{}", r.k),
        "p50 ms".into(),
        "p99 ms".into(),
        "QPS".into(),
    ];
    let mut right = vec![false, false, true, true, true, true];
    if let Some(n) = conc {
        head.push(format!("QPS x{n}"));
        right.push(true);
    }
    if base_qps.is_some() {
        head.push("speed-up".into());
        right.push(true);
    }
    head.push("queries".into());
    right.push(true);
    let mut rows = vec![head];
    let mut scans = Vec::new();
    for c in &r.configs {
        if c.results.is_empty() {
            let why = match &c.error {
                Some(_) => "index build failed (see above)".to_string(),
                None => "no results".to_string(),
            };
            rows.push(vec![c.label.clone(), "-".into(), why]);
            continue;
        }
        for x in &c.results {
            let setting = if uses_index(c, x) {
                x.setting.clone()
            } else {
                format!("{} (!)", x.setting)
            };
            if let Some(e) = &x.error {
                rows.push(vec![
                    c.label.clone(),
                    setting,
                    ellipsize(&format!("error: {e}"), 60),
                ]);
                continue;
            }
            let mut row = vec![
                c.label.clone(),
                setting,
                format!("{:.4}", x.recall),
                format!("{:.3}", x.p50_ms),
                format!("{:.3}", x.p99_ms),
                format!("{:.1}", x.qps),
            ];
            if conc.is_some() {
                row.push(
                    x.concurrent
                        .as_ref()
                        .map(|c| format!("{:.1}", c.qps))
                        .unwrap_or_else(|| "-".into()),
                );
            }
            if let Some(b) = base_qps {
                row.push(format!("{:.1}x", x.qps / b));
            }
            row.push(x.queries.to_string());
            rows.push(row);
            if let Some(g) = x.gbs_scanned {
                scans.push((c.label.clone(), x.setting.clone(), g, x.bandwidth_fraction));
            }
        }
    }
    s.push_str(&table(&rows, &right));
    if !scans.is_empty() {
        let _ = writeln!(
            s,
            "\nexact scans, {} of vectors per query / p50 latency:",
            human_bytes(d.data_bytes as i64)
        );
        for (label, setting, g, f) in scans {
            let frac = f
                .map(|f| format!(" ({:.0}% of the memory read bandwidth)", f * 100.0))
                .unwrap_or_default();
            let _ = writeln!(s, "  {:<lw$}  {setting:<10} {g:.2} GB/s{frac}", label);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&v, 50.0), 3.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 100.0), 5.0);
        assert_eq!(percentile(&v, 25.0), 2.0);
        assert!((percentile(&[1.0, 2.0], 99.0) - 1.99).abs() < 1e-12);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn table_aligns() {
        let t = table(
            &[
                vec!["a".into(), "bb".into()],
                vec!["ccc".into(), "d".into()],
            ],
            &[false, true],
        );
        assert_eq!(t, "a    bb\n-------\nccc   d\n");
        // A short row's last cell spans the rest and does not widen its column.
        let t = table(
            &[
                vec!["a".into(), "bb".into(), "c".into()],
                vec!["x".into(), "a long note".into()],
                vec!["y".into(), "1".into(), "2".into()],
            ],
            &[false, true, true],
        );
        assert_eq!(t, "a  bb  c\n--------\nx  a long note\ny   1  2\n");
    }

    #[test]
    fn plan_shapes() {
        let plan: Vec<String> = [
            "Limit  (cost=0.00..1.00 rows=10 width=12)",
            "  ->  Index Scan using t_ivfflat_idx on t  (cost=0.00..9.00 rows=100 width=12)",
            "        Order By: (embedding <-> '[1,2,3]'::vector)",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            plan_shape(&plan),
            "Limit -> Index Scan using t_ivfflat_idx on t"
        );
        let plan: Vec<String> = [
            "Limit  (cost=1.00..2.00 rows=10 width=12)",
            "  ->  Sort  (cost=1.00..2.00 rows=100 width=12)",
            "        Sort Key: ((embedding <-> '[1,2,3]'::vector))",
            "        ->  Seq Scan on t  (cost=0.00..1.00 rows=100 width=12)",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(plan_shape(&plan), "Limit -> Sort -> Seq Scan on t");
        assert_eq!(ellipsize("abc\ndef", 10), "abc def");
        assert_eq!(ellipsize("abcdefghijk", 8), "abcde...");
    }

    fn sample_report() -> Report {
        use crate::pg::ParamFormat;
        let setting = |name: &str, recall: f64, plan: &str| SettingResult {
            setting: name.into(),
            queries: 1000,
            recall,
            p50_ms: 1.234,
            p99_ms: 12.345,
            qps: 812.3,
            plan: vec![
                "Limit  (cost=0.00..1.00 rows=10 width=12)".into(),
                format!("  ->  {plan}  (cost=0.00..9.00 rows=100 width=12)"),
            ],
            ..Default::default()
        };
        let config = |label: &str, spec: &str, idx: Option<&str>, results| ConfigResult {
            label: label.into(),
            spec: IndexSpec::parse(spec).unwrap(),
            build: idx.map(|n| BuildStats {
                index_name: n.into(),
                sql: String::new(),
                seconds: 1.5,
                index_bytes: 150 << 20,
                phases: vec![],
            }),
            error: None,
            results,
        };
        let mut failed = config("hnsw(m=16,ef_construction=64)", "hnsw:m=16", None, vec![]);
        failed.error = Some(format!(
            "ERROR: access method \"hnsw\" does not exist {}",
            "x".repeat(200)
        ));
        Report {
            tool: ToolInfo {
                name: "vector-bench".into(),
                version: "0".into(),
            },
            started_unix: 0,
            command_line: vec![],
            dataset: DatasetInfo {
                source: "synthetic".into(),
                synthetic: Some(SynthParams {
                    n: 100_000,
                    dim: 384,
                    clusters: 1000,
                    spread: 1.0,
                    skew: 1.0,
                    seed: 42,
                }),
                query_seed: Some(43),
                data_path: None,
                queries_path: None,
                truth_path: None,
                held_out_queries: false,
                fingerprint: "synth-0123456789abcdef".into(),
                rows: 100_000,
                dim: 384,
                queries: 1000,
                data_bytes: 153_600_000,
            },
            metric: Metric::L2,
            k: 10,
            ext: "vector_ext".into(),
            ext_version: "0.1.0".into(),
            server_version: "15.20 (Debian 15.20-0+deb12u1)".into(),
            param_format: ParamFormat::Text,
            client_threads: 1,
            session_gucs: vec![],
            build_gucs: vec![],
            truth: TruthInfo {
                source: "cache".into(),
                seconds: 0.01,
                cache_dir: "c".into(),
            },
            bandwidth: None,
            load: LoadStats {
                reused: false,
                rows: 100_000,
                copy_seconds: 0.7,
                rows_per_sec: 140_000.0,
                mb_per_sec: 210.0,
                primary_key_seconds: 0.1,
                vacuum_analyze_seconds: 0.1,
            },
            table: "bench_items".into(),
            table_bytes: 160 << 20,
            table_total_bytes: 163 << 20,
            configs: vec![
                config(
                    "seqscan",
                    "seqscan",
                    None,
                    vec![SettingResult {
                        qps: 16.0,
                        gbs_scanned: Some(2.5),
                        ..setting("workers=0", 1.0, "Seq Scan on bench_items")
                    }],
                ),
                config(
                    "ivfflat(lists=100)",
                    "ivfflat:lists=100",
                    Some("bench_items_ivfflat_idx"),
                    vec![
                        setting(
                            "probes=1",
                            0.55,
                            "Index Scan using bench_items_ivfflat_idx on bench_items",
                        ),
                        setting("probes=32", 0.998, "Seq Scan on bench_items"),
                    ],
                ),
                failed,
            ],
        }
    }

    #[test]
    fn render_fits_and_flags() {
        let out = render(&sample_report());
        for l in out.lines() {
            assert!(l.chars().count() <= WIDTH, "too wide: {l}");
        }
        // Plans in their own section, grouped by setting when they differ.
        assert!(out.contains("  seqscan                        Limit -> Seq Scan on bench_items"));
        assert!(out.contains("probes=1: Limit -> Index Scan using bench_items_ivfflat_idx"));
        assert!(out.contains("(index NOT used) probes=32: Limit -> Seq Scan on bench_items"));
        assert!(out.contains("probes=32 (!)"));
        assert!(out.contains("index build failed (see above)"));
        assert!(out.contains("hnsw(m=16,ef_construction=64): build FAILED: ERROR: access method"));
        assert!(out.contains("50.8x"), "{out}");
        assert!(!out.contains("Debian"));
    }
}
