//! The conversions and the accounting every scheduler shares.

use dom0less_config::Scheduler;

use super::sim::{params, vcpu, HZ};
use crate::portable::sched::time::{scale, ticks_from_micros};
use crate::portable::sched::{PoolScheduler, SchedError, VcpuParams};

#[test]
fn conversions_saturate_and_never_give_zero() {
    assert_eq!(ticks_from_micros(1000, HZ), 62_500);
    assert_eq!(
        ticks_from_micros(1, 1),
        1,
        "a slow counter still gets one tick"
    );
    assert_eq!(ticks_from_micros(500, 0), 1, "frequency 0");
    assert_eq!(ticks_from_micros(u64::MAX, u64::MAX), u64::MAX);
    assert_eq!(scale(u64::MAX, 65535, 1), i64::MAX);
    assert_eq!(scale(10, 3, 0), 30, "denominator 0 read as 1");
}

#[test]
fn scaling_takes_the_short_ways_to_the_same_value() {
    let wide = |v: u64, n: u64, d: u64| i64::try_from(u128::from(v) * u128::from(n) / u128::from(d.max(1))).unwrap_or(i64::MAX);
    let cases = [
        (625_000, 256, 256),
        (625_000, 512, 256),
        (625_000, 256, 512),
        (7, 65535, 3),
        (1 << 47, 65535, 1),
        (1 << 48, 65535, 7),
        (u64::MAX, 2, 3),
        (u64::MAX, 1, 1),
        (u64::MAX / 3, 3, 3),
        (0, 65535, 1),
        (12_345, 0, 9),
    ];
    for (v, n, d) in cases {
        assert_eq!(scale(v, n, d), wide(v, n, d), "{v} * {n} / {d}");
    }
}

#[test]
fn a_clock_that_goes_back_counts_no_time() {
    let mut sched = PoolScheduler::new(Scheduler::Credit2, &[0], HZ);
    sched.add(vcpu(0, 0), params()).unwrap();
    sched.wake(vcpu(0, 0), 1000);
    assert_eq!(sched.pick(0, 1000).run, Some(vcpu(0, 0)));
    let decision = sched.pick(0, 10);
    assert_eq!(decision.run, Some(vcpu(0, 0)));
    assert!(decision.until.is_some_and(|u| u > 10));
    sched.sleep(vcpu(0, 0), u64::MAX);
    let stats = sched.stats(vcpu(0, 0)).unwrap();
    assert_eq!(stats.cpu_time, u64::MAX - 1000);
    assert_eq!(stats.waiting, 0);
}

#[test]
fn weight_zero_and_affinity_outside_the_pool_are_refused() {
    let mut sched = PoolScheduler::new(Scheduler::Credit2, &[0, 1], HZ);
    assert_eq!(
        sched.add(
            vcpu(0, 0),
            VcpuParams {
                weight: 0,
                ..params()
            }
        ),
        Err(SchedError::ZeroWeight { vcpu: vcpu(0, 0) })
    );
    assert_eq!(
        sched.add(
            vcpu(0, 0),
            VcpuParams {
                affinity: [4, 5].into(),
                ..params()
            }
        ),
        Err(SchedError::NoCpuInAffinity { vcpu: vcpu(0, 0) })
    );
    sched
        .add(
            vcpu(0, 0),
            VcpuParams {
                affinity: [1, 5].into(),
                ..params()
            },
        )
        .unwrap();
    let mut fixed = PoolScheduler::new(Scheduler::FixedPriority, &[0, 1], HZ);
    assert_eq!(
        fixed.add(
            vcpu(0, 0),
            VcpuParams {
                cpu: Some(0),
                affinity: [1].into(),
                ..params()
            }
        ),
        Err(SchedError::PinnedOutsideAffinity {
            vcpu: vcpu(0, 0),
            cpu: 0
        })
    );
    for error in [
        SchedError::ZeroWeight { vcpu: vcpu(3, 1) },
        SchedError::NoCpuInAffinity { vcpu: vcpu(3, 1) },
    ] {
        let message = error.to_string();
        assert!(message.contains("partition 3 vCPU 1"), "{message}");
    }
}
