//! Loading a dataset (synthetic or from files, cached with its ground truth) for `gen` and
//! `run`.

#![allow(unused_imports)]
use super::*;

/// A resolved dataset: vectors, description and cache directory.
pub(crate) struct Loaded {
    pub(crate) base: Matrix,
    pub(crate) queries: Matrix,
    pub(crate) info: DatasetInfo,
    /// Directory for this (base, queries) pair's ground truth.
    pub(crate) truth_dir: PathBuf,
    /// Directory for this base set (synthetic: holds base.fvecs).
    pub(crate) base_dir: PathBuf,
    pub(crate) truth_ids: Option<IMatrix>,
}

pub(crate) fn hex(h: u64) -> String {
    format!("{h:016x}")
}

pub(crate) fn synth_params(a: &DataArgs) -> SynthParams {
    SynthParams {
        n: a.n,
        dim: a.dim,
        clusters: a.clusters,
        spread: a.spread,
        skew: a.skew,
        seed: a.seed,
    }
}

pub(crate) fn timed<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let t = Instant::now();
    let r = f()?;
    eprintln!("[{what}] {:.2} s", t.elapsed().as_secs_f64());
    Ok(r)
}

/// Resolve the dataset described by `a`; when `write_cache`, synthetic base
/// and query vectors are also written to the cache as .fvecs.
pub(crate) fn load_dataset(a: &DataArgs, write_cache: bool) -> Result<Loaded> {
    if a.nq == 0 {
        bail!("--nq must be at least 1");
    }
    let (base, queries, info, base_dir, truth_dir) = if let Some(path) = &a.data {
        let m = timed("read data", || loaders::load_any(path, a.limit))?;
        let (base, queries, held_out) = match &a.queries {
            Some(qp) => (
                m,
                timed("read queries", || loaders::load_any(qp, None))?,
                false,
            ),
            None => {
                if m.rows <= a.nq {
                    bail!(
                        "{} has {} rows: too few to hold out {} queries",
                        path.display(),
                        m.rows,
                        a.nq
                    );
                }
                let (b, q) = m.split_tail(a.nq);
                (b, q, true)
            }
        };
        let queries = if queries.rows > a.nq {
            queries.head(a.nq)
        } else {
            queries
        };
        if base.dim != queries.dim {
            bail!(
                "base dimension {} != query dimension {}",
                base.dim,
                queries.dim
            );
        }
        let bfp = hex(base.content_hash());
        let qfp = hex(queries.content_hash());
        let base_dir = a.cache_dir.join(format!("file-{bfp}"));
        let truth_dir = base_dir.join(format!("q-{qfp}"));
        let info = DatasetInfo {
            source: "file".into(),
            synthetic: None,
            query_seed: None,
            data_path: Some(path.display().to_string()),
            queries_path: a.queries.as_ref().map(|p| p.display().to_string()),
            truth_path: a.truth.as_ref().map(|p| p.display().to_string()),
            held_out_queries: held_out,
            fingerprint: format!("file-{bfp}"),
            rows: base.rows,
            dim: base.dim,
            queries: queries.rows,
            data_bytes: base.bytes(),
        };
        (base, queries, info, base_dir, truth_dir)
    } else {
        if a.n == 0 || a.dim == 0 || a.clusters == 0 {
            bail!("-n, --dim and --clusters must be positive");
        }
        if a.dim > 16000 {
            bail!("--dim must be at most 16000 (the vector type's limit)");
        }
        let p = synth_params(a);
        let qseed = a.query_seed.unwrap_or(a.seed.wrapping_add(1));
        let bfp = hex(fnv1a(p.canonical().as_bytes()));
        let qfp = hex(fnv1a(
            format!("synth-queries-v1 base={bfp} nq={} seed={qseed}", a.nq).as_bytes(),
        ));
        let base_dir = a.cache_dir.join(format!("synth-{bfp}"));
        let truth_dir = base_dir.join(format!("q-{qfp}"));
        let (bpath, qpath) = (base_dir.join("base.fvecs"), truth_dir.join("queries.fvecs"));
        let cached = |path: &Path, rows: usize| -> Option<Matrix> {
            let m = loaders::read_fvecs(path, None).ok()?;
            (m.rows == rows && m.dim == p.dim).then_some(m)
        };
        let base = match cached(&bpath, p.n) {
            Some(m) => {
                eprintln!("[data] cached {}", bpath.display());
                m
            }
            None => timed("generate data", || Ok(dataset::generate(&p)))?,
        };
        let queries = match cached(&qpath, a.nq) {
            Some(m) => m,
            None => dataset::generate_queries(&p, a.nq, qseed),
        };
        if write_cache {
            std::fs::create_dir_all(&truth_dir)?;
            if !bpath.exists() {
                timed("write base.fvecs", || loaders::write_fvecs(&bpath, &base))?;
            }
            if !qpath.exists() {
                loaders::write_fvecs(&qpath, &queries)?;
            }
            std::fs::write(
                base_dir.join("params.json"),
                serde_json::to_string_pretty(&p)? + "\n",
            )?;
        }
        let info = DatasetInfo {
            source: "synthetic".into(),
            synthetic: Some(p.clone()),
            query_seed: Some(qseed),
            data_path: None,
            queries_path: None,
            truth_path: a.truth.as_ref().map(|p| p.display().to_string()),
            held_out_queries: false,
            fingerprint: format!("synth-{bfp}"),
            rows: base.rows,
            dim: base.dim,
            queries: queries.rows,
            data_bytes: base.bytes(),
        };
        (base, queries, info, base_dir, truth_dir)
    };
    let truth_ids = match &a.truth {
        Some(p) => Some(read_ivecs(p, None)?),
        None => None,
    };
    Ok(Loaded {
        base,
        queries,
        info,
        truth_dir,
        base_dir,
        truth_ids,
    })
}

