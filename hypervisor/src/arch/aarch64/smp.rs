//! Starting secondary CPUs: PSCI CPU_ON, or a spin table's release address and SEV.

use boards::{Conduit, Smp};
use core::fmt;
use smccc::{Hvc, Smc};

/// Why a CPU could not be started.
#[derive(Debug)]
pub enum StartError {
    Psci { mpidr: u64, error: smccc::psci::Error },
    NoReleaseAddress { mpidr: u64 },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Psci { mpidr, error } => write!(f, "PSCI CPU_ON for MPIDR {mpidr:#x} failed: {error:?}"),
            Self::NoReleaseAddress { mpidr } => {
                write!(f, "the board's spin table has no release address for MPIDR {mpidr:#x}")
            }
        }
    }
}

/// Starts the CPU `mpidr` at the physical address `entry`, with the MMU off.
pub fn start_cpu(method: Smp, mpidr: u64, entry: u64) -> Result<(), StartError> {
    match method {
        Smp::Psci(Conduit::Smc) => smccc::psci::cpu_on::<Smc>(mpidr, entry, 0).map_err(|error| StartError::Psci { mpidr, error }),
        Smp::Psci(Conduit::Hvc) => smccc::psci::cpu_on::<Hvc>(mpidr, entry, 0).map_err(|error| StartError::Psci { mpidr, error }),
        Smp::SpinTable { release_addrs } => {
            let slot = *release_addrs.get((mpidr & 0xff) as usize).ok_or(StartError::NoReleaseAddress { mpidr })?;
            // SAFETY: the board data says the firmware's spin loop for this CPU polls this word,
            // which is in RAM the EL2 map covers and nothing else of ours uses.
            unsafe { (slot as *mut u64).write_volatile(entry) };
            super::cpu::clean_dcache_to_poc(slot, 8);
            super::cpu::send_event();
            Ok(())
        }
    }
}
