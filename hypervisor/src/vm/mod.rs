//! Running partitions: builds them from the dom0less plan at boot, starts each vCPU on its
//! CPU (the null scheduler: one vCPU per CPU for its whole life; an idle CPU waits in WFE),
//! and acts on what guest traps decide.
//!
//! Who owns what: `PARTITIONS` is fixed after boot; each partition's `RunState` is behind its
//! lock; `CURRENT[cpu]` is written only by that CPU; `REQUESTS[cpu]` is a one-slot mailbox
//! that any CPU fills and that CPU empties.

use crate::arch::aarch64::entry::MAX_CPUS;
use crate::arch::aarch64::exceptions::TrapFrame;
use crate::arch::aarch64::guest::{self, VcpuStart};
use crate::arch::aarch64::layout::ImageLayout;
use crate::arch::aarch64::memory::El2Memory;
use crate::arch::aarch64::{cpu, fatal};
use crate::core::console::Multiplexer;
use crate::core::guest::boot::EntryState;
use crate::core::guest::layout::GicVersion;
use crate::core::memory::frames::FrameAllocator;
use crate::core::memory::identity_pages::IdentityPages;
use crate::core::memory::vmid::VmidAllocator;
use crate::core::memory::vtcr::Stage2Config;
use crate::core::memory::AddressRange;
use crate::core::partition::{self, CpuAssignment, Exit, Partition};
use crate::core::psci::vmpidr_el2;
use crate::core::trap::Syndrome;
use crate::platform::Platform;
use crate::{console, println};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use dom0less_config::devicetree::{self, Tree};
use dom0less_config::{CrashPolicy, HostFacts, ModuleSource, PartitionPlan};
use spin::{Mutex, Once};

mod diagnostics;
mod interrupts;

pub use interrupts::init_cpu as init_cpu_interrupts;

const MAX_PARTITIONS: usize = 16;
/// Console line buffer per partition.
const LINE: usize = 256;
/// Stage-2 table pages per partition (a few suffice with block mappings).
const STAGE2_PAGES: usize = 64;

static PARTITIONS: Once<Vec<Partition>> = Once::new();
static MEMORY: Once<Mutex<El2Memory>> = Once::new();
static VTCR_EL2: AtomicU64 = AtomicU64::new(0);
/// The physical console's interrupt.
static CONSOLE_INTID: AtomicU32 = AtomicU32::new(0);
/// How many CPUs the board has (for the state dump).
static CPU_COUNT: AtomicUsize = AtomicUsize::new(0);
static MUX: Mutex<Multiplexer<'static, MAX_PARTITIONS, LINE>> = Mutex::new(Multiplexer::new());
static REQUESTS: [Mutex<Option<Request>>; MAX_CPUS] = [const { Mutex::new(None) }; MAX_CPUS];
static CURRENT: [Mutex<Option<Running>>; MAX_CPUS] = [const { Mutex::new(None) }; MAX_CPUS];

/// The vCPU a CPU runs, and the partition generation it belongs to.
#[derive(Clone, Copy, Debug)]
struct Running {
    partition: usize,
    vcpu: usize,
    generation: u32,
}

/// A request for a CPU to start a vCPU.
#[derive(Clone, Copy, Debug)]
struct Request {
    partition: usize,
    vcpu: usize,
    /// The partition generation the request is for; a stale one is dropped.
    generation: u32,
    pc: u64,
    x0: u64,
}

/// Module bytes for the validator (partial device trees), read from identity-mapped RAM.
struct RamModules<'a>(&'a El2Memory);

impl ModuleSource for RamModules<'_> {
    fn bytes(&self, range: devicetree::AddressRange) -> Option<&[u8]> {
        let range = AddressRange::new(range.start, range.size)?;
        self.0.slice(range)
    }
}

