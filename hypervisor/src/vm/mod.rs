//! Running partitions: builds them from the dom0less plan at boot, starts, stops and
//! restarts them, and routes the console. Each CPU then runs its loop (`cpu_loop`): under the
//! null scheduler one vCPU per CPU for its whole life; an idle CPU sleeps in WFI.
//!
//! Who owns what: `PARTITIONS` is fixed after boot; each partition's `RunState` and each of
//! its vCPUs are behind their locks; each CPU's own state (`per_cpu`) is written only by that CPU, but for
//! two flags another CPU sets just before a kick (choose again, trap WFI again). Another CPU
//! asks a CPU to act (start a vCPU, notice a stop) by changing the vCPU's state and sending a
//! kick SGI: a state change is never lost, however many arrive before the CPU looks.

use crate::arch::aarch64::entry::MAX_CPUS;
use crate::arch::aarch64::guest;
use crate::arch::aarch64::layout::{ImageLayout, RamMapping};
use crate::arch::aarch64::memory::El2Memory;
use crate::arch::aarch64::{cpu, fatal};
use crate::portable::console::Multiplexer;
use crate::portable::guest::boot::EntryState;
use crate::portable::memory::frames::FrameAllocator;
use crate::portable::memory::identity_pages::{IdentityPages, PageFns};
use crate::portable::memory::vmid::VmidAllocator;
use crate::portable::memory::vtcr::Stage2Config;
use crate::portable::memory::AddressRange;
use crate::portable::partition::{self, CpuAssignment, Partition};
use crate::portable::vcpu::VcpuState;
use crate::platform::Platform;
use crate::log;
use crate::log::{Dbg, D};
use crate::console;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use dom0less_config::devicetree::Tree;
use crate::portable::partition::health::{after_crash, AfterCrash};
use crate::portable::partition::restart::{Restart, RestartLater, Restarting};
use crate::portable::partition::PendingRestart;
use dom0less_config::{CrashPolicy, HostFacts, ModuleSource, PartitionPlan};
use locks::Mutex;
use spin::Once;

mod cpu_loop;
mod diagnostics;
mod direct;
mod evtchn;
mod exits;
mod gnttab;
mod health;
mod heap_plan;
mod interrupts;
mod passthrough;
pub mod memory;
mod operator;
mod output;
mod per_cpu;
mod pool;
mod sched;
mod xen;

pub use cpu_loop::cpu_loop;
pub use interrupts::init_cpu as init_cpu_interrupts;

const MAX_PARTITIONS: usize = 16;
/// Console line buffer per partition.
const LINE: usize = 256;

static PARTITIONS: Once<Vec<Partition>> = Once::new();
static MEMORY: Once<Mutex<El2Memory>> = Once::new();
static VTCR_EL2: AtomicU64 = AtomicU64::new(0);
/// The physical console's interrupt.
static CONSOLE_INTID: AtomicU32 = AtomicU32::new(0);
/// How many CPUs the board has (for the state dump).
static CPU_COUNT: AtomicUsize = AtomicUsize::new(0);
static MUX: Mutex<Multiplexer<'static, MAX_PARTITIONS, LINE>> = Mutex::new(Multiplexer::new());
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

/// Module bytes for the validator (partial device trees), read from identity-mapped RAM.
struct RamModules<'a>(&'a El2Memory);

impl ModuleSource for RamModules<'_> {
    fn bytes(&self, range: AddressRange) -> Option<&[u8]> {
        self.0.slice(range.start(), range.size())
    }
}

