//! The v1 entry protocol on the granter's shared frames: setting GTF_reading/GTF_writing by
//! compare-exchange as a grant is pinned, clearing them as the last pins go (Xen's
//! `_set_status_v1` and `reduce_status_for_pin`).
//!
//! The first word of an entry holds `flags` (bits 0-15) and `domid` (bits 16-31), the second
//! the granted `frame`.

use super::abi::{gtf, GrantStatus, CMPXCHG_TRIES, ENTRY_SIZE};
use super::memory::GrantMemory;
use super::table::Active;

/// Byte offset of an entry's first word in the partition's table frames.
pub(super) fn offset(gref: u32) -> u64 {
    u64::from(gref).saturating_mul(ENTRY_SIZE)
}

const fn flags(word: u32) -> u16 {
    word as u16
}

const fn domid(word: u32) -> u16 {
    (word >> 16) as u16
}

/// Marks an entry in use: GTF_reading, and GTF_writing unless `readonly`. An entry not yet
/// pinned must say GTF_permit_access (not sub-page when `mapping`) for `mapper_domid`; a
/// writable use of a GTF_readonly entry is refused. The guest may race the update a few times.
pub(super) fn set_status(
    mem: &mut impl GrantMemory,
    granter: usize,
    gref: u32,
    act: &Active,
    readonly: bool,
    mapping: bool,
    mapper_domid: u16,
) -> Result<(), GrantStatus> {
    let at = offset(gref);
    let mask = if mapping {
        gtf::TYPE_MASK | gtf::SUB_PAGE
    } else {
        gtf::TYPE_MASK
    };
    let mut seen = mem
        .load(granter, at)
        .map_err(|_| GrantStatus::GeneralError)?;
    for _ in 0..CMPXCHG_TRIES {
        if !act.pinned()
            && (flags(seen) & mask != gtf::PERMIT_ACCESS || domid(seen) != mapper_domid)
        {
            return Err(GrantStatus::GeneralError);
        }
        let mut new = seen | u32::from(gtf::READING);
        if !readonly {
            if flags(seen) & gtf::READONLY != 0 {
                return Err(GrantStatus::GeneralError);
            }
            new |= u32::from(gtf::WRITING);
        }
        let found = mem
            .compare_exchange(granter, at, seen, new)
            .map_err(|_| GrantStatus::GeneralError)?;
        if found == seen {
            return Ok(());
        }
        seen = found;
    }
    // The entry kept changing under us: the guest is misbehaving.
    Err(GrantStatus::GeneralError)
}

/// Clears GTF_reading once no pin is left, and GTF_writing once no writable pin is left
/// (after a writable use).
pub(super) fn reduce_status(
    mem: &mut impl GrantMemory,
    granter: usize,
    gref: u32,
    act: &Active,
    readonly: bool,
) {
    let mut clear = 0u16;
    if !act.pinned() {
        clear |= gtf::READING;
    }
    if !readonly && act.write_pins == 0 {
        clear |= gtf::WRITING;
    }
    if clear != 0 {
        // The table frame is the hypervisor's: a failure here means the runtime gave no page,
        // and there is nothing the guest can be told; the flags stay set.
        let _ = mem.fetch_and(granter, offset(gref), !u32::from(clear));
    }
}

/// The granted frame of an entry (second word).
pub(super) fn frame(mem: &mut impl GrantMemory, granter: usize, gref: u32) -> Option<u32> {
    mem.load(granter, offset(gref).saturating_add(4)).ok()
}
