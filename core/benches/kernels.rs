//! Throughput of the distance kernels, printed as tables (`cargo bench -p vector_core`).
//!
//! - Memory read bandwidth of this machine, as a yardstick: a plain SIMD sum over a 1 GiB `f32`
//!   buffer on one thread and on all threads.
//! - Pair kernels: one pair of vectors (L1-resident) per call, GB/s counting the bytes of both
//!   inputs (one input for `norm_squared`), for every implementation level this CPU has, called
//!   directly, and through the public dispatching function.
//! - Batch: `batch_f32` / `batch_f16` over a buffer larger than L3 (256 MiB) and one that fits in
//!   L2 (512 KiB), GB/s counting the data bytes scanned.
//!
//! - Pages: a `flat` index scan's inner loop (`Collector::add_run` over 8 KiB data pages, runs
//!   of 32) over 256 MiB of pages, in block order and with the pages shuffled as shared buffers
//!   scatter them, on one thread; GB/s counting the vector bytes.
//!
//! Each figure is the median of several timed runs; a run repeats the call until at least
//! `RUN_TIME` has passed. GB = 10⁹ bytes. No criterion: this is a `harness = false` binary.

use std::hint::black_box;
use std::time::{Duration, Instant};

use half::f16;
use vector_core::distance::{self, scalar, Metric};

const RUN_TIME: Duration = Duration::from_millis(20);
const RUNS: usize = 7;
const DIMS: [usize; 4] = [128, 384, 768, 1536];
const GIB: usize = 1 << 30;
const MIB: usize = 1 << 20;

/// Median GB/s of `runs` runs of `f`, which reads `bytes` per call. Also returns ns per call.
/// Calls are timed in blocks (sized so a block takes about 1 ms) so that reading the clock
/// does not count against fast kernels.
fn measure(bytes: usize, runs: usize, mut f: impl FnMut()) -> (f64, f64) {
    f(); // warm up (page faults, caches, dispatch)
    let mut block = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..block {
            f();
        }
        if start.elapsed() >= Duration::from_millis(1) || block >= 1 << 30 {
            break;
        }
        block *= 2;
    }
    let mut rates = Vec::with_capacity(runs);
    let mut ns = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let mut calls = 0u64;
        while start.elapsed() < RUN_TIME {
            for _ in 0..block {
                f();
            }
            calls += block;
        }
        let secs = start.elapsed().as_secs_f64();
        rates.push(bytes as f64 * calls as f64 / secs / 1e9);
        ns.push(secs * 1e9 / calls as f64);
    }
    (median(rates), median(ns))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Deterministic pseudo-random values in [-1, 1) (xorshift), so buffers are really written.
fn fill(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn to_f16(v: &[f32]) -> Vec<f16> {
    v.iter().map(|&x| f16::from_f32(x)).collect()
}

// ---------------------------------------------------------------------------------------------
// Memory bandwidth
// ---------------------------------------------------------------------------------------------

/// A plain sum with 16 independent lanes (vectorised by the compiler at the baseline ISA).
fn simple_sum(v: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let chunks = v.chunks_exact(16);
    let rest: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + rest
}

fn memory_bandwidth() {
    let buf = fill(GIB / 4, 1);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (one, _) = measure(GIB, 5, || {
        black_box(simple_sum(black_box(&buf)));
    });
    let (all, _) = measure(GIB, 5, || {
        std::thread::scope(|s| {
            let per = buf.len().div_ceil(threads);
            for part in buf.chunks(per) {
                s.spawn(move || black_box(simple_sum(black_box(part))));
            }
        });
    });
    println!("## Memory read bandwidth (plain SIMD sum over a 1 GiB f32 buffer)\n");
    println!("| threads | GB/s |\n|---:|---:|");
    println!("| 1 | {one:.1} |");
    println!("| {threads} (all) | {all:.1} |\n");
}

// ---------------------------------------------------------------------------------------------
// Implementation levels
// ---------------------------------------------------------------------------------------------

type Pair<T> = unsafe fn(&[T], &[T]) -> f32;
type Cos<T> = unsafe fn(&[T], &[T]) -> (f32, f32, f32);
type Norm<T> = unsafe fn(&[T]) -> f32;
type Batch<T> = unsafe fn(Metric, &[f32], f32, &[T], &mut [f32]);

/// One implementation level's kernels for element type `T`.
struct Level<T: 'static> {
    name: &'static str,
    l2_squared: Pair<T>,
    dot: Pair<T>,
    l1: Pair<T>,
    cosine_parts: Cos<T>,
    norm_squared: Norm<T>,
    batch: Batch<T>,
}

