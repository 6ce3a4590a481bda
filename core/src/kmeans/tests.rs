use super::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::convert::Infallible;

fn no_progress() -> impl FnMut(usize, usize) -> Result<(), Infallible> {
    |_, _| Ok(())
}

fn run(data: &[f32], params: &KMeansParams) -> KMeansResult {
    train(data, params, &mut no_progress()).unwrap()
}

fn params(k: usize, dim: usize, spherical: bool, max_iters: usize, seed: u64) -> KMeansParams {
    KMeansParams {
        k,
        dim,
        spherical,
        max_iters,
        seed,
    }
}

fn gauss(rng: &mut SmallRng) -> f32 {
    // Box–Muller, independent of the library's generator.
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// `blobs` gaussian blobs (σ = `sigma`) around centres drawn in `[-10, 10]^dim`; points are
/// shuffled. Returns (data, blob of every point, generating centres).
pub(super) fn blobs(
    blobs: usize,
    per_blob: usize,
    dim: usize,
    sigma: f32,
    seed: u64,
) -> (Vec<f32>, Vec<usize>, Vec<f32>) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let centres: Vec<f32> = (0..blobs * dim)
        .map(|_| rng.gen_range(-10.0..10.0))
        .collect();
    let mut order: Vec<usize> = (0..blobs * per_blob).map(|i| i % blobs).collect();
    for i in (1..order.len()).rev() {
        let j = rng.gen_range(0..=i);
        order.swap(i, j);
    }
    let mut data = Vec::with_capacity(order.len() * dim);
    for &b in &order {
        for d in 0..dim {
            data.push(centres[b * dim + d] + sigma * gauss(&mut rng));
        }
    }
    (data, order, centres)
}

fn uniform(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n * dim).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

fn l2(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum()
}

fn dotf(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

/// Brute-force nearest centroid: index and distance (squared L2, or −dot if spherical).
fn brute(x: &[f32], centroids: &[f32], dim: usize, spherical: bool) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (j, c) in centroids.chunks_exact(dim).enumerate() {
        let d = if spherical { -dotf(x, c) } else { l2(x, c) };
        if d < best.1 {
            best = (j, d);
        }
    }
    best
}

fn inertia_ref(data: &[f32], centroids: &[f32], dim: usize) -> f64 {
    data.chunks_exact(dim)
        .map(|x| {
            centroids
                .chunks_exact(dim)
                .map(|c| l2(x, c))
                .fold(f64::INFINITY, f64::min)
        })
        .sum()
}

fn assert_unit(centroids: &[f32], dim: usize) {
    for c in centroids.chunks_exact(dim) {
        let norm = dotf(c, c).sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "centroid norm {norm}");
    }
}

fn assert_finite(v: &[f32]) {
    assert!(v.iter().all(|x| x.is_finite()), "non-finite centroid value");
}

/// Plain Lloyd's: brute-force assignment, f64 means (normalised when spherical), empty
/// clusters keep their centroid. Returns the inertia after every assignment.
fn lloyd(
    data: &[f32],
    dim: usize,
    centroids: &mut [f32],
    spherical: bool,
    iters: usize,
) -> Vec<f64> {
    let k = centroids.len() / dim;
    let mut inertias = Vec::new();
    for _ in 0..=iters {
        let labels: Vec<usize> = data
            .chunks_exact(dim)
            .map(|x| brute(x, centroids, dim, spherical).0)
            .collect();
        inertias.push(
            data.chunks_exact(dim)
                .zip(&labels)
                .map(|(x, &j)| l2(x, &centroids[j * dim..(j + 1) * dim]))
                .sum(),
        );
        if inertias.len() == iters + 1 {
            break;
        }
        let mut sums = vec![0.0f64; k * dim];
        let mut counts = vec![0usize; k];
        for (x, &j) in data.chunks_exact(dim).zip(&labels) {
            counts[j] += 1;
            for d in 0..dim {
                sums[j * dim + d] += x[d] as f64;
            }
        }
        for j in 0..k {
            if counts[j] == 0 {
                continue;
            }
            let s = &sums[j * dim..(j + 1) * dim];
            let div = if spherical {
                s.iter().map(|v| v * v).sum::<f64>().sqrt()
            } else {
                counts[j] as f64
            };
            for d in 0..dim {
                centroids[j * dim + d] = (s[d] / div) as f32;
            }
        }
    }
    inertias
}

