//! Memory-read bandwidth of this machine: sum a large `f32` buffer with one
//! thread and with all rayon threads, report the median of several runs in
//! GB/s (1 GB = 10^9 bytes). Flat-scan throughput can then be quoted as a
//! fraction of what the memory system can deliver.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::hint::black_box;
use std::time::Instant;

/// Result of a bandwidth measurement.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Bandwidth {
    pub buffer_bytes: u64,
    pub runs: usize,
    pub threads: usize,
    /// Median single-thread read bandwidth, GB/s.
    pub single_thread_gbs: f64,
    /// Median all-threads read bandwidth, GB/s.
    pub all_threads_gbs: f64,
    /// Every single-thread run, GB/s.
    pub single_runs_gbs: Vec<f64>,
    /// Every all-threads run, GB/s.
    pub all_runs_gbs: Vec<f64>,
}

/// Sum a slice with 16 independent lanes (auto-vectorises).
#[inline(never)]
pub fn sum_f32(x: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let mut it = x.chunks_exact(16);
    for c in &mut it {
        for j in 0..16 {
            acc[j] += c[j];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for v in it.remainder() {
        s += v;
    }
    s
}

/// Median of a non-empty list.
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Measure with a buffer of `bytes` bytes, `runs` timed passes each (after
/// one untimed warm-up pass).
pub fn measure(bytes: u64, runs: usize) -> Bandwidth {
    let n = (bytes / 4).max(16) as usize;
    // Touch every page in parallel so first-touch faults are not measured.
    let mut buf = vec![0f32; n];
    buf.par_chunks_mut(1 << 16).enumerate().for_each(|(i, c)| {
        for (j, x) in c.iter_mut().enumerate() {
            *x = ((i + j) % 7) as f32 * 0.25;
        }
    });
    let gbs = |secs: f64| (n as f64 * 4.0) / secs / 1e9;
    let runs = runs.max(1);

    black_box(sum_f32(&buf));
    let single: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            black_box(sum_f32(black_box(&buf)));
            gbs(t.elapsed().as_secs_f64())
        })
        .collect();

    let par = |b: &[f32]| -> f32 { b.par_chunks(1 << 20).map(sum_f32).sum() };
    black_box(par(&buf));
    let all: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            black_box(par(black_box(&buf)));
            gbs(t.elapsed().as_secs_f64())
        })
        .collect();

    Bandwidth {
        buffer_bytes: n as u64 * 4,
        runs,
        threads: rayon::current_num_threads(),
        single_thread_gbs: median(&single),
        all_threads_gbs: median(&all),
        single_runs_gbs: single,
        all_runs_gbs: all,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_and_median() {
        let v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        assert_eq!(sum_f32(&v), 499500.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let b = measure(1 << 20, 2);
        assert!(b.single_thread_gbs > 0.0 && b.all_threads_gbs > 0.0);
    }
}
