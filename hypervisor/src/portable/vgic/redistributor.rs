//! GICv3 virtual redistributors, one per vCPU: the RD_base frame (control, `TYPER`, `WAKER`) and the
//! SGI_base frame (the vCPU's SGIs and PPIs) (Arm IHI 0069, chapter 12, "The GIC Redistributor
//! register map").

use super::bank::BankRegister;
use super::distributor_v3::half;
use super::effects::{Effects, VcpuSet};
use super::error::VgicError;
use super::ident::{id_register, ID_BLOCK_FROM_END, IIDR};
use super::irq::SPI_FIRST;
use super::state::Vgic;
use super::{AccessSize, GicVersion, VcpuId, GUEST_GICR_STRIDE};

const FRAME: &str = "GICv3 redistributor";
const FRAME_SIZE: u64 = 0x1_0000;

const IIDR_OFFSET: u64 = 0x0004;
const TYPER: u64 = 0x0008;
const WAKER: u64 = 0x0014;
const ID_BLOCK: u64 = FRAME_SIZE - ID_BLOCK_FROM_END;

/// `GICR_TYPER.Last`: the last redistributor of the region.
const TYPER_LAST: u64 = 1 << 4;
/// `GICR_WAKER.ProcessorSleep`.
const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
/// `GICR_WAKER.ChildrenAsleep`.
const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;

impl Vgic {
    /// `GICR_TYPER` of a vCPU's redistributor: affinity in bits 63:32 (Aff3:Aff2:Aff1:Aff0),
    /// Processor_Number in 23:8, Last on the final one, no physical or virtual LPIs.
    pub fn redistributor_typer(&self, vcpu: VcpuId) -> u64 {
        let route = Self::vcpu_affinity(vcpu);
        let affinity = (((route >> 32) & 0xff) << 24) | (route & 0xff_ffff);
        let mut typer = (affinity << 32) | ((vcpu.0 as u64 & 0xffff) << 8);
        if vcpu.0.saturating_add(1) == self.vcpu_count {
            typer |= TYPER_LAST;
        }
        typer
    }

    /// Splits an offset in the redistributor region into the vCPU it belongs to, whether it is
    /// in the SGI_base frame, and the offset inside that frame; checks the access width.
    fn locate(&self, offset: u64, size: AccessSize) -> Result<(VcpuId, bool, u64), VgicError> {
        if self.version != GicVersion::V3 {
            return Err(VgicError::WrongVersion {
                operation: "a GICv3 redistributor access",
            });
        }
        let owner = VcpuId((offset / GUEST_GICR_STRIDE) as usize);
        if owner.0 >= self.vcpu_count {
            return Err(VgicError::BadOffset {
                frame: FRAME,
                offset,
            });
        }
        let sgi_frame = offset % GUEST_GICR_STRIDE >= FRAME_SIZE;
        let local = offset % FRAME_SIZE;
        let ok = match size {
            AccessSize::Word => local.is_multiple_of(4),
            AccessSize::Byte => sgi_frame && matches!(local, 0x400..0x420),
            AccessSize::Double => !sgi_frame && local == TYPER,
            AccessSize::Half => false,
        };
        if ok {
            Ok((owner, sgi_frame, local))
        } else {
            Err(VgicError::BadAccessSize {
                frame: FRAME,
                offset,
                size,
            })
        }
    }

    /// Emulates a guest read at `offset` from the start of the redistributor region
    /// ([`super::GUEST_GICR_BASE`]); the frame accessed selects the vCPU, not the reader.
    /// `kick` gains the vCPUs to kick for a fresher answer (see `bank_read`).
    pub fn redistributor_read(&self, offset: u64, size: AccessSize, kick: &mut VcpuSet) -> Result<u64, VgicError> {
        let (owner, sgi_frame, local) = self.locate(offset, size)?;
        let value = if sgi_frame {
            match BankRegister::decode(local) {
                Some((register, first))
                    if first < SPI_FIRST && register != BankRegister::Targets =>
                {
                    self.bank_read(owner, register, first, size, kick) as u64
                }
                // IGRPMODR0, NSACR and reserved registers read as zero.
                _ => 0,
            }
        } else {
            match local {
                IIDR_OFFSET => IIDR as u64,
                TYPER | 0x000c => half(self.redistributor_typer(owner), local, size),
                WAKER => {
                    let asleep = self.vcpus.get(owner.0).is_some_and(|v| v.asleep);
                    if asleep {
                        (WAKER_PROCESSOR_SLEEP | WAKER_CHILDREN_ASLEEP) as u64
                    } else {
                        0
                    }
                }
                ID_BLOCK..FRAME_SIZE => {
                    id_register(GicVersion::V3, local.saturating_sub(ID_BLOCK)).unwrap_or(0) as u64
                }
                // CTLR (no LPIs, RWP clear), STATUSR, PROPBASER, PENDBASER and reserved: zero.
                _ => 0,
            }
        };
        Ok(value)
    }

    /// Emulates a guest write at `offset` from the start of the redistributor region.
    pub fn redistributor_write(
        &mut self,
        offset: u64,
        size: AccessSize,
        value: u64,
    ) -> Result<Effects, VgicError> {
        self.touch();
        let (owner, sgi_frame, local) = self.locate(offset, size)?;
        if sgi_frame {
            return Ok(match BankRegister::decode(local) {
                Some((register, first))
                    if first < SPI_FIRST && register != BankRegister::Targets =>
                {
                    self.bank_write(owner, register, first, size, value as u32)
                }
                _ => Effects::NONE,
            });
        }
        if local == WAKER {
            if let Some(state) = self.vcpus.get_mut(owner.0) {
                state.asleep = value as u32 & WAKER_PROCESSOR_SLEEP != 0;
            }
        }
        // CTLR (EnableLPIs is RES0 without LPIs), TYPER, IIDR and the ID registers ignore writes.
        Ok(Effects::NONE)
    }
}
