//! The `regs` guest: fills its general registers, its FP/SIMD registers (V0-V31, FPCR, FPSR)
//! and some EL1/EL0 system registers with a pattern, traps to the hypervisor many times (PSCI
//! calls, and a virtual timer interrupt the guest leaves pending), and checks every one came
//! back. Run with `bulkhead.debug=switch-every-exit`, the hypervisor saves the vCPU to memory,
//! scribbles over the CPU and loads it back on every exit: a register the save or the load
//! misses shows here.
#![no_std]
#![no_main]

use test_guests::psci::Conduit;
use test_guests::runtime::cpu::virtual_timer;
use test_guests::runtime::gic::InterruptController;
use test_guests::runtime::registers::{self, FpState, SystemRegisters, GENERAL};
use test_guests::runtime::Guest;
use test_guests::say;

test_guests::entry!(main);

/// PSCI calls made with the registers loaded.
const TRAPS: u64 = 500;
/// The virtual timer's PPI.
const TIMER_PPI: u32 = 27;

fn main(guest: &'static Guest) -> ! {
    registers::enable_fp();
    let general_in: [u64; GENERAL] = core::array::from_fn(|i| 0x6000_0000_0000_0000 | (i as u64) << 32 | 0x1357_9bdf);
    let fp_in = FpState {
        v: core::array::from_fn(|i| (0xf00d_0000_0000_0000_u128 + i as u128) << 64 | (0x0bad_cafe_0000_0000 + i as u128)),
        // FPCR: AHP, DN, FZ and round towards zero; FPSR: QC and the cumulative flags.
        fpcr: (1 << 26) | (1 << 25) | (1 << 24) | (3 << 22),
        fpsr: (1 << 27) | 0x9f,
    };
    let system_in = SystemRegisters {
        tpidr_el0: 0x7001_0000_0000_0000,
        tpidrro_el0: 0x7002_0000_0000_0000,
        tpidr_el1: 0x7003_0000_0000_0000,
        contextidr_el1: 0x7004,
        sp_el0: 0x7005_0000_0000_0000,
        cntv_cval_el0: u64::MAX - 0x7006,
    };
    registers::set_system_registers(&system_in);
    // One interrupt exit among the traps: the timer fires soon, and the guest (interrupts
    // masked) leaves it pending.
    if let Some(gic) = guest.gic {
        // SAFETY: the frames come from the guest's own device tree, mapped as Device memory.
        let gic = unsafe { InterruptController::new(gic) };
        gic.enable_private(TIMER_PPI, 0xa0);
    }
    let mut general_out = [0; GENERAL];
    let mut fp_out = FpState { v: [0; 32], fpcr: 0, fpsr: 0 };
    virtual_timer::arm(virtual_timer::count() + 2000, virtual_timer::ENABLE);
    registers::trap_round_trip(&general_in, &mut general_out, &fp_in, &mut fp_out, TRAPS, guest.psci.conduit() == Conduit::Hvc);
    virtual_timer::arm(0, 0);
    let system_out = registers::system_registers();
    // The timer's compare value was rewritten above; compare the rest first.
    let system_expected = SystemRegisters { cntv_cval_el0: 0, ..system_in };
    if let Some(i) = (0..GENERAL).find(|&i| general_out[i] != general_in[i]) {
        guest.fail(format_args!("general register {i} of {GENERAL} came back {:#x}, not {:#x}", general_out[i], general_in[i]));
    }
    if let Some(i) = (0..32).find(|&i| fp_out.v[i] != fp_in.v[i]) {
        guest.fail(format_args!("V{i} came back {:#x}, not {:#x}", fp_out.v[i], fp_in.v[i]));
    }
    if (fp_out.fpcr, fp_out.fpsr) != (fp_in.fpcr, fp_in.fpsr) {
        guest.fail(format_args!("FPCR/FPSR came back {:#x}/{:#x}, not {:#x}/{:#x}", fp_out.fpcr, fp_out.fpsr, fp_in.fpcr, fp_in.fpsr));
    }
    if system_out != system_expected {
        guest.fail(format_args!("system registers came back {system_out:x?}, not {system_expected:x?}"));
    }
    say!(guest, "{TRAPS} traps: {GENERAL} general registers, V0-V31, FPCR, FPSR and 5 system registers came back");
    say!(guest, "done");
    guest.psci.system_off()
}
