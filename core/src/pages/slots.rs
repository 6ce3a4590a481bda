//! Slot pages: vectors packed back to back with their heap TIDs (a `flat` index's data pages
//! and every IVF list's pages). The layout is drawn in [`crate::pages`].

use super::{get_u32, put_u32, INVALID_BLOCK, PAGE_HEADER, PAGE_SIZE};
use crate::elem::ElemKind;
use crate::tid::{Tid, TID_SIZE};

pub const DATA_MAGIC: u32 = 0x5658_4454; // "VXDT"

const DATA_HEADER: usize = 16;
pub(crate) const TIDS_OFFSET: usize = PAGE_HEADER + DATA_HEADER;

/// Where slots live on data pages for one vector size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotLayout {
    pub dims: usize,
    pub elem: ElemKind,
    /// Slots per page (1 when a slot spans pages).
    pub per_page: usize,
    /// Pages per slot (1 unless one vector is larger than a page).
    pub pages_per_slot: usize,
    pub vec_bytes: usize,
    pub vectors_offset: usize,
    /// Vector bytes held by one page of a multi-page slot.
    pub chunk_bytes: usize,
    /// Rows of varying length (`sparsevec`) on packed pages ([`super::packed`]) instead of
    /// slots: a "slot" is then a whole page, and `n_slots` counts pages.
    pub packed: bool,
}

pub(crate) fn align16(x: usize) -> usize {
    (x + 15) & !15
}

impl SlotLayout {
    pub fn new(dims: usize, elem: ElemKind) -> SlotLayout {
        assert!(dims > 0, "a layout needs at least one dimension");
        if elem == ElemKind::Sparse {
            return SlotLayout {
                dims,
                elem,
                per_page: 1,
                pages_per_slot: 1,
                vec_bytes: super::packed::MAX_ROW,
                vectors_offset: super::packed::ENTRIES_OFFSET,
                chunk_bytes: super::packed::MAX_ROW,
                packed: true,
            };
        }
        let vec_bytes = elem.bytes(dims);
        let fits = |n: usize| align16(TIDS_OFFSET + n * TID_SIZE) + n * vec_bytes <= PAGE_SIZE;
        let mut per_page = (PAGE_SIZE - TIDS_OFFSET) / (TID_SIZE + vec_bytes);
        while per_page > 0 && !fits(per_page) {
            per_page -= 1;
        }
        if per_page >= 1 {
            let vectors_offset = align16(TIDS_OFFSET + per_page * TID_SIZE);
            SlotLayout {
                dims,
                elem,
                per_page,
                pages_per_slot: 1,
                vec_bytes,
                vectors_offset,
                chunk_bytes: vec_bytes,
                packed: false,
            }
        } else {
            let vectors_offset = align16(TIDS_OFFSET + TID_SIZE);
            let chunk_bytes = (PAGE_SIZE - vectors_offset) & !15;
            SlotLayout {
                dims,
                elem,
                per_page: 1,
                pages_per_slot: vec_bytes.div_ceil(chunk_bytes),
                vec_bytes,
                vectors_offset,
                chunk_bytes,
                packed: false,
            }
        }
    }

    /// Slots of `code_bytes`-byte RaBitQ codes ([`crate::rabitq::code`]): laid out as bit
    /// strings of that many bytes (scored through the query's codes, never as bits).
    pub fn for_codes(code_bytes: usize) -> SlotLayout {
        SlotLayout::new(code_bytes * 8, ElemKind::Bit)
    }

    /// End of the bytes a data page uses (its `pd_lower`).
    pub fn used_end(&self) -> usize {
        if self.packed {
            PAGE_SIZE // at most; each page says how far it reaches
        } else if self.pages_per_slot == 1 {
            self.vectors_offset + self.per_page * self.vec_bytes
        } else {
            self.vectors_offset + self.chunk_bytes
        }
    }

    /// (index of the slot's first data page counted from the first data page, position).
    pub fn locate(&self, slot: u64) -> (u64, usize) {
        if self.pages_per_slot == 1 {
            (
                slot / self.per_page as u64,
                (slot % self.per_page as u64) as usize,
            )
        } else {
            (slot * self.pages_per_slot as u64, 0)
        }
    }

