//! What every scheduler keeps: the pool's CPUs, its vCPUs, where each vCPU is, and its
//! statistics. The schedulers decide; this table records and accounts.
//!
//! Invariant: a vCPU is `Running(slot)` exactly when `slots[slot].current` names it, so no
//! vCPU is ever current on two CPUs.
//!
//! A current vCPU may *wait in place* (`Slot::waiting`): it blocked with nothing else to run
//! on its CPU, which keeps it loaded and waits for its interrupt. It stays `Running(slot)`,
//! so no other CPU takes it, but the time it waits is idle time: no CPU time, no credit
//! burnt ([`Table::settle`]), and a wake of another vCPU finds its CPU idle
//! ([`Table::busy`]).
//!
//! A current vCPU may also run with WFI not trapped (`Slot::native_wfi`) while no queued vCPU
//! may run on its CPU and it has no cap: its wait in WFI is run time then. A vCPU queued
//! that may run there revokes it and asks the runtime to kick that CPU (`Slot::kick`), so
//! its next entry traps WFI again.
//!
//! Invariant: no slot has `native_wfi` while a queued vCPU may run on it.

use alloc::vec::Vec;

use super::{VcpuRef, VcpuStats};

/// Where a vCPU is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Not runnable: never woken, blocked in WFI, off, or its partition stopped.
    Asleep,
    /// Runnable and waiting for a CPU (on the runqueue).
    Queued,
    /// Runnable but out of cap budget until the next replenishment (credit2 only).
    Parked,
    /// On the CPU of this slot.
    Running(usize),
}

/// One vCPU of the pool.
#[derive(Debug)]
pub struct Entry {
    pub vcpu: VcpuRef,
    pub weight: u16,
    pub priority: u8,
    /// Slot of the CPU it is pinned to (null and fixed-priority).
    pub pinned: Option<usize>,
    /// Slots it may run on, sorted; empty: any of the pool.
    pub affinity: Vec<usize>,
    pub state: State,
    /// When its statistics were last brought up to date.
    pub since: u64,
    pub stats: VcpuStats,
    /// Queue order among equals: lower is earlier.
    pub seq: u64,
    /// It gave up the rest of its slice.
    pub yielded: bool,
    /// Credit2 credit, in ticks of run time at the pool's highest weight.
    pub credit: i64,
    /// Credit2 cap budget it holds while it runs, in ticks.
    pub budget: i64,
    /// Index of its partition's cap group (credit2, capped partitions only).
    pub group: Option<usize>,
    /// The slot it last ran on (credit2 wakes it there first when that CPU is idle).
    pub last: Option<usize>,
    /// Its WFI always traps (`VcpuParams::trap_wfi`).
    pub trap_wfi: bool,
}

impl Entry {
    /// Whether it may run on the CPU of `slot`.
    pub fn allows(&self, slot: usize) -> bool {
        match self.pinned {
            Some(pinned) => pinned == slot,
            None => self.affinity.is_empty() || self.affinity.binary_search(&slot).is_ok(),
        }
    }

    /// Whether it is runnable (queued, parked or running).
    pub fn runnable(&self) -> bool {
        self.state != State::Asleep
    }
}

/// One CPU of the pool.
#[derive(Debug)]
pub struct Slot {
    /// The CPU's number, as the runtime gives it.
    pub cpu: usize,
    /// Index of the vCPU it runs.
    pub current: Option<usize>,
    /// When `current` started its present run on this CPU (ratelimit, slices).
    pub run_start: u64,
    /// A wake returned this CPU and it has not picked since.
    pub tickled: bool,
    /// Its last decision asked for a tick (`until` was set).
    pub ticking: bool,
    /// `current` waits in place for an interrupt: the CPU is idle, the vCPU stays loaded.
    pub waiting: bool,
    /// `current` runs with WFI not trapped (nothing queued may run here, no cap).
    pub native_wfi: bool,
    /// `native_wfi` was revoked by a vCPU queued for this CPU: the runtime must kick it so
    /// its current exits and enters again with WFI trapped.
    pub kick: bool,
}

/// The pool's CPUs and vCPUs.
#[derive(Debug)]
pub struct Table {
    /// Sorted by CPU number, no duplicates.
    pub slots: Vec<Slot>,
    /// In the order added; indices are stable (nothing is ever removed).
    pub entries: Vec<Entry>,
    next_seq: u64,
}

impl Table {
    pub fn new(cpus: &[usize]) -> Self {
        let mut numbers: Vec<usize> = cpus.to_vec();
        dom0less_config::sort::sort(&mut numbers);
        numbers.dedup();
        let slots = numbers
            .into_iter()
            .map(|cpu| Slot {
                cpu,
                current: None,
                run_start: 0,
                tickled: false,
                ticking: false,
                waiting: false,
                native_wfi: false,
                kick: false,
            })
            .collect();
        Self {
            slots,
            entries: Vec::new(),
            next_seq: 0,
        }
    }

    /// The slot of CPU `cpu`, if it is in the pool.
    pub fn slot_of(&self, cpu: usize) -> Option<usize> {
        self.slots.binary_search_by_key(&cpu, |s| s.cpu).ok()
    }

    /// The index of `vcpu`, if it was added.
    pub fn find(&self, vcpu: VcpuRef) -> Option<usize> {
        self.entries.iter().position(|e| e.vcpu == vcpu)
    }

