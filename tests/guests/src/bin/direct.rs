//! The `direct` guest, for a partition with `bulkhead,irq-delivery = "direct"`: it takes its
//! virtual timer's interrupt [`ROUNDS`] times in WFI (the harness then compares the
//! hypervisor's count of the interrupts it took on this CPU, which must not grow with them),
//! sends SGIs that name no vCPU of its own (every SGI to the other CPUs' affinities, and to
//! all but itself) and checks that none comes back, sends each of SGIs 1 to 15 to itself and
//! takes it, checks that its SGI 0 (the hypervisor's kick on its CPU) goes nowhere, then
//! masks every interrupt (DAIF) and spins silently, for the hypervisor to stop, restart or
//! catch by its heartbeat. With `direct.claim=1` on its command line it first claims the most
//! urgent active priority, 0, in `ICC_AP1R0_EL1` (the physical register: no Armv8.0 trap
//! catches the write), which holds off every interrupt of its CPU, the hypervisor's Group 0
//! ones included: the hypervisor must take the CPU back from another one.
#![no_std]
#![no_main]

use core::arch::asm;

use test_guests::bootargs::value;
use test_guests::runtime::cpu::{self, virtual_timer};
use test_guests::runtime::gic::InterruptController;
use test_guests::runtime::Guest;
use test_guests::say;

test_guests::entry!(main);

/// The EL1 virtual timer's PPI.
const TIMER_PPI: u32 = 27;
/// Timer interrupts taken.
const ROUNDS: u32 = 1000;
/// Ticks to each deadline: 50 us at 62.5 MHz.
const AHEAD: u64 = 3125;
/// Looks for an interrupt that must not come, after the SGIs that must go nowhere.
const QUIET_LOOKS: u32 = 10_000;
/// `ICC_SGI1R_EL1.IRM`: every PE but the sender.
const IRM: u64 = 1 << 40;

fn main(guest: &'static Guest) -> ! {
    let Some(gic) = guest.gic else {
        guest.fail(format_args!("the device tree describes no GIC"));
    };
    // SAFETY: the frames come from the guest's own device tree, which the boot code maps as
    // Device memory, and nothing else in this guest touches the GIC.
    let gic = unsafe { InterruptController::new(gic) };
    gic.enable_private(TIMER_PPI, 0xa0);
    for sgi in 0..16 {
        gic.enable_private(sgi, 0xa0);
    }
    for round in 0..ROUNDS {
        virtual_timer::arm(virtual_timer::count() + AHEAD, virtual_timer::ENABLE);
        let intid = wait(guest, &gic, round);
        if intid != TIMER_PPI {
            guest.fail(format_args!("interrupt {intid} arrived, not the timer's {TIMER_PPI}"));
        }
    }
    say!(guest, "{ROUNDS} timer interrupts taken");
    // Names no vCPU of this partition: all but itself (it has one), and every Aff0 of
    // clusters 0 and 1 but its own (0.0).
    for sgi in 0..16u64 {
        send_sgi1r(sgi << 24 | IRM);
        send_sgi1r(sgi << 24 | 0xfffe);
        send_sgi1r(sgi << 24 | 1 << 16 | 0xffff);
    }
    expect_nothing(guest, &gic, "an SGI to no vCPU of its own");
    for sgi in 1..16u32 {
        send_sgi1r(u64::from(sgi) << 24 | 1);
        let intid = wait(guest, &gic, sgi);
        if intid != sgi {
            guest.fail(format_args!("SGI {sgi} to itself came back as interrupt {intid}"));
        }
    }
    send_sgi1r(1);
    expect_nothing(guest, &gic, "its SGI 0, the hypervisor's kick");
    say!(guest, "SGIs 1 to 15 to itself taken; none to other CPUs and no SGI 0 arrived");
    let claim = value(guest.bootargs, "direct.claim").is_some();
    if claim {
        claim_priority_zero(guest);
        say!(guest, "claimed active priority 0 in ICC_AP1R0_EL1");
    }
    say!(guest, "falling silent with every interrupt masked");
    // SAFETY: masking this vCPU's own interrupts and branching to itself touch no memory.
    // The loop is one branch to itself, no ISB in it (Rust's `spin_loop` hint is one): only
    // an exit or a fetch that faults can end it.
    unsafe { asm!("msr daifset, #0xf", "2: b 2b", options(nomem, nostack, noreturn)) }
}

/// Waits in WFI for the next interrupt, acknowledges and ends it, and returns its INTID.
fn wait(guest: &Guest, gic: &InterruptController, what: u32) -> u32 {
    let mut empty = 0u32;
    loop {
        cpu::wait_for_interrupt();
        if let Some((raw, intid)) = gic.acknowledge() {
            if intid == TIMER_PPI {
                virtual_timer::arm(0, 0);
            }
            gic.end(raw);
            return intid;
        }
        empty += 1;
        if empty > 1_000_000 {
            guest.fail(format_args!("interrupt {what} never came"));
        }
    }
}

/// Fails if an interrupt arrives within [`QUIET_LOOKS`] looks.
fn expect_nothing(guest: &Guest, gic: &InterruptController, after: &str) {
    for _ in 0..QUIET_LOOKS {
        if let Some((raw, intid)) = gic.acknowledge() {
            gic.end(raw);
            guest.fail(format_args!("interrupt {intid} arrived after {after}"));
        }
    }
}

/// Writes `ICC_SGI1R_EL1` (trapped to the hypervisor while HCR_EL2.FMO or IMO is set).
fn send_sgi1r(value: u64) {
    // SAFETY: an SGI request touches no memory.
    unsafe { asm!("msr S3_0_C12_C11_5, {}", "isb", in(reg) value, options(nostack, preserves_flags)) };
}

/// Marks priority 0 active in `ICC_AP1R0_EL1` (bit 0: the most urgent group priority, with 5
/// or more priority bits), with no interrupt behind it: the CPU's running priority becomes 0,
/// the most urgent there is, so that no interrupt of either group is signalled to it any more.
/// Fails if the write did not stick.
fn claim_priority_zero(guest: &Guest) {
    let read: u64;
    // SAFETY: a write and a read of a GIC CPU interface register touch no memory.
    unsafe { asm!("msr S3_0_C12_C9_0, {one}", "isb", "mrs {read}, S3_0_C12_C9_0", one = in(reg) 1u64, read = out(reg) read, options(nomem, nostack, preserves_flags)) };
    if read & 1 == 0 {
        guest.fail(format_args!("ICC_AP1R0_EL1 reads {read:#x} after 1 was written: priority 0 was not claimed"));
    }
}
