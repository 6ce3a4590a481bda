//! Packed pages: rows of varying length back to back, in arrival order (a `flat` index over
//! `sparsevec`, whose rows range from a few bytes to 8 KB).
//!
//! ```text
//!  0        24            40
//!  +--------+-------------+--------------------------------------------------+-----------+
//!  | PageHdr| magic u32   | entry 0 | entry 1 | …                              | unused    |
//!  | 24 B   | count u16   |                                                  |           |
//!  |        | flags u16   | entry: tid 6 B | reserved 2 B | row (len B)      |           |
//!  |        | next u32    |        row = a stored sparsevec: nnz u32,        |           |
//!  |        | reserved u32|        indices i32[nnz], values f32[nnz]         |           |
//!  +--------+-------------+--------------------------------------------------+-----------+
//!                                                                   pd_lower ^
//! ```
//! Everything lies below `pd_lower`, so full-page WAL images keep it. Rows are multiples of
//! 4 bytes long, so every entry and the elements in it stay 4-byte aligned. There are no
//! tombstones: VACUUM compacts a page, sliding its live entries down over the dead ones (a
//! scan holds the page share-locked while it reads it and keeps TIDs, not positions).

use super::{get_u32, put_u32, used_end, PAGE_HEADER, PAGE_SIZE};
use crate::tid::{Tid, TID_SIZE};

pub const PACKED_MAGIC: u32 = 0x5658_504B; // "VXPK"

/// Where the first entry starts.
pub const ENTRIES_OFFSET: usize = PAGE_HEADER + 16;
/// Bytes an entry takes before its row.
pub const ENTRY_HEADER: usize = 8;
/// The longest row a page holds.
pub const MAX_ROW: usize = PAGE_SIZE - ENTRIES_OFFSET - ENTRY_HEADER;

/// Length of the row at the start of `bytes`, `None` when `bytes` cannot hold one (a page
/// that does not read back is treated as ending there).
pub type RowLen = fn(&[u8]) -> Option<usize>;

/// Format a fresh packed page (after the page header); returns its `pd_lower`.
pub fn init(page: &mut [u8]) -> usize {
    put_u32(page, PAGE_HEADER, PACKED_MAGIC);
    page[PAGE_HEADER + 4..ENTRIES_OFFSET].fill(0);
    ENTRIES_OFFSET
}

pub fn is_packed_page(page: &[u8]) -> bool {
    get_u32(page, PAGE_HEADER) == PACKED_MAGIC
}

/// Entries on the page.
pub fn count(page: &[u8]) -> usize {
    u16::from_ne_bytes([page[PAGE_HEADER + 4], page[PAGE_HEADER + 5]]) as usize
}

fn set_count(page: &mut [u8], n: usize) {
    page[PAGE_HEADER + 4..PAGE_HEADER + 6].copy_from_slice(&(n as u16).to_ne_bytes());
}

/// Where the entries end (the page's `pd_lower`).
pub fn end(page: &[u8]) -> usize {
    used_end(page).clamp(ENTRIES_OFFSET, PAGE_SIZE)
}

/// Free bytes after the last entry.
pub fn room(page: &[u8]) -> usize {
    PAGE_SIZE - end(page)
}

/// Bytes an entry holding a row of `row_len` bytes takes.
pub fn entry_len(row_len: usize) -> usize {
    ENTRY_HEADER + row_len
}

/// Append an entry for `row` (of heap row `tid`) when it fits; returns the page's new
/// `pd_lower`, for the caller to set.
pub fn append(page: &mut [u8], tid: Tid, row: &[u8]) -> Option<usize> {
    debug_assert!(row.len().is_multiple_of(4), "rows keep entries aligned");
    let at = end(page);
    let new_end = at + entry_len(row.len());
    if new_end > PAGE_SIZE {
        return None;
    }
    tid.write(&mut page[at..at + TID_SIZE]);
    page[at + TID_SIZE..at + ENTRY_HEADER].fill(0);
    page[at + ENTRY_HEADER..new_end].copy_from_slice(row);
    set_count(page, count(page) + 1);
    Some(new_end)
}

/// The page's entries in order: (TID, row bytes). Stops at the first entry that does not read
/// back within the page.
pub fn entries(page: &[u8], row_len: RowLen) -> Entries<'_> {
    Entries {
        page: &page[..end(page)],
        at: ENTRIES_OFFSET,
        left: count(page),
        row_len,
    }
}

pub struct Entries<'a> {
    page: &'a [u8],
    at: usize,
    left: usize,
    row_len: RowLen,
}