fn f32_levels() -> Vec<Level<f32>> {
    #[allow(unused_mut)]
    let mut v = vec![Level {
        name: "scalar",
        l2_squared: scalar::l2_squared,
        dot: scalar::dot,
        l1: scalar::l1,
        cosine_parts: scalar::cosine_parts,
        norm_squared: scalar::norm_squared,
        batch: scalar_batch_f32,
    }];
    #[cfg(target_arch = "x86_64")]
    {
        use distance::x86::{self, avx2, avx512};
        if x86::has_avx2_fma() {
            v.push(Level {
                name: "avx2+fma",
                l2_squared: avx2::l2_squared,
                dot: avx2::dot,
                l1: avx2::l1,
                cosine_parts: avx2::cosine_parts,
                norm_squared: avx2::norm_squared,
                batch: avx2::batch_f32,
            });
        }
        if x86::has_avx512f() {
            v.push(Level {
                name: "avx512f",
                l2_squared: avx512::l2_squared,
                dot: avx512::dot,
                l1: avx512::l1,
                cosine_parts: avx512::cosine_parts,
                norm_squared: avx512::norm_squared,
                batch: avx512::batch_f32,
            });
        }
    }
    v.push(Level {
        name: "dispatch",
        l2_squared: distance::l2_squared,
        dot: distance::dot,
        l1: distance::l1,
        cosine_parts: distance::cosine_parts,
        norm_squared: distance::norm_squared,
        batch: distance::batch_f32,
    });
    v
}

fn f16_levels() -> Vec<Level<f16>> {
    #[allow(unused_mut)]
    let mut v = vec![Level {
        name: "scalar",
        l2_squared: scalar::l2_squared_f16,
        dot: scalar::dot_f16,
        l1: scalar::l1_f16,
        cosine_parts: scalar::cosine_parts_f16,
        norm_squared: scalar::norm_squared_f16,
        batch: scalar_batch_f16,
    }];
    #[cfg(target_arch = "x86_64")]
    {
        use distance::x86::{self, avx2, avx512};
        if x86::has_avx2_fma_f16c() {
            v.push(Level {
                name: "avx2+fma+f16c",
                l2_squared: avx2::l2_squared_f16,
                dot: avx2::dot_f16,
                l1: avx2::l1_f16,
                cosine_parts: avx2::cosine_parts_f16,
                norm_squared: avx2::norm_squared_f16,
                batch: avx2::batch_f16,
            });
        }
        if x86::has_avx512f_f16c() {
            v.push(Level {
                name: "avx512f+f16c",
                l2_squared: avx512::l2_squared_f16,
                dot: avx512::dot_f16,
                l1: avx512::l1_f16,
                cosine_parts: avx512::cosine_parts_f16,
                norm_squared: avx512::norm_squared_f16,
                batch: avx512::batch_f16,
            });
        }
    }
    v.push(Level {
        name: "dispatch",
        l2_squared: distance::l2_squared_f16,
        dot: distance::dot_f16,
        l1: distance::l1_f16,
        cosine_parts: distance::cosine_parts_f16,
        norm_squared: distance::norm_squared_f16,
        batch: distance::batch_f16,
    });
    v
}

/// The scalar batch, written here from the public scalar kernels (the library's own scalar
/// batch table is private).
fn scalar_batch_f32(metric: Metric, q: &[f32], qn: f32, data: &[f32], out: &mut [f32]) {
    for (o, v) in out.iter_mut().zip(data.chunks_exact(q.len())) {
        *o = match metric {
            Metric::L2 => scalar::l2_squared(q, v),
            Metric::InnerProduct => -scalar::dot(q, v),
            Metric::L1 => scalar::l1(q, v),
            Metric::Cosine => {
                let (d, _, n) = scalar::cosine_parts(q, v);
                distance::cosine_distance_from_parts(d, qn, n)
            }
            Metric::Hamming | Metric::Jaccard => unreachable!("bit metrics have no float batch"),
        };
    }
}

