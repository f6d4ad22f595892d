//! What a trap from a guest means: the decision, in portable code; the arch layer acts on it.

use super::{Partition, RunState};
use crate::portable::guest::layout::{PL011_BASE, PL011_SIZE};
use crate::portable::psci::{self, Action, Arguments};
use crate::portable::trap::{Call, Conduit, DataAbort, DataAbortError, ExceptionClass, GeneralRegisters, MmioAccess, Esr};
use crate::portable::vgic::{AccessSize, Effects, VcpuId, VcpuSet, VgicError};
use crate::portable::vpl011::{TransmitSink, Vpl011Error, INTERRUPT_ID as VPL011_INTID};
use core::fmt;

/// Xen's hypercall immediate (`hvc #0xea1`); SMCCC calls use immediate 0.
const XEN_HYPERCALL_IMMEDIATE: u16 = crate::portable::xen::abi::HYPERCALL_IMMEDIATE;

/// What to do after a synchronous trap from a guest vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Return to the guest (the PC has been advanced as needed).
    Resume,
    /// Return to the guest after acting on what the vGIC asks (kick vCPUs, physical IRQs).
    Vgic(Effects),
    /// Resume the caller, and start another vCPU of the partition.
    StartVcpu { vcpu: usize, entry: u64, context_id: u64 },
    /// This vCPU is off (PSCI CPU_OFF).
    StopVcpu,
    /// The partition asked to stop (SYSTEM_OFF, or CPU_OFF of its last vCPU).
    StopPartition,
    /// The partition asked to restart (SYSTEM_RESET).
    ResetPartition,
    /// Inject a synchronous external abort for this data access or instruction fetch.
    Abort { address: u64, reason: AbortReason },
    /// A trapped WFI (`interrupt`) or WFE: wait on the vCPU's behalf, then resume it.
    Wait { interrupt: bool },
    /// The guest did something the hypervisor cannot handle: apply its crash policy.
    Crash { class: ExceptionClass, esr: u64 },
    /// A Xen hypercall (`hvc #0xea1`, number in x16): the vm layer answers it through
    /// `portable::xen::dispatch`, which needs guest address translation (the PC is advanced).
    Xen,
    /// The vCPU offers its CPU to another vCPU of its pool (`SCHEDOP_yield`); with none
    /// waiting, it resumes.
    Yield,
    /// The partition shuts itself down (`SCHEDOP_shutdown`).
    Shutdown(crate::portable::xen::Shutdown),
    /// A direct partition's `ICC_SGI1R_EL1` write: SGI `intid` for the physical CPUs of the
    /// vCPUs in `targets` (the PC has been advanced).
    DirectSgi { intid: u32, targets: VcpuSet },
}

/// Why a data access was answered with an abort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbortReason {
    /// Nothing is mapped or emulated at that guest physical address.
    Unmapped,
    /// The access hit an emulated device with an instruction that gives no syndrome.
    Esr(DataAbortError),
    /// The virtual PL011 refused the access.
    Vpl011(Vpl011Error),
    /// The virtual GIC refused the access.
    Vgic(VgicError),
}

impl fmt::Display for AbortReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unmapped => write!(f, "nothing is mapped there"),
            Self::Esr(e) => write!(f, "{e}"),
            Self::Vpl011(e) => write!(f, "virtual PL011: {e}"),
            Self::Vgic(e) => write!(f, "virtual GIC: {e}"),
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
    esr: Esr,
    far: u64,
    hpfar: u64,
    regs: &mut impl GeneralRegisters,
    pc: &mut u64,
    console: &mut impl TransmitSink,
) -> Exit {
    match esr.class() {
        ExceptionClass::DataAbortLower => data_abort(partition, run, vcpu, esr, far, hpfar, regs, pc, console),
        // A fetch from guest-physical memory the partition does not have (or may not execute):
        // the guest takes a prefetch abort, and its own handler decides, as on Xen.
        ExceptionClass::InstructionAbortLower => {
            Exit::Abort { address: crate::portable::trap::fault_ipa(far, hpfar), reason: AbortReason::Unmapped }
        }
        ExceptionClass::Hvc64 | ExceptionClass::Smc64 => call(run, vcpu, esr, regs, pc),
        ExceptionClass::SystemRegister => system_register(partition, vcpu, esr, regs, pc),
        ExceptionClass::WaitForInterruptOrEvent => {
            *pc = pc.wrapping_add(esr.instruction_length());
            let interrupt = crate::portable::trap::WaitKind::decode(esr).is_ok_and(|k| k.waits_for_interrupt());
            Exit::Wait { interrupt }
        }
        class => Exit::Crash { class, esr: esr.0 },
    }
}

#[allow(clippy::too_many_arguments)]
fn data_abort(
    partition: &Partition,
    run: &mut RunState,
    vcpu: usize,
    esr: Esr,
    far: u64,
    hpfar: u64,
    regs: &mut impl GeneralRegisters,
    pc: &mut u64,
    console: &mut impl TransmitSink,
) -> Exit {
    let address = crate::portable::trap::fault_ipa(far, hpfar);
    let in_vgic = partition.vgic.lock().trapped_ranges().iter().any(|&(base, size)| (base..base.saturating_add(size)).contains(&address));
    let in_vpl011 = partition.vpl011 && (PL011_BASE..PL011_BASE + PL011_SIZE).contains(&address);
    if !in_vgic && !in_vpl011 {
        return Exit::Abort { address, reason: AbortReason::Unmapped };
    }
    let access = match DataAbort::new(esr).and_then(|a| a.mmio_access(far, hpfar)) {
        Ok(access) => access,
        Err(e) => return Exit::Abort { address, reason: AbortReason::Esr(e) },
    };
    let emulated = if in_vgic {
        vgic_access(partition, vcpu, access, regs)
    } else {
        run.vpl011.emulate(access, PL011_BASE, regs, console).map(|()| vpl011_line(partition, run)).map_err(AbortReason::Vpl011)
    };
    match emulated {
        Ok(exit) => {
            *pc = pc.wrapping_add(esr.instruction_length());
            exit
        }
        Err(reason) => Exit::Abort { address, reason },
    }
}

