//! Loading a guest's kernel, initrd and device tree into its RAM, and vCPU0's entry state.
//!
//! Entry follows the Linux arm64 boot protocol (Documentation/arch/arm64/booting.rst, "Call the
//! kernel image"): x0 holds the DTB's physical address, x1 to x3 are zero, the CPU is at EL1h
//! with D, A, I and F masked, and the MMU and data cache are off (SCTLR_EL1 at its reset value,
//! which the arch layer sets).

use core::fmt;

use super::placement::Placement;
use crate::portable::memory::physical::{scrub, PhysicalMemory, PhysicalMemoryError};
use crate::portable::memory::AddressRange;

/// SPSR_EL2 for the first `eret` into the guest: M[3:0] = EL1h (0b0101), DAIF (bits 9:6) set.
pub const SPSR_EL1H_DAIF_MASKED: u64 = 0x3c5;

/// A guest RAM bank and the host memory backing it.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct GuestBank {
    /// The bank's guest physical range.
    pub ipa: AddressRange,
    /// The host physical address of its first byte.
    pub host: u64,
}

impl GuestBank {
    /// The host physical range backing the bank.
    pub fn host_range(&self) -> Option<AddressRange> {
        AddressRange::new(self.host, self.ipa.size())
    }
}

/// The boot modules as they lie in host memory, and the generated device tree.
#[derive(Clone, Copy, Debug)]
pub struct BootModules<'a> {
    /// The kernel Image (host physical range of the whole file).
    pub kernel: AddressRange,
    /// The initrd (host physical range).
    pub initrd: Option<AddressRange>,
    /// The guest device tree.
    pub dtb: &'a [u8],
}

/// vCPU0's state at its first entry.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct EntryState {
    /// ELR_EL2: the kernel's first instruction.
    pub pc: u64,
    /// x0: the DTB's guest physical address (x1 to x3 are zero).
    pub x0: u64,
    /// SPSR_EL2.
    pub spsr_el2: u64,
}

/// Why a guest could not be loaded.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum BootError {
    /// A guest range is not inside one RAM bank.
    NotGuestRam {
        /// The guest physical range.
        ipa: AddressRange,
    },
    /// A module does not fit the slot placement gave it.
    ModuleTooBig {
        /// Which module.
        module: &'static str,
        /// The module's size.
        size: u64,
        /// The slot's size.
        slot: u64,
    },
    /// A module lies in host memory that backs the guest, so scrubbing would destroy it.
    ModuleInGuestRam {
        /// Which module.
        module: &'static str,
        /// Its host range.
        range: AddressRange,
    },
    /// Host memory could not be accessed.
    Memory(PhysicalMemoryError),
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotGuestRam { ipa } => write!(f, "guest range {ipa} is not inside one RAM bank"),
            Self::ModuleTooBig { module, size, slot } => {
                write!(
                    f,
                    "the {size:#x}-byte {module} does not fit its {slot:#x}-byte slot"
                )
            }
            Self::ModuleInGuestRam { module, range } => {
                write!(f, "the {module} at {range} lies in the guest's own RAM")
            }
            Self::Memory(error) => write!(f, "loading the guest: {error}"),
        }
    }
}

impl From<PhysicalMemoryError> for BootError {
    fn from(error: PhysicalMemoryError) -> Self {
        Self::Memory(error)
    }
}

/// The host physical address of guest range `ipa`, which must lie in one bank.
pub fn host_address(banks: &[GuestBank], ipa: AddressRange) -> Result<u64, BootError> {
    banks
        .iter()
        .find(|bank| bank.ipa.contains_range(&ipa) && !ipa.is_empty())
        .map(|bank| bank.host + (ipa.start() - bank.ipa.start()))
        .ok_or(BootError::NotGuestRam { ipa })
}

/// Scrubs the guest's RAM (unless `scrub_ram` is false: RAM the firmware cleared, at the
/// partition's first boot), copies the kernel, the DTB and the initrd to their placements, and
/// returns vCPU0's entry state.
pub fn load(
    memory: &mut impl PhysicalMemory,
    banks: &[GuestBank],
    placement: &Placement,
    modules: &BootModules<'_>,
    scrub_ram: bool,
) -> Result<EntryState, BootError> {
    let named = [("kernel", Some(modules.kernel)), ("initrd", modules.initrd)];
    for (module, range) in named
        .iter()
        .filter_map(|(name, range)| range.map(|range| (*name, range)))
    {
        let backing = banks.iter().filter_map(GuestBank::host_range);
        if backing.clone().any(|bank| bank.overlaps(&range)) {
            return Err(BootError::ModuleInGuestRam { module, range });
        }
    }
    check_fits("kernel", modules.kernel.size(), placement.kernel.size())?;
    check_fits("DTB", modules.dtb.len() as u64, placement.dtb.size())?;
    let initrd_slot = placement.initrd.map_or(0, |initrd| initrd.size());
    check_fits(
        "initrd",
        modules.initrd.map_or(0, |initrd| initrd.size()),
        initrd_slot,
    )?;

    let kernel_host = host_address(banks, placement.kernel)?;
    let dtb_host = host_address(banks, placement.dtb)?;
    let initrd_host = match placement.initrd {
        Some(initrd) => Some(host_address(banks, initrd)?),
        None => None,
    };
    for bank in banks {
        let host = bank
            .host_range()
            .ok_or(BootError::NotGuestRam { ipa: bank.ipa })?;
        if scrub_ram {
            scrub(memory, host)?;
        }
    }
    memory.copy(modules.kernel.start(), kernel_host, modules.kernel.size())?;
    memory.write(dtb_host, modules.dtb)?;
    if let (Some(source), Some(destination)) = (modules.initrd, initrd_host) {
        memory.copy(source.start(), destination, source.size())?;
    }
    Ok(EntryState {
        pc: placement.kernel.start(),
        x0: placement.dtb.start(),
        spsr_el2: SPSR_EL1H_DAIF_MASKED,
    })
}

fn check_fits(module: &'static str, size: u64, slot: u64) -> Result<(), BootError> {
    if size > slot {
        return Err(BootError::ModuleTooBig { module, size, slot });
    }
    Ok(())
}

#[cfg(test)]
#[path = "boot_tests.rs"]
mod tests;
