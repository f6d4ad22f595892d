//! The arch layer's EL2 memory seen through the portable `PhysicalMemory` trait (the guest
//! loader and the partition builder use it).

use crate::arch::aarch64::memory::{El2Memory, OutsideRam};
use crate::portable::memory::physical::{PhysicalMemory, PhysicalMemoryError};
use crate::portable::memory::AddressRange;

fn error(e: OutsideRam) -> PhysicalMemoryError {
    match AddressRange::new(e.address, e.size) {
        Some(range) => PhysicalMemoryError::OutOfBounds { range },
        None => PhysicalMemoryError::Overflow { address: e.address },
    }
}

impl PhysicalMemory for El2Memory {
    fn write(&mut self, address: u64, bytes: &[u8]) -> Result<(), PhysicalMemoryError> {
        El2Memory::write(self, address, bytes).map_err(error)
    }

    fn read(&self, address: u64, buffer: &mut [u8]) -> Result<(), PhysicalMemoryError> {
        El2Memory::read(self, address, buffer).map_err(error)
    }

    fn fill(&mut self, range: AddressRange, value: u8) -> Result<(), PhysicalMemoryError> {
        El2Memory::fill(self, range.start(), range.size(), value).map_err(error)
    }

    fn copy(&mut self, source: u64, destination: u64, size: u64) -> Result<(), PhysicalMemoryError> {
        El2Memory::copy(self, source, destination, size).map_err(error)
    }
}