fn init<E>(data: &[f32], p: &KMeansParams) -> Vec<f32> {
    let mut f = |_: usize, _: usize| -> Result<(), E> { Ok(()) };
    let mut check = Check {
        progress: &mut f,
        done: 0,
        max: 0,
        work: 0,
    };
    let mut rng = SplitMix64::new(p.seed);
    kmeanspp_init(data, p.dim, p.k, p.spherical, &mut rng, &mut check)
        .ok()
        .unwrap()
}

fn checker(f: &mut dyn FnMut(usize, usize) -> Result<(), Infallible>) -> Check<'_, Infallible> {
    Check {
        progress: f,
        done: 0,
        max: 0,
        work: 0,
    }
}

#[test]
fn kmeans_finds_known_blobs() {
    let (dim, nb, per) = (16, 8, 150);
    let (data, blob, centres) = blobs(nb, per, dim, 0.5, 1);
    let res = run(&data, &params(nb, dim, false, 50, 7));
    assert_eq!(res.centroids.len(), nb * dim);
    let labels = assign(&data, dim, &res.centroids, false);
    // Every blob maps to exactly one centroid, different blobs to different centroids.
    let mut blob_to_centroid = vec![None; nb];
    for (i, &b) in blob.iter().enumerate() {
        let l = labels[i] as usize;
        assert_eq!(*blob_to_centroid[b].get_or_insert(l), l, "blob {b} split");
    }
    let mut used: Vec<usize> = blob_to_centroid.iter().map(|c| c.unwrap()).collect();
    used.sort();
    used.dedup();
    assert_eq!(used.len(), nb, "two blobs share a centroid");
    // Each centroid is the blob's empirical mean, and near the generating centre.
    for b in 0..nb {
        let c = &res.centroids[blob_to_centroid[b].unwrap() * dim..][..dim];
        let mut mean = vec![0.0f64; dim];
        for (i, _) in blob.iter().enumerate().filter(|(_, &bb)| bb == b) {
            for d in 0..dim {
                mean[d] += data[i * dim + d] as f64 / per as f64;
            }
        }
        let mean: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
        assert!(l2(c, &mean).sqrt() < 1e-3, "centroid is not the blob mean");
        assert!(
            l2(c, &centres[b * dim..][..dim]).sqrt() < 0.5,
            "centroid far from centre"
        );
    }
    assert!((res.inertia - inertia_ref(&data, &res.centroids, dim)).abs() <= 1e-4 * res.inertia);
    assert!(res.iterations >= 1 && res.iterations < 50);
}

