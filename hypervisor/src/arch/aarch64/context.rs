//! A vCPU's register state as the world switch saves and restores it: general registers, PC
//! and PSTATE (saved on every exit), the EL1 system registers with the virtual timer, and the
//! FP/SIMD registers (saved when a vCPU leaves its CPU). Pure data: it builds on the host, and
//! `vcpu_context.rs` and `world.rs` move it in and out of the hardware.

pub use super::gic::virtual_regs::VirtualCpuState;

/// `x0`..`x30`, the PC and PSTATE of a vCPU, in the layout the exception vectors use
/// (`vectors.s` stores into it by offset).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuestRegisters {
    /// `x0` to `x30`.
    pub x: [u64; 31],
    /// Where the guest resumes (`ELR_EL2` at the exit).
    pub pc: u64,
    /// The guest's PSTATE (`SPSR_EL2` at the exit).
    pub pstate: u64,
    _pad: u64,
}

/// The offsets `vectors.s` relies on.
pub const GUEST_REGISTERS_PC: usize = 31 * 8;
const _: () = assert!(core::mem::offset_of!(GuestRegisters, pc) == GUEST_REGISTERS_PC);
const _: () = assert!(core::mem::offset_of!(GuestRegisters, pstate) == GUEST_REGISTERS_PC + 8);
const _: () = assert!(core::mem::size_of::<GuestRegisters>() == 272);

/// PSTATE for a vCPU's first instruction: EL1h with D, A, I and F masked (the Linux boot
/// protocol's entry state).
pub const PSTATE_EL1H_MASKED: u64 = 0x3c5;

impl GuestRegisters {
    /// A vCPU about to run its first instruction at `pc`, with `x0` = `x0` and every other
    /// register zero.
    pub const fn at_entry(pc: u64, x0: u64) -> Self {
        let mut x = [0; 31];
        x[0] = x0;
        Self { x, pc, pstate: PSTATE_EL1H_MASKED, _pad: 0 }
    }
}

/// The FP/SIMD registers of a vCPU (`V0`..`V31`, `FPCR`, `FPSR`). The hypervisor is built
/// without FP code generation, so these hold the guest's values until a switch saves them.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FpRegisters {
    /// `V0` to `V31`.
    pub v: [u128; 32],
    pub fpcr: u64,
    pub fpsr: u64,
}

impl Default for FpRegisters {
    fn default() -> Self {
        Self::RESET
    }
}

impl FpRegisters {
    /// All zero, as after reset.
    pub const RESET: Self = Self { v: [0; 32], fpcr: 0, fpsr: 0 };
}

/// The offsets `world.rs`'s FP save and restore rely on.
pub const FP_REGISTERS_FPCR: usize = 32 * 16;
const _: () = assert!(core::mem::offset_of!(FpRegisters, fpcr) == FP_REGISTERS_FPCR);
const _: () = assert!(core::mem::offset_of!(FpRegisters, fpsr) == FP_REGISTERS_FPCR + 8);

/// SCTLR_EL1's architectural RES1 bits with the MMU and caches off, as the Linux boot protocol
/// wants a guest to start.
const SCTLR_EL1_RESET: u64 = 0x30d0_0800;

/// The EL1 (and EL0 thread-ID) system registers of one vCPU, with its virtual timer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct El1Registers {
    pub sctlr: u64,
    pub cpacr: u64,
    pub ttbr0: u64,
    pub ttbr1: u64,
    pub tcr: u64,
    pub mair: u64,
    pub amair: u64,
    pub vbar: u64,
    pub contextidr: u64,
    pub esr: u64,
    pub far: u64,
    pub par: u64,
    pub afsr0: u64,
    pub afsr1: u64,
    pub elr: u64,
    pub spsr: u64,
    pub sp_el1: u64,
    pub sp_el0: u64,
    pub tpidr_el1: u64,
    pub tpidr_el0: u64,
    pub tpidrro_el0: u64,
    pub csselr: u64,
    pub cntkctl: u64,
    pub cntv_ctl: u64,
    pub cntv_cval: u64,
}

