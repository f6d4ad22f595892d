//! What a guest exit means for the vCPU and its partition: synchronous traps (through the
//! portable decision in `portable::partition::handle_sync`), physical interrupts, and exits the
//! hypervisor cannot handle (the partition's crash policy). Each returns an [`Outcome`] to
//! the CPU's loop.

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use crate::arch::aarch64::context::{ExitVector, GuestRegisters};
use crate::arch::aarch64::gic::regs::Acknowledged;
use crate::arch::aarch64::guest;
use crate::arch::aarch64::timer;
use crate::arch::aarch64::world::GuestExit;
use crate::portable::partition::report_limit::Admit;
use crate::portable::partition::fast::Fast;
use crate::portable::partition::{self, Exit, Partition};
use crate::portable::trap::{external_abort, EntryFeatures, Esr, ExceptionClass, GuestState, InjectError};
use crate::portable::vpl011::{Backlog, TransmitSink};
use crate::portable::vcpu::{virtual_timer_deadline, VcpuState};
use crate::log;
use crate::log::{Dbg, D};

use super::cpu_loop::Outcome;
use super::{crash, drain_console, feed_console_input, interrupts, output, restart_partition, stop_partition, PARTITIONS};

/// Handles one exit of vCPU `vcpu` of `p` on CPU `cpu`. A maintenance interrupt taken is left
/// in `after_flush`: the loop deactivates it once the next flush has rewritten the list
/// registers (its cause goes away only then).
pub fn handle(
    cpu: usize,
    p: &Partition,
    vcpu: usize,
    exit: &GuestExit,
    regs: &mut GuestRegisters,
    after_flush: &mut Option<Acknowledged>,
) -> Outcome {
    // The vCPU ran since it last waited: a `SCHEDOP_poll` it waited in is over.
    p.xen.pollers.ran(vcpu);
    match exit.vector {
        ExitVector::Synchronous => synchronous(cpu, p, vcpu, exit, regs),
        ExitVector::Irq => interrupted(cpu, p, vcpu, after_flush),
        // A direct partition's CPU takes the hypervisor's interrupts as Group 0: FIQs.
        ExitVector::Fiq if p.direct => interrupted(cpu, p, vcpu, after_flush),
        ExitVector::Fiq | ExitVector::SError | ExitVector::Aarch32 => {
            log!("bulkhead: partition \"{}\" vcpu {}: {} exception from the guest (ESR_EL2 {:#x}) at {:#x}", p.name.as_str(), vcpu, Dbg(&exit.vector), exit.esr, regs.pc);
            crash(p, cpu, format_args!("vcpu {vcpu}: {:?} exception (ESR_EL2 {:#x}) at {:#x}", exit.vector, exit.esr, regs.pc));
            Outcome::Leave
        }
    }
}

/// Takes the physical interrupts pending on this CPU for vCPU `vcpu` of `p`, which it holds:
/// after an IRQ exit (for a direct partition, an FIQ: the hypervisor's Group 0), or where the
/// vCPU waited in WFI without leaving its CPU (the wait ended for one of them; taking them
/// there saves entering the guest only to exit for them at once). `Outcome::Leave` if its partition stopped or restarted meanwhile.
pub fn interrupted(cpu: usize, p: &Partition, vcpu: usize, after_flush: &mut Option<Acknowledged>) -> Outcome {
    let (maintenance, typed, stopped) = irq(cpu, p, vcpu);
    // One taken earlier and not yet finished stays active, so it cannot be taken again here.
    if maintenance.is_some() {
        *after_flush = maintenance;
    }
    if stopped {
        return Outcome::Leave;
    }
    // A health deadline of this CPU's partitions (a heartbeat, a Xen watchdog, a restart
    // back-off) may have passed (and stopped or restarted this vCPU's own partition).
    let acted = super::health::poll(cpu);
    if (typed || acted) && stopped_meanwhile(p, vcpu, cpu) {
        return Outcome::Leave;
    }
    Outcome::Resume
}

/// A Xen hypercall that leaves the calling vCPU's interrupts alone needs neither the list
/// registers' sync before it nor their flush after it, for the fast path's reason
/// (`portable::partition::fast`): the guest's own changes to its list registers are folded in
/// at its next full exit, and whatever another CPU raises for it meanwhile comes with a kick,
/// pending until the guest is entered again. [`hypercall`] answers such a call that way.
pub enum Hypercall {
    /// Answered; the vCPU's interrupts did not change: enter the guest again at once.
    Quiet,
    /// Answered with this outcome, but its interrupts may have changed (an upcall to itself,
    /// another vCPU of the partition, a vGIC change from elsewhere meanwhile), or the CPU must
    /// reschedule: the loop syncs and goes on as after the full path's handling.
    Handled(Outcome),
}