/// Drives the Hamerly iterations and checks every assignment (and the bounds) against brute
/// force on the current centroids.
fn hamerly_vs_brute(data: &[f32], p: &KMeansParams, iters: usize) {
    let dim = p.dim;
    let mut h = Hamerly::new(data, dim, p.k, p.spherical, init::<Infallible>(data, p));
    let mut f = |_: usize, _: usize| Ok(());
    let mut check = checker(&mut f);
    h.initial_assign(&mut check).unwrap();
    let mut full_scans_needed = 0;
    for it in 0..=iters {
        if it > 0 {
            h.update();
            let changed = h.assign_pass(&mut check).unwrap();
            full_scans_needed += changed;
        }
        for (i, b) in h.pts.iter().enumerate() {
            let x = &data[i * dim..(i + 1) * dim];
            let (bj, bd) = brute(x, &h.centroids, dim, false);
            let a = b.label as usize;
            let da = l2(x, &h.centroids[a * dim..(a + 1) * dim]);
            assert!(
                a == bj || da <= bd * (1.0 + 1e-5) + 1e-9,
                "iteration {it}, point {i}: label {a} ({da}) but nearest {bj} ({bd})"
            );
            assert!(
                b.upper as f64 >= da.sqrt() * (1.0 - 1e-5) - 1e-6,
                "upper bound broken"
            );
            let other = h
                .centroids
                .chunks_exact(dim)
                .enumerate()
                .filter(|&(j, _)| j != a)
                .map(|(_, c)| l2(x, c).sqrt())
                .fold(f64::INFINITY, f64::min);
            assert!(
                b.lower as f64 <= other * (1.0 + 1e-5) + 1e-6,
                "lower bound broken"
            );
        }
        if p.spherical {
            assert_unit(&h.centroids, dim);
        }
    }
    // Public assign() / nearest() against the brute-force loop on the final centroids.
    let labels = assign(data, dim, &h.centroids, p.spherical);
    for (i, x) in data.chunks_exact(dim).enumerate() {
        let (bj, bd) = brute(x, &h.centroids, dim, p.spherical);
        let l = labels[i] as usize;
        let c = &h.centroids[l * dim..(l + 1) * dim];
        let dl = if p.spherical { -dotf(x, c) } else { l2(x, c) };
        assert!(
            l == bj || (dl - bd).abs() <= 1e-5 * bd.abs() + 1e-6,
            "assign() not nearest"
        );
        assert_eq!(
            nearest(x, &h.centroids, dim, p.spherical),
            l,
            "nearest() != assign()"
        );
    }
    let _ = full_scans_needed;
}

#[test]
fn kmeans_hamerly_matches_brute_force() {
    // Unstructured data: many reassignments and weak pruning.
    let data = uniform(2000, 8, 2);
    hamerly_vs_brute(&data, &params(40, 8, false, 0, 3), 10);
    // Clustered data with 4k <= n, so the centroid separation test is used too.
    let (data, _, _) = blobs(10, 100, 6, 1.5, 4);
    hamerly_vs_brute(&data, &params(25, 6, false, 0, 5), 12);
    // Spherical.
    let data = uniform(1500, 10, 6);
    hamerly_vs_brute(&data, &params(30, 10, true, 0, 7), 8);
    // 4k > n: no separation test.
    let data = uniform(300, 5, 8);
    hamerly_vs_brute(&data, &params(100, 5, false, 0, 9), 8);
}

#[test]
fn kmeans_matches_lloyd_from_same_init() {
    for &spherical in &[false, true] {
        let (data, _, _) = blobs(12, 150, 5, 2.5, 10);
        let p = params(20, 5, spherical, 0, 11);
        let iters = 15;
        let start = init::<Infallible>(&data, &p);
        let mut reference = start.clone();
        let ref_inertias = lloyd(&data, 5, &mut reference, spherical, iters);
        for w in ref_inertias.windows(2) {
            assert!(w[1] <= w[0] * (1.0 + 1e-9), "Lloyd's inertia increased");
        }
        let mut h = Hamerly::new(&data, 5, 20, spherical, start);
        let mut f = |_: usize, _: usize| Ok(());
        let mut check = checker(&mut f);
        h.initial_assign(&mut check).unwrap();
        let mut inertias = vec![h.inertia()];
        for _ in 0..iters {
            h.update();
            h.assign_pass(&mut check).unwrap();
            inertias.push(h.inertia());
        }
        for w in inertias.windows(2) {
            assert!(w[1] <= w[0] * (1.0 + 1e-6), "inertia increased: {w:?}");
        }
        for (a, b) in inertias.iter().zip(&ref_inertias) {
            assert!((a - b).abs() <= 1e-5 * b, "inertia {a} vs Lloyd's {b}");
        }
        for (a, b) in h.centroids.iter().zip(&reference) {
            assert!((a - b).abs() < 1e-4, "centroid {a} vs Lloyd's {b}");
        }
        // train() from the same seed ends at least as low as Lloyd's after 15 iterations
        // (it stops once < 0.1% of the points move).
        let res = run(
            &data,
            &KMeansParams {
                max_iters: 50,
                ..p.clone()
            },
        );
        assert!(
            res.inertia <= ref_inertias[iters] * 1.001,
            "{} vs {}",
            res.inertia,
            ref_inertias[iters]
        );
    }
}

