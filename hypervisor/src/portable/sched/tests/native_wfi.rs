//! WFI not trapped: a vCPU alone on its CPU (nothing queued may run there) and without a cap
//! runs with its WFI in hardware; a vCPU queued that may run there revokes that and names
//! the CPU to kick, once.

use alloc::vec;
use alloc::vec::Vec;

use dom0less_config::Scheduler;

use super::sim::{ms, params, vcpu, HZ};
use crate::portable::sched::{PoolScheduler, VcpuParams, VcpuRef};

fn pool(kind: Scheduler, cpus: &[usize], vcpus: &[(VcpuRef, VcpuParams)]) -> PoolScheduler {
    let mut sched = PoolScheduler::new(kind, cpus, HZ);
    for (v, p) in vcpus {
        sched.add(*v, p.clone()).unwrap();
    }
    sched
}

fn kicks(sched: &mut PoolScheduler) -> Vec<usize> {
    let mut cpus = Vec::new();
    sched.take_kicks(|c| cpus.push(c));
    cpus
}

/// Starts `a` on CPU 0 and `b` on CPU 1, each alone there: both run with WFI not trapped.
fn run_alone(sched: &mut PoolScheduler, a: VcpuRef, b: VcpuRef) {
    sched.wake(a, 0);
    sched.wake(b, 0);
    assert_eq!(sched.pick(0, 0).run, Some(a));
    assert_eq!(sched.pick(1, 0).run, Some(b));
    assert!(sched.native_wfi(0) && sched.native_wfi(1));
    assert!(kicks(sched).is_empty(), "nothing was queued for a CPU running natively");
}

fn on(cpu: usize) -> VcpuParams {
    VcpuParams {
        cpu: Some(cpu),
        affinity: vec![cpu],
        ..params()
    }
}

#[test]
fn credit2_alone_runs_native_until_a_wake_for_its_cpu_kicks_it() {
    let (a, b) = (vcpu(0, 0), vcpu(1, 0));
    let mut sched = pool(Scheduler::Credit2, &[0], &[(a, params()), (b, params())]);
    sched.wake(a, 0);
    assert_eq!(sched.pick(0, 0).run, Some(a));
    assert!(sched.native_wfi(0), "alone and uncapped: WFI not trapped");
    assert!(kicks(&mut sched).is_empty(), "nothing queued: no kick");
    assert_eq!(sched.wake(b, ms(1)), Some(0));
    assert!(!sched.native_wfi(0), "b may run there: WFI traps again");
    assert_eq!(kicks(&mut sched), [0], "the CPU is kicked so its next entry traps");
    assert!(kicks(&mut sched).is_empty(), "once");
    let d = sched.pick(0, ms(2));
    assert!(d.run.is_some());
    assert!(!sched.native_wfi(0), "the other vCPU is still queued");
    sched.sleep(d.run.unwrap(), ms(3));
    let d = sched.pick(0, ms(3));
    assert!(d.run.is_some());
    assert!(sched.native_wfi(0), "alone again: WFI not trapped");
}

#[test]
fn a_capped_vcpu_always_traps_wfi() {
    let a = vcpu(0, 0);
    let capped = VcpuParams {
        cap_percent: 50,
        ..params()
    };
    let mut sched = pool(Scheduler::Credit2, &[0], &[(a, capped)]);
    sched.wake(a, 0);
    assert_eq!(sched.pick(0, 0).run, Some(a));
    assert!(!sched.native_wfi(0), "its wait must not burn its budget");
    assert!(sched.wait_here(a, 0, ms(1)).is_some());
    assert_eq!(sched.resume_here(a, 0, ms(2)).map(|d| d.run), Some(Some(a)));
    assert!(!sched.native_wfi(0));
}

#[test]
fn a_wake_only_kicks_the_native_cpus_the_vcpu_may_run_on() {
    let (a, b, c) = (vcpu(0, 0), vcpu(1, 0), vcpu(2, 0));
    let mut sched = pool(
        Scheduler::Credit2,
        &[0, 1],
        &[(a, on(0)), (b, on(1)), (c, on(1))],
    );
    run_alone(&mut sched, a, b);
    sched.wake(c, ms(1));
    assert!(sched.native_wfi(0), "c may not run on CPU 0");
    assert!(!sched.native_wfi(1));
    assert_eq!(kicks(&mut sched), [1]);
}