/// Answers exit `exit` of vCPU `vcpu` of `p`, held by CPU `cpu` as start `starts`, if it is a
/// Xen hypercall (`None` otherwise, or if the vCPU is no longer held: the full path sees
/// that). `scheduled`: its CPU is in a pool that shares CPUs, where a reschedule request
/// (a kick, the slice's end) must reach the loop.
pub fn hypercall(cpu: usize, p: &Partition, vcpu: usize, starts: u64, exit: &GuestExit, regs: &mut GuestRegisters, scheduled: bool) -> Option<Hypercall> {
    if exit.vector != ExitVector::Synchronous || !partition::is_xen_hypercall(Esr(exit.esr)) {
        return None;
    }
    if !p.vcpus.get(vcpu).is_some_and(|slot| slot.lock().held_by(cpu, starts)) {
        return None;
    }
    let before = p.vgic.lock().changes();
    // As `handle` does first.
    p.xen.pollers.ran(vcpu);
    let outcome = super::xen::answer(cpu, p, vcpu, regs);
    let quiet = outcome == Outcome::Resume
        && p.vgic.lock().changes() == before
        && !p.doorbells.get(vcpu).is_some_and(|d| d.is_raised())
        && !(scheduled && super::per_cpu::this().reschedule_requested());
    Some(if quiet { Hypercall::Quiet } else { Hypercall::Handled(outcome) })
}

/// The trap fast path (`portable::partition::fast`): answers a synchronous exit that needs
/// nothing but the guest's registers and returns true, or returns false, having changed
/// nothing, for the full path to handle it.
pub fn fast(p: &Partition, exit: &GuestExit, regs: &mut GuestRegisters) -> bool {
    if exit.vector != ExitVector::Synchronous {
        return false;
    }
    let mut pc = regs.pc;
    match partition::fast::answer(p, Esr(exit.esr), exit.far, exit.hpfar, regs, &mut pc, &mut output::Transmitter(p.index)) {
        Fast::Full => return false,
        Fast::Answered => {}
        Fast::Transmitted(byte) => {
            super::health::alive(p);
            // Lines are printed whole: the buffer goes out when one ends (or at once for the
            // partition holding the focus), if the console is free (else its holder or the
            // next pump prints it).
            if output::wants_print(p.index, byte) {
                output::pump();
            }
        }
    }
    regs.pc = pc;
    true
}

/// Physical interrupts taken while the guest ran; returns the maintenance interrupt, if taken,
/// whether anything was typed on the console, and whether a kick found the vCPU stopped.
fn irq(cpu: usize, p: &Partition, vcpu: usize) -> (Option<Acknowledged>, bool, bool) {
    let partitions = PARTITIONS.get().map_or(&[][..], |p| &p[..]);
    let taken = if p.direct {
        super::direct::take_group0();
        interrupts::Taken { maintenance: None, console: None, kicked: false }
    } else {
        interrupts::guest_irq(p, vcpu)
    };
    // The console interrupt brings typed input; the guests' ticks drain the UART too (a
    // fallback while the console interrupt goes only to a CPU that runs a guest). Input the
    // drain routes is fed to its partition's FIFO there; input left queued behind a full FIFO
    // is fed when the guest next reads its vPL011 (such a read takes the full path while
    // input waits), so an interrupt exit has none to feed.
    // The console interrupt also says the UART's transmit FIFO has room (while the ring
    // has bytes for it): its next burst goes now.
    if taken.console.is_some() {
        crate::console::transmit_interrupt();
    }
    // A stop or a restart comes with a kick: if one stopped this vCPU, the CPU lets it go
    // before it runs what was typed (an operator's command) or a health deadline, which
    // would find this CPU still holding the old run's vCPU and take the request for one of
    // that run's own, or wait for this CPU to let go. The next loop drains the UART.
    let stopped = taken.kicked && stopped_meanwhile(p, vcpu, cpu);
    let typed = !stopped && drain_console(partitions);
    interrupts::finish_console(taken.console);
    // Output a race left in the buffers goes out on the partitions' ticks.
    output::pump();
    (taken.maintenance, typed, stopped)
}

/// Whether the vCPU this CPU holds (running, or waiting in WFI without leaving the CPU) was
/// stopped while it drained the console (the operator stopped or restarted its partition from
/// here): it must not enter the guest again, whose memory may already hold the next run.
fn stopped_meanwhile(p: &Partition, vcpu: usize, cpu: usize) -> bool {
    p.vcpus.get(vcpu).is_none_or(|slot| {
        let state = slot.lock().state();
        state != (VcpuState::Running { cpu }) && state != (VcpuState::Blocked { cpu })
    })
}