impl<'a> Iterator for Entries<'a> {
    type Item = (Tid, &'a [u8]);

    fn next(&mut self) -> Option<(Tid, &'a [u8])> {
        if self.left == 0 || self.at + ENTRY_HEADER > self.page.len() {
            return None;
        }
        let row_at = self.at + ENTRY_HEADER;
        let len = (self.row_len)(&self.page[row_at..])?;
        let tid = Tid::read(&self.page[self.at..]);
        let row = &self.page[row_at..row_at + len];
        self.at = row_at + len;
        self.left -= 1;
        Some((tid, row))
    }
}

/// Drop the entries whose rows `dead` reports, sliding the live ones down; returns (live,
/// removed) and the page's new `pd_lower` (for the caller to set when anything was removed).
pub fn compact(
    page: &mut [u8],
    row_len: RowLen,
    dead: &mut impl FnMut(Tid) -> bool,
) -> (usize, usize, usize) {
    let mut spans = Vec::new(); // (start, len) of live entries
    let mut removed = 0;
    let mut at = ENTRIES_OFFSET;
    for (tid, row) in entries(page, row_len) {
        let len = entry_len(row.len());
        if dead(tid) {
            removed += 1;
        } else {
            spans.push((at, len));
        }
        at += len;
    }
    let mut to = ENTRIES_OFFSET;
    if removed > 0 {
        for &(from, len) in &spans {
            page.copy_within(from..from + len, to);
            to += len;
        }
        page[to..at].fill(0);
        set_count(page, spans.len());
    } else {
        to = at;
    }
    (spans.len(), removed, to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::{init_page, set_used_end};
    use crate::sparse::{encode, stored_len_of};

    fn tid(i: u32) -> Tid {
        Tid {
            block: i,
            offset: (i % 7 + 1) as u16,
        }
    }

    fn row(i: u32) -> Vec<u8> {
        let nnz = (i as usize * 37) % 50;
        let idx: Vec<i32> = (0..nnz as i32).map(|k| k * 3 + i as i32).collect();
        let val: Vec<f32> = (0..nnz).map(|k| k as f32 + 0.5).collect();
        encode(&idx, &val)
    }

    fn page() -> Vec<u8> {
        let mut p = vec![0u8; PAGE_SIZE];
        init_page(&mut p);
        let end = init(&mut p);
        set_used_end(&mut p, end);
        p
    }

    #[test]
    fn entries_read_back_until_the_page_is_full_and_compact_keeps_the_live_ones() {
        let mut p = page();
        let mut stored = Vec::new();
        for i in 0.. {
            let r = row(i);
            match append(&mut p, tid(i), &r) {
                Some(end) => {
                    set_used_end(&mut p, end);
                    stored.push((tid(i), r));
                }
                None => {
                    assert!(room(&p) < entry_len(r.len()), "refused only when full");
                    break;
                }
            }
        }
        assert!(stored.len() > 20);
        assert!(is_packed_page(&p));
        let got: Vec<(Tid, Vec<u8>)> = entries(&p, stored_len_of)
            .map(|(t, r)| (t, r.to_vec()))
            .collect();
        assert_eq!(got, stored);

        let (live, removed, end) = compact(&mut p, stored_len_of, &mut |t| t.block % 3 == 1);
        set_used_end(&mut p, end);
        stored.retain(|(t, _)| t.block % 3 != 1);
        assert_eq!((live, live + removed), (stored.len(), got.len()));
        let after: Vec<(Tid, Vec<u8>)> = entries(&p, stored_len_of)
            .map(|(t, r)| (t, r.to_vec()))
            .collect();
        assert_eq!(after, stored);
        assert!(p[end..].iter().all(|&b| b == 0), "freed bytes are zeroed");
        // the space is there again
        let r = row(1);
        let grown = append(&mut p, tid(1000), &r).expect("room after compacting");
        set_used_end(&mut p, grown);

        // nothing dead: nothing moves
        let before = p.clone();
        let (_, removed, end2) = compact(&mut p, stored_len_of, &mut |_| false);
        assert_eq!((removed, end2), (0, end + entry_len(r.len())));
        assert_eq!(p, before);
    }

    #[test]
    fn the_longest_row_fits_an_empty_page_and_a_torn_page_reads_as_ending_early() {
        let mut p = page();
        let long = vec![0u8; MAX_ROW];
        assert_eq!(append(&mut p, tid(1), &long), Some(PAGE_SIZE));
        let mut p = page();
        let r = row(5);
        let end = append(&mut p, tid(5), &r).unwrap();
        set_used_end(&mut p, end);
        // claim more entries than there are: the reader stops at the page end
        set_count(&mut p, 9);
        assert_eq!(entries(&p, stored_len_of).count(), 1);
        // an nnz word pointing past the page: nothing read past it
        let mut p = page();
        let mut bad = row(3);
        bad[..4].copy_from_slice(&5000u32.to_ne_bytes());
        let end = append(&mut p, tid(3), &bad).unwrap();
        set_used_end(&mut p, end);
        assert_eq!(entries(&p, stored_len_of).count(), 0);
    }
}
