//! Page layouts and scans over them.

use super::*;
use crate::distance::Metric;
use crate::elem::operator_value;
use crate::elem::ElemKind;
use crate::order::Candidate;
use crate::pages::slots::{align16, TIDS_OFFSET};
use crate::scan::*;
use crate::tid::{Tid, TID_SIZE};
use half::f16;
use rand::{rngs::SmallRng, Rng, SeedableRng};

fn page() -> Vec<u8> {
    vec![0u8; PAGE_SIZE]
}

#[test]
fn layouts_fit_the_page() {
    for elem in [ElemKind::F32, ElemKind::F16] {
        for dims in [
            1, 2, 3, 127, 128, 384, 768, 1000, 1536, 2000, 2030, 2040, 3072, 4096, 16000,
        ] {
            let l = SlotLayout::new(dims, elem);
            assert!(l.used_end() <= PAGE_SIZE, "{dims} {elem:?}");
            assert_eq!(l.vectors_offset % 16, 0);
            if l.pages_per_slot == 1 {
                // Maximal: one more slot would not fit.
                let more = align16(TIDS_OFFSET + (l.per_page + 1) * TID_SIZE)
                    + (l.per_page + 1) * l.vec_bytes;
                assert!(more > PAGE_SIZE);
            } else {
                assert_eq!(l.per_page, 1);
                assert!(l.pages_per_slot * l.chunk_bytes >= l.vec_bytes);
                assert!((l.pages_per_slot - 1) * l.chunk_bytes < l.vec_bytes);
            }
        }
    }
    assert_eq!(SlotLayout::new(128, ElemKind::F32).per_page, 15);
    assert_eq!(SlotLayout::new(1536, ElemKind::F32).per_page, 1);
    assert_eq!(SlotLayout::new(3072, ElemKind::F32).pages_per_slot, 2);
    assert_eq!(SlotLayout::new(16000, ElemKind::F32).pages_per_slot, 8);
    assert_eq!(SlotLayout::new(3072, ElemKind::F16).pages_per_slot, 1);
}

#[test]
fn meta_round_trip_and_errors() {
    let mut m = Meta::new(
        AmMeta::Ivf {
            lists: 32768,
            stamp: u64::MAX,
            rabitq: true,
        },
        1536,
        ElemKind::F16,
        Metric::Cosine,
    );
    m.n_slots = 1 << 40;
    m.free_hint = 77;
    let mut p = page();
    m.write(&mut p);
    assert_eq!(Meta::read(&p), Ok(m));
    let flat = Meta::new(AmMeta::Flat, 3, ElemKind::F32, Metric::L1);
    flat.write(&mut p);
    assert_eq!(Meta::read(&p), Ok(flat));
    m.write(&mut p);
    const { assert!(Meta::END <= PAGE_SIZE) };
    let mut bad = p.clone();
    bad[PAGE_HEADER + 4] = 9;
    assert_eq!(Meta::read(&bad), Err(MetaError::Version(9)));
    bad[PAGE_HEADER] = 0;
    assert_eq!(Meta::read(&bad), Err(MetaError::BadMagic));
}