    /// A queue position after every one given so far. (A 64-bit count of queue insertions
    /// does not wrap in the life of a board.)
    pub fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        seq
    }

    /// Brings vCPU `i`'s statistics up to `now` and returns the ticks since the last time:
    /// run time while running, waiting time while queued or parked. A vCPU that waits in
    /// place gets neither and 0 is returned: that time is its CPU's idle time. A `now`
    /// earlier than the last update counts as no time.
    pub fn settle(&mut self, i: usize, now: u64) -> u64 {
        let Some(e) = self.entries.get_mut(i) else {
            return 0;
        };
        let delta = now.saturating_sub(e.since);
        e.since = e.since.max(now);
        match e.state {
            State::Running(slot) if self.slots.get(slot).is_some_and(|s| s.waiting) => return 0,
            State::Running(_) => e.stats.cpu_time = e.stats.cpu_time.saturating_add(delta),
            State::Queued | State::Parked => {
                e.stats.waiting = e.stats.waiting.saturating_add(delta)
            }
            State::Asleep => {}
        }
        delta
    }

    /// Moves vCPU `i` to `state` (not `Running`: see [`Table::run`]), settling its
    /// statistics first and freeing its CPU if it ran. `Queued` puts it at the back of the
    /// queue unless `keep_place`.
    pub fn set(&mut self, i: usize, state: State, now: u64, keep_place: bool) {
        self.settle(i, now);
        let seq = if state == State::Queued && !keep_place {
            Some(self.next_seq())
        } else {
            None
        };
        let Some(e) = self.entries.get_mut(i) else {
            return;
        };
        if let State::Running(slot) = e.state {
            if let Some(s) = self.slots.get_mut(slot) {
                s.current = None;
                s.waiting = false;
                s.native_wfi = false;
            }
        }
        e.state = state;
        if let Some(seq) = seq {
            e.seq = seq;
        }
        if state == State::Asleep {
            e.yielded = false;
        }
        if state == State::Queued {
            self.revoke_native_wfi(i);
        }
    }

    /// vCPU `i` was queued: every CPU it may run on whose current runs with WFI not trapped
    /// traps it again from its next entry, and is to be kicked.
    fn revoke_native_wfi(&mut self, i: usize) {
        let Some(e) = self.entries.get(i) else {
            return;
        };
        for (slot, s) in self.slots.iter_mut().enumerate() {
            if s.native_wfi && e.allows(slot) {
                s.native_wfi = false;
                s.kick = true;
            }
        }
    }

    /// Starts vCPU `i` (queued) on the CPU of `slot` (whose current the caller has moved
    /// off).
    pub fn run(&mut self, i: usize, slot: usize, now: u64) {
        self.settle(i, now);
        let (Some(e), Some(s)) = (self.entries.get_mut(i), self.slots.get_mut(slot)) else {
            return;
        };
        e.state = State::Running(slot);
        e.last = Some(slot);
        e.stats.runs = e.stats.runs.saturating_add(1);
        s.current = Some(i);
        s.run_start = now;
        s.waiting = false;
        s.native_wfi = false;
    }

    /// The CPU number of `slot`.
    pub fn cpu(&self, slot: usize) -> Option<usize> {
        self.slots.get(slot).map(|s| s.cpu)
    }

    /// The current vCPU of `slot`.
    pub fn current(&self, slot: usize) -> Option<usize> {
        self.slots.get(slot).and_then(|s| s.current)
    }

    /// The current vCPU of `slot` unless it waits in place: `None` when the CPU is idle.
    pub fn busy(&self, slot: usize) -> Option<usize> {
        self.slots
            .get(slot)
            .filter(|s| !s.waiting)
            .and_then(|s| s.current)
    }

    /// The vCPU waiting in place on `slot`, if its current does.
    pub fn waiting(&self, slot: usize) -> Option<usize> {
        self.slots
            .get(slot)
            .filter(|s| s.waiting)
            .and_then(|s| s.current)
    }

    /// The slot of CPU `cpu` and `v`'s entry, if `v` is that CPU's current and waits in place
    /// there (`waiting`) or runs there (`!waiting`).
    pub fn current_on(&self, cpu: usize, v: VcpuRef, waiting: bool) -> Option<(usize, usize)> {
        let slot = self.slot_of(cpu)?;
        let i = if waiting { self.waiting(slot)? } else { self.busy(slot)? };
        (self.entries.get(i)?.vcpu == v).then_some((slot, i))
    }

    /// Whether a queued vCPU may run on `slot`.
    pub fn queued_for(&self, slot: usize) -> bool {
        self.entries
            .iter()
            .any(|e| e.state == State::Queued && e.allows(slot))
    }

    /// Ends the wait in place of `slot`'s current, if it waits: the time so far was idle.
    /// Returns that vCPU.
    pub fn end_wait(&mut self, slot: usize, now: u64) -> Option<usize> {
        let i = self.waiting(slot)?;
        self.settle(i, now);
        if let Some(s) = self.slots.get_mut(slot) {
            s.waiting = false;
        }
        Some(i)
    }

    /// The vCPU waiting in place on `slot` runs there again: its wait was idle time, and a
    /// new run starts now (as [`Table::run`] starts one). Returns it.
    pub fn resume(&mut self, slot: usize, now: u64) -> Option<usize> {
        let i = self.end_wait(slot, now)?;
        if let Some(e) = self.entries.get_mut(i) {
            e.stats.runs = e.stats.runs.saturating_add(1);
        }
        if let Some(s) = self.slots.get_mut(slot) {
            s.run_start = now;
        }
        Some(i)
    }
}
