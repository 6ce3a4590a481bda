//! What an index stores and how it compares: the element type of stored vectors, the metric,
//! and their codes on disk and in opclass support function 2.

use crate::distance::Metric;

/// Element type of stored vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElemKind {
    F32 = 0,
    F16 = 1,
    /// Postgres' `bit`: `dims` is the bit length, packed most significant bit first.
    Bit = 2,
    /// `sparsevec`: variable length ([`crate::sparse::encode`]); `dims` is the dimension.
    Sparse = 3,
}

impl ElemKind {
    /// Bytes of one stored vector of `dims` elements.
    pub fn bytes(self, dims: usize) -> usize {
        match self {
            ElemKind::F32 => dims * 4,
            ElemKind::F16 => dims * 2,
            ElemKind::Bit => dims.div_ceil(8),
            // The longest an index stores.
            ElemKind::Sparse => crate::sparse::stored_len(crate::sparse::HNSW_MAX_NNZ),
        }
    }

    pub fn from_u32(v: u32) -> Option<Self> {
        match v {
            0 => Some(ElemKind::F32),
            1 => Some(ElemKind::F16),
            2 => Some(ElemKind::Bit),
            3 => Some(ElemKind::Sparse),
            _ => None,
        }
    }
}

pub fn metric_to_u32(m: Metric) -> u32 {
    match m {
        Metric::L2 => 0,
        Metric::InnerProduct => 1,
        Metric::Cosine => 2,
        Metric::L1 => 3,
        Metric::Hamming => 4,
        Metric::Jaccard => 5,
    }
}

pub fn metric_from_u32(v: u32) -> Option<Metric> {
    match v {
        0 => Some(Metric::L2),
        1 => Some(Metric::InnerProduct),
        2 => Some(Metric::Cosine),
        3 => Some(Metric::L1),
        4 => Some(Metric::Hamming),
        5 => Some(Metric::Jaccard),
        _ => None,
    }
}

/// What an index opclass indexes, as its support function 2 returns it:
/// `(element type << 4) | metric`.
pub fn opclass_code(elem: ElemKind, metric: Metric) -> i32 {
    ((elem as u32) << 4 | metric_to_u32(metric)) as i32
}

/// The element type and metric of an opclass code (`None` for a code no opclass returns).
pub fn decode_opclass(code: i32) -> Option<(ElemKind, Metric)> {
    let code = u32::try_from(code).ok()?;
    let (elem, metric) = (ElemKind::from_u32(code >> 4)?, metric_from_u32(code & 15)?);
    // Bit strings only with the bit metrics, and those only with bit strings.
    (metric.is_bitwise() == (elem == ElemKind::Bit)).then_some((elem, metric))
}

/// The value the SQL operator returns for an ordering distance (L2 orders by the square).
pub fn operator_value(metric: Metric, ordering_distance: f32) -> f64 {
    match metric {
        Metric::L2 => (ordering_distance as f64).sqrt(),
        _ => ordering_distance as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opclass_codes_round_trip_and_reject_others() {
        let metrics = [Metric::L2, Metric::InnerProduct, Metric::Cosine, Metric::L1];
        let mut seen = std::collections::HashSet::new();
        let pairs = [ElemKind::F32, ElemKind::F16, ElemKind::Sparse]
            .into_iter()
            .flat_map(|e| metrics.map(|m| (e, m)))
            .chain([
                (ElemKind::Bit, Metric::Hamming),
                (ElemKind::Bit, Metric::Jaccard),
            ]);
        for (elem, metric) in pairs {
            {
                let code = opclass_code(elem, metric);
                assert!(seen.insert(code), "codes are distinct");
                assert_eq!(decode_opclass(code), Some((elem, metric)));
            }
        }
        let bit_l2 = opclass_code(ElemKind::Bit, Metric::L2);
        let f32_hamming = opclass_code(ElemKind::F32, Metric::Hamming);
        let sparse_jaccard = opclass_code(ElemKind::Sparse, Metric::Jaccard);
        for bad in [
            -1,
            6,
            15,
            4 << 4,
            i32::MAX,
            bit_l2,
            f32_hamming,
            sparse_jaccard,
        ] {
            assert_eq!(decode_opclass(bad), None, "{bad}");
        }
    }
}
