//! Page formats of the IVF index (`ivfflat`), beyond the meta page and the data pages it
//! shares with `flat` (see [`crate::pages`]).
//!
//! ```text
//!  block 0              meta (kind = Ivf, extra[0] = lists)
//!  blocks 1 ..= C       centroids: lists × dims f32 as one byte stream over the pages
//!  blocks C+1 ..= C+D   list directory: one 16-byte entry per list
//!  later blocks         list data pages (flat's data page format), one chain per list
//! ```
//!
//! Centroid and directory page:
//! ```text
//!  0        24          28          32                                                 8192
//!  +--------+-----------+-----------+---------------------------------------------------+
//!  | PageHdr| magic u32 | reserved  | payload: centroid stream bytes, or directory      |
//!  | 24 B   |           | u32       | entries  [head u32 | insert u32 | count u64] × 510 |
//!  +--------+-----------+-----------+---------------------------------------------------+
//! ```
//! A list's chain starts at `head` and follows the data pages' `next` links; new pages are
//! linked in at the head. `insert` is the page where the next insert into the list tries
//! first (VACUUM moves it back to the first page with free slots).

use super::{INVALID_BLOCK, PAGE_HEADER, PAGE_SIZE};

pub const CENTROID_MAGIC: u32 = 0x5658_4354; // "VXCT"
pub const DIRECTORY_MAGIC: u32 = 0x5658_4452; // "VXDR"
pub const MAX_LISTS: usize = 32768;

const PAYLOAD_OFFSET: usize = PAGE_HEADER + 8;
const PAYLOAD: usize = PAGE_SIZE - PAYLOAD_OFFSET;
const _: () = assert!(PAYLOAD.is_multiple_of(4));
const ENTRY: usize = 16;
const ENTRIES_PER_PAGE: usize = PAYLOAD / ENTRY;

/// One list's directory entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListEntry {
    pub head: u32,
    pub insert: u32,
    /// Rows added to the list (never decremented; informational).
    pub count: u64,
}

