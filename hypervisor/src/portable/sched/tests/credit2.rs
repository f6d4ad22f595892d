//! Credit2: fairness by weight, caps, ratelimit, wake-up preemption, no starvation, affinity
//! and pool isolation, statistics.

use alloc::vec::Vec;

use dom0less_config::Scheduler;

use super::sim::{ms, params, us, vcpu, Sim, HZ};
use crate::portable::sched::{PoolScheduler, SchedError, VcpuParams, VcpuRef};

fn weight(weight: u16) -> VcpuParams {
    VcpuParams { weight, ..params() }
}

fn capped(cap_percent: u32) -> VcpuParams {
    VcpuParams {
        cap_percent,
        ..params()
    }
}

/// A pool of `cpus` with always-runnable vCPUs, run for `seconds`.
fn hogs(cpus: &[usize], vcpus: &[(VcpuRef, VcpuParams)], seconds: u64) -> Sim {
    let mut sim = Sim::new(Scheduler::Credit2, cpus);
    for (v, p) in vcpus {
        sim.add(*v, p.clone());
    }
    for (v, _) in vcpus {
        sim.wake(*v);
    }
    sim.run_until(ms(seconds * 1000));
    let all: Vec<VcpuRef> = vcpus.iter().map(|(v, _)| *v).collect();
    sim.settle_all(&all);
    sim
}

#[test]
fn cpu_time_follows_weight() {
    let (light, heavy) = (vcpu(0, 0), vcpu(1, 0));
    let sim = hogs(&[0], &[(light, weight(256)), (heavy, weight(512))], 10);
    let ratio = sim.cpu_time(heavy) as f64 / sim.cpu_time(light) as f64;
    assert!(
        (ratio - 2.0).abs() < 0.02,
        "256 vs 512: 1:{ratio:.4}, want 1:2 within 1%"
    );
    assert_eq!(
        sim.cpu_time(light) + sim.cpu_time(heavy),
        ms(10_000),
        "the CPU never idles"
    );
}

#[test]
fn three_weights_over_two_cpus() {
    let vcpus = [
        (vcpu(0, 0), weight(100)),
        (vcpu(1, 0), weight(200)),
        (vcpu(2, 0), weight(300)),
        (vcpu(3, 0), weight(300)),
    ];
    let sim = hogs(&[0, 1], &vcpus, 10);
    let total: u64 = vcpus.iter().map(|(v, _)| sim.cpu_time(*v)).sum();
    assert_eq!(total, ms(20_000), "both CPUs busy all the time");
    for (v, p) in &vcpus {
        let share = sim.cpu_time(*v) as f64 / total as f64;
        let want = f64::from(p.weight) / 900.0;
        assert!(
            (share - want).abs() / want < 0.02,
            "{v}: {share:.4} of the pool, want {want:.4}"
        );
    }
}

#[test]
fn a_cap_holds_beside_an_uncapped_hog() {
    let (limited, free) = (vcpu(0, 0), vcpu(1, 0));
    let sim = hogs(&[0], &[(limited, capped(25)), (free, params())], 10);
    let share = sim.cpu_time(limited) as f64 / ms(10_000) as f64;
    assert!(share <= 0.255, "capped at 25%: got {share:.4}");
    assert!(
        share >= 0.24,
        "a cap is a ceiling, the vCPU still gets it: {share:.4}"
    );
    assert_eq!(
        sim.cpu_time(limited) + sim.cpu_time(free),
        ms(10_000),
        "the uncapped one takes the rest"
    );
}

#[test]
fn a_capped_partition_shares_its_budget_and_an_idle_pool_ticks_for_replenishment() {
    let vcpus = [(vcpu(0, 0), capped(50)), (vcpu(0, 1), capped(50))];
    let sim = hogs(&[0, 1], &vcpus, 10);
    let both = sim.cpu_time(vcpu(0, 0)) + sim.cpu_time(vcpu(0, 1));
    let share = both as f64 / ms(10_000) as f64;
    assert!(
        (0.49..=0.505).contains(&share),
        "two vCPUs under one 50% cap: {share:.4} of a CPU"
    );
    let mut sched = PoolScheduler::new(Scheduler::Credit2, &[0, 1], HZ);
    sched.add(vcpu(1, 0), capped(40)).unwrap();
    assert_eq!(
        sched.add(vcpu(1, 1), capped(30)),
        Err(SchedError::CapMismatch {
            vcpu: vcpu(1, 1),
            cap_percent: 30,
            other: 40
        })
    );
    assert_eq!(
        sched.add(vcpu(1, 1), params()),
        Err(SchedError::CapMismatch {
            vcpu: vcpu(1, 1),
            cap_percent: 0,
            other: 40
        })
    );
}