#[test]
fn kmeans_spherical_directions() {
    let (dim, ndir, per) = (12, 6, 120);
    let mut rng = SmallRng::seed_from_u64(12);
    let mut dirs = vec![0.0f32; ndir * dim];
    for d in dirs.chunks_exact_mut(dim) {
        for x in d.iter_mut() {
            *x = gauss(&mut rng);
        }
        let norm = dotf(d, d).sqrt() as f32;
        d.iter_mut().for_each(|x| *x /= norm);
    }
    let mut data = Vec::new();
    let mut truth = Vec::new();
    for i in 0..ndir * per {
        let b = (i * 7) % ndir;
        let scale = rng.gen_range(0.5..3.0f32);
        for d in 0..dim {
            data.push(scale * (dirs[b * dim + d] + 0.05 * gauss(&mut rng)));
        }
        truth.push(b);
    }
    let res = run(&data, &params(ndir, dim, true, 30, 13));
    assert_unit(&res.centroids, dim);
    let labels = assign(&data, dim, &res.centroids, true);
    let mut map = vec![None; ndir];
    for (i, &b) in truth.iter().enumerate() {
        let l = labels[i] as usize;
        assert_eq!(*map[b].get_or_insert(l), l, "direction {b} split");
    }
    for b in 0..ndir {
        let c = &res.centroids[map[b].unwrap() * dim..][..dim];
        assert!(
            dotf(c, &dirs[b * dim..][..dim]) > 0.99,
            "centroid off its direction"
        );
    }
    let mut used: Vec<usize> = map.iter().map(|m| m.unwrap()).collect();
    used.sort();
    used.dedup();
    assert_eq!(used.len(), ndir);
}

fn bits(r: &KMeansResult) -> (Vec<u32>, usize, u64) {
    (
        r.centroids.iter().map(|x| x.to_bits()).collect(),
        r.iterations,
        r.inertia.to_bits(),
    )
}

#[test]
fn kmeans_deterministic_across_runs_and_threads() {
    let (data, _, _) = blobs(20, 150, 8, 3.0, 14);
    for &spherical in &[false, true] {
        // n = 3000 > INIT_CHUNK: several weight chunks in the seeding.
        let p = params(30, 8, spherical, 10, 15);
        let a = run(&data, &p);
        let b = run(&data, &p);
        assert_eq!(bits(&a), bits(&b));
        let in_pool = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| run(&data, &p))
        };
        assert_eq!(bits(&in_pool(1)), bits(&a), "1 thread differs");
        assert_eq!(bits(&in_pool(4)), bits(&a), "4 threads differ");
        let c = run(
            &data,
            &KMeansParams {
                seed: 16,
                ..p.clone()
            },
        );
        assert_ne!(bits(&c).0, bits(&a).0, "seed has no effect");
    }
    // Subsampled seeding (n > INIT_SAMPLE_MIN and > 32k) with 1 vs 4 threads.
    let data = uniform(20_000, 4, 17);
    let p = params(16, 4, false, 3, 18);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| run(&data, &p));
    let four = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap()
        .install(|| run(&data, &p));
    assert_eq!(bits(&one), bits(&four));
}

#[test]
fn kmeans_no_points() {
    for &spherical in &[false, true] {
        let p = params(5, 3, spherical, 10, 19);
        let mut calls = Vec::new();
        let res = train(&[], &p, &mut |i, m| -> Result<(), ()> {
            calls.push((i, m));
            Ok(())
        })
        .unwrap();
        assert_eq!(res.centroids.len(), 15);
        assert_eq!(res.iterations, 0);
        assert_eq!(res.inertia, 0.0);
        assert_unit(&res.centroids, 3);
        assert_eq!(calls, vec![(0, 10)]);
        assert_eq!(bits(&res), bits(&run(&[], &p)));
        let mut distinct = res
            .centroids
            .chunks_exact(3)
            .map(|c| format!("{c:?}"))
            .collect::<Vec<_>>();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 5);
    }
}

