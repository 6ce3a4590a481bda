//! The in-memory HNSW build on its own, without Postgres: time, distance count and recall of
//! `vector_core::hnsw::Graph` over a float32 `.npy` matrix (rows × dims, C order), on every
//! core (rayon), with the same closures the index build uses. For trying build changes in
//! seconds instead of a CREATE INDEX.
//!
//!   cargo run --release -p vector_core --example hnsw_build -- BASE.npy QUERIES.npy [m] [ef_construction] [rows]
//!
//! HALF=1 builds over float16 copies of the rows; COUNT=1 counts distances (slower).
//!
//! Recall@10 at several ef is against brute force over the same rows (L2).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use vector_core::distance::{l2_squared, Metric};
use vector_core::elem::ElemKind;
use vector_core::hnsw::{level_from_hash, BytePoints, Graph, Params};
use vector_core::scan::pair_distance;

fn read_npy(path: &str) -> (usize, usize, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{path}: not a .npy file");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.contains("'<f4'"), "{path}: not float32: {header}");
    let shape = &header[header.find("'shape': (").unwrap() + 10..];
    let shape = &shape[..shape.find(')').unwrap()];
    let dims: Vec<usize> = shape
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let data = &bytes[10 + header_len..];
    let v = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    (dims[0], dims[1], v)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = &args[1];
    let queries = &args[2];
    let m: usize = args.get(3).map_or(16, |s| s.parse().unwrap());
    let efc: usize = args.get(4).map_or(64, |s| s.parse().unwrap());
    let (mut n, dim, data) = read_npy(base);
    if let Some(r) = args.get(5) {
        n = n.min(r.parse().unwrap());
    }
    let (nq, qdim, qs) = read_npy(queries);
    assert_eq!(dim, qdim);
    let nq = nq.min(200);
    let row = |i: u32| &data[i as usize * dim..(i as usize + 1) * dim];
    let bytes = |i: u32| -> &[u8] {
        let r = row(i);
        unsafe { std::slice::from_raw_parts(r.as_ptr() as *const u8, r.len() * 4) }
    };
    // HALF=1: the build measures distances over float16 copies of the rows.
    let half_rows: Vec<half::f16> = if std::env::var("HALF").is_ok() {
        data[..n * dim]
            .iter()
            .map(|&x| half::f16::from_f32(x))
            .collect()
    } else {
        Vec::new()
    };
    let half = !half_rows.is_empty();
    let half_bytes = |i: u32| -> &[u8] {
        let r = &half_rows[i as usize * dim..(i as usize + 1) * dim];
        unsafe { std::slice::from_raw_parts(r.as_ptr() as *const u8, r.len() * 2) }
    };
    let get = |i: u32| if half { half_bytes(i) } else { bytes(i) };
    let elem = if half { ElemKind::F16 } else { ElemKind::F32 };
    // COUNT=1: count the distances measured (an atomic add each: slower).
    let calls = AtomicU64::new(0);
    let counted = |a: u32, b: u32| {
        calls.fetch_add(1, Relaxed);
        pair_distance(Metric::L2, elem, get(a), get(b))
    };
    let points = BytePoints {
        metric: Metric::L2,
        elem,
        get,
    };
    let count = std::env::var("COUNT").is_ok();
    let levels: Vec<u8> = (0..n as u64)
        .map(|i| level_from_hash(i.wrapping_mul(0x9E37_79B9_7F4A_7C15), m, 16) as u8)
        .collect();
    let graph = Graph::new(
        Params {
            m,
            ef_construction: efc,
        },
        levels,
    );
    let t = Instant::now();
    let head = (n as u32).min(64);
    let mut visited = vector_core::hnsw::Visited::new();
    for i in 0..head {
        graph.insert(i, &points, &mut visited);
    }
    if count {
        graph.insert_parallel(head..n as u32, &counted);
    } else {
        graph.insert_parallel(head..n as u32, &points);
    }
    let linked = t.elapsed().as_secs_f64();
    graph.finish(&points);
    let total = t.elapsed().as_secs_f64();
    println!(
        "n={n} dim={dim} m={m} ef_construction={efc} threads={}: link {linked:.2} s, finish {:.2} s, total {total:.2} s, {:.1} distances/node",
        rayon::current_num_threads(),
        total - linked,
        calls.load(Relaxed) as f64 / n as f64
    );
    // Recall@10 against brute force.
    let truth: Vec<Vec<u32>> = (0..nq)
        .map(|q| {
            let qv = &qs[q * dim..(q + 1) * dim];
            let mut all: Vec<(f32, u32)> =
                (0..n as u32).map(|i| (l2_squared(qv, row(i)), i)).collect();
            all.select_nth_unstable_by(10, |a, b| a.0.total_cmp(&b.0));
            all[..10].iter().map(|x| x.1).collect()
        })
        .collect();
    for ef in [10, 20, 40, 64, 100] {
        let mut hit = 0;
        for (q, t) in truth.iter().enumerate() {
            let qv = &qs[q * dim..(q + 1) * dim];
            let found = graph.search(ef.max(10), &|i| l2_squared(qv, row(i)));
            hit += found.iter().take(10).filter(|s| t.contains(&s.id)).count();
        }
        println!(
            "ef_search={ef}: recall@10 {:.4}",
            hit as f64 / (10 * nq) as f64
        );
    }
}
