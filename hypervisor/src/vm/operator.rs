//! The hypervisor console at run time: keys typed while the hypervisor has the input focus go
//! to a line editor (`portable::operator`), and each line entered runs a command. Commands
//! read the partitions' state under their locks one at a time, print after letting go, and
//! never stop a partition to answer.

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use locks::Mutex;

use crate::arch::aarch64::cpu;
use crate::portable::operator::{self, BackoffRow, Command, Key, LineEditor, PartitionRow, VcpuRow};
use crate::portable::partition::Partition;
use crate::portable::vcpu::VcpuState;
use crate::{console, println};

use super::{diagnostics, per_cpu, sched, CPU_COUNT};

static EDITOR: Mutex<LineEditor> = Mutex::new(LineEditor::new());
/// The console refuses commands that change state (`bulkhead,console-control = "read-only"`).
static READ_ONLY: AtomicBool = AtomicBool::new(false);
/// Host RAM and the hypervisor's share of it, for `mem`.
static RAM_BYTES: AtomicU64 = AtomicU64::new(0);
static HYPERVISOR_BYTES: AtomicU64 = AtomicU64::new(0);
static MODULE_BYTES: AtomicU64 = AtomicU64::new(0);

/// A line of output built before it is printed (no allocation, no lock held while printing).
type Line = heapless::String<256>;

/// Sets what `mem` reports and whether state-changing commands are refused.
pub fn init(ram: u64, hypervisor: u64, modules: u64, read_only: bool) {
    RAM_BYTES.store(ram, Ordering::Relaxed);
    HYPERVISOR_BYTES.store(hypervisor, Ordering::Relaxed);
    MODULE_BYTES.store(modules, Ordering::Relaxed);
    READ_ONLY.store(read_only, Ordering::Relaxed);
}

/// Writes raw bytes (an echo) under the console lock.
fn echo(bytes: &[u8]) {
    console::with_lock(|out| out(bytes));
}

/// One key typed while the hypervisor has the focus.
pub fn key(partitions: &[Partition], byte: u8) {
    let key = EDITOR.lock().key(byte);
    match key {
        Key::Nothing => {}
        Key::EchoKey(b) => echo(&[b]),
        Key::Echo(bytes) => echo(bytes),
        Key::TooLong => {
            echo(b"\r\n");
            println!("{}", operator::TOO_LONG);
        }
        Key::Line(line) => {
            echo(b"\r\n");
            run(partitions, &line);
        }
    }
}

/// Runs one command line.
fn run(partitions: &[Partition], line: &str) {
    let command = match operator::parse(line) {
        Ok(Some(c)) => c,
        Ok(None) => return,
        Err(e) => {
            println!("{e}");
            return;
        }
    };
    if command.changes_state() && READ_ONLY.load(Ordering::Relaxed) {
        println!("bulkhead: the console is read-only (bulkhead,console-control = \"read-only\"): {line} refused");
        return;
    }
    match command {
        Command::Help => operator::HELP.iter().for_each(|l| println!("{l}")),
        Command::List => list(partitions),
        Command::Pools => pools(partitions),
        Command::Mem => mem(partitions),
        Command::Irq => irq(partitions),
        Command::Log => log(),
        Command::Dump => diagnostics::dump(partitions, CPU_COUNT.load(Ordering::Relaxed)),
        Command::Stop(name) | Command::Start(name) | Command::Restart(name) | Command::Focus(name) => {
            let names = partitions.iter().map(|p| p.name.as_str());
            let Ok(index) = operator::find(names.clone(), name) else {
                let mut out = Line::new();
                let _ = operator::write_not_found(&mut out, name, names);
                println!("{out}");
                return;
            };
            let p = &partitions[index];
            let running = p.run.lock().running;
            match command {
                Command::Stop(_) if !running => println!("bulkhead: partition \"{name}\" is already stopped"),
                Command::Stop(_) => {
                    println!("bulkhead: operator: stopping partition \"{name}\"");
                    super::stop_partition_by_operator(p);
                }
                Command::Start(_) if running => println!("bulkhead: partition \"{name}\" is already running (restart {name} reloads it)"),
                Command::Start(_) => {
                    println!("bulkhead: operator: starting partition \"{name}\"");
                    forgive(p);
                    super::start_partition_by_operator(p);
                    super::route_console_interrupt(partitions);
                }
                Command::Restart(_) => {
                    println!("bulkhead: operator: restarting partition \"{name}\"");
                    forgive(p);
                    super::restart_partition(p);
                    super::route_console_interrupt(partitions);
                }
                _ => super::focus_on(partitions, index),
            }
        }
    }
}

