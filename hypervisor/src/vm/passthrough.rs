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
//! Delivery works the same on GICv2 and GICv3: the physical SPI is acknowledged with a
//! priority drop only and stays active while the guest handles it; when the guest has
//! deactivated the virtual SPI (an EOI maintenance interrupt tells), the hypervisor
//! deactivates the physical one from its own CPU interface (`interrupts::sync`), which makes
//! the GIC sample the line again. A hardware-mapped list register would let the guest
//! deactivate it directly, but QEMU's GICv2 then never re-evaluates the physical CPU
//! interface (see ARCHITECTURE.md, "Interrupts").

use core::sync::atomic::{AtomicU8, Ordering};

use crate::arch::aarch64::gic::Gic;
use crate::portable::partition::Partition;
use crate::portable::vgic::{Effects, VcpuId};
use crate::log;
use crate::log::D;

use super::interrupts;

/// INTIDs a GIC may have (SPIs end at 1019).
const INTIDS: usize = 1020;
/// Priority of passthrough SPIs at the physical GIC (the hypervisor's own level).
const PRIORITY: u8 = 0x80;

/// For each physical INTID: 0, or the owning partition's index plus one.
static OWNER: [AtomicU8; INTIDS] = [const { AtomicU8::new(0) }; INTIDS];

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
                Ok(()) => log!("bulkhead: partition \"{}\": interrupt {} (SPI {}) passed through, routed to cpu {}", p.name.as_str(), intid, (intid - 32), home),
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
