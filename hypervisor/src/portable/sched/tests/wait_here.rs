//! Waiting in place: a blocked vCPU with nothing else to run on its CPU stays that CPU's
//! current, its wait idle time, and runs on when woken there; anything else that may run
//! there ends the wait the usual way. Credit, caps, credit resets, fixed priority, a wake of
//! the waiting vCPU itself, and random interleavings of every operation.

use alloc::vec::Vec;

use dom0less_config::Scheduler;

use super::sim::{ms, params, us, vcpu, HZ};
use crate::portable::sched::{
    Decision, PoolScheduler, VcpuParams, VcpuRef, CREDIT_INIT_US, MIN_TIMER_US,
};
use crate::portable::test_rng::Rng;

fn credit2(cpus: &[usize], vcpus: &[(VcpuRef, VcpuParams)]) -> PoolScheduler {
    let mut sched = PoolScheduler::new(Scheduler::Credit2, cpus, HZ);
    for (v, p) in vcpus {
        sched.add(*v, p.clone()).unwrap();
    }
    sched
}

fn capped(cap_percent: u32) -> VcpuParams {
    VcpuParams {
        cap_percent,
        ..params()
    }
}

/// What the runtime does when `resume_here` refuses: the wait ends as a sleep and a wake,
/// then the CPU picks.
fn end_wait_the_usual_way(sched: &mut PoolScheduler, v: VcpuRef, cpu: usize, now: u64) -> Decision {
    sched.sleep(v, now);
    sched.wake(v, now);
    sched.pick(cpu, now)
}

#[test]
fn a_wait_in_place_is_idle_time_and_keeps_the_credit() {
    let a = vcpu(0, 0);
    let mut sched = credit2(&[0], &[(a, params())]);
    assert_eq!(sched.wake(a, 0), Some(0));
    assert_eq!(sched.pick(0, 0).run, Some(a));
    let idle = sched
        .wait_here(a, 0, ms(2))
        .expect("nothing else to run: waits in place");
    assert_eq!(
        idle,
        Decision {
            run: None,
            until: None
        },
        "an idle CPU, no tick"
    );
    assert_eq!(
        sched.current(0),
        Some(a),
        "still the CPU's current: no other CPU takes it"
    );
    let resumed = sched.resume_here(a, 0, ms(7)).expect("alone: runs on");
    assert_eq!(resumed.run, Some(a));
    assert_eq!(
        resumed.until,
        Some(ms(7) + ms(CREDIT_INIT_US / 1000) - ms(2)),
        "a slice of the 8 ms of credit left: the 5 ms wait burnt none"
    );
    sched.sleep(a, ms(8));
    let stats = sched.stats(a).unwrap();
    assert_eq!(stats.cpu_time, ms(3), "2 ms, then 1 ms after the wait");
    assert_eq!(
        stats.waiting, 0,
        "waiting in place is not waiting for a CPU"
    );
    assert_eq!(
        stats.runs, 2,
        "given the CPU at the pick and again at the resume"
    );
}

#[test]
fn a_wait_in_place_is_refused_while_another_vcpu_may_run_there() {
    let (a, b) = (vcpu(0, 0), vcpu(1, 0));
    let mut sched = credit2(&[0], &[(a, params()), (b, params())]);
    sched.wake(a, 0);
    assert_eq!(sched.pick(0, 0).run, Some(a));
    sched.wake(b, us(100));
    assert_eq!(
        sched.wait_here(a, 0, us(200)),
        None,
        "b is queued: block the usual way"
    );
    sched.sleep(a, us(200));
    assert_eq!(sched.pick(0, us(200)).run, Some(b));
    let mut other = credit2(
        &[0, 1],
        &[
            (
                a,
                VcpuParams {
                    affinity: [0].into(),
                    ..params()
                },
            ),
            (
                b,
                VcpuParams {
                    affinity: [1].into(),
                    ..params()
                },
            ),
        ],
    );
    other.wake(a, 0);
    other.wake(b, 0);
    assert_eq!(other.pick(0, 0).run, Some(a));
    assert!(
        other.wait_here(a, 0, us(10)).is_some(),
        "b is queued, but may not run on CPU 0"
    );
    assert_eq!(
        other.wait_here(b, 1, us(10)),
        None,
        "b is not CPU 1's current yet"
    );
    assert_eq!(other.wait_here(a, 1, us(10)), None, "a is not CPU 1's");
}

