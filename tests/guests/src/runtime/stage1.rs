//! What the guest's own stage 1 (the boot code's identity map) makes of the memory it shares
//! with the hypervisor or another partition, asked of the MMU itself.
//!
//! The hypervisor reads and writes the grant table, shared_info, vcpu_info and granted pages
//! as Normal write-back cacheable memory, as Xen does, and a static shared-memory region is
//! Normal write-back in both partitions' stage 2. The guest must map them the same way: two
//! views of one location with different memory types or cacheability are not coherent with
//! each other (Arm ARM, "Mismatched memory attributes"), whatever an emulator that models no
//! cache shows. [`check_normal`] proves it for a range before a guest relies on it.

use core::arch::asm;
use core::fmt;

/// Xen's `GUEST_GNTTAB_BASE`: where a guest maps its grant frames (the `/hypervisor` node's
/// `reg` on Xen and on Bulkhead). The boot code maps it Normal write-back.
pub const GRANT_WINDOW: u64 = 0x3800_0000;
/// Xen's `GUEST_GNTTAB_SIZE`.
pub const GRANT_WINDOW_SIZE: u64 = 0x0100_0000;

/// MAIR_EL1 attribute 1 as the boot code sets it: Normal, inner and outer write-back,
/// read- and write-allocate, non-transient.
const NORMAL_WRITE_BACK: u64 = 0xff;
/// PAR_EL1.SH for inner shareable.
const INNER_SHAREABLE: u64 = 0b11;
const PAGE: u64 = 4096;

/// A page of a range that the guest's stage 1 does not map Normal write-back inner shareable.
#[derive(Debug, Clone, Copy)]
pub struct NotNormal {
    /// The page's address.
    pub address: u64,
    /// PAR_EL1 after `AT S1E1R` of it: F (bit 0) set if stage 1 faulted, else ATTR (bits
    /// 63:56, the MAIR encoding) and SH (bits 8:7).
    pub par: u64,
}

impl fmt::Display for NotNormal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let address = self.address;
        if self.par & 1 != 0 {
            write!(f, "{address:#x} has no stage-1 translation (PAR_EL1 {:#x})", self.par)?;
        } else {
            let (attr, sh) = (self.par >> 56, (self.par >> 7) & 0b11);
            write!(f, "{address:#x} has MAIR attribute {attr:#04x}, shareability {sh:#04b}")?;
        }
        f.write_str(
            " in this guest's stage 1, not Normal write-back inner shareable (0xff, 0b11) as \
             the hypervisor's: map it so in the identity map of runtime/boot.rs",
        )
    }
}

/// PAR_EL1 after a stage-1 translation of `address` for an EL1 read.
fn translate(address: u64) -> u64 {
    let par: u64;
    // SAFETY: AT only translates; it reads the translation tables and writes PAR_EL1, which
    // nothing else in the guest uses, and accesses no memory at `address`.
    unsafe {
        asm!("at s1e1r, {address}", "isb", "mrs {par}, par_el1", address = in(reg) address,
            par = out(reg) par, options(nostack, preserves_flags))
    };
    par
}

/// Checks that every page of `start..start + size` is Normal write-back inner shareable in
/// this guest's stage 1; the first that is not is the error.
pub fn check_normal(start: u64, size: u64) -> Result<(), NotNormal> {
    let first = start & !(PAGE - 1);
    let end = start.saturating_add(size);
    let mut address = first;
    while address < end {
        let par = translate(address);
        let normal = par & 1 == 0 && par >> 56 == NORMAL_WRITE_BACK && (par >> 7) & 0b11 == INNER_SHAREABLE;
        if !normal {
            return Err(NotNormal { address, par });
        }
        address = address.saturating_add(PAGE);
    }
    Ok(())
}

/// Fails the guest, naming `what`, unless [`check_normal`] holds for `start..start + size`.
pub fn require_normal(guest: &super::Guest, what: &str, start: u64, size: u64) {
    if let Err(error) = check_normal(start, size) {
        guest.fail(format_args!("{what}: {error}"));
    }
}
