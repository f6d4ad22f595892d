//! Credit2, after Xen's (`xen/common/sched/credit2.c` and its design notes): the facts and
//! constants are Xen's, the code is ours. One runqueue per pool, shared by the pool's CPUs
//! (a CPU takes the best vCPU its affinity allows, which is the load balancing).
//!
//! - Every vCPU starts with [`CREDIT_INIT_US`] of credit. Running burns it at
//!   `max_weight / weight` per tick (`max_weight`: the highest weight in the pool), so over
//!   time vCPUs that compete get CPU time in proportion to their weights.
//! - A CPU runs the queued vCPU with the most credit; the current vCPU keeps the CPU while
//!   it has at least as much (or if it has run less than [`RATELIMIT_US`] and does not block
//!   or yield).
//! - When the vCPU about to run has no credit left (<= 0), every vCPU of the pool gets
//!   [`CREDIT_INIT_US`] more (times as many as the chosen one needs to get above zero), and
//!   credit above `CREDIT_INIT_US + CARRYOVER_MAX_US` is clipped: a vCPU that slept cannot
//!   hoard credit.
//! - A slice runs until the vCPU's credit falls to that of the best waiting vCPU, within
//!   [`MIN_TIMER_US`] and [`MAX_TIMER_US`], and not less than what is left of the ratelimit.
//! - A wake kicks an idle CPU the woken vCPU may use (the one it last ran on first), else the
//!   CPU whose current vCPU has the least credit if the woken one has more.
//! - Caps: see [`super::cap`].
//!
//! Guarantee: no starvation. A queued vCPU's credit does not fall while it waits, the running
//! ones' does, and a reset lifts everyone alike, so every runnable vCPU reaches the head of
//! the queue within a few `MAX_TIMER_US` slices per competitor on the CPUs it may use.

use super::cap::Caps;
use super::table::{State, Table};
use super::time::{scale, signed, ticks_from_micros};
use super::{SchedError, VcpuParams, VcpuRef};

/// Credit a vCPU gets at start and at each reset: 10 ms (Xen's `CSCHED2_CREDIT_INIT`).
pub const CREDIT_INIT_US: u64 = 10_000;
/// The shortest slice: 500 us (Xen's `CSCHED2_MIN_TIMER`).
pub const MIN_TIMER_US: u64 = 500;
/// The longest slice: the initial credit, 10 ms (Xen's `CSCHED2_MAX_TIMER`).
pub const MAX_TIMER_US: u64 = CREDIT_INIT_US;
/// Credit kept above `CREDIT_INIT_US` at a reset: the minimum timer (Xen's
/// `CSCHED2_CARRYOVER_MAX`).
pub const CARRYOVER_MAX_US: u64 = MIN_TIMER_US;
/// A vCPU that has run less than this is not preempted unless it blocks or yields: 1 ms
/// (Xen's default `sched_ratelimit_us`).
pub const RATELIMIT_US: u64 = 1_000;
/// Xen's default weight.
pub const DEFAULT_WEIGHT: u16 = 256;

/// Credit2's constants in ticks, the pool's highest weight and its caps.
#[derive(Debug)]
pub struct Credit2 {
    credit_init: i64,
    carryover_max: i64,
    min_timer: u64,
    max_timer: u64,
    ratelimit: u64,
    max_weight: u16,
    caps: Caps,
}

impl Credit2 {
    pub fn new(frequency_hz: u64) -> Self {
        let min_timer = ticks_from_micros(MIN_TIMER_US, frequency_hz);
        Self {
            credit_init: signed(ticks_from_micros(CREDIT_INIT_US, frequency_hz)),
            carryover_max: signed(ticks_from_micros(CARRYOVER_MAX_US, frequency_hz)),
            min_timer,
            max_timer: ticks_from_micros(MAX_TIMER_US, frequency_hz),
            ratelimit: ticks_from_micros(RATELIMIT_US, frequency_hz),
            max_weight: 1,
            caps: Caps::new(frequency_hz, min_timer),
        }
    }

    pub fn credit_init(&self) -> i64 {
        self.credit_init
    }

    /// Takes in a new vCPU's weight and cap; returns its cap group.
    pub fn join(
        &mut self,
        table: &Table,
        v: VcpuRef,
        params: &VcpuParams,
    ) -> Result<Option<usize>, SchedError> {
        let sibling_cap = |e: &super::table::Entry| {
            e.group
                .and_then(|g| self.caps.groups.get(g))
                .map_or(0, |g| g.cap_percent)
        };
        if let Some(sibling) = table
            .entries
            .iter()
            .find(|e| e.vcpu.partition == v.partition)
        {
            let other = sibling_cap(sibling);
            if other != params.cap_percent {
                return Err(SchedError::CapMismatch {
                    vcpu: v,
                    cap_percent: params.cap_percent,
                    other,
                });
            }
        }
        self.max_weight = self.max_weight.max(params.weight);
        Ok((params.cap_percent > 0).then(|| self.caps.join(v.partition, params.cap_percent)))
    }

