//! The GICv2 virtual distributor: `GICD_*` registers of a 4 KiB frame (Arm IHI 0048B.b, 4.3).

use super::bank::{BankRegister, BANK_END, BANK_START};
use super::effects::{Effects, VcpuSet};
use super::error::VgicError;
use super::ident::{id_register, ID_BLOCK_FROM_END, IIDR};
use super::irq::PPI_FIRST;
use super::sgi::SgiRequest;
use super::state::Vgic;
use super::{AccessSize, GicVersion, VcpuId, GUEST_GICD_V2_SIZE};

const FRAME: &str = "GICv2 distributor";

const CTLR: u64 = 0x000;
const TYPER: u64 = 0x004;
const IIDR_OFFSET: u64 = 0x008;
const SGIR: u64 = 0xf00;
const CPENDSGIR: u64 = 0xf10;
const SPENDSGIR: u64 = 0xf20;
const SGI_PENDING_END: u64 = 0xf30;
const ID_BLOCK: u64 = GUEST_GICD_V2_SIZE - ID_BLOCK_FROM_END;

/// `GICD_TYPER.ITLinesNumber` for a number of SPIs: lines = 32 * (N + 1).
pub(super) const fn it_lines_number(spis: usize) -> u32 {
    // The number of 32-interrupt blocks, SGIs and PPIs included, less one.
    spis.saturating_add(32).div_ceil(32).saturating_sub(1) as u32
}

impl Vgic {
    /// `GICD_TYPER` for GICv2: ITLinesNumber, CPUNumber (vCPUs - 1), no security extensions.
    pub fn typer_v2(&self) -> u32 {
        it_lines_number(self.spi_count) | (((self.vcpu_count as u32).saturating_sub(1) & 0x7) << 5)
    }

    fn check_v2(&self, offset: u64, size: AccessSize) -> Result<(), VgicError> {
        if self.version != GicVersion::V2 {
            return Err(VgicError::WrongVersion {
                operation: "a GICv2 distributor access",
            });
        }
        if offset >= GUEST_GICD_V2_SIZE {
            return Err(VgicError::BadOffset {
                frame: FRAME,
                offset,
            });
        }
        let byte_ok = matches!(offset, 0x400..0xc00 | CPENDSGIR..SGI_PENDING_END);
        match size {
            AccessSize::Word if offset.is_multiple_of(4) => Ok(()),
            AccessSize::Byte if byte_ok => Ok(()),
            _ => Err(VgicError::BadAccessSize {
                frame: FRAME,
                offset,
                size,
            }),
        }
    }

    /// Emulates a guest read of the GICv2 distributor at `offset` by `vcpu`; `kick` gains the
    /// vCPUs to kick for a fresher answer (see `bank_read`).
    pub fn distributor_v2_read(
        &self,
        offset: u64,
        size: AccessSize,
        vcpu: VcpuId,
        kick: &mut VcpuSet,
    ) -> Result<u32, VgicError> {
        self.check_vcpu(vcpu)?;
        self.check_v2(offset, size)?;
        let value = match offset {
            CTLR => self.group_enabled[0] as u32 | (self.group_enabled[1] as u32) << 1,
            TYPER => self.typer_v2(),
            IIDR_OFFSET => IIDR,
            BANK_START..BANK_END => match BankRegister::decode(offset) {
                Some((register, first)) => self.bank_read(vcpu, register, first, size, kick),
                None => 0,
            },
            CPENDSGIR..SGI_PENDING_END => {
                let first = (offset & 0xf) as u32;
                let mut value = 0;
                for index in 0..size.bytes() as u32 {
                    let intid = first.saturating_add(index);
                    let Some(irq) = self.irq(vcpu, intid) else { continue };
                    // The source a list register presents is pending too, until the guest
                    // acknowledges it (`Vgic::observed`; a reader's own SGIs read exactly).
                    let listed = self.observed(vcpu, intid).is_some_and(|seen| seen.listed_pending);
                    let sources = irq.sgi_sources | if listed { 1u8 << (irq.lr_source % 8) } else { 0 };
                    value |= (sources as u32) << index.wrapping_mul(8);
                }
                value
            }
            ID_BLOCK..GUEST_GICD_V2_SIZE => {
                id_register(GicVersion::V2, offset.saturating_sub(ID_BLOCK)).unwrap_or(0)
            }
            // GICD_SGIR is write-only; reserved registers read as zero.
            _ => 0,
        };
        Ok(value)
    }

    /// Emulates a guest write to the GICv2 distributor at `offset` by `vcpu`.
    pub fn distributor_v2_write(
        &mut self,
        offset: u64,
        size: AccessSize,
        vcpu: VcpuId,
        value: u32,
    ) -> Result<Effects, VgicError> {
        self.touch();
        self.check_vcpu(vcpu)?;
        self.check_v2(offset, size)?;
        let effects = match offset {
            CTLR => {
                self.group_enabled = [value & 1 != 0, value & 2 != 0];
                Effects::kick(VcpuSet(super::effects::all_vcpus(self.vcpu_count)))
            }
            BANK_START..BANK_END => match BankRegister::decode(offset) {
                Some((register, first)) => self.bank_write(vcpu, register, first, size, value),
                None => Effects::NONE,
            },
            SGIR => match SgiRequest::from_gicd_sgir(value) {
                Some(request) => self.send_sgi(vcpu, &request)?,
                None => Effects::NONE,
            },
            CPENDSGIR..SGI_PENDING_END => {
                let set = offset >= SPENDSGIR;
                let first = (offset & 0xf) as u32;
                let mut effects = Effects::NONE;
                for index in 0..size.bytes() as u32 {
                    let sources =
                        (value >> index.wrapping_mul(8)) as u8 & super::effects::all_vcpus(self.vcpu_count) as u8;
                    effects.kick.0 |= self.change_sgi_sources(vcpu, first.saturating_add(index), sources, set).0;
                }
                effects
            }
            // TYPER, IIDR and the ID registers are read-only; reserved registers ignore writes.
            _ => Effects::NONE,
        };
        Ok(effects)
    }

    /// Sets or clears the per-source pending bits of one of `vcpu`'s SGIs (`GICD_SPENDSGIR`,
    /// `GICD_CPENDSGIR`, IHI 0048B 4.3.16 and 4.3.17).
    fn change_sgi_sources(&mut self, vcpu: VcpuId, intid: u32, sources: u8, set: bool) -> VcpuSet {
        if sources == 0 || intid >= PPI_FIRST {
            return VcpuSet::EMPTY;
        }
        let before = self.interested(vcpu, intid);
        let Some(irq) = self.irq_mut(vcpu, intid) else {
            return VcpuSet::EMPTY;
        };
        if set {
            irq.sgi_sources |= sources;
            irq.pending_latch = true;
        } else {
            irq.sgi_sources &= !sources;
            if irq.owner.is_some() && sources & (1 << irq.lr_source) != 0 {
                irq.clear_pending_in_lr = true;
            }
            irq.pending_latch = irq.sgi_sources != 0;
        }
        VcpuSet(before.0 | self.interested(vcpu, intid).0)
    }
}
