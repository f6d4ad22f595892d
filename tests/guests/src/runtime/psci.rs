//! PSCI calls over the conduit the device tree names (SMC Calling Convention, Arm DEN0028).

use core::arch::asm;

use crate::format::Version;
use crate::psci::{
    self as codes, AffinityState, Conduit, PsciError, AFFINITY_INFO, CPU_OFF, CPU_ON, PSCI_VERSION,
    SYSTEM_OFF, SYSTEM_RESET,
};

use super::park;

unsafe extern "C" {
    /// Where secondary CPUs start; see the boot code.
    fn test_guest_secondary_entry();
}

/// Makes PSCI calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Psci {
    conduit: Conduit,
}

impl Psci {
    /// PSCI over `conduit`.
    pub fn new(conduit: Conduit) -> Self {
        Self { conduit }
    }

    /// The conduit the calls go over.
    pub fn conduit(self) -> Conduit {
        self.conduit
    }

    fn call(self, function: u32, a1: u64, a2: u64, a3: u64) -> u64 {
        let mut result = u64::from(function);
        match self.conduit {
            // SAFETY: a PSCI call changes no memory of this guest; the only call that makes
            // code run (CPU_ON) is only made by `cpu_on` with the guest's own entry point.
            // SMCCC 1.0 lets the callee change x0-x17, which are declared as outputs.
            Conduit::Hvc => unsafe {
                asm!("hvc #0", inout("x0") result, inout("x1") a1 => _, inout("x2") a2 => _,
                    inout("x3") a3 => _, out("x4") _, out("x5") _, out("x6") _, out("x7") _,
                    out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _,
                    out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _,
                    options(nostack))
            },
            // SAFETY: as for HVC.
            Conduit::Smc => unsafe {
                asm!("smc #0", inout("x0") result, inout("x1") a1 => _, inout("x2") a2 => _,
                    inout("x3") a3 => _, out("x4") _, out("x5") _, out("x6") _, out("x7") _,
                    out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _,
                    out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _,
                    options(nostack))
            },
        }
        result
    }

    /// `PSCI_VERSION`.
    pub fn version(self) -> Result<Version, PsciError> {
        codes::version(self.call(PSCI_VERSION, 0, 0, 0))
    }

    /// `CPU_ON`: starts the CPU with affinity `mpidr` in the guest's secondary entry, which
    /// hands `slot` (below [`crate::config::MAX_CPUS`], else the CPU parks) to the guest's
    /// secondary main function.
    pub fn cpu_on(self, mpidr: u64, slot: usize) -> Result<(), PsciError> {
        let entry = test_guest_secondary_entry as *const () as u64;
        codes::status(self.call(CPU_ON, mpidr, entry, slot as u64))
    }

    /// `CPU_OFF`; only returns if the call failed.
    pub fn cpu_off(self) -> PsciError {
        match codes::status(self.call(CPU_OFF, 0, 0, 0)) {
            Err(error) => error,
            Ok(()) => PsciError::Unknown(0),
        }
    }

    /// `AFFINITY_INFO` for one CPU (lowest affinity level).
    pub fn affinity_info(self, mpidr: u64) -> Result<AffinityState, PsciError> {
        codes::affinity_state(self.call(AFFINITY_INFO, mpidr, 0, 0))
    }

    /// `SYSTEM_OFF`; parks the CPU if the call returns.
    pub fn system_off(self) -> ! {
        self.call(SYSTEM_OFF, 0, 0, 0);
        park()
    }

    /// `SYSTEM_RESET`; parks the CPU if the call returns.
    pub fn system_reset(self) -> ! {
        self.call(SYSTEM_RESET, 0, 0, 0);
        park()
    }
}
