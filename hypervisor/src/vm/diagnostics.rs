//! What the operator's debug key `d` prints (the test harness presses it when a scenario
//! misses its deadline): every CPU's vCPU and last exit, and every vCPU's power state and
//! interrupts as its partition's vGIC holds them.
//!
//! Each CPU writes only its own exit record, with relaxed atomics: the dump is a snapshot
//! taken while the others run on, not a consistent cut.

use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::aarch64::context::ExitVector;
use crate::arch::aarch64::cpu;
use crate::arch::aarch64::entry;
use crate::portable::memory::stack_use::StackUse;
use crate::arch::aarch64::world::GuestExit;
use crate::portable::partition::Partition;
use crate::portable::trap::Esr;
use crate::portable::vgic::VcpuId;
use crate::println;

use super::per_cpu::ExitRecord;

/// The last line of a dump, which the test harness waits for.
pub const DUMP_END: &str = "bulkhead: end of state dump";

/// `ExitRecord::kind` of an exit through the synchronous vector (the record keeps its ESR).
const KIND_TRAP: u64 = 1;
/// `ExitRecord::kind` of an exit for a physical interrupt.
const KIND_INTERRUPT: u64 = 2;
/// `ExitRecord::kind` of another exit (FIQ, SError, AArch32).
const KIND_OTHER: u64 = 3;

/// Records an exit of this CPU's vCPU at guest PC `pc` in `record`, this CPU's own (its
/// loop finds it once).
pub fn record_exit(record: &ExitRecord, exit: GuestExit, pc: u64) {
    let kind = match exit.vector {
        ExitVector::Synchronous => KIND_TRAP,
        ExitVector::Irq => KIND_INTERRUPT,
        _ => KIND_OTHER,
    };
    record.count.fetch_add(1, Ordering::Relaxed);
    record.kind.store(kind, Ordering::Relaxed);
    record.esr.store(exit.esr, Ordering::Relaxed);
    record.pc.store(pc, Ordering::Relaxed);
    record.at.store(cpu::counter(), Ordering::Relaxed);
}

