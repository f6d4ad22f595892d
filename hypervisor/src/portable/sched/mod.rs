//! The schedulers of a CPU pool: `null`, `bulkhead,fixed-priority` and `credit2`, as pure
//! logic over a clock the caller gives (ticks of the physical counter).
//!
//! A [`PoolScheduler`] owns the scheduling state of one pool: which vCPUs are runnable, which
//! one each CPU runs, credits, cap budgets and statistics. The runtime calls it under one
//! lock per pool: `wake` and `sleep` when a vCPU's runnability changes, `pick` when a CPU
//! reschedules (at the `until` of its last decision, after a kick, when its vCPU blocks or
//! stops), and acts on what it returns. Nothing here allocates after `add`, and every
//! operation costs at most a few passes over the pool's vCPUs.
//!
//! Invariant: `pick` never returns a vCPU another CPU runs, nor one outside the CPU's pool,
//! pinning or affinity.
//!
//! Times come from the runtime, not from a guest, but a guest decides when it traps, so every
//! sum and product of times and credits saturates, and a clock that goes backwards counts as
//! no time passing.

mod cap;
mod credit2;
mod error;
mod fixed_priority;
mod null;
mod table;
pub mod time;

#[cfg(test)]
mod tests;

use alloc::vec::Vec;

use dom0less_config::Scheduler;

pub use cap::CAP_PERIOD_US;
pub use credit2::{
    CARRYOVER_MAX_US, CREDIT_INIT_US, DEFAULT_WEIGHT, MAX_TIMER_US, MIN_TIMER_US, RATELIMIT_US,
};
pub use error::SchedError;
pub use fixed_priority::SLICE_US;

use table::{Entry, State, Table};

/// A vCPU as the schedulers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VcpuRef {
    /// Index of its partition in the plan.
    pub partition: u16,
    /// Its id within the partition.
    pub vcpu: u16,
}

/// How a vCPU is to be scheduled (from the plan).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VcpuParams {
    /// Credit2 weight, 1..=65535 (Xen's default is 256, [`DEFAULT_WEIGHT`]): a vCPU gets CPU
    /// time in proportion to its weight among those that compete.
    pub weight: u16,
    /// Credit2 cap in percent of one CPU, for the whole partition (0: none). Every vCPU of a
    /// partition gives the same value.
    pub cap_percent: u32,
    /// Fixed-priority priority: higher runs first.
    pub priority: u8,
    /// The CPU it is pinned to (`null` and fixed-priority pools; ignored by credit2).
    pub cpu: Option<usize>,
    /// CPUs it may run on (empty: any CPU of the pool). CPUs outside the pool are ignored.
    pub affinity: Vec<usize>,
    /// Its WFI always traps (its partition's `bulkhead,trap-wfi`): it never runs with WFI not
    /// trapped, even alone on its CPU.
    pub trap_wfi: bool,
}

/// What a CPU runs next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The vCPU to run, or none (idle).
    pub run: Option<VcpuRef>,
    /// The counter value at which the CPU must call `pick` again (slice end, ratelimit end,
    /// cap budget exhausted or replenished); `None`: no tick needed.
    pub until: Option<u64>,
}

impl Decision {
    const IDLE: Self = Self {
        run: None,
        until: None,
    };
}

/// What a vCPU has had, in ticks of the counter, up to the last scheduling event that
/// touched it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuStats {
    /// Time on a CPU.
    pub cpu_time: u64,
    /// Times it was given a CPU (a vCPU that keeps its CPU at a pick is not counted again).
    pub runs: u64,
    /// Time runnable but not running (queued, or parked by its cap).
    pub waiting: u64,
}

/// The scheduler-specific state.
#[derive(Debug)]
enum Policy {
    Null(null::Null),
    FixedPriority(fixed_priority::FixedPriority),
    Credit2(credit2::Credit2),
}

/// The scheduler of one CPU pool.
#[derive(Debug)]
pub struct PoolScheduler {
    kind: Scheduler,
    table: Table,
    policy: Policy,
}

