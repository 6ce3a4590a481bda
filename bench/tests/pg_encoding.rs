//! COPY BINARY / vector wire encodings checked byte by byte, and SQL text
//! built from index specs (no server needed).

use vector_bench::pg::{
    copy_header, encode_row, query_sql, vector_binary, vector_text, IndexSpec, ParamFormat,
    COPY_TRAILER,
};
use vector_bench::truth::Metric;

#[test]
fn copy_header_and_trailer_bytes() {
    let h = copy_header();
    assert_eq!(
        h,
        vec![
            b'P', b'G', b'C', b'O', b'P', b'Y', b'\n', 0xff, b'\r', b'\n', 0x00, // signature
            0, 0, 0, 0, // flags
            0, 0, 0, 0, // header extension length
        ]
    );
    assert_eq!(COPY_TRAILER, [0xff, 0xff]);
}

#[test]
fn copy_row_bytes() {
    let mut out = Vec::new();
    encode_row(&mut out, 7, &[1.0, -2.0, 0.5]);
    let expected: Vec<u8> = vec![
        0x00, 0x02, // 2 fields
        0x00, 0x00, 0x00, 0x04, // id: 4 bytes
        0x00, 0x00, 0x00, 0x07, // id = 7
        0x00, 0x00, 0x00, 0x10, // embedding: 16 bytes = 2 + 2 + 3*4
        0x00, 0x03, // dim = 3
        0x00, 0x00, // unused
        0x3f, 0x80, 0x00, 0x00, // 1.0
        0xc0, 0x00, 0x00, 0x00, // -2.0
        0x3f, 0x00, 0x00, 0x00, // 0.5
    ];
    assert_eq!(out, expected);
    // Appends.
    encode_row(&mut out, 258, &[]);
    assert_eq!(
        &out[expected.len()..],
        &[0, 2, 0, 0, 0, 4, 0, 0, 1, 2, 0, 0, 0, 4, 0, 0, 0, 0]
    );
}

#[test]
fn vector_binary_and_text() {
    let mut b = Vec::new();
    vector_binary(&[3.0], &mut b);
    assert_eq!(b, vec![0, 1, 0, 0, 0x40, 0x40, 0, 0]);
    assert_eq!(vector_text(&[1.0, -2.5, 0.1]), "[1,-2.5,0.1]");
    assert_eq!(vector_text(&[]), "[]");
}

#[test]
fn index_specs() {
    let s = IndexSpec::parse("ivfflat:lists=1000").unwrap();
    assert_eq!(s.method, "ivfflat");
    assert_eq!(s.option("lists"), Some("1000"));
    assert_eq!(s.label(), "ivfflat(lists=1000)");
    assert_eq!(
        s.create_sql("items", Metric::Cosine),
        "CREATE INDEX items_ivfflat_idx ON items USING ivfflat (embedding vector_cosine_ops) WITH (lists = 1000)"
    );
    let h = IndexSpec::parse("hnsw:m=16,ef_construction=64").unwrap();
    assert_eq!(
        h.create_sql("t", Metric::L2),
        "CREATE INDEX t_hnsw_idx ON t USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64)"
    );
    let f = IndexSpec::parse("flat").unwrap();
    assert_eq!(
        f.create_sql("t", Metric::L1),
        "CREATE INDEX t_flat_idx ON t USING flat (embedding vector_l1_ops)"
    );
    assert!(f.is_exact_scan() && !f.is_seqscan());
    assert!(IndexSpec::parse("seqscan").unwrap().is_seqscan());
    for bad in [
        "",
        "Flat",
        "ivfflat:lists",
        "ivfflat:lists=1;drop",
        "hnsw:m=16,=3",
        "seqscan:x=1",
        "a b",
    ] {
        assert!(IndexSpec::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn query_text() {
    assert_eq!(
        query_sql("t", Metric::L2, 10, ParamFormat::Text),
        "SELECT id FROM t ORDER BY embedding <-> $1::text::vector LIMIT 10"
    );
    assert_eq!(
        query_sql("t", Metric::Ip, 5, ParamFormat::Binary),
        "SELECT id FROM t ORDER BY embedding <#> $1::vector LIMIT 5"
    );
    assert!(query_sql("t", Metric::Cosine, 1, ParamFormat::Text).contains("<=>"));
    assert!(query_sql("t", Metric::L1, 1, ParamFormat::Text).contains("<+>"));
}
