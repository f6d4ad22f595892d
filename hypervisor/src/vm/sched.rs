//! CPU pools at run time: which pool each CPU serves, the scheduler of each pool that shares
//! its CPUs (credit2, fixed priority), and the vCPUs that wait for an interrupt off their CPU
//! with a timer deadline (the sleepers).
//!
//! A `null` pool has no scheduler here: each of its CPUs runs its one vCPU in place, and its
//! hot paths never touch this module's locks.
//!
//! Lock order: a pool's lock, then a vCPU's, then the partition's vGIC. A transition that makes
//! a vCPU less runnable (it parks, is preempted, leaves) is made with the pool's lock held and
//! told to the scheduler in the same critical section; one that makes it more runnable (an
//! interrupt wakes it, PSCI or a restart starts it) changes the vCPU first and tells the
//! scheduler after. Either way the scheduler's view ends where the vCPU's state is (`settle`).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use dom0less_config::{PartitionPlan, Scheduler};
use locks::{Mutex, MutexGuard};
use spin::Once;

use crate::arch::aarch64::context::VcpuRegisters;
use crate::arch::aarch64::cpu;
use crate::arch::aarch64::entry::MAX_CPUS;
use crate::portable::partition::Partition;
use crate::portable::sched::{Decision, PoolScheduler, VcpuParams, VcpuRef, VcpuStats};
use crate::portable::vcpu::{Taken, VcpuState, Wake};

use super::per_cpu;

/// A CPU in no pool (none is left out by the validator; a CPU the config does not know).
const NO_POOL: usize = usize::MAX;

/// A pool whose CPUs switch between vCPUs.
pub struct Pool {
    pub name: alloc::string::String,
    pub kind: Scheduler,
    state: Mutex<PoolState>,
}

struct PoolState {
    scheduler: PoolScheduler,
    /// vCPUs waiting off their CPU with a virtual-timer deadline (physical counter): one entry
    /// per vCPU at most, so the list never grows past the pool's vCPUs.
    sleepers: Vec<(VcpuRef, u64)>,
    /// How many vCPUs the pool has.
    vcpus: usize,
}

/// What a vCPU waiting for an interrupt does ([`Pool::block`]).
// As for `Reschedule`: moved once per switch, never stored.
#[allow(clippy::large_enum_variant)]
pub enum Wait {
    /// Nothing else wants the CPU: wait here with the vCPU loaded, the EL2 timer armed for
    /// the deadline (a sleeper's or the scheduler's), then call [`Pool::woken`].
    Here(Option<u64>),
    /// An interrupt came in meanwhile: back into the guest.
    Resume,
    /// The vCPU is parked; run this one, or idle.
    Switch(Option<Next>, Option<u64>),
    /// The vCPU was stopped or started again meanwhile: let it go.
    Leave,
}

/// What [`Pool::reschedule`] decided.
// The next vCPU's registers travel by value once per switch, never stored: no allocation on
// the switch path.
#[allow(clippy::large_enum_variant)]
pub enum Reschedule {
    /// Keep running the vCPU; ask again at the deadline. The flag: it runs with WFI not
    /// trapped (`PoolScheduler::native_wfi`).
    Keep(Option<u64>, bool),
    /// The vCPU was preempted (its registers are in its slot); run this one, or idle.
    Switch(Option<Next>, Option<u64>),
    /// The vCPU was stopped or started again meanwhile: let it go (from [`Pool::woken`]).
    Leave,
}

/// The pools that share their CPUs, by plan index (`None` for `null` pools).
static POOLS: Once<Vec<Option<Pool>>> = Once::new();
/// Every pool's name, scheduler and CPUs, by plan index (the operator's `pools`).
static POOL_INFO: Once<Vec<PoolInfo>> = Once::new();

/// A pool as the operator sees it.
pub struct PoolInfo {
    pub name: alloc::string::String,
    pub kind: Scheduler,
    pub cpus: Vec<usize>,
}