#[test]
fn kmeans_fewer_points_than_k() {
    let data = vec![
        1.0, 2.0, 3.0, 4.0, -1.0, 0.5, 0.0, 2.0, 10.0, 10.0, 10.0, 10.0,
    ];
    for &spherical in &[false, true] {
        let res = run(&data, &params(10, 4, spherical, 10, 20));
        assert_eq!(res.centroids.len(), 40);
        assert_finite(&res.centroids);
        if spherical {
            assert_unit(&res.centroids, 4);
        }
        // Every point has a centroid on it (on its direction when spherical).
        for x in data.chunks_exact(4) {
            let j = nearest(x, &res.centroids, 4, spherical);
            let c = &res.centroids[j * 4..][..4];
            if spherical {
                assert!(dotf(x, c) / dotf(x, x).sqrt() > 1.0 - 1e-6);
            } else {
                assert!(l2(x, c) < 1e-6);
            }
        }
        if !spherical {
            assert!(res.inertia < 1e-6);
        }
        let mut distinct: Vec<Vec<u32>> = res
            .centroids
            .chunks_exact(4)
            .map(|c| c.iter().map(|x| x.to_bits()).collect())
            .collect();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 10, "duplicate centroids");
    }
    // n == k.
    let res = run(&data, &params(3, 4, false, 10, 21));
    assert!(res.inertia < 1e-9);
}

#[test]
fn kmeans_identical_and_duplicate_points() {
    let point = [0.25f32, -3.0, 7.5];
    let data: Vec<f32> = point.iter().cycle().take(100 * 3).copied().collect();
    let res = run(&data, &params(5, 3, false, 20, 22));
    assert_eq!(res.centroids.len(), 15);
    for c in res.centroids.chunks_exact(3) {
        assert!(
            l2(c, &point).sqrt() < 1e-3 * 7.5 * 2.0,
            "centroid {c:?} far from the point"
        );
    }
    assert!(res.inertia < 1e-9);
    let res = run(&data, &params(5, 3, true, 20, 22));
    assert_unit(&res.centroids, 3);
    assert!(res
        .centroids
        .chunks_exact(3)
        .any(|c| dotf(c, &point) / dotf(&point, &point).sqrt() > 1.0 - 1e-6));

    // 10 distinct points, each 50 times, k = 20: every distinct point gets a centroid.
    let distinct = uniform(10, 6, 23);
    let mut data = Vec::new();
    for r in 0..50 {
        for i in 0..10 {
            data.extend_from_slice(&distinct[((i * 7 + r) % 10) * 6..][..6]);
        }
    }
    let res = run(&data, &params(20, 6, false, 20, 24));
    assert_finite(&res.centroids);
    assert!(res.inertia < 1e-6, "inertia {}", res.inertia);
    assert!((res.inertia - inertia_ref(&data, &res.centroids, 6)).abs() < 1e-6);
}

