//! Host frame allocator: hands out page-aligned ranges of host RAM that the hypervisor, the boot
//! modules and reserved regions do not use, 2 MiB aligned where possible for block mappings.

use core::fmt;

use super::range::{align_up, AddressRange, BLOCK_1G, BLOCK_2M, PAGE_SIZE};

/// Why the frame allocator refused a request.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum FrameError {
    /// More disjoint free ranges are needed than the allocator's fixed capacity holds.
    TooManyRanges {
        /// The capacity (number of free ranges) of the allocator.
        capacity: usize,
    },
    /// Two host RAM ranges given at construction overlap.
    OverlappingRam {
        /// The first range.
        first: AddressRange,
        /// The range overlapping it.
        second: AddressRange,
    },
    /// A size of zero, or one that overflows when rounded to pages, was requested.
    InvalidSize {
        /// The requested size in bytes.
        size: u64,
    },
    /// An alignment that is not a power of two of at least 4 KiB was requested.
    InvalidAlignment {
        /// The requested alignment.
        alignment: u64,
    },
    /// No free range can hold the request.
    OutOfMemory {
        /// The requested size in bytes (rounded to pages).
        size: u64,
        /// The alignment that was required.
        alignment: u64,
    },
    /// A fixed range (static memory, or one given back) is not page aligned.
    Unaligned {
        /// The offending range.
        range: AddressRange,
    },
    /// A fixed range asked for is not entirely free.
    NotFree {
        /// The range asked for.
        range: AddressRange,
    },
    /// A range given back overlaps memory that is already free.
    DoubleFree {
        /// The range given back.
        range: AddressRange,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManyRanges { capacity } => {
                write!(
                    f,
                    "host memory is split into more than {capacity} free ranges"
                )
            }
            Self::OverlappingRam { first, second } => {
                write!(f, "host RAM range {first} overlaps {second}")
            }
            Self::InvalidSize { size } => write!(f, "cannot allocate {size:#x} bytes"),
            Self::InvalidAlignment { alignment } => {
                write!(
                    f,
                    "alignment {alignment:#x} is not a power of two of at least 4 KiB"
                )
            }
            Self::OutOfMemory { size, alignment } => write!(
                f,
                "no free host memory for {size:#x} bytes aligned to {alignment:#x}"
            ),
            Self::Unaligned { range } => write!(f, "range {range} is not 4 KiB aligned"),
            Self::NotFree { range } => write!(f, "host memory {range} is not free"),
            Self::DoubleFree { range } => write!(f, "host memory {range} was already free"),
        }
    }
}

/// A first-fit allocator over at most `N` disjoint free ranges of host RAM, kept sorted.
#[derive(Clone, Debug)]
pub struct FrameAllocator<const N: usize> {
    free: [AddressRange; N],
    count: usize,
}

impl<const N: usize> FrameAllocator<N> {
    /// Builds the allocator over `ram` minus every range in `excluded` (the hypervisor image, boot
    /// modules, the device tree, reserved memory). RAM is shrunk and exclusions grown to 4 KiB.
    pub fn new(ram: &[AddressRange], excluded: &[AddressRange]) -> Result<Self, FrameError> {
        let mut allocator = Self {
            free: [AddressRange::default(); N],
            count: 0,
        };
        for (index, first) in ram.iter().enumerate() {
            if let Some(second) = ram[index + 1..].iter().find(|other| other.overlaps(first)) {
                return Err(FrameError::OverlappingRam {
                    first: *first,
                    second: *second,
                });
            }
            let usable = first.shrink_to(PAGE_SIZE);
            if !usable.is_empty() {
                allocator.insert(usable)?;
            }
        }
        for range in excluded {
            // An exclusion reaching the end of the address space covers the last page anyway.
            let grown = range.grow_to(PAGE_SIZE).unwrap_or_else(|| {
                AddressRange::from_bounds(range.start() & !(PAGE_SIZE - 1), !(PAGE_SIZE - 1))
                    .unwrap_or_default()
            });
            allocator.remove_overlapping(grown)?;
        }
        Ok(allocator)
    }

    /// The free ranges, sorted by address.
    pub fn free_ranges(&self) -> &[AddressRange] {
        &self.free[..self.count]
    }

    /// The largest free range, if any (the first of equal ones).
    pub fn largest_free(&self) -> Option<AddressRange> {
        self.free_ranges().iter().copied().reduce(|best, range| if range.size() > best.size() { range } else { best })
    }

    /// The number of free bytes.
    pub fn free_bytes(&self) -> u64 {
        self.free_ranges().iter().map(AddressRange::size).sum()
    }