impl PoolScheduler {
    /// A scheduler of kind `kind` for CPUs `cpus` (duplicates ignored) with a counter running
    /// at `frequency_hz`.
    pub fn new(kind: Scheduler, cpus: &[usize], frequency_hz: u64) -> Self {
        let table = Table::new(cpus);
        let policy = match kind {
            Scheduler::Null => Policy::Null(null::Null::new(table.slots.len())),
            Scheduler::FixedPriority => {
                Policy::FixedPriority(fixed_priority::FixedPriority::new(frequency_hz))
            }
            Scheduler::Credit2 => Policy::Credit2(credit2::Credit2::new(frequency_hz)),
        };
        Self {
            kind,
            table,
            policy,
        }
    }

    /// Adds vCPU `v` (at build time); it starts not runnable. This is the only operation
    /// that allocates.
    pub fn add(&mut self, v: VcpuRef, params: VcpuParams) -> Result<(), SchedError> {
        if self.table.find(v).is_some() {
            return Err(SchedError::Duplicate { vcpu: v });
        }
        if params.weight == 0 {
            return Err(SchedError::ZeroWeight { vcpu: v });
        }
        let mut affinity: Vec<usize> = params
            .affinity
            .iter()
            .filter_map(|&cpu| self.table.slot_of(cpu))
            .collect();
        dom0less_config::sort::sort(&mut affinity);
        affinity.dedup();
        if !params.affinity.is_empty() && affinity.is_empty() {
            return Err(SchedError::NoCpuInAffinity { vcpu: v });
        }
        let pinned = if self.kind.pins_vcpus() {
            let cpu = params.cpu.ok_or(SchedError::NotPinned {
                vcpu: v,
                scheduler: self.kind.name(),
            })?;
            let slot = self
                .table
                .slot_of(cpu)
                .ok_or(SchedError::PinnedOutsidePool { vcpu: v, cpu })?;
            if !params.affinity.is_empty() && !params.affinity.contains(&cpu) {
                return Err(SchedError::PinnedOutsideAffinity { vcpu: v, cpu });
            }
            Some(slot)
        } else {
            None
        };
        let index = self.table.entries.len();
        let group = match &mut self.policy {
            Policy::Null(null) => {
                null.claim(&self.table, v, pinned, index)?;
                None
            }
            Policy::FixedPriority(_) => None,
            Policy::Credit2(credit2) => credit2.join(&self.table, v, &params)?,
        };
        let credit = match &self.policy {
            Policy::Credit2(credit2) => credit2.credit_init(),
            _ => 0,
        };
        self.table.entries.push(Entry {
            vcpu: v,
            weight: params.weight,
            priority: params.priority,
            pinned,
            affinity,
            state: State::Asleep,
            since: 0,
            stats: VcpuStats::default(),
            seq: 0,
            yielded: false,
            credit,
            budget: 0,
            group,
            last: None,
            trap_wfi: params.trap_wfi,
        });
        Ok(())
    }

    /// `v` becomes runnable (a no-op if it already is, or if it is unknown). Returns a CPU
    /// of the pool that should reschedule now (kick it): an idle CPU that may run `v`, or
    /// one whose current `v` should preempt.
    pub fn wake(&mut self, v: VcpuRef, now: u64) -> Option<usize> {
        let i = self.table.find(v)?;
        let entry = self.table.entries.get(i)?;
        if entry.runnable() {
            // A vCPU waiting in place is still its CPU's current: that CPU is told, so the
            // wait ends.
            let State::Running(slot) = entry.state else {
                return None;
            };
            let s = self.table.slots.get_mut(slot).filter(|s| s.waiting)?;
            s.tickled = true;
            return Some(s.cpu);
        }
        let slot = match &mut self.policy {
            Policy::Null(_) => null::wake(&mut self.table, i, now),
            Policy::FixedPriority(_) => fixed_priority::wake(&mut self.table, i, now),
            Policy::Credit2(credit2) => credit2.wake(&mut self.table, i, now),
        }?;
        let s = self.table.slots.get_mut(slot)?;
        s.tickled = true;
        Some(s.cpu)
    }

