//! Guest memory as the event channels see it: a trait of bounded, fallible 32-bit atomic
//! operations, and the bit operations built on it.
//!
//! Xen's Arm bit operations work on 32-bit words, so every bitmap of the ABI (the 2-level
//! pending and mask arrays, the selector, `evtchn_upcall_pending`, FIFO event words and the
//! `ready` word) is reached through an aligned 32-bit word: bit `n` of a bitmap at `base` is bit
//! `n % 32` of the word at `base + 4 * (n / 32)`.

use core::fmt;

/// Why an access to guest memory failed. Every failure is the guest's problem, never a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryError {
    /// The address is not aligned to the access.
    Misaligned { address: u64 },
    /// The address is not in the partition's RAM (or its `shared_info` page).
    Unmapped { address: u64 },
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Misaligned { address } => write!(
                f,
                "event-channel access at {address:#x} is not 4-byte aligned: the guest must \
                 place shared_info, vcpu_info and FIFO pages on aligned addresses"
            ),
            Self::Unmapped { address } => write!(
                f,
                "event-channel access at {address:#x} is outside the partition's memory: the \
                 guest registered an address it does not own"
            ),
        }
    }
}

/// Atomic access to one partition's memory, by guest physical address (and the hypervisor's
/// `shared_info` page at whatever address the runtime gives it).
///
/// The caller guarantees 4-byte alignment; an implementation checks that the word lies in the
/// partition's memory and answers [`MemoryError::Unmapped`] otherwise. Each call is one atomic
/// access: the guest's vCPUs change the same words concurrently.
pub trait EventMemory {
    /// Reads a word.
    fn load(&mut self, address: u64) -> Result<u32, MemoryError>;
    /// Writes a word.
    fn store(&mut self, address: u64, value: u32) -> Result<(), MemoryError>;
    /// ORs `bits` into a word and returns its previous value.
    fn fetch_or(&mut self, address: u64, bits: u32) -> Result<u32, MemoryError>;
    /// ANDs `bits` into a word and returns its previous value.
    fn fetch_and(&mut self, address: u64, bits: u32) -> Result<u32, MemoryError>;
    /// Writes `new` if the word holds `current`; returns the value found either way.
    fn compare_exchange(
        &mut self,
        address: u64,
        current: u32,
        new: u32,
    ) -> Result<u32, MemoryError>;
    /// Whether the 4 KiB page at `page` (page-aligned) is RAM of the partition that it may
    /// give the hypervisor for event channels (Xen's `get_page_from_gfn` for a writable page).
    fn is_ram_page(&mut self, page: u64) -> bool;
}

fn aligned(address: u64) -> Result<u64, MemoryError> {
    if address.is_multiple_of(4) {
        Ok(address)
    } else {
        Err(MemoryError::Misaligned { address })
    }
}

/// The word holding bit `bit` of a bitmap at `base`, and the bit's mask in it.
fn locate(base: u64, bit: u32) -> Result<(u64, u32), MemoryError> {
    let address = base
        .checked_add(4 * u64::from(bit / 32))
        .ok_or(MemoryError::Unmapped { address: base })?;
    Ok((aligned(address)?, 1 << (bit % 32)))
}

/// Sets a bit and says whether it was set before.
pub fn test_and_set(mem: &mut impl EventMemory, base: u64, bit: u32) -> Result<bool, MemoryError> {
    let (address, mask) = locate(base, bit)?;
    Ok(mem.fetch_or(address, mask)? & mask != 0)
}

/// Clears a bit and says whether it was set before.
pub fn test_and_clear(
    mem: &mut impl EventMemory,
    base: u64,
    bit: u32,
) -> Result<bool, MemoryError> {
    let (address, mask) = locate(base, bit)?;
    Ok(mem.fetch_and(address, !mask)? & mask != 0)
}

/// Whether a bit is set.
pub fn test(mem: &mut impl EventMemory, base: u64, bit: u32) -> Result<bool, MemoryError> {
    let (address, mask) = locate(base, bit)?;
    Ok(mem.load(address)? & mask != 0)
}

/// Reads an aligned word.
pub fn load(mem: &mut impl EventMemory, address: u64) -> Result<u32, MemoryError> {
    mem.load(aligned(address)?)
}

/// Writes an aligned word.
pub fn store(mem: &mut impl EventMemory, address: u64, value: u32) -> Result<(), MemoryError> {
    mem.store(aligned(address)?, value)
}

/// Compare-exchange on an aligned word; returns the value found.
pub fn compare_exchange(
    mem: &mut impl EventMemory,
    address: u64,
    current: u32,
    new: u32,
) -> Result<u32, MemoryError> {
    mem.compare_exchange(aligned(address)?, current, new)
}

/// Memory that refuses every access: for binding channels before a partition's memory is
/// set up (the event Xen raises on a new interdomain port is then not recorded).
pub struct NoMemory;

impl EventMemory for NoMemory {
    fn load(&mut self, address: u64) -> Result<u32, MemoryError> {
        Err(MemoryError::Unmapped { address })
    }
    fn store(&mut self, address: u64, _: u32) -> Result<(), MemoryError> {
        Err(MemoryError::Unmapped { address })
    }
    fn fetch_or(&mut self, address: u64, _: u32) -> Result<u32, MemoryError> {
        Err(MemoryError::Unmapped { address })
    }
    fn fetch_and(&mut self, address: u64, _: u32) -> Result<u32, MemoryError> {
        Err(MemoryError::Unmapped { address })
    }
    fn compare_exchange(&mut self, address: u64, _: u32, _: u32) -> Result<u32, MemoryError> {
        Err(MemoryError::Unmapped { address })
    }
    fn is_ram_page(&mut self, _: u64) -> bool {
        false
    }
}
