//! The `null` scheduler: its pinned vCPU or nothing, never a tick.

use dom0less_config::Scheduler;

use super::sim::{ms, params, vcpu, Sim, HZ};
use crate::portable::sched::{Decision, PoolScheduler, SchedError, VcpuParams};

fn pinned(cpu: usize) -> VcpuParams {
    VcpuParams {
        cpu: Some(cpu),
        ..params()
    }
}

#[test]
fn runs_its_vcpu_when_runnable_and_never_ticks() {
    let mut sim = Sim::new(Scheduler::Null, &[2, 3]);
    sim.add(vcpu(0, 0), pinned(2));
    sim.add(vcpu(1, 0), pinned(3));
    assert_eq!(
        sim.sched.pick(2, 0),
        Decision {
            run: None,
            until: None
        },
        "nothing woken yet"
    );
    assert_eq!(sim.wake(vcpu(0, 0)), Some(2), "its idle CPU is kicked");
    assert_eq!(sim.wake(vcpu(1, 0)), Some(3));
    assert_eq!(sim.wake(vcpu(1, 0)), None, "a second wake does nothing");
    assert_eq!(sim.sched.current(2), Some(vcpu(0, 0)));
    sim.run_until(ms(1000));
    assert_eq!(
        sim.picks,
        [1, 1],
        "one pick at each kick, no tick in a second"
    );
    assert_eq!(
        sim.sched.pick(3, ms(1000)),
        Decision {
            run: Some(vcpu(1, 0)),
            until: None
        }
    );
    sim.sleep(vcpu(0, 0));
    assert_eq!(sim.sched.current(2), None);
    assert_eq!(
        sim.sched.pick(2, ms(1000)).run,
        None,
        "a sleeping vCPU is not run"
    );
    let stats = sim.sched.stats(vcpu(0, 0)).unwrap();
    assert_eq!(
        (stats.cpu_time, stats.runs, stats.waiting),
        (ms(1000), 1, 0)
    );
}

#[test]
fn refuses_two_vcpus_on_one_cpu_and_unpinned_or_foreign_ones() {
    let mut sched = PoolScheduler::new(Scheduler::Null, &[0, 1], HZ);
    sched.add(vcpu(0, 0), pinned(0)).unwrap();
    assert_eq!(
        sched.add(vcpu(1, 0), pinned(0)),
        Err(SchedError::CpuTaken {
            vcpu: vcpu(1, 0),
            cpu: 0,
            other: vcpu(0, 0)
        })
    );
    assert_eq!(
        sched.add(vcpu(1, 0), params()),
        Err(SchedError::NotPinned {
            vcpu: vcpu(1, 0),
            scheduler: "null"
        })
    );
    assert_eq!(
        sched.add(vcpu(1, 0), pinned(7)),
        Err(SchedError::PinnedOutsidePool {
            vcpu: vcpu(1, 0),
            cpu: 7
        })
    );
    assert_eq!(
        sched.add(vcpu(0, 0), pinned(1)),
        Err(SchedError::Duplicate { vcpu: vcpu(0, 0) })
    );
    let message = sched.add(vcpu(1, 0), pinned(0)).unwrap_err().to_string();
    assert!(
        message.contains("partition 1 vCPU 0") && message.contains("CPU 0"),
        "{message}"
    );
    assert!(
        message.contains("bulkhead,fixed-priority"),
        "names the fix: {message}"
    );
}

#[test]
fn unknown_vcpus_and_foreign_cpus_are_ignored() {
    let mut sched = PoolScheduler::new(Scheduler::Null, &[0], HZ);
    assert_eq!(sched.wake(vcpu(9, 9), 0), None);
    sched.sleep(vcpu(9, 9), 0);
    sched.yield_now(vcpu(9, 9), 0);
    assert_eq!(sched.stats(vcpu(9, 9)), None);
    assert_eq!(
        sched.pick(5, 0),
        Decision {
            run: None,
            until: None
        }
    );
    assert_eq!(sched.current(5), None);
}
