//! Starting, stopping and restarting partitions: a partition's load from its pristine
//! modules and its start, a crash and its policy, a stop (its vCPUs kicked off their CPUs and
//! waited for), and a restart, at once or after a back-off. One partition is never cleared
//! and loaded by two CPUs at once (its reload lock).

use core::sync::atomic::Ordering;

use dom0less_config::CrashPolicy;
use locks::Mutex;

use crate::arch::aarch64::memory::El2Memory;
use crate::arch::aarch64::{cpu, fatal};
use crate::console;
use crate::log::D;
use crate::log;
use crate::portable::guest::boot::EntryState;
use crate::portable::memory::AddressRange;
use crate::portable::partition::PendingRestart;
use crate::portable::partition::health::{after_crash, AfterCrash};
use crate::portable::partition::restart::{Restart, RestartLater, Restarting};
use crate::portable::partition::{self, Partition};
use crate::portable::vcpu::VcpuState;

use super::console_routing::{console_op, route_console_interrupt, CONSOLE_ROUTED};
use super::{diagnostics, direct, evtchn, gnttab, health, memory, output, passthrough, sched, xen, kick, MAX_PARTITIONS, MEMORY, PARTITIONS, CPU_COUNT};

/// One per partition: held by whoever clears a run's state and loads the partition
/// (`start_partition`) or clears a stopped run's (`stopped`), so that one partition is never
/// cleared and loaded by two CPUs at once, and the clearing for a run that a newer one
/// replaced never happens after the newer one's load. Taken before `run`; held for one load,
/// which a waiter spins through as it would for `run` (the load holds `run` throughout).
static RELOAD: [Mutex<()>; MAX_PARTITIONS] = [const { Mutex::new(()) }; MAX_PARTITIONS];

/// `p`'s reload lock (`RELOAD`).
fn reload_lock(p: &Partition) -> locks::MutexGuard<'static, ()> {
    RELOAD[p.index % MAX_PARTITIONS].lock()
}

/// Loads a partition from its pristine modules and asks vCPU 0's CPU to start it, if the
/// partition is still at `generation` (a stop or a restart asked meanwhile wins). The caller
/// guarantees none of its vCPUs is held by a CPU: memory is scrubbed and reloaded here.
/// Under the partition's reload lock, and only for the current generation, so that a
/// replaced run's clearing never runs after (or while) a newer run loads.
pub(super) fn start_partition(p: &Partition, generation: u64) {
    let reload = reload_lock(p);
    if !p.run.lock().may_load(generation) {
        return;
    }
    passthrough::quiesce(p);
    gnttab::revoke(p);
    xen::reset(p);
    // A partition that was never loaded has never run: its stage 2 holds the static
    // mappings its build made and nothing else, so only later starts rebuild it.
    if !p.run.lock().untouched {
        memory::rebuild_stage2(p);
    }
    let mut run = p.run.lock();
    if !run.may_load(generation) {
        return;
    }
    let entry = {
        let mut memory = MEMORY.get().expect("set before partitions start").lock();
        let entry = p.load(&mut run, &mut *memory);
        // The guest starts with its MMU and caches off: what the load wrote is already in
        // RAM (`El2Memory` writes through the Non-cacheable map on a first load and cleans
        // every write through the write-back one), and no instruction cache may keep code of
        // its previous run.
        cpu::invalidate_icache();
        entry.map_err(StartError::from).and_then(|entry| cache_banks(p, &mut memory).map(|()| entry))
    };
    match entry {
        Ok(EntryState { pc, x0, .. }) => {
            run.running = true;
            run.stop_announced = false;
            run.restart_pending = None;
            run.loaded();
            run.cntvoff = cpu::counter();
            let first_boot = run.boot_count == 1;
            // Under `run`: a stop or restart after this sees vCPU 0 started.
            let started = p.vcpus[0].lock().start(pc, x0);
            drop(run);
            drop(reload);
            let _ = console_op(|mux, mut sink| mux.set_running(p.index, true, &mut sink));
            if first_boot {
                log!("bulkhead: partition \"{}\" started", p.name.as_str());
            }
            health::started(p);
            match started {
                Ok(()) => sched::started(p, 0),
                Err(e) => log!("bulkhead: partition \"{}\" vcpu 0: {}", p.name.as_str(), D(&e)),
            }
        }
        Err(e) => {
            drop(run);
            // The stop clears the run under the same lock.
            drop(reload);
            log!("bulkhead: partition \"{}\" cannot start: {}", p.name.as_str(), D(&e));
            stop_partition(p);
        }
    }
}

