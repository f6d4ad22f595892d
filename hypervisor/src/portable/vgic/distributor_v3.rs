//! The GICv3 virtual distributor: `GICD_*` registers of a 64 KiB frame with affinity routing always
//! on and a single security state (Arm IHI 0069, chapter 12, "The GIC Distributor register map").

use super::bank::{BankRegister, BANK_END, BANK_START};
use super::distributor_v2::it_lines_number;
use super::effects::{Effects, VcpuSet};
use super::error::VgicError;
use super::ident::{id_register, ID_BLOCK_FROM_END, IIDR};
use super::irq::{IntId, SPI_FIRST};
use super::state::{Vgic, IROUTER_AFFINITY, IROUTER_IRM};
use super::{AccessSize, GicVersion, VcpuId, GUEST_GICD_V3_SIZE};

const FRAME: &str = "GICv3 distributor";

const CTLR: u64 = 0x0000;
const TYPER: u64 = 0x0004;
const IIDR_OFFSET: u64 = 0x0008;
const IROUTER: u64 = 0x6000;
const IROUTER_FIRST: u64 = IROUTER + 8 * SPI_FIRST as u64;
const IROUTER_END: u64 = IROUTER + 8 * 1020;
const ID_BLOCK: u64 = GUEST_GICD_V3_SIZE - ID_BLOCK_FROM_END;

/// `GICD_CTLR.ARE_NS`/`ARE`: affinity routing, always on (RAO/WI).
pub(super) const CTLR_ARE: u32 = 1 << 4;
/// `GICD_CTLR.DS`: a single security state, so the guest owns both groups (RAO/WI).
pub(super) const CTLR_DS: u32 = 1 << 6;
/// `GICD_TYPER.IDbits` value: INTIDs have 10 bits (no LPIs).
const ID_BITS: u32 = 10 - 1;

impl Vgic {
    /// `GICD_TYPER` for GICv3: ITLinesNumber, CPUNumber, IDbits = 9; no LPIs, no MBIs, no
    /// extended SPIs, Aff3 zero (A3V = 0), range selector unsupported (RSS = 0), 1-of-N supported.
    pub fn typer_v3(&self) -> u32 {
        it_lines_number(self.spi_count)
            | (((self.vcpu_count as u32).saturating_sub(1).min(7)) << 5)
            | (ID_BITS << 19)
    }

    fn check_v3(&self, offset: u64, size: AccessSize) -> Result<(), VgicError> {
        if self.version != GicVersion::V3 {
            return Err(VgicError::WrongVersion {
                operation: "a GICv3 distributor access",
            });
        }
        if offset >= GUEST_GICD_V3_SIZE {
            return Err(VgicError::BadOffset {
                frame: FRAME,
                offset,
            });
        }
        let ok = match size {
            AccessSize::Word => offset.is_multiple_of(4),
            AccessSize::Byte => matches!(offset, 0x400..0xc00),
            AccessSize::Double => {
                offset.is_multiple_of(8) && matches!(offset, IROUTER..IROUTER_END)
            }
            AccessSize::Half => false,
        };
        if ok {
            Ok(())
        } else {
            Err(VgicError::BadAccessSize {
                frame: FRAME,
                offset,
                size,
            })
        }
    }