/// The operator starts a partition again: its restart limit counts afresh.
fn forgive(p: &Partition) {
    let mut run = p.run.lock();
    run.crash_restarts = 0;
    run.held = false;
}

fn state_word(state: VcpuState) -> &'static str {
    match state {
        VcpuState::Off => "off",
        VcpuState::Starting { .. } => "starting",
        VcpuState::Runnable => "runnable",
        VcpuState::Running { .. } => "running",
        VcpuState::Blocked { .. } => "waiting",
        VcpuState::Waiting => "waiting",
        VcpuState::Stopping { .. } => "stopping",
    }
}

fn ms(ticks: u64) -> u64 {
    let frequency = cpu::counter_frequency().max(1);
    u64::try_from(u128::from(ticks) * 1000 / u128::from(frequency)).unwrap_or(u64::MAX)
}

/// `list`: every partition, then its vCPUs.
fn list(partitions: &[Partition]) {
    let now = cpu::counter();
    println!("bulkhead: {} partitions:", partitions.len());
    for p in partitions {
        let (running, cntvoff, restarts, crash, held, pending) = {
            let run = p.run.lock();
            (run.running, run.cntvoff, run.boot_count.saturating_sub(1), run.last_crash.clone(), run.held, run.restart_pending)
        };
        let backoff = pending.map(|pending| BackoffRow {
            remaining_ms: super::health::remaining_ms(&pending),
            delay_ms: pending.delay_ms,
            restart: pending.restart,
            limit: p.restart_limit.unwrap_or(0),
        });
        let mut why_held: heapless::String<64> = heapless::String::new();
        if held {
            let _ = write!(why_held, "restart-limit {} reached", p.restart_limit.unwrap_or(0));
        }
        let uptime = running.then(|| ms(now.saturating_sub(cntvoff)));
        let pool = sched::pools().get(p.pool);
        let shared = sched::pool_of(p);
        let mut vcpus = [VcpuRow { state: "off", cpu: None, cpu_ms: 0 }; crate::portable::partition::MAX_VCPUS];
        let count = p.vcpus.len().min(vcpus.len());
        for (v, row) in vcpus.iter_mut().enumerate().take(count) {
            let (state, holder) = {
                let slot = p.vcpus[v].lock();
                (slot.state(), slot.holder())
            };
            let cpu_ms = match shared {
                Some(pool) => pool.stats(p, v).map_or(0, |s| ms(s.cpu_time)),
                // A null pool's vCPU has its CPU whenever it runs.
                None => match state {
                    VcpuState::Off | VcpuState::Starting { .. } => 0,
                    _ => uptime.unwrap_or(0),
                },
            };
            *row = VcpuRow { state: state_word(state), cpu: holder, cpu_ms };
        }
        let row = PartitionRow {
            id: p.index + 1,
            name: &p.name,
            running,
            pool: pool.map_or("?", |pool| pool.name.as_str()),
            scheduler: pool.map_or("?", |pool| pool.kind.name()),
            ram_bytes: p.banks.iter().map(|b| b.ipa.size()).sum(),
            uptime_ms: uptime,
            restarts,
            last_crash: crash.as_deref(),
            held: held.then_some(why_held.as_str()),
            backoff,
            heartbeat_ms: p.heartbeat_ms,
            vcpus: &vcpus[..count],
        };
        let mut line = Line::new();
        let _ = operator::write_partition(&mut line, &row);
        println!("{line}");
        for (v, vcpu) in row.vcpus.iter().enumerate() {
            let mut line = Line::new();
            let _ = operator::write_vcpu(&mut line, v, vcpu);
            println!("{line}");
        }
    }
}

