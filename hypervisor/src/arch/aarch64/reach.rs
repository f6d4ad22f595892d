//! Which host memory the hypervisor's safe memory accessor (`memory::El2Memory`) may touch:
//! RAM, never the hypervisor's own memory, and for writes only the ranges given to it (the
//! partitions' banks). Pure data, tested on the host.

use alloc::vec::Vec;
use core::fmt;

/// `(start, size)` of a host physical range.
pub type Range = (u64, u64);

/// Why an access was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The range is not inside one RAM bank, or its end passes 2^64.
    OutsideRam { address: u64, size: u64 },
    /// The range touches the hypervisor's own memory (its image with stacks, heap and EL2
    /// tables, or the host device tree).
    Hypervisor { address: u64, size: u64, hypervisor: Range },
    /// A write outside every range writes were allowed to (the partitions' banks).
    NotWritable { address: u64, size: u64 },
}

impl Refused {
    /// The range that was asked for.
    pub const fn range(&self) -> Range {
        match *self {
            Self::OutsideRam { address, size } | Self::Hypervisor { address, size, .. } | Self::NotWritable { address, size } => (address, size),
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::OutsideRam { address, size } => write!(f, "{size:#x} bytes at {address:#x} are not inside one RAM bank"),
            Self::Hypervisor { address, size, hypervisor: (start, length) } => write!(
                f,
                "{size:#x} bytes at {address:#x} overlap the hypervisor's own memory at {start:#x} ({length:#x} bytes)"
            ),
            Self::NotWritable { address, size } => {
                write!(f, "{size:#x} bytes at {address:#x} are not inside a partition's memory, the only memory the hypervisor writes for guests")
            }
        }
    }
}

fn end(range: Range) -> Option<u64> {
    range.0.checked_add(range.1)
}

/// `outer` contains all of `inner` (both with ends below 2^64).
fn contains(outer: Range, inner: Range) -> bool {
    matches!((end(outer), end(inner)), (Some(outer_end), Some(inner_end)) if outer.0 <= inner.0 && inner_end <= outer_end)
}

/// The two ranges share a byte (empty ranges share none).
fn overlaps(a: Range, b: Range) -> bool {
    let a_end = end(a).unwrap_or(u64::MAX);
    let b_end = end(b).unwrap_or(u64::MAX);
    a.1 != 0 && b.1 != 0 && a.0 < b_end && b.0 < a_end
}

/// What may be read and written.
#[derive(Clone, Debug, Default)]
pub struct Reach {
    ram: Vec<Range>,
    hypervisor: Vec<Range>,
    writable: Vec<Range>,
}

impl Reach {
    /// RAM banks, and the hypervisor's own ranges inside them (never reachable). Nothing is
    /// writable until [`Reach::allow_writes`].
    pub const fn new(ram: Vec<Range>, hypervisor: Vec<Range>) -> Self {
        Self { ram, hypervisor, writable: Vec::new() }
    }

    /// Lets writes reach `range` (a partition's bank); refused if reads could not.
    pub fn allow_writes(&mut self, range: Range) -> Result<(), Refused> {
        self.readable(range.0, range.1)?;
        self.writable.push(range);
        Ok(())
    }

    /// Whether `size` bytes at `address` lie inside one RAM bank (the hypervisor's own memory
    /// included); never for an empty range or one whose end passes 2^64.
    pub fn in_ram(&self, address: u64, size: u64) -> bool {
        size != 0 && self.ram.iter().any(|&bank| contains(bank, (address, size)))
    }

    /// Whether `size` bytes at `address` may be read: inside one RAM bank, outside the
    /// hypervisor. An empty access is always allowed (it touches nothing).
    pub fn readable(&self, address: u64, size: u64) -> Result<(), Refused> {
        let range = (address, size);
        if end(range).is_none() {
            return Err(Refused::OutsideRam { address, size });
        }
        if size == 0 {
            return Ok(());
        }
        if !self.ram.iter().any(|&bank| contains(bank, range)) {
            return Err(Refused::OutsideRam { address, size });
        }
        match self.hypervisor.iter().find(|&&h| overlaps(h, range)) {
            Some(&hypervisor) => Err(Refused::Hypervisor { address, size, hypervisor }),
            None => Ok(()),
        }
    }