/// Every pool, by plan index.
pub fn pools() -> &'static [PoolInfo] {
    POOL_INFO.get().map_or(&[], |p| &p[..])
}
/// Each CPU's pool (plan index).
static CPU_POOL: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(NO_POOL) }; MAX_CPUS];

/// Why the pool could not be set up.
#[derive(Debug)]
pub struct SetupError(alloc::string::String);

impl core::fmt::Display for SetupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Builds each pool's scheduler with its partitions' vCPUs (none runnable yet).
pub fn init(plan: &PartitionPlan, partitions: &[Partition]) -> Result<(), SetupError> {
    let frequency = cpu::counter_frequency().max(1);
    let mut pools = Vec::with_capacity(plan.pools.len());
    for (index, pool) in plan.pools.iter().enumerate() {
        for &c in &pool.cpus {
            if let Some(slot) = CPU_POOL.get(c) {
                slot.store(index, Ordering::Relaxed);
            }
        }
        if pool.scheduler == Scheduler::Null {
            pools.push(None);
            continue;
        }
        let mut scheduler = PoolScheduler::new(pool.scheduler, &pool.cpus, frequency);
        let mut vcpus = 0;
        for (pi, (planned, p)) in plan.partitions.iter().zip(partitions).enumerate().filter(|(_, (q, _))| q.pool == index) {
            for (v, vcpu) in planned.vcpus.iter().enumerate() {
                let params = VcpuParams {
                    weight: planned.weight,
                    cap_percent: planned.cap_percent,
                    priority: vcpu.priority,
                    cpu: vcpu.placement.map(|placement| placement.cpu),
                    affinity: vcpu.affinity.clone(),
                    trap_wfi: !p.native_wfi,
                };
                let reference = vcpu_ref(pi, v);
                scheduler.add(reference, params).map_err(|e| {
                    SetupError(alloc::format!("partition \"{}\" vcpu {v} in pool {}: {e}", p.name, pool.name))
                })?;
                vcpus += 1;
            }
        }
        pools.push(Some(Pool {
            name: pool.name.clone(),
            kind: pool.scheduler,
            state: Mutex::new(PoolState { scheduler, sleepers: Vec::with_capacity(vcpus), vcpus }),
        }));
    }
    POOL_INFO.call_once(|| plan.pools.iter().map(|p| PoolInfo { name: p.name.clone(), kind: p.scheduler, cpus: p.cpus.clone() }).collect());
    POOLS.call_once(|| pools);
    Ok(())
}

/// Whether the pools are set up (the partitions exist then too).
pub fn ready() -> bool {
    POOLS.is_completed()
}

fn vcpu_ref(partition: usize, vcpu: usize) -> VcpuRef {
    VcpuRef { partition: partition as u16, vcpu: vcpu as u16 }
}

fn partition_of(v: VcpuRef) -> Option<&'static Partition> {
    super::PARTITIONS.get()?.get(usize::from(v.partition))
}

/// The pool that schedules CPU `cpu`, if it shares its CPUs.
pub fn pool_of_cpu(cpu: usize) -> Option<&'static Pool> {
    let index = CPU_POOL.get(cpu)?.load(Ordering::Relaxed);
    POOLS.get()?.get(index)?.as_ref()
}

/// The pool that schedules partition `p`, if it shares its CPUs.
pub fn pool_of(p: &Partition) -> Option<&'static Pool> {
    POOLS.get()?.get(p.pool)?.as_ref()
}

/// Asks CPU `cpu` to look at its vCPUs and its scheduler again: this CPU notes it, another
/// is asked and gets the kick SGI. (A kick SGI alone, for an interrupt raised for the vCPU a
/// CPU holds or a stop, ends its guest's run or its wait without a scheduler's choice.)
pub fn kick(cpu: usize) {
    if cpu == cpu::index() {
        per_cpu::this().request_reschedule();
    } else {
        per_cpu::of(cpu).request_reschedule();
        super::kick(cpu);
    }
}

