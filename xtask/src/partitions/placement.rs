//! Where boot modules go in host RAM: clear of the hypervisor, the device tree QEMU loads,
//! static memory and each other; and the QEMU arguments that load them there.

use std::path::Path;

use dom0less_config::devicetree::AddressRange;

/// Modules start on 2 MiB boundaries, like Xen's ImageBuilder places them.
pub const MODULE_ALIGN: u64 = 2 << 20;
/// QEMU loads an arm64 Image whose `text_offset` is 0 at RAM + 2 MiB (virt 0x40200000,
/// raspi4b 0x200000, as QEMU's `info roms` shows).
pub const IMAGE_OFFSET: u64 = 2 << 20;
/// QEMU puts the device tree at RAM + 128 MiB when no initrd is given and the RAM holds at
/// least 256 MiB (it places the initrd at RAM + min(RAM / 2, 128 MiB), the tree after it).
pub const DTB_OFFSET: u64 = 128 << 20;
/// Room kept for that device tree: virt's is 1 MiB, rounded up to a module boundary.
pub const DTB_ROOM: u64 = 2 << 20;
/// The arm64 Image header's `image_size` field: bytes from the load address the image
/// may use, bss included (Linux `Documentation/arch/arm64/booting.rst`).
const IMAGE_SIZE_OFFSET: usize = 16;

/// What modules must not overlap on a board, and where placing them starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostLayout {
    /// The hypervisor image as loaded, bss included.
    pub hypervisor: AddressRange,
    /// The device tree QEMU loads.
    pub dtb: AddressRange,
    /// The first address tried for modules.
    pub module_base: u64,
}

impl HostLayout {
    /// The layout for RAM starting at `ram_start` and a hypervisor using `image_size` bytes;
    /// `None` when either range would wrap past 2^64.
    pub fn new(ram_start: u64, image_size: u64) -> Option<Self> {
        let dtb = AddressRange::new(ram_start.checked_add(DTB_OFFSET)?, DTB_ROOM)?;
        Some(HostLayout {
            hypervisor: AddressRange::new(ram_start.checked_add(IMAGE_OFFSET)?, image_size)?,
            module_base: dtb.end(),
            dtb,
        })
    }

    /// The ranges no module may touch.
    pub fn fixed(&self) -> [AddressRange; 2] {
        [self.hypervisor, self.dtb]
    }
}

/// The `image_size` of an arm64 Image header, or `None` for a file too short to have one.
pub fn image_size(image: &[u8]) -> Option<u64> {
    let field = image.get(IMAGE_SIZE_OFFSET..IMAGE_SIZE_OFFSET + 8)?;
    Some(u64::from_le_bytes(field.try_into().ok()?))
}

/// Places modules one after the other, each at the lowest aligned address at or above the
/// base that overlaps nothing taken and stays below the end of RAM.
#[derive(Clone, Debug)]
pub struct Placer {
    next: u64,
    ram_end: u64,
    taken: Vec<AddressRange>,
}

/// `value` rounded up to a multiple of `align` (a power of two), `None` on overflow.
fn align_up(value: u64, align: u64) -> Option<u64> {
    Some(value.checked_add(align - 1)? & !(align - 1))
}

impl Placer {
    /// A placer starting at `base`, ending at `ram_end`, avoiding `taken`.
    pub fn new(base: u64, ram_end: u64, taken: Vec<AddressRange>) -> Self {
        Placer {
            next: base,
            ram_end,
            taken,
        }
    }

    /// Takes `size` bytes; `None` when RAM is full.
    pub fn place(&mut self, size: u64) -> Option<AddressRange> {
        let mut start = align_up(self.next, MODULE_ALIGN)?;
        loop {
            let candidate = AddressRange::new(start, size.max(1))?;
            if candidate.end() > self.ram_end {
                return None;
            }
            match self.taken.iter().find(|t| t.overlaps(&candidate)) {
                Some(blocker) => start = align_up(blocker.end(), MODULE_ALIGN)?,
                None => {
                    let placed = AddressRange::new(start, size)?;
                    self.taken.push(placed);
                    self.next = placed.end();
                    return Some(placed);
                }
            }
        }
    }
}

/// The QEMU arguments that load `file` at `address` as raw bytes.
pub fn loader_args(file: &Path, address: u64) -> [String; 2] {
    [
        "-device".to_string(),
        format!(
            "loader,file={},addr={address:#x},force-raw=on",
            file.display()
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn virt_and_raspi4b_layouts_match_what_qemu_loads() {
        let virt = HostLayout::new(0x4000_0000, 6 * MIB).expect("fits");
        assert_eq!(
            Some(virt.hypervisor),
            AddressRange::new(0x4020_0000, 6 * MIB)
        );
        assert_eq!(Some(virt.dtb), AddressRange::new(0x4800_0000, 2 * MIB));
        assert_eq!(virt.module_base, 0x4820_0000);
        let pi = HostLayout::new(0, 6 * MIB).expect("fits");
        assert_eq!(pi.hypervisor.start(), 0x20_0000);
        assert_eq!(pi.dtb.start(), 0x800_0000);
        assert_eq!(
            HostLayout::new(0, u64::MAX),
            None,
            "an image_size that wraps"
        );
    }

    #[test]
    fn modules_are_aligned_packed_and_skip_taken_ranges() {
        let taken = AddressRange::new(0x4880_0000, 64 * MIB)
            .into_iter()
            .collect();
        let mut placer = Placer::new(0x4820_0000, 0x8000_0000, taken);
        assert_eq!(
            placer.place(0x1e000),
            AddressRange::new(0x4820_0000, 0x1e000)
        );
        assert_eq!(
            placer.place(3 * MIB),
            AddressRange::new(0x4840_0000, 3 * MIB),
            "the next 2 MiB boundary after the first module"
        );
        assert_eq!(
            placer.place(MIB),
            AddressRange::new(0x4c80_0000, MIB),
            "after the static memory the previous one would overlap"
        );
    }

    #[test]
    fn an_unaligned_taken_range_pushes_to_the_next_boundary() {
        let taken = AddressRange::new(0x100, 0x1000).into_iter().collect();
        let mut placer = Placer::new(0, 16 * MIB, taken);
        assert_eq!(placer.place(MIB), AddressRange::new(2 * MIB, MIB));
    }

    #[test]
    fn full_ram_and_overflow_give_none() {
        let mut placer = Placer::new(0x4820_0000, 0x4840_0000, Vec::new());
        assert!(placer.place(2 * MIB).is_some());
        assert_eq!(placer.place(1), None);
        let mut top = Placer::new(u64::MAX - MIB, u64::MAX, Vec::new());
        assert_eq!(top.place(1), None);
    }

    #[test]
    fn image_size_is_read_from_the_header() {
        let mut header = vec![0u8; 64];
        header[16..24].copy_from_slice(&0x60_0000u64.to_le_bytes());
        assert_eq!(image_size(&header), Some(0x60_0000));
        assert_eq!(image_size(&header[..20]), None);
    }

    #[test]
    fn loader_arguments_load_raw_bytes() {
        assert_eq!(
            loader_args(Path::new("guests/hello.bin"), 0x4820_0000),
            [
                "-device",
                "loader,file=guests/hello.bin,addr=0x48200000,force-raw=on"
            ]
        );
    }
}
