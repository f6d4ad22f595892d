//! A small simulated machine: N CPUs of one pool driven by a simulated clock. Each CPU calls
//! `pick` at its `until` and when kicked; vCPUs are hogs (always runnable) or run in bursts
//! and sleep between them. Every decision is checked against the scheduler's invariants.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use dom0less_config::Scheduler;

use crate::portable::sched::{PoolScheduler, VcpuParams, VcpuRef};

/// QEMU `virt`'s counter: 62.5 MHz.
pub const HZ: u64 = 62_500_000;

/// `n` milliseconds in ticks.
pub const fn ms(n: u64) -> u64 {
    n * (HZ / 1000)
}

/// `n` microseconds in ticks.
pub const fn us(n: u64) -> u64 {
    n * HZ / 1_000_000
}

/// A vCPU of partition `p`, id `v`.
pub const fn vcpu(p: u16, v: u16) -> VcpuRef {
    VcpuRef {
        partition: p,
        vcpu: v,
    }
}

/// Parameters with weight 256 and nothing else.
pub fn params() -> VcpuParams {
    VcpuParams {
        weight: 256,
        cap_percent: 0,
        priority: 0,
        cpu: None,
        affinity: Vec::new(),
        trap_wfi: false,
    }
}

/// How a simulated vCPU behaves once woken.
#[derive(Clone, Copy)]
struct Bursts {
    run: u64,
    sleep: u64,
}

pub struct Sim {
    pub sched: PoolScheduler,
    pub now: u64,
    pub cpus: Vec<usize>,
    until: Vec<Option<u64>>,
    /// Per CPU: what it runs.
    running: Vec<Option<VcpuRef>>,
    /// Calls to pick per CPU.
    pub picks: Vec<u64>,
    /// vCPUs the simulation holds runnable, with when they last started waiting.
    runnable: BTreeMap<VcpuRef, Option<u64>>,
    /// Longest wait for a CPU per vCPU.
    pub longest_wait: BTreeMap<VcpuRef, u64>,
    bursts: BTreeMap<VcpuRef, Bursts>,
    burst_left: BTreeMap<VcpuRef, u64>,
    wake_at: BTreeMap<VcpuRef, u64>,
    /// Where each vCPU may run (checked at every decision).
    allowed: BTreeMap<VcpuRef, Vec<usize>>,
}

impl Sim {
    pub fn new(kind: Scheduler, cpus: &[usize]) -> Self {
        Self {
            sched: PoolScheduler::new(kind, cpus, HZ),
            now: 0,
            cpus: cpus.to_vec(),
            until: vec![None; cpus.len()],
            running: vec![None; cpus.len()],
            picks: vec![0; cpus.len()],
            runnable: BTreeMap::new(),
            longest_wait: BTreeMap::new(),
            bursts: BTreeMap::new(),
            burst_left: BTreeMap::new(),
            wake_at: BTreeMap::new(),
            allowed: BTreeMap::new(),
        }
    }

    /// Adds `v`; it may run on `params.cpu` if pinned, else its affinity, else any CPU.
    pub fn add(&mut self, v: VcpuRef, params: VcpuParams) {
        let allowed = match (params.cpu, self.sched.kind().pins_vcpus()) {
            (Some(cpu), true) => vec![cpu],
            _ if params.affinity.is_empty() => self.cpus.clone(),
            _ => params.affinity.clone(),
        };
        self.allowed.insert(v, allowed);
        self.sched.add(v, params).unwrap();
    }

    /// Makes `v` run `run` ticks, then sleep `sleep` ticks, for ever, once woken.
    pub fn bursts(&mut self, v: VcpuRef, run: u64, sleep: u64) {
        self.bursts.insert(v, Bursts { run, sleep });
    }

    fn index(&self, cpu: usize) -> usize {
        self.cpus
            .iter()
            .position(|&c| c == cpu)
            .expect("a CPU of the pool")
    }

