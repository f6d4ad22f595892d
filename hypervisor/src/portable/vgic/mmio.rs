//! Routing of a trapped guest access by guest physical address to the distributor or a redistributor.

use super::effects::{Effects, VcpuSet};
use super::error::VgicError;
use super::state::Vgic;
use super::{
    AccessSize, GicVersion, VcpuId, GUEST_GICD_BASE, GUEST_GICD_V2_SIZE, GUEST_GICD_V3_SIZE,
    GUEST_GICR_BASE, GUEST_GICR_STRIDE,
};

/// A vGIC frame an address falls in, with the offset from the frame's base.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Frame {
    Distributor(u64),
    Redistributors(u64),
}

impl Vgic {
    /// The guest physical ranges (base, size) the caller must leave unmapped in stage 2 and trap:
    /// the distributor, and for GICv3 the redistributors. (The GICv2 CPU interface at
    /// [`super::GUEST_GICC_BASE`] is the hardware GICV frame, mapped, not trapped.)
    pub fn trapped_ranges(&self) -> [(u64, u64); 2] {
        match self.version {
            GicVersion::V2 => [(GUEST_GICD_BASE, GUEST_GICD_V2_SIZE), (0, 0)],
            GicVersion::V3 => [
                (GUEST_GICD_BASE, GUEST_GICD_V3_SIZE),
                (GUEST_GICR_BASE, GUEST_GICR_STRIDE.saturating_mul(self.vcpu_count as u64)),
            ],
        }
    }

    fn frame(&self, address: u64) -> Result<Frame, VgicError> {
        let [distributor, redistributors] = self.trapped_ranges();
        if let Some(offset) = inside(address, distributor) {
            Ok(Frame::Distributor(offset))
        } else if let Some(offset) = inside(address, redistributors) {
            Ok(Frame::Redistributors(offset))
        } else {
            Err(VgicError::UnmappedAddress { address })
        }
    }

    /// Emulates a trapped guest read at guest physical `address` by `vcpu`: the value, and the
    /// vCPUs to kick. A read of the pending or active registers covering an interrupt that
    /// another vCPU's list registers hold answers every state they may be in and asks for
    /// that vCPU to be kicked, so that its exit syncs them and the next read is exact (see
    /// `observed.rs`).
    pub fn mmio_load(
        &self,
        address: u64,
        size: AccessSize,
        vcpu: VcpuId,
    ) -> Result<(u64, Effects), VgicError> {
        let mut kick = VcpuSet::EMPTY;
        let value = match (self.frame(address)?, self.version) {
            (Frame::Distributor(offset), GicVersion::V2) => {
                self.distributor_v2_read(offset, size, vcpu, &mut kick).map(u64::from)
            }
            (Frame::Distributor(offset), GicVersion::V3) => {
                self.distributor_v3_read(offset, size, vcpu, &mut kick)
            }
            (Frame::Redistributors(offset), _) => self.redistributor_read(offset, size, &mut kick),
        }?;
        // The reader's own list registers are exact (its exit synced them): never kicked.
        kick.0 &= !(1u32.checked_shl(vcpu.0 as u32).unwrap_or(0));
        Ok((value, Effects::kick(kick)))
    }

    /// The value [`Vgic::mmio_load`] reads, for callers with no one to kick.
    pub fn mmio_read(
        &self,
        address: u64,
        size: AccessSize,
        vcpu: VcpuId,
    ) -> Result<u64, VgicError> {
        self.mmio_load(address, size, vcpu).map(|(value, _)| value)
    }

    /// Emulates a trapped guest write of `value` at guest physical `address` by `vcpu`.
    pub fn mmio_write(
        &mut self,
        address: u64,
        size: AccessSize,
        vcpu: VcpuId,
        value: u64,
    ) -> Result<Effects, VgicError> {
        self.touch();
        match (self.frame(address)?, self.version) {
            (Frame::Distributor(offset), GicVersion::V2) => {
                self.distributor_v2_write(offset, size, vcpu, value as u32)
            }
            (Frame::Distributor(offset), GicVersion::V3) => {
                self.distributor_v3_write(offset, size, vcpu, value)
            }
            (Frame::Redistributors(offset), _) => self.redistributor_write(offset, size, value),
        }
    }
}

/// The offset of `address` inside `(base, size)`.
fn inside(address: u64, (base, size): (u64, u64)) -> Option<u64> {
    let offset = address.checked_sub(base)?;
    (offset < size).then_some(offset)
}
