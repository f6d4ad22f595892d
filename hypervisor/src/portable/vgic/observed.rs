//! What a guest's read of the pending and active registers (`GICD_ISPENDR`, `GICD_ICPENDR`,
//! `GICD_ISACTIVER`, `GICD_ICACTIVER`, their redistributor twins and GICv2's `GICD_SPENDSGIR`)
//! sees: the distributor's state with what list registers hold folded in.
//!
//! A flush moves an edge's pending state into a list register, and the guest acknowledges and
//! deactivates there without an exit, so the distributor's own state lags until the owner's
//! next sync. Two cases:
//!
//! - The owner's last sync found its list registers exactly as the flush left them (its
//!   `kept` flag, set until its next flush): the shadow of that flush is what the hardware
//!   holds, and the read is exact. The reading vCPU is always in this case or has nothing
//!   listed, since its own exit synced before the read is emulated; so is a vCPU waiting in
//!   place after an untouched sync.
//! - Otherwise the owner is in its guest (or entering it) and may have acknowledged or
//!   deactivated since: the read answers what the list register may hold now, pending if it
//!   was listed pending, active if it was listed active or pending (it may have been
//!   acknowledged since), and the owner is kicked, so that its exit syncs and a read after it
//!   is exact. A guest waiting for another vCPU to finish with an interrupt (Linux's
//!   `synchronize_irq` polls `GICD_ISACTIVER`) so never sees it inactive while it may still be
//!   active, and sees the truth as soon as that vCPU has exited once.
//!
//! The registers' bits are the interrupt's state at the distributor (IHI 0048B §4.3.7 to
//! §4.3.10, IHI 0069's `GICD_ISPENDR<n>` and `GICD_ISACTIVER<n>`), which a physical GIC
//! updates as each CPU interface acknowledges or deactivates. The emulation cannot see
//! another running vCPU's list registers without stopping it, so for those it answers every
//! state they may be in rather than one they may have left: a reader never misses an
//! interrupt that is listed, and a reader that polls gets the exact state one exit of the
//! owner later.

use super::effects::VcpuSet;
use super::irq::{IntId, IrqState};
use super::list_register::LrState;
use super::state::Vgic;
use super::VcpuId;

/// How one interrupt reads, and whom to kick for a fresher answer next time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Observed {
    /// Reads as pending.
    pub pending: bool,
    /// Reads as active.
    pub active: bool,
    /// Whether a list register holds it pending for the guest (a GICv2 SGI: its `lr_source`).
    pub listed_pending: bool,
    /// The owner whose list registers may have changed since its flush.
    pub kick: VcpuSet,
}

impl Vgic {
    /// The state a list register holds `intid` in (for `irq`, its state), and whether that is
    /// exactly what the hardware holds (the owner's last sync found its list registers
    /// untouched), with the owner.
    fn listed(&self, irq: &IrqState, intid: IntId) -> Option<(LrState, bool, VcpuId)> {
        let owner = irq.owner?;
        let state = self.vcpus.get(usize::from(owner))?;
        let shadow = state.shadow.get(..state.shadow_len)?;
        let lr = shadow.iter().find(|entry| entry.intid == intid)?.state?;
        Some((lr, state.kept, VcpuId(usize::from(owner))))
    }

    /// How `intid` of `vcpu`'s bank reads in the pending and active registers (see the module).
    pub(super) fn observed(&self, vcpu: VcpuId, intid: IntId) -> Option<Observed> {
        let irq = self.irq(vcpu, intid)?;
        let mut seen = Observed { pending: irq.is_pending(), active: irq.active, ..Observed::default() };
        if let Some((lr, exact, owner)) = self.listed(irq, intid) {
            // A clear by register while the list register held it wins: the next sync drops
            // what the list register still has.
            if !irq.clear_pending_in_lr {
                seen.listed_pending = lr.is_pending();
                seen.pending |= lr.is_pending();
            }
            if !irq.clear_active_in_lr {
                seen.active |= lr.is_active() || (!exact && lr.is_pending());
            }
            if !exact {
                seen.kick.insert(owner);
            }
        }
        Some(seen)
    }
}