    /// `v` is no longer runnable (blocked in WFI, PSCI CPU_OFF, partition stopped). If it
    /// was running, its run time is accounted and its CPU's current becomes none (the CPU
    /// should pick).
    pub fn sleep(&mut self, v: VcpuRef, now: u64) {
        let Some(i) = self.table.find(v) else { return };
        if let (
            Policy::Credit2(credit2),
            Some(Entry {
                state: State::Running(_),
                ..
            }),
        ) = (&mut self.policy, self.table.entries.get(i))
        {
            credit2.descheduled(&mut self.table, i, now);
        }
        self.table.set(i, State::Asleep, now, false);
    }

    /// CPU `cpu` reschedules at `now`: what it runs next, and when to ask again. A CPU
    /// outside the pool gets idle and no tick.
    pub fn pick(&mut self, cpu: usize, now: u64) -> Decision {
        let Some(slot) = self.table.slot_of(cpu) else {
            return Decision::IDLE;
        };
        // A vCPU that waited in place here and was not resumed (it left the CPU meanwhile)
        // is an ordinary current again, its wait idle time.
        self.table.end_wait(slot, now);
        let (run, until) = match &mut self.policy {
            Policy::Null(null) => (null.pick(&mut self.table, slot, now), None),
            Policy::FixedPriority(fp) => fp.pick(&mut self.table, slot, now),
            Policy::Credit2(credit2) => credit2.pick(&mut self.table, slot, now),
        };
        let native_wfi = run.is_some_and(|i| self.may_run_native(slot, i));
        self.decided(slot, until, native_wfi);
        let run = run.and_then(|i| self.table.entries.get(i)).map(|e| e.vcpu);
        Decision { run, until }
    }

    /// Records a decision that runs a vCPU (or idles) on `slot` until `until`: no tickle
    /// pending, a tick wanted if `until` is set, and whether its vCPU runs with WFI not
    /// trapped (a revocation before it is superseded: no kick).
    fn decided(&mut self, slot: usize, until: Option<u64>, native_wfi: bool) {
        if let Some(s) = self.table.slots.get_mut(slot) {
            s.tickled = false;
            s.ticking = until.is_some();
            s.native_wfi = native_wfi;
            s.kick = false;
        }
    }

    /// Whether vCPU `i`, about to run on `slot`, may run with WFI not trapped: no queued vCPU
    /// may run there, it has no cap (a capped vCPU's wait must not burn its budget) and its
    /// partition does not ask for WFI to trap.
    /// Never in a `null` pool's scheduler (its CPUs run their one vCPU without one).
    fn may_run_native(&self, slot: usize, i: usize) -> bool {
        let may = self.table.entries.get(i).is_some_and(|e| e.group.is_none() && !e.trap_wfi);
        match self.policy {
            Policy::Null(_) => false,
            Policy::FixedPriority(_) | Policy::Credit2(_) => {
                may && !self.table.queued_for(slot)
            }
        }
    }

    /// Whether the current vCPU of CPU `cpu` runs with WFI not trapped, as of the last
    /// decision for that CPU and the vCPUs queued since: the runtime clears HCR_EL2.TWI for
    /// its entries while this holds. Its wait in WFI is then run time (credit burnt, as Xen's
    /// `vwfi=native`), which only a vCPU alone on its CPU gets.
    pub fn native_wfi(&self, cpu: usize) -> bool {
        self.table
            .slot_of(cpu)
            .and_then(|slot| self.table.slots.get(slot))
            .is_some_and(|s| s.native_wfi)
    }

    /// Calls `kick` with every CPU whose current ran with WFI not trapped until a vCPU that
    /// may run there was queued: it must exit and enter again with WFI trapped. Each such CPU
    /// is named once.
    pub fn take_kicks(&mut self, mut kick: impl FnMut(usize)) {
        for s in &mut self.table.slots {
            if core::mem::take(&mut s.kick) {
                kick(s.cpu);
            }
        }
    }

