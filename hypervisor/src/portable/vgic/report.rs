//! A vCPU's interrupts as the operator's state dump shows them: what is pending, active and
//! enabled, and what its list registers were given at the last flush.

use core::fmt;

use super::irq::{IntId, IrqState};
use super::list_register::LrState;
use super::state::Vgic;
use super::VcpuId;

/// Longest run of INTIDs a [`IntIdSet`] prints one by one before it says how many it left out.
const SHOWN: usize = 24;

/// The interrupts of one vCPU (its SGIs and PPIs, and the SPIs delivered to it) that match a
/// test, printed as a compact list (`1-3,27,32`).
pub struct IntIdSet<'a> {
    vgic: &'a Vgic,
    vcpu: VcpuId,
    test: fn(&IrqState) -> bool,
}

impl IntIdSet<'_> {
    fn contains(&self, intid: IntId) -> bool {
        self.vgic.delivery_vcpu(self.vcpu, intid) == Some(self.vcpu)
            && self.vgic.irq(self.vcpu, intid).is_some_and(self.test)
    }
}

impl fmt::Display for IntIdSet<'_> {
    // Counts and interrupt IDs below `intid_limit` (at most 1020): nothing here overflows.
    #[allow(clippy::arithmetic_side_effects)]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut runs = 0;
        let mut left_out = 0;
        let mut intid = 0;
        let limit = self.vgic.intid_limit();
        while intid < limit {
            if !self.contains(intid) {
                intid += 1;
                continue;
            }
            let first = intid;
            while intid + 1 < limit && self.contains(intid + 1) {
                intid += 1;
            }
            if runs < SHOWN {
                let separator = if runs > 0 { "," } else { "" };
                match intid - first {
                    0 => write!(f, "{separator}{first}")?,
                    _ => write!(f, "{separator}{first}-{intid}")?,
                }
            } else {
                left_out += 1;
            }
            runs += 1;
            intid += 1;
        }
        match (runs, left_out) {
            (0, _) => f.write_str("none"),
            (_, 0) => Ok(()),
            (_, n) => write!(f, " and {n} more"),
        }
    }
}

/// What a vCPU's list registers were given at its last flush.
pub struct Listed<'a> {
    vgic: &'a Vgic,
    vcpu: VcpuId,
}

impl fmt::Display for Listed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(state) = self.vgic.vcpus.get(self.vcpu.0) else {
            return f.write_str("none");
        };
        let shadow = state.shadow.get(..state.shadow_len).unwrap_or(&[]);
        if shadow.is_empty() {
            return f.write_str("none");
        }
        for (slot, entry) in shadow.iter().enumerate() {
            let state = match entry.state {
                Some(LrState::Pending) => "pending",
                Some(LrState::Active) => "active",
                Some(LrState::PendingActive) => "pending+active",
                None => "empty",
            };
            let separator = if slot > 0 { ", " } else { "" };
            write!(f, "{separator}{} {state}", entry.intid)?;
        }
        Ok(())
    }
}

impl Vgic {
    /// The interrupts `vcpu` sees pending (latched or by level) and enabled.
    pub fn pending_report(&self, vcpu: VcpuId) -> IntIdSet<'_> {
        IntIdSet { vgic: self, vcpu, test: |irq| irq.is_pending() }
    }

    /// The interrupts active on `vcpu`.
    pub fn active_report(&self, vcpu: VcpuId) -> IntIdSet<'_> {
        IntIdSet { vgic: self, vcpu, test: |irq| irq.active }
    }

    /// The interrupts `vcpu` has enabled (SPIs: those delivered to it).
    pub fn enabled_report(&self, vcpu: VcpuId) -> IntIdSet<'_> {
        IntIdSet { vgic: self, vcpu, test: |irq| irq.enabled }
    }

    /// What `vcpu`'s list registers were given at its last flush (until its next sync).
    pub fn listed_report(&self, vcpu: VcpuId) -> Listed<'_> {
        Listed { vgic: self, vcpu }
    }

    /// Whether the distributor forwards group 0 and group 1 (`GICD_CTLR`).
    pub fn groups_enabled(&self) -> [bool; 2] {
        self.group_enabled
    }
}
