//! Passthrough interrupts at run time: which partition owns each physical SPI, where the
//! physical interrupt is routed, and its delivery from whichever CPU takes it.
//!
//! Routing rule: a passthrough SPI goes to the home CPU of the vCPU its virtual SPI targets
//! (`Partition::vcpu_cpus`: in a `null` or fixed-priority pool the CPU the vCPU is pinned to,
//! in a credit2 pool the home CPU it was given), and follows the guest's retargeting. The CPU
//! that takes it, whatever it runs (another partition's vCPU, or nothing), injects it into the
//! owner's vGIC; the vGIC's kick then reaches the target vCPU wherever it is: its CPU is
//! kicked if it runs or waits in place, a parked vCPU is made runnable (`sched::notify`).
//!
//! How the physical SPI is deactivated depends on the GIC version, chosen in one place
//! (`portable::partition::passthrough::Delivery`): on GICv3 the list register is
//! hardware-mapped and the guest's deactivation reaches the physical GIC with no exit; on
//! GICv2 the hypervisor deactivates it after the guest's EOI maintenance interrupt
//! (`interrupts::sync`), because QEMU's GICv2 does not re-evaluate the physical CPU interface
//! after a hardware-mapped deactivation (see ARCHITECTURE.md, "Interrupts"). Either way the
//! physical SPI stays active, and is not taken again, until its guest is done with it: a
//! guest that never deactivates it holds back only its own device's interrupt.
//!
//! The hypervisor's own deactivations (after a forwarded SPI's end of interrupt, a clear-active
//! or clear-pending by register, a stop) often run on another CPU than the one that took the
//! SPI: a credit2 vCPU moves between CPUs while the SPI stays routed to its home CPU. They go
//! to the distributor (`Gic::deactivate_spi`: `GICD_ICACTIVERn` on GICv2), which acts on the
//! SPI whichever CPU interface acknowledged it, rather than to this CPU's interface.
//!
//! Counts per partition (the operator's `irq`, and a line when the partition stops): physical
//! interrupts taken, EOI maintenance interrupts that were about a passthrough SPI (read from
//! `EISR` when one is taken), and physical deactivations the hypervisor made, with how many
//! of those ran on another CPU than the one that had taken the interrupt.

use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use crate::arch::aarch64::cpu;
use crate::arch::aarch64::gic::{Gic, VirtualInterface};
use crate::portable::partition::passthrough::Delivery;
use crate::portable::partition::Partition;
use crate::portable::vgic::{Effects, ListRegister, VcpuId};
use crate::log;
use crate::log::D;

use super::{interrupts, MAX_PARTITIONS};

/// INTIDs a GIC may have (SPIs end at 1019).
const INTIDS: usize = 1020;
/// Priority of passthrough SPIs at the physical GIC (the hypervisor's own level).
const PRIORITY: u8 = 0x80;

/// For each physical INTID: 0, or the owning partition's index plus one.
static OWNER: [AtomicU8; INTIDS] = [const { AtomicU8::new(0) }; INTIDS];
/// For each physical INTID: the CPU that took it last (for the count of deactivations made
/// elsewhere).
static TAKEN_ON: [AtomicU8; INTIDS] = [const { AtomicU8::new(u8::MAX) }; INTIDS];

/// One partition's passthrough counts.
struct Counts {
    /// Physical interrupts taken and injected.
    taken: AtomicU64,
    /// EOI maintenance interrupts about one of its passthrough SPIs.
    eoi_maintenance: AtomicU64,
    /// Physical deactivations made by the hypervisor (after an EOI maintenance interrupt,
    /// a clear-active by register, a deactivation of an interrupt no list register held, a
    /// clear-pending of one the guest had not acknowledged).
    deactivated: AtomicU64,
    /// Of those, the ones made on another CPU than the one that had taken the interrupt.
    elsewhere: AtomicU64,
}

static COUNTS: [Counts; MAX_PARTITIONS] = [const {
    Counts { taken: AtomicU64::new(0), eoi_maintenance: AtomicU64::new(0), deactivated: AtomicU64::new(0), elsewhere: AtomicU64::new(0) }
}; MAX_PARTITIONS];

fn counts(p: &Partition) -> Option<&'static Counts> {
    COUNTS.get(p.index)
}

/// Records each partition's passthrough SPIs and sets them up at the physical GIC: trigger,
/// priority, routed to the home CPU of vCPU 0 (the guest's reset target), disabled until the
/// guest enables the virtual SPI. Called once at boot, before any partition starts.
pub fn setup(partitions: &[Partition]) {
    let Some(gic) = Gic::get() else { return };
    for p in partitions {
        let Ok(owner) = u8::try_from(p.index + 1) else { continue };
        let home = p.vcpu_cpus.first().copied().unwrap_or(0);
        for &(intid, trigger) in &p.passthrough_irqs {
            let Some(slot) = OWNER.get(intid as usize) else { continue };
            slot.store(owner, Ordering::Release);
            let result = gic
                .set_enabled(intid, home, false)
                .and_then(|()| gic.set_trigger(intid, home, trigger))
                .and_then(|()| gic.set_priority(intid, home, PRIORITY))
                .and_then(|()| gic.route_spi(intid, home));
            match result {
                Ok(()) => log!("bulkhead: partition \"{}\": interrupt {} (SPI {}) passed through, {}, routed to cpu {}", p.name.as_str(), intid, intid.saturating_sub(32), Delivery::for_gic(p.gic).describe(), home),
                Err(e) => log!("bulkhead: partition \"{}\": interrupt {} cannot be passed through: {}", p.name.as_str(), intid, D(&e)),
            }
        }
    }
}

