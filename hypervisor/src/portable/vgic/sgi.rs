//! Software-generated interrupts between vCPUs: `GICD_SGIR` (GICv2) and trapped `ICC_SGI1R_EL1` (GICv3).

use super::effects::{Effects, VcpuSet};
use super::error::VgicError;
use super::irq::IntId;
use super::state::Vgic;
use super::{GicVersion, VcpuId};

/// Which vCPUs an SGI goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SgiTargets {
    /// The vCPUs in a list (GICv2 `CPUTargetList`, one bit per vCPU index).
    List(VcpuSet),
    /// Every vCPU but the sender (GICv2 filter 0b01, GICv3 `IRM` = 1).
    AllButSelf,
    /// The sender only (GICv2 filter 0b10).
    ToSelf,
    /// GICv3 affinity targeting: Aff0 = 16 * `range` + each set bit of `list`.
    Affinity {
        /// Aff3 of the targets.
        aff3: u8,
        /// Aff2 of the targets.
        aff2: u8,
        /// Aff1 of the targets.
        aff1: u8,
        /// Range selector (`RS`).
        range: u8,
        /// Target list, one bit per Aff0 value in the range.
        list: u16,
    },
}

/// A decoded request to generate an SGI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SgiRequest {
    /// The SGI, 0 to 15.
    pub intid: IntId,
    /// Its targets.
    pub targets: SgiTargets,
}

impl SgiRequest {
    /// Decodes a `GICD_SGIR` write (IHI 0048B 4.3.15): TargetListFilter in bits 25:24,
    /// CPUTargetList in 23:16, SGIINTID in 3:0. The reserved filter 0b11 yields `None`.
    pub const fn from_gicd_sgir(value: u32) -> Option<Self> {
        let intid = value & 0xf;
        let targets = match (value >> 24) & 0b11 {
            0b00 => SgiTargets::List(VcpuSet((value >> 16) & 0xff)),
            0b01 => SgiTargets::AllButSelf,
            0b10 => SgiTargets::ToSelf,
            _ => return None,
        };
        Some(SgiRequest { intid, targets })
    }

    /// Decodes an `ICC_SGI1R_EL1` write (IHI 0069, "ICC_SGI1R_EL1"): Aff3 in bits 55:48, RS in
    /// 47:44, IRM in 40, Aff2 in 39:32, INTID in 27:24, Aff1 in 23:16, TargetList in 15:0.
    pub const fn from_icc_sgi1r(value: u64) -> Self {
        let intid = ((value >> 24) & 0xf) as IntId;
        let targets = if value & (1 << 40) != 0 {
            SgiTargets::AllButSelf
        } else {
            SgiTargets::Affinity {
                aff3: (value >> 48) as u8,
                aff2: (value >> 32) as u8,
                aff1: (value >> 16) as u8,
                range: ((value >> 44) & 0xf) as u8,
                list: value as u16,
            }
        };
        SgiRequest { intid, targets }
    }
}

impl Vgic {
    /// The vCPUs an SGI from `from` reaches; targets that do not exist are dropped.
    pub(super) fn sgi_targets(&self, from: VcpuId, targets: SgiTargets) -> VcpuSet {
        let all = super::effects::all_vcpus(self.vcpu_count);
        match targets {
            SgiTargets::List(set) => VcpuSet(set.0 & all),
            SgiTargets::AllButSelf => VcpuSet(all & !(1 << from.0)),
            SgiTargets::ToSelf => VcpuSet(1 << from.0),
            SgiTargets::Affinity {
                aff3,
                aff2,
                aff1,
                range,
                list,
            } => {
                let mut set = VcpuSet::EMPTY;
                let upper = ((aff3 as u64) << 32) | ((aff2 as u64) << 16) | ((aff1 as u64) << 8);
                for bit in (0..16).filter(|b| list & (1 << b) != 0) {
                    let aff0 = (range as u64).wrapping_mul(16).wrapping_add(bit);
                    if aff0 <= 0xff {
                        if let Some(vcpu) = self.vcpu_with_affinity(upper | aff0) {
                            set.insert(vcpu);
                        }
                    }
                }
                set
            }
        }
    }

    /// Makes an SGI pending on its targets; GICv2 SGIs remember `from` as their source.
    pub fn send_sgi(&mut self, from: VcpuId, request: &SgiRequest) -> Result<Effects, VgicError> {
        self.touch();
        self.check_vcpu(from)?;
        let intid = request.intid & 0xf;
        let source = (self.version == GicVersion::V2).then_some(from.0 as u8);
        let mut kick = VcpuSet::EMPTY;
        for target in self.sgi_targets(from, request.targets).iter() {
            if let Some(irq) = self.irq_mut(target, intid) {
                irq.set_pending(source);
                self.raised = self.raised.wrapping_add(1);
            }
            kick.0 |= self.interested(target, intid).0;
        }
        Ok(Effects::kick(kick))
    }

    /// Emulates a trapped `ICC_SGI1R_EL1` write by `from` (GICv3 partitions only).
    pub fn send_sgi_v3(&mut self, from: VcpuId, value: u64) -> Result<Effects, VgicError> {
        if self.version != GicVersion::V3 {
            return Err(VgicError::WrongVersion {
                operation: "ICC_SGI1R_EL1",
            });
        }
        self.send_sgi(from, &SgiRequest::from_icc_sgi1r(value))
    }
}