/// Builds the partitions the host tree's `/chosen` describes and starts them; this CPU then
/// runs its own vCPU or waits. An invalid config is reported whole, and nothing starts.
pub fn run(platform: &Platform, tree: &Tree, image: &ImageLayout, dtb: AddressRange) -> ! {
    CPU_COUNT.store(platform.cpus.len().min(MAX_CPUS), Ordering::Relaxed);
    let ram: Vec<AddressRange> = platform.ram.iter().filter_map(|r| AddressRange::new(r.start, r.size())).collect();
    // SAFETY: these are the RAM banks the EL2 map covers read-write; guest banks and modules
    // are the only memory written through it, and nothing else uses them.
    let memory = MEMORY.call_once(|| Mutex::new(unsafe { El2Memory::new(ram.clone()) }));
    let facts = HostFacts {
        hypervisor: devicetree::AddressRange::new(image.start, image.end - image.start),
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
                println!("bulkhead: config error: {e}");
            }
            println!("bulkhead: the partition config is invalid; nothing was started");
            fatal::stop();
        }
    };
    for w in &validated.warnings {
        println!("bulkhead: config warning: {w}");
    }
    let plan = validated.plan;
    if plan.partitions.is_empty() {
        println!("bulkhead: no partitions configured");
        fatal::stop();
    }
    let partitions = match build_all(platform, &plan, &ram, image, dtb, &memory.lock()) {
        Ok(p) => p,
        Err(e) => {
            println!("bulkhead: error: {e}");
            println!("bulkhead: the partition config cannot be run; nothing was started");
            fatal::stop();
        }
    };
    let partitions = PARTITIONS.call_once(|| partitions);
    console::set_before_line(|sink| MUX.lock().close_open_line(&mut |b: &[u8]| sink(b)));
    {
        let mut mux = MUX.lock();
        for p in partitions {
            if let Err(e) = mux.add_partition(&p.name) {
                println!("bulkhead: partition \"{}\": console: {e}", p.name);
            }
        }
    }
    // Before any partition starts: a partition that stops at once routes the console interrupt.
    CONSOLE_INTID.store(platform.board.console.intid, Ordering::Relaxed);
    for p in partitions {
        start_partition(p);
    }
    if let Some(gic) = crate::arch::aarch64::gic::Gic::get() {
        let intid = platform.board.console.intid;
        let _ = gic.set_trigger(intid, platform.boot_cpu, crate::core::vgic::Trigger::Level);
        let _ = gic.set_priority(intid, platform.boot_cpu, 0x80);
    }
    route_console_interrupt(partitions);
    idle(cpu::index())
}

fn build_all(
    platform: &Platform,
    plan: &PartitionPlan,
    ram: &[AddressRange],
    image: &ImageLayout,
    dtb: AddressRange,
    memory: &El2Memory,
) -> Result<Vec<Partition>, partition::BuildError> {
    let mut excluded: Vec<AddressRange> = Vec::new();
    excluded.extend(AddressRange::new(image.start, image.end - image.start));
    excluded.push(dtb);
    excluded.extend(platform.board.firmware_reserved.iter().filter_map(|r| AddressRange::new(r.start, r.size())));
    excluded.extend(platform.host.reserved.iter().filter_map(|r| AddressRange::new(r.range.start, r.range.size)));
    for p in &plan.partitions {
        for m in [Some(&p.kernel), p.ramdisk.as_ref(), p.device_tree.as_ref()].into_iter().flatten() {
            excluded.extend(AddressRange::new(m.range.start, m.range.size));
        }
    }
    let mut frames = FrameAllocator::<64>::new(ram, &excluded).map_err(|error| partition::BuildError::Memory {
        partition: alloc::string::String::from("(all)"),
        bytes: 0,
        error,
    })?;
    let stage2 = Stage2Config::from_id_aa64mmfr0_el1(guest::id_aa64mmfr0_el1()).map_err(|error| partition::BuildError::Vttbr {
        partition: alloc::string::String::from("(all)"),
        error,
    })?;
    VTCR_EL2.store(stage2.vtcr_el2(), Ordering::Release);
    let gic = match platform.gic.version() {
        boards::GicVersion::V2 => GicVersion::V2,
        boards::GicVersion::V3 => GicVersion::V3,
    };
    let mut cpus = CpuAssignment::new(platform.cpus.len());
    let mut vmids = VmidAllocator::new();
    let mut out = Vec::new();
    for index in 0..plan.partitions.len() {
        let gicv = match platform.gic {
            boards::GicLayout::V2 { gicv, .. } => Some(gicv),
            boards::GicLayout::V3 { .. } => None,
        };
        let (p, table) = partition::build(plan, index, gic, gicv, &mut cpus, &mut frames, &mut vmids, stage2, IdentityPages::new(STAGE2_PAGES), memory)?;
        // Invariant: a partition's stage-2 table lives as long as the hypervisor.
        core::mem::forget(table);
        let bank = p.banks[0];
        println!(
            "bulkhead: partition \"{}\": {} vcpu{} on cpu {:?}, {} MiB of RAM at {:#x} (host {:#x}), {}",
            p.name,
            p.vcpu_count(),
            if p.vcpu_count() == 1 { "" } else { "s" },
            p.vcpu_cpus,
            p.banks.iter().map(|b| b.ipa.size()).sum::<u64>() >> 20,
            bank.ipa.start(),
            bank.host,
            if p.vpl011 { "console (vpl011)" } else { "no console" },
        );
        out.push(p);
    }
    Ok(out)
}

