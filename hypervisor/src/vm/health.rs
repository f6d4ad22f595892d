//! Health deadlines at run time: a partition's heartbeat (`bulkhead,heartbeat-ms`: it must
//! write to its console within that time, else its crash policy applies), its Xen
//! `SCHEDOP_watchdog` timers (their expiry applies it too) and a crash restart waiting out its
//! back-off (`bulkhead,restart-limit`). All belong to the partition's home CPU (vCPU 0's
//! CPU; the boot CPU for a direct partition, whose guest can hold off the hypervisor's
//! interrupts on its own CPU), whose health timer (`timer::set_health_deadline`, the EL1
//! physical timer no guest reaches) is armed for the earliest of them. That CPU looks (`poll`) on
//! every interrupt exit and every wake-up from idle; whoever sets a deadline on another CPU
//! kicks it so that it looks and arms its timer.
//!
//! Bounds: a poll looks at each partition once (at most `MAX_PARTITIONS`), takes each one's
//! `run` lock alone, and does work (a restart, a crash policy) only for a deadline that
//! passed, which a guest cannot bring forward: its console writes only move its heartbeat
//! later.

use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::aarch64::{cpu, timer};
use crate::portable::partition::health::{deadline_after, ticks_to_ms};
use crate::portable::partition::{Partition, PendingRestart};
use crate::log;

use super::PARTITIONS;

/// Some partition has a heartbeat or a pending restart: the poll's fast path is this load.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// The CPU that owns `p`'s health deadlines: vCPU 0's, or for a direct partition, whose
/// guest can hold off the hypervisor's interrupts on its own CPUs, the boot CPU
/// (`direct::watcher`).
fn home(p: &Partition) -> usize {
    if p.direct {
        return super::direct::watcher();
    }
    p.vcpu_cpus.first().copied().unwrap_or(0)
}

/// Asks `p`'s home CPU to look at its deadlines soon (it arms its timer then).
fn tell_home(p: &Partition) {
    ACTIVE.store(true, Ordering::Release);
    super::kick(home(p));
}

/// `p` (re)started: its heartbeat deadline is its start plus `bulkhead,heartbeat-ms`.
pub fn started(p: &Partition) {
    if let Some(ms) = p.heartbeat_ms {
        p.heartbeat.store(deadline_after(cpu::counter(), u64::from(ms), cpu::counter_frequency()), Ordering::Release);
        tell_home(p);
    }
}

/// `p`'s earliest Xen watchdog deadline changed (`Partition::xen.watchdog`): its home CPU
/// looks and arms its timer for it, whichever CPU the partition's vCPUs run on, if any.
pub fn watchdog_changed(p: &Partition) {
    tell_home(p);
}

/// `p` stopped: nothing of it is watched until it starts again (its Xen watchdogs are
/// forgotten with the run; `xen::reset` clears them before the next).
pub fn stopped(p: &Partition) {
    p.heartbeat.store(u64::MAX, Ordering::Release);
    p.xen.watchdog.store(u64::MAX, Ordering::Release);
}

/// `p` wrote to its console: a sign of life, which moves its heartbeat deadline on. Only a
/// partition with a heartbeat reads the counter.
#[inline]
pub fn alive(p: &Partition) {
    if let Some(ms) = p.heartbeat_ms {
        // A deadline claimed by an expiry (`u64::MAX`) stays claimed: the run it watched ends.
        let now = cpu::counter();
        let next = deadline_after(now, u64::from(ms), cpu::counter_frequency());
        let _ = p.heartbeat.fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| (d != u64::MAX).then_some(next));
    }
}

/// Crash restart `restart` of a run at `generation`, `delay_ms` from now.
pub fn pending_restart(generation: u64, restart: u32, delay_ms: u64) -> PendingRestart {
    PendingRestart { at: deadline_after(cpu::counter(), delay_ms, cpu::counter_frequency()), delay_ms, restart, generation }
}

/// A crash restart of `p` was recorded as pending (its vCPUs are stopping): its heartbeat
/// waits for the next run, and its home CPU is told to wake at the end of the back-off.
pub fn deferred(p: &Partition) {
    p.heartbeat.store(u64::MAX, Ordering::Release);
    p.xen.watchdog.store(u64::MAX, Ordering::Release);
    tell_home(p);
}

/// Milliseconds until `pending` restarts, from now.
pub fn remaining_ms(pending: &PendingRestart) -> u64 {
    ticks_to_ms(pending.at.saturating_sub(cpu::counter()), cpu::counter_frequency())
}

/// Acts on this CPU's partitions whose deadline passed and arms the health timer for the
/// next one. Called on interrupt exits and idle wake-ups with no lock held. Returns whether
/// it restarted or applied a crash policy (the caller's own vCPU may then be stopped).
#[inline]
pub fn poll(cpu: usize) -> bool {
    ACTIVE.load(Ordering::Acquire) && poll_slow(cpu)
}

#[cold]
#[inline(never)]
fn poll_slow(cpu: usize) -> bool {
    let Some(partitions) = PARTITIONS.get() else { return false };
    let mut acted = false;
    let mut earliest = u64::MAX;
    for p in partitions.iter().filter(|p| home(p) == cpu) {
        let now = cpu::counter();
        // A restart whose back-off passed (dropped if the operator acted meanwhile).
        let due = {
            let mut run = p.run.lock();
            match run.restart_pending {
                Some(pending) if pending.generation != run.generation => {
                    run.restart_pending = None;
                    None
                }
                Some(pending) if pending.at <= now => {
                    run.restart_pending = None;
                    Some(pending)
                }
                Some(pending) => {
                    earliest = earliest.min(pending.at);
                    None
                }
                None => None,
            }
        };
        if let Some(pending) = due {
            acted = true;
            super::restart_after_backoff(p, pending);
            continue;
        }
        // Its Xen watchdog: claimed once by the look that finds it expired, and only while the
        // run that set it goes on (a stop or a pending restart forgets it).
        let watchdog = p.xen.watchdog.load(Ordering::Acquire);
        if watchdog <= now {
            let running = {
                let run = p.run.lock();
                run.running && run.restart_pending.is_none()
            };
            if !running {
                let _ = p.xen.watchdog.compare_exchange(watchdog, u64::MAX, Ordering::AcqRel, Ordering::Acquire);
            } else if super::xen::watchdog_expired(p, now) {
                acted = true;
                continue;
            }
        } else {
            earliest = earliest.min(watchdog);
        }
        let deadline = p.heartbeat.load(Ordering::Acquire);
        if deadline == u64::MAX {
            continue;
        }
        if deadline > now {
            earliest = earliest.min(deadline);
            continue;
        }
        // Claimed once: a console write meanwhile moved it, or another look took it.
        if p.heartbeat.compare_exchange(deadline, u64::MAX, Ordering::AcqRel, Ordering::Acquire).is_err() {
            earliest = earliest.min(p.heartbeat.load(Ordering::Acquire));
            continue;
        }
        let running = {
            let run = p.run.lock();
            run.running && run.restart_pending.is_none()
        };
        if running {
            acted = true;
            let ms = p.heartbeat_ms.unwrap_or(0);
            super::output::flush(p.index);
            log!("bulkhead: partition \"{}\" wrote nothing to its console for {} ms (bulkhead,heartbeat-ms = <{}>); applying its crash policy", p.name.as_str(), ms, ms);
            super::apply_crash_policy(p, format_args!("no console output for {ms} ms (heartbeat)"));
        }
    }
    match earliest {
        u64::MAX => timer::cancel_health_deadline(),
        at => timer::set_health_deadline(at),
    }
    acted
}