impl ListEntry {
    pub const EMPTY: ListEntry = ListEntry {
        head: INVALID_BLOCK,
        insert: INVALID_BLOCK,
        count: 0,
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IvfLayout {
    pub lists: usize,
    pub dims: usize,
    pub centroid_pages: usize,
    pub directory_pages: usize,
}

impl IvfLayout {
    pub fn new(lists: usize, dims: usize) -> IvfLayout {
        assert!(lists >= 1 && dims >= 1);
        IvfLayout {
            lists,
            dims,
            centroid_pages: (lists * dims * 4).div_ceil(PAYLOAD),
            directory_pages: lists.div_ceil(ENTRIES_PER_PAGE),
        }
    }

    pub fn first_centroid_block(&self) -> u32 {
        1
    }

    pub fn first_directory_block(&self) -> u32 {
        1 + self.centroid_pages as u32
    }

    /// The first block after the fixed part (where list data pages begin).
    pub fn first_data_block(&self) -> u32 {
        self.first_directory_block() + self.directory_pages as u32
    }

    /// Byte range of the centroid stream held by centroid page `i`.
    fn stream_range(&self, i: usize) -> std::ops::Range<usize> {
        let total = self.lists * self.dims * 4;
        (i * PAYLOAD).min(total)..((i + 1) * PAYLOAD).min(total)
    }

    /// Fill centroid page `i` (after its page header) from all centroids.
    pub fn write_centroid_page(&self, page: &mut [u8], i: usize, centroids: &[f32]) {
        assert_eq!(centroids.len(), self.lists * self.dims);
        page[PAGE_HEADER..PAGE_HEADER + 4].copy_from_slice(&CENTROID_MAGIC.to_ne_bytes());
        // PAYLOAD is a multiple of 4: every page holds whole floats.
        let range = self.stream_range(i);
        let floats = &centroids[range.start / 4..range.end / 4];
        for (k, x) in floats.iter().enumerate() {
            let at = PAYLOAD_OFFSET + 4 * k;
            page[at..at + 4].copy_from_slice(&x.to_ne_bytes());
        }
    }

    /// Bytes used on centroid page `i` (its `pd_lower`).
    pub fn centroid_page_end(&self, i: usize) -> usize {
        PAYLOAD_OFFSET + self.stream_range(i).len()
    }

    /// Append centroid page `i`'s share of the stream to `out` (bytes → f32 at the end).
    pub fn read_centroid_page(&self, page: &[u8], i: usize, out: &mut Vec<u8>) -> bool {
        if page[PAGE_HEADER..PAGE_HEADER + 4] != CENTROID_MAGIC.to_ne_bytes() {
            return false;
        }
        let len = self.stream_range(i).len();
        out.extend_from_slice(&page[PAYLOAD_OFFSET..PAYLOAD_OFFSET + len]);
        true
    }

    /// Centroid stream bytes as f32 values.
    pub fn centroids_from_stream(&self, bytes: &[u8]) -> Vec<f32> {
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_ne_bytes(c.try_into().unwrap()))
            .collect()
    }

    /// (directory block, byte offset in that page) of a list's entry.
    pub fn entry_location(&self, list: usize) -> (u32, usize) {
        (
            self.first_directory_block() + (list / ENTRIES_PER_PAGE) as u32,
            PAYLOAD_OFFSET + (list % ENTRIES_PER_PAGE) * ENTRY,
        )
    }

    /// Lists whose entries are on directory page `i`.
    pub fn lists_on_directory_page(&self, i: usize) -> std::ops::Range<usize> {
        (i * ENTRIES_PER_PAGE).min(self.lists)..((i + 1) * ENTRIES_PER_PAGE).min(self.lists)
    }

    pub fn init_directory_page(&self, page: &mut [u8], i: usize) {
        page[PAGE_HEADER..PAGE_HEADER + 4].copy_from_slice(&DIRECTORY_MAGIC.to_ne_bytes());
        for list in self.lists_on_directory_page(i) {
            let (_, at) = self.entry_location(list);
            write_entry(page, at, ListEntry::EMPTY);
        }
    }

    pub fn directory_page_end(&self, i: usize) -> usize {
        PAYLOAD_OFFSET + self.lists_on_directory_page(i).len() * ENTRY
    }
}

pub fn read_entry(page: &[u8], at: usize) -> ListEntry {
    let u32_at = |o: usize| u32::from_ne_bytes(page[o..o + 4].try_into().unwrap());
    ListEntry {
        head: u32_at(at),
        insert: u32_at(at + 4),
        count: u64::from_ne_bytes(page[at + 8..at + 16].try_into().unwrap()),
    }
}

pub fn write_entry(page: &mut [u8], at: usize, e: ListEntry) {
    page[at..at + 4].copy_from_slice(&e.head.to_ne_bytes());
    page[at + 4..at + 8].copy_from_slice(&e.insert.to_ne_bytes());
    page[at + 8..at + 16].copy_from_slice(&e.count.to_ne_bytes());
}

/// The `probes` nearest lists to a query, nearest first, given its distance to every centroid.
pub fn nearest_lists(distances: &[f32], probes: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..distances.len()).collect();
    let key = |&i: &usize| (distances[i], i);
    let cmp = |a: &usize, b: &usize| {
        let (da, ia) = key(a);
        let (db, ib) = key(b);
        da.total_cmp(&db).then(ia.cmp(&ib))
    };
    let probes = probes.min(order.len());
    if probes == 0 {
        return Vec::new();
    }
    if probes < order.len() {
        order.select_nth_unstable_by(probes - 1, cmp);
        order.truncate(probes);
    }
    order.sort_unstable_by(cmp);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centroid_stream_round_trips_over_pages() {
        for (lists, dims) in [(1, 1), (3, 5), (100, 128), (1000, 1536), (7, 4000)] {
            let l = IvfLayout::new(lists, dims);
            let centroids: Vec<f32> = (0..lists * dims).map(|i| i as f32 * 0.5 - 3.0).collect();
            let mut bytes = Vec::new();
            for i in 0..l.centroid_pages {
                let mut page = vec![0u8; PAGE_SIZE];
                l.write_centroid_page(&mut page, i, &centroids);
                assert!(l.centroid_page_end(i) <= PAGE_SIZE);
                assert!(l.read_centroid_page(&page, i, &mut bytes));
            }
            assert_eq!(l.centroids_from_stream(&bytes), centroids, "{lists}×{dims}");
        }
        assert!(!IvfLayout::new(1, 1).read_centroid_page(
            &vec![0u8; PAGE_SIZE],
            0,
            &mut Vec::new()
        ));
    }

    #[test]
    fn directory_entries_are_placed_and_kept() {
        let l = IvfLayout::new(1200, 8);
        assert_eq!(l.directory_pages, 3);
        let mut pages = vec![vec![0u8; PAGE_SIZE]; l.directory_pages];
        for (i, p) in pages.iter_mut().enumerate() {
            l.init_directory_page(p, i);
            assert!(l.directory_page_end(i) <= PAGE_SIZE);
        }
        for list in [0, 509, 510, 1199] {
            let (block, at) = l.entry_location(list);
            let page = &mut pages[(block - l.first_directory_block()) as usize];
            assert_eq!(read_entry(page, at), ListEntry::EMPTY);
            let e = ListEntry {
                head: list as u32 + 7,
                insert: 3,
                count: 99,
            };
            write_entry(page, at, e);
            assert_eq!(read_entry(page, at), e);
        }
        // Neighbours untouched.
        let (block, at) = l.entry_location(1);
        assert_eq!(
            read_entry(&pages[(block - l.first_directory_block()) as usize], at),
            ListEntry::EMPTY
        );
        assert_eq!(l.first_data_block(), 1 + l.centroid_pages as u32 + 3);
    }

    #[test]
    fn nearest_lists_in_order_with_ties_by_index() {
        let d = [3.0, 1.0, f32::NAN, 1.0, 0.5, 9.0];
        assert_eq!(nearest_lists(&d, 3), vec![4, 1, 3]);
        assert_eq!(nearest_lists(&d, 10), vec![4, 1, 3, 0, 5, 2]);
        assert_eq!(nearest_lists(&d, 0), Vec::<usize>::new());
    }
}