fn synchronous(cpu: usize, p: &Partition, vcpu: usize, exit: &GuestExit, regs: &mut GuestRegisters) -> Outcome {
    let index = p.index;
    let esr = exit.esr;
    // A Xen hypercall needs nothing of the run state: answered apart, without that lock.
    if partition::is_xen_hypercall(Esr(esr)) {
        return super::xen::answer(cpu, p, vcpu, regs);
    }
    if p.vpl011 && Esr(esr).class() == ExceptionClass::DataAbortLower {
        // The guest may be polling or reading its UART: bring typed input in and refill its FIFO.
        if drain_console(PARTITIONS.get().map_or(&[][..], |p| &p[..])) && stopped_meanwhile(p, vcpu, cpu) {
            return Outcome::Leave;
        }
        feed_console_input(p);
    }
    let mut pc = regs.pc;
    let decision = {
        let mut run = p.run.lock();
        // Into the partition's own buffer: no wait for the console or the UART here (a full
        // buffer shows as TXFF in the vPL011's flags).
        let mut transmit = Noted { transmitter: output::Transmitter(index), wrote: false };
        let decision = partition::handle_sync(p, &mut run, vcpu, Esr(esr), exit.far, exit.hpfar, regs, &mut pc, &mut transmit);
        if transmit.wrote {
            super::health::alive(p);
        }
        decision
    };
    // `run` is released: print what is buffered if the console is free.
    output::pump();
    regs.pc = pc;
    match decision {
        Exit::Resume => Outcome::Resume,
        Exit::Vgic(effects) => {
            interrupts::act(p, vcpu, effects);
            if p.direct {
                super::direct::mirror(p, vcpu, cpu);
            }
            Outcome::Resume
        }
        Exit::DirectSgi { intid, targets } => {
            super::direct::send_sgi(p, intid, targets);
            Outcome::Resume
        }
        Exit::Wait { interrupt: true } => Outcome::Block,
        // WFE: where the CPU is shared the vCPU yields (it likely spins on a lock another vCPU
        // holds); on a CPU of its own it returns at once.
        Exit::Wait { interrupt: false } => Outcome::Yield,
        Exit::StartVcpu { vcpu: target, entry, context_id } => {
            let started = {
                let _run = p.run.lock();
                // Checked under `run`, where stops and restarts stop the vCPUs: a CPU_ON from a
                // run that is ending (this vCPU was stopped after its exit) must not start a
                // vCPU of the next run.
                if p.vcpus[vcpu].lock().state() != (VcpuState::Running { cpu }) {
                    return Outcome::Leave;
                }
                p.vcpus.get(target).map(|slot| slot.lock().start(entry, context_id))
            };
            match started {
                Some(Ok(())) => super::sched::started(p, target),
                Some(Err(e)) => log!("bulkhead: partition \"{}\" vcpu {}: {}", p.name.as_str(), D(&target), D(&e)),
                None => log!("bulkhead: partition \"{}\": no vcpu {}", p.name.as_str(), D(&target)),
            }
            Outcome::Resume
        }
        // SCHEDOP_yield: as a WFE, the CPU goes to another vCPU of its pool if one waits.
        Exit::Yield => Outcome::Yield,
        Exit::Xen => super::xen::answer(cpu, p, vcpu, regs),
        Exit::Shutdown(how) => super::xen::shutdown(p, cpu, how),
        Exit::StopVcpu => Outcome::Leave,
        Exit::StopPartition => {
            stop_partition(p);
            Outcome::Leave
        }
        Exit::ResetPartition => {
            restart_partition(p);
            Outcome::Leave
        }
        Exit::Abort { address, reason } => {
            // A second's worth of counter ticks per window of reports.
            let window = crate::arch::aarch64::cpu::counter_frequency().max(1);
            let admit = p.run.lock().reports.admit(crate::arch::aarch64::cpu::counter(), window);
            if let Admit::Print { dropped } = admit {
                output::flush(p.index);
                if dropped > 0 {
                    log!("bulkhead: partition \"{}\": {} more abort reports were left out", p.name.as_str(), dropped);
                }
                log!("bulkhead: partition \"{}\" vcpu {}: {} at {:#x} ({}): injecting a synchronous external abort", p.name.as_str(), vcpu, D(&if Esr(esr).class() == ExceptionClass::InstructionAbortLower { "instruction fetch" } else { "data abort" }), address, D(&reason));
            }
            if let Err(e) = inject_external_abort(regs, esr, exit.far) {
                log!("bulkhead: partition \"{}\" vcpu {}: the abort cannot be injected ({})", p.name.as_str(), vcpu, D(&e));
                crash(p, cpu, format_args!("vcpu {vcpu}: an abort at {address:#x} that cannot be injected ({e})"));
                return Outcome::Leave;
            }
            Outcome::Resume
        }
        Exit::Crash { class, esr } => {
            log!("bulkhead: partition \"{}\" vcpu {}: unhandled trap {} (ESR_EL2 {:#x}) at {:#x}", p.name.as_str(), vcpu, Dbg(&class), esr, regs.pc);
            crash(p, cpu, format_args!("vcpu {vcpu}: unhandled trap {class:?} (ESR_EL2 {esr:#x}) at {:#x}", regs.pc));
            Outcome::Leave
        }
    }
}

