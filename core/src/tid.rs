//! Heap tuple ids as stored in index pages (Postgres' `ItemPointerData` layout).

use crate::pages::INVALID_BLOCK;

/// Bytes of a stored TID.
pub const TID_SIZE: usize = 6;

/// A heap tuple id: block number and 1-based line pointer offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tid {
    pub block: u32,
    pub offset: u16,
}

impl Tid {
    pub const INVALID: Tid = Tid {
        block: INVALID_BLOCK,
        offset: 0,
    };

    pub fn is_valid(self) -> bool {
        self.block != INVALID_BLOCK
    }

    pub fn pack(self) -> u64 {
        ((self.block as u64) << 16) | self.offset as u64
    }

    pub fn unpack(v: u64) -> Tid {
        Tid {
            block: (v >> 16) as u32,
            offset: v as u16,
        }
    }

    /// Postgres `ItemPointerData` layout: bi_hi, bi_lo, ip_posid as native u16s.
    pub fn write(self, out: &mut [u8]) {
        out[0..2].copy_from_slice(&((self.block >> 16) as u16).to_ne_bytes());
        out[2..4].copy_from_slice(&(self.block as u16).to_ne_bytes());
        out[4..6].copy_from_slice(&self.offset.to_ne_bytes());
    }

    pub fn read(b: &[u8]) -> Tid {
        let hi = u16::from_ne_bytes([b[0], b[1]]) as u32;
        let lo = u16::from_ne_bytes([b[2], b[3]]) as u32;
        Tid {
            block: (hi << 16) | lo,
            offset: u16::from_ne_bytes([b[4], b[5]]),
        }
    }
}
