//! How a passthrough SPI reaches its partition's virtual GIC: the one place that chooses, by
//! the GIC version, between a hardware-mapped list register and forwarding by software.

use crate::portable::vgic::{GicVersion, IntId, VcpuId, Vgic, VgicError};

/// How a physical SPI given to a partition is delivered to its guest.
///
/// Both ways start alike: the CPU that takes the physical SPI acknowledges it with a priority
/// drop only (EOImode 1), so it stays active, and injects the virtual SPI of the same number.
/// They differ in who deactivates the physical interrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The list register carries the HW bit and the physical INTID (`ICH_LR<n>_EL2.HW`,
    /// `pINTID`: Arm IHI 0069H.b §12.4): the guest's deactivation of the virtual SPI
    /// deactivates the physical one at the GIC, with no exit and no maintenance interrupt.
    HardwareMapped,
    /// The list register has no HW bit but asks for an EOI maintenance interrupt; after the
    /// guest's deactivation the hypervisor deactivates the physical SPI from its own CPU
    /// interface. One maintenance exit per interrupt, but the physical CPU interface is always
    /// looked at again, which QEMU's GICv2 does not do after a hardware-mapped deactivation
    /// (it updates only the virtual interface: a level still high, or an edge that came
    /// meanwhile, would wait until unrelated GIC activity; see ARCHITECTURE.md, Interrupts).
    Forwarded,
}

impl Delivery {
    /// The delivery for a partition on a host whose GIC is `version`: hardware-mapped on
    /// GICv3, forwarded by software on GICv2 (GIC-400 included).
    pub const fn for_gic(version: GicVersion) -> Self {
        match version {
            GicVersion::V3 => Delivery::HardwareMapped,
            GicVersion::V2 => Delivery::Forwarded,
        }
    }

    /// Maps virtual SPI `intid` to physical SPI `physical` this way in `vgic`.
    pub fn map(self, vgic: &mut Vgic, intid: IntId, physical: u32) -> Result<(), VgicError> {
        match self {
            Delivery::HardwareMapped => {
                // Only SPIs are passed through (INTIDs 32 and up); a PPI would be one vCPU's.
                if intid < 32 {
                    return Err(VgicError::NoSuchInterrupt { intid });
                }
                vgic.map_hw(VcpuId(0), intid, physical)
            }
            Delivery::Forwarded => vgic.map_forwarded(intid, physical),
        }
    }

    /// A few words for the hypervisor's lines.
    pub const fn describe(self) -> &'static str {
        match self {
            Delivery::HardwareMapped => "hardware-mapped",
            Delivery::Forwarded => "forwarded by software",
        }
    }
}
