//! The few system registers the guests read: MPIDR and the generic timer's virtual counter.

use core::arch::asm;

/// MPIDR_EL1 affinity fields Aff3, Aff2, Aff1 and Aff0, as the device tree's `cpu` `reg`.
pub fn mpidr() -> u64 {
    let value: u64;
    // SAFETY: reading MPIDR_EL1 has no side effects.
    unsafe { asm!("mrs {}, mpidr_el1", out(reg) value, options(nomem, nostack, preserves_flags)) };
    value & 0xff_00ff_ffff
}

/// Microseconds since an arbitrary point, from CNTVCT_EL0 and CNTFRQ_EL0.
pub fn micros() -> u64 {
    let (count, frequency): (u64, u64);
    // SAFETY: reading the counter and its frequency has no side effects; the ISB keeps the
    // counter read from being hoisted.
    unsafe {
        asm!("isb", "mrs {}, cntvct_el0", "mrs {}, cntfrq_el0", out(reg) count,
            out(reg) frequency, options(nomem, nostack, preserves_flags))
    };
    if frequency == 0 {
        // No frequency: count ticks instead, so timeouts still end.
        return count;
    }
    (u128::from(count) * 1_000_000 / u128::from(frequency)) as u64
}

/// The generic timer's frequency in Hz (CNTFRQ_EL0); 0 if firmware left it unset.
pub fn counter_frequency() -> u64 {
    let frequency: u64;
    // SAFETY: reading CNTFRQ_EL0 has no side effects.
    unsafe { asm!("mrs {}, cntfrq_el0", out(reg) frequency, options(nomem, nostack, preserves_flags)) };
    frequency
}

/// Waits until `done` holds or `timeout_micros` pass; returns whether `done` held.
pub fn wait_until(timeout_micros: u64, mut done: impl FnMut() -> bool) -> bool {
    let start = micros();
    loop {
        if done() {
            return true;
        }
        if micros().wrapping_sub(start) > timeout_micros {
            return done();
        }
        core::hint::spin_loop();
    }
}

/// The EL1 virtual timer (Arm ARM D13.8: CNTV_CTL_EL0, CNTV_CVAL_EL0).
pub mod virtual_timer {
    use core::arch::asm;

    /// `CNTV_CTL_EL0.ENABLE`.
    pub const ENABLE: u64 = 1 << 0;
    /// `CNTV_CTL_EL0.IMASK`.
    pub const IMASK: u64 = 1 << 1;
    /// `CNTV_CTL_EL0.ISTATUS`: the deadline has passed.
    pub const ISTATUS: u64 = 1 << 2;

    /// Sets the compare value, then the control register.
    pub fn arm(cval: u64, ctl: u64) {
        // SAFETY: the virtual timer's registers only affect its interrupt.
        unsafe {
            asm!("msr cntv_cval_el0, {}", "msr cntv_ctl_el0, {}", "isb", in(reg) cval,
                in(reg) ctl, options(nostack, preserves_flags))
        };
    }

    /// `CNTV_CTL_EL0`.
    pub fn control() -> u64 {
        let value: u64;
        // SAFETY: reading CNTV_CTL_EL0 has no side effects.
        unsafe { asm!("mrs {}, cntv_ctl_el0", out(reg) value, options(nomem, nostack, preserves_flags)) };
        value
    }

    /// The virtual counter (CNTVCT_EL0).
    pub fn count() -> u64 {
        let value: u64;
        // SAFETY: reading the counter has no side effects; the ISB keeps it in order.
        unsafe { asm!("isb", "mrs {}, cntvct_el0", out(reg) value, options(nomem, nostack, preserves_flags)) };
        value
    }
}

/// Waits for an interrupt with PSTATE.I masked: a pending one ends the wait without being
/// taken (the guests poll their GIC instead of taking interrupts).
pub fn wait_for_interrupt() {
    // SAFETY: masking IRQs and waiting only affect this CPU; the guests run no interrupt
    // handlers.
    unsafe { asm!("msr daifset, #2", "dsb sy", "wfi", options(nostack, preserves_flags)) };
}

/// Masks IRQs at this CPU (PSTATE.I): a pending interrupt then waits for the guest to
/// acknowledge it at the GIC instead of being taken.
pub fn mask_interrupts() {
    // SAFETY: setting PSTATE.I only masks interrupts; no memory is touched.
    unsafe { asm!("msr daifset, #2", options(nostack, preserves_flags)) };
}
