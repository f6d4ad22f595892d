//! VMID allocation: one 8-bit stage-2 VMID per partition, VMID 0 kept for the hypervisor.

use core::fmt;

/// A VMID given to a partition (never 0: TLB entries tagged 0 belong to no guest).
#[derive(Clone, Copy, Debug, Eq, PartialEq, Ord, PartialOrd, Hash)]
pub struct Vmid(u8);

impl Vmid {
    /// Wraps a raw VMID; `None` for the reserved VMID 0.
    pub const fn new(raw: u8) -> Option<Self> {
        if raw == 0 {
            None
        } else {
            Some(Self(raw))
        }
    }

    /// The raw value for VTTBR_EL2.VMID.
    pub const fn get(self) -> u8 {
        self.0
    }
}

/// Why a VMID could not be allocated or released.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum VmidError {
    /// All 255 VMIDs are in use.
    Exhausted,
    /// The VMID released was not allocated.
    NotAllocated {
        /// The VMID.
        vmid: Vmid,
    },
}

impl fmt::Display for VmidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exhausted => write!(f, "all 255 stage-2 VMIDs are in use"),
            Self::NotAllocated { vmid } => write!(f, "VMID {} was not allocated", vmid.get()),
        }
    }
}

/// A bitmap of the 256 8-bit VMIDs; bit 0 stays set for the hypervisor.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct VmidAllocator {
    used: [u64; 4],
}

impl Default for VmidAllocator {
    fn default() -> Self {
        Self::new()
    }
}

impl VmidAllocator {
    /// An allocator with every VMID but 0 free.
    pub const fn new() -> Self {
        Self { used: [1, 0, 0, 0] }
    }

    /// Takes the lowest free VMID.
    pub fn allocate(&mut self) -> Result<Vmid, VmidError> {
        for (word_index, word) in self.used.iter_mut().enumerate() {
            if *word != u64::MAX {
                let bit = word.trailing_ones();
                *word |= 1 << bit;
                // word_index < 4 and bit < 64, so the value is below 256.
                let raw = (word_index * 64) as u32 + bit;
                return Vmid::new(raw as u8).ok_or(VmidError::Exhausted);
            }
        }
        Err(VmidError::Exhausted)
    }

    /// Gives a VMID back. The caller must have invalidated the VMID's TLB entries
    /// (TLBI VMALLS12E1IS with it in VTTBR_EL2) before it is reused.
    pub fn release(&mut self, vmid: Vmid) -> Result<(), VmidError> {
        let (word, bit) = (usize::from(vmid.get() / 64), vmid.get() % 64);
        if self.used[word] & (1 << bit) == 0 {
            return Err(VmidError::NotAllocated { vmid });
        }
        self.used[word] &= !(1 << bit);
        Ok(())
    }

    /// How many VMIDs are in use by partitions.
    pub fn in_use(&self) -> u32 {
        self.used.iter().map(|word| word.count_ones()).sum::<u32>() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmid_zero_is_reserved() {
        assert_eq!(Vmid::new(0), None);
        assert_eq!(VmidAllocator::new().allocate().unwrap().get(), 1);
    }

    #[test]
    fn all_255_vmids_then_exhaustion() {
        let mut allocator = VmidAllocator::new();
        for expected in 1..=255u8 {
            assert_eq!(allocator.allocate().unwrap().get(), expected);
        }
        assert_eq!(allocator.in_use(), 255);
        assert_eq!(allocator.allocate().unwrap_err(), VmidError::Exhausted);
    }

    #[test]
    fn release_makes_the_lowest_vmid_reusable() {
        let mut allocator = VmidAllocator::new();
        let vmids: Vec<Vmid> = (0..70).map(|_| allocator.allocate().unwrap()).collect();
        allocator.release(vmids[65]).unwrap();
        allocator.release(vmids[3]).unwrap();
        assert_eq!(allocator.allocate().unwrap(), vmids[3]);
        assert_eq!(allocator.allocate().unwrap(), vmids[65]);
        assert_eq!(allocator.allocate().unwrap().get(), 71);
    }

    #[test]
    fn double_release_is_an_error() {
        let mut allocator = VmidAllocator::new();
        let vmid = allocator.allocate().unwrap();
        allocator.release(vmid).unwrap();
        assert_eq!(
            allocator.release(vmid).unwrap_err(),
            VmidError::NotAllocated { vmid }
        );
        assert_eq!(
            VmidError::NotAllocated { vmid }.to_string(),
            "VMID 1 was not allocated"
        );
    }
}
