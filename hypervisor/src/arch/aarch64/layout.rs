//! Where things are at EL2: the image's layout and the plan of the EL2 identity map.
//! Pure data and arithmetic, tested on the host.

use alloc::vec::Vec;
use boards::AddressRange;

/// Where the image sits in memory, as loaded (the image is identity mapped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageLayout {
    pub start: u64,
    pub text_end: u64,
    pub rodata_end: u64,
    pub end: u64,
}

impl ImageLayout {
    pub const fn range(&self) -> Option<AddressRange> {
        AddressRange::from_bounds(self.start, self.end)
    }
}

/// How a region is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Hypervisor code: read-only, executable.
    Text,
    /// Hypervisor constants: read-only.
    ReadOnly,
    /// Memory the hypervisor uses: Normal write-back, read-write, never executable.
    ReadWrite,
    /// RAM the hypervisor does not use yet, with the boot scrub on (`RamMapping::NonCacheable`):
    /// Normal Non-cacheable, read-write, never executable, until it is switched to write-back
    /// (`mmu::make_cacheable`) for the hypervisor's own use or for a partition after its first
    /// load. No cache can hold a line of it meanwhile: nothing maps it cacheable
    /// (ARCHITECTURE.md, EL2 memory).
    Uncached,
    /// Device registers.
    Device,
    /// Not mapped: a stack's guard page.
    Guard,
}

/// How the EL2 map has RAM outside the hypervisor's own memory from the MMU's start, chosen
/// by the config before the MMU goes on (`/chosen` `bulkhead,boot-scrub`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RamMapping {
    /// Normal Non-cacheable (`Kind::Uncached`), switched to write-back range by range as its
    /// use becomes known: a first load zeroes the banks through it and needs no clean.
    NonCacheable,
    /// Normal write-back (`Kind::ReadWrite`) for good: with the boot scrub off nothing zeroes
    /// RAM, the loader cleans what it copies, and no range is ever switched.
    WriteBack,
}

impl RamMapping {
    /// The mapping for a config that scrubs each partition's first load (`scrub`) or not.
    pub const fn for_boot_scrub(scrub: bool) -> Self {
        if scrub { Self::NonCacheable } else { Self::WriteBack }
    }

    const fn kind(self) -> Kind {
        match self {
            Self::NonCacheable => Kind::Uncached,
            Self::WriteBack => Kind::ReadWrite,
        }
    }
}

/// One region of the EL2 map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub range: AddressRange,
    pub kind: Kind,
}

/// The regions of the EL2 map, in the order they must be applied (later ones refine earlier
/// ones): device windows, RAM as `ram_mapping` says (Non-cacheable or write-back), the RAM
/// the hypervisor uses from the start besides its image (`cacheable`: the host device tree)
/// as write-back, then the image (write-back) with its text and read-only data, and last the
/// stacks' guard pages, left unmapped.
pub fn plan(
    mmio: &[AddressRange],
    ram: &[AddressRange],
    ram_mapping: RamMapping,
    cacheable: &[AddressRange],
    image: &ImageLayout,
    guards: &[AddressRange],
) -> Vec<Region> {
    let mut regions = Vec::new();
    regions.extend(mmio.iter().map(|&range| Region { range, kind: Kind::Device }));
    regions.extend(ram.iter().map(|&range| Region { range, kind: ram_mapping.kind() }));
    regions.extend(cacheable.iter().map(|&range| Region { range, kind: Kind::ReadWrite }));
    // The image is in RAM, but map it on its own in case a bank does not cover all of it.
    for (start, end, kind) in [
        (image.start, image.end, Kind::ReadWrite),
        (image.start, image.text_end, Kind::Text),
        (image.text_end, image.rodata_end, Kind::ReadOnly),
    ] {
        // The linker script orders these symbols; a backwards pair maps nothing.
        if let Some(range) = AddressRange::from_bounds(start, end) {
            regions.push(Region { range, kind });
        }
    }
    regions.extend(guards.iter().map(|&range| Region { range, kind: Kind::Guard }));
    regions
}

/// A 2 MiB block of the EL2 map.
const BLOCK_2M: u64 = 0x20_0000;