#[test]
fn a_wake_elsewhere_ends_the_wait_and_the_cpu_picks_by_credit() {
    let (a, b) = (vcpu(0, 0), vcpu(1, 0));
    let mut sched = credit2(&[0], &[(a, params()), (b, params())]);
    sched.wake(a, 0);
    sched.pick(0, 0);
    assert!(sched.wait_here(a, 0, ms(3)).is_some());
    assert_eq!(
        sched.wake(b, ms(4)),
        Some(0),
        "the CPU a waits on counts as idle: kicked"
    );
    assert_eq!(
        sched.resume_here(a, 0, ms(4)),
        None,
        "b may run here: no resume in place"
    );
    let decision = end_wait_the_usual_way(&mut sched, a, 0, ms(4));
    assert_eq!(decision.run, Some(b), "b has 10 ms of credit, a 7 ms");
    assert_eq!(sched.stats(a).unwrap().cpu_time, ms(3), "the wait was idle");
    let (a2, b2) = (vcpu(2, 0), vcpu(3, 0));
    let mut two = credit2(&[0, 1], &[(a2, params()), (b2, params())]);
    two.wake(a2, 0);
    two.pick(0, 0);
    two.wake(b2, 0);
    two.pick(1, 0);
    two.sleep(b2, ms(1));
    assert!(two.wait_here(a2, 0, ms(1)).is_some());
    assert_eq!(
        two.wake(b2, ms(2)),
        Some(1),
        "b's own idle CPU first, not a's"
    );
    assert_eq!(two.pick(1, ms(2)).run, Some(b2));
    assert!(
        two.resume_here(a2, 0, ms(3)).is_some(),
        "nothing queued for CPU 0: a runs on"
    );
}

#[test]
fn a_credit_reset_at_the_resume_gives_a_full_slice() {
    let a = vcpu(0, 0);
    let mut sched = credit2(&[0], &[(a, params())]);
    sched.wake(a, 0);
    assert_eq!(sched.pick(0, 0).until, Some(ms(10)));
    assert!(sched.wait_here(a, 0, ms(10)).is_some(), "its credit spent");
    let resumed = sched.resume_here(a, 0, ms(11)).unwrap();
    assert_eq!(
        resumed.until,
        Some(ms(21)),
        "reset to 10 ms of credit, not the {MIN_TIMER_US} us minimum"
    );
}

#[test]
fn a_capped_vcpu_gives_its_quota_back_for_the_wait_and_parks_once_out_of_budget() {
    let (a, b) = (vcpu(0, 0), vcpu(0, 1));
    let mut sched = credit2(&[0, 1], &[(a, capped(10)), (b, capped(10))]);
    sched.wake(a, 0);
    assert_eq!(
        sched.pick(0, 0),
        Decision {
            run: Some(a),
            until: Some(us(500))
        },
        "half the 1 ms budget each"
    );
    assert!(sched.wait_here(a, 0, us(200)).is_some());
    sched.wake(b, us(200));
    assert_eq!(
        sched.pick(1, us(200)),
        Decision {
            run: Some(b),
            until: Some(us(700))
        },
        "a's unused 300 us went back: b takes its own 500 us quota"
    );
    let resumed = sched
        .resume_here(a, 0, us(300))
        .expect("the partition has 300 us left");
    assert_eq!(resumed.until, Some(us(600)), "what is left of the budget");
    assert!(sched.wait_here(a, 0, us(600)).is_some());
    sched.sleep(b, us(700));
    assert_eq!(
        sched.resume_here(a, 0, ms(2)),
        None,
        "no budget left this period"
    );
    let decision = end_wait_the_usual_way(&mut sched, a, 0, ms(2));
    assert_eq!(
        decision,
        Decision {
            run: None,
            until: Some(ms(10))
        },
        "parked until the replenishment"
    );
    assert_eq!(sched.pick(0, ms(10)).run, Some(a));
}