fn scalar_batch_f16(metric: Metric, q: &[f32], qn: f32, data: &[f16], out: &mut [f32]) {
    let mut v32 = vec![0.0f32; q.len()];
    for (o, v) in out.iter_mut().zip(data.chunks_exact(q.len())) {
        for (x, &h) in v32.iter_mut().zip(v) {
            *x = h.to_f32();
        }
        *o = match metric {
            Metric::L2 => scalar::l2_squared(q, &v32),
            Metric::InnerProduct => -scalar::dot(q, &v32),
            Metric::L1 => scalar::l1(q, &v32),
            Metric::Cosine => {
                let (d, _, n) = scalar::cosine_parts(q, &v32);
                distance::cosine_distance_from_parts(d, qn, n)
            }
            Metric::Hamming | Metric::Jaccard => unreachable!("bit metrics have no float batch"),
        };
    }
}

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

fn header(first: &str, levels: &[&str], extra: &str) {
    print!("| {first} |");
    for l in levels {
        print!(" {l} |");
    }
    println!(" {extra} |");
    print!("|{}", "---|".repeat(first.matches('|').count() + 1));
    println!("{}", "---:|".repeat(levels.len() + 1));
}

fn pair_table<T: Copy + 'static>(ty: &str, levels: &[Level<T>], make: impl Fn(&[f32]) -> Vec<T>) {
    let names: Vec<&str> = levels.iter().map(|l| l.name).collect();
    println!(
        "## Pair kernels, {ty}: GB/s of input read (both vectors; one for norm), L1-resident\n"
    );
    header("kernel | dims", &names, "ns/call (dispatch)");
    let size = std::mem::size_of::<T>();
    for kernel in ["l2_squared", "dot", "l1", "cosine_parts", "norm_squared"] {
        for d in DIMS {
            let (a, b) = (make(&fill(d, 2)), make(&fill(d, 3)));
            let inputs = if kernel == "norm_squared" { 1 } else { 2 };
            print!("| {kernel} | {d} |");
            let mut last_ns = 0.0;
            for l in levels {
                let (a, b) = (&a[..], &b[..]);
                let bytes = inputs * d * size;
                // One closure per kernel, so nothing but the call is inside the timed loop.
                let (gbs, ns) = unsafe {
                    match kernel {
                        "l2_squared" => measure(bytes, RUNS, || {
                            black_box((l.l2_squared)(black_box(a), black_box(b)));
                        }),
                        "dot" => measure(bytes, RUNS, || {
                            black_box((l.dot)(black_box(a), black_box(b)));
                        }),
                        "l1" => measure(bytes, RUNS, || {
                            black_box((l.l1)(black_box(a), black_box(b)));
                        }),
                        "cosine_parts" => measure(bytes, RUNS, || {
                            black_box((l.cosine_parts)(black_box(a), black_box(b)));
                        }),
                        _ => measure(bytes, RUNS, || {
                            black_box((l.norm_squared)(black_box(a)));
                        }),
                    }
                };
                print!(" {gbs:.1} |");
                last_ns = ns;
            }
            println!(" {last_ns:.1} |");
        }
    }
    println!();
}

fn batch_table<T: Copy + 'static>(ty: &str, levels: &[Level<T>], make: impl Fn(&[f32]) -> Vec<T>) {
    let names: Vec<&str> = levels.iter().map(|l| l.name).collect();
    println!("## Batch, {ty} data: GB/s of data scanned\n");
    header("buffer | dims | metric", &names, "ns/vector (dispatch)");
    let size = std::mem::size_of::<T>();
    let big = make(&fill(256 * MIB / size, 4));
    for (label, bytes, runs) in [
        ("256 MiB (> L3)", 256 * MIB, 5),
        ("512 KiB (in L2)", 512 * KIB, RUNS),
    ] {
        for d in [128, 768] {
            let count = bytes / size / d;
            let data = &big[..count * d];
            let query = fill(d, 5);
            let qn = distance::norm_squared(&query);
            let mut out = vec![0.0f32; count];
            for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine, Metric::L1] {
                print!("| {label} | {d} | {metric:?} |");
                let mut last_ns = 0.0;
                for l in levels {
                    let (gbs, ns) = measure(count * d * size, runs, || unsafe {
                        (l.batch)(metric, black_box(&query), qn, black_box(data), &mut out);
                        black_box(&mut out);
                    });
                    print!(" {gbs:.1} |");
                    last_ns = ns / count as f64;
                }
                println!(" {last_ns:.2} |");
            }
        }
    }
    println!();
}