#[test]
fn a_parked_vcpu_gets_a_tick_at_replenishment() {
    let mut sim = Sim::new(Scheduler::Credit2, &[0]);
    let v = vcpu(0, 0);
    sim.add(v, capped(10));
    sim.wake(v);
    let decision = sim.sched.pick(0, 0);
    assert_eq!(decision.until, Some(ms(1)), "runs its 1 ms budget");
    let idle = sim.sched.pick(0, ms(1));
    assert_eq!(idle.run, None, "out of budget: parked");
    assert_eq!(
        idle.until,
        Some(ms(10)),
        "the idle CPU picks again at replenishment"
    );
    assert_eq!(sim.sched.pick(0, ms(10)).run, Some(v));
}

#[test]
fn ratelimit_keeps_a_fresh_vcpu_then_lets_go() {
    let mut sim = Sim::new(Scheduler::Credit2, &[0]);
    let (old, new) = (vcpu(0, 0), vcpu(1, 0));
    sim.add(old, params());
    sim.add(new, params());
    sim.wake(old);
    sim.run_until(ms(30));
    sim.sleep(old);
    sim.wake(old);
    sim.run_until(ms(30) + us(300));
    assert_eq!(sim.wake(new), Some(0), "more credit than the current: kick");
    assert_eq!(
        sim.sched.current(0),
        Some(old),
        "ran 300 us < 1 ms ratelimit: not preempted"
    );
    let decision = sim.sched.pick(0, sim.now);
    assert_eq!(decision.until, Some(ms(31)), "until the ratelimit ends");
    sim.run_until(ms(31));
    assert_eq!(
        sim.sched.current(0),
        Some(new),
        "after the ratelimit the richer vCPU runs"
    );
}

#[test]
fn a_wake_preempts_the_poorest_current_or_takes_an_idle_cpu() {
    let mut sim = Sim::new(Scheduler::Credit2, &[0, 1, 2]);
    let (a, b, c, d) = (vcpu(0, 0), vcpu(1, 0), vcpu(2, 0), vcpu(3, 0));
    for v in [a, b, c, d] {
        sim.add(v, params());
    }
    assert_eq!(sim.wake(a), Some(0));
    sim.run_until(ms(3));
    assert_eq!(sim.wake(b), Some(1), "an idle CPU first");
    sim.run_until(ms(5));
    assert_eq!(sim.wake(c), Some(2));
    sim.run_until(ms(6));
    assert_eq!(
        sim.wake(d),
        Some(0),
        "a has burnt the most credit: its CPU is kicked"
    );
    sim.run_until(ms(7));
    assert_eq!(sim.sched.current(0), Some(d));
}

#[test]
fn a_wake_goes_to_the_idle_cpu_the_vcpu_last_ran_on() {
    let mut sim = Sim::new(Scheduler::Credit2, &[0, 1]);
    let (a, b) = (vcpu(0, 0), vcpu(1, 0));
    sim.add(a, params());
    sim.add(b, params());
    assert_eq!(sim.wake(a), Some(0));
    assert_eq!(sim.wake(b), Some(1));
    sim.run_until(ms(1));
    sim.sleep(a);
    sim.sleep(b);
    assert_eq!(sim.wake(b), Some(1), "CPU 0 is idle too, but b waited on CPU 1");
    assert_eq!(sim.wake(a), Some(0));
}

#[test]
fn a_poorer_wake_preempts_nothing() {
    let mut sim = Sim::new(Scheduler::Credit2, &[0]);
    let (rich, poor) = (vcpu(0, 0), vcpu(1, 0));
    sim.add(rich, params());
    sim.add(poor, params());
    sim.wake(poor);
    sim.run_until(ms(8));
    sim.sleep(poor);
    sim.wake(rich);
    sim.run_until(ms(9));
    assert_eq!(
        sim.wake(poor),
        None,
        "2 ms of credit left does not preempt 9 ms"
    );
}

