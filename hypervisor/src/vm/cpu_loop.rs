//! One loop per CPU: take the vCPU this CPU runs when it wants to run, run it exit after exit
//! until it stops, and sleep in WFI otherwise (woken by a kick SGI or another interrupt).
//!
//! Under the null scheduler each vCPU has one CPU for life and each CPU at most one vCPU
//! (`assigned`, from the partitions' `vcpu_cpus`). The vCPU's registers live in this loop's frame while it runs (`regs`) and in
//! its `Vcpu` slot otherwise; entry and exit handlers never diverge: they return an
//! [`Outcome`] here.

use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::aarch64::context::{El1Registers, FpRegisters, VcpuRegisters, VirtualCpuState};
use crate::arch::aarch64::gic::Gic;
use crate::arch::aarch64::{cpu, guest, vcpu_context, world};
use crate::portable::guest::layout::GicVersion;
use crate::portable::partition::Partition;
use crate::portable::psci::vmpidr_el2;
use crate::portable::vcpu::Taken;

use super::per_cpu::{self, Running};
use super::{diagnostics, exits, interrupts, PARTITIONS, VTCR_EL2};

/// What the exit handlers tell the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Run the guest again.
    Resume,
    /// The guest waits for an interrupt (a trapped WFI).
    Block,
    /// The vCPU is done on this CPU: it stopped, or its partition stopped or restarted.
    Leave,
}

/// `bulkhead.debug=switch-every-exit`: save every register of the vCPU to its slot after each
/// exit, scribble over the CPU's copies, and load them back, as a switching scheduler will.
static SWITCH_EVERY_EXIT: AtomicBool = AtomicBool::new(false);

/// Turns on the save and restore on every exit (a test of the switch path).
pub fn set_switch_every_exit(on: bool) {
    SWITCH_EVERY_EXIT.store(on, Ordering::Relaxed);
}

/// The partition and vCPU this CPU runs, if any.
fn assigned(cpu: usize) -> Option<(&'static Partition, usize)> {
    PARTITIONS.get()?.iter().find_map(|p| p.vcpu_cpus.iter().position(|&c| c == cpu).map(|v| (p, v)))
}

/// This CPU's loop; every CPU ends its boot here.
pub fn cpu_loop(cpu: usize) -> ! {
    loop {
        if let Some((p, vcpu)) = assigned(cpu) {
            let taken = {
                let mut slot = p.vcpus[vcpu].lock();
                match slot.wants(cpu) {
                    true => slot.take(cpu).ok().map(|taken| (taken, slot.starts())),
                    false => None,
                }
            };
            if let Some((taken, starts)) = taken {
                run_vcpu(cpu, p, vcpu, taken, starts);
                continue;
            }
        }
        // Nothing to run: sleep until a kick or an interrupt (taken with IRQs masked, so WFI
        // returns and the interrupts are handled here).
        cpu::wait_for_interrupt();
        interrupts::idle_irqs(cpu);
    }
}

