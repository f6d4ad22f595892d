//! A partition's vCPU power states and the virtual MPIDR of each vCPU.
//!
//! vCPU `n` of a partition has affinity Aff0 = `n % 16`, Aff1 = `n / 16`: GICv3 SGIs name
//! targets by a 16-bit Aff0 list (`ICC_SGI1R_EL1.TargetList`), so at most 16 vCPUs share
//! an Aff1 value. The same value is the `reg` of the vCPU's node in the guest device tree.

use core::fmt;

/// The number of vCPUs a partition may have at most under this MPIDR scheme.
pub const MAX_AFFINITY_VCPUS: usize = 16 * 256;

/// The affinity fields (Aff3 to Aff0) of vCPU `index`, as CPU_ON and the device tree name it.
pub const fn vcpu_affinity(index: usize) -> u64 {
    (((index / 16) as u64 & 0xff) << 8) | (index % 16) as u64
}

/// The value for `VMPIDR_EL2` of vCPU `index`: its affinity with bit 31 (RES1) set and
/// U (bit 30) clear, since the vCPU belongs to a multiprocessor system.
pub const fn vmpidr_el2(index: usize) -> u64 {
    (1 << 31) | vcpu_affinity(index)
}

/// The affinity bits of an MPIDR value: Aff3 \[39:32\], Aff2 \[23:16\], Aff1 \[15:8\], Aff0 \[7:0\].
pub const AFFINITY_MASK: u64 = 0xff_00ff_ffff;

/// The power state of one vCPU (PSCI's view of a core).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerState {
    /// Not running; CPU_ON may start it.
    Off,
    /// CPU_ON accepted; the vCPU has not entered the guest yet.
    OnPending,
    /// Running guest code.
    On,
}

/// Why a power-state table cannot be built or used as asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerError {
    /// The partition asks for no vCPU, or more than the table holds.
    VcpuCount {
        /// The number of vCPUs asked for.
        requested: usize,
        /// The table's capacity.
        capacity: usize,
    },
    /// A vCPU index outside the partition.
    NoSuchVcpu {
        /// The index given.
        vcpu: usize,
        /// The partition's vCPU count.
        count: usize,
    },
}

impl fmt::Display for PowerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::VcpuCount {
                requested,
                capacity,
            } => write!(
                f,
                "a partition needs between 1 and {capacity} vCPUs, not {requested}"
            ),
            Self::NoSuchVcpu { vcpu, count } => {
                write!(
                    f,
                    "vCPU {vcpu} does not exist in a partition of {count} vCPUs"
                )
            }
        }
    }
}

/// The power states of a partition's vCPUs, with room for `N`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PowerStates<const N: usize> {
    states: [PowerState; N],
    count: usize,
}

impl<const N: usize> PowerStates<N> {
    /// A table for `count` vCPUs in their boot state: vCPU 0 on, the others off.
    pub fn new(count: usize) -> Result<Self, PowerError> {
        if count == 0 || count > N || count > MAX_AFFINITY_VCPUS {
            return Err(PowerError::VcpuCount {
                requested: count,
                capacity: N.min(MAX_AFFINITY_VCPUS),
            });
        }
        let mut table = Self {
            states: [PowerState::Off; N],
            count,
        };
        table.reset();
        Ok(table)
    }

    /// Returns every vCPU to the boot state: vCPU 0 on, the others off.
    pub fn reset(&mut self) {
        self.states = [PowerState::Off; N];
        self.states[0] = PowerState::On;
    }

    /// Turns every vCPU off (the partition has stopped).
    pub fn power_off(&mut self) {
        self.states = [PowerState::Off; N];
    }

    /// The number of vCPUs of the partition.
    pub const fn count(&self) -> usize {
        self.count
    }

    /// The state of vCPU `vcpu`.
    pub fn state(&self, vcpu: usize) -> Result<PowerState, PowerError> {
        self.check(vcpu)?;
        Ok(self.states[vcpu])
    }

    /// Sets the state of vCPU `vcpu`.
    pub fn set_state(&mut self, vcpu: usize, state: PowerState) -> Result<(), PowerError> {
        self.check(vcpu)?;
        self.states[vcpu] = state;
        Ok(())
    }

    /// Records that a vCPU started by CPU_ON has entered the guest (ON_PENDING becomes ON).
    pub fn mark_running(&mut self, vcpu: usize) -> Result<(), PowerError> {
        self.set_state(vcpu, PowerState::On)
    }

    /// True when no vCPU is on or about to be: nothing can run in the partition any more.
    pub fn all_off(&self) -> bool {
        self.states().iter().all(|state| *state == PowerState::Off)
    }

    /// The states of the partition's vCPUs, by index.
    pub fn states(&self) -> &[PowerState] {
        &self.states[..self.count]
    }

    /// The vCPU whose affinity is `affinity`, if the partition has it.
    pub fn vcpu_of(&self, affinity: u64) -> Option<usize> {
        if affinity & !AFFINITY_MASK != 0 {
            return None;
        }
        (0..self.count).find(|&index| vcpu_affinity(index) == affinity)
    }

    fn check(&self, vcpu: usize) -> Result<(), PowerError> {
        if vcpu < self.count {
            Ok(())
        } else {
            Err(PowerError::NoSuchVcpu {
                vcpu,
                count: self.count,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affinities_put_sixteen_vcpus_per_cluster() {
        assert_eq!(vcpu_affinity(0), 0);
        assert_eq!(vcpu_affinity(15), 0x0f);
        assert_eq!(vcpu_affinity(16), 0x100);
        assert_eq!(vcpu_affinity(33), 0x201);
        assert_eq!(vmpidr_el2(1), 0x8000_0001);
    }

    #[test]
    fn a_new_table_has_only_the_boot_vcpu_on() {
        let table = PowerStates::<4>::new(3).unwrap();
        assert_eq!(
            table.states(),
            &[PowerState::On, PowerState::Off, PowerState::Off]
        );
        assert!(!table.all_off());
    }

    #[test]
    fn counts_outside_the_capacity_are_refused() {
        assert_eq!(
            PowerStates::<4>::new(5),
            Err(PowerError::VcpuCount {
                requested: 5,
                capacity: 4
            })
        );
        assert_eq!(
            PowerStates::<4>::new(0),
            Err(PowerError::VcpuCount {
                requested: 0,
                capacity: 4
            })
        );
    }

    #[test]
    fn mpidrs_map_back_to_vcpus_of_this_partition_only() {
        let table = PowerStates::<32>::new(20).unwrap();
        assert_eq!(table.vcpu_of(0x103), Some(19));
        assert_eq!(table.vcpu_of(0x104), None);
        assert_eq!(table.vcpu_of(0x10), None);
        // Non-affinity bits (here bit 31) make the value invalid.
        assert_eq!(table.vcpu_of(0x8000_0001), None);
    }

    #[test]
    fn indices_outside_the_partition_are_errors() {
        let mut table = PowerStates::<4>::new(2).unwrap();
        assert_eq!(
            table.state(2),
            Err(PowerError::NoSuchVcpu { vcpu: 2, count: 2 })
        );
        assert_eq!(
            table.mark_running(3),
            Err(PowerError::NoSuchVcpu { vcpu: 3, count: 2 })
        );
    }

    #[test]
    fn power_off_and_reset() {
        let mut table = PowerStates::<4>::new(2).unwrap();
        table.set_state(1, PowerState::OnPending).unwrap();
        table.power_off();
        assert!(table.all_off());
        table.reset();
        assert_eq!(table.states(), &[PowerState::On, PowerState::Off]);
    }
}
