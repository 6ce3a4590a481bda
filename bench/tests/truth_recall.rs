//! Ground truth against hand-computed tiny cases (every metric), against a
//! naive full sort on random data, and tie-aware recall.

use vector_bench::dataset::Matrix;
use vector_bench::loaders::IMatrix;
use vector_bench::truth::{brute_force, distance, from_ids, recall_at_k, Metric};

fn tiny() -> (Matrix, Matrix) {
    let base = Matrix::new(4, 2, vec![0., 0., 1., 0., 0., 2., 3., 4.]);
    let q = Matrix::new(1, 2, vec![1., 1.]);
    (base, q)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-5
}

#[test]
fn tiny_case_every_metric() {
    let (base, q) = tiny();
    let s2 = 2f64.sqrt();
    // metric, expected ids, expected distances (worked out by hand)
    let cases: [(Metric, [u32; 3], [f64; 3]); 4] = [
        // |q-b|: 1.414, 1, 1.414, 3.606 ; tie 0 vs 2 broken by id
        (Metric::L2, [1, 0, 2], [1.0, s2, s2]),
        // -q.b: 0, -1, -2, -7
        (Metric::Ip, [3, 2, 1], [-7.0, -2.0, -1.0]),
        // 1 - cos: NaN (zero vector, sorts last), 1-1/√2, 1-1/√2, 1-7/(5√2)
        (
            Metric::Cosine,
            [3, 1, 2],
            [1.0 - 7.0 / (5.0 * s2), 1.0 - 1.0 / s2, 1.0 - 1.0 / s2],
        ),
        // |q-b|_1: 2, 1, 2, 5
        (Metric::L1, [1, 0, 2], [1.0, 2.0, 2.0]),
    ];
    for (m, ids, dists) in cases {
        let t = brute_force(&base, &q, m, 3, &|_| {}).unwrap();
        assert_eq!(t.ids(0), &ids, "{m:?}");
        for (a, b) in t.dists(0).iter().zip(dists) {
            assert!(close(*a, b), "{m:?}: {a} vs {b}");
        }
        assert!(close(t.kth(0), dists[2]));
    }
    assert!(distance(Metric::Cosine, &[0., 0.], &[1., 1.]).is_nan());
}

#[test]
fn k_out_of_range_is_error() {
    let (base, q) = tiny();
    assert!(brute_force(&base, &q, Metric::L2, 0, &|_| {}).is_err());
    assert!(brute_force(&base, &q, Metric::L2, 5, &|_| {}).is_err());
    let q3 = Matrix::new(1, 3, vec![1., 1., 1.]);
    assert!(brute_force(&base, &q3, Metric::L2, 1, &|_| {}).is_err());
}

#[test]
fn matches_naive_sort_on_random_data() {
    let mut s = 12345u64;
    let mut rnd = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    let (n, dim, nq, k) = (700, 13, 37, 10);
    let base = Matrix::new(n, dim, (0..n * dim).map(|_| rnd()).collect());
    let qs = Matrix::new(nq, dim, (0..nq * dim).map(|_| rnd()).collect());
    for m in [Metric::L2, Metric::Ip, Metric::Cosine, Metric::L1] {
        let t = brute_force(&base, &qs, m, k, &|_| {}).unwrap();
        for qi in 0..nq {
            let mut all: Vec<(f64, u32)> = (0..n)
                .map(|i| (distance(m, qs.row(qi), base.row(i)), i as u32))
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let want: Vec<u32> = all[..k].iter().map(|x| x.1).collect();
            assert_eq!(t.ids(qi), &want[..], "{m:?} query {qi}");
            // Perfect results give recall 1.
            let r = recall_at_k(t.ids(qi), t.kth(qi), &want, k, |id| {
                distance(m, qs.row(qi), base.row(id as usize))
            });
            assert_eq!(r, 1.0);
        }
    }
}

#[test]
fn truth_from_ids_sorts_and_measures() {
    let (base, q) = tiny();
    let ids = IMatrix {
        rows: 1,
        dim: 3,
        data: vec![2, 1, 0],
    };
    let t = from_ids(&base, &q, Metric::L2, &ids, 2).unwrap();
    assert_eq!(t.ids(0), &[1, 2]);
    assert!(close(t.kth(0), 2f64.sqrt()));
    let bad = IMatrix {
        rows: 1,
        dim: 1,
        data: vec![9],
    };
    assert!(from_ids(&base, &q, Metric::L2, &bad, 1).is_err());
}

#[test]
fn recall_hand_checked() {
    // Distances: id -> id as f64 (so truth [1,2,3,4] has k-th distance 4).
    let d = |id: u32| id as f64;
    assert_eq!(recall_at_k(&[1, 2, 3, 4], 4.0, &[4, 9, 1, 8], 4, d), 0.5);
    assert_eq!(recall_at_k(&[1, 2, 3, 4], 4.0, &[1, 2, 3, 4], 4, d), 1.0);
    assert_eq!(recall_at_k(&[1, 2, 3, 4], 4.0, &[], 4, d), 0.0);
    // Fewer rows than k.
    assert_eq!(recall_at_k(&[1, 2, 3, 4], 4.0, &[3], 4, d), 0.25);
    // Duplicates count once.
    assert_eq!(recall_at_k(&[1, 2, 3, 4], 4.0, &[1, 1, 1, 1], 4, d), 0.25);
    // Ties: id 7 is not in the truth but exactly as far as the k-th
    // neighbour -> a hit; id 8 is farther -> a miss.
    let tie = |id: u32| match id {
        1 => 1.0,
        2 => 2.0,
        7 => 2.0,
        _ => 2.5,
    };
    assert_eq!(recall_at_k(&[1, 2], 2.0, &[1, 7], 2, tie), 1.0);
    assert_eq!(recall_at_k(&[1, 2], 2.0, &[7, 8], 2, tie), 0.5);
    assert_eq!(recall_at_k(&[1, 2], 2.0, &[8, 9], 2, tie), 0.0);
    // Negative distances (inner product): the tolerance goes the right way.
    let ip = |id: u32| if id == 5 { -3.0 } else { -1.0 };
    assert_eq!(recall_at_k(&[1, 2], -3.0, &[5, 6], 2, ip), 0.5);
}

#[test]
fn exact_ties_resolved_by_id_through_screening() {
    // 300 identical rows: every distance ties; the truth lists the smallest ids.
    let base = Matrix::new(300, 3, [0.5f32, -1.0, 2.0].repeat(300));
    let q = Matrix::new(1, 3, vec![1.0, 1.0, 1.0]);
    for m in [Metric::L2, Metric::Ip, Metric::Cosine, Metric::L1] {
        let t = brute_force(&base, &q, m, 5, &|_| {}).unwrap();
        assert_eq!(t.ids(0), &[0, 1, 2, 3, 4], "{m:?}");
        // Any 5 of the tied rows are a perfect answer.
        let r = recall_at_k(t.ids(0), t.kth(0), &[299, 100, 7, 8, 9], 5, |id| {
            distance(m, q.row(0), base.row(id as usize))
        });
        assert_eq!(r, 1.0, "{m:?}");
    }
}