/// Why a loaded partition cannot start.
enum StartError {
    Load(partition::LoadError),
    /// Its bank could not be switched to write-back in the EL2 map.
    Cache { bank: AddressRange, error: crate::arch::aarch64::mmu::RemapError },
}

impl From<partition::LoadError> for StartError {
    fn from(e: partition::LoadError) -> Self {
        Self::Load(e)
    }
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Load(e) => write!(f, "{e}"),
            Self::Cache { bank, error } => write!(f, "its bank {bank} stays Non-cacheable at EL2, where hypercalls read its buffers: {error}"),
        }
    }
}

/// Switches `p`'s banks to write-back in the EL2 map after a load, before its vCPUs start
/// (a no-op after the first load: a bank stays write-back from then on).
fn cache_banks(p: &Partition, memory: &mut El2Memory) -> Result<(), StartError> {
    for bank in p.banks.iter().filter_map(|b| b.host_range()) {
        // SAFETY: none of `p`'s vCPUs runs (the caller's contract) and no other partition
        // reaches its banks; the blocks around a bank's ends were split at boot (`run`).
        unsafe { memory.make_cacheable(bank) }.map_err(|error| StartError::Cache { bank, error })?;
    }
    Ok(())
}

/// Applies the partition's crash policy to a partition whose vCPU on this CPU crashed (the
/// vCPU's EL1 state is still in the CPU, for the report); `reason` is kept for `list`.
pub(super) fn crash(p: &Partition, cpu: usize, reason: core::fmt::Arguments<'_>) {
    output::flush(p.index);
    let context = crate::arch::aarch64::vcpu_context::save_el1();
    log!("bulkhead: partition \"{}\" on cpu {}: {}", p.name.as_str(), cpu, D(&context));
    apply_crash_policy(p, reason);
}

/// Applies the partition's crash policy (`bulkhead,on-crash`), from any CPU; `reason` is kept
/// for `list`. Under `bulkhead,restart-limit` a crash restart waits its back-off
/// (`health::after_crash`), and the crash after the limit holds the partition stopped.
pub(super) fn apply_crash_policy(p: &Partition, reason: core::fmt::Arguments<'_>) {
    {
        let mut kept = heapless::String::new();
        let _ = core::fmt::write(&mut Truncating(&mut kept), reason);
        p.run.lock().last_crash = Some(kept);
    }
    match p.crash_policy {
        CrashPolicy::Stop => {
            log!("bulkhead: partition \"{}\" crashed; stopping it (on-crash = stop)", p.name.as_str());
            stop_partition(p);
        }
        CrashPolicy::Restart => {
            let decision = {
                let mut run = p.run.lock();
                let decision = after_crash(run.crash_restarts, p.restart_limit, p.restart_backoff_ms);
                match decision {
                    AfterCrash::Restart { restart, .. } => run.crash_restarts = restart,
                    AfterCrash::Hold { .. } => run.held = true,
                }
                decision
            };
            match decision {
                AfterCrash::Hold { restarts } => {
                    log!("bulkhead: partition \"{}\" crashed after {} crash restarts in a row (restart-limit {}); it stays stopped until the operator starts it", p.name.as_str(), restarts, p.restart_limit.unwrap_or(0));
                    stop_partition(p);
                }
                AfterCrash::Restart { after_ms: 0, .. } => {
                    log!("bulkhead: partition \"{}\" crashed; restarting it (on-crash = restart)", p.name.as_str());
                    restart_partition(p);
                }
                AfterCrash::Restart { restart, after_ms } => {
                    log!("bulkhead: partition \"{}\" crashed; restarting it in {} ms (on-crash = restart; back-off before crash restart {} of at most {})", p.name.as_str(), after_ms, restart, p.restart_limit.unwrap_or(0));
                    restart_partition_later(p, restart, after_ms);
                }
            }
        }
        CrashPolicy::HaltSystem => {
            log!("bulkhead: partition \"{}\" crashed; halting the system (on-crash = halt-system)", p.name.as_str());
            fatal::stop();
        }
    }
}

