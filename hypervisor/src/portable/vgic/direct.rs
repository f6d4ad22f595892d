//! What the direct-delivery mode (`vm::direct`) reads from the vGIC: the distributor and
//! redistributors stay emulated for a direct partition, and the hypervisor copies the state
//! the guest configured for its own private interrupts to the physical GIC.

use super::effects::VcpuSet;
use super::irq::IntId;
use super::sgi::SgiRequest;
use super::state::Vgic;
use super::VcpuId;

/// How the guest configured one of its interrupts, as the physical GIC needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Configured {
    pub enabled: bool,
    pub priority: u8,
}

impl Vgic {
    /// The enable bit and priority `vcpu`'s interrupt `intid` has in the emulated distributor
    /// or redistributor; `None` for an INTID or vCPU the partition does not have.
    pub fn configured(&self, vcpu: VcpuId, intid: IntId) -> Option<Configured> {
        self.irq(vcpu, intid).map(|irq| Configured { enabled: irq.enabled, priority: irq.priority })
    }

    /// The vCPUs a trapped `ICC_SGI1R_EL1` write by `from` names, and its SGI number, without
    /// making anything pending (a direct partition's SGIs go to the physical GIC).
    pub fn sgi1r_targets(&self, from: VcpuId, value: u64) -> (IntId, VcpuSet) {
        let request = SgiRequest::from_icc_sgi1r(value);
        (request.intid & 0xf, self.sgi_targets(from, request.targets))
    }
}
