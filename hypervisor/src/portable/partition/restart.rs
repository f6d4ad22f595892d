//! Restart requests against a partition's run state, decided under its `run` lock: one
//! restart at a time per run, and a clear outcome for a request that comes while one is under
//! way.
//!
//! A restart is asked for from many places, on any CPU: the operator's `restart`, a crash
//! under the `restart` policy (a trap on the crashing vCPU's CPU, a heartbeat or Xen watchdog
//! expiry on the home CPU), the guest's own PSCI `SYSTEM_RESET`, the end of a crash restart's
//! back-off. Between the request and vCPU 0's start the restarting CPU waits, with no lock
//! held, for the old run's vCPUs to leave their CPUs, then scrubs and reloads the memory. A
//! second request meanwhile used to start a second restart of its own: it moved the
//! generation (the first restart's load was then dropped, after it had already cleared the
//! partition's grant, Xen and stage-2 state), counted a second boot, and could find the new
//! run's vCPU 0 held and stop the partition for not letting go. Now:
//!
//! - a request while a restart of the same run is under way ([`RunState::restarting`] names
//!   the current generation) **joins** it: nothing changes, and the caller says so;
//! - a request for a run that a stop or another restart has already replaced is the caller's
//!   business (`vm` drops one that comes from a vCPU of the old run before asking);
//! - the restart's load goes on only if the generation is still its own
//!   ([`RunState::may_load`]), and the runtime serialises loads of one partition, so the
//!   clean-up before a load never runs for a replaced run after a newer one started.

use super::{PendingRestart, RunState};

/// A restart under way: the generation it stopped the old run at, and the boot it makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restarting {
    /// The partition's generation when the restart was asked for (after its bump).
    pub generation: u64,
    /// The boot count of the run it starts.
    pub boot: u32,
}

/// What a request to restart a partition does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// This request restarts it: stop its vCPUs, wait for them to leave, load at `generation`.
    Begin(Restarting),
    /// A restart of the same run is under way: this request joins it and does nothing more.
    Joined(Restarting),
}

/// What a request for a crash restart after a back-off does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartLater {
    /// Recorded: the run's vCPUs are to be stopped, and the restart follows the back-off.
    Deferred,
    /// A restart of the same run is under way already: the crash joins it.
    Joined(Restarting),
}

impl RunState {
    /// The restart under way for the current run, if any.
    pub fn restart_under_way(&self) -> Option<Restarting> {
        self.restarting.filter(|r| r.generation == self.generation)
    }

    /// A request to restart now (the operator's `restart`, a crash without back-off, the
    /// guest's `SYSTEM_RESET`): joins a restart under way, else begins one, which moves the
    /// generation (a vCPU of the old run lets go at its next exit), counts the boot and drops
    /// a crash restart still waiting out its back-off.
    pub fn ask_restart(&mut self) -> Restart {
        if let Some(under_way) = self.restart_under_way() {
            return Restart::Joined(under_way);
        }
        self.boot_count = self.boot_count.wrapping_add(1);
        self.generation = self.generation.wrapping_add(1);
        self.restart_pending = None;
        let begun = Restarting { generation: self.generation, boot: self.boot_count };
        self.restarting = Some(begun);
        Restart::Begin(begun)
    }

    /// A crash restart after a back-off: joins a restart under way, else moves the
    /// generation and records the restart `pending(generation)` describes.
    pub fn ask_restart_later(&mut self, pending: impl FnOnce(u64) -> PendingRestart) -> RestartLater {
        if let Some(under_way) = self.restart_under_way() {
            return RestartLater::Joined(under_way);
        }
        self.generation = self.generation.wrapping_add(1);
        self.restart_pending = Some(pending(self.generation));
        RestartLater::Deferred
    }

    /// The back-off of `pending` passed: its restart is under way from now on (a request
    /// meanwhile joins it), unless the operator or a stop replaced the run since it was
    /// recorded (`None`: nothing to do).
    pub fn begin_restart_after_backoff(&mut self, pending: &PendingRestart) -> Option<Restarting> {
        if self.generation != pending.generation {
            return None;
        }
        self.boot_count = self.boot_count.wrapping_add(1);
        let begun = Restarting { generation: self.generation, boot: self.boot_count };
        self.restarting = Some(begun);
        Some(begun)
    }