impl El1Registers {
    /// The state a vCPU starts in: MMU and caches off, no vectors, timer off.
    pub const RESET: El1Registers = El1Registers {
        sctlr: SCTLR_EL1_RESET,
        cpacr: 0,
        ttbr0: 0,
        ttbr1: 0,
        tcr: 0,
        mair: 0,
        amair: 0,
        vbar: 0,
        contextidr: 0,
        esr: 0,
        far: 0,
        par: 0,
        afsr0: 0,
        afsr1: 0,
        elr: 0,
        spsr: 0,
        sp_el1: 0,
        sp_el0: 0,
        tpidr_el1: 0,
        tpidr_el0: 0,
        tpidrro_el0: 0,
        csselr: 0,
        cntkctl: 0,
        cntv_ctl: 0,
        cntv_cval: 0,
    };
}

impl core::fmt::Display for El1Registers {
    /// The registers that explain a guest crash.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "SCTLR_EL1 {:#x} VBAR_EL1 {:#x} ESR_EL1 {:#x} FAR_EL1 {:#x} ELR_EL1 {:#x} SPSR_EL1 {:#x} SP_EL1 {:#x} TTBR0_EL1 {:#x} TTBR1_EL1 {:#x}",
            self.sctlr, self.vbar, self.esr, self.far, self.elr, self.spsr, self.sp_el1, self.ttbr0, self.ttbr1
        )
    }
}

/// Everything of a vCPU that lives in CPU registers while it runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuRegisters {
    pub general: GuestRegisters,
    pub el1: El1Registers,
    pub fp: FpRegisters,
    /// The GIC virtual CPU interface's VMCR and active priorities (the list registers are the
    /// vGIC model's).
    pub interface: VirtualCpuState,
}

impl VcpuRegisters {
    /// A vCPU's registers before its first instruction at `pc` with `x0`.
    pub const fn at_entry(pc: u64, x0: u64) -> Self {
        Self {
            general: GuestRegisters::at_entry(pc, x0),
            el1: El1Registers::RESET,
            fp: FpRegisters::RESET,
            interface: VirtualCpuState { vmcr: 0, ap0r: [0; 4], ap1r: [0; 4] },
        }
    }
}

/// Which exception vector a guest exit came through (the lower-EL half of the table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitVector {
    Synchronous,
    Irq,
    Fiq,
    SError,
    /// An exception through the lower-EL AArch32 vectors, taken only when EL1 is AArch32,
    /// which HCR_EL2.RW never lets a guest be: exceptions from a guest's AArch32 EL0 come
    /// through the AArch64 vectors (Arm ARM, "Exception vectors") with AArch32 syndromes. Handled as a
    /// crash all the same.
    Aarch32,
}

impl ExitVector {
    /// Decodes the vector index `vectors.s` returns (8 to 15 for lower ELs).
    pub const fn from_index(index: u64) -> Self {
        match index {
            8 => Self::Synchronous,
            9 => Self::Irq,
            10 => Self::Fiq,
            11 => Self::SError,
            _ => Self::Aarch32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vcpu_starts_with_x0_pc_and_masked_el1h() {
        let regs = VcpuRegisters::at_entry(0x4008_0000, 0x4800_0000);
        assert_eq!(regs.general.pc, 0x4008_0000);
        assert_eq!(regs.general.x[0], 0x4800_0000);
        assert!(regs.general.x[1..].iter().all(|&x| x == 0));
        assert_eq!(regs.general.pstate & 0xf, 0b0101, "EL1h");
        assert_eq!(regs.general.pstate & 0x3c0, 0x3c0, "DAIF masked");
        assert_eq!(regs.el1, El1Registers::RESET);
        assert_eq!(regs.fp, FpRegisters::RESET);
    }

    #[test]
    fn exit_vectors_decode() {
        assert_eq!(ExitVector::from_index(8), ExitVector::Synchronous);
        assert_eq!(ExitVector::from_index(9), ExitVector::Irq);
        assert_eq!(ExitVector::from_index(10), ExitVector::Fiq);
        assert_eq!(ExitVector::from_index(11), ExitVector::SError);
        assert_eq!(ExitVector::from_index(12), ExitVector::Aarch32);
        assert_eq!(ExitVector::from_index(15), ExitVector::Aarch32);
    }
}