/// `pools`: each pool's scheduler, CPUs and partitions.
fn pools(partitions: &[Partition]) {
    for (index, pool) in sched::pools().iter().enumerate() {
        let mut line = Line::new();
        let _ = write!(line, "bulkhead:   {} ({}): cpus {:?}, partitions", pool.name, pool.kind.name(), pool.cpus);
        let mut any = false;
        for p in partitions.iter().filter(|p| p.pool == index) {
            let _ = write!(line, "{} {}", if any { "," } else { "" }, p.name);
            any = true;
        }
        if !any {
            let _ = write!(line, " none");
        }
        println!("{line}");
    }
}

/// `mem`: host RAM by owner, and what the hypervisor's heap has free.
fn mem(partitions: &[Partition]) {
    let mib = |bytes: u64| bytes >> 20;
    let kib = |bytes: u64| bytes >> 10;
    let ram = RAM_BYTES.load(Ordering::Relaxed);
    let hypervisor = HYPERVISOR_BYTES.load(Ordering::Relaxed);
    let modules = MODULE_BYTES.load(Ordering::Relaxed);
    println!("bulkhead: host RAM {} MiB: hypervisor {} KiB, boot modules {} KiB", mib(ram), kib(hypervisor), kib(modules));
    let heap = super::heap_plan::carved_bytes();
    println!("bulkhead:   heap carved for the partitions: {} KiB", kib(heap));
    let mut grown = 0u64;
    for p in partitions {
        let account = super::pool::account(p.index).unwrap_or_default();
        grown = grown.saturating_add((account.held as u64).saturating_mul(4096));
        println!("bulkhead:   partition \"{}\": run-time pages {} KiB (at most {} KiB so far, cap {} KiB; grant table {} KiB)", p.name, account.held * 4, account.peak * 4, account.cap * 4, super::gnttab::pages_held(p.index) * 4);
    }
    println!("bulkhead:   page pool: {} KiB free", kib(super::pool::free_bytes()));
    println!("bulkhead:   {}", diagnostics::stack_line(CPU_COUNT.load(Ordering::Relaxed)));
    println!("bulkhead:   {}", diagnostics::heap_line());
    let mut used = hypervisor.saturating_add(modules).saturating_add(grown).saturating_add(heap);
    for p in partitions {
        let bytes: u64 = p.banks.iter().map(|b| b.ipa.size()).sum();
        used = used.saturating_add(bytes);
        println!("bulkhead:   partition \"{}\": {} MiB", p.name, mib(bytes));
    }
    println!("bulkhead:   free or firmware: {} MiB", mib(ram.saturating_sub(used)));
    println!("bulkhead: hypervisor heap: {} bytes free", crate::boot::heap().free());
}

/// `irq`: physical interrupts per CPU, the UART's transmit side, virtual interrupts raised
/// per partition.
fn irq(partitions: &[Partition]) {
    let cpus = CPU_COUNT.load(Ordering::Relaxed);
    let mut line = Line::new();
    let _ = write!(line, "bulkhead: interrupts taken:");
    for (c, state) in per_cpu::CPUS.iter().enumerate().take(cpus) {
        let _ = write!(line, " cpu {c} {}", state.interrupts.load(Ordering::Relaxed));
    }
    println!("{line}");
    // Exits from the guests, full path and fast path: a direct partition's CPU takes its
    // guest's interrupts without one (`vm::direct`).
    let mut line = Line::new();
    let _ = write!(line, "bulkhead: guest exits:");
    for (c, state) in per_cpu::CPUS.iter().enumerate().take(cpus) {
        let _ = write!(line, " cpu {c} {}", state.exits.count.load(Ordering::Relaxed).wrapping_add(state.exits.fast.load(Ordering::Relaxed)));
    }
    println!("{line}");
    println!("bulkhead: {}", super::diagnostics::console_line());
    for p in partitions {
        let raised = p.vgic.lock().raised();
        println!("bulkhead:   partition \"{}\": {raised} virtual interrupts raised", p.name);
        super::passthrough::report(p);
    }
}

/// `log`: the hypervisor's recent lines.
fn log() {
    let mut buffer = [0u8; console::LOG_BYTES];
    let used = console::recent_lines(&mut buffer);
    println!("bulkhead: recent messages:");
    // Written raw: the log's own lines do not go into the log again.
    for line in buffer[..used].split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        console::with_lock(|out| {
            out(b"  ");
            out(line);
            out(b"\r\n");
        });
    }
}
