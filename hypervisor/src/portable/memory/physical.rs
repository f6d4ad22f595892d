//! Access to host physical memory for loading guest images and scrubbing partition RAM.
//!
//! The hypervisor implements [`PhysicalMemory`] over its EL2 identity map; host tests use
//! [`testing::WindowMemory`], a heap buffer standing in for one window of physical memory.

use core::fmt;

use super::range::AddressRange;

/// Why a physical memory access failed.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum PhysicalMemoryError {
    /// The range is not memory the implementation may touch.
    OutOfBounds {
        /// The range accessed.
        range: AddressRange,
    },
    /// The access length does not fit an address range.
    Overflow {
        /// The first address accessed.
        address: u64,
    },
}

impl fmt::Display for PhysicalMemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfBounds { range } => write!(f, "physical memory {range} is not accessible"),
            Self::Overflow { address } => {
                write!(
                    f,
                    "an access at {address:#x} runs past the end of the address space"
                )
            }
        }
    }
}

/// Reads and writes host physical memory. Implementations refuse ranges they do not own (the
/// hypervisor image, MMIO) rather than touching them.
pub trait PhysicalMemory {
    /// Copies `bytes` to physical `address`.
    fn write(&mut self, address: u64, bytes: &[u8]) -> Result<(), PhysicalMemoryError>;

    /// Copies physical memory at `address` into `buffer`.
    fn read(&self, address: u64, buffer: &mut [u8]) -> Result<(), PhysicalMemoryError>;

    /// Sets every byte of `range` to `value`.
    fn fill(&mut self, range: AddressRange, value: u8) -> Result<(), PhysicalMemoryError>;

    /// Copies `size` bytes from physical `source` to physical `destination`; the two ranges
    /// may overlap.
    fn copy(&mut self, source: u64, destination: u64, size: u64)
        -> Result<(), PhysicalMemoryError>;
}

/// Zeroes `range` before a partition gets it, so no data leaks from the hypervisor, an earlier
/// boot of the partition or another partition.
pub fn scrub(
    memory: &mut impl PhysicalMemory,
    range: AddressRange,
) -> Result<(), PhysicalMemoryError> {
    memory.fill(range, 0)
}

/// Host fakes for tests of code that loads guests.
#[cfg(test)]
pub mod testing {
    use super::*;

    /// A window of fake physical memory `[base, base + bytes.len())` backed by the heap.
    pub struct WindowMemory {
        /// The physical address of the first byte.
        pub base: u64,
        /// The window's contents.
        pub bytes: Vec<u8>,
    }

    impl WindowMemory {
        /// A window of `size` bytes at `base`, filled with `value`.
        pub fn new(base: u64, size: usize, value: u8) -> Self {
            Self {
                base,
                bytes: vec![value; size],
            }
        }

        /// The byte offsets in the window for `[address, address + size)`.
        fn span(
            &self,
            address: u64,
            size: u64,
        ) -> Result<core::ops::Range<usize>, PhysicalMemoryError> {
            let range = AddressRange::new(address, size)
                .ok_or(PhysicalMemoryError::Overflow { address })?;
            let window = AddressRange::new(self.base, self.bytes.len() as u64)
                .ok_or(PhysicalMemoryError::Overflow { address: self.base })?;
            if !window.contains_range(&range) {
                return Err(PhysicalMemoryError::OutOfBounds { range });
            }
            let start = (address - self.base) as usize;
            Ok(start..start + size as usize)
        }

        /// The bytes at `[address, address + size)`.
        pub fn slice(&self, address: u64, size: usize) -> &[u8] {
            let span = self
                .span(address, size as u64)
                .expect("test reads inside the window");
            &self.bytes[span]
        }
    }

    impl PhysicalMemory for WindowMemory {
        fn write(&mut self, address: u64, bytes: &[u8]) -> Result<(), PhysicalMemoryError> {
            let span = self.span(address, bytes.len() as u64)?;
            self.bytes[span].copy_from_slice(bytes);
            Ok(())
        }

        fn read(&self, address: u64, buffer: &mut [u8]) -> Result<(), PhysicalMemoryError> {
            let span = self.span(address, buffer.len() as u64)?;
            buffer.copy_from_slice(&self.bytes[span]);
            Ok(())
        }

        fn fill(&mut self, range: AddressRange, value: u8) -> Result<(), PhysicalMemoryError> {
            let span = self.span(range.start(), range.size())?;
            self.bytes[span].fill(value);
            Ok(())
        }

        fn copy(
            &mut self,
            source: u64,
            destination: u64,
            size: u64,
        ) -> Result<(), PhysicalMemoryError> {
            let from = self.span(source, size)?;
            let to = self.span(destination, size)?;
            self.bytes.copy_within(from, to.start);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::WindowMemory;
    use super::*;

    #[test]
    fn scrub_zeroes_exactly_the_range() {
        let mut memory = WindowMemory::new(0x4000_0000, 0x3000, 0xa5);
        scrub(&mut memory, AddressRange::new(0x4000_1000, 0x1000).unwrap()).unwrap();
        assert!(memory
            .slice(0x4000_0000, 0x1000)
            .iter()
            .all(|byte| *byte == 0xa5));
        assert!(memory
            .slice(0x4000_1000, 0x1000)
            .iter()
            .all(|byte| *byte == 0));
        assert!(memory
            .slice(0x4000_2000, 0x1000)
            .iter()
            .all(|byte| *byte == 0xa5));
    }

    #[test]
    fn scrub_outside_owned_memory_is_refused() {
        let mut memory = WindowMemory::new(0x4000_0000, 0x1000, 0xa5);
        let range = AddressRange::new(0x4000_0800, 0x1000).unwrap();
        assert_eq!(
            scrub(&mut memory, range),
            Err(PhysicalMemoryError::OutOfBounds { range })
        );
        assert!(memory.bytes.iter().all(|byte| *byte == 0xa5));
    }
}