/// CPU `cpu`'s current vCPU ran with WFI not trapped and a vCPU that may run there was queued
/// (`PoolScheduler::take_kicks`): it traps WFI from its next entry, and another CPU is kicked
/// so that a wait in the hardware ends now. No choice is asked for: whether the newcomer
/// preempts is the scheduler's wake-up decision, as for a CPU whose WFI traps.
fn trap_wfi_on(cpu: usize) {
    per_cpu::of(cpu).request_trap_wfi();
    if cpu != cpu::index() {
        super::kick(cpu);
    }
}

/// Vcpu `vcpu` of `p` was started (its partition's boot, PSCI CPU_ON): it wants a CPU.
pub fn started(p: &Partition, vcpu: usize) {
    match pool_of(p) {
        // A null pool's CPU has no scheduler to ask: its loop looks at its vCPU after any
        // interrupt, so another CPU gets the kick SGI alone.
        None => {
            if let Some(&cpu) = p.vcpu_cpus.get(vcpu) {
                if cpu != cpu::index() {
                    super::kick(cpu);
                }
            }
        }
        Some(pool) => pool.make_runnable(vcpu_ref(p.index, vcpu)),
    }
}

/// An interrupt became pending for vCPU `vcpu` of `p`: kick the CPU it is on, or wake it if it
/// waits off its CPU.
pub fn notify(p: &Partition, vcpu: usize) {
    let Some(pool) = pool_of(p) else {
        // Null pool: the vCPU is on its own CPU for life.
        if let Some(&cpu) = p.vcpu_cpus.get(vcpu) {
            if cpu != cpu::index() {
                super::kick(cpu);
            }
        }
        return;
    };
    let Some(slot) = p.vcpus.get(vcpu) else { return };
    let wake = slot.lock().wake();
    match wake {
        Wake::Kick { cpu } if cpu != cpu::index() => super::kick(cpu),
        Wake::Kick { .. } | Wake::Nothing => {}
        Wake::Runnable => pool.make_runnable(vcpu_ref(p.index, vcpu)),
    }
}

/// The CPUs that hold one of `p`'s vCPUs now (running or waiting in place).
pub fn holders(p: &Partition, mut each: impl FnMut(usize)) {
    match pool_of(p) {
        None => p.vcpu_cpus.iter().for_each(|&c| each(c)),
        Some(_) => {
            for slot in &p.vcpus {
                let cpu = slot.lock().holder();
                if let Some(c) = cpu {
                    each(c);
                }
            }
        }
    }
}

/// What the CPU's loop runs next.
pub struct Next {
    pub partition: &'static Partition,
    pub vcpu: usize,
    pub taken: Taken,
    pub starts: u64,
    /// It runs with WFI not trapped (`PoolScheduler::native_wfi`).
    pub native_wfi: bool,
}

/// A pool's state, locked. Before the lock is let go, the CPUs whose current ran with WFI not
/// trapped and must now trap it (a vCPU that may run there was queued) are told so and kicked
/// ([`trap_wfi_on`]): each operation that queues a vCPU does it, whichever path queued it.
struct Locked<'a>(MutexGuard<'a, PoolState>);

impl core::ops::Deref for Locked<'_> {
    type Target = PoolState;
    fn deref(&self) -> &PoolState {
        &self.0
    }
}

impl core::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut PoolState {
        &mut self.0
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        self.0.scheduler.take_kicks(trap_wfi_on);
    }
}

impl PoolState {
    /// `v` wants a CPU: it leaves the sleepers and the scheduler hears of it. Returns the CPU
    /// the scheduler names for it, if any.
    fn runnable(&mut self, v: VcpuRef, now: u64) -> Option<usize> {
        self.sleepers.retain(|(s, _)| *s != v);
        self.scheduler.wake(v, now)
    }

    /// As [`PoolState::runnable`], from a pool operation that ends with this CPU choosing
    /// anyway: only another CPU the scheduler names is kicked.
    fn runnable_kick_others(&mut self, v: VcpuRef, now: u64) {
        if let Some(c) = self.runnable(v, now) {
            if c != cpu::index() {
                kick(c);
            }
        }
    }