const KIB: usize = 1 << 10;

/// A zeroed buffer on 2 MiB pages from the hugetlb pool (`vm.nr_hugepages`) when it has room,
/// as shared buffers are with `huge_pages = on`; otherwise on ordinary pages, where shuffled
/// pages also pay TLB misses.
struct HugeBuf {
    ptr: *mut u8,
    len: usize,
    huge: bool,
}

impl HugeBuf {
    fn new(len: usize) -> HugeBuf {
        let (prot, flags) = (
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        );
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                flags | libc::MAP_HUGETLB,
                -1,
                0,
            );
            if p != libc::MAP_FAILED {
                return HugeBuf {
                    ptr: p as *mut u8,
                    len,
                    huge: true,
                };
            }
            let p = libc::mmap(std::ptr::null_mut(), len, prot, flags, -1, 0);
            assert!(p != libc::MAP_FAILED);
            HugeBuf {
                ptr: p as *mut u8,
                len,
                huge: false,
            }
        }
    }
}

impl std::ops::Deref for HugeBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl std::ops::DerefMut for HugeBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for HugeBuf {
    fn drop(&mut self) {
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
    }
}

fn page_table() {
    use vector_core::elem::ElemKind;
    use vector_core::pages::{SlotLayout, PAGE_SIZE};
    use vector_core::scan::{Collector, Query};
    use vector_core::tid::Tid;
    println!("## Pages: flat's scan loop over 256 MiB of 8 KiB pages, 1 thread, GB/s of vectors\n");
    println!("| dims | page order | memory pages | L2 GB/s | vectors/page |");
    println!("|---|---|---|---|---|");
    for dims in [128, 768, 1536] {
        let layout = SlotLayout::new(dims, ElemKind::F32);
        let n_pages = 256 * MIB / PAGE_SIZE;
        let mut buf = HugeBuf::new(n_pages * PAGE_SIZE);
        let values = fill(dims * layout.per_page, 7);
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        for (i, page) in buf.chunks_exact_mut(PAGE_SIZE).enumerate() {
            layout.init_page(page);
            for pos in 0..layout.per_page {
                layout.write_vector(page, pos, &bytes[pos * dims * 4..(pos + 1) * dims * 4]);
                layout.set_tid(
                    page,
                    pos,
                    Tid {
                        block: i as u32 + 1,
                        offset: pos as u16 + 1,
                    },
                );
            }
        }
        let query = Query::new(Metric::L2, fill(dims, 8));
        let pages: Vec<&[u8]> = buf.chunks_exact(PAGE_SIZE).collect();
        let mut shuffled = pages.clone();
        let mut x = 0x9e3779b97f4a7c15u64;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let vec_bytes = n_pages * layout.per_page * dims * 4;
        for (order, list) in [("block order", &pages), ("shuffled", &shuffled)] {
            let (gbs, _) = measure(vec_bytes, 5, || {
                let mut c = Collector::new(Some(10), None);
                for run in list.chunks(32) {
                    c.add_run(&layout, &query, run);
                }
                black_box(Collector::merge(vec![c]));
            });
            let kind = if buf.huge { "2 MiB" } else { "4 KiB" };
            println!(
                "| {dims} | {order} | {kind} | {gbs:.1} | {} |",
                layout.per_page
            );
        }
    }
    println!();
}

fn main() {
    println!(
        "# vector_core distance kernels — dispatch chose `{}` (f32), `{}` (f16); {} threads\n",
        distance::implementation(),
        distance::implementation_f16(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if std::env::var("KERNELS").as_deref() == Ok("pages") {
        return page_table(); // KERNELS=pages: just the page-scan table
    }
    memory_bandwidth();
    pair_table("f32", &f32_levels(), |v| v.to_vec());
    pair_table("f16", &f16_levels(), to_f16);
    batch_table("f32", &f32_levels(), |v| v.to_vec());
    batch_table("f16", &f16_levels(), to_f16);
    page_table();
}