/// Makes the guest take a synchronous external abort for the access that trapped: sets its
/// EL1 exception registers and points it at its vector (Arm ARM D1.10).
fn inject_external_abort(regs: &mut GuestRegisters, trapped_esr: u64, far: u64) -> Result<(), InjectError> {
    let el1 = guest::el1_exception_context();
    let state = GuestState { pstate: regs.pstate, pc: regs.pc, far, vbar_el1: el1.vbar_el1, sctlr_el1: el1.sctlr_el1 };
    let features = EntryFeatures { pan: el1.pan, ssbs: false };
    let injection = external_abort(state, Esr(trapped_esr), features)?;
    guest::set_el1_exception(injection.esr_el1, injection.far_el1, injection.elr_el1, injection.spsr_el1);
    regs.pc = injection.pc;
    regs.pstate = injection.pstate;
    Ok(())
}

/// A trapped WFI: the vCPU is blocked until an interrupt for it is listed or a physical one
/// arrives. It waits as a vCPU off its CPU will once schedulers
/// exist: its virtual timer's deadline goes to this CPU's EL2 timer (CNTHP) and the guest
/// timer's own PPI is held back meanwhile. When the EL2 timer wakes the CPU, the PPI is let
/// through again and the guest's timer, still loaded and now due, raises it: its interrupt
/// arrives on the usual path. (Injecting it at the EL2 timer's wake-up and masking the
/// guest's timer there hung Linux: under QEMU the EL2 timer can wake the CPU before the
/// guest's timer reports its condition met, and a guest that sees a timer interrupt with no
/// condition met does not re-arm its masked timer.) The physical interrupts that ended the
/// wait are taken before the vCPU goes back in ([`interrupted`]; a maintenance interrupt is
/// left in `after_flush`), not by entering the guest only for it to exit for them. Returns
/// false if the vCPU was stopped meanwhile.
pub fn wait_for_interrupt(cpu: usize, p: &Partition, vcpu: usize, after_flush: &mut Option<Acknowledged>) -> bool {
    if p.vcpus[vcpu].lock().block(cpu).is_err() {
        return false;
    }
    interrupts::flush(p, vcpu);
    if !interrupts::any_listed() {
        let cntvoff = p.run.lock().cntvoff;
        let (ctl, cval) = timer::virtual_timer();
        // The guest's timer, or the timeout of the `SCHEDOP_poll` it waits in, if earlier.
        let timer = virtual_timer_deadline(ctl, cval, cntvoff);
        let until = match (timer, p.xen.pollers.deadline(vcpu)) {
            (Some(t), Some(poll)) => Some(t.min(poll)),
            (t, poll) => t.or(poll),
        };
        super::cpu_loop::arm_el2_timer(until);
        interrupts::hold_virtual_timer(cpu, true);
        crate::arch::aarch64::cpu::wait_for_interrupt();
        timer::cancel_el2_deadline();
        interrupts::hold_virtual_timer(cpu, false);
        if interrupted(cpu, p, vcpu, after_flush) == Outcome::Leave {
            return false;
        }
    }
    interrupts::sync(p, vcpu);
    matches!(p.vcpus[vcpu].lock().take(cpu), Ok(crate::portable::vcpu::Taken::Resident))
}

/// The partition's console buffer as its vPL011's transmit side, noting whether the guest
/// wrote (a sign of life for its health watch).
struct Noted {
    transmitter: output::Transmitter,
    wrote: bool,
}

impl TransmitSink for Noted {
    fn transmit(&mut self, byte: u8) {
        self.transmitter.transmit(byte);
        self.wrote = true;
    }

    fn backlog(&self) -> Backlog {
        self.transmitter.backlog()
    }
}
