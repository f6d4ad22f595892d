//! What a scheduler refuses when the runtime hands it its vCPUs at build time.

use core::fmt;

use super::VcpuRef;

/// A vCPU the pool's scheduler cannot take, with what to change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchedError {
    /// The same vCPU was added twice.
    Duplicate { vcpu: VcpuRef },
    /// A weight of 0 (credit2 burns credit at `max_weight / weight`).
    ZeroWeight { vcpu: VcpuRef },
    /// A `null` or fixed-priority pool needs each vCPU pinned to one CPU.
    NotPinned {
        vcpu: VcpuRef,
        scheduler: &'static str,
    },
    /// The pinned CPU is not one of the pool's.
    PinnedOutsidePool { vcpu: VcpuRef, cpu: usize },
    /// The pinned CPU is outside the vCPU's own affinity.
    PinnedOutsideAffinity { vcpu: VcpuRef, cpu: usize },
    /// A `null` pool runs one vCPU per CPU: the CPU already has one.
    CpuTaken {
        vcpu: VcpuRef,
        cpu: usize,
        other: VcpuRef,
    },
    /// None of the CPUs in the vCPU's affinity belongs to the pool: it could never run.
    NoCpuInAffinity { vcpu: VcpuRef },
    /// vCPUs of one partition share the partition's cap, so they must give the same one.
    CapMismatch {
        vcpu: VcpuRef,
        cap_percent: u32,
        other: u32,
    },
}

impl fmt::Display for VcpuRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "partition {} vCPU {}", self.partition, self.vcpu)
    }
}

impl fmt::Display for SchedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Duplicate { vcpu } => write!(f, "{vcpu} is added to its pool twice; add each vCPU once"),
            Self::ZeroWeight { vcpu } => {
                write!(f, "{vcpu} has weight 0; give a weight from 1 to 65535 (256 is the default)")
            }
            Self::NotPinned { vcpu, scheduler } => write!(
                f,
                "{vcpu} has no CPU in a \"{scheduler}\" pool; pin it to one of the pool's CPUs"
            ),
            Self::PinnedOutsidePool { vcpu, cpu } => write!(
                f,
                "{vcpu} is pinned to CPU {cpu}, which is not in its pool; pin it to a CPU of the pool"
            ),
            Self::PinnedOutsideAffinity { vcpu, cpu } => write!(
                f,
                "{vcpu} is pinned to CPU {cpu}, outside its affinity; pin it inside its affinity"
            ),
            Self::CpuTaken { vcpu, cpu, other } => write!(
                f,
                "{vcpu} is pinned to CPU {cpu}, which already runs {other} in a \"null\" pool; \
                 give it another CPU or use \"bulkhead,fixed-priority\""
            ),
            Self::NoCpuInAffinity { vcpu } => write!(
                f,
                "{vcpu} has an affinity with no CPU of its pool; add one of the pool's CPUs to it"
            ),
            Self::CapMismatch { vcpu, cap_percent, other } => write!(
                f,
                "{vcpu} has cap {cap_percent}% but another vCPU of its partition has {other}%; \
                 a cap is the partition's: give all its vCPUs the same"
            ),
        }
    }
}