#[test]
fn a_parked_vcpu_replenished_during_a_wait_ends_it() {
    let (capped_one, other) = (vcpu(0, 0), vcpu(1, 0));
    let mut sched = credit2(&[0], &[(capped_one, capped(10)), (other, params())]);
    sched.wake(capped_one, 0);
    assert_eq!(sched.pick(0, 0).run, Some(capped_one));
    sched.wake(other, us(100));
    assert_eq!(
        sched.pick(0, ms(1)).run,
        Some(other),
        "out of budget: parked"
    );
    let idle = sched.wait_here(other, 0, ms(2)).unwrap();
    assert_eq!(
        idle.until,
        Some(ms(10)),
        "the CPU wakes for the replenishment"
    );
    assert_eq!(
        sched.resume_here(other, 0, ms(10)),
        None,
        "the capped vCPU is queued again"
    );
}

#[test]
fn a_wake_of_the_waiting_vcpu_itself_names_its_cpu_and_a_pick_ends_the_wait() {
    let a = vcpu(0, 0);
    let mut sched = credit2(&[0, 1], &[(a, params())]);
    sched.wake(a, 0);
    sched.pick(0, 0);
    assert!(sched.wait_here(a, 0, ms(1)).is_some());
    assert_eq!(
        sched.wake(a, ms(2)),
        Some(0),
        "started again while it waits: its CPU must look"
    );
    assert_eq!(sched.pick(1, ms(2)).run, None, "never on a second CPU");
    assert_eq!(
        sched.pick(0, ms(3)).run,
        Some(a),
        "the CPU that let go picks it again"
    );
    sched.sleep(a, ms(4));
    assert_eq!(
        sched.stats(a).unwrap().cpu_time,
        ms(2),
        "1 ms before the wait, 1 ms after it"
    );
}

#[test]
fn fixed_priority_waits_in_place_until_a_lower_priority_wakes() {
    let mut sched = PoolScheduler::new(Scheduler::FixedPriority, &[0], HZ);
    let (high, low) = (vcpu(0, 0), vcpu(1, 0));
    sched
        .add(
            high,
            VcpuParams {
                cpu: Some(0),
                priority: 9,
                ..params()
            },
        )
        .unwrap();
    sched
        .add(
            low,
            VcpuParams {
                cpu: Some(0),
                priority: 1,
                ..params()
            },
        )
        .unwrap();
    sched.wake(high, 0);
    assert_eq!(sched.pick(0, 0).run, Some(high));
    assert_eq!(
        sched.wait_here(high, 0, ms(1)),
        Some(Decision {
            run: None,
            until: None
        })
    );
    assert_eq!(
        sched.resume_here(high, 0, ms(2)),
        Some(Decision {
            run: Some(high),
            until: None
        })
    );
    assert!(sched.wait_here(high, 0, ms(3)).is_some());
    assert_eq!(
        sched.wake(low, ms(4)),
        Some(0),
        "its CPU idles: the lower priority may run"
    );
    assert_eq!(sched.resume_here(high, 0, ms(4)), None);
    assert_eq!(
        end_wait_the_usual_way(&mut sched, high, 0, ms(4)).run,
        Some(high),
        "the higher priority first"
    );
    assert_eq!(
        sched.wait_here(high, 0, ms(5)),
        None,
        "low is queued: high blocks the usual way"
    );
    sched.sleep(high, ms(5));
    assert_eq!(sched.pick(0, ms(5)).run, Some(low));
    sched.sleep(low, ms(6));
    let stats = sched.stats(high).unwrap();
    assert_eq!(stats.cpu_time, ms(3), "1 + 1 + 1 ms around the waits");
}

