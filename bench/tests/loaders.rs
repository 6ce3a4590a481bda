//! Loader tests: files are written byte by byte here, independently of the
//! crate's writers, then read back; malformed files must give errors.

use std::path::PathBuf;
use vector_bench::loaders::{load_any, parse_npy, read_fvecs, read_ivecs};

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

// f32 little-endian encodings written out by hand.
const ONE: [u8; 4] = [0x00, 0x00, 0x80, 0x3f]; // 1.0
const TWO: [u8; 4] = [0x00, 0x00, 0x00, 0x40]; // 2.0
const NEG_HALF: [u8; 4] = [0x00, 0x00, 0x00, 0xbf]; // -0.5
const THREE: [u8; 4] = [0x00, 0x00, 0x40, 0x40]; // 3.0
const DIM3: [u8; 4] = [0x03, 0x00, 0x00, 0x00];

fn fvecs_two_rows() -> Vec<u8> {
    [DIM3, ONE, TWO, NEG_HALF, DIM3, THREE, ONE, TWO].concat()
}

#[test]
fn fvecs_roundtrip() {
    let d = tempfile::tempdir().unwrap();
    let p = write(&d, "a.fvecs", &fvecs_two_rows());
    let m = read_fvecs(&p, None).unwrap();
    assert_eq!((m.rows, m.dim), (2, 3));
    assert_eq!(m.data, vec![1.0, 2.0, -0.5, 3.0, 1.0, 2.0]);
    let m = load_any(&p, Some(1)).unwrap();
    assert_eq!((m.rows, m.dim), (1, 3));
    assert_eq!(m.data, vec![1.0, 2.0, -0.5]);
}

#[test]
fn ivecs_roundtrip() {
    let d = tempfile::tempdir().unwrap();
    let bytes = [
        [0x02, 0, 0, 0],
        [0x05, 0, 0, 0],
        [0x00, 0x01, 0, 0], // 256
        [0x02, 0, 0, 0],
        [0xff, 0xff, 0xff, 0xff], // -1
        [0x07, 0, 0, 0],
    ]
    .concat();
    let p = write(&d, "gt.ivecs", &bytes);
    let m = read_ivecs(&p, None).unwrap();
    assert_eq!((m.rows, m.dim), (2, 2));
    assert_eq!(m.data, vec![5, 256, -1, 7]);
}

#[test]
fn bvecs_roundtrip() {
    let d = tempfile::tempdir().unwrap();
    let p = write(&d, "b.bvecs", &[2, 0, 0, 0, 10, 255, 2, 0, 0, 0, 0, 1]);
    let m = load_any(&p, None).unwrap();
    assert_eq!(m.data, vec![10.0, 255.0, 0.0, 1.0]);
}

#[test]
fn fvecs_malformed() {
    let d = tempfile::tempdir().unwrap();
    let good = fvecs_two_rows();
    // Truncated in the middle of a vector.
    let p = write(&d, "t1.fvecs", &good[..good.len() - 2]);
    assert!(read_fvecs(&p, None).is_err());
    // Truncated inside the dimension header.
    let mut b = good.clone();
    b.extend_from_slice(&[3, 0]);
    let p = write(&d, "t2.fvecs", &b);
    assert!(read_fvecs(&p, None).is_err());
    // Dimension changes between vectors.
    let b = [DIM3, ONE, TWO, NEG_HALF, [2, 0, 0, 0], ONE, TWO].concat();
    let p = write(&d, "t3.fvecs", &b);
    assert!(read_fvecs(&p, None)
        .unwrap_err()
        .to_string()
        .contains("dimension"));
    // Negative / zero / absurd dimension.
    for dim in [
        [0xff, 0xff, 0xff, 0xff],
        [0, 0, 0, 0],
        [0xff, 0xff, 0xff, 0x7f],
    ] {
        let p = write(&d, "t4.fvecs", &[dim, ONE].concat());
        assert!(read_fvecs(&p, None).is_err());
    }
    // Empty file.
    let p = write(&d, "t5.fvecs", &[]);
    assert!(read_fvecs(&p, None).is_err());
    // Missing file.
    assert!(read_fvecs(&d.path().join("nope.fvecs"), None).is_err());
    // NaN values are rejected by load_any.
    let p = write(
        &d,
        "t6.fvecs",
        &[[1, 0, 0, 0], [0x00, 0x00, 0xc0, 0x7f]].concat(),
    );
    assert!(load_any(&p, None).is_err());
}

