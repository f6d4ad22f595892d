//! What the caller must do after the vGIC changed state: kick vCPUs, act on hardware-mapped interrupts.

use super::VcpuId;

/// A set of vCPUs of one partition, one bit each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuSet(pub u32);

/// The mask of vCPUs `0..count` (every vCPU of a partition of `count`; all 32 for more).
pub const fn all_vcpus(count: usize) -> u32 {
    match 1u32.checked_shl(count as u32) {
        Some(bit) => bit.wrapping_sub(1),
        None => u32::MAX,
    }
}

impl VcpuSet {
    /// The empty set.
    pub const EMPTY: VcpuSet = VcpuSet(0);

    /// Adds a vCPU.
    pub fn insert(&mut self, vcpu: VcpuId) {
        self.0 |= 1 << vcpu.0;
    }

    /// Whether a vCPU is in the set.
    pub const fn contains(self, vcpu: VcpuId) -> bool {
        vcpu.0 < 32 && self.0 & (1 << vcpu.0) != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The set without `vcpu` (the same set for an index past 31, which no set holds).
    pub const fn without(self, vcpu: VcpuId) -> VcpuSet {
        if vcpu.0 < 32 {
            VcpuSet(self.0 & !(1 << vcpu.0))
        } else {
            self
        }
    }

    /// The vCPUs in the set, lowest first.
    pub fn iter(self) -> impl Iterator<Item = VcpuId> {
        // Visits the set bits only, lowest first.
        let mut left = self.0;
        core::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            let index = left.trailing_zeros();
            left &= left.wrapping_sub(1);
            Some(VcpuId(index as usize))
        })
    }
}

/// The consequences of one vGIC operation.
///
/// The interrupt masks refer to the 32 virtual INTIDs from `hw_base` (one register write touches at
/// most 32 consecutive interrupts); a bit is set only for a hardware-mapped interrupt, whose physical
/// INTID [`super::Vgic::hw_mapping`] gives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// vCPUs that must exit the guest (or be woken from WFI) so their next flush sees new state.
    pub kick: VcpuSet,
    /// First virtual INTID the masks below describe.
    pub hw_base: u32,
    /// Physical interrupts to enable.
    pub hw_enable: u32,
    /// Physical interrupts to disable.
    pub hw_disable: u32,
    /// Physical interrupts to deactivate (the guest cleared their active state by register).
    pub hw_deactivate: u32,
    /// Physical SPIs whose target vCPU changed: route them to the core running the new target.
    pub hw_retarget: u32,
}

impl Effects {
    /// No effects.
    pub const NONE: Effects = Effects {
        kick: VcpuSet::EMPTY,
        hw_base: 0,
        hw_enable: 0,
        hw_disable: 0,
        hw_deactivate: 0,
        hw_retarget: 0,
    };

    /// Effects that only kick vCPUs.
    pub const fn kick(kick: VcpuSet) -> Effects {
        Effects {
            kick,
            ..Effects::NONE
        }
    }

    /// Whether there is nothing to do.
    pub const fn is_empty(&self) -> bool {
        self.kick.is_empty()
            && self.hw_enable == 0
            && self.hw_disable == 0
            && self.hw_deactivate == 0
            && self.hw_retarget == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_lists_its_vcpus_lowest_first_and_nothing_else() {
        let listed = |set: VcpuSet| set.iter().map(|v| v.0).collect::<std::vec::Vec<_>>();
        assert!(listed(VcpuSet::EMPTY).is_empty());
        assert_eq!(listed(VcpuSet(0b1)), [0]);
        assert_eq!(listed(VcpuSet(0b1010_0110)), [1, 2, 5, 7]);
        assert_eq!(listed(VcpuSet(1 << 31 | 1)), [0, 31]);
        assert_eq!(listed(VcpuSet(u32::MAX)).len(), 32);
    }

    #[test]
    fn without_drops_one_vcpu_and_keeps_the_others() {
        assert_eq!(VcpuSet(0b1011).without(VcpuId(1)), VcpuSet(0b1001));
        assert_eq!(VcpuSet(0b1011).without(VcpuId(2)), VcpuSet(0b1011));
        assert_eq!(VcpuSet(1 << 31).without(VcpuId(31)), VcpuSet::EMPTY);
        // An index no set can hold leaves the set as it is (no overflowing shift).
        assert_eq!(VcpuSet(u32::MAX).without(VcpuId(32)), VcpuSet(u32::MAX));
        assert_eq!(VcpuSet(u32::MAX).without(VcpuId(usize::MAX)), VcpuSet(u32::MAX));
        assert_eq!(VcpuSet(u32::MAX).without(VcpuId(1 << 32)), VcpuSet(u32::MAX));
    }
}
