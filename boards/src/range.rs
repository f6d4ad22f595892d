//! Physical and intermediate-physical address ranges, with overflow-checked arithmetic: the one
//! range type of the hypervisor and the board data (the lowest crate that needs it).

use core::fmt;

/// Test alignments: a 4 KiB page, 2 MiB and 1 GiB blocks.
#[cfg(test)]
const PAGE_SIZE: u64 = 0x1000;
#[cfg(test)]
const BLOCK_2M: u64 = 0x20_0000;
#[cfg(test)]
const BLOCK_1G: u64 = 0x4000_0000;

/// A half-open range of addresses `[start, start + size)` whose end fits in a `u64`.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, Ord, PartialOrd, Hash)]
pub struct AddressRange {
    start: u64,
    size: u64,
}

impl AddressRange {
    /// Returns the range `[start, start + size)`, or `None` when its end would overflow.
    pub const fn new(start: u64, size: u64) -> Option<Self> {
        match start.checked_add(size) {
            Some(_) => Some(Self { start, size }),
            None => None,
        }
    }

    /// Returns the range `[start, end)`, or `None` when `end < start`.
    pub const fn from_bounds(start: u64, end: u64) -> Option<Self> {
        if end < start {
            None
        } else {
            Some(Self {
                start,
                size: end - start,
            })
        }
    }

    /// The first address in the range.
    pub const fn start(&self) -> u64 {
        self.start
    }

    /// The number of bytes in the range.
    pub const fn size(&self) -> u64 {
        self.size
    }

    /// The first address after the range (cannot overflow: checked at construction).
    pub const fn end(&self) -> u64 {
        self.start + self.size
    }

    /// Whether the range holds no bytes.
    pub const fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Whether `address` lies inside the range.
    pub const fn contains(&self, address: u64) -> bool {
        address >= self.start && address < self.end()
    }

    /// Whether `other` lies entirely inside this range (an empty `other` must start inside it).
    pub const fn contains_range(&self, other: &Self) -> bool {
        other.start >= self.start && other.end() <= self.end()
    }

    /// Whether the two ranges share at least one byte.
    pub const fn overlaps(&self, other: &Self) -> bool {
        !self.is_empty()
            && !other.is_empty()
            && self.start < other.end()
            && other.start < self.end()
    }

    /// Whether both ends are multiples of `alignment` (a power of two).
    pub const fn is_aligned(&self, alignment: u64) -> bool {
        self.start.is_multiple_of(alignment) && self.size.is_multiple_of(alignment)
    }

    /// The largest range inside this one whose ends are multiples of `alignment`.
    pub fn shrink_to(&self, alignment: u64) -> Self {
        let start = align_up(self.start, alignment).unwrap_or(u64::MAX);
        let end = align_down(self.end(), alignment);
        Self::from_bounds(start, end).unwrap_or(Self {
            start: self.start,
            size: 0,
        })
    }

    /// The smallest range containing this one whose ends are multiples of `alignment`, or `None`
    /// when it would pass the end of the address space.
    pub fn grow_to(&self, alignment: u64) -> Option<Self> {
        let start = align_down(self.start, alignment);
        let end = align_up(self.end(), alignment)?;
        Self::from_bounds(start, end)
    }
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}, {:#x})", self.start, self.end())
    }
}

/// Rounds `value` up to a multiple of `alignment` (a power of two); `None` on overflow.
pub const fn align_up(value: u64, alignment: u64) -> Option<u64> {
    match value.checked_add(alignment - 1) {
        Some(sum) => Some(sum & !(alignment - 1)),
        None => None,
    }
}

/// Rounds `value` down to a multiple of `alignment` (a power of two).
pub const fn align_down(value: u64, alignment: u64) -> u64 {
    value & !(alignment - 1)
}

impl AddressRange {
    /// `[start, end)` for board data, checked when the constant is built: a backwards window
    /// fails the build (never use it on values read at run time).
    pub const fn window(start: u64, end: u64) -> Self {
        match Self::from_bounds(start, end) {
            Some(range) => range,
            None => panic!("a board window must not end before it starts"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn construction_rejects_overflow_and_backwards_ranges() {
        assert_eq!(AddressRange::new(u64::MAX, 2), None);
        assert_eq!(AddressRange::from_bounds(0x2000, 0x1000), None);
        let range = AddressRange::new(0x1000, 0x3000).unwrap();
        assert_eq!(range.end(), 0x4000);
        assert_eq!(range.to_string(), "[0x1000, 0x4000)");
    }

    #[test]
    fn overlap_is_half_open_and_ignores_empty_ranges() {
        let a = AddressRange::new(0x1000, 0x1000).unwrap();
        let touching = AddressRange::new(0x2000, 0x1000).unwrap();
        let inside = AddressRange::new(0x1800, 0x10).unwrap();
        let empty = AddressRange::new(0x1800, 0).unwrap();
        assert!(!a.overlaps(&touching));
        assert!(a.overlaps(&inside) && inside.overlaps(&a));
        assert!(!a.overlaps(&empty));
        assert!(a.contains_range(&inside));
        assert!(!a.contains_range(&touching));
        assert!(a.contains(0x1fff) && !a.contains(0x2000));
    }

    #[test]
    fn shrink_and_grow_align_both_ends() {
        let range = AddressRange::from_bounds(0x1234, 0x5_6789).unwrap();
        assert_eq!(
            range.shrink_to(PAGE_SIZE),
            AddressRange::from_bounds(0x2000, 0x5_6000).unwrap()
        );
        assert_eq!(
            range.grow_to(PAGE_SIZE),
            AddressRange::from_bounds(0x1000, 0x5_7000)
        );
        let small = AddressRange::new(0x1100, 0x100).unwrap();
        assert!(small.shrink_to(PAGE_SIZE).is_empty());
        assert_eq!(
            AddressRange::new(u64::MAX - 10, 5)
                .unwrap()
                .grow_to(PAGE_SIZE),
            None
        );
        assert_eq!(align_up(0x20_0001, BLOCK_2M), Some(0x40_0000));
        assert_eq!(align_up(u64::MAX, PAGE_SIZE), None);
        assert_eq!(align_down(0x7fff_ffff, BLOCK_1G), 0x4000_0000);
    }
}
