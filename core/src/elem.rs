//! What an index stores and how it compares: the element type of stored vectors, the metric,
//! and their codes on disk and in opclass support function 2.

use crate::distance::Metric;

/// Element type of stored vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElemKind {
    F32 = 0,
    F16 = 1,
}

impl ElemKind {
    pub fn size(self) -> usize {
        match self {
            ElemKind::F32 => 4,
            ElemKind::F16 => 2,
        }
    }

    pub fn from_u32(v: u32) -> Option<Self> {
        match v {
            0 => Some(ElemKind::F32),
            1 => Some(ElemKind::F16),
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
    }
}

pub fn metric_from_u32(v: u32) -> Option<Metric> {
    match v {
        0 => Some(Metric::L2),
        1 => Some(Metric::InnerProduct),
        2 => Some(Metric::Cosine),
        3 => Some(Metric::L1),
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
    Some((ElemKind::from_u32(code >> 4)?, metric_from_u32(code & 15)?))
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
        for elem in [ElemKind::F32, ElemKind::F16] {
            for metric in metrics {
                let code = opclass_code(elem, metric);
                assert!(seen.insert(code), "codes are distinct");
                assert_eq!(decode_opclass(code), Some((elem, metric)));
            }
        }
        for bad in [-1, 4, 15, 2 << 4, i32::MAX] {
            assert_eq!(decode_opclass(bad), None, "{bad}");
        }
    }
}
