//! One loop per CPU: take a vCPU, run it exit after exit until it stops, waits or is
//! preempted, and sleep in WFI when there is nothing to run (woken by a kick SGI, the EL2
//! timer or another interrupt).
//!
//! A CPU of a `null` pool runs one vCPU for its whole life (`assigned`, from the partitions'
//! `vcpu_cpus`); a trapped WFI waits in place, and nothing on its exit path touches a
//! scheduler. A CPU of a pool that shares its CPUs (credit2, fixed priority) asks its pool's
//! scheduler what to run (`sched::Pool`), arms its EL2 timer for the slice end, parks a vCPU
//! that waits for an interrupt and switches to the next one. The vCPU's registers live in
//! this loop's frame while it runs (`regs`) and in its `Vcpu` slot otherwise; entry and exit
//! handlers never diverge: they return an [`Outcome`] here.

use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::aarch64::context::{El1Registers, ExitVector, FpRegisters, VcpuRegisters, VirtualCpuState};
use crate::arch::aarch64::gic::Gic;
use crate::arch::aarch64::{cpu, guest, timer, vcpu_context, world};
use crate::portable::guest::layout::GicVersion;
use crate::portable::partition::Partition;
use crate::portable::psci::vmpidr_el2;
use crate::portable::vcpu::Taken;

use super::per_cpu::{self, Running};
use super::sched::{self, Next, Pool, Reschedule, Wait};
use super::{diagnostics, exits, health, interrupts, PARTITIONS, VTCR_EL2};

/// What the exit handlers tell the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Run the guest again.
    Resume,
    /// The guest waits for an interrupt (a trapped WFI).
    Block,
    /// The vCPU is done on this CPU: it stopped, or its partition stopped or restarted.
    Leave,
    /// The guest gives the CPU away for now (WFE in a pool that shares CPUs).
    Yield,
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
    // Secondary CPUs get here before the partitions and pools exist; the first kick comes
    // after they do.
    while !sched::ready() {
        cpu::wait_for_interrupt();
        interrupts::idle_irqs(cpu);
    }
    match sched::pool_of_cpu(cpu) {
        Some(pool) => scheduled_loop(cpu, pool),
        None => pinned_loop(cpu),
    }
}

/// A CPU of a `null` pool: its one vCPU, whenever it wants to run.
fn pinned_loop(cpu: usize) -> ! {
    let direct = assigned(cpu).is_some_and(|(p, _)| p.direct);
    if direct {
        if let Err(e) = super::direct::prepare_cpu(cpu) {
            // `direct::check` refused such a GIC at boot: not reached.
            crate::log!("bulkhead: cpu {}: direct interrupt delivery: {}", cpu, crate::log::D(&e));
        }
    }
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
                run_vcpu(cpu, p, vcpu, taken, starts, None);
                continue;
            }
        }
        // Nothing to run: sleep until a kick or an interrupt (taken with IRQs masked, so WFI
        // returns and the interrupts are handled here).
        cpu::wait_for_interrupt();
        if direct {
            super::direct::take_group0();
        } else {
            interrupts::idle_irqs(cpu);
        }
        health::poll(cpu);
    }
}

/// A CPU of a pool that shares its CPUs: whatever the pool's scheduler chooses.
fn scheduled_loop(cpu: usize, pool: &'static Pool) -> ! {
    let mut next = pool.next(cpu);
    loop {
        next = match next {
            (Some(Next { partition, vcpu, taken, starts, native_wfi }), deadline) => {
                run_vcpu(cpu, partition, vcpu, taken, starts, Some((pool, deadline, native_wfi))).unwrap_or_else(|| pool.next(cpu))
            }
            (None, deadline) => {
                // Idle until a kick, an interrupt or the earliest deadline (a sleeper's timer).
                arm(deadline);
                if !per_cpu::this().take_reschedule() {
                    cpu::wait_for_interrupt();
                }
                timer::cancel_el2_deadline();
                interrupts::idle_irqs(cpu);
                health::poll(cpu);
                pool.next(cpu)
            }
        };
    }
}