    /// Allocates `size` bytes (rounded up to pages), preferring the largest block alignment the
    /// size can use (1 GiB, then 2 MiB), so stage-2 can map it with blocks; falls back to 4 KiB.
    pub fn allocate(&mut self, size: u64) -> Result<AddressRange, FrameError> {
        let rounded = align_up(size, PAGE_SIZE).filter(|rounded| *rounded != 0);
        let size = rounded.ok_or(FrameError::InvalidSize { size })?;
        for alignment in [BLOCK_1G, BLOCK_2M] {
            if size >= alignment {
                if let Ok(range) = self.allocate_aligned(size, alignment) {
                    return Ok(range);
                }
            }
        }
        self.allocate_aligned(size, PAGE_SIZE)
    }

    /// Allocates `size` bytes (rounded up to pages) starting at a multiple of `alignment`.
    pub fn allocate_aligned(
        &mut self,
        size: u64,
        alignment: u64,
    ) -> Result<AddressRange, FrameError> {
        if !alignment.is_power_of_two() || alignment < PAGE_SIZE {
            return Err(FrameError::InvalidAlignment { alignment });
        }
        let rounded = align_up(size, PAGE_SIZE).filter(|rounded| *rounded != 0);
        let size = rounded.ok_or(FrameError::InvalidSize { size })?;
        let found = self.free_ranges().iter().find_map(|free| {
            let start = align_up(free.start(), alignment)?;
            let candidate = AddressRange::new(start, size)?;
            free.contains_range(&candidate).then_some(candidate)
        });
        let range = found.ok_or(FrameError::OutOfMemory { size, alignment })?;
        self.remove_overlapping(range)?;
        Ok(range)
    }

    /// Takes exactly `range` (for `xen,static-mem`): it must be page aligned and entirely free.
    pub fn claim(&mut self, range: AddressRange) -> Result<(), FrameError> {
        if !range.is_aligned(PAGE_SIZE) || range.is_empty() {
            return Err(FrameError::Unaligned { range });
        }
        if !self
            .free_ranges()
            .iter()
            .any(|free| free.contains_range(&range))
        {
            return Err(FrameError::NotFree { range });
        }
        self.remove_overlapping(range)
    }

    /// Gives `range` back, merging it with free neighbours.
    pub fn release(&mut self, range: AddressRange) -> Result<(), FrameError> {
        if !range.is_aligned(PAGE_SIZE) || range.is_empty() {
            return Err(FrameError::Unaligned { range });
        }
        if self.free_ranges().iter().any(|free| free.overlaps(&range)) {
            return Err(FrameError::DoubleFree { range });
        }
        self.insert(range)
    }

    /// Inserts a range that overlaps no free range, merging with touching neighbours.
    fn insert(&mut self, range: AddressRange) -> Result<(), FrameError> {
        let index = self
            .free_ranges()
            .iter()
            .position(|free| free.start() > range.start());
        let index = index.unwrap_or(self.count);
        let merges_before = index > 0 && self.free[index - 1].end() == range.start();
        let merges_after = index < self.count && self.free[index].start() == range.end();
        match (merges_before, merges_after) {
            (true, true) => {
                self.free[index - 1] = span(self.free[index - 1], self.free[index]);
                self.remove_at(index);
            }
            (true, false) => self.free[index - 1] = span(self.free[index - 1], range),
            (false, true) => self.free[index] = span(range, self.free[index]),
            (false, false) => self.insert_at(index, range)?,
        }
        Ok(())
    }

    /// Removes every free byte inside `taken`, splitting a range when `taken` is in its middle.
    fn remove_overlapping(&mut self, taken: AddressRange) -> Result<(), FrameError> {
        let mut index = 0;
        while index < self.count {
            let free = self.free[index];
            if !free.overlaps(&taken) {
                index += 1;
                continue;
            }
            let below = AddressRange::from_bounds(free.start(), taken.start()).unwrap_or_default();
            let above = AddressRange::from_bounds(taken.end(), free.end()).unwrap_or_default();
            match (below.is_empty(), above.is_empty()) {
                (true, true) => self.remove_at(index),
                (false, true) => {
                    self.free[index] = below;
                    index += 1;
                }
                (true, false) => {
                    self.free[index] = above;
                    index += 1;
                }
                (false, false) => {
                    self.insert_at(index + 1, above)?;
                    self.free[index] = below;
                    index += 2;
                }
            }
        }
        Ok(())
    }

    fn insert_at(&mut self, index: usize, range: AddressRange) -> Result<(), FrameError> {
        if self.count == N {
            return Err(FrameError::TooManyRanges { capacity: N });
        }
        self.free.copy_within(index..self.count, index + 1);
        self.free[index] = range;
        self.count += 1;
        Ok(())
    }

    fn remove_at(&mut self, index: usize) {
        self.free.copy_within(index + 1..self.count, index);
        self.count -= 1;
    }
}

/// The range from the start of `low` to the end of `high` (which touch).
fn span(low: AddressRange, high: AddressRange) -> AddressRange {
    AddressRange::from_bounds(low.start(), high.end()).unwrap_or(low)
}

#[cfg(test)]
#[path = "frames_tests.rs"]
mod tests;