/// Counts a trap of this CPU's vCPU answered on the fast path in `fast`, this CPU's count
/// (`ExitRecord::fast`, which its loop finds once, not at every trap); its last exit stays
/// the last one of the full path. Only this CPU writes its record: a load and a store
/// suffice.
pub fn record_fast_exit(fast: &AtomicU64) {
    fast.store(fast.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

/// How deep each CPU's stack and fault stack have been since boot, one line for all, as `mem`,
/// the dump and the board's last lines print it: `stacks: cpu 0 9/64 KiB (fault 0/28), ...`.
/// A stack whose paint is gone to its bottom says `FULL`.
pub fn stack_line(cpus: usize) -> heapless::String<512> {
    let mut line = heapless::String::new();
    let _ = write!(line, "stacks used, of their size:");
    let kib = |bytes: usize| bytes.div_ceil(1024);
    for cpu in 0..cpus {
        let measure = |words: usize, read: &dyn Fn(usize) -> u64| StackUse::measure(words, entry::PAINT, read);
        let Some((stack, fault)) = entry::measure_stacks(cpu, measure) else { continue };
        let full = |u: &StackUse| if u.full() { " FULL" } else { "" };
        let _ = write!(
            line,
            " cpu {cpu} {}/{} KiB{} (fault stack {}/{}{}),",
            kib(stack.used),
            kib(stack.size),
            full(&stack),
            kib(fault.used),
            kib(fault.size),
            full(&fault)
        );
    }
    if line.ends_with(',') {
        line.pop();
    }
    line
}

/// The heap's use: `heap: 1234 KiB used of 4096 KiB`.
pub fn heap_line() -> heapless::String<64> {
    let (used, size) = crate::boot::heap_use();
    let mut line = heapless::String::new();
    let _ = write!(line, "heap: {} KiB used of {} KiB", used.div_ceil(1024), size >> 10);
    line
}

/// What the UART's transmit side did since boot: `console: 5120 bytes sent, 4800 of them by
/// 150 transmit interrupts, 320 by writers priming the FIFO, 0 waiting for it; 0 dropped`.
pub fn console_line() -> heapless::String<192> {
    let stats = crate::console::transmit_stats();
    let mut line = heapless::String::new();
    let _ = write!(
        line,
        "console: {} bytes sent, {} of them by {} transmit interrupts, {} by writers priming the FIFO, {} waiting for it; {} dropped",
        stats.sent(),
        stats.from_interrupt,
        stats.interrupts,
        stats.primed,
        stats.waited,
        stats.dropped
    );
    line
}

/// Room each dump line waits for in the UART's transmit ring (the longest line and its end):
/// the dump is asked for by the operator, and is printed whole.
const DUMP_LINE_ROOM: usize = 520;

/// One line of the dump, built before it is printed: no lock is held while the console
/// waits on the UART, and nothing is allocated.
type Line = heapless::String<512>;

/// Prints the state dump.
pub fn dump(partitions: &[Partition], cpus: usize) {
    let now = cpu::counter();
    let frequency = cpu::counter_frequency().max(1);
    crate::console::make_room(DUMP_LINE_ROOM);
    println!("bulkhead: state dump (cpu {} answering the debug key)", cpu::index());
    crate::console::make_room(DUMP_LINE_ROOM);
    println!("bulkhead:   {}", stack_line(cpus));
    for (index, state) in super::per_cpu::CPUS.iter().enumerate().take(cpus) {
        let mut line = Line::new();
        let _ = write!(line, "bulkhead:   cpu {index}: ");
        let running = *state.running.lock();
        match running.and_then(|r| partitions.get(r.partition).map(|p| (p, r.vcpu))) {
            Some((p, vcpu)) => {
                let _ = write!(line, "partition \"{}\" vcpu {vcpu}", p.name);
            }
            None => {
                let _ = write!(line, "no vcpu");
            }
        }
        let record = &state.exits;
        let count = record.count.load(Ordering::Relaxed);
        let fast = record.fast.load(Ordering::Relaxed);
        if count == 0 {
            let _ = write!(line, ", no exit yet");
        } else {
            let ago_ms = now.saturating_sub(record.at.load(Ordering::Relaxed)) * 1000 / frequency;
            let esr = record.esr.load(Ordering::Relaxed);
            let _ = write!(line, ", {count} exits and {fast} traps answered on the fast path, the last exit {ago_ms} ms ago: ");
            let _ = match record.kind.load(Ordering::Relaxed) {
                KIND_INTERRUPT => write!(line, "interrupt"),
                KIND_OTHER => write!(line, "FIQ, SError or AArch32 exception (ESR_EL2 {esr:#x})"),
                _ => write!(line, "{:?} (ESR_EL2 {esr:#x})", Esr(esr).class()),
            };
            let _ = write!(line, " at pc {:#x}", record.pc.load(Ordering::Relaxed));
        }
        crate::console::make_room(DUMP_LINE_ROOM);
    println!("{line}");
    }
    for p in partitions {
        let mut line = Line::new();
        {
            let run = p.run.lock();
            let state = if run.running { "running" } else { "stopped" };
            let _ = write!(line, "bulkhead:   partition \"{}\": {state}, generation {}, vcpu power {:?}", p.name, run.generation, run.power.states());
        }
        crate::console::make_room(DUMP_LINE_ROOM);
    println!("{line}");
        let mut line = Line::new();
        {
            let [group0, group1] = p.vgic.lock().groups_enabled();
            let _ = write!(line, "bulkhead:     vgic: group 0 {}, group 1 {}", on_off(group0), on_off(group1));
        }
        crate::console::make_room(DUMP_LINE_ROOM);
    println!("{line}");
        for (vcpu, &host) in p.vcpu_cpus.iter().enumerate() {
            let id = VcpuId(vcpu);
            let mut line = Line::new();
            let (state, el1) = p.vcpus.get(vcpu).map_or((None, None), |slot| {
                let slot = slot.lock();
                (Some(slot.state()), Some(slot.registers().el1))
            });
            let _ = write!(line, "bulkhead:     vcpu {vcpu}: {state:?}");
            if let (Some(crate::portable::vcpu::VcpuState::Waiting), Some(el1)) = (state, el1) {
                let cntvoff = p.run.lock().cntvoff;
                let _ = match crate::portable::vcpu::virtual_timer_deadline(el1.cntv_ctl, el1.cntv_cval, cntvoff) {
                    Some(deadline) => write!(line, " (its timer is due in {} ms)", (deadline as i64).wrapping_sub(now as i64) * 1000 / frequency as i64),
                    None => write!(line, " (its timer is off: CNTV_CTL {:#x})", el1.cntv_ctl),
                };
            }
            match super::sched::pool_of(p) {
                Some(pool) => {
                    let stats = pool.stats(p, vcpu).unwrap_or_default();
                    let ms = |ticks: u64| ticks.saturating_mul(1000) / frequency;
                    let _ = write!(
                        line,
                        ", pool {} ({}): {} ms on a cpu, scheduled {} times, {} ms runnable but waiting",
                        pool.name,
                        pool.kind.name(),
                        ms(stats.cpu_time),
                        stats.runs,
                        ms(stats.waiting)
                    );
                }
                None => {
                    let _ = write!(line, ", null pool: cpu {host} is its own");
                }
            }
            crate::console::make_room(DUMP_LINE_ROOM);
    println!("{line}");
            let mut line = Line::new();
            {
                let vgic = p.vgic.lock();
                let _ = write!(
                    line,
                    "bulkhead:       vgic: pending {}; active {}; listed {}; enabled {}",
                    vgic.pending_report(id),
                    vgic.active_report(id),
                    vgic.listed_report(id),
                    vgic.enabled_report(id),
                );
            }
            crate::console::make_room(DUMP_LINE_ROOM);
    println!("{line}");
        }
    }
    crate::console::make_room(DUMP_LINE_ROOM);
    println!("{DUMP_END}");
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}