    /// Accounts vCPU `i`'s run up to `now`: statistics, credit and cap quota.
    fn charge(&self, table: &mut Table, i: usize, now: u64) {
        let ran = table.settle(i, now);
        if let Some(e) = table.entries.get_mut(i) {
            let burnt = scale(ran, u64::from(self.max_weight), u64::from(e.weight));
            e.credit = e.credit.saturating_sub(burnt);
        }
        self.caps.burn(table, i, ran);
    }

    /// Running vCPU `i` stops (sleep): account it and return its quota.
    pub fn descheduled(&mut self, table: &mut Table, i: usize, now: u64) {
        self.charge(table, i, now);
        self.caps.give_back(table, i);
    }

    /// vCPU `i` becomes runnable: queued (or parked, out of budget); the CPU to kick.
    pub fn wake(&mut self, table: &mut Table, i: usize, now: u64) -> Option<usize> {
        self.caps.refill(table, now);
        if !self.caps.has_budget(table, i) {
            table.set(i, State::Parked, now, false);
            return None;
        }
        table.set(i, State::Queued, now, false);
        let allowed = |table: &Table, slot: usize| {
            table.entries.get(i).is_some_and(|e| e.allows(slot))
                && table.slots.get(slot).is_some_and(|s| !s.tickled)
        };
        // An idle CPU it may use: first the one it last ran on (as Xen's `runq_tickle`
        // does), where a vCPU that waited in place is still loaded and whose CPU is about to
        // pick anyway; kicking another idle CPU would wake it for nothing.
        // A CPU whose vCPU waits in place is idle: kicked, it ends the wait and picks.
        let last = table.entries.get(i).and_then(|e| e.last);
        if let Some(slot) = last.filter(|&s| allowed(table, s) && table.busy(s).is_none()) {
            return Some(slot);
        }
        for slot in 0..table.slots.len() {
            if allowed(table, slot) && table.busy(slot).is_none() {
                return Some(slot);
            }
        }
        // Else the CPU whose current vCPU has the least credit, if that is less than its.
        let mut victim: Option<(usize, i64)> = None;
        for slot in 0..table.slots.len() {
            let Some(c) = table.busy(slot).filter(|_| allowed(table, slot)) else {
                continue;
            };
            self.charge(table, c, now);
            let credit = table.entries.get(c).map_or(i64::MAX, |e| e.credit);
            if victim.is_none_or(|(_, least)| credit < least) {
                victim = Some((slot, credit));
            }
        }
        let woken = table.entries.get(i)?.credit;
        victim
            .filter(|&(_, least)| woken > least)
            .map(|(slot, _)| slot)
    }

    /// What the CPU of `slot` runs next, and until when.
    pub fn pick(
        &mut self,
        table: &mut Table,
        slot: usize,
        now: u64,
    ) -> (Option<usize>, Option<u64>) {
        self.caps.refill(table, now);
        let current = table.current(slot);
        if let Some(c) = current {
            self.charge(table, c, now);
            self.caps.give_back(table, c);
        }
        let run_start = table.slots.get(slot).map_or(now, |s| s.run_start);
        let current_ok = current.filter(|&c| self.caps.has_budget(table, c));
        let yielded = current
            .and_then(|c| table.entries.get(c))
            .is_some_and(|e| e.yielded);
        let ratelimited =
            current_ok.filter(|_| !yielded && now.saturating_sub(run_start) < self.ratelimit);
        let next = match ratelimited {
            Some(c) => Some(c),
            None => {
                let best = self.best_queued(table, slot, now);
                let credit = |i: usize| table.entries.get(i).map_or(i64::MIN, |e| e.credit);
                match (current_ok, best) {
                    (Some(c), Some(b)) if yielded || credit(b) > credit(c) => Some(b),
                    (Some(c), _) => Some(c),
                    (None, b) => b,
                }
            }
        };
        if let Some(c) = current.filter(|&c| Some(c) != next) {
            let state = if current_ok.is_some() {
                State::Queued
            } else {
                State::Parked
            };
            table.set(c, state, now, false);
        }
        if let Some(e) = current.and_then(|c| table.entries.get_mut(c)) {
            e.yielded = false;
        }
        let parked_until = self.caps.next_unpark(table);
        let Some(next) = next else {
            return (None, parked_until);
        };
        let continued = Some(next) == current;
        if !continued {
            table.run(next, slot, now);
        }
        self.caps.grab(table, next);
        if table.entries.get(next).is_some_and(|e| e.credit <= 0) {
            self.reset(table, next, now);
        }
        let time = self.runtime(table, slot, next, now, continued);
        let until = now.saturating_add(time);
        (
            Some(next),
            Some(parked_until.map_or(until, |p| p.min(until))),
        )
    }