    /// Whether `size` bytes at `address` may be written: readable, and inside one range
    /// writes were allowed to.
    pub fn writable(&self, address: u64, size: u64) -> Result<(), Refused> {
        self.readable(address, size)?;
        if size == 0 || self.writable.iter().any(|&w| contains(w, (address, size))) {
            Ok(())
        } else {
            Err(Refused::NotWritable { address, size })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const RAM: Range = (0x4000_0000, 0x4000_0000);
    const IMAGE: Range = (0x4020_0000, 0x80_0000);
    const DTB: Range = (0x4800_0000, 0x10_0000);
    const BANK: Range = (0x5000_0000, 0x1000_0000);

    fn reach() -> Reach {
        let mut reach = Reach::new(vec![RAM], vec![IMAGE, DTB]);
        reach.allow_writes(BANK).unwrap();
        reach
    }

    #[test]
    fn a_partition_bank_is_readable_and_writable() {
        let r = reach();
        assert_eq!(r.writable(BANK.0, BANK.1), Ok(()));
        assert_eq!(r.readable(BANK.0 + 0x100, 8), Ok(()));
    }

    #[test]
    fn the_image_its_stacks_and_heap_are_refused_for_reads_and_writes() {
        let r = reach();
        for address in [IMAGE.0, IMAGE.0 + 0x40_0000, IMAGE.0 + IMAGE.1 - 1] {
            let refused = Refused::Hypervisor { address, size: 1, hypervisor: IMAGE };
            assert_eq!(r.readable(address, 1), Err(refused));
            assert_eq!(r.writable(address, 1), Err(refused));
        }
        // A range that only straddles the image's first byte.
        assert!(matches!(r.readable(IMAGE.0 - 8, 16), Err(Refused::Hypervisor { .. })));
        assert_eq!(r.readable(IMAGE.0 - 8, 8), Ok(()));
    }

    #[test]
    fn the_host_device_tree_is_refused() {
        assert!(matches!(reach().readable(DTB.0 + 4, 4), Err(Refused::Hypervisor { hypervisor: DTB, .. })));
    }

    #[test]
    fn writes_are_refused_outside_the_allowed_banks() {
        let r = reach();
        // Readable RAM (a boot module, say), but no partition's bank.
        assert_eq!(r.readable(0x4900_0000, 16), Ok(()));
        assert_eq!(r.writable(0x4900_0000, 16), Err(Refused::NotWritable { address: 0x4900_0000, size: 16 }));
        // Straddling the end of the bank.
        assert!(matches!(r.writable(BANK.0 + BANK.1 - 4, 8), Err(Refused::NotWritable { .. })));
    }

    #[test]
    fn outside_ram_and_overflowing_ranges_are_refused() {
        let r = reach();
        assert_eq!(r.readable(0x1000, 4), Err(Refused::OutsideRam { address: 0x1000, size: 4 }));
        assert_eq!(r.readable(u64::MAX - 3, 8), Err(Refused::OutsideRam { address: u64::MAX - 3, size: 8 }));
        assert_eq!(r.readable(RAM.0 + RAM.1 - 4, 8), Err(Refused::OutsideRam { address: RAM.0 + RAM.1 - 4, size: 8 }));
    }

    #[test]
    fn in_ram_is_inside_one_bank_whoever_uses_it() {
        let r = reach();
        assert!(r.in_ram(IMAGE.0, IMAGE.1), "the hypervisor's own memory is RAM too");
        assert!(r.in_ram(RAM.0, RAM.1));
        assert!(!r.in_ram(RAM.0 + RAM.1 - 4, 8), "past the bank's end");
        assert!(!r.in_ram(0x1000, 0x1000));
        assert!(!r.in_ram(RAM.0, 0), "an empty range");
        assert!(!r.in_ram(u64::MAX - 3, 8));
    }

    #[test]
    fn empty_accesses_touch_nothing() {
        let r = reach();
        assert_eq!(r.writable(IMAGE.0, 0), Ok(()));
        assert_eq!(r.readable(0, 0), Ok(()));
    }

    #[test]
    fn writes_cannot_be_allowed_over_the_hypervisor() {
        let mut r = reach();
        assert!(matches!(r.allow_writes((IMAGE.0 - 0x1000, 0x2000)), Err(Refused::Hypervisor { .. })));
        assert!(matches!(r.writable(IMAGE.0, 4), Err(Refused::Hypervisor { .. })));
    }
}