    /// Emulates a guest read of the GICv3 distributor at `offset` by `vcpu`; `kick` gains the
    /// vCPUs to kick for a fresher answer (see `bank_read`).
    pub fn distributor_v3_read(
        &self,
        offset: u64,
        size: AccessSize,
        vcpu: VcpuId,
        kick: &mut VcpuSet,
    ) -> Result<u64, VgicError> {
        self.check_vcpu(vcpu)?;
        self.check_v3(offset, size)?;
        let value = match offset {
            CTLR => {
                (self.group_enabled[0] as u32
                    | (self.group_enabled[1] as u32) << 1
                    | CTLR_ARE
                    | CTLR_DS) as u64
            }
            TYPER => self.typer_v3() as u64,
            IIDR_OFFSET => IIDR as u64,
            // With affinity routing the redistributors hold SGIs and PPIs, and ITARGETSR is unused.
            0x800..0xc00 => 0,
            BANK_START..BANK_END => match BankRegister::decode(offset) {
                Some((register, first)) if first >= SPI_FIRST => {
                    self.bank_read(vcpu, register, first, size, kick) as u64
                }
                _ => 0,
            },
            IROUTER_FIRST..IROUTER_END => {
                let route = self
                    .irq(vcpu, router_intid(offset))
                    .map_or(0, |irq| irq.route);
                half(route, offset, size)
            }
            ID_BLOCK..GUEST_GICD_V3_SIZE => {
                id_register(GicVersion::V3, offset.saturating_sub(ID_BLOCK)).unwrap_or(0) as u64
            }
            // TYPER2, STATUSR, IGRPMODR, NSACR, SGIR and everything reserved read as zero.
            _ => 0,
        };
        Ok(value)
    }

    /// Emulates a guest write to the GICv3 distributor at `offset` by `vcpu`.
    pub fn distributor_v3_write(
        &mut self,
        offset: u64,
        size: AccessSize,
        vcpu: VcpuId,
        value: u64,
    ) -> Result<Effects, VgicError> {
        self.touch();
        self.check_vcpu(vcpu)?;
        self.check_v3(offset, size)?;
        let effects = match offset {
            CTLR => {
                self.group_enabled = [value & 1 != 0, value & 2 != 0];
                Effects::kick(VcpuSet(super::effects::all_vcpus(self.vcpu_count)))
            }
            0x800..0xc00 => Effects::NONE,
            BANK_START..BANK_END => match BankRegister::decode(offset) {
                Some((register, first)) if first >= SPI_FIRST => {
                    self.bank_write(vcpu, register, first, size, value as u32)
                }
                _ => Effects::NONE,
            },
            IROUTER_FIRST..IROUTER_END => self.write_irouter(vcpu, offset, size, value),
            _ => Effects::NONE,
        };
        Ok(effects)
    }

    /// Writes all or half of a `GICD_IROUTER<n>` (IHI 0069, "GICD_IROUTER<n>").
    fn write_irouter(
        &mut self,
        vcpu: VcpuId,
        offset: u64,
        size: AccessSize,
        value: u64,
    ) -> Effects {
        let intid = router_intid(offset);
        let before = self.interested(vcpu, intid);
        let old_target = self.target(vcpu, intid);
        let Some(irq) = self.irq_mut(vcpu, intid) else {
            return Effects::NONE;
        };
        let route = match (size, offset % 8) {
            (AccessSize::Double, _) => value,
            (_, 0) => (irq.route & !0xffff_ffff) | (value & 0xffff_ffff),
            _ => (irq.route & 0xffff_ffff) | ((value & 0xffff_ffff) << 32),
        };
        irq.route = route & (IROUTER_AFFINITY | IROUTER_IRM);
        let hw = irq.hw.is_some();
        let mut effects = Effects {
            hw_base: intid,
            ..Effects::NONE
        };
        if hw && self.target(vcpu, intid) != old_target {
            effects.hw_retarget = 1;
        }
        effects.kick = VcpuSet(before.0 | self.interested(vcpu, intid).0);
        effects
    }
}

/// The INTID a `GICD_IROUTER<n>` offset belongs to.
const fn router_intid(offset: u64) -> IntId {
    (offset.saturating_sub(IROUTER) / 8) as IntId
}

/// A 64-bit register value as a 64-bit read, or the 32-bit half at `offset`.
pub(super) const fn half(value: u64, offset: u64, size: AccessSize) -> u64 {
    match size {
        AccessSize::Double => value,
        _ if offset.is_multiple_of(8) => value & 0xffff_ffff,
        _ => value >> 32,
    }
}