/// Builds the partitions the host tree's `/chosen` describes and starts them; this CPU then
/// runs its own vCPU or waits. An invalid config is reported whole, and nothing starts.
pub fn run(platform: &Platform, tree: &Tree, image: &ImageLayout, dtb: AddressRange) -> ! {
    if platform.has_bootarg("bulkhead.debug=switch-every-exit") {
        log!("bulkhead: debug: every exit saves the vCPU to memory, scribbles over the CPU and loads it back");
        cpu_loop::set_switch_every_exit(true);
    }
    CPU_COUNT.store(platform.cpus.len().min(MAX_CPUS), Ordering::Relaxed);
    let ram: Vec<AddressRange> = platform.ram.clone();
    let hypervisor = image.range().expect("the linker script ends the image after its start");
    let own = [hypervisor, dtb].iter().map(|r| (r.start(), r.size())).collect();
    // SAFETY: these are the RAM banks the EL2 map covers read-write; the image (with its
    // stacks, heap and EL2 tables) and the host tree are everything else the hypervisor uses
    // in them; writes are allowed below only to the partitions' banks, which nothing else uses.
    let memory = MEMORY.call_once(|| Mutex::new(unsafe { El2Memory::new(ram.iter().map(|r| (r.start(), r.size())).collect(), own) }));
    let facts = HostFacts {
        hypervisor,
        boot_cpu_mpidr: Some(platform.cpus[platform.boot_cpu]),
        modules: None,
    };
    let validated = {
        let memory = memory.lock();
        let modules = RamModules(&memory);
        PartitionPlan::from_tree(tree, &HostFacts { modules: Some(&modules), ..facts })
    };
    let validated = match validated {
        Ok(v) => v,
        Err(errors) => {
            for e in &errors {
                log!("bulkhead: config error: {}", D(&e));
            }
            log!("bulkhead: the partition config is invalid; nothing was started");
            fatal::stop();
        }
    };
    {
        let modules: u64 = validated
            .plan
            .partitions
            .iter()
            .flat_map(|p| [Some(&p.kernel), p.ramdisk.as_ref(), p.device_tree.as_ref()])
            .flatten()
            .map(|m| m.range.size())
            .sum();
        let hypervisor = facts.hypervisor.size();
        let ram = ram.iter().map(|r| r.size()).sum();
        operator::init(ram, hypervisor, modules, validated.plan.console_read_only);
    }
    for w in &validated.warnings {
        log!("bulkhead: config warning: {}", D(&w));
    }
    let plan = validated.plan;
    if plan.partitions.is_empty() {
        log!("bulkhead: no partitions configured");
        fatal::stop();
    }
    let partitions = match build_all(platform, &plan, &ram, image, dtb, &mut memory.lock()) {
        Ok(p) => p,
        Err(e) => {
            log!("bulkhead: error: {}", D(&e));
            log!("bulkhead: the partition config cannot be run; nothing was started");
            fatal::stop();
        }
    };
    {
        let mut memory = memory.lock();
        for bank in partitions.iter().flat_map(|p| p.banks.iter()).filter_map(|b| b.host_range()) {
            if let Err(e) = memory.allow_writes(bank.start(), bank.size()) {
                log!("bulkhead: error: a partition's bank {} cannot be loaded: {}", D(&bank), D(&e));
                log!("bulkhead: the partition config cannot be run; nothing was started");
                fatal::stop();
            }
        }
    }
    let partitions = PARTITIONS.call_once(|| partitions);
    if let Err(e) = direct::check(partitions) {
        log!("bulkhead: config error: {}", D(&e));
        log!("bulkhead: the partition config cannot be run; nothing was started");
        fatal::stop();
    }
    if let Err(e) = sched::init(&plan, partitions) {
        log!("bulkhead: error: {}", D(&e));
        log!("bulkhead: the partition config cannot be run; nothing was started");
        fatal::stop();
    }
    console::set_before_line(|mut sink| MUX.lock().close_open_line(&mut sink));
    {
        let mut mux = MUX.lock();
        for p in partitions {
            if let Err(e) = mux.add_partition(&p.name) {
                log!("bulkhead: partition \"{}\": console: {}", p.name.as_str(), D(&e));
            }
        }
    }
    // Before any partition starts: a partition that stops at once routes the console interrupt.
    CONSOLE_INTID.store(platform.board.console.intid, Ordering::Relaxed);
    passthrough::setup(partitions);
    if plan.skip_boot_scrub {
        log!("bulkhead: boot scrub off (/chosen bulkhead,boot-scrub = \"off\"): partitions' RAM is not zeroed before their first boot, the firmware is trusted to have cleared it; restarts scrub");
    }
    // Each partition is scrubbed and loaded, then started at once on its own CPUs, while
    // this CPU goes on to the next one.
    for p in partitions {
        let generation = p.run.lock().generation;
        start_partition(p, generation);
    }
    if let Some(gic) = crate::arch::aarch64::gic::Gic::get() {
        let intid = platform.board.console.intid;
        let _ = gic.set_trigger(intid, platform.boot_cpu, boards::Trigger::Level);
        let _ = gic.set_priority(intid, platform.boot_cpu, 0x80);
    }
    // From here the UART's transmit interrupt sends the console, if a CPU takes it.
    console::interrupt_driven(route_console_interrupt(partitions));
    cpu_loop(cpu::index())
}

