//! The trap fast path: the synchronous traps whose whole effect is a value in the caller's
//! registers, answered without the common trap path (no vGIC sync or flush, no `run` lock
//! taken to wait, no console work, no vCPU lock).
//!
//! Which traps: the SMCCC and PSCI queries ([`psci::query`]: SMCCC_VERSION,
//! SMCCC_ARCH_FEATURES, PSCI_VERSION, PSCI_FEATURES, MIGRATE_INFO_TYPE) over HVC or SMC,
//! the Xen hypercalls that touch no state ([`xen::stateless`]: `xen_version`'s version,
//! page size and build id), a read of any vPL011 register but UARTDR (the flags,
//! control and identification registers) while no console input waits for the partition
//! and its console buffer is not full (then the full path, which prints buffers, answers: a
//! guest polling UARTFR for TXFF to clear must make the buffer drain), and a write of a byte
//! to UARTDR that leaves the UART's interrupt line as it is, while the buffer has room and
//! its lock is free (`Vpl011::write_quietly`): a character costs what any trapped register
//! access costs, and the caller prints the buffer at the end of a line, not the writer's trap.
//! Each gets the answer its slow path gives: the same functions compute it.
//!
//! Why skipping the rest is sound: such a trap changes no interrupt state (a console byte
//! raises the UART's raw TX flag only when that leaves its interrupt line as it is), so the vGIC's
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

/// What the fast path made of a trap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fast {
    /// Not answered, nothing changed: the full path handles it.
    Full,
    /// Answered: the guest's registers and PC hold the result.
    Answered,
    /// Answered, and the guest wrote this byte to its console (a sign of life; a line end
    /// asks the caller to print the buffers).
    Transmitted(u8),
}

/// Answers a synchronous trap of `partition`'s vCPU on the fast path if it is one of the
/// traps above: writes the answer to the guest's registers, advances `pc` past the trapped
/// instruction and says what it did. Returns [`Fast::Full`], having changed nothing, for
/// every other trap (and when the partition's run state or console buffer is busy on another
/// CPU), which then takes the full path. `far` and `hpfar` are FAR_EL2 and HPFAR_EL2;
/// `transmit` is the partition's console buffer (the vPL011's transmit side).
pub fn answer(
    partition: &Partition,
    esr: Esr,
    far: u64,
    hpfar: u64,
    regs: &mut impl GeneralRegisters,
    pc: &mut u64,
    transmit: &mut impl TransmitSink,
) -> Fast {
    match esr.class() {
        ExceptionClass::Hvc64 | ExceptionClass::Smc64 => {
            if call(esr, regs, pc) {
                Fast::Answered
            } else {
                Fast::Full
            }
        }
        // The class is a data abort's: the ISS is one's, with no second check of the class.
        ExceptionClass::DataAbortLower if partition.vpl011 => vpl011_access(partition, DataAbort { esr }, far, hpfar, regs, pc, transmit),
        _ => Fast::Full,
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

fn vpl011_access(
    partition: &Partition,
    abort: DataAbort,
    far: u64,
    hpfar: u64,
    regs: &mut impl GeneralRegisters,
    pc: &mut u64,
    transmit: &mut impl TransmitSink,
) -> Fast {
    let address = crate::portable::trap::fault_ipa(far, hpfar);
    if !(PL011_BASE..PL011_BASE + PL011_SIZE).contains(&address) {
        return Fast::Full;
    }
    let Ok(access) = abort.mmio_access(far, hpfar) else { return Fast::Full };
    // A full buffer is printed on the full path, which also drops and counts what a guest
    // writes past TXFF: a guest polling for TXFF to clear must see its buffer drain.
    if transmit.backlog() == Backlog::Full {
        return Fast::Full;
    }
    // Never waits: a run state busy on another CPU sends this trap down the full path.
    let Some(mut run) = partition.run.try_lock() else { return Fast::Full };
    let offset = address.wrapping_sub(PL011_BASE);
    let answered = if access.write {
        let value = access.store_value(regs);
        run.vpl011.write_quietly(offset, access.size, value, transmit).then_some(Fast::Transmitted((value & 0xff) as u8))
    } else if !run.input.is_empty() {
        // Input waiting for the FIFO is fed on the full path, which raises the line it changes.
        None
    } else {
        run.vpl011.peek(offset, access.size, Backlog::Empty).map(|value| {
            access.complete_load(regs, value);
            Fast::Answered
        })
    };
    drop(run);
    let Some(answered) = answered else { return Fast::Full };
    *pc = pc.wrapping_add(abort.esr.instruction_length());
    answered
}
