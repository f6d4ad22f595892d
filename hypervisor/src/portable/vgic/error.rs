//! The vGIC's error type: bad guest accesses and bad configuration.

use core::fmt;

use super::{AccessSize, VcpuId};

/// Why a vGIC operation was refused.
///
/// Errors caused by a guest access (`BadOffset`, `BadAccessSize`, `UnmappedAddress`,
/// `NoSuchVcpu` from a trapped access) are reported back to that guest as an external abort; they
/// never stop the hypervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VgicError {
    /// The access falls outside every register of the frame.
    BadOffset {
        /// Which frame was accessed.
        frame: &'static str,
        /// Offset from the frame base.
        offset: u64,
    },
    /// The register exists but not with this access width or alignment.
    BadAccessSize {
        /// Which frame was accessed.
        frame: &'static str,
        /// Offset from the frame base.
        offset: u64,
        /// The width the guest used.
        size: AccessSize,
    },
    /// The guest address is not in any vGIC frame of this partition.
    UnmappedAddress {
        /// The guest physical address.
        address: u64,
    },
    /// The vCPU index is not below the partition's vCPU count.
    NoSuchVcpu {
        /// The index asked for.
        vcpu: VcpuId,
        /// How many vCPUs the partition has.
        count: usize,
    },
    /// The interrupt number is not implemented by this vGIC.
    NoSuchInterrupt {
        /// The INTID asked for.
        intid: u32,
    },
    /// The operation is not available with this GIC version.
    WrongVersion {
        /// What was attempted.
        operation: &'static str,
    },
    /// The partition asks for more vCPUs than the vGIC serves.
    TooManyVcpus {
        /// The count asked for.
        requested: usize,
        /// The most allowed.
        max: usize,
    },
    /// The partition asks for more SPIs than INTIDs 32 to 1019 hold.
    TooManySpis {
        /// The count asked for.
        requested: usize,
        /// The most allowed.
        max: usize,
    },
    /// `flush` was called again without the `sync` that folds back the previous flush.
    FlushWithoutSync {
        /// The vCPU.
        vcpu: VcpuId,
    },
    /// More list registers than `ICH_VTR_EL2.ListRegs` can describe.
    TooManyListRegisters {
        /// The count given.
        requested: usize,
        /// The most allowed.
        max: usize,
    },
}

impl fmt::Display for VgicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            VgicError::BadOffset { frame, offset } => {
                write!(f, "no {frame} register at offset {offset:#x}")
            }
            VgicError::BadAccessSize {
                frame,
                offset,
                size,
            } => write!(
                f,
                "{frame} register at offset {offset:#x} cannot be accessed with {} byte(s)",
                size.bytes()
            ),
            VgicError::UnmappedAddress { address } => {
                write!(
                    f,
                    "guest address {address:#x} is not in any virtual GIC frame"
                )
            }
            VgicError::NoSuchVcpu { vcpu, count } => {
                write!(
                    f,
                    "vCPU {} does not exist (the partition has {count})",
                    vcpu.0
                )
            }
            VgicError::NoSuchInterrupt { intid } => {
                write!(
                    f,
                    "interrupt {intid} is not implemented by this virtual GIC"
                )
            }
            VgicError::WrongVersion { operation } => {
                write!(f, "{operation} is not available with this GIC version")
            }
            VgicError::TooManyVcpus { requested, max } => {
                write!(
                    f,
                    "{requested} vCPUs requested, the virtual GIC serves at most {max}"
                )
            }
            VgicError::TooManySpis { requested, max } => {
                write!(f, "{requested} SPIs requested, at most {max} exist")
            }
            VgicError::FlushWithoutSync { vcpu } => {
                write!(
                    f,
                    "vCPU {}: list registers flushed twice without a sync in between",
                    vcpu.0
                )
            }
            VgicError::TooManyListRegisters { requested, max } => {
                write!(f, "{requested} list registers given, at most {max} exist")
            }
        }
    }
}