fn p_name(plan: &PartitionPlan, index: usize) -> alloc::string::String {
    plan.partitions.get(index).map_or_else(alloc::string::String::new, |p| alloc::string::String::from(p.name.as_str()))
}

fn build_all(
    platform: &Platform,
    plan: &PartitionPlan,
    ram: &[AddressRange],
    image: &ImageLayout,
    dtb: AddressRange,
    memory: &mut El2Memory,
) -> Result<Vec<Partition>, partition::BuildError> {
    let mut excluded: Vec<AddressRange> = Vec::new();
    excluded.extend(AddressRange::new(image.start, image.end - image.start));
    excluded.push(dtb);
    excluded.extend(platform.board.firmware_reserved.iter().copied());
    excluded.extend(platform.host.reserved.iter().map(|r| r.range));
    for p in &plan.partitions {
        for m in [Some(&p.kernel), p.ramdisk.as_ref(), p.device_tree.as_ref()].into_iter().flatten() {
            excluded.push(m.range);
        }
    }
    // Static shared memory stays out of every partition's RAM: it is mapped where named.
    excluded.extend(plan.shared_regions.iter().filter_map(|r| r.host));
    let mut frames = FrameAllocator::<64>::new(ram, &excluded).map_err(|error| partition::BuildError::Memory {
        partition: alloc::string::String::from("(all)"),
        bytes: 0,
        error,
    })?;
    // Every static bank first, as Xen dom0less reserves them: whatever is allocated after
    // (the heap's carve, each partition's RAM in `/chosen` order, the grant tables) goes
    // around them.
    let claimed = partition::claim_static_banks(plan, &mut frames)?;
    // The heap is sized from the plan: what the partitions need beyond what it has is carved now.
    heap_plan::carve(plan, &mut frames)?;
    let stage2 = Stage2Config::from_id_aa64mmfr0_el1(guest::id_aa64mmfr0_el1()).map_err(|error| partition::BuildError::Vttbr {
        partition: alloc::string::String::from("(all)"),
        error,
    })?;
    VTCR_EL2.store(stage2.vtcr_el2(), Ordering::Release);
    let gic = platform.gic.version();
    let gicv = match platform.gic {
        boards::GicLayout::V2 { gicv, .. } => Some(gicv),
        boards::GicLayout::V3 { .. } => None,
    };
    // Every partition's RAM is placed first; what the boot leaves free then becomes the page
    // pool that the partitions' stage-2 tables and grant tables take their pages from, each
    // partition up to its cap.
    let mut placed = Vec::with_capacity(plan.partitions.len());
    let mut caps = Vec::with_capacity(plan.partitions.len());
    let mut stage2_caps = Vec::with_capacity(plan.partitions.len());
    for (index, p) in plan.partitions.iter().enumerate() {
        let banks = partition::guest_banks(p, &mut frames, &claimed)?;
        let statics = partition::static_mappings(plan, index, gic, gicv, &banks)?;
        let stage2_cap = partition::stage2_cap(&statics, &banks);
        caps.push(stage2_cap.saturating_add(gnttab::page_cap(plan, index, &banks)));
        stage2_caps.push(stage2_cap);
        placed.push(banks);
    }
    let cap_pages = caps.iter().fold(0usize, |sum, &c| sum.saturating_add(c));
    let pool_ranges: Vec<AddressRange> = frames.free_ranges().to_vec();
    pool::init(frames, &caps).map_err(|_| partition::BuildError::PagePool { pages: cap_pages })?;
    let mut cpus = CpuAssignment::new(platform.cpus.len());
    let mut vmids = VmidAllocator::new();
    let mut out = Vec::new();
    // Every partition's event channels, the static ones bound before any starts.
    let tables = crate::portable::evtchn::build_tables(plan)
        .map_err(|error| partition::BuildError::EventChannel { partition: alloc::string::String::from("(all)"), error })?;
    for ((index, evtchn), (banks, stage2_cap)) in tables.into_iter().enumerate().zip(placed.into_iter().zip(stage2_caps)) {
        let pages = IdentityPages::new(index, PageFns { take: |owner| pool::take(owner).ok(), give: pool::give }, stage2_cap).ok_or_else(|| partition::BuildError::Stage2 {
            partition: p_name(plan, index),
            error: crate::portable::memory::stage2::Stage2Error::OutOfTablePages { needed: 1, available: 0 },
        })?;
        // Invariant: a partition's stage-2 table lives as long as the hypervisor (in the
        // partition, which `PARTITIONS` keeps for good).
        let p = partition::build(plan, index, gic, gicv, &mut cpus, banks, &mut vmids, stage2, pages, memory, evtchn)?;
        if matches!(plan.partitions[index].enhanced, dom0less_config::Enhanced::Enabled | dom0less_config::Enhanced::Legacy) {
            log!("bulkhead: partition \"{}\": xen,enhanced asks for xenstore, but there is no control domain to run it: it gets the interfaces of \"no-xenstore\"", p.name.as_str());
        }
        let bank = p.banks[0];
        log!("bulkhead: partition \"{}\": {} vcpu{} on cpu {}, {} MiB of RAM at {:#x} (host {:#x}), {}", p.name.as_str(), p.vcpu_count(), if p.vcpu_count() == 1 { "" } else { "s" }, Dbg(&p.vcpu_cpus), D(&p.banks.iter().map(|b| b.ipa.size()).sum::<u64>() >> 20), bank.ipa.start(), bank.host, if p.vpl011 { "console (vpl011)" } else { "no console" });
        out.push(p);
    }
    gnttab::build(plan, &out)?;
    for p in &out {
        let account = pool::account(p.index).unwrap_or_default();
        let (table_pages, table_cap) = p.stage2.lock().page_source().held();
        log!("bulkhead: partition \"{}\": run-time host RAM: {} KiB held at boot ({} KiB of stage-2 tables, {} KiB of grant table), up to {} KiB as it grows ({} KiB of stage-2 tables)", p.name.as_str(), D(&((account.held as u64) << 2)), D(&((table_pages as u64) << 2)), D(&((gnttab::pages_held(p.index) as u64) << 2)), D(&((account.cap as u64) << 2)), D(&((table_cap as u64) << 2)));
    }
    let free = pool::free_bytes();
    if (cap_pages as u64).saturating_mul(4096) > free {
        log!("bulkhead: warning: the partitions' run-time caps add up to {} KiB but host RAM has {} KiB free: a partition growing to its cap may be refused (GNTST_no_space, -ENOMEM)", D(&((cap_pages as u64) << 2)), D(&(free >> 10)));
    }
    if crate::arch::aarch64::mmu::ram_mapping() == Some(RamMapping::WriteBack) {
        // The boot scrub is off and RAM has been write-back from the MMU's start: nothing to
        // split or switch (the loader cleans what it copies into a bank).
        return Ok(out);
    }
    let mut keep_out: Vec<AddressRange> = [image.range(), Some(dtb)].into_iter().flatten().collect();
    let banks: Vec<AddressRange> = out.iter().flat_map(|p| p.banks.iter()).filter_map(|b| b.host_range()).collect();
    for &bank in &banks {
        // A bank is switched to write-back after its first load, while other partitions may
        // run: the blocks its ends lie in are split now, while nothing runs, so that switch
        // touches no descriptor of anything else.
        // SAFETY: no partition runs yet and the other CPUs wait idle in their loops: the
        // memory around a bank's ends (another bank, free RAM, a module) is not accessed.
        unsafe { crate::arch::aarch64::mmu::split_edges(bank) }
            .map_err(|e| partition::BuildError::HostMap { what: "partition bank", range: bank, reason: alloc::format!("{e}") })?;
    }
    keep_out.extend(banks);
    keep_out.extend(heap_plan::carved_range());
    cache_own_ranges(plan, memory, ram, &keep_out)?;
    // The page pool's RAM (stage-2 tables, grant frames and maptrack taken at run time, some
    // already written above through the Non-cacheable map) is read cacheably by the stage-2
    // walker and by guests: write-back before any partition starts.
    // The Non-cacheable writes made so far (stage-2 tables, first grant frames) reach memory
    // before their map changes.
    crate::arch::aarch64::cpu::complete_accesses();
    for range in pool_ranges {
        let span = crate::arch::aarch64::layout::cacheable_span(range, ram, &keep_out).unwrap_or(range);
        // SAFETY: the pool's ranges are free RAM and the pages partitions took from them at
        // build; no partition runs and the other CPUs wait idle, so nothing accesses them or
        // the blocks around them (the banks' edges are split above); no cache holds a line of
        // them (RAM outside the image has been Non-cacheable since the MMU went on).
        unsafe { memory.make_cacheable(span) }
            .map_err(|e| partition::BuildError::HostMap { what: "page pool", range, reason: alloc::format!("{e}") })?;
    }
    Ok(out)
}