    /// Whether a load for `generation` may go on: no stop or other restart replaced it.
    pub fn may_load(&self, generation: u64) -> bool {
        self.generation == generation
    }

    /// The partition started at its current generation: no restart is under way any more.
    pub fn loaded(&mut self) {
        self.restarting = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portable::psci::power::PowerStates;
    use crate::portable::vpl011::Vpl011;

    fn run_state() -> RunState {
        RunState {
            running: true,
            stop_announced: false,
            boot_count: 1,
            untouched: false,
            generation: 7,
            power: PowerStates::new(2).expect("two vCPUs"),
            vpl011: Vpl011::new(),
            input: heapless::Deque::new(),
            cntvoff: 0,
            reports: super::super::report_limit::ReportLimit::new(),
            last_crash: None,
            crash_restarts: 0,
            held: false,
            restart_pending: None,
            restarting: None,
        }
    }

    fn pending(generation: u64) -> PendingRestart {
        PendingRestart { at: 1000, delay_ms: 100, restart: 1, generation }
    }

    #[test]
    fn a_second_restart_of_the_same_run_joins_the_first_and_changes_nothing() {
        let mut run = run_state();
        let first = Restarting { generation: 8, boot: 2 };
        assert_eq!(run.ask_restart(), Restart::Begin(first));
        // The operator's restart and a heartbeat restart at once, from two CPUs: one begins,
        // the other (whichever takes `run` second) joins it.
        assert_eq!(run.ask_restart(), Restart::Joined(first));
        assert_eq!(run.ask_restart_later(pending), RestartLater::Joined(first));
        assert_eq!((run.generation, run.boot_count, run.restart_pending), (8, 2, None), "one restart: one boot");
        assert!(run.may_load(8));
        run.loaded();
        // Once the new run started, a restart is a new one.
        assert_eq!(run.ask_restart(), Restart::Begin(Restarting { generation: 9, boot: 3 }));
    }

    #[test]
    fn a_stop_during_a_restart_wins_and_a_restart_after_it_begins_afresh() {
        let mut run = run_state();
        let Restart::Begin(first) = run.ask_restart() else { panic!("the first restart begins") };
        // The operator stops it while it waits for its vCPUs: the stop moves the generation.
        run.running = false;
        run.generation = run.generation.wrapping_add(1);
        assert!(!run.may_load(first.generation), "the restart's load is dropped");
        assert_eq!(run.restart_under_way(), None, "the restart no longer stands for the current run");
        // A restart asked after the stop is its own.
        assert_eq!(run.ask_restart(), Restart::Begin(Restarting { generation: first.generation + 2, boot: first.boot + 1 }));
    }

    #[test]
    fn a_crash_restart_waits_its_backoff_unless_the_operator_restarts_first() {
        let mut run = run_state();
        assert_eq!(run.ask_restart_later(pending), RestartLater::Deferred);
        let recorded = run.restart_pending.expect("recorded");
        assert_eq!((recorded.generation, run.boot_count), (8, 1), "no boot counted while it waits");
        // The back-off ends: the restart is under way, and another request joins it.
        let begun = run.begin_restart_after_backoff(&recorded).expect("still the run it recorded");
        assert_eq!(begun, Restarting { generation: 8, boot: 2 });
        assert_eq!(run.ask_restart(), Restart::Joined(begun));

        // Another crash waiting out its back-off, and the operator's restart first: it begins
        // (the pending one is dropped with its generation), and the back-off's end finds
        // nothing to do.
        let mut run = run_state();
        assert_eq!(run.ask_restart_later(pending), RestartLater::Deferred);
        let recorded = run.restart_pending.expect("recorded");
        assert!(matches!(run.ask_restart(), Restart::Begin(_)));
        assert_eq!(run.restart_pending, None);
        assert_eq!(run.begin_restart_after_backoff(&recorded), None);
    }

    #[test]
    fn generations_and_boots_wrap_instead_of_overflowing() {
        let mut run = run_state();
        run.generation = u64::MAX;
        run.boot_count = u32::MAX;
        assert_eq!(run.ask_restart(), Restart::Begin(Restarting { generation: 0, boot: 0 }));
        assert!(run.may_load(0));
    }
}