    /// `v` waits until the physical counter reaches `deadline` (one entry per vCPU).
    fn sleep_until(&mut self, v: VcpuRef, deadline: u64) {
        self.sleepers.retain(|(s, _)| *s != v);
        if self.sleepers.len() < self.vcpus {
            self.sleepers.push((v, deadline));
        }
    }
}

impl Pool {
    fn lock(&self) -> Locked<'_> {
        Locked(self.state.lock())
    }

    /// Tells the scheduler a vCPU now wants a CPU, and kicks the CPU it names.
    fn make_runnable(&self, v: VcpuRef) {
        let target = self.lock().runnable(v, cpu::counter());
        if let Some(c) = target {
            kick(c);
        }
    }

    /// Wakes the sleepers whose deadline passed; returns the earliest deadline left. Called
    /// with the pool's lock held.
    #[inline]
    fn wake_expired(state: &mut PoolState, now: u64) -> Option<u64> {
        // Every block and wake-up asks, and most find no sleeper: that check is inlined.
        if state.sleepers.is_empty() {
            return None;
        }
        Self::wake_sleepers(state, now)
    }

    /// [`Pool::wake_expired`] with sleepers to look at.
    #[inline(never)]
    fn wake_sleepers(state: &mut PoolState, now: u64) -> Option<u64> {
        let mut earliest: Option<u64> = None;
        let mut i = 0;
        while i < state.sleepers.len() {
            let (v, deadline) = state.sleepers[i];
            if deadline > now {
                earliest = Some(earliest.map_or(deadline, |e| e.min(deadline)));
                i += 1;
                continue;
            }
            state.sleepers.swap_remove(i);
            let Some(p) = partition_of(v) else { continue };
            let Some(slot) = p.vcpus.get(usize::from(v.vcpu)) else { continue };
            if slot.lock().wake() == Wake::Runnable {
                state.runnable_kick_others(v, now);
            }
        }
        earliest
    }

    /// Makes the scheduler's view of `v` match its vCPU's state (called with the pool's lock
    /// held, after a CPU let go of `v` or could not take it).
    fn settle(state: &mut PoolState, v: VcpuRef, now: u64) {
        let Some(p) = partition_of(v) else { return };
        let Some(slot) = p.vcpus.get(usize::from(v.vcpu)) else { return };
        let vcpu_state = slot.lock().state();
        match vcpu_state {
            VcpuState::Starting { .. } | VcpuState::Runnable => state.runnable_kick_others(v, now),
            VcpuState::Off | VcpuState::Waiting => state.scheduler.sleep(v, now),
            // Still held: its CPU lets go and settles it again.
            VcpuState::Running { .. } | VcpuState::Blocked { .. } | VcpuState::Stopping { .. } => {}
        }
    }

    /// CPU `cpu` chooses what to run: wakes expired sleepers, asks the scheduler, and takes the
    /// vCPU it names. Returns it (if any) and when to ask again (slice end or a sleeper's
    /// deadline, whichever is first).
    pub fn next(&self, cpu: usize) -> (Option<Next>, Option<u64>) {
        let mut state = self.lock();
        Self::choose(&mut state, cpu, None)
    }

    /// Takes the vCPU the scheduler names for `cpu` (`decided`, or a new pick). A vCPU named
    /// but stopped meanwhile is settled and the choice made again; each round settles one vCPU
    /// for good, so this ends within the pool's vCPUs.
    fn choose(state: &mut PoolState, cpu: usize, mut decided: Option<(Decision, Option<u64>)>) -> (Option<Next>, Option<u64>) {
        for _ in 0..=state.vcpus {
            let now = cpu::counter();
            let (Decision { run, until }, sleepers) = match decided.take() {
                Some(d) => d,
                None => {
                    let sleepers = Self::wake_expired(state, now);
                    (state.scheduler.pick(cpu, now), sleepers)
                }
            };
            let deadline = earliest(until, sleepers);
            let Some(v) = run else { return (None, deadline) };
            let Some(p) = partition_of(v) else {
                state.scheduler.sleep(v, now);
                continue;
            };
            let vcpu = usize::from(v.vcpu);
            let Some(slot) = p.vcpus.get(vcpu) else {
                state.scheduler.sleep(v, now);
                continue;
            };
            let taken = {
                let mut slot = slot.lock();
                slot.take(cpu).map(|taken| (taken, slot.starts()))
            };
            match taken {
                Ok((taken, starts)) => {
                    let native_wfi = state.scheduler.native_wfi(cpu);
                    return (Some(Next { partition: p, vcpu, taken, starts, native_wfi }), deadline);
                }
                Err(_) => Self::settle(state, v, now),
            }
        }
        (None, None)
    }

    /// The vCPU `vcpu` of `p` running on `cpu` reached a reschedule point (its slice ended, a
    /// kick, a wake-up here). Keeps it (with the new deadline), or preempts it (its registers
    /// from `save`) and takes the next one.
    pub fn reschedule(&self, cpu: usize, p: &Partition, vcpu: usize, save: impl FnOnce() -> VcpuRegisters) -> Reschedule {
        let mut state = self.lock();
        let now = cpu::counter();
        Self::decide(&mut state, cpu, p, vcpu, now, save)
    }

    /// Picks for `cpu`, whose running vCPU is `vcpu` of `p`: keeps it, or preempts it and takes
    /// the next one.
    fn decide(state: &mut PoolState, cpu: usize, p: &Partition, vcpu: usize, now: u64, save: impl FnOnce() -> VcpuRegisters) -> Reschedule {
        let sleepers = Self::wake_expired(state, now);
        let me = vcpu_ref(p.index, vcpu);
        let decision = state.scheduler.pick(cpu, now);
        if decision.run == Some(me) {
            return Reschedule::Keep(earliest(decision.until, sleepers), state.scheduler.native_wfi(cpu));
        }
        let registers = save();
        if let Some(slot) = p.vcpus.get(vcpu) {
            let _ = slot.lock().preempt(cpu, &registers);
        }
        Self::settle(state, me, now);
        let (next, deadline) = Self::choose(state, cpu, Some((decision, sleepers)));
        Reschedule::Switch(next, deadline)
    }

    /// The vCPU `vcpu` of `p` running on `cpu` waits for an interrupt (a trapped WFI with
    /// nothing listed). `changes` is the vGIC's change count read before it was seen to have
    /// nothing to deliver: if it moved since, an interrupt may have come in between. When
    /// nothing else may run on the CPU the vCPU waits in place, loaded, and its own timer or a
    /// kick wakes the CPU (`Wait::Here`, then [`Pool::woken`]): the scheduler keeps it as the
    /// CPU's current and counts the wait as idle time (`PoolScheduler::wait_here`). Otherwise
    /// it is parked with its registers (from `save`) and its timer deadline among the
    /// sleepers, and the CPU runs the next vCPU.
    #[inline(never)]
    pub fn block(&self, cpu: usize, p: &Partition, vcpu: usize, changes: u64, cntvoff: u64, save: impl FnOnce() -> VcpuRegisters) -> Wait {
        let mut state = self.lock();
        let now = cpu::counter();
        let me = vcpu_ref(p.index, vcpu);
        let Some(slot) = p.vcpus.get(vcpu) else { return Wait::Leave };
        if slot.lock().block(cpu).is_err() {
            // Stopped or started again meanwhile.
            return Wait::Leave;
        }
        if missed(p, vcpu, changes) {
            let _ = slot.lock().take(cpu);
            return Wait::Resume;
        }
        // The timeout of a `SCHEDOP_poll` it waits in wakes it as its timer would.
        let poll = p.xen.pollers.deadline(vcpu);
        // Sleepers whose deadline passed are runnable first: one that may run here ends the
        // wait in place before it starts.
        let sleepers = Self::wake_expired(&mut state, now);
        if let Some(idle) = state.scheduler.wait_here(me, cpu, now) {
            return Wait::Here(earliest(earliest(idle.until, sleepers), poll));
        }
        state.scheduler.sleep(me, now);
        let decision = state.scheduler.pick(cpu, now);
        if decision.run.is_none() {
            return Wait::Here(earliest(earliest(decision.until, sleepers), poll));
        }
        let registers = save();
        let parked = slot.lock().park(cpu, &registers).is_ok();
        if parked {
            let el1 = &registers.el1;
            if let Some(d) = earliest(crate::portable::vcpu::virtual_timer_deadline(el1.cntv_ctl, el1.cntv_cval, cntvoff), poll) {
                state.sleep_until(me, d);
            }
            // An interrupt whose kick found the vCPU still blocked here would be lost now.
            if missed(p, vcpu, changes) && slot.lock().wake() == Wake::Runnable {
                state.runnable_kick_others(me, now);
            }
        } else {
            Self::settle(&mut state, me, now);
        }
        let (next, deadline) = Self::choose(&mut state, cpu, Some((decision, sleepers)));
        Wait::Switch(next, deadline)
    }

    /// The CPU woke while the vCPU waited in place (its timer, an interrupt for it, a kick for
    /// another vCPU, a deadline): the vCPU counts as woken (a WFI may end for no reason). If
    /// nothing else may run here it runs on with a new slice (`PoolScheduler::resume_here`);
    /// else its wait ends as a sleep and a wake, and the scheduler chooses;
    /// `Reschedule::Leave` if the vCPU was stopped or started again meanwhile. (Not an
    /// `Option<Reschedule>`: wrapping the decision, which may hold a whole vCPU's registers,
    /// copied a kilobyte on every wake-up.)
    #[inline(never)]
    pub fn woken(&self, cpu: usize, p: &Partition, vcpu: usize, save: impl FnOnce() -> VcpuRegisters) -> Reschedule {
        let mut state = self.lock();
        let now = cpu::counter();
        let me = vcpu_ref(p.index, vcpu);
        let Some(slot) = p.vcpus.get(vcpu) else { return Reschedule::Leave };
        if !matches!(slot.lock().take(cpu), Ok(Taken::Resident)) {
            return Reschedule::Leave;
        }
        let sleepers = Self::wake_expired(&mut state, now);
        // Still alone on the CPU: it runs on, without a sleep, a wake and a pick.
        if let Some(decision) = state.scheduler.resume_here(me, cpu, now) {
            return Reschedule::Keep(earliest(decision.until, sleepers), state.scheduler.native_wfi(cpu));
        }
        // Another vCPU may run here now (or its cap ran out): the wait ends as a block
        // does, the vCPU woken at once (a WFI may end for no reason), and the CPU picks.
        state.scheduler.sleep(me, now);
        state.runnable_kick_others(me, now);
        Self::decide(&mut state, cpu, p, vcpu, now, save)
    }

    /// CPU `cpu` let go of the vCPU (it stopped, its partition stopped or restarted).
    pub fn left(&self, p: &Partition, vcpu: usize) {
        let mut state = self.lock();
        Self::settle(&mut state, vcpu_ref(p.index, vcpu), cpu::counter());
    }

    /// The running vCPU gives up the rest of its slice (WFE, SCHEDOP_yield).
    pub fn yield_now(&self, p: &Partition, vcpu: usize) {
        self.lock().scheduler.yield_now(vcpu_ref(p.index, vcpu), cpu::counter());
    }

    /// A vCPU's run-time figures.
    pub fn stats(&self, p: &Partition, vcpu: usize) -> Option<VcpuStats> {
        self.lock().scheduler.stats(vcpu_ref(p.index, vcpu))
    }
}

/// Whether an interrupt may have reached vCPU `vcpu` of `p` since the vGIC's change count was
/// `changes`.
fn missed(p: &Partition, vcpu: usize, changes: u64) -> bool {
    p.vgic.lock().changes() != changes || p.doorbells.get(vcpu).is_some_and(|d| d.is_raised())
}

fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}
