//! The trap fast path: the synchronous traps whose whole effect is a value in the caller's
//! registers, answered without the common trap path (no vGIC sync or flush, no `run` lock
//! taken to wait, no console work, no vCPU lock).
//!
//! Which traps: the SMCCC and PSCI queries ([`psci::query`]: SMCCC_VERSION,
//! SMCCC_ARCH_FEATURES, PSCI_VERSION, PSCI_FEATURES, MIGRATE_INFO_TYPE) over HVC or SMC,
//! the Xen hypercalls that touch no state ([`xen::stateless`]: `xen_version`'s version,
//! page size and build id), and a read of any vPL011 register but UARTDR (the flags,
//! control and identification registers) while no console input waits for the partition
//! and none of its output waits in its console buffer (then the full path, which prints
//! buffers, answers: a guest polling UARTFR for TXFF to clear must make the buffer drain).
//! Each gets the answer its slow path gives: the same functions compute it.
//!
//! Why skipping the rest is sound: such a trap changes no interrupt state, so the vGIC's
//! sync and flush would find nothing to do (what the guest did to its list registers is
//! folded in at its next full exit, as for a guest that did not trap at all); anything
//! another CPU asks of this vCPU meanwhile (an interrupt to inject, a stop, a restart, a
//! preemption) comes with a kick or a timer interrupt, which is pending at the GIC and taken
//! as soon as the guest is entered again, through the full path.

use super::Partition;
use crate::portable::guest::layout::{PL011_BASE, PL011_SIZE};
use crate::portable::psci::{self, Arguments};
use crate::portable::trap::{Call, Conduit, DataAbort, Esr, ExceptionClass, GeneralRegisters};
use crate::portable::vpl011::{Backlog, TransmitSink};
use crate::portable::xen::{self, Hypercall};

/// Xen's hypercall immediate (`hvc #0xea1`); SMCCC calls use immediate 0.
const XEN_HYPERCALL_IMMEDIATE: u16 = crate::portable::xen::abi::HYPERCALL_IMMEDIATE;

/// Answers a synchronous trap of `partition`'s vCPU on the fast path if it is one of the
/// traps above: writes the answer to the guest's registers, advances `pc` past the trapped
/// instruction and returns true. Returns false, having changed nothing, for every other trap
/// (and when the partition's run state is busy on another CPU), which then takes the full
/// path. `far` and `hpfar` are FAR_EL2 and HPFAR_EL2; `transmit` is the partition's console
/// buffer (the vPL011's transmit side).
pub fn answer(
    partition: &Partition,
    esr: Esr,
    far: u64,
    hpfar: u64,
    regs: &mut impl GeneralRegisters,
    pc: &mut u64,
    transmit: &impl TransmitSink,
) -> bool {
    match esr.class() {
        ExceptionClass::Hvc64 | ExceptionClass::Smc64 => call(esr, regs, pc),
        ExceptionClass::DataAbortLower if partition.vpl011 => vpl011_read(partition, esr, far, hpfar, regs, pc, transmit),
        _ => false,
    }
}

fn call(esr: Esr, regs: &mut impl GeneralRegisters, pc: &mut u64) -> bool {
    let Ok(call) = Call::decode(esr) else { return false };
    let value = match call.immediate {
        0 => psci::query(Arguments { x: [regs.x(0), regs.x(1), regs.x(2), regs.x(3)] }),
        XEN_HYPERCALL_IMMEDIATE if call.conduit == Conduit::Hvc => {
            // A Xen hypercall's result is a C long: negative values are errnos.
            xen::stateless(&Hypercall::from_registers(regs)).map(|value| value as u64)
        }
        _ => None,
    };
    let Some(value) = value else { return false };
    regs.set_x(0, value);
    *pc = pc.wrapping_add(call.pc_advance);
    true
}

fn vpl011_read(
    partition: &Partition,
    esr: Esr,
    far: u64,
    hpfar: u64,
    regs: &mut impl GeneralRegisters,
    pc: &mut u64,
    transmit: &impl TransmitSink,
) -> bool {
    let address = crate::portable::trap::fault_ipa(far, hpfar);
    if !(PL011_BASE..PL011_BASE + PL011_SIZE).contains(&address) {
        return false;
    }
    let Ok(access) = DataAbort::new(esr).and_then(|a| a.mmio_access(far, hpfar)) else { return false };
    if access.write {
        return false;
    }
    // Never waits: a run state busy on another CPU sends this trap down the full path.
    let Some(run) = partition.run.try_lock() else { return false };
    // Input waiting for the FIFO is fed on the full path, which raises the line it changes.
    if !run.input.is_empty() {
        return false;
    }
    // Output waiting in the console buffer is printed on the full path, which also shows
    // the guest how full the buffer is.
    if transmit.backlog() != Backlog::Empty {
        return false;
    }
    let Some(value) = run.vpl011.peek(address.wrapping_sub(PL011_BASE), access.size, Backlog::Empty) else { return false };
    drop(run);
    access.complete_load(regs, value);
    *pc = pc.wrapping_add(esr.instruction_length());
    true
}