    /// The current vCPU `i` of `slot` blocks: it may wait in place (loaded, its CPU idle)
    /// if no queued vCPU may run there. Then its run so far is charged and its cap quota
    /// given back, as a sleep does, and the CPU's deadline is returned (the next cap
    /// replenishment a parked vCPU waits for, if any). `None`: something else may run here,
    /// so the vCPU must block the usual way (sleep, then a pick).
    pub fn wait_here(
        &mut self,
        table: &mut Table,
        slot: usize,
        i: usize,
        now: u64,
    ) -> Option<Option<u64>> {
        self.caps.refill(table, now);
        if table.queued_for(slot) {
            return None;
        }
        self.descheduled(table, i, now);
        Some(self.caps.next_unpark(table))
    }

    /// The vCPU `i` waiting in place on `slot` was woken there: it runs on, as a pick would
    /// have chosen it, if no queued vCPU may run there and its cap leaves it budget. Returns
    /// when the CPU must pick again (its new slice), or `None` if it must wake and be picked
    /// the usual way.
    pub fn resume_here(
        &mut self,
        table: &mut Table,
        slot: usize,
        i: usize,
        now: u64,
    ) -> Option<u64> {
        self.caps.refill(table, now);
        if table.queued_for(slot) || !self.caps.has_budget(table, i) {
            return None;
        }
        table.resume(slot, now);
        self.caps.grab(table, i);
        if table.entries.get(i).is_some_and(|e| e.credit <= 0) {
            self.reset(table, i, now);
        }
        let until = now.saturating_add(self.runtime(table, slot, i, now, false));
        Some(self.caps.next_unpark(table).map_or(until, |p| p.min(until)))
    }

    /// The queued vCPU with the most credit (then the earliest queued) that may run on
    /// `slot`; capped vCPUs found without budget are parked on the way, as Xen does.
    fn best_queued(&self, table: &mut Table, slot: usize, now: u64) -> Option<usize> {
        let mut best: Option<(usize, i64, u64)> = None;
        for i in 0..table.entries.len() {
            let Some(e) = table.entries.get(i) else {
                continue;
            };
            if e.state != State::Queued || !e.allows(slot) {
                continue;
            }
            let (credit, seq) = (e.credit, e.seq);
            if !self.caps.has_budget(table, i) {
                table.set(i, State::Parked, now, false);
                continue;
            }
            if best.is_none_or(|(_, c, s)| credit > c || (credit == c && seq < s)) {
                best = Some((i, credit, seq));
            }
        }
        best.map(|(i, _, _)| i)
    }

    /// Every vCPU of the pool gets `CREDIT_INIT` (times enough for `next` to get above
    /// zero), clipped to `CREDIT_INIT + CARRYOVER_MAX`; running vCPUs are charged first.
    fn reset(&self, table: &mut Table, next: usize, now: u64) {
        let lowest = table.entries.get(next).map_or(0, |e| e.credit);
        let times = if lowest < -self.credit_init {
            (lowest.saturating_neg() / self.credit_init.max(1)).saturating_add(1)
        } else {
            1
        };
        let add = self.credit_init.saturating_mul(times);
        let ceiling = self.credit_init.saturating_add(self.carryover_max);
        for slot in 0..table.slots.len() {
            if let Some(c) = table.current(slot) {
                self.charge(table, c, now);
            }
        }
        for e in &mut table.entries {
            e.credit = e.credit.saturating_add(add).min(ceiling);
        }
    }

    /// How long `next` runs: until its credit falls to that of the best waiting vCPU (if
    /// positive), else to zero; within the minimum (or what is left of the ratelimit) and
    /// maximum timers; no longer than its cap quota.
    fn runtime(&self, table: &Table, slot: usize, next: usize, now: u64, continued: bool) -> u64 {
        let Some(e) = table.entries.get(next) else {
            return self.min_timer;
        };
        let run_start = table.slots.get(slot).map_or(now, |s| s.run_start);
        let ratelimit_left = if continued {
            run_start.saturating_add(self.ratelimit).saturating_sub(now)
        } else {
            self.ratelimit
        };
        let min_time = self.min_timer.max(ratelimit_left);
        let head = table
            .entries
            .iter()
            .filter(|w| w.state == State::Queued)
            .map(|w| w.credit)
            .max();
        let margin = match head {
            Some(waiting) if waiting > 0 => e.credit.saturating_sub(waiting),
            _ => e.credit,
        };
        let time = match u64::try_from(margin) {
            Ok(margin) if margin > 0 => {
                let ticks = scale(margin, u64::from(e.weight), u64::from(self.max_weight));
                u64::try_from(ticks)
                    .unwrap_or(u64::MAX)
                    .clamp(min_time, self.max_timer.max(min_time))
            }
            _ => min_time,
        };
        let quota = u64::try_from(self.caps.held(table, next)).unwrap_or(0);
        time.min(quota).max(1)
    }
}