/// Loads a partition from its pristine modules and asks vCPU 0's CPU to start it, if the
/// partition is still at `generation` (a stop or a restart asked meanwhile wins). The caller
/// guarantees none of its vCPUs is held by a CPU: memory is scrubbed and reloaded here.
/// Under the partition's reload lock, and only for the current generation, so that a
/// replaced run's clearing never runs after (or while) a newer run loads.
fn start_partition(p: &Partition, generation: u64) {
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

/// Switches to write-back the RAM the hypervisor itself uses from the plan (it was
/// Non-cacheable from the MMU's start, as all RAM outside the image and the host tree): the
/// boot modules, copied into partitions at every load, and the static shared-memory regions,
/// which guests use cacheably; by whole 2 MiB blocks where those hold nothing of `keep_out`
/// (the hypervisor's image and tree, the banks, the carved heap and grant tables:
/// `layout::cacheable_span`), else by pages. The validator and the partition builder read the
/// modules through the Non-cacheable map, which no cache holds a line of. Call after the
/// partitions are placed, before any starts.
fn cache_own_ranges(plan: &PartitionPlan, memory: &mut El2Memory, ram: &[AddressRange], keep_out: &[AddressRange]) -> Result<(), partition::BuildError> {
    let modules = plan.partitions.iter().flat_map(|p| [Some(&p.kernel), p.ramdisk.as_ref(), p.device_tree.as_ref()]).flatten().map(|m| m.range);
    let shared = plan.shared_regions.iter().filter_map(|r| r.host);
    for range in modules.chain(shared) {
        let Some(span) = crate::arch::aarch64::layout::cacheable_span(range, ram, keep_out) else { continue };
        // SAFETY: only this CPU runs hypervisor code that touches RAM outside the image (the
        // others wait idle in their loops) and no partition runs; `span` holds nothing of
        // `keep_out`, so nothing uses it or the blocks around it during the switch.
        unsafe { memory.make_cacheable(span) }
            .map_err(|e| partition::BuildError::HostMap { what: "boot module or shared memory", range, reason: alloc::format!("{e}") })?;
    }
    Ok(())
}

/// Wakes CPU `cpu` (from WFI, or out of its guest) to look at its vCPUs' states again.
fn kick(cpu: usize) {
    // A direct partition's CPU takes the hypervisor's interrupts as Group 0.
    if direct::is_direct_cpu(cpu) {
        direct::kick(cpu);
        return;
    }
    if let Some(gic) = crate::arch::aarch64::gic::Gic::get() {
        let _ = gic.send_sgi(interrupts::KICK_SGI, cpu);
    }
}

/// Runs `f` on the multiplexer with the physical console as its sink.
fn console_op<T>(f: impl FnOnce(&mut Multiplexer<'static, MAX_PARTITIONS, LINE>, &mut dyn FnMut(&[u8])) -> T) -> Option<T> {
    let mut result = None;
    console::with_lock(|out| {
        let mut mux = MUX.lock();
        result = Some(f(&mut mux, out));
        output::note_focus(mux.focus());
    });
    result
}

/// Held by the CPU draining the console: typed bytes are read and routed by one CPU at a time,
/// in order (and hypervisor console commands run one at a time).
static DRAINING: Mutex<()> = Mutex::new(());

/// Routes what was typed on the physical console: three CTRL-a move the focus, every other
/// byte is queued for the focused partition's vPL011. Called on guest interrupts and vPL011
/// traps; only a partition that receives bytes is touched. A CPU that finds another draining
/// leaves it the bytes (it reads until the UART is empty; the console interrupt, level
/// triggered, comes again for a byte that arrives as it finishes).
/// Returns whether anything was typed (an operator's command may then have stopped or
/// restarted a partition, the caller's own included).
fn drain_console(partitions: &[Partition]) -> bool {
    let Some(_draining) = DRAINING.try_lock() else { return false };
    // Nothing typed (the usual case): only the UART is looked at, and never waited for.
    let Some(first) = console::read_byte() else { return false };
    let focus_before = MUX.lock().focus();
    let mut next = Some(first);
    while let Some(byte) = next.take() {
        next = console::read_byte();
        let Some(routed) = console_op(|mux, mut sink| mux.input(byte, &mut sink)) else { return true };
        match routed.target {
            crate::portable::console::Focus::Partition(i) => {
                if let Some(target) = partitions.get(i) {
                    let dropped = target.run.lock().queue_input(routed.bytes());
                    if dropped > 0 {
                        log!("bulkhead: partition \"{}\": console input buffer full, {} bytes dropped", target.name.as_str(), dropped);
                    }
                    feed_console_input(target);
                }
            }
            crate::portable::console::Focus::Hypervisor => {
                for &key in routed.bytes() {
                    operator::key(partitions, key);
                }
            }
        }
    }
    if MUX.lock().focus() != focus_before {
        route_console_interrupt(partitions);
    }
    true
}

/// Gives partition `index` the input focus (the operator's `focus NAME`).
fn focus_on(partitions: &[Partition], index: usize) {
    let result = console_op(|mux, mut sink| mux.focus_on(index, &mut sink));
    match result {
        Some(Err(e)) => log!("bulkhead: {}", D(&e)),
        _ => {
            route_console_interrupt(partitions);
        }
    }
}

/// Moves input waiting for partition `p` into its vPL011 FIFO and raises its interrupt line.
/// Touches only `p`'s own state, so one partition's traps never contend for another's locks.
fn feed_console_input(p: &Partition) {
    let exit = {
        let mut run = p.run.lock();
        if !run.feed_input() {
            return;
        }
        partition::vpl011_line(p, &run)
    };
    if let partition::Exit::Vgic(effects) = exit {
        interrupts::act(p, 0, effects);
    }
}

/// Whether the console interrupt was ever routed and enabled (then a CPU takes it, and the
/// UART's transmit interrupt can send the console).
static CONSOLE_ROUTED: AtomicBool = AtomicBool::new(false);

/// Sends the console interrupt to a CPU that runs a guest (interrupts are only taken there):
/// the focused partition's first vCPU if it runs, else any running partition's. Returns
/// whether it is routed and enabled (now or by an earlier call).
fn route_console_interrupt(partitions: &[Partition]) -> bool {
    let Some(gic) = crate::arch::aarch64::gic::Gic::get() else { return false };
    let intid = CONSOLE_INTID.load(Ordering::Relaxed);
    let focused = match MUX.lock().focus() {
        crate::portable::console::Focus::Partition(i) => partitions.get(i),
        crate::portable::console::Focus::Hypervisor => None,
    };
    // Never to a direct partition's CPU, whose guest would take it as its own.
    let running = |p: &&Partition| !p.direct && p.run.lock().running;
    let target = focused.filter(running).or_else(|| partitions.iter().find(running));
    if let Some(p) = target {
        if gic.route_spi(intid, p.vcpu_cpus[0]).is_ok() && gic.set_enabled(intid, p.vcpu_cpus[0], true).is_ok() {
            CONSOLE_ROUTED.store(true, Ordering::Relaxed);
        }
    }
    CONSOLE_ROUTED.load(Ordering::Relaxed)
}

/// Applies the partition's crash policy to a partition whose vCPU on this CPU crashed (the
/// vCPU's EL1 state is still in the CPU, for the report); `reason` is kept for `list`.
fn crash(p: &Partition, cpu: usize, reason: core::fmt::Arguments<'_>) {
    output::flush(p.index);
    let context = crate::arch::aarch64::vcpu_context::save_el1();
    log!("bulkhead: partition \"{}\" on cpu {}: {}", p.name.as_str(), cpu, D(&context));
    apply_crash_policy(p, reason);
}

/// Applies the partition's crash policy (`bulkhead,on-crash`), from any CPU; `reason` is kept
/// for `list`. Under `bulkhead,restart-limit` a crash restart waits its back-off
/// (`health::after_crash`), and the crash after the limit holds the partition stopped.
fn apply_crash_policy(p: &Partition, reason: core::fmt::Arguments<'_>) {
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
fn stop_partition(p: &Partition) {
    stop(p, true);
}

/// The operator's `stop NAME`: as [`stop_partition`], but the board stays up when none is
/// left running (the operator may start one again).
fn stop_partition_by_operator(p: &Partition) {
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
fn start_partition_by_operator(p: &Partition) {
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
fn restart_partition(p: &Partition) {
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
fn restart_after_backoff(p: &Partition, pending: PendingRestart) {
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
