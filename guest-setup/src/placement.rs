//! Where a guest's kernel, device tree and initrd go in its first RAM bank.
//!
//! This follows Xen's dom0less domU placement (`xen/arch/arm/kernel.c`, `kernel_zimage_place`
//! and `place_modules`): the kernel at bank 0's base plus `text_offset`; the DTB and the initrd
//! after it, each slot rounded up to 2 MiB, at base + 128 MiB when that fits above the kernel,
//! else at the top of bank 0, else just below the kernel.

use core::fmt;

use super::image::{KernelImage, BASE_ALIGNMENT};
use boards::align_up;
use boards::AddressRange;

/// The largest device tree Linux accepts (booting.rst: "must not exceed 2 megabytes").
pub const MAX_DTB_SIZE: u64 = 0x20_0000;
/// Where Xen prefers the DTB and initrd: 128 MiB above the start of RAM.
const PREFERRED_MODULE_OFFSET: u64 = 0x800_0000;

/// Why the modules do not fit.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum PlacementError {
    /// Bank 0 is not 2 MiB aligned, so the kernel base cannot be.
    UnalignedBank {
        /// Bank 0.
        bank: AddressRange,
    },
    /// The kernel, the DTB slot and the initrd together exceed bank 0.
    TooBig {
        /// Bytes needed.
        needed: u64,
        /// Bank 0's size.
        available: u64,
    },
    /// The modules fit in size, but there is no gap for them around the kernel.
    NoRoomForModules {
        /// Bytes the DTB and initrd slots need.
        needed: u64,
    },
}

impl fmt::Display for PlacementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnalignedBank { bank } => {
                write!(f, "guest RAM bank {bank} is not 2 MiB aligned")
            }
            Self::TooBig { needed, available } => write!(
                f,
                "kernel, DTB and initrd need {needed:#x} bytes but the first RAM bank has {available:#x}"
            ),
            Self::NoRoomForModules { needed } => {
                write!(f, "no {needed:#x}-byte gap for the DTB and initrd around the kernel")
            }
        }
    }
}

/// Guest physical ranges of the boot modules.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Placement {
    /// The kernel's load address and the memory it uses (BSS included); the entry point is its
    /// start.
    pub kernel: AddressRange,
    /// The DTB slot (2 MiB); the DTB is written at its start.
    pub dtb: AddressRange,
    /// The initrd itself (exact size), right after the DTB slot.
    pub initrd: Option<AddressRange>,
}

