//! The index algorithms, written against [`crate::store::PageStore`]: what each access method
//! does to its pages on insert, VACUUM and (for IVF) when its fixed part is first laid out.
//! The extension runs them over Postgres buffers and GenericXLog; the tests here run them over
//! [`crate::store::MemStore`], including a crash after every record of each multi-record
//! operation.

pub mod flat;
pub mod hnsw;
pub mod ivf;

use crate::pages::{MetaError, SlotLayout};
use crate::store::Record;
use crate::tid::Tid;

/// Block 0 of every index.
pub const META_BLOCK: u32 = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The meta page does not read back.
    Meta(MetaError),
    /// A vector of another dimension than the index's.
    Dimensions { expected: u32, got: usize },
    /// A row longer than a packed page holds ([`crate::pages::packed::MAX_ROW`] bytes).
    RowTooLong { len: usize },
}

/// What a bulk delete found.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct VacuumStats {
    pub live: f64,
    pub removed: f64,
}

/// Free the slots on page `p` of `w` whose rows `dead` reports; count live and removed rows.
/// Returns the freed positions (the caller commits `w` when there are any).
pub fn free_dead_slots<R: Record>(
    rec: &mut R,
    page_i: usize,
    layout: &SlotLayout,
    dead: &mut impl FnMut(Tid) -> bool,
    stats: &mut VacuumStats,
) -> Vec<usize> {
    let count = layout.count(rec.page(page_i)).min(layout.per_page);
    let mut freed = Vec::new();
    for pos in 0..count {
        let tid = layout.tid(rec.page(page_i), pos);
        if !tid.is_valid() {
            continue;
        }
        if dead(tid) {
            layout.set_tid(rec.page_mut(page_i), pos, Tid::INVALID);
            stats.removed += 1.0;
            freed.push(pos);
        } else {
            stats.live += 1.0;
        }
    }
    freed
}

#[cfg(test)]
pub(crate) mod testing {
    use std::collections::BTreeMap;

    use crate::pages::{Meta, SlotLayout, PAGE_SIZE};
    use crate::store::{MemStore, PageStore, Record};
    use crate::tid::Tid;

    /// A store holding just a meta page.
    pub fn new_store_with_meta(meta: Meta) -> MemStore {
        let store = MemStore::new();
        let mut rec = store.record();
        let meta_i = rec.extend();
        meta.write(rec.page_mut(meta_i));
        rec.set_used_end(meta_i, Meta::END);
        rec.commit();
        store
    }

    /// Distinct stored bytes for row `i` (f32 elements).
    pub fn vector_bytes(i: u32, dims: usize) -> Vec<u8> {
        (0..dims)
            .flat_map(|j| ((i as f32) * 1000.0 + j as f32).to_ne_bytes())
            .collect()
    }

    /// Every slot with a valid TID on `blocks` (slot pages, in slot order: a spanning slot's
    /// pages consecutive), with its vector bytes joined from its chunks.
    pub fn visible_rows(
        store: &MemStore,
        l: &SlotLayout,
        blocks: &[u32],
    ) -> BTreeMap<Tid, Vec<u8>> {
        let mut out = BTreeMap::new();
        for slot_blocks in blocks.chunks(l.pages_per_slot) {
            let pages: Vec<Vec<u8>> = slot_blocks
                .iter()
                .map(|&b| store.read(b).to_vec())
                .collect();
            if !SlotLayout::is_data_page(&pages[0]) {
                continue;
            }
            let count = l.count(&pages[0]).min(l.per_page);
            for pos in 0..count {
                let tid = l.tid(&pages[0], pos);
                if !tid.is_valid() {
                    continue;
                }
                let bytes = if l.pages_per_slot == 1 {
                    l.vector_bytes(&pages[0], pos).to_vec()
                } else {
                    assert_eq!(
                        pages.len(),
                        l.pages_per_slot,
                        "a slot's pages are all there"
                    );
                    let mut v = Vec::new();
                    for (i, page_i) in pages.iter().enumerate() {
                        let len = l.chunk_bytes.min(l.vec_bytes - i * l.chunk_bytes);
                        v.extend_from_slice(&page_i[l.vectors_offset..l.vectors_offset + len]);
                    }
                    v
                };
                assert!(out.insert(tid, bytes).is_none(), "{tid:?} stored twice");
            }
        }
        let _ = PAGE_SIZE;
        out
    }
}