#[test]
fn nobody_starves_among_hogs_and_bursty_vcpus() {
    let mut sim = Sim::new(Scheduler::Credit2, &[0, 1]);
    let hogs = [
        (vcpu(0, 0), 64),
        (vcpu(1, 0), 256),
        (vcpu(2, 0), 1024),
        (vcpu(3, 0), 256),
    ];
    let bursty = [vcpu(4, 0), vcpu(4, 1)];
    for (v, w) in hogs {
        sim.add(v, weight(w));
    }
    for v in bursty {
        sim.add(v, weight(65535));
        sim.bursts(v, us(200), ms(2));
    }
    for v in hogs.iter().map(|h| h.0).chain(bursty) {
        sim.wake(v);
    }
    sim.run_until(ms(5000));
    for (v, _) in hogs {
        assert!(
            sim.cpu_time(v) > ms(50),
            "{v} ran {} ticks",
            sim.cpu_time(v)
        );
        assert!(
            sim.longest_wait[&v] <= ms(50),
            "{v} waited {} ms at once",
            sim.longest_wait[&v] / ms(1)
        );
    }
    for v in bursty {
        assert!(
            sim.longest_wait[&v] <= ms(3),
            "{v} (interactive) waited {} us",
            sim.longest_wait[&v] / us(1)
        );
    }
}

#[test]
fn affinity_and_pool_are_respected() {
    let mut sim = Sim::new(Scheduler::Credit2, &[0, 1]);
    let only_one = vcpu(0, 0);
    sim.add(
        only_one,
        VcpuParams {
            affinity: [1, 9].into(),
            ..params()
        },
    );
    for p in 1..4 {
        sim.add(vcpu(p, 0), params());
        sim.bursts(vcpu(p, 0), ms(3), ms(1));
    }
    for p in 0..4 {
        sim.wake(vcpu(p, 0));
    }
    sim.run_until(ms(3000));
    assert!(
        sim.cpu_time(only_one) > ms(500),
        "it runs, on CPU 1 only (the sim checks every pick)"
    );
    let mut other_pool = PoolScheduler::new(Scheduler::Credit2, &[2, 3], HZ);
    other_pool.add(vcpu(7, 0), params()).unwrap();
    assert_eq!(other_pool.wake(vcpu(7, 0), 0), Some(2));
    assert_eq!(other_pool.pick(0, 0).run, None, "CPU 0 is not in this pool");
    assert_eq!(other_pool.pick(2, 0).run, Some(vcpu(7, 0)));
    assert_eq!(other_pool.pick(3, 0).run, None, "never on two CPUs");
}

#[test]
fn statistics_add_up() {
    let vcpus = [
        (vcpu(0, 0), params()),
        (vcpu(1, 0), weight(300)),
        (vcpu(2, 0), capped(30)),
    ];
    let sim = hogs(&[0, 1], &vcpus, 4);
    let mut total = 0;
    for (v, _) in &vcpus {
        let stats = sim.sched.stats(*v).unwrap();
        assert_eq!(
            stats.cpu_time + stats.waiting,
            ms(4000),
            "{v}: runnable the whole time"
        );
        assert!(stats.runs > 1, "{v} scheduled {} times", stats.runs);
        total += stats.cpu_time;
    }
    assert_eq!(total, ms(8000), "two CPUs, never idle with three hogs");
}

#[test]
fn yield_lets_the_other_run() {
    let mut sim = Sim::new(Scheduler::Credit2, &[0]);
    let (a, b) = (vcpu(0, 0), vcpu(1, 0));
    sim.add(a, params());
    sim.add(b, params());
    sim.wake(a);
    sim.wake(b);
    sim.run_until(us(100));
    let running = sim.sched.current(0).unwrap();
    sim.sched.yield_now(running, sim.now);
    sim.pick(0);
    assert_ne!(
        sim.sched.current(0),
        Some(running),
        "a yield skips the ratelimit"
    );
    let other = sim.sched.current(0).unwrap();
    sim.sleep(other);
    assert_eq!(
        sim.sched.current(0),
        Some(running),
        "alone, the yielder runs again"
    );
}
