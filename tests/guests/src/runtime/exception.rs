//! Faults: reading an address that may fault, and reporting exceptions nobody expected.

use core::arch::asm;
use core::panic::PanicInfo;

use crate::esr::{vector_name, Esr};

use super::{power_off, say_raw};

/// A data abort taken by [`probe_read`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The syndrome.
    pub esr: Esr,
    /// The faulting address register (FAR_EL1).
    pub far: u64,
}

/// Reads the 64-bit value at `address`, catching a synchronous fault instead of stopping.
///
/// # Safety
/// `address` must be 8-byte aligned, and reading it must not disturb anything the guest
/// relies on (it must not be a read-sensitive register of one of the guest's own devices).
/// The read does not alias Rust memory in a way that matters: its value is only returned.
pub unsafe fn probe_read(address: u64) -> Result<u64, Fault> {
    let (value, esr, far): (u64, u64, u64);
    // SAFETY: the probe routine is a leaf that reads `address` and changes only x0-x3 and
    // the link register, all declared; a fault in its load returns through the vector to
    // just after it with x1 = ESR (never 0 for an exception) and x2 = FAR. The caller
    // vouches for the read itself.
    unsafe {
        asm!("bl test_guest_probe_read", inout("x0") address => value, out("x1") esr,
            out("x2") far, out("x3") _, out("x30") _, options(nostack))
    };
    if esr == 0 {
        Ok(value)
    } else {
        Err(Fault { esr: Esr(esr), far })
    }
}

/// How wide an access [`probe_access`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessSize {
    Byte,
    Half,
    Word,
    Double,
}

impl AccessSize {
    /// Its width in bytes.
    pub const fn bytes(self) -> u64 {
        match self {
            Self::Byte => 1,
            Self::Half => 2,
            Self::Word => 4,
            Self::Double => 8,
        }
    }
}

/// Loads from `address` (`value` `None`) or stores `value` there, with an access of `size`,
/// catching a synchronous fault instead of stopping. Returns the value loaded (0 for a store).
///
/// # Safety
/// `address` must be aligned to `size`, and the access must not disturb anything the guest
/// relies on (its own memory, a register of its own devices with side effects it needs).
pub unsafe fn probe_access(address: u64, size: AccessSize, value: Option<u64>) -> Result<u64, Fault> {
    macro_rules! probe {
        ($routine:literal) => {{
            let (read, esr, far): (u64, u64, u64);
            // SAFETY: the routine is a leaf that makes one access to `address` and changes
            // only x0-x2 and the link register, all declared (x4 is only read); a fault in
            // its access returns through the vector to the instruction after it with x1 = ESR
            // (never 0 for an exception) and x2 = FAR. The caller vouches for the access.
            unsafe {
                core::arch::asm!(concat!("bl ", $routine), inout("x0") address => read, out("x1") esr,
                    out("x2") far, out("x3") _, in("x4") value.unwrap_or(0), out("x30") _, options(nostack))
            };
            (read, esr, far)
        }};
    }
    let (read, esr, far) = match (size, value.is_some()) {
        (AccessSize::Double, false) => probe!("test_guest_probe_read"),
        (AccessSize::Word, false) => probe!("test_guest_probe_read32"),
        (AccessSize::Half, false) => probe!("test_guest_probe_read16"),
        (AccessSize::Byte, false) => probe!("test_guest_probe_read8"),
        (AccessSize::Double, true) => probe!("test_guest_probe_write64"),
        (AccessSize::Word, true) => probe!("test_guest_probe_write32"),
        (AccessSize::Half, true) => probe!("test_guest_probe_write16"),
        (AccessSize::Byte, true) => probe!("test_guest_probe_write8"),
    };
    match (esr, value) {
        (0, None) => Ok(read),
        (0, Some(_)) => Ok(0),
        _ => Err(Fault { esr: Esr(esr), far }),
    }
}

/// Branches to `address`, catching the instruction abort the fetch must raise.
///
/// # Safety
/// Fetching from `address` must fault (the hypervisor maps nothing there for this guest):
/// code that is there would run with whatever registers the call leaves.
pub unsafe fn probe_fetch(address: u64) -> Result<(), Fault> {
    let (esr, far): (u64, u64);
    // SAFETY: the routine branches to `address`, whose fetch the caller guarantees faults; the
    // vector returns to the routine's resume point with x1 = ESR and x2 = FAR (x3 and x4 are
    // scratch), and the routine restores the link register it saved in x5.
    unsafe {
        asm!("bl test_guest_probe_fetch", inout("x0") address => _, out("x1") esr, out("x2") far,
            out("x3") _, out("x4") _, out("x5") _, out("x30") _, options(nostack))
    };
    if esr == 0 {
        Ok(())
    } else {
        Err(Fault { esr: Esr(esr), far })
    }
}

/// Reports an exception the guest did not expect, then switches the guest off.
#[unsafe(no_mangle)]
extern "C" fn test_guest_unexpected_exception(vector: u64, esr: u64, elr: u64, far: u64) -> ! {
    say_raw(format_args!(
        "FAIL unexpected exception: {} ({}), ESR {esr:#x}, ELR {elr:#x}, FAR {far:#x}",
        vector_name(vector),
        Esr(esr),
    ));
    power_off()
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    match info.location() {
        Some(place) => say_raw(format_args!(
            "FAIL panic at {}:{}: {}",
            place.file(),
            place.line(),
            info.message()
        )),
        None => say_raw(format_args!("FAIL panic: {}", info.message())),
    }
    power_off()
}
