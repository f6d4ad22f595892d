//! The interrupt register block shared by the GICv2 distributor, the GICv3 distributor and the
//! GICv3 redistributor's SGI frame: offsets 0x080 to 0xcff (`IGROUPR` to `ICFGR`).

use super::effects::{Effects, VcpuSet};
use super::irq::{is_sgi, IntId, Trigger, PRIORITY_MASK};
use super::state::Vgic;
use super::{AccessSize, GicVersion, VcpuId};

/// A register of the interrupt block (IHI 0048B 4.3.4 to 4.3.13; the same layout in IHI 0069's
/// `GICD_*` and `GICR_*` register descriptions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BankRegister {
    /// `IGROUPR`: one bit per interrupt.
    Group,
    /// `ISENABLER`.
    SetEnable,
    /// `ICENABLER`.
    ClearEnable,
    /// `ISPENDR`.
    SetPending,
    /// `ICPENDR`.
    ClearPending,
    /// `ISACTIVER`.
    SetActive,
    /// `ICACTIVER`.
    ClearActive,
    /// `IPRIORITYR`: one byte per interrupt.
    Priority,
    /// `ITARGETSR`: one byte per interrupt (GICv2 only).
    Targets,
    /// `ICFGR`: two bits per interrupt.
    Config,
}

/// Start of the interrupt block.
pub(super) const BANK_START: u64 = 0x080;
/// End (exclusive) of the interrupt block.
pub(super) const BANK_END: u64 = 0xd00;

impl BankRegister {
    /// The register at `offset` and the first INTID it covers; `None` outside the block.
    pub(super) fn decode(offset: u64) -> Option<(BankRegister, IntId)> {
        let (register, base, per_byte) = match offset {
            0x080..0x100 => (BankRegister::Group, 0x080, 8),
            0x100..0x180 => (BankRegister::SetEnable, 0x100, 8),
            0x180..0x200 => (BankRegister::ClearEnable, 0x180, 8),
            0x200..0x280 => (BankRegister::SetPending, 0x200, 8),
            0x280..0x300 => (BankRegister::ClearPending, 0x280, 8),
            0x300..0x380 => (BankRegister::SetActive, 0x300, 8),
            0x380..0x400 => (BankRegister::ClearActive, 0x380, 8),
            0x400..0x800 => (BankRegister::Priority, 0x400, 1),
            0x800..0xc00 => (BankRegister::Targets, 0x800, 1),
            0xc00..0xd00 => (BankRegister::Config, 0xc00, 4),
            _ => return None,
        };
        Some((register, offset.saturating_sub(base).saturating_mul(per_byte) as IntId))
    }

    /// Bits per interrupt.
    const fn field_width(self) -> u32 {
        match self {
            BankRegister::Priority | BankRegister::Targets => 8,
            BankRegister::Config => 2,
            _ => 1,
        }
    }

    /// The INTIDs one access covers, from `first`.
    const fn span(self, size: AccessSize) -> u32 {
        match self {
            BankRegister::Priority | BankRegister::Targets => size.bytes() as u32,
            BankRegister::Config => 16,
            _ => 32,
        }
    }
}

impl Vgic {
    /// Reads a register of the interrupt block as `vcpu` (whose bank holds SGIs and PPIs).
    /// The pending and active registers include what list registers hold
    /// ([`Vgic::observed`]); `kick` gains the vCPUs whose list registers may have changed
    /// since their flush, to kick for a fresher answer.
    pub(super) fn bank_read(
        &self,
        vcpu: VcpuId,
        register: BankRegister,
        first: IntId,
        size: AccessSize,
        kick: &mut VcpuSet,
    ) -> u32 {
        let mut value = 0u32;
        for index in 0..register.span(size) {
            let intid = first.saturating_add(index);
            let Some(irq) = self.irq(vcpu, intid) else {
                continue;
            };
            let mut observed = || {
                let seen = self.observed(vcpu, intid).unwrap_or_default();
                kick.0 |= seen.kick.0;
                seen
            };
            let field = match register {
                BankRegister::Group => irq.group1 as u32,
                BankRegister::SetEnable | BankRegister::ClearEnable => irq.enabled as u32,
                BankRegister::SetPending | BankRegister::ClearPending => observed().pending as u32,
                BankRegister::SetActive | BankRegister::ClearActive => observed().active as u32,
                BankRegister::Priority => irq.priority as u32,
                BankRegister::Targets if intid < 32 => 1 << vcpu.0,
                BankRegister::Targets => irq.targets as u32,
                BankRegister::Config => if irq.trigger == Trigger::Edge { 0b10 } else { 0 },
            };
            // A register holds at most 32 bits of fields: the shift stays below 32.
            value |= field << index.wrapping_mul(register.field_width());
        }
        value
    }