/// What to switch to write-back in the EL2 map for `range`, RAM the hypervisor takes for its
/// own use: the 2 MiB blocks around it when they lie inside one RAM window and hold nothing of
/// `keep_out` (the hypervisor's image and host tree, the partitions' banks), so that no block
/// mapping has to be split into pages (a split writes 1,024 descriptors); else its pages.
/// `None` if its end overflows.
pub fn cacheable_span(range: AddressRange, ram: &[AddressRange], keep_out: &[AddressRange]) -> Option<AddressRange> {
    let blocks = range.grow_to(BLOCK_2M).filter(|b| ram.iter().any(|r| r.contains_range(b)) && !keep_out.iter().any(|k| k.overlaps(b)));
    blocks.or_else(|| range.grow_to(4096))
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE: ImageLayout = ImageLayout { start: 0x4020_0000, text_end: 0x4021_0000, rodata_end: 0x4021_8000, end: 0x4040_0000 };

    #[test]
    fn image_parts_refine_ram_and_come_last() {
        let guard = AddressRange::window(0x4030_0000, 0x4030_1000);
        let dtb = AddressRange::window(0x4000_0000, 0x4010_0000);
        let plan = plan(&[AddressRange::window(0, 0x4000_0000)], &[AddressRange::window(0x4000_0000, 0xc000_0000)], RamMapping::NonCacheable, &[dtb], &IMAGE, &[guard]);
        let kinds: Vec<Kind> = plan.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [Kind::Device, Kind::Uncached, Kind::ReadWrite, Kind::ReadWrite, Kind::Text, Kind::ReadOnly, Kind::Guard]);
        assert_eq!(plan[2].range, dtb, "the host tree is write-back from the start");
        assert_eq!(plan[6].range, guard, "the guard pages come last: nothing maps them again");
        assert_eq!(plan[4].range, AddressRange::window(0x4020_0000, 0x4021_0000));
        assert_eq!(plan[5].range, AddressRange::window(0x4021_0000, 0x4021_8000));
    }

    #[test]
    fn ram_is_non_cacheable_but_where_the_hypervisor_lives() {
        let ram = AddressRange::window(0x4000_0000, 0xc000_0000);
        let plan = plan(&[], &[ram], RamMapping::NonCacheable, &[], &IMAGE, &[]);
        assert_eq!(plan[0], Region { range: ram, kind: Kind::Uncached });
        assert!(plan[1..].iter().all(|r| r.kind != Kind::Uncached), "everything after RAM refines it as the hypervisor's");
        assert_eq!(plan[1], Region { range: AddressRange::window(IMAGE.start, IMAGE.end), kind: Kind::ReadWrite });
    }

    #[test]
    fn with_the_boot_scrub_off_ram_is_write_back_and_nothing_is_non_cacheable() {
        assert_eq!(RamMapping::for_boot_scrub(true), RamMapping::NonCacheable);
        assert_eq!(RamMapping::for_boot_scrub(false), RamMapping::WriteBack);
        let ram = AddressRange::window(0x4000_0000, 0xc000_0000);
        let plan = plan(&[], &[ram], RamMapping::WriteBack, &[], &IMAGE, &[]);
        assert_eq!(plan[0], Region { range: ram, kind: Kind::ReadWrite });
        assert!(plan.iter().all(|r| r.kind != Kind::Uncached));
        // The image still refines it: its text read-only executable.
        assert!(plan.iter().any(|r| r.kind == Kind::Text && r.range == AddressRange::window(IMAGE.start, IMAGE.text_end)));
    }

    #[test]
    fn a_cacheable_span_takes_whole_blocks_where_nothing_else_lies() {
        let ram = [AddressRange::window(0x4000_0000, 0xc000_0000)];
        let module = AddressRange::window(0x4820_0000, 0x4820_a8c0);
        let bank = AddressRange::window(0x4850_2000, 0x6860_0000);
        let image = AddressRange::window(IMAGE.start, IMAGE.end);
        assert_eq!(cacheable_span(module, &ram, &[image, bank]), Some(AddressRange::window(0x4820_0000, 0x4840_0000)));
        // A bank in the block: its pages only, so the bank stays Non-cacheable until loaded.
        let near = AddressRange::window(0x4850_0000, 0x4850_1000);
        assert_eq!(cacheable_span(near, &ram, &[image, bank]), Some(near));
        // Beside the image: pages, never the image's own mappings.
        let after_image = AddressRange::window(0x4040_0000 - 0x800, 0x4040_0000);
        assert_eq!(cacheable_span(after_image, &ram, &[image]), Some(AddressRange::window(0x403f_f000, 0x4040_0000)));
        // Past the end of RAM's last block: pages.
        let end = AddressRange::window(0xbff0_0000, 0xbff0_0100);
        assert_eq!(cacheable_span(end, &[AddressRange::window(0x4000_0000, 0xbff8_0000)], &[]), Some(AddressRange::window(0xbff0_0000, 0xbff0_1000)));
    }

    #[test]
    fn no_device_region_overlaps_ram_or_the_image() {
        for board in boards::ALL {
            let ram = [board.ram_windows[0]];
            let image = ImageLayout { start: ram[0].start() + 0x20_0000, text_end: ram[0].start() + 0x21_0000, rodata_end: ram[0].start() + 0x22_0000, end: ram[0].start() + 0x40_0000 };
            let plan = plan(board.mmio_windows, &ram, RamMapping::NonCacheable, &[], &image, &[]);
            for d in plan.iter().filter(|r| r.kind == Kind::Device) {
                for r in plan.iter().filter(|r| r.kind != Kind::Device) {
                    assert!(!d.range.overlaps(&r.range), "{}: {:x?} overlaps {:x?}", board.name, d, r);
                }
            }
        }
    }

    #[test]
    fn everything_fits_in_the_39_bit_identity_map() {
        for board in boards::ALL {
            for w in board.ram_windows.iter().chain(board.mmio_windows) {
                assert!(w.end() <= 1 << 39, "{}: {:x?}", board.name, w);
            }
        }
    }
}
