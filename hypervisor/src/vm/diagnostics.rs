//! What the operator's debug key `d` prints (the test harness presses it when a scenario
//! misses its deadline): every CPU's vCPU and last exit, and every vCPU's power state and
//! interrupts as its partition's vGIC holds them.
//!
//! Each CPU writes only its own exit record, with relaxed atomics: the dump is a snapshot
//! taken while the others run on, not a consistent cut.

use core::sync::atomic::Ordering;

use crate::arch::aarch64::context::ExitVector;
use crate::arch::aarch64::cpu;
use crate::arch::aarch64::world::GuestExit;
use crate::portable::partition::Partition;
use crate::portable::trap::Esr;
use crate::portable::vgic::VcpuId;
use crate::println;

/// The last line of a dump, which the test harness waits for.
pub const DUMP_END: &str = "bulkhead: end of state dump";


/// `ExitRecord::kind` of an exit through the synchronous vector (the record keeps its ESR).
const KIND_TRAP: u64 = 1;
/// `ExitRecord::kind` of an exit for a physical interrupt.
const KIND_INTERRUPT: u64 = 2;
/// `ExitRecord::kind` of another exit (FIQ, SError, AArch32).
const KIND_OTHER: u64 = 3;

/// Records an exit of this CPU's vCPU at guest PC `pc`.
pub fn record_exit(exit: GuestExit, pc: u64) {
    let record = &super::per_cpu::this().exits;
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

/// Prints the state dump. `running(cpu)` names the partition and vCPU a CPU runs, if any.
pub fn dump(partitions: &[Partition], running: impl Fn(usize) -> Option<(usize, usize)>, cpus: usize) {
    let now = cpu::counter();
    let frequency = cpu::counter_frequency().max(1);
    println!("bulkhead: state dump (cpu {} answering the debug key)", cpu::index());
    for (index, record) in super::per_cpu::CPUS.iter().map(|c| &c.exits).enumerate().take(cpus) {
        let count = record.count.load(Ordering::Relaxed);
        let who = match running(index).and_then(|(p, v)| partitions.get(p).map(|p| (p, v))) {
            Some((p, vcpu)) => alloc::format!("partition \"{}\" vcpu {vcpu}", p.name),
            None => alloc::string::String::from("no vcpu"),
        };
        if count == 0 {
            println!("bulkhead:   cpu {index}: {who}, no exit yet");
            continue;
        }
        let ago_ms = now.saturating_sub(record.at.load(Ordering::Relaxed)) * 1000 / frequency;
        let pc = record.pc.load(Ordering::Relaxed);
        let what = match record.kind.load(Ordering::Relaxed) {
            KIND_INTERRUPT => alloc::string::String::from("interrupt"),
            KIND_OTHER => alloc::format!("FIQ, SError or AArch32 exception (ESR_EL2 {:#x})", record.esr.load(Ordering::Relaxed)),
            _ => {
                let esr = record.esr.load(Ordering::Relaxed);
                alloc::format!("{:?} (ESR_EL2 {esr:#x})", Esr(esr).class())
            }
        };
        println!("bulkhead:   cpu {index}: {who}, {count} exits, the last {ago_ms} ms ago: {what} at pc {pc:#x}");
    }
    for p in partitions {
        let (running, generation, power) = {
            let run = p.run.lock();
            (run.running, run.generation, alloc::format!("{:?}", run.power.states()))
        };
        println!(
            "bulkhead:   partition \"{}\": {}, generation {generation}, vcpu power {power}",
            p.name,
            if running { "running" } else { "stopped" }
        );
        let vgic = p.vgic.lock();
        let [group0, group1] = vgic.groups_enabled();
        println!("bulkhead:     vgic: group 0 {}, group 1 {}", on_off(group0), on_off(group1));
        for (vcpu, &host) in p.vcpu_cpus.iter().enumerate() {
            let id = VcpuId(vcpu);
            println!(
                "bulkhead:     vcpu {vcpu} (cpu {host}): pending {}; active {}; listed {}; enabled {}",
                vgic.pending_report(id),
                vgic.active_report(id),
                vgic.listed_report(id),
                vgic.enabled_report(id),
            );
        }
    }
    println!("{DUMP_END}");
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}