/// Writes into a fixed string, dropping what does not fit.
struct Truncating<'a, const N: usize>(&'a mut heapless::String<N>);

impl<const N: usize> core::fmt::Write for Truncating<'_, N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for c in s.chars() {
            if self.0.push(c).is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// Whether this CPU's vCPU of `p` was stopped after its exit (`Stopping`): what it asks now
/// (a stop, a restart, a CPU_ON) belongs to a run that another CPU is already ending.
fn asks_for_an_old_run(p: &Partition, here: usize) -> bool {
    p.vcpus.iter().any(|slot| slot.lock().state() == VcpuState::Stopping { cpu: here })
}

/// Stops every vCPU of `p` (with `run` held): a vCPU this CPU holds lets go at once (this CPU
/// is in the hypervisor on its behalf, its caller returns `Leave`); the others are kicked
/// out of their guests by the caller and let go at their next exit.
fn stop_vcpus(p: &Partition, here: usize) {
    for slot in &p.vcpus {
        let mut vcpu = slot.lock();
        vcpu.stop();
        vcpu.leave(here);
    }
}

/// Kicks every other CPU that still holds a vCPU of `p` out of its guest (or its WFI).
fn kick_holders(p: &Partition) {
    let here = cpu::index();
    sched::holders(p, |cpu| {
        if cpu != here {
            kick(cpu);
        }
    });
}

/// How long a restart waits for the partition's vCPUs to leave their CPUs: a kicked CPU
/// leaves at its next exit, well within this unless it is stuck.
const LEAVE_TIMEOUT_MS: u64 = 1000;

/// Waits, with no lock held, until no CPU holds a vCPU of `p` (every one left its CPU), or
/// for at most `LEAVE_TIMEOUT_MS`. Returns the first vCPU still held then, with its CPU.
/// A direct partition's stopped vCPU still held `direct::FORCE_AFTER_MS` after the kick is
/// forced out (its guest may hold off the kick), and once every vCPU has left its stage 2 is
/// put back as it was.
fn wait_until_left(p: &Partition) -> Result<(), (usize, usize)> {
    let frequency = cpu::counter_frequency().max(1);
    let timeout = frequency.saturating_mul(LEAVE_TIMEOUT_MS) / 1000;
    let force_after = frequency.saturating_mul(direct::FORCE_AFTER_MS) / 1000;
    let start = cpu::counter();
    let mut forced = false;
    loop {
        let held = p.vcpus.iter().enumerate().find_map(|(i, slot)| slot.lock().holder().map(|cpu| (i, cpu)));
        let Some((vcpu, holder)) = held else {
            if p.direct {
                direct::give_back(p);
            }
            return Ok(());
        };
        let waited = cpu::counter().wrapping_sub(start);
        if waited > timeout {
            return Err((vcpu, holder));
        }
        if p.direct && !forced && waited > force_after {
            forced = true;
            direct::force_exit(p, waited.saturating_mul(1000) / frequency);
        }
        core::hint::spin_loop();
    }
}

/// Stops a partition; powers the board off when none is left running. Its vCPUs on other
/// CPUs are kicked out of their guests and let go at their next exit.
pub(super) fn stop_partition(p: &Partition) {
    stop(p, true);
}

/// The operator's `stop NAME`: as [`stop_partition`], but the board stays up when none is
/// left running (the operator may start one again).
pub(super) fn stop_partition_by_operator(p: &Partition) {
    stop(p, false);
}