    /// CPU `cpu` reschedules now.
    pub fn pick(&mut self, cpu: usize) {
        let n = self.index(cpu);
        let previous = self.running[n];
        let decision = self.sched.pick(cpu, self.now);
        self.picks[n] += 1;
        if let Some(until) = decision.until {
            assert!(until > self.now, "until {until} not after now {}", self.now);
        }
        self.until[n] = decision.until;
        self.running[n] = decision.run;
        if let Some(p) = previous.filter(|&p| Some(p) != decision.run) {
            if let Some(since) = self.runnable.get_mut(&p) {
                *since = Some(self.now);
            }
        }
        if let Some(v) = decision.run.filter(|&v| Some(v) != previous) {
            assert!(
                self.allowed[&v].contains(&cpu),
                "{v} picked on CPU {cpu} outside its CPUs"
            );
            let since = self
                .runnable
                .get_mut(&v)
                .expect("picked a vCPU that is not runnable");
            let waited = self.now - since.take().expect("picked a vCPU already running");
            let longest = self.longest_wait.entry(v).or_default();
            *longest = (*longest).max(waited);
            if let Some(b) = self.bursts.get(&v) {
                self.burst_left.entry(v).or_insert(b.run);
            }
        }
        for (i, &c) in self.cpus.iter().enumerate() {
            let here = self.sched.current(c);
            assert_eq!(
                here, self.running[i],
                "current({c}) disagrees with its last decision"
            );
            if let Some(v) = here {
                let twice = self
                    .cpus
                    .iter()
                    .filter(|&&o| self.sched.current(o) == Some(v))
                    .count();
                assert_eq!(twice, 1, "{v} runs on two CPUs");
            }
        }
    }

    /// `v` becomes runnable now; the CPU the scheduler names is kicked.
    pub fn wake(&mut self, v: VcpuRef) -> Option<usize> {
        self.runnable.entry(v).or_insert(Some(self.now));
        let kicked = self.sched.wake(v, self.now);
        if let Some(cpu) = kicked {
            assert!(
                self.cpus.contains(&cpu),
                "wake kicked CPU {cpu} outside the pool"
            );
            self.pick(cpu);
        }
        kicked
    }

    /// `v` stops being runnable now; its CPU, if it ran, picks.
    pub fn sleep(&mut self, v: VcpuRef) {
        self.runnable.remove(&v);
        self.burst_left.remove(&v);
        self.sched.sleep(v, self.now);
        if let Some(n) = self.running.iter().position(|&r| r == Some(v)) {
            assert_eq!(self.sched.current(self.cpus[n]), None);
            self.running[n] = None;
            self.pick(self.cpus[n]);
        }
    }

    /// Runs the machine until `end`, events due at `end` included.
    pub fn run_until(&mut self, end: u64) {
        loop {
            let ticks = self.until.iter().flatten().copied();
            let bursts = self
                .running
                .iter()
                .flatten()
                .filter_map(|v| self.burst_left.get(v))
                .map(|left| self.now + left);
            let wakes = self.wake_at.values().copied();
            let next = ticks
                .chain(bursts)
                .chain(wakes)
                .min()
                .unwrap_or(end)
                .min(end);
            let elapsed = next - self.now;
            for v in self.running.iter().flatten() {
                if let Some(left) = self.burst_left.get_mut(v) {
                    *left -= elapsed.min(*left);
                }
            }
            self.now = next;
            let ended: Vec<VcpuRef> = self
                .running
                .iter()
                .flatten()
                .copied()
                .filter(|v| self.burst_left.get(v) == Some(&0))
                .collect();
            for v in ended {
                self.sleep(v);
                let sleep = self.bursts[&v].sleep;
                self.wake_at.insert(v, self.now + sleep);
            }
            let due: Vec<VcpuRef> = self
                .wake_at
                .iter()
                .filter(|(_, &t)| t <= self.now)
                .map(|(&v, _)| v)
                .collect();
            for v in due {
                self.wake_at.remove(&v);
                self.wake(v);
            }
            for n in 0..self.cpus.len() {
                if self.until[n].is_some_and(|u| u <= self.now) {
                    self.pick(self.cpus[n]);
                }
            }
            if next == end {
                return;
            }
        }
    }

    /// Puts every vCPU to sleep at the present time, so its statistics are complete.
    pub fn settle_all(&mut self, vcpus: &[VcpuRef]) {
        for &v in vcpus {
            self.sched.sleep(v, self.now);
        }
    }

    /// `v`'s CPU time.
    pub fn cpu_time(&self, v: VcpuRef) -> u64 {
        self.sched.stats(v).unwrap().cpu_time
    }
}
