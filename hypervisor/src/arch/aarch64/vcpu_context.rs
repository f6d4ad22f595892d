//! A vCPU's EL1 state: what stays in the registers while the vCPU runs and must be saved and
//! restored when a scheduler puts another vCPU on the same CPU.
//!
//! FP/SIMD registers are not part of it: the hypervisor never touches them (softfloat
//! target), and with one vCPU per CPU they stay live. A switching scheduler must save them
//! eagerly on a switch (CPTR_EL2 traps could make it lazy); that is written with it.

use aarch64_cpu::registers::*;
use core::fmt;
use tock_registers::interfaces::{Readable, Writeable};

/// SCTLR_EL1's architectural RES1 bits with the MMU and caches off, as the Linux boot protocol
/// wants a guest to start.
const SCTLR_EL1_RESET: u64 = 0x30d0_0800;

/// The EL1 (and EL0 thread-ID) system registers of one vCPU, with its virtual timer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct El1Context {
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

impl El1Context {
    /// The state a vCPU starts in: MMU and caches off, no vectors, timer off.
    pub const RESET: El1Context = El1Context {
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

    /// Reads this CPU's EL1 registers (the vCPU that just exited).
    pub fn save() -> Self {
        Self {
            sctlr: SCTLR_EL1.get(),
            cpacr: CPACR_EL1.get(),
            ttbr0: TTBR0_EL1.get(),
            ttbr1: TTBR1_EL1.get(),
            tcr: TCR_EL1.get(),
            mair: MAIR_EL1.get(),
            amair: AMAIR_EL1.get(),
            vbar: VBAR_EL1.get(),
            contextidr: CONTEXTIDR_EL1.get(),
            esr: ESR_EL1.get(),
            far: FAR_EL1.get(),
            par: PAR_EL1.get(),
            afsr0: AFSR0_EL1.get(),
            afsr1: AFSR1_EL1.get(),
            elr: ELR_EL1.get(),
            spsr: SPSR_EL1.get(),
            sp_el1: SP_EL1.get(),
            sp_el0: SP_EL0.get(),
            tpidr_el1: TPIDR_EL1.get(),
            tpidr_el0: TPIDR_EL0.get(),
            tpidrro_el0: TPIDRRO_EL0.get(),
            csselr: CSSELR_EL1.get(),
            cntkctl: CNTKCTL_EL1.get(),
            cntv_ctl: CNTV_CTL_EL0.get(),
            cntv_cval: CNTV_CVAL_EL0.get(),
        }
    }

    /// Loads the registers for the vCPU about to run. The timer's control goes last, once its
    /// compare value is in place, so it cannot fire on a stale value.
    pub fn restore(&self) {
        CNTV_CTL_EL0.set(0);
        SCTLR_EL1.set(self.sctlr);
        CPACR_EL1.set(self.cpacr);
        TTBR0_EL1.set(self.ttbr0);
        TTBR1_EL1.set(self.ttbr1);
        TCR_EL1.set(self.tcr);
        MAIR_EL1.set(self.mair);
        AMAIR_EL1.set(self.amair);
        VBAR_EL1.set(self.vbar);
        CONTEXTIDR_EL1.set(self.contextidr);
        ESR_EL1.set(self.esr);
        FAR_EL1.set(self.far);
        PAR_EL1.set(self.par);
        AFSR0_EL1.set(self.afsr0);
        AFSR1_EL1.set(self.afsr1);
        ELR_EL1.set(self.elr);
        SPSR_EL1.set(self.spsr);
        SP_EL1.set(self.sp_el1);
        SP_EL0.set(self.sp_el0);
        TPIDR_EL1.set(self.tpidr_el1);
        TPIDR_EL0.set(self.tpidr_el0);
        TPIDRRO_EL0.set(self.tpidrro_el0);
        CSSELR_EL1.set(self.csselr);
        CNTKCTL_EL1.set(self.cntkctl);
        CNTV_CVAL_EL0.set(self.cntv_cval);
        CNTV_CTL_EL0.set(self.cntv_ctl);
        // The physical timer is not the guest's: keep it off.
        CNTP_CTL_EL0.set(0);
    }
}

impl fmt::Display for El1Context {
    /// The registers that explain a guest crash.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SCTLR_EL1 {:#x} VBAR_EL1 {:#x} ESR_EL1 {:#x} FAR_EL1 {:#x} ELR_EL1 {:#x} SPSR_EL1 {:#x} SP_EL1 {:#x} TTBR0_EL1 {:#x} TTBR1_EL1 {:#x}",
            self.sctlr, self.vbar, self.esr, self.far, self.elr, self.spsr, self.sp_el1, self.ttbr0, self.ttbr1
        )
    }
}
