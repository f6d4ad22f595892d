//! The `smp` guest: starts every other CPU of its device tree with PSCI `CPU_ON`; each one
//! reports and switches itself off with `CPU_OFF`; then the boot CPU switches the guest off.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicUsize, Ordering};

use test_guests::psci::AffinityState;
use test_guests::runtime::{cpu, park, Guest};
use test_guests::say;

test_guests::entry!(main, secondary);

/// How long the boot CPU waits for the others to come online, then to be off.
const TIMEOUT_MICROS: u64 = 5_000_000;

/// CPUs that have reported.
static ONLINE: AtomicUsize = AtomicUsize::new(0);

fn main(guest: &'static Guest) -> ! {
    guest.report_psci_version();
    let mpidrs = guest.cpus.mpidrs();
    let me = cpu::mpidr();
    let Some(boot_index) = guest.cpus.index_of(me) else {
        guest.fail(format_args!("boot cpu mpidr {me:#x} is not in /cpus"));
    };
    say!(guest, "cpu {boot_index} (mpidr {me:#x}) online");
    ONLINE.fetch_add(1, Ordering::AcqRel);
    for (index, &mpidr) in mpidrs.iter().enumerate().filter(|&(i, _)| i != boot_index) {
        if let Err(error) = guest.psci.cpu_on(mpidr, index) {
            guest.fail(format_args!(
                "cpu_on cpu {index} (mpidr {mpidr:#x}): {error}"
            ));
        }
    }
    let all_online = cpu::wait_until(TIMEOUT_MICROS, || {
        ONLINE.load(Ordering::Acquire) == mpidrs.len()
    });
    let online = ONLINE.load(Ordering::Acquire);
    if !all_online {
        guest.fail(format_args!(
            "only {online} of {} cpus came online",
            mpidrs.len()
        ));
    }
    say!(guest, "all {online} cpus online");
    for (index, &mpidr) in mpidrs.iter().enumerate().filter(|&(i, _)| i != boot_index) {
        let mut state = guest.psci.affinity_info(mpidr);
        let off = cpu::wait_until(TIMEOUT_MICROS, || {
            state = guest.psci.affinity_info(mpidr);
            state == Ok(AffinityState::Off)
        });
        if !off {
            guest.fail(format_args!(
                "cpu {index} (mpidr {mpidr:#x}) did not turn off: {state:?}"
            ));
        }
    }
    say!(guest, "done");
    guest.psci.system_off()
}

fn secondary(guest: &'static Guest, index: usize) -> ! {
    let me = cpu::mpidr();
    match guest.cpus.mpidrs().get(index) {
        Some(&expected) if expected == me => {
            say!(guest, "cpu {index} (mpidr {me:#x}) online");
            ONLINE.fetch_add(1, Ordering::AcqRel);
        }
        _ => say!(
            guest,
            "FAIL cpu {index} started with mpidr {me:#x}, not its own"
        ),
    }
    let error = guest.psci.cpu_off();
    say!(guest, "FAIL cpu {index} (mpidr {me:#x}): cpu_off: {error}");
    park()
}