/// Loads a partition from its pristine modules and asks vCPU 0's CPU to start it.
fn start_partition(p: &Partition) {
    let mut run = p.run.lock();
    let entry = {
        let mut memory = MEMORY.get().expect("set before partitions start").lock();
        let entry = p.load(&mut run, &mut *memory);
        for bank in &p.banks {
            if let Some(host) = bank.host_range() {
                memory.clean(host);
            }
        }
        entry
    };
    match entry {
        Ok(EntryState { pc, x0, .. }) => {
            run.running = true;
            run.cntvoff = cpu::counter();
            drop(run);
            let _ = console_op(|mux, sink| mux.set_running(p.index, true, &mut |b: &[u8]| sink(b)));
            if run_boot_count(p) == 1 {
                println!("bulkhead: partition \"{}\" started", p.name);
            }
            let generation = p.run.lock().generation;
            request(p.vcpu_cpus[0], Request { partition: p.index, vcpu: 0, generation, pc, x0 });
        }
        Err(e) => {
            drop(run);
            println!("bulkhead: partition \"{}\" cannot start: {e}", p.name);
            stop_partition(p);
        }
    }
}

fn run_boot_count(p: &Partition) -> u32 {
    p.run.lock().boot_count
}

fn request(cpu: usize, r: Request) {
    *REQUESTS[cpu].lock() = Some(r);
    cpu::send_event();
}

/// Waits for a vCPU to run on this CPU, and runs it.
pub fn idle(cpu: usize) -> ! {
    *CURRENT[cpu].lock() = None;
    loop {
        // Take the request in its own statement: `enter` never returns, so a guard living
        // through it would keep the mailbox locked for good.
        let request = REQUESTS[cpu].lock().take();
        if let Some(r) = request {
            enter(cpu, r);
        }
        cpu::wait_for_event();
    }
}

fn enter(cpu: usize, r: Request) -> ! {
    let partitions = PARTITIONS.get().expect("partitions exist before vCPUs start");
    let p = &partitions[r.partition];
    let (runnable, cntvoff, generation) = {
        let mut run = p.run.lock();
        // vCPU 0 is on from the start; a vCPU started by CPU_ON is ON_PENDING until now.
        let _ = run.power.mark_running(r.vcpu);
        (run.running && run.generation == r.generation, run.cntvoff, run.generation)
    };
    if !runnable {
        idle(cpu);
    }
    *CURRENT[cpu].lock() = Some(Running { partition: r.partition, vcpu: r.vcpu, generation });
    let start = VcpuStart {
        pc: r.pc,
        x0: r.x0,
        spsr_el2: crate::core::guest::boot::SPSR_EL1H_DAIF_MASKED,
        vttbr_el2: p.vttbr_el2,
        vtcr_el2: VTCR_EL2.load(Ordering::Acquire),
        gic_v3: p.gic == GicVersion::V3,
        trap_wfi: p.trap_wfi,
        vmpidr_el2: vmpidr_el2(r.vcpu),
        cntvoff_el2: cntvoff,
    };
    interrupts::reset_vcpu_interface(cpu);
    interrupts::flush(p, r.vcpu);
    // SAFETY: the partition's stage-2 table maps only its own banks and is never freed.
    unsafe { guest::enter(&start) }
}

