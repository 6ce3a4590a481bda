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
