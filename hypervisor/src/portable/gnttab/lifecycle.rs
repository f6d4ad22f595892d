//! A partition that stops or restarts: every mapping of its pages in other partitions is
//! removed first, then its own mappings of others' pages, then its table and RAM pages are
//! put back as built. The runtime calls [`Grants::stop`] after the partition's vCPUs are off
//! and before its memory is scrubbed.

use super::abi::INITIAL_FRAMES;
use super::memory::{GrantMemory, Stage2};
use super::ops::Grants;
use super::physmap::Refusal;

/// What [`Grants::stop`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Revoked {
    /// Mappings of the partition's pages that other partitions held.
    pub foreign: usize,
    /// Mappings the partition held of other partitions' pages.
    pub own: usize,
}

impl Grants {
    /// Revokes every mapping to and from `partition` and resets its table: one frame, no
    /// pins, no mappings, frames unmapped from the window, every RAM page present again, and
    /// every page the table grew by given back (its frames past the first, their active
    /// entries, its maptrack, its page states).
    ///
    /// A mapper whose mapping goes finds that guest frame empty (an access faults in the
    /// mapper, which survives it) and its handle unknown (`GNTST_bad_handle`). Xen instead
    /// keeps a dying domain's pages until every mapper unmaps them; Bulkhead scrubs and
    /// reuses them for the restart, so the mappings must go first.
    pub fn stop(
        &mut self,
        partition: usize,
        mem: &mut impl GrantMemory,
        stage2: &mut impl Stage2,
    ) -> Result<Revoked, Refusal> {
        let mut revoked = Revoked::default();
        // Handle by handle (no list is built: this runs after boot, when nothing may grow).
        for mapper in 0..self.tables.len() {
            let capacity = self.tables.get(mapper).map_or(0, |t| t.maptrack_capacity());
            for handle in 0..capacity {
                let Some(map) = self.tables.get(mapper).and_then(|t| t.mapping(handle as u32))
                else {
                    continue;
                };
                if mapper != partition && map.granter != partition {
                    continue;
                }
                if map.granter == partition && mapper != partition {
                    revoked.foreign = revoked.foreign.saturating_add(1);
                } else {
                    revoked.own = revoked.own.saturating_add(1);
                }
                self.drop_mapping(mapper, handle as u32, map, mem, stage2);
            }
        }
        let Some(table) = self.tables.get_mut(partition) else {
            return Ok(revoked);
        };
        for slot in table.frame_gfns.iter_mut() {
            if let Some(gfn) = slot.take() {
                stage2.unmap(partition, gfn);
            }
        }
        let restored = table.physmap.restore(partition, stage2, &mut *mem);
        // Copies finish inside one call: no pin can be left, but none may survive a restart
        // (the active entries left are cleared).
        table.shrink(INITIAL_FRAMES.min(table.max_frames), mem);
        restored?;
        Ok(revoked)
    }
}