/// The partition that owns physical interrupt `intid`, if it is passed through.
fn owner(intid: u32) -> Option<&'static Partition> {
    let index = OWNER.get(intid as usize)?.load(Ordering::Acquire).checked_sub(1)?;
    super::PARTITIONS.get()?.get(usize::from(index))
}

/// Delivers physical interrupt `intid`, acknowledged on this CPU with a priority drop, to the
/// partition that owns it; it stays active until the guest has deactivated it. Returns false
/// if no partition owns it.
pub fn deliver(intid: u32) -> bool {
    let Some(p) = owner(intid) else { return false };
    if let Some(c) = counts(p) {
        c.taken.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(slot) = TAKEN_ON.get(intid as usize) {
        slot.store(u8::try_from(cpu::index()).unwrap_or(u8::MAX), Ordering::Relaxed);
    }
    let effects = p.vgic.lock().inject(VcpuId(0), intid).unwrap_or(Effects::NONE);
    interrupts::act(p, 0, effects);
    true
}

/// Routes passthrough SPI `intid` of `p` to the home CPU of the vCPU it now targets.
pub fn retarget(p: &Partition, intid: u32, physical: u32) {
    let Some(gic) = Gic::get() else { return };
    let Some(target) = p.vgic.lock().spi_target(intid) else { return };
    if let Some(&cpu) = p.vcpu_cpus.get(target.0) {
        let _ = gic.route_spi(physical, cpu);
    }
}

/// Deactivates physical SPI `physical` of `p` for the guest: it deactivated the virtual SPI
/// (forwarded by software), cleared its active state by register, ended one that no list
/// register held, or cleared the pending state of one it had not acknowledged (it will never
/// deactivate that one). Through the distributor, whichever CPU took it (module comment).
pub fn deactivate(p: &Partition, physical: u32) {
    let Some(gic) = Gic::get() else { return };
    if let Err(e) = gic.deactivate_spi(physical) {
        log!("bulkhead: partition \"{}\": passthrough interrupt {} not deactivated: {}", p.name.as_str(), physical, D(&e));
        return;
    }
    if let Some(c) = counts(p) {
        c.deactivated.fetch_add(1, Ordering::Relaxed);
        let taken_on = TAKEN_ON.get(physical as usize).map_or(u8::MAX, |slot| slot.load(Ordering::Relaxed));
        if taken_on != u8::MAX && usize::from(taken_on) != cpu::index() {
            c.elsewhere.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A maintenance interrupt was taken while `p` ran here: counts the list registers with an
/// EOI condition (`EISR`) that held one of its passthrough SPIs. With hardware-mapped
/// delivery there is none (no such list register asks for one).
pub fn note_maintenance(p: &Partition, vif: &VirtualInterface) {
    let eisr = vif.eisr();
    if eisr == 0 || p.passthrough_irqs.is_empty() {
        return;
    }
    let Ok(owner) = u8::try_from(p.index.saturating_add(1)) else { return };
    let mut found = 0u64;
    for slot in 0..vif.lr_count().min(64) {
        if eisr & (1u64 << slot) == 0 {
            continue;
        }
        let Ok(raw) = vif.read_lr(slot) else { continue };
        let intid = ListRegister::raw_intid(p.gic, raw);
        if OWNER.get(intid as usize).is_some_and(|o| o.load(Ordering::Relaxed) == owner) {
            found = found.saturating_add(1);
        }
    }
    if let (Some(c), true) = (counts(p), found > 0) {
        c.eoi_maintenance.fetch_add(found, Ordering::Relaxed);
    }
}

/// Disables `p`'s passthrough SPIs at the physical GIC and deactivates them, for a partition
/// that stops or is about to be loaded again: a run that ended with one active (its guest had
/// not deactivated it, or a list register holding it was dropped with the vCPU) would
/// otherwise keep it from ever being taken again. Disabled first, so that it cannot be taken
/// and delivered to the old run in between; the new run's guest enables it.
pub fn quiesce(p: &Partition) {
    let Some(gic) = Gic::get() else { return };
    let home = p.vcpu_cpus.first().copied().unwrap_or(0);
    for &(intid, _) in &p.passthrough_irqs {
        let _ = gic.set_enabled(intid, home, false);
        // Whichever CPU took it: the stopping CPU is often another.
        let _ = gic.deactivate_spi(intid);
    }
}

/// Prints `p`'s passthrough counts, if it has passthrough interrupts.
pub fn report(p: &Partition) {
    let Some(c) = counts(p).filter(|_| !p.passthrough_irqs.is_empty()) else { return };
    log!(
        "bulkhead: partition \"{}\": passthrough interrupts {}: {} taken, {} EOI maintenance interrupts, {} deactivated by the hypervisor, {} of them on another CPU than the one that took them",
        p.name.as_str(),
        Delivery::for_gic(p.gic).describe(),
        c.taken.load(Ordering::Relaxed),
        c.eoi_maintenance.load(Ordering::Relaxed),
        c.deactivated.load(Ordering::Relaxed),
        c.elsewhere.load(Ordering::Relaxed)
    );
}