/// Places the kernel, a DTB of at most [`MAX_DTB_SIZE`] and an `initrd_size`-byte initrd in
/// `bank0`.
pub fn place(
    bank0: AddressRange,
    kernel: &KernelImage,
    initrd_size: Option<u64>,
) -> Result<Placement, PlacementError> {
    if !bank0.start().is_multiple_of(BASE_ALIGNMENT) {
        return Err(PlacementError::UnalignedBank { bank: bank0 });
    }
    let available = bank0.size();
    let too_big = |needed| PlacementError::TooBig { needed, available };
    let initrd_slot =
        align_up(initrd_size.unwrap_or(0), BASE_ALIGNMENT).ok_or(too_big(u64::MAX))?;
    let modules = MAX_DTB_SIZE
        .checked_add(initrd_slot)
        .ok_or(too_big(u64::MAX))?;
    // The kernel occupies [base, kernel_end); its slot ends on the next 2 MiB boundary.
    let kernel_extent = kernel
        .text_offset
        .checked_add(kernel.memory_size)
        .ok_or(too_big(u64::MAX))?;
    let kernel_slot = align_up(kernel_extent, BASE_ALIGNMENT).ok_or(too_big(u64::MAX))?;
    let needed = kernel_slot.checked_add(modules).ok_or(too_big(u64::MAX))?;
    if needed > available {
        return Err(too_big(needed));
    }
    let kernel_start = bank0.start() + kernel.text_offset;
    let kernel_range =
        AddressRange::new(kernel_start, kernel.memory_size).ok_or(too_big(needed))?;
    let kernel_slot_end = bank0.start() + kernel_slot;

    let preferred = bank0.start() + PREFERRED_MODULE_OFFSET;
    let module_base = if kernel_range.end() < preferred && preferred + modules <= bank0.end() {
        preferred
    } else if bank0.end() - modules > kernel_slot_end {
        bank0.end() - modules
    } else if kernel_start - bank0.start() > modules {
        // Only reachable with a text_offset above the modules' size; kept to mirror Xen.
        kernel_start - modules
    } else if bank0.end() - modules == kernel_slot_end {
        // Xen wants a strict gap; an exact fit is still safe and uses the whole bank.
        kernel_slot_end
    } else {
        return Err(PlacementError::NoRoomForModules { needed: modules });
    };
    let dtb = AddressRange::new(module_base, MAX_DTB_SIZE).ok_or(too_big(needed))?;
    let initrd = match initrd_size {
        Some(size) => Some(AddressRange::new(dtb.end(), size).ok_or(too_big(needed))?),
        None => None,
    };
    Ok(Placement {
        kernel: kernel_range,
        dtb,
        initrd,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::RAM0_BASE;

    fn bank(size: u64) -> AddressRange {
        AddressRange::new(RAM0_BASE, size).unwrap()
    }

    fn kernel(text_offset: u64, memory_size: u64) -> KernelImage {
        KernelImage {
            text_offset,
            memory_size,
            file_size: memory_size,
            anywhere: true,
        }
    }

    fn assert_disjoint(placement: &Placement) {
        assert!(!placement.kernel.overlaps(&placement.dtb));
        if let Some(initrd) = placement.initrd {
            assert!(!initrd.overlaps(&placement.kernel) && !initrd.overlaps(&placement.dtb));
        }
    }

    #[test]
    fn modules_go_at_128_mib_when_the_kernel_is_below_it() {
        let placement = place(bank(0x1000_0000), &kernel(0, 0x260_0000), Some(0x12_3456)).unwrap();
        assert_eq!(
            placement.kernel,
            AddressRange::new(0x4000_0000, 0x260_0000).unwrap()
        );
        assert_eq!(
            placement.dtb,
            AddressRange::new(0x4800_0000, MAX_DTB_SIZE).unwrap()
        );
        assert_eq!(placement.initrd, AddressRange::new(0x4820_0000, 0x12_3456));
        assert_disjoint(&placement);
    }

    #[test]
    fn small_ram_puts_modules_at_the_top_of_bank0() {
        // 64 MiB of RAM: 128 MiB is outside, so the DTB and a 3 MiB initrd (4 MiB slot) go on top.
        let placement = place(bank(0x400_0000), &kernel(0, 0x100_0000), Some(0x30_0000)).unwrap();
        assert_eq!(placement.dtb.start(), 0x4400_0000 - 0x60_0000);
        assert_eq!(placement.initrd.unwrap().start(), 0x4400_0000 - 0x40_0000);
        assert_disjoint(&placement);
    }

    #[test]
    fn a_kernel_reaching_past_128_mib_pushes_modules_to_the_top() {
        let placement = place(bank(0x1000_0000), &kernel(0, 0x900_0000), None).unwrap();
        assert_eq!(placement.dtb.start(), 0x5000_0000 - MAX_DTB_SIZE);
        assert_eq!(placement.initrd, None);
        assert_disjoint(&placement);
    }

    #[test]
    fn text_offset_shifts_the_kernel_but_not_its_base() {
        let placement = place(bank(0x1000_0000), &kernel(0x8_0000, 0x10_0000), None).unwrap();
        assert_eq!(placement.kernel.start(), 0x4008_0000);
        assert_eq!(placement.dtb.start(), 0x4800_0000);
    }

    #[test]
    fn an_exact_fit_uses_the_whole_bank() {
        let placement = place(bank(0x60_0000), &kernel(0, 0x20_0000), Some(0x20_0000)).unwrap();
        assert_eq!(placement.dtb.start(), 0x4020_0000);
        assert_eq!(placement.initrd.unwrap().end(), 0x4060_0000);
    }

    #[test]
    fn oversized_modules_are_refused() {
        assert_eq!(
            place(bank(0x400_0000), &kernel(0, 0x300_0000), Some(0x100_0000)),
            Err(PlacementError::TooBig {
                needed: 0x420_0000,
                available: 0x400_0000
            })
        );
        let odd = AddressRange::new(RAM0_BASE + 0x1000, 0x1000_0000).unwrap();
        assert_eq!(
            place(odd, &kernel(0, 0x1000), None),
            Err(PlacementError::UnalignedBank { bank: odd })
        );
        assert_eq!(
            place(bank(0x1000_0000), &kernel(0, u64::MAX - 0x1000), None),
            Err(PlacementError::TooBig {
                needed: u64::MAX,
                available: 0x1000_0000
            })
        );
    }
}