/// Runs a vCPU this CPU took until it leaves. With a pool (`scheduled`, with the deadline to
/// ask its scheduler again and whether the vCPU may run with WFI not trapped), returns what the scheduler chose when it switched to another
/// vCPU; `None` means the caller asks it.
fn run_vcpu(
    cpu: usize,
    p: &'static Partition,
    vcpu: usize,
    taken: Taken,
    starts: u64,
    scheduled: Option<(&'static Pool, Option<u64>, bool)>,
) -> Option<(Option<Next>, Option<u64>)> {
    let cntvoff = {
        let mut run = p.run.lock();
        // vCPU 0 is on from the start; a vCPU started by CPU_ON is ON_PENDING until now.
        let _ = run.power.mark_running(vcpu);
        run.cntvoff
    };
    // A direct partition's interrupts bypass the vGIC's list registers (`vm::direct`).
    let direct = p.direct;
    let mut regs = match taken {
        Taken::Fresh(regs) if direct => {
            super::direct::reset_cpu(cpu);
            regs
        }
        Taken::Fresh(regs) => {
            interrupts::reset_vcpu_interface(cpu);
            regs
        }
        Taken::Saved(regs) if direct => regs,
        Taken::Saved(regs) => {
            interrupts::resume_vcpu_interface(cpu);
            regs
        }
        // A blocked vCPU is resumed inside this function, never through the loop.
        Taken::Resident => {
            p.vcpus[vcpu].lock().leave(cpu);
            return None;
        }
    };
    let config = guest::VcpuConfig {
        vttbr_el2: p.vttbr_el2,
        vtcr_el2: VTCR_EL2.load(Ordering::Acquire),
        vmpidr_el2: vmpidr_el2(vcpu),
        cntvoff_el2: cntvoff,
        gic_v3: p.gic == GicVersion::V3,
        trap_wfi: p.trap_wfi,
        direct_irqs: direct,
    };
    // SAFETY: the partition's stage-2 table maps only its own banks and is never freed.
    unsafe { guest::configure(&config) };
    load(&regs);
    *per_cpu::this().running.lock() = Some(Running { partition: p.index, vcpu });
    // A pool's vCPU enters with WFI trapped (`configure`); a pool's decisions may let it run
    // with WFI not trapped while it is alone on this CPU (`PoolScheduler::native_wfi`).
    // `untrapped`: they did and HCR_EL2.TWI is clear (never for a null pool's vCPU, whose
    // WFI `configure` leaves untrapped for good).
    let mut untrapped = false;
    let pool = scheduled.map(|(pool, deadline, native)| {
        arm(deadline);
        trap_wfi(p, &mut untrapped, native);
        pool
    });
    if pool.is_none() {
        // A null pool has no scheduler deadline.
        per_cpu::this().slice.store(u64::MAX, Ordering::Relaxed);
        arm_el2_timer(None);
    }
    let mut maintenance = None;
    // The switch test saves and restores the vCPU on every exit: no exit may skip it.
    let fast_path = !SWITCH_EVERY_EXIT.load(Ordering::Relaxed);
    // This CPU's own state, found once: `run_vcpu` keeps the vCPU on this CPU for its call.
    let this_cpu = per_cpu::this();
    // The last exit was a quiet hypercall (`exits::Hypercall`): no flush before the entry.
    let mut quiet = false;
    let switched = loop {
        if !direct && !core::mem::take(&mut quiet) {
            interrupts::flush(p, vcpu);
            interrupts::finish(maintenance.take());
        }
        // A vCPU that may run here was queued since the decision that let this one's WFI go
        // untrapped (`sched::trap_wfi_on`): it traps from this entry.
        if untrapped && this_cpu.take_trap_wfi() {
            trap_wfi(p, &mut untrapped, false);
        }
        let exit = loop {
            // SAFETY: this CPU is configured for this vCPU above and its EL1 state is loaded;
            // PSTATE comes from a guest exit or a fresh start at EL1h.
            let exit = unsafe { world::run(&mut regs.general) };
            // A trap that changes nothing but the guest's registers goes straight back in
            // (`portable::partition::fast` says why nothing else needs doing); the state
            // dump counts it.
            if fast_path && exits::fast(p, &exit, &mut regs.general) {
                diagnostics::record_fast_exit(&this_cpu.exits.fast);
                continue;
            }
            diagnostics::record_exit(&this_cpu.exits, exit, regs.general.pc);
            break exit;
        };
        // A Xen hypercall is answered before the sync; one that left the vCPU's interrupts
        // alone goes straight back in too, without the sync and the flush (`exits::Hypercall`).
        let handled = match fast_path && !direct {
            true => match exits::hypercall(cpu, p, vcpu, starts, &exit, &mut regs.general, pool.is_some()) {
                Some(exits::Hypercall::Quiet) => {
                    quiet = true;
                    continue;
                }
                Some(exits::Hypercall::Handled(outcome)) => Some(outcome),
                None => None,
            },
            false => None,
        };
        // A hypercall that stopped or restarted its own partition let the vCPU go: its list
        // registers belong to the old run, whose vGIC a restart has already reset.
        if handled.is_some() && !p.vcpus[vcpu].lock().held_by(cpu, starts) {
            break None;
        }
        if !direct {
            interrupts::sync(p, vcpu);
        }
        // An IRQ exit is checked once, after its handling below: taking this CPU's interrupts
        // and latching the timer's PPI into a vGIC that a restart resets only once this vCPU
        // has left (`wait_until_left`) is harmless for a stopped vCPU. The stop's kick makes
        // that handling leave before the console's and health's work (`exits::irq`).
        let irq = exit.vector == ExitVector::Irq;
        if !irq && !p.vcpus[vcpu].lock().held_by(cpu, starts) {
            // Stopped, restarted or started again meanwhile: its list registers belong to the
            // old run; drop them unread.
            break None;
        }
        let outcome = match handled {
            Some(outcome) => outcome,
            None => exits::handle(cpu, p, vcpu, &exit, &mut regs.general, &mut maintenance),
        };
        // An interrupt's handling may have stopped or restarted this very partition (the
        // operator's console): the old run must not go back in.
        if (irq || exit.vector == ExitVector::Fiq) && outcome == Outcome::Resume && !p.vcpus[vcpu].lock().held_by(cpu, starts) {
            break None;
        }
        match (outcome, pool) {
            (Outcome::Resume, _) => {}
            (Outcome::Block, None) => {
                if !exits::wait_for_interrupt(cpu, p, vcpu, &mut maintenance) {
                    break None;
                }
            }
            (Outcome::Block, Some(pool)) => {
                // Anything a flush would list now completes the WFI at once. An interrupt
                // raised after the change count is read moves it, and the park below wakes
                // the vCPU at once.
                let (changes, listed) = interrupts::listable(p, vcpu);
                // A `SCHEDOP_poll` woken by its ports before the park: it ends now.
                if listed || p.xen.pollers.take_woken(vcpu) {
                    continue;
                }
                let wait = pool.block(cpu, p, vcpu, changes, cntvoff, || {
                    switch_out(p, vcpu, &mut regs);
                    regs
                });
                match wait {
                    Wait::Resume => continue,
                    Wait::Leave => break None,
                    Wait::Switch(next, deadline) => break Some((next, deadline)),
                    Wait::Here(deadline) => {
                        // The vCPU's own timer is loaded: its PPI wakes the CPU.
                        arm(deadline);
                        if !this_cpu.take_reschedule() {
                            cpu::wait_for_interrupt();
                        }
                        // What woke the CPU (the timer's PPI, a kick, the EL2 timer) is taken
                        // here, as after an IRQ exit, rather than by entering the guest for it
                        // to exit at once: the flush below lists what it raised.
                        if exits::interrupted(cpu, p, vcpu, &mut maintenance) == Outcome::Leave {
                            break None;
                        }
                        // A kick taken just now asked for the pick `woken` makes next; one
                        // that comes after stays pending and exits the guest.
                        this_cpu.take_reschedule();
                        match pool.woken(cpu, p, vcpu, || {
                            switch_out(p, vcpu, &mut regs);
                            regs
                        }) {
                            Reschedule::Leave => break None,
                            Reschedule::Keep(deadline, native) => {
                                arm(deadline);
                                trap_wfi(p, &mut untrapped, native);
                            }
                            Reschedule::Switch(next, deadline) => break Some((next, deadline)),
                        }
                    }
                }
            }
            (Outcome::Leave, _) => break None,
            (Outcome::Yield, Some(pool)) => {
                pool.yield_now(p, vcpu);
                this_cpu.request_reschedule();
            }
            (Outcome::Yield, None) => {}
        }
        if let Some(pool) = pool {
            if this_cpu.take_reschedule() {
                match pool.reschedule(cpu, p, vcpu, || {
                    switch_out(p, vcpu, &mut regs);
                    regs
                }) {
                    Reschedule::Keep(deadline, native) => {
                        arm(deadline);
                        trap_wfi(p, &mut untrapped, native);
                    }
                    Reschedule::Switch(next, deadline) => break Some((next, deadline)),
                    Reschedule::Leave => break None,
                }
            }
        }
        if SWITCH_EVERY_EXIT.load(Ordering::Relaxed) && !switch_out_and_in(cpu, p, vcpu, &mut regs) {
            break None;
        }
    };
    interrupts::finish(maintenance.take());
    *per_cpu::this().running.lock() = None;
    match switched {
        // Preempted: its registers are saved; the next vCPU's load replaces this one's
        // interface, or the CPU idles with it released.
        Some((next, deadline)) => {
            if next.is_none() {
                interrupts::release_vcpu_interface(cpu);
            }
            Some((next, deadline))
        }
        None => {
            if direct {
                super::direct::reset_cpu(cpu);
            } else {
                interrupts::release_vcpu_interface(cpu);
            }
            p.vcpus[vcpu].lock().leave(cpu);
            if let Some(pool) = pool {
                timer::cancel_el2_deadline();
                pool.left(p, vcpu);
            }
            None
        }
    }
}

/// Sets whether the running vCPU's WFI traps from its next entry: not trapped when its pool's
/// scheduler says it is alone on this CPU (`native`) and its partition allows it, trapped
/// otherwise. `untrapped` is whether HCR_EL2.TWI is clear now; it is written only on a change.
fn trap_wfi(p: &Partition, untrapped: &mut bool, native: bool) {
    let want = native && p.native_wfi;
    if want != *untrapped {
        // SAFETY: this CPU is configured for the vCPU (`guest::configure` in `run_vcpu`);
        // only the WFI trap changes.
        unsafe { guest::set_trap_wfi(!want) };
        *untrapped = want;
    }
}

/// Arms this CPU's EL2 timer for the scheduler's next decision, or disarms it.
/// Takes `deadline` as this CPU's scheduler deadline and arms the EL2 timer.
fn arm(deadline: Option<u64>) {
    per_cpu::this().slice.store(deadline.unwrap_or(u64::MAX), Ordering::Relaxed);
    arm_el2_timer(None);
}

/// Arms this CPU's EL2 timer for the earlier of its scheduler's deadline and `also` (a
/// waiting vCPU's timer or `SCHEDOP_poll` timeout); disarms it when there is none. (A
/// partition's Xen watchdog is not here: it is its home CPU's health deadline, `health`.)
pub fn arm_el2_timer(also: Option<u64>) {
    let slice = per_cpu::this().slice.load(Ordering::Relaxed);
    let deadline = slice.min(also.unwrap_or(u64::MAX));
    if deadline == u64::MAX {
        timer::cancel_el2_deadline();
    } else {
        timer::set_el2_deadline(deadline);
    }
}

/// Saves the running vCPU's registers (its general registers are in `regs` already),
/// silences its virtual timer on this CPU, which the next vCPU's load replaces, and hands its
/// list registers back to its vGIC (the next vCPU's flush overwrites them).
fn switch_out(p: &Partition, vcpu: usize, regs: &mut VcpuRegisters) {
    save(regs);
    timer::disable_virtual_timer();
    interrupts::release_list_registers(p, vcpu);
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