/// Ground truth for `metric`/`k`: from --truth, the cache, or computed (and cached).
pub(crate) fn get_truth(d: &Loaded, metric: Metric, k: usize) -> Result<(Truth, TruthInfo)> {
    let t = Instant::now();
    let dir = d.truth_dir.display().to_string();
    if let Some(ids) = &d.truth_ids {
        let tr = truth::from_ids(&d.base, &d.queries, metric, ids, k)?;
        return Ok((
            tr,
            TruthInfo {
                source: "file".into(),
                seconds: t.elapsed().as_secs_f64(),
                cache_dir: dir,
            },
        ));
    }
    if let Some(tr) = truth::load_cached(&d.truth_dir, metric, k, d.queries.rows) {
        eprintln!(
            "[truth] {} k={k}: cached in {}",
            metric.name(),
            d.truth_dir.display()
        );
        return Ok((
            tr,
            TruthInfo {
                source: "cache".into(),
                seconds: t.elapsed().as_secs_f64(),
                cache_dir: dir,
            },
        ));
    }
    let pb = ProgressBar::new(d.queries.rows as u64).with_style(
        ProgressStyle::with_template(
            "truth {prefix} {bar:40.magenta/blue} {pos}/{len} queries eta {eta}",
        )
        .unwrap()
        .progress_chars("=> "),
    );
    pb.set_prefix(metric.name());
    let tr = truth::brute_force(&d.base, &d.queries, metric, k, &|n| pb.inc(n))?;
    pb.finish_and_clear();
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "[truth] {} k={k}: computed in {secs:.2} s with {} threads",
        metric.name(),
        rayon::current_num_threads()
    );
    if let Err(e) = truth::save(&d.truth_dir, metric, &tr) {
        eprintln!("[truth] warning: could not cache ground truth: {e:#}");
    }
    Ok((
        tr,
        TruthInfo {
            source: "computed".into(),
            seconds: secs,
            cache_dir: dir,
        },
    ))
}