/// Hand-built .npy: magic, version, header length, header dict padded with
/// spaces and a newline so that the data starts at a multiple of 64.
fn npy(major: u8, descr: &str, fortran: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let dict = format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}");
    let prefix = if major == 1 { 10 } else { 12 };
    let mut header = dict.into_bytes();
    while (prefix + header.len() + 1) % 64 != 0 {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.push(major);
    out.push(0);
    if major == 1 {
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(&header);
    assert_eq!(out.len() % 64, 0);
    out.extend_from_slice(data);
    out
}

#[test]
fn npy_v1_v2_roundtrip() {
    let d = tempfile::tempdir().unwrap();
    let data = [ONE, TWO, NEG_HALF, THREE, ONE, TWO].concat();
    for major in [1u8, 2] {
        let p = write(
            &d,
            &format!("v{major}.npy"),
            &npy(major, "<f4", "False", "(2, 3)", &data),
        );
        let m = load_any(&p, None).unwrap();
        assert_eq!((m.rows, m.dim), (2, 3), "version {major}");
        assert_eq!(m.data, vec![1.0, 2.0, -0.5, 3.0, 1.0, 2.0]);
    }
    // float64 is converted.
    let d64 = [1.5f64.to_le_bytes(), (-2.0f64).to_le_bytes()].concat();
    let m = parse_npy(&npy(1, "<f8", "False", "(1, 2)", &d64), None).unwrap();
    assert_eq!(m.data, vec![1.5, -2.0]);
    // limit
    let m = parse_npy(&npy(1, "<f4", "False", "(2, 3)", &data), Some(1)).unwrap();
    assert_eq!(m.rows, 1);
}

#[test]
fn npy_malformed() {
    let data = [ONE, TWO, NEG_HALF, THREE, ONE, TWO].concat();
    assert!(parse_npy(b"not numpy at all", None).is_err());
    assert!(parse_npy(b"\x93NUMPY", None).is_err());
    assert!(parse_npy(&npy(1, "<f4", "True", "(2, 3)", &data), None).is_err());
    assert!(parse_npy(&npy(1, "<i4", "False", "(2, 3)", &data), None).is_err());
    assert!(parse_npy(&npy(1, ">f4", "False", "(2, 3)", &data), None).is_err());
    assert!(parse_npy(&npy(1, "<f4", "False", "(2, 3, 1)", &data), None).is_err());
    assert!(parse_npy(&npy(1, "<f4", "False", "(3, 3)", &data), None).is_err()); // truncated data
    assert!(parse_npy(&npy(9, "<f4", "False", "(2, 3)", &data), None).is_err());
    let mut b = npy(1, "<f4", "False", "(2, 3)", &data);
    b[8] = 0xff;
    b[9] = 0x7f; // header length beyond the file
    assert!(parse_npy(&b, None).is_err());
}

#[test]
fn csv_and_json() {
    let d = tempfile::tempdir().unwrap();
    let p = write(&d, "a.csv", b"# comment\n1, 2,-0.5\n\n[3,1,2]\n");
    let m = load_any(&p, None).unwrap();
    assert_eq!((m.rows, m.dim), (2, 3));
    assert_eq!(m.data, vec![1.0, 2.0, -0.5, 3.0, 1.0, 2.0]);
    let p = write(&d, "a.json", b"[[1, 2, -0.5], [3.0, 1, 2e0]]");
    let m = load_any(&p, None).unwrap();
    assert_eq!((m.rows, m.dim), (2, 3));
    assert_eq!(m.data, vec![1.0, 2.0, -0.5, 3.0, 1.0, 2.0]);
}

#[test]
fn csv_json_malformed() {
    let d = tempfile::tempdir().unwrap();
    for (name, body) in [
        ("b1.csv", &b"1,2,3\n1,2\n"[..]),
        ("b2.csv", b"1,x,3\n"),
        ("b3.csv", b"1,,3\n"),
        ("b4.csv", b""),
        ("b5.csv", b"\xff\xfe\n"),
        ("b1.json", b"[[1,2],[3]]"),
        ("b2.json", b"{\"a\": 1}"),
        ("b3.json", b"[[1,\"x\"]]"),
        ("b4.json", b"[]"),
        ("b5.json", b"[[]]"),
        ("b6.json", b"[[1,2]"),
        ("x.unknown", b"1,2"),
    ] {
        let p = write(&d, name, body);
        assert!(load_any(&p, None).is_err(), "{name} should fail");
    }
}
