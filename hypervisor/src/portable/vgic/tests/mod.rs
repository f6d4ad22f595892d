//! Host tests of the vGIC: encodings, register emulation and the list-register state machine.

mod distributor_v2;
mod distributor_v3;
mod flow;
mod flow_cases;
mod forwarded;
mod list_register;
mod observed;
mod passthrough;
mod report;
mod stirred;

use super::{
    AccessSize, Doorbell, GicVersion, ListRegister, LrState, VcpuId, Vgic, VgicConfig,
    GUEST_GICD_BASE,
};

/// A configured vGIC on the heap (it is about 50 KiB).
pub(super) fn vgic(version: GicVersion, vcpus: usize, spis: usize) -> Box<Vgic> {
    let mut vgic = Vgic::boxed_empty();
    vgic.configure(VgicConfig {
        version,
        vcpus,
        spis,
    })
    .expect("valid configuration");
    vgic
}

#[test]
fn a_vgic_built_in_place_is_the_empty_one_and_configure_resets_in_place() {
    let in_place = Vgic::boxed_empty();
    let by_value = Box::new(Vgic::empty());
    assert_eq!(format!("{in_place:?}"), format!("{by_value:?}"));

    // Dirty one (enable an SPI, make it pending, raise a PPI), then configure it again: it is
    // the same as a fresh one configured alike.
    let config = VgicConfig { version: GicVersion::V3, vcpus: 2, spis: 64 };
    let mut used = vgic(GicVersion::V3, 2, 64);
    gicd_write(&mut used, 0x0, 0, 0x3);
    gicd_write(&mut used, 0x104, 0, 0x1);
    gicd_write(&mut used, 0x204, 0, 0x1);
    let _ = used.inject(VcpuId(1), 27);
    assert_ne!(format!("{used:?}"), format!("{:?}", vgic(GicVersion::V3, 2, 64)), "the writes changed it");
    used.configure(config).expect("valid configuration");
    let mut fresh = Box::new(Vgic::empty());
    fresh.configure(config).expect("valid configuration");
    assert_eq!(format!("{used:?}"), format!("{fresh:?}"));
}

/// Writes a distributor register by offset as `vcpu`.
pub(super) fn gicd_write(vgic: &mut Vgic, offset: u64, vcpu: usize, value: u64) -> super::Effects {
    vgic.mmio_write(
        GUEST_GICD_BASE + offset,
        AccessSize::Word,
        VcpuId(vcpu),
        value,
    )
    .expect("valid write")
}

/// Reads a distributor register by offset as `vcpu`.
pub(super) fn gicd_read(vgic: &Vgic, offset: u64, vcpu: usize) -> u64 {
    vgic.mmio_read(GUEST_GICD_BASE + offset, AccessSize::Word, VcpuId(vcpu))
        .expect("valid read")
}

/// One vCPU's list registers as a simulated virtual CPU interface sees them.
pub(super) struct Cpu {
    pub vcpu: VcpuId,
    pub lrs: [Option<ListRegister>; 4],
    pub doorbell: Doorbell,
}

impl Cpu {
    pub fn new(vcpu: usize) -> Self {
        Cpu {
            vcpu: VcpuId(vcpu),
            lrs: [None; 4],
            doorbell: Doorbell::new(),
        }
    }

    /// Exit, then entry: sync and flush.
    pub fn cycle(&mut self, vgic: &mut Vgic) -> super::FlushOutcome {
        vgic.sync(self.vcpu, &self.lrs).expect("sync");
        vgic.flush(self.vcpu, &self.doorbell, &mut self.lrs)
            .expect("flush")
    }

    /// The entry holding `intid`.
    pub fn entry(&self, intid: u32) -> Option<ListRegister> {
        self.lrs
            .iter()
            .flatten()
            .copied()
            .find(|lr| lr.intid == intid)
    }

    /// The INTIDs in the list registers, in slot order.
    pub fn intids(&self) -> Vec<u32> {
        self.lrs.iter().flatten().map(|lr| lr.intid).collect()
    }

    /// The guest reads `IAR`: the highest-priority pending entry that is not active becomes active.
    pub fn acknowledge(&mut self) -> Option<u32> {
        let slot = self
            .lrs
            .iter()
            .enumerate()
            .filter(|(_, lr)| lr.is_some_and(|lr| lr.state == LrState::Pending))
            .min_by_key(|(_, lr)| lr.map(|lr| lr.priority))
            .map(|(slot, _)| slot)?;
        let lr = self.lrs[slot].as_mut()?;
        lr.state = LrState::Active;
        Some(lr.intid)
    }

    /// The guest deactivates `intid` (EOImode 0 `EOIR` write): active goes, pending stays.
    pub fn deactivate(&mut self, intid: u32) {
        for lr in self.lrs.iter_mut() {
            if let Some(entry) = lr {
                if entry.intid == intid && entry.state.is_active() {
                    *lr = LrState::from_bits(entry.state.is_pending(), false)
                        .map(|state| ListRegister { state, ..*entry });
                }
            }
        }
    }
}

/// Enables a private interrupt of `vcpu` in group 1: through its redistributor on GICv3, through
/// the banked distributor registers on GICv2.
pub(super) fn enable_private(vgic: &mut Vgic, vcpu: usize, intid: u32) {
    let bit = 1u64 << intid;
    match vgic.version() {
        GicVersion::V3 => {
            let base = super::GUEST_GICR_BASE + vcpu as u64 * super::GUEST_GICR_STRIDE + 0x1_0000;
            for offset in [0x080, 0x100] {
                vgic.mmio_write(base + offset, AccessSize::Word, VcpuId(0), bit)
                    .expect("redistributor write");
            }
        }
        GicVersion::V2 => {
            gicd_write(vgic, 0x080, vcpu, bit);
            gicd_write(vgic, 0x100, vcpu, bit);
        }
    }
}