fn stop(p: &Partition, power_off_when_last: bool) {
    let here = cpu::index();
    let generation = {
        let mut run = p.run.lock();
        if asks_for_an_old_run(p, here) {
            return;
        }
        run.running = false;
        run.generation = run.generation.wrapping_add(1);
        run.restart_pending = None;
        run.power.power_off();
        stop_vcpus(p, here);
        run.generation
    };
    health::stopped(p);
    kick_holders(p);
    // A direct guest may hold off its CPU's kick: the stop waits for its vCPUs to leave,
    // forcing them out if they do not (`wait_until_left`). The others leave at their next
    // exit, which the kick brings.
    if p.direct {
        if let Err((vcpu, cpu)) = wait_until_left(p) {
            log!("bulkhead: partition \"{}\" vcpu {} has not left cpu {} after {} ms, even with its stage 2 withdrawn; it stays stopped with none of its memory mapped", p.name.as_str(), vcpu, cpu, LEAVE_TIMEOUT_MS);
        }
    }
    stopped(p, generation, power_off_when_last);
}

/// Held while a printed stop is marked and the board looks whether every partition has
/// stopped.
static ANNOUNCING: Mutex<()> = Mutex::new(());

/// What follows a partition's stop at `generation`: its run's channels, grants, stage-2
/// changes and passthrough interrupts are cleared (under its reload lock, and only if no
/// newer run started meanwhile, which cleared them itself), its console line closes, the
/// console interrupt goes to a partition still running, and the board powers off when none
/// is left (unless the operator stopped it: the board then stays up for the console).
fn stopped(p: &Partition, generation: u64, power_off_when_last: bool) {
    {
        let _reload = reload_lock(p);
        if p.run.lock().may_load(generation) {
            evtchn::close_all(p);
            gnttab::revoke(p);
            memory::rebuild_stage2(p);
            passthrough::quiesce(p);
        }
    }
    output::flush(p.index);
    let _ = console_op(|mux, mut sink| mux.set_running(p.index, false, &mut sink));
    log!("bulkhead: partition \"{}\" stopped", p.name.as_str());
    passthrough::report(p);
    // Printed first, marked after, and one CPU at a time marks a stop and looks whether it
    // was the last: only the last one marked finds every partition stopped and announced, so
    // the final lines print once, after every stop line, and with this lock let go (the
    // console waits on the UART).
    let last = {
        let _announcing = ANNOUNCING.lock();
        {
            let mut run = p.run.lock();
            run.stop_announced = !run.running;
        }
        PARTITIONS.get().expect("partitions exist").iter().all(|q| {
            let run = q.run.lock();
            !run.running && run.stop_announced
        })
    };
    let partitions = PARTITIONS.get().expect("partitions exist");
    route_console_interrupt(partitions);
    if last {
        // The last lines wait for the UART: the board may switch off right after them.
        console::interrupt_driven(false);
        output::flush_all();
        log!("bulkhead: all partitions stopped");
        log!("bulkhead: {}", D(diagnostics::stack_line(CPU_COUNT.load(Ordering::Relaxed))));
        log!("bulkhead: {}", D(diagnostics::heap_line()));
        log!("bulkhead: {}", D(diagnostics::console_line()));
        if !power_off_when_last {
            log!("bulkhead: the board stays up for the console (start NAME)");
            console::interrupt_driven(CONSOLE_ROUTED.load(Ordering::Relaxed));
            return;
        }
        fatal::stop();
    }
}

/// The operator's `start NAME` for a stopped partition: once every vCPU of its last run has
/// left its CPU (kicked, waited for with no lock held, as a restart does), it is loaded
/// afresh and started.
pub(super) fn start_partition_by_operator(p: &Partition) {
    kick_holders(p);
    if let Err((vcpu, cpu)) = wait_until_left(p) {
        log!("bulkhead: partition \"{}\" vcpu {} has not left cpu {} after {} ms; not loading its memory under it", p.name.as_str(), vcpu, cpu, LEAVE_TIMEOUT_MS);
        return;
    }
    let generation = p.run.lock().generation;
    start_partition(p, generation);
}