    /// `v`, the current vCPU of CPU `cpu`, blocks (a trapped WFI, `SCHEDOP_block` or
    /// `SCHEDOP_poll`). If nothing else may run on that CPU now, it *waits in place*: it stays
    /// the CPU's current, loaded, and the CPU waits for its interrupt; the wait is idle time
    /// (no CPU time, no credit burnt; its run so far is accounted and its cap quota given
    /// back as at a sleep). Returns the idle decision (when to pick again: a parked vCPU's
    /// replenishment), or `None` (the usual way then: `sleep`, then `pick`).
    ///
    /// A wake of another vCPU that may run there counts the CPU as idle and names it, and
    /// the runtime then calls [`PoolScheduler::resume_here`], which refuses: the waiting
    /// vCPU is put to sleep and woken (a WFI may end for no reason) and the CPU picks.
    pub fn wait_here(&mut self, v: VcpuRef, cpu: usize, now: u64) -> Option<Decision> {
        let (slot, i) = self.table.current_on(cpu, v, false)?;
        let until = match &mut self.policy {
            Policy::Null(_) => return None,
            Policy::FixedPriority(_) => {
                if self.table.queued_for(slot) {
                    return None;
                }
                self.table.settle(i, now);
                None
            }
            Policy::Credit2(credit2) => credit2.wait_here(&mut self.table, slot, i, now)?,
        };
        if let Some(e) = self.table.entries.get_mut(i) {
            e.yielded = false;
        }
        if let Some(s) = self.table.slots.get_mut(slot) {
            s.waiting = true;
            s.tickled = false;
            s.ticking = until.is_some();
            s.native_wfi = false;
        }
        Some(Decision { run: None, until })
    }

    /// CPU `cpu` woke while `v` waited in place there (an interrupt for it, its timer, a
    /// kick, a deadline). If nothing else may run there and (credit2) its cap leaves it
    /// budget, `v` runs on as a pick would have chosen it: a new run starts, with a new
    /// slice. Returns that decision, or `None`, and then the runtime ends the wait the
    /// usual way (`sleep` and `wake` of `v`, then `pick`).
    pub fn resume_here(&mut self, v: VcpuRef, cpu: usize, now: u64) -> Option<Decision> {
        let (slot, i) = self.table.current_on(cpu, v, true)?;
        let until = match &mut self.policy {
            Policy::Null(_) => return None,
            Policy::FixedPriority(_) => {
                if self.table.queued_for(slot) {
                    return None;
                }
                self.table.resume(slot, now);
                None
            }
            Policy::Credit2(credit2) => Some(credit2.resume_here(&mut self.table, slot, i, now)?),
        };
        let native_wfi = self.may_run_native(slot, i);
        self.decided(slot, until, native_wfi);
        Some(Decision {
            run: Some(v),
            until,
        })
    }

    /// `v` gives up the rest of its slice (SCHEDOP_yield) and stays runnable; the runtime
    /// then calls `pick` on its CPU. Under credit2 and fixed priority it runs again only if
    /// nothing else (of its priority) waits; under `null` this does nothing.
    pub fn yield_now(&mut self, v: VcpuRef, now: u64) {
        let Some(i) = self.table.find(v) else { return };
        match self.policy {
            Policy::Null(_) => {}
            Policy::FixedPriority(_) => fixed_priority::yield_now(&mut self.table, i, now),
            Policy::Credit2(_) => {
                if let Some(e) = self.table.entries.get_mut(i) {
                    e.yielded = matches!(e.state, State::Running(_));
                }
            }
        }
    }

    /// The vCPU CPU `cpu` runs, as of its last pick.
    pub fn current(&self, cpu: usize) -> Option<VcpuRef> {
        let i = self.table.current(self.table.slot_of(cpu)?)?;
        self.table.entries.get(i).map(|e| e.vcpu)
    }

    /// `v`'s statistics, up to the last scheduling event that touched it.
    pub fn stats(&self, v: VcpuRef) -> Option<VcpuStats> {
        self.table.entries.get(self.table.find(v)?).map(|e| e.stats)
    }

    /// The pool's scheduler.
    pub fn kind(&self) -> Scheduler {
        self.kind
    }
}
