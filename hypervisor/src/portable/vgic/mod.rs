//! The virtual GIC: distributor and redistributor emulation and the list-register state machine.
//!
//! This module is pure logic; it builds and is tested on the host. The aarch64 layer reads and writes
//! the hardware list registers (`ICH_LR<n>_EL2` for GICv3, `GICH_LR<n>` for GICv2) and forwards
//! trapped guest accesses to the virtual distributor and redistributors here.
//!
//! # Who calls what, and under which lock
//!
//! One [`Vgic`] exists per partition. The caller wraps it in the partition's vGIC spin lock; every
//! `&mut self` method is called with that lock held, from any core:
//!
//! - on every guest exit, [`Vgic::deactivate_unlisted`] if the hardware counted EOIs of interrupts in
//!   no list register, then [`Vgic::sync`] with the list registers read back from the hardware;
//! - trapped MMIO goes to [`Vgic::mmio_load`] / [`Vgic::mmio_write`], a trapped `ICC_SGI1R_EL1`
//!   write to [`Vgic::send_sgi_v3`];
//! - just before entering the guest, [`Vgic::flush`] fills the list registers; it visits only
//!   the interrupts marked stirred since they last were quiet (see `Vgic::spi_stirred`);
//! - a vCPU about to wait asks [`Vgic::has_listable`] instead of a flush and a sync, and when
//!   nothing is and its list registers are empty, [`Vgic::settle_empty`] records that.
//!
//! Methods that change state return [`Effects`]: the vCPUs to kick (make them exit so that their
//! next `flush` sees the change) and the hardware-mapped physical interrupts to enable, disable or
//! deactivate. A physical interrupt handler that must not take the lock raises the interrupt in the
//! lock-free [`Doorbell`] of the target vCPU instead; `flush` drains it.
//!
//! Invariant: between a vCPU's `flush` and its next `sync`, the interrupts in its list registers are
//! marked as owned by that vCPU; any change another core makes to one of them kicks that vCPU.
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

mod bank;
mod direct;
mod distributor_v2;
mod distributor_v3;
mod doorbell;
mod effects;
mod error;
mod ident;
mod irq;
mod list_register;
mod mmio;
mod observed;
mod redistributor;
mod report;
mod sgi;
mod state;
mod vcpu_interface;

#[cfg(test)]
mod tests;

pub use direct::Configured;
pub use doorbell::Doorbell;
pub use effects::{Effects, VcpuSet};
pub use error::VgicError;
pub use irq::{IntId, Trigger};
pub use list_register::{ListRegister, LrState};
pub use report::{IntIdSet, Listed};
pub use sgi::{SgiRequest, SgiTargets};
pub use state::{Vgic, VgicConfig};
pub use vcpu_interface::FlushOutcome;

pub use boards::GicVersion;

use crate::portable::guest::layout;

/// Guest physical address of the virtual distributor (Xen's `GUEST_GICD_BASE`, both versions).
pub const GUEST_GICD_BASE: u64 = layout::GICV2_DISTRIBUTOR_BASE;
/// Size of the GICv2 virtual distributor frame.
pub const GUEST_GICD_V2_SIZE: u64 = layout::GICV2_DISTRIBUTOR_SIZE;
/// Size of the GICv3 virtual distributor frame.
pub const GUEST_GICD_V3_SIZE: u64 = layout::GICV3_DISTRIBUTOR_SIZE;
/// Guest physical address where the GICv2 virtual CPU interface (GICV) is mapped.
pub const GUEST_GICC_BASE: u64 = layout::GICV2_CPU_INTERFACE_BASE;
/// Size of the GICv2 CPU interface mapping (two 4 KiB pages, so `GICC_DIR` is reachable).
pub const GUEST_GICC_SIZE: u64 = layout::GICV2_CPU_INTERFACE_SIZE;
/// Guest physical address of the first GICv3 redistributor.
pub const GUEST_GICR_BASE: u64 = layout::GICV3_REDISTRIBUTOR_BASE;
/// Size of one vCPU's redistributor: the RD_base frame and the SGI_base frame, 64 KiB each.
pub const GUEST_GICR_STRIDE: u64 = layout::GICV3_REDISTRIBUTOR_STRIDE;
const _: () = assert!(layout::GICV3_DISTRIBUTOR_BASE == layout::GICV2_DISTRIBUTOR_BASE);

/// Most vCPUs one partition's vGIC serves (the GICv2 limit; state is sized for it).
pub const MAX_VCPUS: usize = 8;
/// Most list registers an implementation can have (`ICH_VTR_EL2.ListRegs` is 4 bits).
pub const MAX_LIST_REGISTERS: usize = 16;
/// Most shared peripheral interrupts: INTIDs 32 to 1019.
pub const MAX_SPIS: usize = 988;
/// The EL1 virtual timer's PPI (`CNTV`), delivered to each vCPU as a virtual PPI.
pub const VIRTUAL_TIMER_PPI: u32 = 27;
/// The GICv2 and GICv3 (without LPIs) maintenance interrupt PPI recommended by the Arm SBSA.
pub const MAINTENANCE_PPI: u32 = 25;

/// Width of a trapped MMIO access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessSize {
    /// One byte.
    Byte,
    /// Two bytes.
    Half,
    /// Four bytes.
    Word,
    /// Eight bytes.
    Double,
}

impl AccessSize {
    /// Number of bytes accessed.
    pub const fn bytes(self) -> u64 {
        match self {
            AccessSize::Byte => 1,
            AccessSize::Half => 2,
            AccessSize::Word => 4,
            AccessSize::Double => 8,
        }
    }

    /// The access size for a byte count from an abort syndrome (`ESR_EL2.ISS.SAS` gives 1, 2, 4 or 8).
    pub const fn from_bytes(bytes: u64) -> Option<Self> {
        match bytes {
            1 => Some(AccessSize::Byte),
            2 => Some(AccessSize::Half),
            4 => Some(AccessSize::Word),
            8 => Some(AccessSize::Double),
            _ => None,
        }
    }
}

/// Index of a vCPU inside its partition, from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct VcpuId(pub usize);