/// Whether a trap is a Xen hypercall (`hvc #0xea1` from AArch64): `handle_sync` answers it
/// with [`Exit::Xen`] and leaves the PC as it is (ELR_EL2 of an HVC is already the next
/// instruction), so a caller may go to the Xen layer without asking it.
pub fn is_xen_hypercall(esr: Esr) -> bool {
    esr.class() == ExceptionClass::Hvc64 && esr.iss() & 0xffff == u32::from(XEN_HYPERCALL_IMMEDIATE)
}

fn call(run: &mut RunState, vcpu: usize, esr: Esr, regs: &mut impl GeneralRegisters, pc: &mut u64) -> Exit {
    let Ok(call) = Call::decode(esr) else {
        return Exit::Crash { class: esr.class(), esr: esr.0 };
    };
    *pc = pc.wrapping_add(call.pc_advance);
    if call.conduit == Conduit::Hvc && call.immediate == XEN_HYPERCALL_IMMEDIATE {
        return Exit::Xen;
    }
    if call.immediate != 0 {
        regs.set_x(0, psci::status::NOT_SUPPORTED);
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

/// Drives the vPL011's interrupt line (SPI 0) from its state.
pub fn vpl011_line(partition: &Partition, run: &RunState) -> Exit {
    let level = run.vpl011.interrupt_pending();
    match partition.vgic.lock().set_level(VcpuId(0), VPL011_INTID, level) {
        Ok(effects) => Exit::Vgic(effects),
        Err(_) => Exit::Resume,
    }
}

/// Emulates an access to the virtual distributor or redistributors.
fn vgic_access(partition: &Partition, vcpu: usize, access: MmioAccess, regs: &mut impl GeneralRegisters) -> Result<Exit, AbortReason> {
    let size = AccessSize::from_bytes(u64::from(access.size)).ok_or(AbortReason::Unmapped)?;
    let mut vgic = partition.vgic.lock();
    if access.write {
        vgic.mmio_write(access.ipa, size, VcpuId(vcpu), access.store_value(regs)).map(Exit::Vgic).map_err(AbortReason::Vgic)
    } else {
        let (value, effects) = vgic.mmio_load(access.ipa, size, VcpuId(vcpu)).map_err(AbortReason::Vgic)?;
        access.complete_load(regs, value);
        Ok(if effects.is_empty() { Exit::Resume } else { Exit::Vgic(effects) })
    }
}

/// A trapped MSR/MRS (ESR ISS for EC 0x18, Arm ARM DDI 0487 M.c D24.2.45: Op0, Op2, Op1, CRn, Rt, CRm, direction).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemRegister {
    pub op0: u8,
    pub op1: u8,
    pub crn: u8,
    pub crm: u8,
    pub op2: u8,
    pub rt: usize,
    pub read: bool,
}

impl SystemRegister {
    pub const fn decode(iss: u32) -> Self {
        Self {
            op0: ((iss >> 20) & 3) as u8,
            op2: ((iss >> 17) & 7) as u8,
            op1: ((iss >> 14) & 7) as u8,
            crn: ((iss >> 10) & 0xf) as u8,
            rt: ((iss >> 5) & 0x1f) as usize,
            crm: ((iss >> 1) & 0xf) as u8,
            read: iss & 1 != 0,
        }
    }

    const fn is(&self, op0: u8, op1: u8, crn: u8, crm: u8, op2: u8) -> bool {
        self.op0 == op0 && self.op1 == op1 && self.crn == crn && self.crm == crm && self.op2 == op2
    }
}

/// Trapped system registers: GICv3 SGI generation goes to the vGIC; the EL1 physical timer
/// (not given to guests: they use the virtual timer) reads as zero and ignores writes, so a
/// guest that probes it sees a timer that never fires rather than faulting.
fn system_register(partition: &Partition, vcpu: usize, esr: Esr, regs: &mut impl GeneralRegisters, pc: &mut u64) -> Exit {
    let r = SystemRegister::decode(esr.iss());
    let exit = if r.is(3, 0, 12, 11, 5) && !r.read {
        // ICC_SGI1R_EL1: a direct partition's go to the physical GIC, for its own vCPUs only.
        if partition.direct {
            let (intid, targets) = partition.vgic.lock().sgi1r_targets(VcpuId(vcpu), regs.x(r.rt));
            *pc = pc.wrapping_add(esr.instruction_length());
            return Exit::DirectSgi { intid, targets };
        }
        match partition.vgic.lock().send_sgi_v3(VcpuId(vcpu), regs.x(r.rt)) {
            Ok(effects) => Exit::Vgic(effects),
            Err(_) => return Exit::Crash { class: esr.class(), esr: esr.0 },
        }
    } else if r.op0 == 3 && r.op1 == 3 && r.crn == 14 && r.crm == 2 && r.op2 <= 2 {
        // CNTP_TVAL_EL0, CNTP_CTL_EL0, CNTP_CVAL_EL0
        if r.read {
            regs.set_x(r.rt, 0);
        }
        Exit::Resume
    } else {
        return Exit::Crash { class: esr.class(), esr: esr.0 };
    };
    *pc = pc.wrapping_add(esr.instruction_length());
    exit
}