    /// Writes a register of the interrupt block as `vcpu`.
    pub(super) fn bank_write(
        &mut self,
        vcpu: VcpuId,
        register: BankRegister,
        first: IntId,
        size: AccessSize,
        value: u32,
    ) -> Effects {
        let mut effects = Effects {
            hw_base: first,
            ..Effects::NONE
        };
        let width = register.field_width();
        let field_mask = super::effects::all_vcpus(width as usize);
        let vcpu_mask = super::effects::all_vcpus(self.vcpu_count) as u8;
        let v2 = self.version == GicVersion::V2;
        for index in 0..register.span(size) {
            let intid = first.saturating_add(index);
            // As in `bank_read`: the shift stays below 32.
            let field = (value >> index.wrapping_mul(width)) & field_mask;
            let before = self.interested(vcpu, intid);
            let Some(irq) = self.irq_mut(vcpu, intid) else {
                continue;
            };
            let bit = 1u32 << index;
            let hw = irq.hw.is_some();
            match register {
                BankRegister::Group => irq.group1 = field != 0,
                BankRegister::SetEnable if field != 0 => {
                    irq.enabled = true;
                    effects.hw_enable |= if hw { bit } else { 0 };
                }
                BankRegister::ClearEnable if field != 0 => {
                    irq.enabled = false;
                    effects.hw_disable |= if hw { bit } else { 0 };
                }
                // GICv2 SGI pending bits are read-only here; GICD_SPENDSGIR sets them (IHI 0048B 4.3.7).
                BankRegister::SetPending if field != 0 && !(v2 && is_sgi(intid)) => {
                    irq.set_pending(None)
                }
                BankRegister::ClearPending if field != 0 && !(v2 && is_sgi(intid)) => {
                    irq.clear_pending();
                    // A mapped SPI the hypervisor took, now neither pending nor active for
                    // the guest: the guest will never deactivate it, so the physical one is
                    // deactivated now, or its device could never interrupt again (KVM's
                    // vGIC does the same). One that is active stays so until the guest
                    // deactivates it, which reaches the physical SPI as ever; one a list
                    // register holds is decided when that list register is synced.
                    if hw && irq.physical_active && !irq.active && irq.owner.is_none() {
                        irq.physical_active = false;
                        effects.hw_deactivate |= bit;
                    }
                }
                BankRegister::SetActive if field != 0 => irq.active = true,
                BankRegister::ClearActive if field != 0 => {
                    // The physical interrupt behind a mapped one is deactivated only if the
                    // guest may have it active (active, or in a list register, which may hold
                    // an acknowledgement not yet synced): one only pending for the guest keeps
                    // its physical interrupt active until the guest has handled it, and a guest
                    // clearing every active bit at boot deactivates nothing.
                    let was_active = irq.active || irq.owner.is_some();
                    irq.clear_active();
                    if hw && was_active {
                        irq.physical_active = false;
                        effects.hw_deactivate |= bit;
                    }
                }
                BankRegister::Priority => irq.priority = field as u8 & PRIORITY_MASK,
                BankRegister::Targets if intid >= 32 => {
                    let targets = field as u8 & vcpu_mask;
                    if targets != irq.targets {
                        effects.hw_retarget |= if hw { bit } else { 0 };
                    }
                    irq.targets = targets;
                }
                BankRegister::Config if !is_sgi(intid) => {
                    irq.trigger = if field & 0b10 != 0 {
                        Trigger::Edge
                    } else {
                        Trigger::Level
                    };
                }
                _ => {}
            }
            effects.kick.0 |= before.0 | self.interested(vcpu, intid).0;
        }
        effects
    }
}