#[test]
fn kmeans_single_cluster_and_one_dimension() {
    let data = uniform(500, 7, 25);
    let res = run(&data, &params(1, 7, false, 10, 26));
    let mut mean = [0.0f64; 7];
    for x in data.chunks_exact(7) {
        for (m, &v) in mean.iter_mut().zip(x) {
            *m += v as f64 / 500.0;
        }
    }
    for (&c, &m) in res.centroids.iter().zip(&mean) {
        assert!((c as f64 - m).abs() < 1e-6);
    }
    assert!(res.iterations <= 2);
    assert!((res.inertia - inertia_ref(&data, &res.centroids, 7)).abs() < 1e-6 * res.inertia);
    let res = run(&data, &params(1, 7, true, 10, 26));
    let norm = mean.iter().map(|m| m * m).sum::<f64>().sqrt();
    for (&c, &m) in res.centroids.iter().zip(&mean) {
        assert!((c as f64 - m / norm).abs() < 1e-5);
    }

    // dim = 1: two groups around -5 and +5.
    let mut rng = SmallRng::seed_from_u64(27);
    let data: Vec<f32> = (0..1000)
        .map(|i| if i % 2 == 0 { -5.0 } else { 5.0 } + gauss(&mut rng) * 0.3)
        .collect();
    let res = run(&data, &params(2, 1, false, 20, 28));
    let mut c = res.centroids.clone();
    c.sort_by(f32::total_cmp);
    let neg: f64 = data
        .iter()
        .filter(|&&x| x < 0.0)
        .map(|&x| x as f64)
        .sum::<f64>()
        / 500.0;
    let pos: f64 = data
        .iter()
        .filter(|&&x| x > 0.0)
        .map(|&x| x as f64)
        .sum::<f64>()
        / 500.0;
    assert!(
        (c[0] as f64 - neg).abs() < 1e-4 && (c[1] as f64 - pos).abs() < 1e-4,
        "{c:?}"
    );
    // dim = 1 with more clusters than distinct-ish values, and k > n.
    let res = run(&data[..5], &params(8, 1, false, 5, 29));
    assert_eq!(res.centroids.len(), 8);
    assert_finite(&res.centroids);
}

#[test]
fn kmeans_spherical_zero_vectors() {
    // All zero: centroids stay unit and finite.
    let zeros = vec![0.0f32; 50 * 4];
    let res = run(&zeros, &params(3, 4, true, 10, 30));
    assert_unit(&res.centroids, 4);
    assert!((res.inertia - 50.0).abs() < 1e-4);
    // Mixed: zero vectors plus two directions.
    let mut data = Vec::new();
    for i in 0..300 {
        match i % 3 {
            0 => data.extend_from_slice(&[0.0, 0.0, 0.0, 0.0]),
            1 => data.extend_from_slice(&[
                1.0 + (i % 7) as f32 * 0.1,
                0.01 * (i % 5) as f32,
                0.0,
                0.0,
            ]),
            _ => data.extend_from_slice(&[0.0, 0.0, 2.0, 0.02 * (i % 3) as f32]),
        }
    }
    for k in [1, 2, 3, 5] {
        let res = run(&data, &params(k, 4, true, 20, 31));
        assert_unit(&res.centroids, 4);
        if k >= 2 {
            assert!(res.centroids.chunks_exact(4).any(|c| c[0] > 0.99));
            assert!(res.centroids.chunks_exact(4).any(|c| c[2] > 0.99));
        }
    }
    // A cluster whose points cancel out keeps a unit centroid.
    let data = vec![1.0, 0.0, -1.0, 0.0, 1.0, 0.0, -1.0, 0.0];
    let res = run(&data, &params(1, 2, true, 5, 32));
    assert_unit(&res.centroids, 2);
}

#[test]
fn kmeans_reseeds_empty_clusters() {
    let (data, _, _) = blobs(4, 100, 3, 1.0, 33);
    // Centroid 2 is far from everything: its cluster is empty after the first assignment.
    let mut start = data[..4 * 3].to_vec();
    start[6..9].copy_from_slice(&[1e4, 1e4, 1e4]);
    let mut h = Hamerly::new(&data, 3, 4, false, start);
    let mut f = |_: usize, _: usize| Ok(());
    let mut check = checker(&mut f);
    h.initial_assign(&mut check).unwrap();
    assert!(!h.labels().contains(&2));
    h.update();
    h.assign_pass(&mut check).unwrap();
    assert!(h.labels().contains(&2), "empty cluster not re-seeded");
    assert!(h.centroids[6..9].iter().all(|&x| x.abs() < 100.0));
    for _ in 0..10 {
        h.update();
        h.assign_pass(&mut check).unwrap();
    }
    for j in 0..4u32 {
        assert!(h.labels().contains(&j));
    }
}

