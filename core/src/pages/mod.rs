//! Page formats of the indexes, as pure byte layouts: the extension maps them onto Postgres
//! buffers, these modules only read and write the bytes, so every offset is unit-tested here.
//! [`meta`]: block 0 of every index; [`slots`]: pages of packed vectors (a `flat` index's data
//! pages, an IVF list's pages); [`packed`]: pages of rows of varying length (a `flat` index
//! over `sparsevec`); [`ivf`]: IVF centroid and directory pages.
//!
//! A page is `PAGE_SIZE` bytes and starts with Postgres' 24-byte page header, which the
//! extension initialises (`PageInit`); everything below lies between that header and `pd_lower`.
//!
//! Data page (blocks 1, 2, …; slot `s` is at page `s / per_page`, position `s % per_page`):
//! ```text
//!  0        24            40                       40+6·cap → 16-aligned
//!  +--------+-------------+------------------------+--------------------------------------+
//!  | PageHdr| magic u32   | tids[cap]              | vectors[cap]: dims × f32|f16 each,    |
//!  | 24 B   | count u16   | 6 B each, ItemPointer  | packed back to back (one SIMD pass    |
//!  |        | flags u16   | layout; block = ~0 ⇒   | over the page, no per-tuple headers)  |
//!  |        | next u32    | free slot (tombstone)  | — or RaBitQ codes of a fixed size     |
//!  |        | owner u32   |                        |                                       |
//!  +--------+-------------+------------------------+--------------------------------------+
//! ```
//! `count` is how many positions of the page have ever been used (later ones are never read);
//! `owner` is the IVF list the page is chained into (0 for `flat`).
//! When one vector does not fit a page (more than ~2030 f32 dimensions), a slot spans
//! `pages_per_slot` consecutive pages: the first holds the TID and the first chunk, the rest
//! hold the following chunks at the same offset; `cap` is then 1.

pub mod hnsw;
pub mod ivf;
pub mod meta;
pub mod packed;
pub mod slots;

pub use meta::{AmMeta, Meta, MetaError, FORMAT_VERSION, META_MAGIC};
pub use slots::{SlotLayout, DATA_MAGIC};

pub const PAGE_SIZE: usize = 8192;
/// `SizeOfPageHeaderData`, the same in every supported Postgres version.
pub const PAGE_HEADER: usize = 24;
pub const INVALID_BLOCK: u32 = u32::MAX;

pub(crate) fn get_u32(p: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(p[at..at + 4].try_into().unwrap())
}
pub(crate) fn get_u64(p: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(p[at..at + 8].try_into().unwrap())
}
pub(crate) fn put_u32(p: &mut [u8], at: usize, v: u32) {
    p[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}
pub(crate) fn put_u64(p: &mut [u8], at: usize, v: u64) {
    p[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

// Postgres' page header fields this crate touches (`PageHeaderData`, little or big endian as
// the machine): pd_lower at 12, pd_upper at 14, pd_special at 16, pd_pagesize_version at 18.
const PD_LOWER: usize = 12;
const PD_UPPER: usize = 14;
const PD_SPECIAL: usize = 16;
const PD_PAGESIZE_VERSION: usize = 18;

fn put_u16(p: &mut [u8], at: usize, v: u16) {
    p[at..at + 2].copy_from_slice(&v.to_ne_bytes());
}

/// Postgres' `PageInit(page, PAGE_SIZE, 0)`: an empty page with no special space (used by the
/// in-memory store; the extension calls Postgres' own).
pub fn init_page(page: &mut [u8]) {
    page.fill(0);
    put_u16(page, PD_LOWER, PAGE_HEADER as u16);
    put_u16(page, PD_UPPER, PAGE_SIZE as u16);
    put_u16(page, PD_SPECIAL, PAGE_SIZE as u16);
    put_u16(page, PD_PAGESIZE_VERSION, PAGE_SIZE as u16 | 4);
}

/// `PageIsNew`: never initialised (all zeroes, `pd_upper == 0`).
pub fn is_new_page(page: &[u8]) -> bool {
    u16::from_ne_bytes([page[PD_UPPER], page[PD_UPPER + 1]]) == 0
}

/// How far the content reaches (`pd_lower`).
pub fn used_end(page: &[u8]) -> usize {
    u16::from_ne_bytes([page[PD_LOWER], page[PD_LOWER + 1]]) as usize
}

/// Declare how far the content reaches (`pd_lower`), so WAL and checksums cover it.
pub fn set_used_end(page: &mut [u8], end: usize) {
    debug_assert!((PAGE_HEADER..=PAGE_SIZE).contains(&end));
    put_u16(page, PD_LOWER, end as u16);
}

#[cfg(test)]
mod tests;
