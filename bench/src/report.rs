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

fn table(rows: &[Vec<String>], right: &[bool]) -> String {
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let mut w = vec![0usize; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for (ri, r) in rows.iter().enumerate() {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            let pad = w[i] - c.chars().count();
            if i > 0 {
                line.push_str("  ");
            }
            if right.get(i).copied().unwrap_or(false) {
                line.push_str(&" ".repeat(pad));
                line.push_str(c);
            } else {
                line.push_str(c);
                if i + 1 < r.len() {
                    line.push_str(&" ".repeat(pad));
                }
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

/// Render the human-readable summary and results table.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let d = &r.dataset;
    let _ = writeln!(
        s,
        "dataset: {} rows x {} dim, {} queries ({}; fingerprint {}), metric {} (k = {})",
        d.rows,
        d.dim,
        d.queries,
        d.source,
        d.fingerprint,
        r.metric.name(),
        r.k
    );
    let _ = writeln!(
        s,
        "server: PostgreSQL {}, extension {} {}, params sent as {:?}",
        r.server_version, r.ext, r.ext_version, r.param_format
    );
    let _ = writeln!(
        s,
        "ground truth: {} ({:.2} s)",
        r.truth.source, r.truth.seconds
    );
    if let Some(b) = &r.bandwidth {
        let _ = writeln!(
            s,
            "memory read bandwidth: {:.1} GB/s single thread, {:.1} GB/s with {} threads ({} MiB buffer, median of {})",
            b.single_thread_gbs,
            b.all_threads_gbs,
            b.threads,
            b.buffer_bytes >> 20,
            b.runs
        );
    }
    if r.load.reused {
        let _ = writeln!(s, "table: reused ({} rows already loaded)", r.load.rows);
    } else {
        let _ = writeln!(
            s,
            "load: {} rows in {:.2} s ({:.0} rows/s, {:.0} MB/s), primary key {:.2} s, vacuum analyze {:.2} s",
            r.load.rows,
            r.load.copy_seconds,
            r.load.rows_per_sec,
            r.load.mb_per_sec,
            r.load.primary_key_seconds,
            r.load.vacuum_analyze_seconds
        );
    }
    let _ = writeln!(
        s,
        "table size: {} (with primary key and TOAST: {})",
        human_bytes(r.table_bytes),
        human_bytes(r.table_total_bytes)
    );
    for c in &r.configs {
        if let Some(b) = &c.build {
            let _ = writeln!(
                s,
                "index {}: built in {:.2} s, size {}",
                c.label,
                b.seconds,
                human_bytes(b.index_bytes)
            );
        }
        if let Some(e) = &c.error {
            let _ = writeln!(s, "index {}: FAILED: {e}", c.label);
        }
    }
    s.push('\n');

    let conc = r
        .configs
        .iter()
        .flat_map(|c| &c.results)
        .find_map(|x| x.concurrent.as_ref().map(|c| c.clients));
    let mut head = vec![
        "config".to_string(),
        "setting".into(),
        format!("recall@{}", r.k),
        "p50 ms".into(),
        "p95 ms".into(),
        "p99 ms".into(),
        "QPS".into(),
    ];
    if let Some(n) = conc {
        head.push(format!("QPS x{n}"));
    }
    head.push("GB/s scanned".into());
    head.push("plan".into());
    let mut right = vec![false, false, true, true, true, true, true];
    if conc.is_some() {
        right.push(true);
    }
    right.push(true);
    right.push(false);
    let mut rows = vec![head];
    for c in &r.configs {
        for x in &c.results {
            if let Some(e) = &x.error {
                rows.push(vec![
                    c.label.clone(),
                    x.setting.clone(),
                    format!("error: {e}"),
                ]);
                continue;
            }
            let mut row = vec![
                c.label.clone(),
                x.setting.clone(),
                format!("{:.4}", x.recall),
                format!("{:.3}", x.p50_ms),
                format!("{:.3}", x.p95_ms),
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
            row.push(match (x.gbs_scanned, x.bandwidth_fraction) {
                (Some(g), Some(f)) => format!("{g:.2} ({:.0}%)", f * 100.0),
                (Some(g), None) => format!("{g:.2}"),
                _ => "-".into(),
            });
            row.push(x.plan_scan_line.trim().to_string());
            rows.push(row);
        }
    }
    s.push_str(&table(&rows, &right));
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
    }
}
