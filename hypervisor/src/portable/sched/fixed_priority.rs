//! The `bulkhead,fixed-priority` scheduler: vCPUs pinned to CPUs, several per CPU; each CPU
//! runs its highest-priority runnable vCPU.
//!
//! What it guarantees, per CPU:
//! - a runnable vCPU of priority P runs whenever no runnable vCPU of the same CPU has a
//!   priority above P; one that wakes above the current vCPU's priority gets the CPU at once
//!   (`wake` returns the CPU to kick);
//! - vCPUs of equal priority share the CPU round-robin, [`SLICE_US`] each; a vCPU preempted
//!   by a higher priority goes back to the head of its priority, and gets a whole slice when
//!   it runs again;
//! - no tick while no other vCPU of the running one's priority waits.
//!
//! What it does not guarantee: anything to lower priorities. A vCPU that never blocks
//! starves every vCPU below it on its CPU, by design: this is the scheduler for a real-time
//! partition that must never wait, and lower priorities get only what it leaves.

use super::table::{State, Table};
use super::time::ticks_from_micros;

/// The round-robin slice between vCPUs of equal priority on one CPU: 10 ms, a common RTOS
/// round-robin quantum, long enough that switching costs stay well under 1%.
pub const SLICE_US: u64 = 10_000;

/// The slice in ticks.
#[derive(Debug)]
pub struct FixedPriority {
    slice: u64,
}

impl FixedPriority {
    pub fn new(frequency_hz: u64) -> Self {
        Self {
            slice: ticks_from_micros(SLICE_US, frequency_hz),
        }
    }

    /// What the CPU of `slot` runs next, and until when.
    pub fn pick(&self, table: &mut Table, slot: usize, now: u64) -> (Option<usize>, Option<u64>) {
        let current = table.current(slot);
        if let Some(c) = current {
            table.settle(c, now);
        }
        let best = best_queued(table, slot);
        let run_start = table.slots.get(slot).map_or(now, |s| s.run_start);
        let slice_end = run_start.saturating_add(self.slice);
        if let Some(c) = current {
            let yielded = table.entries.get(c).is_some_and(|e| e.yielded);
            let keep = match best {
                None => true,
                Some(b) => {
                    priority(table, b) < priority(table, c)
                        || (priority(table, b) == priority(table, c) && !yielded && now < slice_end)
                }
            };
            if keep {
                // A yield with no equal waiting is spent: it does not carry to a later pick.
                if let Some(e) = table.entries.get_mut(c) {
                    e.yielded = false;
                }
                let peer_waits = best.is_some_and(|b| priority(table, b) == priority(table, c));
                return (Some(c), peer_waits.then_some(slice_end));
            }
            // Preempted by a higher priority: back to the head of its own. Slice over or
            // yielded: to the back.
            let preempted = best.is_some_and(|b| priority(table, b) > priority(table, c));
            let keep_place = preempted && !yielded && now < slice_end;
            table.set(c, State::Queued, now, keep_place);
            if let Some(e) = table.entries.get_mut(c) {
                e.yielded = false;
            }
        }
        let Some(next) = best_queued(table, slot) else {
            return (None, None);
        };
        table.run(next, slot, now);
        let next_priority = priority(table, next);
        let peer_waits = table.entries.iter().any(|e| {
            e.state == State::Queued && e.pinned == Some(slot) && e.priority == next_priority
        });
        (
            Some(next),
            peer_waits.then_some(now.saturating_add(self.slice)),
        )
    }
}

/// The priority of vCPU `i`.
fn priority(table: &Table, i: usize) -> u8 {
    table.entries.get(i).map_or(0, |e| e.priority)
}

/// The queued vCPU of `slot` to run first: highest priority, then earliest queued.
fn best_queued(table: &Table, slot: usize) -> Option<usize> {
    table
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.state == State::Queued && e.pinned == Some(slot))
        .min_by_key(|(_, e)| (core::cmp::Reverse(e.priority), e.seq))
        .map(|(i, _)| i)
}

/// vCPU `i` becomes runnable. Its CPU must pick now if it idles, if `i` outranks its
/// current vCPU, or if `i` ties with it while no slice is running (so one starts).
pub fn wake(table: &mut Table, i: usize, now: u64) -> Option<usize> {
    table.set(i, State::Queued, now, false);
    let entry = table.entries.get(i)?;
    let slot = entry.pinned?;
    let s = table.slots.get(slot)?;
    // A current vCPU that waits in place leaves its CPU idle.
    let Some(current) = table.busy(slot).and_then(|c| table.entries.get(c)) else {
        return Some(slot);
    };
    let kick =
        entry.priority > current.priority || (entry.priority == current.priority && !s.ticking);
    kick.then_some(slot)
}

/// vCPU `i` gives up its slice: behind its equals, now if queued, at the next pick if running.
pub fn yield_now(table: &mut Table, i: usize, _now: u64) {
    let seq = table.next_seq();
    let Some(e) = table.entries.get_mut(i) else {
        return;
    };
    match e.state {
        State::Running(_) => e.yielded = true,
        State::Queued => e.seq = seq,
        State::Asleep | State::Parked => {}
    }
}