    /// Data pages needed for `n_slots` slots.
    pub fn pages_for(&self, n_slots: u64) -> u64 {
        if self.pages_per_slot == 1 {
            n_slots.div_ceil(self.per_page as u64)
        } else {
            n_slots * self.pages_per_slot as u64
        }
    }

    /// Format a fresh data page (after the page header): no slots used, every TID free.
    pub fn init_page(&self, page: &mut [u8]) {
        put_u32(page, PAGE_HEADER, DATA_MAGIC);
        page[PAGE_HEADER + 4..PAGE_HEADER + 8].fill(0); // count, flags
        put_u32(page, PAGE_HEADER + 8, INVALID_BLOCK); // next
        put_u32(page, PAGE_HEADER + 12, 0);
        for pos in 0..self.per_page {
            Tid::INVALID.write(&mut page[TIDS_OFFSET + pos * TID_SIZE..]);
        }
    }

    pub fn count(&self, page: &[u8]) -> usize {
        u16::from_ne_bytes([page[PAGE_HEADER + 4], page[PAGE_HEADER + 5]]) as usize
    }

    fn set_count(&self, page: &mut [u8], count: usize) {
        page[PAGE_HEADER + 4..PAGE_HEADER + 6].copy_from_slice(&(count as u16).to_ne_bytes());
    }

    /// The IVF list a page belongs to (0 on `flat` pages): a page of RaBitQ codes is scored
    /// against that list's query residual.
    pub fn owner(&self, page: &[u8]) -> u32 {
        get_u32(page, PAGE_HEADER + 12)
    }

    pub fn set_owner(&self, page: &mut [u8], list: u32) {
        put_u32(page, PAGE_HEADER + 12, list);
    }

    pub fn next_block(&self, page: &[u8]) -> u32 {
        get_u32(page, PAGE_HEADER + 8)
    }

    pub fn set_next_block(&self, page: &mut [u8], block: u32) {
        put_u32(page, PAGE_HEADER + 8, block);
    }

    pub fn is_data_page(page: &[u8]) -> bool {
        get_u32(page, PAGE_HEADER) == DATA_MAGIC
    }

    pub fn tid(&self, page: &[u8], pos: usize) -> Tid {
        debug_assert!(pos < self.per_page);
        Tid::read(&page[TIDS_OFFSET + pos * TID_SIZE..])
    }

    pub fn set_tid(&self, page: &mut [u8], pos: usize, tid: Tid) {
        debug_assert!(pos < self.per_page);
        tid.write(&mut page[TIDS_OFFSET + pos * TID_SIZE..]);
        if tid.is_valid() && pos >= self.count(page) {
            self.set_count(page, pos + 1);
        }
    }

    /// First free position at or after `from` on this page, if any.
    pub fn free_position(&self, page: &[u8], from: usize) -> Option<usize> {
        (from..self.per_page).find(|&pos| !self.tid(page, pos).is_valid())
    }

    /// Store a vector (its raw element bytes) at `pos` of a single-page-slot page.
    pub fn write_vector(&self, page: &mut [u8], pos: usize, vector: &[u8]) {
        assert_eq!(self.pages_per_slot, 1);
        assert_eq!(vector.len(), self.vec_bytes);
        let at = self.vectors_offset + pos * self.vec_bytes;
        page[at..at + self.vec_bytes].copy_from_slice(vector);
    }

    /// Store chunk `i` of a multi-page slot's vector on its `i`-th page.
    pub fn write_chunk(&self, page: &mut [u8], i: usize, vector: &[u8]) {
        let chunk = self.chunk(vector, i);
        page[self.vectors_offset..self.vectors_offset + chunk.len()].copy_from_slice(chunk);
        if self.count(page) == 0 {
            self.set_count(page, 1);
        }
    }

    fn chunk<'a>(&self, vector: &'a [u8], i: usize) -> &'a [u8] {
        let start = i * self.chunk_bytes;
        &vector[start..(start + self.chunk_bytes).min(vector.len())]
    }

    /// The raw bytes of the vector at `pos` on a single-page-slot page.
    pub fn vector_bytes<'a>(&self, page: &'a [u8], pos: usize) -> &'a [u8] {
        let at = self.vectors_offset + pos * self.vec_bytes;
        &page[at..at + self.vec_bytes]
    }
}