#[test]
fn a_wake_of_a_vcpu_that_may_run_anywhere_kicks_every_native_cpu() {
    let (a, b, c) = (vcpu(0, 0), vcpu(1, 0), vcpu(2, 0));
    let mut sched = pool(
        Scheduler::Credit2,
        &[0, 1],
        &[(a, params()), (b, params()), (c, params())],
    );
    sched.wake(a, 0);
    sched.wake(b, 0);
    let first = sched.pick(0, 0).run;
    assert!(!sched.native_wfi(0), "the other vCPU was still queued then");
    let second = sched.pick(1, 0).run;
    assert!(first.is_some() && second.is_some());
    assert!(sched.native_wfi(1));
    assert_eq!(sched.pick(0, ms(1)).run, first, "ratelimited: runs on");
    assert!(sched.native_wfi(0), "nothing queued now");
    kicks(&mut sched);
    sched.wake(c, ms(1));
    assert_eq!(kicks(&mut sched), [0, 1], "either may pick c now");
}

#[test]
fn waiting_in_place_is_not_native_and_a_resume_alone_is() {
    let a = vcpu(0, 0);
    let mut sched = pool(Scheduler::Credit2, &[0], &[(a, params())]);
    sched.wake(a, 0);
    sched.pick(0, 0);
    assert!(sched.wait_here(a, 0, ms(1)).is_some());
    assert!(!sched.native_wfi(0), "a vCPU waiting in place is not in the guest");
    assert!(sched.resume_here(a, 0, ms(2)).is_some());
    assert!(sched.native_wfi(0));
    sched.sleep(a, ms(3));
    assert!(!sched.native_wfi(0), "no current: nothing runs native");
}

#[test]
fn a_preempted_vcpu_queued_by_its_own_cpu_kicks_no_one() {
    // Two vCPUs on one CPU: the pick that queues the one it preempts decides for that CPU
    // itself, so it is not kicked.
    let (a, b) = (vcpu(0, 0), vcpu(1, 0));
    let mut sched = pool(Scheduler::Credit2, &[0], &[(a, params()), (b, params())]);
    sched.wake(a, 0);
    sched.wake(b, 0);
    sched.pick(0, 0);
    kicks(&mut sched);
    sched.pick(0, ms(20));
    assert!(!sched.native_wfi(0), "the other one is queued");
    assert!(kicks(&mut sched).is_empty());
}

#[test]
fn fixed_priority_runs_native_until_a_vcpu_pinned_there_wakes() {
    let (a, b, c) = (vcpu(0, 0), vcpu(1, 0), vcpu(2, 0));
    let low = VcpuParams {
        priority: 1,
        ..on(0)
    };
    let mut sched = pool(
        Scheduler::FixedPriority,
        &[0, 1],
        &[(a, on(0)), (b, on(1)), (c, low)],
    );
    run_alone(&mut sched, a, b);
    sched.wake(c, ms(1));
    assert_eq!(kicks(&mut sched), [0], "any priority pinned there ends it");
    assert!(!sched.native_wfi(0) && sched.native_wfi(1));
}

#[test]
fn a_null_pool_scheduler_never_says_native() {
    let a = vcpu(0, 0);
    let mut sched = pool(Scheduler::Null, &[0], &[(a, on(0))]);
    sched.wake(a, 0);
    assert_eq!(sched.pick(0, 0).run, Some(a));
    assert!(!sched.native_wfi(0), "a null pool's CPUs configure WFI themselves");
}

#[test]
fn a_vcpu_whose_partition_traps_wfi_never_runs_native_and_is_never_kicked_for_it() {
    let (a, b) = (vcpu(0, 0), vcpu(1, 0));
    let trapping = VcpuParams {
        trap_wfi: true,
        ..on(0)
    };
    for kind in [Scheduler::Credit2, Scheduler::FixedPriority] {
        let mut sched = pool(kind, &[0], &[(a, trapping.clone()), (b, on(0))]);
        sched.wake(a, 0);
        assert_eq!(sched.pick(0, 0).run, Some(a));
        assert!(!sched.native_wfi(0), "{kind:?}: bulkhead,trap-wfi keeps its WFI trapped");
        sched.wake(b, ms(1));
        assert!(kicks(&mut sched).is_empty(), "{kind:?}: nothing to revoke, so no kick");
    }
}
