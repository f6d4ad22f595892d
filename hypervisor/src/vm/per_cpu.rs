//! Each CPU's own state in one place: the vCPU it runs (for the state dump) and the record of
//! its latest guest exit. A CPU finds its entry by its index, which TPIDR_EL2 holds; only that
//! CPU writes its entry (but for two flags another CPU sets before it kicks this one), and
//! the state dump reads every entry.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use locks::Mutex;

use crate::arch::aarch64::cpu;
use crate::arch::aarch64::entry::MAX_CPUS;

/// The vCPU a CPU runs.
#[derive(Clone, Copy, Debug)]
pub struct Running {
    pub partition: usize,
    pub vcpu: usize,
}

/// One CPU's latest exit from its guest.
pub struct ExitRecord {
    /// Exits through the full path (`record_exit`).
    pub count: AtomicU64,
    /// Traps answered on the fast path (`record_fast_exit`), not in `count`.
    pub fast: AtomicU64,
    pub kind: AtomicU64,
    pub esr: AtomicU64,
    pub pc: AtomicU64,
    /// The physical counter at the exit.
    pub at: AtomicU64,
}

/// One CPU's state.
pub struct PerCpu {
    /// The vCPU it runs, if any.
    pub running: Mutex<Option<Running>>,
    /// Its latest guest exit.
    pub exits: ExitRecord,
    /// Physical interrupts it acknowledged (the operator's `irq`).
    pub interrupts: AtomicU64,
    /// Set when its scheduler must choose again: by this CPU (its EL2 timer, a vCPU woken for
    /// it here) or by another just before that one's kick SGI (`vm::sched::kick`, whose
    /// barrier makes the store visible before the SGI). Only this CPU clears it. A kick SGI
    /// alone (an interrupt raised for its vCPU, a stop) asks for no choice.
    reschedule: AtomicBool,
    /// Its current vCPU ran with WFI not trapped and a vCPU that may run here was queued
    /// (`PoolScheduler::take_kicks`): its WFI traps again from its next entry. Set under the
    /// pool's lock, by any CPU; this CPU takes it before it enters its guest. One set after a
    /// later decision let the vCPU run with WFI not trapped again only traps it until the
    /// next decision.
    trap_wfi: AtomicBool,
    /// Its scheduler's next deadline (counter ticks; `u64::MAX`: none). The EL2 timer is
    /// armed for it, or for a waiting vCPU's earlier deadline (`cpu_loop::arm_el2_timer`);
    /// only this CPU reads and writes it.
    pub slice: AtomicU64,
}

impl PerCpu {
    /// Asks this CPU's loop to consult its scheduler at the next opportunity (from another
    /// CPU, a kick SGI must follow).
    pub fn request_reschedule(&self) {
        self.reschedule.store(true, Ordering::Relaxed);
    }

    /// Asks this CPU to trap its current vCPU's WFI from its next entry (from another CPU, a
    /// kick SGI must follow).
    pub fn request_trap_wfi(&self) {
        self.trap_wfi.store(true, Ordering::Relaxed);
    }

    /// Whether a WFI trap was asked for since the last call (and clears it).
    pub fn take_trap_wfi(&self) -> bool {
        self.trap_wfi.swap(false, Ordering::Relaxed)
    }

    /// Whether a reschedule was asked for and not yet taken (leaves it asked).
    pub fn reschedule_requested(&self) -> bool {
        self.reschedule.load(Ordering::Relaxed)
    }

    /// Whether a reschedule was asked for since the last call (and clears it).
    pub fn take_reschedule(&self) -> bool {
        self.reschedule.swap(false, Ordering::Relaxed)
    }
}

/// Every CPU's state, by CPU index.
pub static CPUS: [PerCpu; MAX_CPUS] = [const {
    PerCpu {
        running: Mutex::new(None),
        exits: ExitRecord {
            count: AtomicU64::new(0),
            fast: AtomicU64::new(0),
            kind: AtomicU64::new(0),
            esr: AtomicU64::new(0),
            pc: AtomicU64::new(0),
            at: AtomicU64::new(0),
        },
        interrupts: AtomicU64::new(0),
        reschedule: AtomicBool::new(false),
        trap_wfi: AtomicBool::new(false),
        slice: AtomicU64::new(u64::MAX),
    }
}; MAX_CPUS];

/// CPU `cpu`'s state (the last entry for an index past `MAX_CPUS`, which boot refuses).
pub fn of(cpu: usize) -> &'static PerCpu {
    &CPUS[cpu.min(MAX_CPUS - 1)]
}

/// This CPU's state (boot refuses more CPUs than `MAX_CPUS`, so the index is in range; an
/// index past it would find the last entry rather than fault).
pub fn this() -> &'static PerCpu {
    let index = cpu::index().min(MAX_CPUS - 1);
    &CPUS[index]
}
