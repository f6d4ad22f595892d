//! `bulkhead,fixed-priority`: preemption order, round-robin among equals, starvation below
//! by design, several vCPUs per CPU.

use dom0less_config::Scheduler;

use super::sim::{ms, params, vcpu, Sim, HZ};
use crate::portable::sched::{PoolScheduler, SchedError, VcpuParams, SLICE_US};

fn on(cpu: usize, priority: u8) -> VcpuParams {
    VcpuParams {
        cpu: Some(cpu),
        priority,
        ..params()
    }
}

const SLICE: u64 = ms(SLICE_US / 1000);

#[test]
fn a_higher_priority_preempts_at_once_and_a_lower_one_starves() {
    let mut sim = Sim::new(Scheduler::FixedPriority, &[0]);
    let (low, high) = (vcpu(0, 0), vcpu(1, 0));
    sim.add(low, on(0, 10));
    sim.add(high, on(0, 200));
    assert_eq!(sim.wake(low), Some(0));
    sim.run_until(ms(5));
    assert_eq!(sim.wake(high), Some(0), "the CPU must reschedule at once");
    assert_eq!(sim.sched.current(0), Some(high));
    sim.run_until(ms(1005));
    assert_eq!(
        sim.picks,
        [2],
        "no tick while nothing of equal priority waits"
    );
    assert_eq!(
        sim.cpu_time(low),
        ms(5),
        "below a running higher priority: nothing"
    );
    sim.sleep(high);
    assert_eq!(
        sim.sched.current(0),
        Some(low),
        "the lower one resumes when the higher blocks"
    );
    sim.run_until(ms(1010));
    sim.settle_all(&[low, high]);
    assert_eq!(sim.cpu_time(high), ms(1000));
    assert_eq!(sim.cpu_time(low), ms(10));
    assert_eq!(sim.sched.stats(low).unwrap().waiting, ms(1000));
}

#[test]
fn a_lower_priority_wake_does_not_kick() {
    let mut sim = Sim::new(Scheduler::FixedPriority, &[0]);
    sim.add(vcpu(0, 0), on(0, 50));
    sim.add(vcpu(1, 0), on(0, 40));
    sim.wake(vcpu(0, 0));
    assert_eq!(sim.wake(vcpu(1, 0)), None);
    assert_eq!(sim.sched.current(0), Some(vcpu(0, 0)));
}

#[test]
fn equal_priorities_share_round_robin_by_slice() {
    let mut sim = Sim::new(Scheduler::FixedPriority, &[0]);
    let vcpus = [vcpu(0, 0), vcpu(1, 0), vcpu(2, 0)];
    for &v in &vcpus {
        sim.add(v, on(0, 7));
        sim.wake(v);
    }
    let decision = sim.sched.pick(0, 0);
    assert_eq!(
        decision.until,
        Some(SLICE),
        "a slice runs while equals wait"
    );
    sim.run_until(ms(3000));
    sim.settle_all(&vcpus);
    for &v in &vcpus {
        assert_eq!(
            sim.cpu_time(v),
            ms(1000),
            "{v}: exact thirds, slices of {SLICE_US} us"
        );
        let runs = sim.sched.stats(v).unwrap().runs;
        assert!(
            (100..=101).contains(&runs),
            "{v}: {runs} slices (the pick at the end starts one more)"
        );
        assert!(
            sim.longest_wait[&v] <= 2 * SLICE,
            "{v} waits at most two slices"
        );
    }
}

#[test]
fn a_tie_wake_starts_a_slice_and_a_preempted_vcpu_keeps_its_place() {
    let mut sim = Sim::new(Scheduler::FixedPriority, &[4]);
    let (a, b, urgent) = (vcpu(0, 0), vcpu(0, 1), vcpu(1, 0));
    sim.add(a, on(4, 5));
    sim.add(b, on(4, 5));
    sim.add(urgent, on(4, 9));
    sim.wake(a);
    sim.run_until(ms(2));
    assert_eq!(
        sim.wake(b),
        Some(4),
        "a tie while no slice runs: the CPU arms one"
    );
    sim.run_until(ms(3));
    assert_eq!(sim.sched.current(4), Some(a), "a keeps its slice");
    assert_eq!(sim.wake(urgent), Some(4));
    sim.run_until(ms(4));
    sim.sleep(urgent);
    assert_eq!(
        sim.sched.current(4),
        Some(a),
        "back to the head of its priority, before b"
    );
    sim.sched.yield_now(a, sim.now);
    sim.pick(4);
    assert_eq!(sim.sched.current(4), Some(b), "a yielded to its equal");
}

#[test]
fn several_vcpus_per_cpu_pinned_only_in_the_pool() {
    let mut sched = PoolScheduler::new(Scheduler::FixedPriority, &[0, 1], HZ);
    for v in 0..8 {
        sched.add(vcpu(v, 0), on(usize::from(v % 2), 1)).unwrap();
    }
    assert_eq!(
        sched.add(vcpu(9, 0), on(2, 1)),
        Err(SchedError::PinnedOutsidePool {
            vcpu: vcpu(9, 0),
            cpu: 2
        })
    );
    assert_eq!(
        sched.add(vcpu(9, 0), params()),
        Err(SchedError::NotPinned {
            vcpu: vcpu(9, 0),
            scheduler: "bulkhead,fixed-priority"
        })
    );
}

#[test]
fn two_cpus_schedule_apart_and_never_swap_pinned_vcpus() {
    let mut sim = Sim::new(Scheduler::FixedPriority, &[0, 1]);
    let vcpus = [vcpu(0, 0), vcpu(0, 1), vcpu(1, 0), vcpu(1, 1)];
    for (n, &v) in vcpus.iter().enumerate() {
        sim.add(v, on(n % 2, 3));
        sim.bursts(v, ms(3), ms(1));
        sim.wake(v);
    }
    sim.run_until(ms(2000));
    sim.settle_all(&vcpus);
    for &v in &vcpus {
        assert!(sim.cpu_time(v) > ms(900), "{v}: {}", sim.cpu_time(v));
    }
}

#[test]
fn a_yield_with_no_equal_waiting_is_spent() {
    let mut sim = Sim::new(Scheduler::FixedPriority, &[0]);
    let (a, b, low) = (vcpu(0, 0), vcpu(0, 1), vcpu(1, 0));
    sim.add(a, on(0, 5));
    sim.add(b, on(0, 5));
    sim.add(low, on(0, 1));
    sim.wake(a);
    sim.wake(low);
    sim.sched.yield_now(a, ms(1));
    sim.now = ms(1);
    sim.pick(0);
    assert_eq!(
        sim.sched.current(0),
        Some(a),
        "only a lower priority waits: a keeps the CPU"
    );
    sim.now = ms(2);
    assert_eq!(sim.wake(b), Some(0), "an equal wakes while no slice runs");
    assert_eq!(
        sim.sched.current(0),
        Some(a),
        "a's earlier yield does not give b the CPU now"
    );
    sim.run_until(ms(30));
    assert!(sim.cpu_time(b) > 0, "b gets its turn when a's slice ends");
}