#[test]
fn kmeans_progress_and_cancellation() {
    let (data, _, _) = blobs(5, 200, 4, 3.0, 34);
    let p = params(30, 4, false, 40, 35);
    // Progress values: start at 0, never decrease, end at `iterations`.
    let mut calls = Vec::new();
    let res = train(&data, &p, &mut |i, m| -> Result<(), String> {
        calls.push((i, m));
        Ok(())
    })
    .unwrap();
    assert_eq!(calls[0], (0, 40));
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));
    assert_eq!(calls.last().unwrap().0, res.iterations);
    assert!(calls.iter().all(|&(_, m)| m == 40));

    // Err after init: stops at once.
    let mut n_calls = 0;
    let r = train(&data, &p, &mut |_, _| {
        n_calls += 1;
        Err("cancel".to_string())
    });
    assert_eq!(r.unwrap_err(), "cancel");
    assert_eq!(n_calls, 1);
    // Err at iteration 2: no more calls afterwards.
    let mut seen = Vec::new();
    let r = train(&data, &p, &mut |i, _| {
        seen.push(i);
        if i == 2 {
            Err(format!("cancelled at {i}"))
        } else {
            Ok(())
        }
    });
    assert_eq!(r.unwrap_err(), "cancelled at 2");
    assert_eq!(seen.last(), Some(&2));
    assert_eq!(seen.iter().filter(|&&i| i == 2).count(), 1);
    // n == 0 propagates too.
    assert_eq!(train(&[], &p, &mut |_, _| Err(7)).unwrap_err(), 7);
    // max_iters == 0: seeding and one assignment only.
    let res = run(
        &data,
        &KMeansParams {
            max_iters: 0,
            ..p.clone()
        },
    );
    assert_eq!(res.iterations, 0);
    assert!((res.inertia - inertia_ref(&data, &res.centroids, 4)).abs() < 1e-6 * res.inertia);
}

/// Timing check, not a test:
/// `cargo test --release -p vector_core kmeans_timing -- --ignored --nocapture`
/// (env: `KMEANS_K=1000,316`, `KMEANS_THREADS=1,2`, `KMEANS_DIM=128`, `KMEANS_SPHERICAL=1`).
#[test]
#[ignore]
fn kmeans_timing() {
    /// User + system CPU seconds of this process (Linux).
    fn cpu_seconds() -> f64 {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let after = stat.rsplit(')').next().unwrap_or("");
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        (ticks(11) + ticks(12)) / 100.0
    }
    let threads_list: Vec<usize> = std::env::var("KMEANS_THREADS")
        .map(|v| v.split(',').map(|t| t.parse().unwrap()).collect())
        .unwrap_or_else(|_| vec![1, 2]);
    let ks: Vec<usize> = std::env::var("KMEANS_K")
        .map(|v| v.split(',').map(|t| t.parse().unwrap()).collect())
        .unwrap_or_else(|_| vec![1000, 316]);
    let n = 100_000;
    let spherical = std::env::var("KMEANS_SPHERICAL").is_ok();
    let dim: usize = std::env::var("KMEANS_DIM")
        .map(|v| v.parse().unwrap())
        .unwrap_or(128);
    let (data, _, _) = blobs(2000, n / 2000, dim, 4.0, 36);
    for &k in &ks {
        for &threads in &threads_list {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let p = params(k, dim, spherical, 10, 37);
            let (t, cpu) = (std::time::Instant::now(), cpu_seconds());
            let res = pool.install(|| run(&data, &p));
            println!(
                "n={n} dim={dim} k={k} spherical={spherical} threads={threads}: {:.2} s wall, {:.2} s cpu, {} iterations, inertia {:.4e}",
                t.elapsed().as_secs_f64(),
                cpu_seconds() - cpu,
                res.iterations,
                res.inertia
            );
            let t = std::time::Instant::now();
            let labels = pool.install(|| assign(&data, dim, &res.centroids, spherical));
            println!(
                "  assign {n} points to {k} centroids: {:.2} s ({:.1} ns per point-centroid pair)",
                t.elapsed().as_secs_f64(),
                t.elapsed().as_secs_f64() * 1e9 / (n * k) as f64 * threads as f64
            );
            std::hint::black_box(labels);
        }
    }
}
