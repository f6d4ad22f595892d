//! Switching the board off: PSCI SYSTEM_OFF, or the BCM2711 watchdog on the Raspberry Pi 4.

use boards::{Conduit, PowerOff};
use smccc::{Hvc, Smc};
use spin::Once;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::ReadWrite;

static METHOD: Once<PowerOff> = Once::new();

/// Records how this board is switched off.
pub fn init(method: PowerOff) {
    METHOD.call_once(|| method);
}

register_structs! {
    /// The BCM2711 power-management block's watchdog registers (as Linux's bcm2835_wdt uses them).
    PmRegisters {
        (0x00 => _reserved),
        (0x1c => rstc: ReadWrite<u32>),
        (0x20 => rsts: ReadWrite<u32>),
        (0x24 => wdog: ReadWrite<u32>),
        (0x28 => @END),
    }
}

const PM_PASSWORD: u32 = 0x5a00_0000;
/// RSTS partition bits the firmware reads as "halt, do not boot again".
const PM_RSTS_HALT: u32 = 0x555;
const PM_RSTC_WRCFG_CLEAR: u32 = 0xffff_ffcf;
const PM_RSTC_WRCFG_FULL_RESET: u32 = 0x20;
/// Watchdog ticks before the reset (about 150 us).
const PM_WDOG_TICKS: u32 = 10;

/// Switches the board off. Returns only if there is no way to (then the caller parks).
pub fn power_off() {
    match METHOD.get() {
        Some(PowerOff::Psci(Conduit::Smc)) => {
            let _ = smccc::psci::system_off::<Smc>();
        }
        Some(PowerOff::Psci(Conduit::Hvc)) => {
            let _ = smccc::psci::system_off::<Hvc>();
        }
        Some(PowerOff::Bcm2711Watchdog { pm_base }) => {
            // SAFETY: the board data names this block, which the EL2 map has as Device memory;
            // touching it can only reset the board, which is what is wanted.
            let pm = unsafe { &*(*pm_base as *const PmRegisters) };
            pm.rsts.set(pm.rsts.get() | PM_PASSWORD | PM_RSTS_HALT);
            pm.wdog.set(PM_PASSWORD | PM_WDOG_TICKS);
            pm.rstc.set((pm.rstc.get() & PM_RSTC_WRCFG_CLEAR) | PM_PASSWORD | PM_RSTC_WRCFG_FULL_RESET);
            let deadline = super::cpu::now_ns() + 1_000_000_000;
            while super::cpu::now_ns() < deadline {
                core::hint::spin_loop();
            }
        }
        None => {}
    }
}
