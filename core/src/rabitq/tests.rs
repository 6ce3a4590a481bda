use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;

fn gaussian(rng: &mut SmallRng) -> f32 {
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

fn random_vector(rng: &mut SmallRng, dims: usize) -> Vec<f32> {
    (0..dims).map(|_| gaussian(rng)).collect()
}

/// Vectors shaped like text embeddings: a `latent`-dimensional Gaussian mapped into `dims`
/// dimensions with a decaying spectrum, plus a shared mean and a little noise, unit-normalised.
fn embedding_like(rng: &mut SmallRng, n: usize, dims: usize, latent: usize) -> Vec<Vec<f32>> {
    let map: Vec<Vec<f32>> = (0..latent)
        .map(|k| {
            let scale = 1.0 / (1.0 + k as f32).sqrt();
            (0..dims).map(|_| gaussian(rng) * scale).collect()
        })
        .collect();
    let mean: Vec<f32> = (0..dims).map(|_| gaussian(rng) * 0.5).collect();
    (0..n)
        .map(|_| {
            let z: Vec<f32> = (0..latent).map(|_| gaussian(rng)).collect();
            let mut v: Vec<f32> = (0..dims)
                .map(|j| {
                    mean[j]
                        + (0..latent).map(|k| z[k] * map[k][j]).sum::<f32>()
                        + 0.05 * gaussian(rng)
                })
                .collect();
            let norm = dot(&v, &v).sqrt() as f32;
            v.iter_mut().for_each(|x| *x /= norm);
            v
        })
        .collect()
}

#[test]
fn hadamard_matches_its_matrix() {
    for n in [1usize, 2, 4, 8, 16, 32] {
        let mut rng = SmallRng::seed_from_u64(n as u64);
        let x = random_vector(&mut rng, n);
        let mut fast = x.clone();
        hadamard(&mut fast);
        for (i, &f) in fast.iter().enumerate() {
            // H[i][j] = (−1)^popcount(i & j)
            let slow: f64 = (0..n)
                .map(|j| {
                    if (i & j).count_ones() % 2 == 0 {
                        x[j] as f64
                    } else {
                        -x[j] as f64
                    }
                })
                .sum();
            assert!((f as f64 - slow).abs() < 1e-4, "n={n} i={i}: {f} vs {slow}");
        }
    }
}

#[test]
fn rotation_is_orthogonal_on_any_dimension() {
    for dims in [1usize, 2, 3, 7, 64, 100, 384, 1000, 1536] {
        let rot = Rotation::new(dims, 42);
        assert_eq!(rot.padded(), dims.next_power_of_two());
        let mut rng = SmallRng::seed_from_u64(dims as u64);
        let (x, y) = (random_vector(&mut rng, dims), random_vector(&mut rng, dims));
        let (mut px, mut py) = (Vec::new(), Vec::new());
        rot.apply(&x, &mut px);
        rot.apply(&y, &mut py);
        assert_eq!(px.len(), rot.padded());
        let scale = (dot(&x, &x) * dot(&y, &y)).sqrt();
        assert!(
            (dot(&px, &px) - dot(&x, &x)).abs() < 1e-4 * dot(&x, &x),
            "dims={dims}: norm"
        );
        assert!(
            (dot(&px, &py) - dot(&x, &y)).abs() < 1e-4 * scale,
            "dims={dims}: inner product"
        );
    }
}

#[test]
fn rotation_depends_on_its_seed_only() {
    let x: Vec<f32> = (0..384).map(|i| (i as f32).sin()).collect();
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    Rotation::new(384, 7).apply(&x, &mut a);
    Rotation::new(384, 7).apply(&x, &mut b);
    Rotation::new(384, 8).apply(&x, &mut c);
    assert_eq!(a, b);
    assert!(a.iter().zip(&c).any(|(p, q)| (p - q).abs() > 1e-3));
}

#[test]
fn masked_sum_is_the_sum_over_set_bits() {
    let mut rng = SmallRng::seed_from_u64(3);
    for d in [1usize, 63, 64, 65, 130, 512] {
        let code_src = random_vector(&mut rng, d);
        let mut bits = Vec::new();
        encode(&code_src, EPSILON0, &mut bits);
        let y = Prepared::new(random_vector(&mut rng, d));
        let want: f32 = (0..d)
            .filter(|&i| code_src[i] > 0.0)
            .map(|i| y.rotated[i])
            .sum();
        assert!((y.masked_sum(&bits) - want).abs() < 1e-4, "d={d}");
    }
}

/// Estimates of ⟨r, q⟩ and ‖r − q‖² over many pairs: unbiased, inside the bound for about as many
/// pairs as a normal variable is within `epsilon0` sigmas (`min_coverage` at least), and not far
/// more (`max_coverage`: a bound much looser than the theory says would be useless).
fn check_estimates(
    data: &[Vec<f32>],
    queries: &[Vec<f32>],
    epsilon0: f32,
    (min_coverage, max_coverage): (f64, f64),
    label: &str,
) {
    let dims = data[0].len();
    let rot = Rotation::new(dims, 0xC0DE);
    let centre: Vec<f32> = (0..dims)
        .map(|j| data.iter().map(|v| v[j]).sum::<f32>() / data.len() as f32)
        .collect();
    let residual = |v: &[f32]| -> Vec<f32> { v.iter().zip(&centre).map(|(a, c)| a - c).collect() };
    let codes: Vec<(Vec<u64>, Factors)> = data
        .iter()
        .map(|v| {
            let mut rotated = Vec::new();
            rot.apply(&residual(v), &mut rotated);
            let mut bits = Vec::new();
            let f = encode(&rotated, epsilon0, &mut bits);
            (bits, f)
        })
        .collect();
    let (mut pairs, mut outside, mut outside_l2) = (0usize, 0usize, 0usize);
    let (mut signed, mut bound_sum) = (0.0f64, 0.0f64);
    for q in queries {
        let qr = residual(q);
        let mut rotated = Vec::new();
        rot.apply(&qr, &mut rotated);
        let p = Prepared::new(rotated);
        for (v, (bits, f)) in data.iter().zip(&codes) {
            let r = residual(v);
            let true_dot = dot(&r, &qr);
            let (est, err) = p.estimate_dot(bits, f);
            if (est as f64 - true_dot).abs() > err as f64 {
                outside += 1;
            }
            let true_l2: f64 = r
                .iter()
                .zip(&qr)
                .map(|(a, b)| ((a - b) as f64).powi(2))
                .sum();
            let (est_l2, err_l2) = p.estimate_l2(bits, f);
            if (est_l2 as f64 - true_l2).abs() > err_l2 as f64 + 1e-5 {
                outside_l2 += 1;
            }
            signed += est as f64 - true_dot;
            bound_sum += err as f64;
            pairs += 1;
        }
    }
    let coverage = 1.0 - outside as f64 / pairs as f64;
    let bias = signed / bound_sum;
    eprintln!(
        "{label}, ε₀ {epsilon0}: {pairs} pairs, coverage {coverage:.5}, bias {bias:+.4} bound"
    );
    assert!(
        (min_coverage..=max_coverage).contains(&coverage),
        "{label}: coverage {coverage} outside {min_coverage}..={max_coverage}"
    );
    assert_eq!(
        outside, outside_l2,
        "{label}: the l2 bound is the dot bound, doubled"
    );
    assert!(
        bias.abs() < 0.03,
        "{label}: mean error {bias} of the mean bound"
    );
}

#[test]
fn estimates_are_unbiased_and_bounded_on_embedding_like_data() {
    let mut rng = SmallRng::seed_from_u64(11);
    let all = embedding_like(&mut rng, 700, 384, 24);
    let (data, queries) = all.split_at(600);
    check_estimates(
        data,
        &queries[..40],
        EPSILON0,
        (0.92, 0.97),
        "embedding-like 384",
    );
    check_estimates(
        data,
        &queries[..40],
        EPSILON0_STRICT,
        (0.999, 1.0),
        "embedding-like 384",
    );
}

#[test]
fn estimates_are_unbiased_and_bounded_on_gaussian_data() {
    let mut rng = SmallRng::seed_from_u64(12);
    for dims in [100usize, 128, 960] {
        let data: Vec<Vec<f32>> = (0..300).map(|_| random_vector(&mut rng, dims)).collect();
        let queries: Vec<Vec<f32>> = (0..30).map(|_| random_vector(&mut rng, dims)).collect();
        let label = format!("gaussian {dims}");
        check_estimates(&data, &queries, EPSILON0, (0.92, 0.97), &label);
        check_estimates(&data, &queries, EPSILON0_STRICT, (0.999, 1.0), &label);
    }
}

#[test]
fn the_centre_itself_is_estimated_exactly() {
    let mut bits = Vec::new();
    let f = encode(&[0.0; 8], EPSILON0, &mut bits);
    let p = Prepared::new(vec![1.0, -2.0, 0.5, 0.0, 3.0, 0.0, 0.0, 1.0]);
    assert_eq!(p.estimate_dot(&bits, &f), (0.0, 0.0));
    let (l2, err) = p.estimate_l2(&bits, &f);
    assert!((l2 - 15.25).abs() < 1e-5 && err == 0.0);
}

// ------------------------------------------------------------------ stored codes, lower bounds

use super::code::{code_bytes, masked_levels, masked_reference, CodeQuery, Encoder};
use crate::distance::Metric;

/// Every masked-sum kernel equals the bit-by-bit definition, on dimensions that fill no whole
/// word, one word, and many.
#[test]
fn masked_sum_kernels_match_the_definition_on_odd_dimensions() {
    let mut rng = SmallRng::seed_from_u64(21);
    for dims in [1usize, 3, 17, 63, 64, 100, 384, 1000, 1536] {
        let enc = Encoder::new(dims, 5, Metric::L2);
        let centre = vec![0.0f32; dims];
        let q = random_vector(&mut rng, dims);
        let cq = CodeQuery::new(&enc.rotation, Metric::L2, &q, EPSILON0);
        let mut rc = Vec::new();
        enc.rotation.apply(&centre, &mut rc);
        let lq = cq.for_list(&centre, &rc);
        for _ in 0..20 {
            let mut code = Vec::new();
            enc.encode(&random_vector(&mut rng, dims), &centre, &mut code);
            assert_eq!(code.len(), code_bytes(enc.rotation.padded()));
            let want = masked_reference(&code, &lq.bytes, lq.words());
            for (name, k) in masked_levels() {
                assert_eq!(lq.masked_with(k, &code), want, "{name}, {dims} dims");
            }
        }
    }
}

/// The exact ordering distance of `o` to `q` (squared L2, negative inner product, cosine).
fn exact(metric: Metric, q: &[f32], o: &[f32]) -> f64 {
    match metric {
        Metric::L2 => q.iter().zip(o).map(|(a, b)| ((a - b) as f64).powi(2)).sum(),
        Metric::InnerProduct => -dot(q, o),
        _ => 1.0 - dot(q, o) / (dot(q, q).sqrt() * dot(o, o).sqrt()),
    }
}

/// Codes of `data` around its mean, scored against `queries`: (fraction of lower bounds that
/// hold, and per query the rows in the order an executor recheck would emit them).
fn bounds_and_rechecked_order(
    data: &[Vec<f32>],
    queries: &[Vec<f32>],
    metric: Metric,
    epsilon0: f32,
    k: usize,
) -> (f64, f64, f64) {
    let dims = data[0].len();
    let enc = Encoder::new(dims, 0xBEEF, metric);
    let mut centre: Vec<f32> = (0..dims)
        .map(|j| data.iter().map(|v| v[j]).sum::<f32>() / data.len() as f32)
        .collect();
    if metric == Metric::Cosine {
        let n = dot(&centre, &centre).sqrt() as f32;
        centre.iter_mut().for_each(|x| *x /= n);
    }
    let mut codes = Vec::new();
    for v in data {
        enc.encode(v, &centre, &mut codes);
    }
    let stride = enc.code_bytes();
    let mut rc = Vec::new();
    enc.rotation.apply(&centre, &mut rc);
    let (mut held, mut pairs, mut recall_hits, mut reranks) = (0usize, 0usize, 0usize, 0usize);
    for q in queries {
        let lq = CodeQuery::new(&enc.rotation, metric, q, epsilon0).for_list(&centre, &rc);
        let mut lb = vec![0f32; data.len()];
        lq.lower_bounds(&codes, stride, data.len(), &mut lb);
        let truth: Vec<f64> = data.iter().map(|o| exact(metric, q, o)).collect();
        for (l, t) in lb.iter().zip(&truth) {
            pairs += 1;
            if (*l as f64) <= *t {
                held += 1;
            }
        }
        // The executor: rows arrive by lower bound; a row is emitted once its exact distance
        // is at most the next arriving lower bound.
        let mut order: Vec<usize> = (0..data.len()).collect();
        order.sort_by(|&a, &b| lb[a].total_cmp(&lb[b]));
        let mut queue: Vec<usize> = Vec::new();
        let mut emitted = Vec::new();
        for (n, &i) in order.iter().enumerate() {
            queue.push(i);
            reranks = reranks.max(0);
            let next = order.get(n + 1).map_or(f64::INFINITY, |&j| lb[j] as f64);
            queue.sort_by(|&a, &b| truth[b].total_cmp(&truth[a]));
            while let Some(&best) = queue.last() {
                if truth[best] <= next {
                    emitted.push(best);
                    queue.pop();
                } else {
                    break;
                }
            }
            if emitted.len() >= k {
                reranks += n + 1;
                break;
            }
        }
        let mut by_truth: Vec<usize> = (0..data.len()).collect();
        by_truth.sort_by(|&a, &b| truth[a].total_cmp(&truth[b]));
        let kth = truth[by_truth[k - 1]];
        recall_hits += emitted[..k].iter().filter(|&&i| truth[i] <= kth).count();
    }
    (
        held as f64 / pairs as f64,
        recall_hits as f64 / (queries.len() * k) as f64,
        reranks as f64 / queries.len() as f64,
    )
}

/// Lower bounds from stored codes hold for the fraction of pairs the theory gives, for every
/// metric; rechecked in lower-bound order, the first k rows are the exact k nearest (all of
/// them with the strict factor) after scoring few rows exactly.
#[test]
fn code_lower_bounds_hold_and_recheck_yields_the_exact_nearest() {
    let mut rng = SmallRng::seed_from_u64(31);
    let all = embedding_like(&mut rng, 2040, 384, 24);
    let (data, queries) = all.split_at(2000);
    for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
        let (held, recall, reranks) =
            bounds_and_rechecked_order(data, queries, metric, EPSILON0, 10);
        eprintln!("{metric:?} ε₀ {EPSILON0}: bounds hold {held:.4}, recall@10 {recall:.3}, {reranks:.0} rows rechecked");
        assert!(held >= 0.95, "{metric:?}: {held}");
        assert!(recall >= 0.97, "{metric:?}: recall {recall}");
        assert!(
            reranks < 200.0,
            "{metric:?}: {reranks} rows rechecked of 2000"
        );
        let (held, recall, _) =
            bounds_and_rechecked_order(data, queries, metric, EPSILON0_STRICT, 10);
        eprintln!("{metric:?} ε₀ {EPSILON0_STRICT}: bounds hold {held:.5}, recall@10 {recall:.3}");
        assert!(held >= 0.999, "{metric:?}: {held}");
        assert_eq!(recall, 1.0, "{metric:?}");
    }
    // Gaussian data, 128 dimensions
    let data: Vec<Vec<f32>> = (0..1500).map(|_| random_vector(&mut rng, 128)).collect();
    let queries: Vec<Vec<f32>> = (0..30).map(|_| random_vector(&mut rng, 128)).collect();
    let (held, recall, _) =
        bounds_and_rechecked_order(&data, &queries, Metric::L2, EPSILON0_STRICT, 10);
    assert!(held >= 0.999 && recall >= 0.99, "gaussian: {held} {recall}");
}

/// Cosine: a zero vector (or a zero query) has no distance: NaN, as the operator gives.
#[test]
fn zero_vectors_have_no_cosine_bound() {
    let enc = Encoder::new(4, 1, Metric::Cosine);
    let centre = [0.5f32, 0.5, 0.5, 0.5];
    let mut codes = Vec::new();
    enc.encode(&[0.0; 4], &centre, &mut codes);
    enc.encode(&[1.0, 0.0, 0.0, 0.0], &centre, &mut codes);
    let mut rc = Vec::new();
    enc.rotation.apply(&centre, &mut rc);
    let lq = CodeQuery::new(&enc.rotation, Metric::Cosine, &[1.0, 0.0, 0.0, 0.0], 1.9)
        .for_list(&centre, &rc);
    let mut out = [0f32; 2];
    lq.lower_bounds(&codes, enc.code_bytes(), 2, &mut out);
    assert!(out[0].is_nan());
    assert!(out[1] <= 1e-6, "the query itself: {}", out[1]);
}