/// Restarts a partition from its pristine modules, memory scrubbed. Called on a CPU that
/// holds one of its vCPUs (the one that crashed or asked for the reset), or by the operator
/// from any CPU: every vCPU is
/// stopped under `run`, the CPUs that hold one are kicked, and memory is reloaded only once
/// every vCPU has left its CPU. The wait holds no lock, and this CPU's own vCPU lets go
/// first, so a restart asked by a vCPU of the partition itself cannot wait on itself; a
/// second request from another vCPU of the old run finds its vCPU stopping and is dropped.
pub(super) fn restart_partition(p: &Partition) {
    let here = cpu::index();
    let restart = {
        // It stays `running` throughout: a partition that restarts is not a stopped one, and
        // another partition stopping now must not power the board off.
        let mut run = p.run.lock();
        if asks_for_an_old_run(p, here) {
            return;
        }
        let restart = run.ask_restart();
        if let Restart::Begin(_) = restart {
            stop_vcpus(p, here);
        }
        restart
    };
    let Restarting { generation, boot } = match restart {
        Restart::Begin(begun) => begun,
        Restart::Joined(under_way) => {
            log!("bulkhead: partition \"{}\" is already restarting (boot {}); this request joins that restart", p.name.as_str(), under_way.boot);
            return;
        }
    };
    health::stopped(p);
    kick_holders(p);
    if let Err((vcpu, cpu)) = wait_until_left(p) {
        give_up_restart(p, generation, format_args!("vcpu {vcpu} has not left cpu {cpu} after {LEAVE_TIMEOUT_MS} ms"));
        return;
    }
    output::flush(p.index);
    log!("bulkhead: partition \"{}\" restarting (boot {})", p.name.as_str(), boot);
    start_partition(p, generation);
}

/// A restart at `generation` whose old vCPUs did not leave their CPUs (`why`): the partition
/// is stopped instead of having its memory reloaded under them, unless a stop or another
/// restart replaced that run meanwhile (the vCPU waited for may then be the newer run's).
fn give_up_restart(p: &Partition, generation: u64, why: core::fmt::Arguments<'_>) {
    // Its vCPUs are stopping already (a stop would take this for a request of the old run).
    let stopped_at = {
        let mut run = p.run.lock();
        if !run.may_load(generation) {
            return;
        }
        run.running = false;
        run.generation = run.generation.wrapping_add(1);
        run.power.power_off();
        run.generation
    };
    log!("bulkhead: partition \"{}\" {}; stopping the partition instead of reloading its memory under it", p.name.as_str(), D(why));
    stopped(p, stopped_at, true);
}

/// A crash restart after a back-off: the crashed run's vCPUs are stopped now (the partition
/// stays running: a partition between two runs is not a stopped one), and the partition's
/// home CPU restarts it once `after_ms` have passed (`health::poll`), unless the operator
/// stops, starts or restarts it meanwhile. Meanwhile its CPUs are free for other work.
fn restart_partition_later(p: &Partition, restart: u32, after_ms: u64) {
    let here = cpu::index();
    let later = {
        let mut run = p.run.lock();
        if asks_for_an_old_run(p, here) {
            return;
        }
        let later = run.ask_restart_later(|generation| health::pending_restart(generation, restart, after_ms));
        if later == RestartLater::Deferred {
            stop_vcpus(p, here);
        }
        later
    };
    if let RestartLater::Joined(under_way) = later {
        log!("bulkhead: partition \"{}\" is already restarting (boot {}); its crash restart joins that restart", p.name.as_str(), under_way.boot);
        return;
    }
    kick_holders(p);
    health::deferred(p);
}

/// The end of a crash restart's back-off (on the partition's home CPU): once every vCPU of
/// the crashed run has left, the partition is loaded afresh and started, if nothing changed
/// its generation meanwhile.
pub(super) fn restart_after_backoff(p: &Partition, pending: PendingRestart) {
    // From here the restart is under way: a request meanwhile joins it.
    let Some(Restarting { generation, boot }) = p.run.lock().begin_restart_after_backoff(&pending) else {
        return;
    };
    if let Err((vcpu, cpu)) = wait_until_left(p) {
        give_up_restart(p, generation, format_args!("vcpu {vcpu} has not left cpu {cpu} after its restart back-off"));
        return;
    }
    output::flush(p.index);
    log!("bulkhead: partition \"{}\" restarting (boot {}) after a back-off of {} ms", p.name.as_str(), boot, pending.delay_ms);
    start_partition(p, generation);
}
