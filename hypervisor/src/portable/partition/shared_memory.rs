//! Static shared memory (`xen,domain-shared-memory-v1`): each region a partition names is
//! mapped at its guest address, as RAM, in the owner and in every borrower, at build; the
//! guest's device tree describes it as Xen 4.17 does (`/reserved-memory/xen-shmem@...`).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use dom0less_config::PartitionPlan;

use crate::portable::guest::boot::GuestBank;
use crate::portable::memory::range::PAGE_SIZE;
use crate::portable::memory::AddressRange;

/// One region as a partition sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedMemory {
    /// `xen,shm-id`.
    pub id: String,
    /// Where the partition sees it.
    pub guest: AddressRange,
    /// The host memory behind it.
    pub host: AddressRange,
    /// Whether this partition is the region's owner.
    pub owner: bool,
}

/// Why a partition's shared region cannot be mapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SharedMemoryError {
    /// The region has no host address (`xen,shared-mem` with two values): Xen 4.17 needs one
    /// and Bulkhead does not choose one yet.
    NoHostAddress { id: String },
    /// The guest range is not page-aligned or wraps.
    Unaligned { id: String, guest: u64, size: u64 },
    /// The guest range lands on something of the guest's own layout.
    Clash { id: String, guest: AddressRange, what: &'static str },
}

impl fmt::Display for SharedMemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoHostAddress { id } => write!(
                f,
                "shared memory \"{id}\" has no host address: give xen,shared-mem as \
                 <host guest size>, as Xen 4.17 requires"
            ),
            Self::Unaligned { id, guest, size } => write!(
                f,
                "shared memory \"{id}\" at guest {guest:#x} size {size:#x} is not 4 KiB aligned \
                 or wraps: align its guest address and size to 4 KiB"
            ),
            Self::Clash { id, guest, what } => write!(
                f,
                "shared memory \"{id}\" at guest {guest:?} overlaps {what}: choose another guest \
                 address in xen,shared-mem"
            ),
        }
    }
}

/// What of the guest's layout a guest range covers: its RAM, Xen's fixed guest addresses
/// (GIC, vPL011, grant-table window, magic pages), or an earlier region.
fn clash(guest: AddressRange, banks: &[GuestBank], earlier: &[SharedMemory]) -> Option<&'static str> {
    super::build::guest_layout_clash(guest, banks)
        .or_else(|| earlier.iter().any(|s| s.guest.overlaps(&guest)).then_some("another shared region"))
}

/// The regions partition `index` of the plan names, checked against its guest layout.
pub fn regions(plan: &PartitionPlan, index: usize, banks: &[GuestBank]) -> Result<Vec<SharedMemory>, SharedMemoryError> {
    let mut out: Vec<SharedMemory> = Vec::new();
    let Some(p) = plan.partitions.get(index) else { return Ok(out) };
    for mapping in &p.shared_memory {
        let Some(region) = plan.shared_regions.get(mapping.region) else { continue };
        let id = region.id.clone();
        let host = region.host.ok_or_else(|| SharedMemoryError::NoHostAddress { id: id.clone() })?;
        let guest = AddressRange::new(mapping.guest_address, region.size)
            .filter(|g| g.is_aligned(PAGE_SIZE) && !g.is_empty())
            .ok_or(SharedMemoryError::Unaligned { id: id.clone(), guest: mapping.guest_address, size: region.size })?;
        if let Some(what) = clash(guest, banks, &out) {
            return Err(SharedMemoryError::Clash { id, guest, what });
        }
        out.push(SharedMemory { id, guest, host, owner: mapping.owner });
    }
    Ok(out)
}
