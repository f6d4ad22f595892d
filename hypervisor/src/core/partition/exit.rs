//! What a trap from a guest means: the decision, in portable code; the arch layer acts on it.

use super::{Partition, RunState};
use crate::core::guest::layout::{PL011_BASE, PL011_SIZE};
use crate::core::psci::{self, Action, Arguments};
use crate::core::trap::{Call, Conduit, DataAbort, DataAbortError, ExceptionClass, GeneralRegisters, Syndrome};
use crate::core::vpl011::{TransmitSink, Vpl011Error};
use core::fmt;

/// Xen's hypercall immediate (`hvc #0xea1`); SMCCC calls use immediate 0.
const XEN_HYPERCALL_IMMEDIATE: u16 = 0xea1;
/// What an unimplemented hypercall returns: -ENOSYS, as Xen does.
const ENOSYS: u64 = -38i64 as u64;

/// What to do after a synchronous trap from a guest vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Return to the guest (the PC has been advanced as needed).
    Resume,
    /// Resume the caller, and start another vCPU of the partition.
    StartVcpu { vcpu: usize, entry: u64, context_id: u64 },
    /// This vCPU is off (PSCI CPU_OFF).
    StopVcpu,
    /// The partition asked to stop (SYSTEM_OFF, or CPU_OFF of its last vCPU).
    StopPartition,
    /// The partition asked to restart (SYSTEM_RESET).
    ResetPartition,
    /// Inject a synchronous external abort for this data access.
    Abort { address: u64, reason: AbortReason },
    /// The guest did something the hypervisor cannot handle: apply its crash policy.
    Crash { class: ExceptionClass, esr: u64 },
}

/// Why a data access was answered with an abort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbortReason {
    /// Nothing is mapped or emulated at that guest physical address.
    Unmapped,
    /// The access hit an emulated device with an instruction that gives no syndrome.
    Syndrome(DataAbortError),
    /// The virtual PL011 refused the access.
    Vpl011(Vpl011Error),
}

impl fmt::Display for AbortReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unmapped => write!(f, "nothing is mapped there"),
            Self::Syndrome(e) => write!(f, "{e}"),
            Self::Vpl011(e) => write!(f, "virtual PL011: {e}"),
        }
    }
}

/// Decides what a synchronous trap from vCPU `vcpu` of `partition` means, and does the part of
/// it that is pure state (emulated device registers, PSCI state, guest registers, the PC).
/// `pc` is the trapped instruction's address (ELR_EL2) and is advanced when the guest resumes
/// after it; `far` and `hpfar` are FAR_EL2 and HPFAR_EL2.
#[allow(clippy::too_many_arguments)]
pub fn handle_sync(
    partition: &Partition,
    run: &mut RunState,
    vcpu: usize,
    esr: Syndrome,
    far: u64,
    hpfar: u64,
    regs: &mut impl GeneralRegisters,
    pc: &mut u64,
    console: &mut impl TransmitSink,
) -> Exit {
    match esr.class() {
        ExceptionClass::DataAbortLower => data_abort(partition, run, esr, far, hpfar, regs, pc, console),
        ExceptionClass::Hvc64 | ExceptionClass::Smc64 => call(run, vcpu, esr, regs, pc),
        ExceptionClass::WaitForInterruptOrEvent => {
            *pc += esr.instruction_length();
            Exit::Resume
        }
        class => Exit::Crash { class, esr: esr.0 },
    }
}

#[allow(clippy::too_many_arguments)]
fn data_abort(
    partition: &Partition,
    run: &mut RunState,
    esr: Syndrome,
    far: u64,
    hpfar: u64,
    regs: &mut impl GeneralRegisters,
    pc: &mut u64,
    console: &mut impl TransmitSink,
) -> Exit {
    let address = crate::core::trap::fault_ipa(far, hpfar);
    let in_vpl011 = partition.vpl011 && (PL011_BASE..PL011_BASE + PL011_SIZE).contains(&address);
    if !in_vpl011 {
        return Exit::Abort { address, reason: AbortReason::Unmapped };
    }
    let access = match DataAbort::new(esr).and_then(|a| a.mmio_access(far, hpfar)) {
        Ok(access) => access,
        Err(e) => return Exit::Abort { address, reason: AbortReason::Syndrome(e) },
    };
    match run.vpl011.emulate(access, PL011_BASE, regs, console) {
        Ok(()) => {
            *pc += esr.instruction_length();
            Exit::Resume
        }
        Err(e) => Exit::Abort { address, reason: AbortReason::Vpl011(e) },
    }
}

fn call(run: &mut RunState, vcpu: usize, esr: Syndrome, regs: &mut impl GeneralRegisters, pc: &mut u64) -> Exit {
    let Ok(call) = Call::decode(esr) else {
        return Exit::Crash { class: esr.class(), esr: esr.0 };
    };
    *pc += call.pc_advance;
    if call.immediate != 0 {
        let answer = if call.conduit == Conduit::Hvc && call.immediate == XEN_HYPERCALL_IMMEDIATE { ENOSYS } else { psci::status::NOT_SUPPORTED };
        regs.set_x(0, answer);
        return Exit::Resume;
    }
    let arguments = Arguments { x: [regs.x(0), regs.x(1), regs.x(2), regs.x(3)] };
    let Ok(action) = psci::handle(&mut run.power, vcpu, arguments) else {
        return Exit::Crash { class: esr.class(), esr: esr.0 };
    };
    if let Some(x0) = action.caller_x0() {
        regs.set_x(0, x0);
    }
    match action {
        Action::Return(_) | Action::Suspend => Exit::Resume,
        Action::StartVcpu { vcpu, entry, context_id } => Exit::StartVcpu { vcpu, entry, context_id },
        Action::StopVcpu => Exit::StopVcpu,
        Action::StopPartition => Exit::StopPartition,
        Action::ResetPartition => Exit::ResetPartition,
    }
}
