//! The meta page (block 0 of every index).
//!
//! ```text
//!  0        24      28        32     36     40     44      48       56          64    72
//!  +--------+-------+---------+------+------+------+-------+--------+-----------+-----+-----+
//!  | PageHdr| magic | version | kind | dims | elem | metric| n_slots| free_hint | AM section |
//!  | 24 B   | u32   | u32     | u32  | u32  | u32  | u32   | u64    | u64       | 4 × u64    |
//!  +--------+-------+---------+------+------+------+-------+--------+-----------+------------+
//! ```
//! `kind` selects the AM section: none for `flat` (0); for IVF (1) `lists` (u64) then `stamp`
//! (u64, a fresh nonzero value per build, so backends can tell one build's centroids from
//! another's), then the quantization (u64: 0 vectors, 1 RaBitQ codes); for hnsw (2) `m | ef_construction << 16`, the entry node, its level (above that
//! byte: a variable layout's vector pages per segment), its spill segment plus one (0: none).
//! For hnsw `n_slots` is the number of node numbers handed out.
//! `n_slots` is the high-water mark of allocated slots (`flat`), `free_hint` the lowest slot
//! (hnsw: node number) that may be free (everything below it is known to be in use).

use super::{get_u32, get_u64, put_u32, put_u64, PAGE_HEADER};
use crate::distance::Metric;
use crate::elem::{metric_from_u32, metric_to_u32, ElemKind};

pub const META_MAGIC: u32 = 0x5658_4D54; // "VXMT"
pub const FORMAT_VERSION: u32 = 1;

/// The access-method-specific part of the meta page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AmMeta {
    Flat,
    /// `stamp` 0: no fixed part written yet (built over no rows without a known dimension).
    Ivf {
        lists: u32,
        stamp: u64,
        /// Lists hold RaBitQ codes ([`crate::rabitq::code`]) instead of vectors.
        rabitq: bool,
    },
    /// `entry`: the node searches start from (`NONE` while the graph is empty), on level
    /// `entry_level`, the top one.
    Hnsw {
        m: u16,
        ef_construction: u16,
        entry: u32,
        entry_level: u8,
        /// Vector pages per segment of a variable layout (0: the layout's default).
        vec_pages: u16,
        /// The spill segment of a variable layout, plus one (0: none yet).
        spill: u32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    pub am: AmMeta,
    /// 0 until the first vector arrives when the column has no typmod.
    pub dims: u32,
    pub elem: ElemKind,
    pub metric: Metric,
    pub n_slots: u64,
    pub free_hint: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaError {
    BadMagic,
    Version(u32),
    Corrupt,
}

const SECTION: usize = PAGE_HEADER + 48;

impl Meta {
    /// Bytes used on the meta page (its `pd_lower`).
    pub const END: usize = PAGE_HEADER + 48 + 32;

    /// The meta page of an index with nothing stored yet.
    pub fn new(am: AmMeta, dims: u32, elem: ElemKind, metric: Metric) -> Meta {
        Meta {
            am,
            dims,
            elem,
            metric,
            n_slots: 0,
            free_hint: 0,
        }
    }

    /// IVF: the number of lists and the build stamp (panics for another kind).
    pub fn ivf(&self) -> (usize, u64) {
        match self.am {
            AmMeta::Ivf { lists, stamp, .. } => (lists as usize, stamp),
            _ => panic!("not an IVF meta page"),
        }
    }

    pub fn write(&self, page: &mut [u8]) {
        let h = PAGE_HEADER;
        put_u32(page, h, META_MAGIC);
        put_u32(page, h + 4, FORMAT_VERSION);
        let (kind, section) = match self.am {
            AmMeta::Flat => (0, [0; 4]),
            AmMeta::Ivf {
                lists,
                stamp,
                rabitq,
            } => (1, [lists as u64, stamp, rabitq as u64, 0]),
            AmMeta::Hnsw {
                m,
                ef_construction,
                entry,
                entry_level,
                vec_pages,
                spill,
            } => (
                2,
                [
                    m as u64 | (ef_construction as u64) << 16,
                    entry as u64,
                    entry_level as u64 | (vec_pages as u64) << 8,
                    spill as u64,
                ],
            ),
        };
        put_u32(page, h + 8, kind);
        put_u32(page, h + 12, self.dims);
        put_u32(page, h + 16, self.elem as u32);
        put_u32(page, h + 20, metric_to_u32(self.metric));
        put_u64(page, h + 24, self.n_slots);
        put_u64(page, h + 32, self.free_hint);
        for (i, w) in section.iter().enumerate() {
            put_u64(page, SECTION + 8 * i, *w);
        }
    }

    pub fn read(page: &[u8]) -> Result<Meta, MetaError> {
        let h = PAGE_HEADER;
        if get_u32(page, h) != META_MAGIC {
            return Err(MetaError::BadMagic);
        }
        let version = get_u32(page, h + 4);
        if version != FORMAT_VERSION {
            return Err(MetaError::Version(version));
        }
        let am = match get_u32(page, h + 8) {
            0 => AmMeta::Flat,
            1 => AmMeta::Ivf {
                lists: u32::try_from(get_u64(page, SECTION)).map_err(|_| MetaError::Corrupt)?,
                stamp: get_u64(page, SECTION + 8),
                rabitq: match get_u64(page, SECTION + 16) {
                    0 => false,
                    1 => true,
                    _ => return Err(MetaError::Corrupt),
                },
            },
            2 => {
                let p = get_u64(page, SECTION);
                AmMeta::Hnsw {
                    m: p as u16,
                    ef_construction: (p >> 16) as u16,
                    entry: get_u64(page, SECTION + 8) as u32,
                    entry_level: get_u64(page, SECTION + 16) as u8,
                    vec_pages: (get_u64(page, SECTION + 16) >> 8) as u16,
                    spill: get_u64(page, SECTION + 24) as u32,
                }
            }
            _ => return Err(MetaError::Corrupt),
        };
        Ok(Meta {
            am,
            dims: get_u32(page, h + 12),
            elem: ElemKind::from_u32(get_u32(page, h + 16)).ok_or(MetaError::Corrupt)?,
            metric: metric_from_u32(get_u32(page, h + 20)).ok_or(MetaError::Corrupt)?,
            n_slots: get_u64(page, h + 24),
            free_hint: get_u64(page, h + 32),
        })
    }
}