/// Random interleavings on two CPUs and three vCPUs: waits in place, resumes, refused
/// resumes ended the usual way, wakes, sleeps and picks at random times. After every
/// operation no vCPU is current on two CPUs, a waiting vCPU is still its CPU's current, and
/// the CPU time handed out never exceeds the time the CPUs were not idle.
#[test]
fn random_waits_in_place_keep_the_invariants() {
    // Waits begun, resumes in place, resumes refused, steps with a CPU whose WFI is not
    // trapped.
    let mut counts = [0u32; 4];
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let vcpus = [
            (vcpu(0, 0), params()),
            (vcpu(1, 0), capped(30)),
            (
                vcpu(2, 0),
                VcpuParams {
                    weight: 700,
                    ..params()
                },
            ),
        ];
        let mut sched = credit2(&[0, 1], &vcpus);
        let refs: Vec<VcpuRef> = vcpus.iter().map(|(v, _)| *v).collect();
        let mut now = 0u64;
        // Per CPU: the vCPU it runs and whether it waits in place.
        let mut cpus: [(Option<VcpuRef>, bool); 2] = [(None, false); 2];
        let mut busy = 0u64;
        for _ in 0..2000 {
            let step = rng.below(us(800));
            busy += step
                * cpus
                    .iter()
                    .filter(|(run, waiting)| run.is_some() && !waiting)
                    .count() as u64;
            now += step;
            let cpu = rng.below(2) as usize;
            let v = refs[rng.below(3) as usize];
            match rng.below(5) {
                0 => {
                    if let Some(c) = sched.wake(v, now) {
                        let (run, waiting) = cpus[c];
                        if waiting {
                            let w = run.unwrap();
                            match sched.resume_here(w, c, now) {
                                Some(d) => cpus[c] = (d.run, false),
                                None => {
                                    cpus[c] =
                                        (end_wait_the_usual_way(&mut sched, w, c, now).run, false)
                                }
                            }
                        } else {
                            cpus[c] = (sched.pick(c, now).run, false);
                        }
                    }
                }
                1 => {
                    if let (Some(run), false) = cpus[cpu] {
                        match sched.wait_here(run, cpu, now) {
                            Some(idle) => {
                                assert_eq!(idle.run, None);
                                cpus[cpu].1 = true;
                                counts[0] += 1;
                            }
                            None => {
                                sched.sleep(run, now);
                                cpus[cpu] = (sched.pick(cpu, now).run, false);
                            }
                        }
                    }
                }
                2 => {
                    if let (Some(run), true) = cpus[cpu] {
                        cpus[cpu] = match sched.resume_here(run, cpu, now) {
                            Some(d) => {
                                assert_eq!(d.run, Some(run));
                                counts[1] += 1;
                                (d.run, false)
                            }
                            None => {
                                counts[2] += 1;
                                (end_wait_the_usual_way(&mut sched, run, cpu, now).run, false)
                            }
                        };
                    }
                }
                3 => {
                    sched.sleep(v, now);
                    for (c, state) in cpus.iter_mut().enumerate() {
                        if state.0 == Some(v) {
                            *state = (sched.pick(c, now).run, false);
                        }
                    }
                }
                _ => {
                    if !cpus[cpu].1 {
                        cpus[cpu] = (sched.pick(cpu, now).run, false);
                    }
                }
            }
            for (c, state) in cpus.iter().enumerate() {
                assert_eq!(
                    sched.current(c),
                    state.0,
                    "seed {seed}: CPU {c}'s current"
                );
            }
            for (c, state) in cpus.iter().enumerate() {
                let queued = sched.table.queued_for(c);
                assert!(
                    !(sched.native_wfi(c) && queued),
                    "seed {seed}: CPU {c} runs with WFI not trapped while a vCPU is queued for it"
                );
                assert!(
                    !sched.native_wfi(c) || state.0.is_some_and(|v| v != refs[1]),
                    "seed {seed}: CPU {c}: only an uncapped current runs with WFI not trapped"
                );
            }
            if sched.native_wfi(0) || sched.native_wfi(1) {
                counts[3] += 1;
            }
            sched.take_kicks(|_| {});
            if let (Some(x), Some(y)) = (cpus[0].0, cpus[1].0) {
                assert_ne!(x, y, "seed {seed}: {x} on two CPUs");
            }
        }
        for v in &refs {
            sched.sleep(*v, now);
        }
        let given: u64 = refs.iter().map(|v| sched.stats(*v).unwrap().cpu_time).sum();
        assert_eq!(
            given, busy,
            "seed {seed}: CPU time is exactly the time the CPUs ran a vCPU not waiting"
        );
    }
    assert!(
        counts.iter().all(|&n| n > 100),
        "waits, resumes, refusals and WFI not trapped all happened: {counts:?}"
    );
}