/// Runs `f` on the multiplexer with the physical console as its sink.
fn console_op<T>(f: impl FnOnce(&mut Multiplexer<'static, MAX_PARTITIONS, LINE>, &mut dyn FnMut(&[u8])) -> T) -> Option<T> {
    let mut result = None;
    console::with_lock(|out| {
        let mut mux = MUX.lock();
        result = Some(f(&mut mux, out));
    });
    result
}

/// A synchronous exception from a guest, from the vectors.
pub fn guest_sync(frame: &mut TrapFrame, esr: u64, far: u64, hpfar: u64) {
    diagnostics::record_exit(diagnostics::ExitKind::Trap, esr, frame.elr);
    let cpu = cpu::index();
    let (p, vcpu) = current(cpu);
    let index = p.index;
    interrupts::sync(p, vcpu);
    if p.vpl011 && Syndrome(esr).class() == crate::core::trap::ExceptionClass::DataAbortLower {
        // The guest may be polling or reading its UART: bring typed input in and refill its FIFO.
        drain_console(PARTITIONS.get().expect("a vCPU runs, so partitions exist"));
        feed_console_input(p);
    }
    let mut pc = frame.elr;
    let exit = {
        let mut run = p.run.lock();
        let mut transmit = |byte: u8| {
            let _ = console_op(|mux, sink| mux.output(index, byte, &mut |b: &[u8]| sink(b)));
        };
        partition::handle_sync(p, &mut run, vcpu, Syndrome(esr), far, hpfar, frame, &mut pc, &mut transmit)
    };
    frame.elr = pc;
    match exit {
        Exit::Resume => {}
        Exit::Vgic(effects) => interrupts::act(p, vcpu, effects),
        Exit::Wait { interrupt } => {
            // WFE returns at once: this CPU has nothing else to run. WFI sleeps until a
            // physical interrupt (the timer, a kick, the console) unless one is listed already.
            if interrupt {
                interrupts::flush(p, vcpu);
                if !interrupts::any_listed() {
                    cpu::wait_for_interrupt();
                }
                interrupts::sync(p, vcpu);
            }
        }
        Exit::StartVcpu { vcpu, entry, context_id } => {
            let generation = p.run.lock().generation;
            request(p.vcpu_cpus[vcpu], Request { partition: index, vcpu, generation, pc: entry, x0: context_id });
        }
        Exit::StopVcpu => leave(cpu),
        Exit::StopPartition => {
            stop_partition(p);
            leave(cpu)
        }
        Exit::ResetPartition => {
            restart_partition(p);
            leave(cpu)
        }
        Exit::Abort { address, reason } => {
            println!(
                "bulkhead: partition \"{}\" vcpu {vcpu}: data abort at {address:#x} ({reason}): injecting a synchronous external abort",
                p.name
            );
            if let Err(e) = guest::inject_external_abort(frame, esr, far) {
                println!("bulkhead: partition \"{}\" vcpu {vcpu}: the abort cannot be injected ({e})", p.name);
                crash(p, cpu);
            }
        }
        Exit::Crash { class, esr } => {
            println!(
                "bulkhead: partition \"{}\" vcpu {vcpu}: unhandled trap {class:?} (ESR_EL2 {esr:#x}) at {:#x}",
                p.name, frame.elr
            );
            crash(p, cpu);
        }
    }
    interrupts::flush(p, vcpu);
}

/// A physical interrupt taken while a guest ran, from the vectors.
pub fn guest_irq() {
    diagnostics::record_exit(diagnostics::ExitKind::Interrupt, 0, guest::elr_el2());
    let cpu = cpu::index();
    let (p, vcpu) = current(cpu);
    let partitions = PARTITIONS.get().expect("a vCPU runs, so partitions exist");
    interrupts::sync(p, vcpu);
    let taken = interrupts::guest_irq(p, vcpu);
    // The console interrupt brings typed input; the guests' ticks drain the UART too (a
    // fallback while the console interrupt goes only to a CPU that runs a guest).
    drain_console(partitions);
    interrupts::finish_console(taken.console);
    feed_console_input(p);
    interrupts::flush(p, vcpu);
    interrupts::finish(taken.maintenance);
}

/// The vCPU this CPU runs. One whose partition stopped or restarted since it started (its
/// generation moved on, and a kick SGI brought it here) is left for good.
fn current(cpu: usize) -> (&'static Partition, usize) {
    let Some(running) = *CURRENT[cpu].lock() else {
        println!("bulkhead: cpu {cpu}: a trap from a guest with no vCPU running");
        fatal::stop();
    };
    let p = &PARTITIONS.get().expect("a vCPU runs, so partitions exist")[running.partition];
    if p.run.lock().generation != running.generation {
        // The trap's list registers belong to the old generation: drop them unread.
        leave(cpu);
    }
    (p, running.vcpu)
}

/// Makes the partition's vCPUs on other CPUs leave the guest (they see the new generation).
fn kick_others(p: &Partition) {
    let here = cpu::index();
    for &cpu in &p.vcpu_cpus {
        if cpu != here {
            if let Some(gic) = crate::arch::aarch64::gic::Gic::get() {
                let _ = gic.send_sgi(interrupts::KICK_SGI, cpu);
            }
        }
    }
}

/// This CPU's vCPU is done: give up its virtual interface and wait for another.
fn leave(cpu: usize) -> ! {
    interrupts::release_vcpu_interface(cpu);
    idle(cpu)
}

/// Routes what was typed on the physical console: three CTRL-a move the focus, every other
/// byte is queued for the focused partition's vPL011. Called on guest interrupts and vPL011
/// traps; only a partition that receives bytes is touched.
fn drain_console(partitions: &[Partition]) {
    let focus_before = MUX.lock().focus();
    while let Some(byte) = console::read_byte() {
        let Some(routed) = console_op(|mux, sink| mux.input(byte, &mut |b: &[u8]| sink(b))) else { return };
        match routed.target {
            crate::core::console::Focus::Partition(i) => {
                if let Some(target) = partitions.get(i) {
                    let dropped = target.run.lock().queue_input(routed.bytes());
                    if dropped > 0 {
                        println!("bulkhead: partition \"{}\": console input buffer full, {dropped} bytes dropped", target.name);
                    }
                    feed_console_input(target);
                }
            }
            crate::core::console::Focus::Hypervisor => {
                for &key in routed.bytes() {
                    debug_key(partitions, key);
                }
            }
        }
    }
    if MUX.lock().focus() != focus_before {
        route_console_interrupt(partitions);
    }
}

/// A key typed while the hypervisor has the input focus: `d` dumps every CPU's and vCPU's
/// state, `h` lists the keys; others are ignored.
fn debug_key(partitions: &[Partition], key: u8) {
    match key {
        b'd' => {
            let running = |cpu: usize| CURRENT.get(cpu).and_then(|slot| *slot.lock()).map(|r| (r.partition, r.vcpu));
            diagnostics::dump(partitions, running, CPU_COUNT.load(Ordering::Relaxed));
        }
        b'h' | b'?' => println!("bulkhead: debug keys: d = dump the state of every cpu and vcpu, h = this help"),
        _ => {}
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
    if let Exit::Vgic(effects) = exit {
        interrupts::act(p, 0, effects);
    }
}

/// Sends the console interrupt to a CPU that runs a guest (interrupts are only taken there):
/// the focused partition's first vCPU if it runs, else any running partition's.
fn route_console_interrupt(partitions: &[Partition]) {
    let Some(gic) = crate::arch::aarch64::gic::Gic::get() else { return };
    let intid = CONSOLE_INTID.load(Ordering::Relaxed);
    let focused = match MUX.lock().focus() {
        crate::core::console::Focus::Partition(i) => partitions.get(i),
        crate::core::console::Focus::Hypervisor => None,
    };
    let running = |p: &&Partition| p.run.lock().running;
    let target = focused.filter(running).or_else(|| partitions.iter().find(running));
    if let Some(p) = target {
        if gic.route_spi(intid, p.vcpu_cpus[0]).is_ok() {
            let _ = gic.set_enabled(intid, p.vcpu_cpus[0], true);
        }
    }
}

/// Applies the partition's crash policy.
fn crash(p: &Partition, cpu: usize) -> ! {
    let context = crate::arch::aarch64::vcpu_context::El1Context::save();
    println!("bulkhead: partition \"{}\" on cpu {cpu}: {context}", p.name);
    interrupts::release_vcpu_interface(cpu);
    match p.crash_policy {
        CrashPolicy::Stop => {
            println!("bulkhead: partition \"{}\" crashed; stopping it (on-crash = stop)", p.name);
            stop_partition(p);
        }
        CrashPolicy::Restart => {
            println!("bulkhead: partition \"{}\" crashed; restarting it (on-crash = restart)", p.name);
            restart_partition(p);
        }
        CrashPolicy::HaltSystem => {
            println!("bulkhead: partition \"{}\" crashed; halting the system (on-crash = halt-system)", p.name);
            fatal::stop();
        }
    }
    idle(cpu)
}

/// Stops a partition; powers the board off when none is left running.
///
/// Its vCPUs on other CPUs stop at their next trap: there is no IPI to interrupt them yet.
fn stop_partition(p: &Partition) {
    {
        let mut run = p.run.lock();
        run.running = false;
        run.generation += 1;
        run.power.power_off();
    }
    kick_others(p);
    let _ = console_op(|mux, sink| mux.set_running(p.index, false, &mut |b: &[u8]| sink(b)));
    println!("bulkhead: partition \"{}\" stopped", p.name);
    route_console_interrupt(PARTITIONS.get().expect("partitions exist"));
    let partitions = PARTITIONS.get().expect("partitions exist");
    if partitions.iter().all(|q| !q.run.lock().running) {
        println!("bulkhead: all partitions stopped");
        fatal::stop();
    }
}

/// Restarts a partition from its pristine modules, memory scrubbed.
fn restart_partition(p: &Partition) {
    let boot = {
        // It stays `running` throughout: a partition that restarts is not a stopped one, and
        // another partition stopping now must not power the board off.
        let mut run = p.run.lock();
        run.boot_count += 1;
        run.generation += 1;
        run.boot_count
    };
    kick_others(p);
    println!("bulkhead: partition \"{}\" restarting (boot {boot})", p.name);
    start_partition(p);
}
