//! Credit2 caps, as Xen 4.17 does them: a capped partition gets a budget of cap% of
//! [`CAP_PERIOD_US`] each period, shared by its vCPUs. A vCPU takes a quota of the budget
//! when it is picked and gives back what it did not use when it stops; one that finds no
//! budget is parked until the next replenishment. An overrun (a CPU that rescheduled late)
//! leaves the budget negative and is paid from the next period.

use alloc::vec::Vec;

use super::table::{State, Table};
use super::time::{signed, ticks_from_micros};

/// The replenishment period: 10 ms (Xen's `CSCHED2_BDGT_REPL_PERIOD`).
pub const CAP_PERIOD_US: u64 = 10_000;

/// One capped partition.
#[derive(Debug)]
pub struct Group {
    pub partition: u16,
    pub cap_percent: u32,
    /// Budget per period, in ticks.
    total: i64,
    /// What is left of this period's budget; negative after an overrun.
    budget: i64,
    /// Its vCPUs in the pool.
    vcpus: u32,
    /// When the next period starts; set at the first event after build.
    next_refill: Option<u64>,
    /// Replenished with budget at this refill: its parked vCPUs go back to the queue.
    unpark: bool,
}

/// Every capped partition of a pool.
#[derive(Debug)]
pub struct Caps {
    period: u64,
    min_timer: i64,
    pub groups: Vec<Group>,
}

impl Caps {
    pub fn new(frequency_hz: u64, min_timer: u64) -> Self {
        Self {
            period: ticks_from_micros(CAP_PERIOD_US, frequency_hz),
            min_timer: signed(min_timer),
            groups: Vec::new(),
        }
    }

    /// The group of `partition` (capped at `cap_percent`), made if new; its vCPU count grows.
    pub fn join(&mut self, partition: u16, cap_percent: u32) -> usize {
        if let Some(g) = self.groups.iter().position(|g| g.partition == partition) {
            if let Some(group) = self.groups.get_mut(g) {
                group.vcpus = group.vcpus.saturating_add(1);
            }
            return g;
        }
        let total = u128::from(self.period) * u128::from(cap_percent) / 100;
        let total = i64::try_from(total).unwrap_or(i64::MAX);
        self.groups.push(Group {
            partition,
            cap_percent,
            total,
            budget: total,
            vcpus: 1,
            next_refill: None,
            unpark: false,
        });
        self.groups.len() - 1
    }

    /// Starts the periods at the first event, then replenishes every group whose period
    /// ended (all the periods missed at once, no loop) and unparks its vCPUs if it has
    /// budget again.
    pub fn refill(&mut self, table: &mut Table, now: u64) {
        let mut any = false;
        for group in &mut self.groups {
            group.unpark = false;
            let Some(next) = group.next_refill else {
                group.next_refill = Some(now.saturating_add(self.period));
                continue;
            };
            if now < next {
                continue;
            }
            let periods = (now - next) / self.period + 1;
            group.budget = group
                .budget
                .saturating_add(group.total.saturating_mul(signed(periods)));
            group.next_refill = Some(next.saturating_add(periods.saturating_mul(self.period)));
            if group.budget > 0 {
                group.budget = group.budget.min(group.total);
                group.unpark = true;
                any = true;
            }
        }
        if !any {
            return;
        }
        for i in 0..table.entries.len() {
            let unpark = table.entries.get(i).is_some_and(|e| {
                e.state == State::Parked
                    && e.group
                        .and_then(|g| self.groups.get(g))
                        .is_some_and(|g| g.unpark)
            });
            if unpark {
                table.set(i, State::Queued, now, false);
            }
        }
    }

    /// Whether vCPU `i` may run: uncapped, or its partition has budget (its own or the
    /// group's).
    pub fn has_budget(&self, table: &Table, i: usize) -> bool {
        let Some(e) = table.entries.get(i) else {
            return false;
        };
        match e.group.and_then(|g| self.groups.get(g)) {
            None => true,
            Some(group) => e.budget > 0 || group.budget > 0,
        }
    }

    /// vCPU `i`, picked, takes its quota: the partition's budget per vCPU, at least the
    /// minimum timer, at most what is left.
    pub fn grab(&mut self, table: &mut Table, i: usize) {
        let Some(e) = table.entries.get_mut(i) else {
            return;
        };
        let Some(group) = e.group.and_then(|g| self.groups.get_mut(g)) else {
            return;
        };
        let quota = (group.total / i64::from(group.vcpus.max(1))).max(self.min_timer);
        let take = quota.min(group.budget).max(0);
        group.budget = group.budget.saturating_sub(take);
        e.budget = e.budget.saturating_add(take);
    }

    /// vCPU `i` ran `ticks`: its quota shrinks.
    pub fn burn(&self, table: &mut Table, i: usize, ticks: u64) {
        if let Some(e) = table.entries.get_mut(i).filter(|e| e.group.is_some()) {
            e.budget = e.budget.saturating_sub(signed(ticks));
        }
    }

    /// vCPU `i` stops: the rest of its quota (or its overrun) goes back to the partition.
    pub fn give_back(&mut self, table: &mut Table, i: usize) {
        let Some(e) = table.entries.get_mut(i) else {
            return;
        };
        let Some(group) = e.group.and_then(|g| self.groups.get_mut(g)) else {
            return;
        };
        group.budget = group.budget.saturating_add(e.budget);
        e.budget = 0;
    }

    /// The quota vCPU `i` holds (`i64::MAX` if uncapped).
    pub fn held(&self, table: &Table, i: usize) -> i64 {
        match table.entries.get(i) {
            Some(e) if e.group.is_some() => e.budget,
            _ => i64::MAX,
        }
    }

    /// The earliest replenishment a parked vCPU waits for.
    pub fn next_unpark(&self, table: &Table) -> Option<u64> {
        // Only a capped vCPU is ever parked (every block and wake-up asks).
        if self.groups.is_empty() {
            return None;
        }
        table
            .entries
            .iter()
            .filter(|e| e.state == State::Parked)
            .filter_map(|e| {
                e.group
                    .and_then(|g| self.groups.get(g))
                    .and_then(|g| g.next_refill)
            })
            .min()
    }
}