#[test]
fn tids_round_trip_and_pack() {
    for tid in [
        Tid {
            block: 0,
            offset: 1,
        },
        Tid {
            block: 0x1234_5678,
            offset: 291,
        },
        Tid::INVALID,
    ] {
        let mut b = [0u8; 6];
        tid.write(&mut b);
        assert_eq!(Tid::read(&b), tid);
        assert_eq!(Tid::unpack(tid.pack()), tid);
    }
    assert!(!Tid::INVALID.is_valid());
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

fn l2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

#[test]
fn pages_store_and_scan_vectors() {
    let mut rng = SmallRng::seed_from_u64(5);
    for dims in [3, 128, 1536, 3072, 16000] {
        let layout = SlotLayout::new(dims, ElemKind::F32);
        let n_slots = 40u64;
        let mut pages: Vec<Vec<u8>> = (0..layout.pages_for(n_slots)).map(|_| page()).collect();
        for p in &mut pages {
            layout.init_page(p);
        }
        let vectors: Vec<Vec<f32>> = (0..n_slots)
            .map(|_| (0..dims).map(|_| rng.gen_range(-1.0..1.0)).collect())
            .collect();
        for (slot, v) in vectors.iter().enumerate() {
            let (first, pos) = layout.locate(slot as u64);
            let bytes = f32_bytes(v);
            let tid = Tid {
                block: slot as u32 / 3,
                offset: (slot % 3 + 1) as u16,
            };
            if layout.pages_per_slot == 1 {
                layout.write_vector(&mut pages[first as usize], pos, &bytes);
            } else {
                for i in 0..layout.pages_per_slot {
                    layout.write_chunk(&mut pages[first as usize + i], i, &bytes);
                }
            }
            // Slot 7 is a tombstone: written, then freed.
            let tid = if slot == 7 { Tid::INVALID } else { tid };
            layout.set_tid(&mut pages[first as usize], pos, tid);
        }
        let q = Query::new(Metric::L2, vectors[3].clone());
        let refs: Vec<&[u8]> = pages.iter().map(|p| p.as_slice()).collect();
        let got = scan_pages_parallel(&layout, &q, &refs);
        assert_eq!(got.len(), n_slots as usize - 1, "dims {dims}");
        for c in &got {
            let tid = Tid::unpack(c.id);
            let slot = tid.block as usize * 3 + tid.offset as usize - 1;
            assert_ne!(slot, 7);
            let want = l2(&vectors[3], &vectors[slot]);
            assert!(
                (c.dist - want).abs() <= 1e-4 * want.max(1.0),
                "dims {dims} slot {slot}"
            );
        }
    }
}

#[test]
fn free_positions_are_found_and_reused() {
    let layout = SlotLayout::new(128, ElemKind::F32);
    let mut p = page();
    layout.init_page(&mut p);
    assert_eq!(layout.free_position(&p, 0), Some(0));
    for pos in 0..layout.per_page {
        layout.set_tid(
            &mut p,
            pos,
            Tid {
                block: 1,
                offset: pos as u16 + 1,
            },
        );
    }
    assert_eq!(layout.free_position(&p, 0), None);
    assert_eq!(layout.count(&p), layout.per_page);
    layout.set_tid(&mut p, 4, Tid::INVALID);
    assert_eq!(layout.free_position(&p, 0), Some(4));
    assert_eq!(layout.free_position(&p, 5), None);
    assert_eq!(layout.count(&p), layout.per_page);
}

#[test]
fn collector_keeps_the_nearest_and_resumes_after_a_key() {
    let mut rng = SmallRng::seed_from_u64(11);
    let layout = SlotLayout::new(4, ElemKind::F32);
    let n_slots = 3000u64;
    let mut pages: Vec<Vec<u8>> = (0..layout.pages_for(n_slots)).map(|_| page()).collect();
    for p in &mut pages {
        layout.init_page(p);
    }
    for slot in 0..n_slots {
        // Few distinct values: many exact ties.
        let v: Vec<f32> = (0..4).map(|_| rng.gen_range(0..5) as f32).collect();
        let (pi, pos) = layout.locate(slot);
        layout.write_vector(&mut pages[pi as usize], pos, &f32_bytes(&v));
        layout.set_tid(
            &mut pages[pi as usize],
            pos,
            Tid {
                block: slot as u32,
                offset: 1,
            },
        );
    }
    let refs: Vec<&[u8]> = pages.iter().map(|p| p.as_slice()).collect();
    let q = Query::new(Metric::L2, vec![1.0, 2.0, 3.0, 4.0]);
    let mut all = scan_pages_parallel(&layout, &q, &refs);
    all.sort_by(key_cmp);
    assert_eq!(all.len(), n_slots as usize);
    for cap in [1, 7, 100, 2999, 5000] {
        // Two workers over halves, capped: exactly the `cap` first keys.
        let (a, b) = refs.split_at(refs.len() / 2);
        let mut w1 = Collector::new(Some(cap), None);
        let mut w2 = Collector::new(Some(cap), None);
        w1.add_run(&layout, &q, a);
        w2.add_run(&layout, &q, b);
        let mut got = Collector::merge(vec![w1, w2]);
        got.sort_by(key_cmp);
        assert_eq!(got, all[..cap.min(all.len())], "cap {cap}");
        // Resuming after the last key yields exactly the rest.
        if cap < all.len() {
            let mut rest = Collector::new(None, Some(all[cap - 1]));
            rest.add_run(&layout, &q, &refs);
            let mut rest = Collector::merge(vec![rest]);
            rest.sort_by(key_cmp);
            assert_eq!(rest, all[cap..], "after {cap}");
        }
    }
}

#[test]
fn halfvec_pages_scan() {
    let layout = SlotLayout::new(5, ElemKind::F16);
    let mut p = page();
    layout.init_page(&mut p);
    let v = [1.0f32, 2.0, -3.0, 0.5, 4.0];
    let bytes: Vec<u8> = v
        .iter()
        .flat_map(|x| f16::from_f32(*x).to_ne_bytes())
        .collect();
    layout.write_vector(&mut p, 0, &bytes);
    layout.set_tid(
        &mut p,
        0,
        Tid {
            block: 9,
            offset: 2,
        },
    );
    let q = Query::new(Metric::InnerProduct, vec![1.0, 1.0, 1.0, 1.0, 1.0]);
    let mut c = Collector::new(None, None);
    c.add_page(&layout, &q, &p);
    let out = Collector::merge(vec![c]);
    assert_eq!(
        out,
        vec![Candidate {
            dist: -4.5,
            id: Tid {
                block: 9,
                offset: 2
            }
            .pack()
        }]
    );
    assert_eq!(operator_value(Metric::L2, 9.0), 3.0);
}

#[test]
fn bit_pages_scan_with_hamming_distances() {
    use crate::scan::pack_bits;
    let mut rng = SmallRng::seed_from_u64(3);
    for dims in [1, 7, 8, 13, 64, 1000, 70_000] {
        let layout = SlotLayout::new(dims, ElemKind::Bit);
        assert_eq!(layout.vec_bytes, dims.div_ceil(8));
        let rows: Vec<Vec<f32>> = (0..40)
            .map(|_| (0..dims).map(|_| rng.gen_range(0..2) as f32).collect())
            .collect();
        let query: Vec<f32> = (0..dims).map(|_| rng.gen_range(0..2) as f32).collect();
        let q = Query::new(Metric::Hamming, query.clone());
        // Pages as a build would write them; spanning slots for the longest strings.
        let mut pages: Vec<Vec<u8>> = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            let bytes = pack_bits(r);
            let tid = Tid {
                block: i as u32,
                offset: 1,
            };
            if layout.pages_per_slot > 1 {
                for c in 0..layout.pages_per_slot {
                    let mut p = page();
                    layout.init_page(&mut p);
                    layout.write_chunk(&mut p, c, &bytes);
                    if c == 0 {
                        layout.set_tid(&mut p, 0, tid);
                    }
                    pages.push(p);
                }
            } else {
                if i % layout.per_page == 0 {
                    let mut p = page();
                    layout.init_page(&mut p);
                    pages.push(p);
                }
                let p = pages.last_mut().unwrap();
                layout.write_vector(p, i % layout.per_page, &bytes);
                layout.set_tid(p, i % layout.per_page, tid);
            }
        }
        let refs: Vec<&[u8]> = pages.iter().map(|p| &p[..]).collect();
        let mut c = Collector::new(None, None);
        c.add_run(&layout, &q, &refs);
        let mut got = Collector::merge(vec![c]);
        got.sort_by_key(|c| c.id);
        assert_eq!(got.len(), rows.len());
        for (cand, r) in got.iter().zip(&rows) {
            let want = r.iter().zip(&query).filter(|(a, b)| a != b).count();
            assert_eq!(cand.dist, want as f32, "dims {dims}");
        }
    }
}