/// Runs a vCPU this CPU took until it leaves.
fn run_vcpu(cpu: usize, p: &'static Partition, vcpu: usize, taken: Taken, starts: u64) {
    let cntvoff = {
        let mut run = p.run.lock();
        // vCPU 0 is on from the start; a vCPU started by CPU_ON is ON_PENDING until now.
        let _ = run.power.mark_running(vcpu);
        run.cntvoff
    };
    let mut regs = match taken {
        Taken::Fresh(regs) => {
            interrupts::reset_vcpu_interface(cpu);
            regs
        }
        Taken::Saved(regs) => regs,
        // A blocked vCPU is resumed inside this function, never through the loop.
        Taken::Resident => {
            p.vcpus[vcpu].lock().leave(cpu);
            return;
        }
    };
    let config = guest::VcpuConfig {
        vttbr_el2: p.vttbr_el2,
        vtcr_el2: VTCR_EL2.load(Ordering::Acquire),
        vmpidr_el2: vmpidr_el2(vcpu),
        cntvoff_el2: cntvoff,
        gic_v3: p.gic == GicVersion::V3,
        trap_wfi: p.trap_wfi,
    };
    // SAFETY: the partition's stage-2 table maps only its own banks and is never freed.
    unsafe { guest::configure(&config) };
    load(&regs);
    *per_cpu::this().running.lock() = Some(Running { partition: p.index, vcpu });
    let mut maintenance = None;
    loop {
        interrupts::flush(p, vcpu);
        interrupts::finish(maintenance.take());
        // SAFETY: this CPU is configured for this vCPU above and its EL1 state is loaded;
        // PSTATE comes from a guest exit or a fresh start at EL1h.
        let exit = unsafe { world::run(&mut regs.general) };
        diagnostics::record_exit(exit, regs.general.pc);
        interrupts::sync(p, vcpu);
        if !p.vcpus[vcpu].lock().held_by(cpu, starts) {
            // Stopped, restarted or started again meanwhile: its list registers belong to the
            // old run; drop them unread.
            break;
        }
        match exits::handle(cpu, p, vcpu, &exit, &mut regs.general, &mut maintenance) {
            Outcome::Resume => {}
            Outcome::Block => {
                if !exits::wait_for_interrupt(cpu, p, vcpu) {
                    break;
                }
            }
            Outcome::Leave => break,
        }
        if SWITCH_EVERY_EXIT.load(Ordering::Relaxed) && !switch_out_and_in(cpu, p, vcpu, &mut regs) {
            break;
        }
    }
    interrupts::finish(maintenance.take());
    interrupts::release_vcpu_interface(cpu);
    *per_cpu::this().running.lock() = None;
    p.vcpus[vcpu].lock().leave(cpu);
}

/// Loads a vCPU's EL1, FP/SIMD and virtual-interface registers into this CPU (its general
/// registers go in at the `eret`).
fn load(regs: &VcpuRegisters) {
    vcpu_context::restore_el1(&regs.el1);
    world::restore_fp(&regs.fp);
    if let Some(gic) = Gic::get() {
        gic.virtual_interface().restore(&regs.interface);
    }
}

/// Reads a vCPU's EL1, FP/SIMD and virtual-interface registers from this CPU.
fn save(regs: &mut VcpuRegisters) {
    regs.el1 = vcpu_context::save_el1();
    world::save_fp(&mut regs.fp);
    if let Some(gic) = Gic::get() {
        gic.virtual_interface().save(&mut regs.interface);
    }
}

/// What a switch leaves in the CPU's registers before the next vCPU's go in: values no guest
/// set, so a register the save or the load misses shows up as a wrong value in the guest.
fn scribble() {
    let pattern = 0x5c5c_5c5c_5c5c_5c5c_u64;
    let mut el1 = El1Registers::RESET;
    el1.tpidr_el0 = pattern;
    el1.tpidr_el1 = pattern;
    el1.tpidrro_el0 = pattern;
    el1.sp_el0 = pattern;
    el1.sp_el1 = pattern;
    el1.elr = pattern;
    el1.far = pattern;
    el1.vbar = pattern & !0x7ff;
    vcpu_context::restore_el1(&el1);
    let fp = FpRegisters { v: [u128::from(pattern) << 64 | u128::from(pattern); 32], fpcr: 0, fpsr: 0 };
    world::restore_fp(&fp);
    if let Some(gic) = Gic::get() {
        gic.virtual_interface().restore(&VirtualCpuState::default());
    }
}

/// The `switch-every-exit` test path: the vCPU leaves the CPU through its slot and comes back.
/// Returns false if it cannot come back (stopped meanwhile).
fn switch_out_and_in(cpu: usize, p: &Partition, vcpu: usize, regs: &mut VcpuRegisters) -> bool {
    save(regs);
    let mut slot = p.vcpus[vcpu].lock();
    if slot.preempt(cpu, regs).is_err() {
        return false;
    }
    *regs = VcpuRegisters::at_entry(0, 0);
    scribble();
    match slot.take(cpu) {
        Ok(Taken::Saved(saved)) => {
            *regs = saved;
            load(regs);
            true
        }
        _ => false,
    }
}
