//! Running partitions: builds them from the dom0less plan at boot; starts, stops and
//! restarts them (`lifecycle`); routes the console (`console_routing`). Each CPU then runs its loop (`cpu_loop`): under the
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
use crate::portable::memory::frames::FrameAllocator;
use crate::portable::memory::identity_pages::{IdentityPages, PageFns};
use crate::portable::memory::vmid::VmidAllocator;
use crate::portable::memory::vtcr::Stage2Config;
use crate::portable::memory::AddressRange;
use crate::portable::partition::{self, CpuAssignment, Partition};
use crate::platform::Platform;
use crate::log;
use crate::log::{Dbg, D};
use crate::console;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use dom0less_config::devicetree::Tree;
use dom0less_config::{HostFacts, ModuleSource, PartitionPlan};
use locks::Mutex;
use spin::Once;

mod console_routing;
mod cpu_loop;
mod diagnostics;
mod direct;
mod evtchn;
mod exits;
mod gnttab;
mod health;
mod heap_plan;
mod interrupts;
mod lifecycle;
mod passthrough;
pub mod memory;
mod operator;
mod output;
mod per_cpu;
mod pool;
mod sched;
mod xen;

use console_routing::{console_op, drain_console, feed_console_input, focus_on, route_console_interrupt};
use lifecycle::{
    apply_crash_policy, crash, restart_after_backoff, restart_partition, start_partition, start_partition_by_operator, stop_partition,
    stop_partition_by_operator,
};

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
