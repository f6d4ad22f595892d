//! Moves a vCPU's EL1 system registers and virtual timer ([`El1Registers`]) in and out of this
//! CPU, for a vCPU that arrives on it or leaves it.

use super::context::El1Registers;
use aarch64_cpu::registers::*;
use tock_registers::interfaces::{Readable, Writeable};

/// Reads this CPU's EL1 registers (the vCPU that just exited).
pub fn save_el1() -> El1Registers {
    El1Registers {
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
pub fn restore_el1(el1: &El1Registers) {
    CNTV_CTL_EL0.set(0);
    SCTLR_EL1.set(el1.sctlr);
    CPACR_EL1.set(el1.cpacr);
    TTBR0_EL1.set(el1.ttbr0);
    TTBR1_EL1.set(el1.ttbr1);
    TCR_EL1.set(el1.tcr);
    MAIR_EL1.set(el1.mair);
    AMAIR_EL1.set(el1.amair);
    VBAR_EL1.set(el1.vbar);
    CONTEXTIDR_EL1.set(el1.contextidr);
    ESR_EL1.set(el1.esr);
    FAR_EL1.set(el1.far);
    PAR_EL1.set(el1.par);
    AFSR0_EL1.set(el1.afsr0);
    AFSR1_EL1.set(el1.afsr1);
    ELR_EL1.set(el1.elr);
    SPSR_EL1.set(el1.spsr);
    SP_EL1.set(el1.sp_el1);
    SP_EL0.set(el1.sp_el0);
    TPIDR_EL1.set(el1.tpidr_el1);
    TPIDR_EL0.set(el1.tpidr_el0);
    TPIDRRO_EL0.set(el1.tpidrro_el0);
    CSSELR_EL1.set(el1.csselr);
    CNTKCTL_EL1.set(el1.cntkctl);
    CNTV_CVAL_EL0.set(el1.cntv_cval);
    CNTV_CTL_EL0.set(el1.cntv_ctl);
    // The EL1 physical timer is not the guest's (its accesses trap) but the hypervisor's
    // health timer: loading a vCPU leaves it armed.
}
