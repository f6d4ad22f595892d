//! A polling driver for the guest's GIC: enable a private interrupt, acknowledge and end
//! interrupts with PSTATE.I masked (a pending interrupt still ends a WFI), so the guests need
//! no interrupt vectors. GICv2 through its memory-mapped distributor and CPU interface
//! (IHI 0048B.b chapter 4), GICv3 through the distributor, the boot vCPU's redistributor and
//! the `ICC_*_EL1` system registers (IHI 0069, chapters 12).

use core::arch::asm;

use crate::config::Gic;

/// `GICD_CTLR`: both groups forwarded.
const GICD_CTLR_ENABLE_BOTH: u32 = 0b11;
const GICD_IGROUPR0: usize = 0x080;
const GICD_ISENABLER0: usize = 0x100;
const GICD_ICPENDR0: usize = 0x280;
const GICD_ISACTIVER0: usize = 0x300;
const GICD_IPRIORITYR: usize = 0x400;
const GICD_ITARGETSR: usize = 0x800;
/// `GICD_IROUTER<n>`, 8 bytes per SPI from INTID 0's slot (GICv3).
const GICD_IROUTER: usize = 0x6000;
const GICC_HPPIR: usize = 0x018;
const GICC_CTLR: usize = 0x000;
const GICC_PMR: usize = 0x004;
const GICC_IAR: usize = 0x00c;
const GICC_EOIR: usize = 0x010;
/// `GICR_WAKER` and its `ProcessorSleep` and `ChildrenAsleep` bits.
const GICR_WAKER: usize = 0x014;
const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
/// The redistributor's SGI and PPI frame follows its control frame.
const GICR_SGI_FRAME: usize = 0x1_0000;
/// INTIDs 1020 to 1023 name no interrupt.
const FIRST_SPECIAL: u32 = 1020;

/// The guest's GIC, driven by polling from its boot vCPU.
#[derive(Clone, Copy, Debug)]
pub struct InterruptController {
    gic: Gic,
}

impl InterruptController {
    /// # Safety
    /// `gic`'s frames must be this guest's GIC, mapped as Device memory (the boot code maps
    /// everything outside RAM so), and only this driver may use them.
    pub unsafe fn new(gic: Gic) -> Self {
        Self { gic }
    }

    /// Unmasks every priority on this vCPU's CPU interface and enables the private interrupt
    /// `intid` (below 32) at `priority`, as group 0 on a GICv2 and group 1 on a GICv3.
    pub fn enable_private(&self, intid: u32, priority: u8) {
        let bit = 1u32 << (intid % 32);
        match self.gic {
            Gic::V2 { distributor, cpu_interface } => {
                write32(distributor, 0, GICD_CTLR_ENABLE_BOTH);
                write8(distributor, GICD_IPRIORITYR + intid as usize, priority);
                write32(distributor, GICD_ISENABLER0, bit);
                write32(cpu_interface, GICC_PMR, 0xff);
                write32(cpu_interface, GICC_CTLR, 1);
            }
            Gic::V3 { distributor, redistributor } => {
                write32(distributor, 0, GICD_CTLR_ENABLE_BOTH);
                let waker = read32(redistributor, GICR_WAKER) & !WAKER_PROCESSOR_SLEEP;
                write32(redistributor, GICR_WAKER, waker);
                while read32(redistributor, GICR_WAKER) & WAKER_CHILDREN_ASLEEP != 0 {
                    core::hint::spin_loop();
                }
                let frame = redistributor + GICR_SGI_FRAME as u64;
                let groups = read32(frame, GICD_IGROUPR0);
                write32(frame, GICD_IGROUPR0, groups | bit);
                write8(frame, GICD_IPRIORITYR + intid as usize, priority);
                write32(frame, GICD_ISENABLER0, bit);
                // SAFETY: ICC_PMR_EL1 and ICC_IGRPEN1_EL1 only change which interrupts this
                // vCPU's interface signals.
                unsafe {
                    asm!("msr S3_0_C4_C6_0, {}", "msr S3_0_C12_C12_7, {}", "isb",
                        in(reg) 0xffu64, in(reg) 1u64, options(nostack, preserves_flags))
                };
            }
        }
    }

    /// Enables SPI `intid` at `priority` for this vCPU (vCPU 0, the boot vCPU): group 1 on a
    /// GICv3, routed to affinity 0; on a GICv2 targeted at CPU interface 0. Call
    /// [`InterruptController::enable_private`] first for the CPU interface.
    pub fn enable_spi(&self, intid: u32, priority: u8) {
        let (word, bit) = (4 * (intid / 32) as usize, 1u32 << (intid % 32));
        match self.gic {
            Gic::V2 { distributor, .. } => {
                write8(distributor, GICD_IPRIORITYR + intid as usize, priority);
                write8(distributor, GICD_ITARGETSR + intid as usize, 1);
                write32(distributor, GICD_ISENABLER0 + word, bit);
            }
            Gic::V3 { distributor, .. } => {
                let groups = read32(distributor, GICD_IGROUPR0 + word);
                write32(distributor, GICD_IGROUPR0 + word, groups | bit);
                write8(distributor, GICD_IPRIORITYR + intid as usize, priority);
                write64(distributor, GICD_IROUTER + 8 * intid as usize, 0);
                write32(distributor, GICD_ISENABLER0 + word, bit);
            }
        }
    }

    /// Clears the pending state of SPI `intid` (`GICD_ICPENDR<n>`).
    pub fn clear_pending(&self, intid: u32) {
        let (word, bit) = (4 * (intid / 32) as usize, 1u32 << (intid % 32));
        write32(self.distributor(), GICD_ICPENDR0 + word, bit);
    }

    /// Whether SPI `intid` is active, as the distributor reads it (`GICD_ISACTIVER<n>`).
    pub fn is_active(&self, intid: u32) -> bool {
        let (word, bit) = (4 * (intid / 32) as usize, 1u32 << (intid % 32));
        read32(self.distributor(), GICD_ISACTIVER0 + word) & bit != 0
    }

    /// The INTID of the most urgent interrupt pending at this vCPU's interface, without
    /// acknowledging it (`GICC_HPPIR`, `ICC_HPPIR1_EL1`); `None` when nothing is pending.
    pub fn highest_pending(&self) -> Option<u32> {
        let intid = match self.gic {
            Gic::V2 { cpu_interface, .. } => read32(cpu_interface, GICC_HPPIR) & 0x3ff,
            Gic::V3 { .. } => {
                let value: u64;
                // SAFETY: reading ICC_HPPIR1_EL1 changes nothing and touches no memory.
                unsafe { asm!("mrs {}, S3_0_C12_C12_2", out(reg) value, options(nomem, nostack, preserves_flags)) };
                value as u32 & 0xff_ffff
            }
        };
        (!(FIRST_SPECIAL..1024).contains(&intid)).then_some(intid)
    }

    fn distributor(&self) -> u64 {
        match self.gic {
            Gic::V2 { distributor, .. } | Gic::V3 { distributor, .. } => distributor,
        }
    }

    /// Acknowledges the most urgent pending interrupt: the raw `IAR` value (to give back to
    /// [`InterruptController::end`]) and its INTID; `None` when nothing is pending.
    pub fn acknowledge(&self) -> Option<(u32, u32)> {
        let raw = match self.gic {
            Gic::V2 { cpu_interface, .. } => read32(cpu_interface, GICC_IAR),
            Gic::V3 { .. } => {
                let value: u64;
                // SAFETY: reading ICC_IAR1_EL1 acknowledges an interrupt; it touches no memory.
                unsafe { asm!("mrs {}, S3_0_C12_C12_0", out(reg) value, options(nomem, nostack, preserves_flags)) };
                value as u32
            }
        };
        let intid = match self.gic {
            Gic::V2 { .. } => raw & 0x3ff,
            Gic::V3 { .. } => raw & 0xff_ffff,
        };
        (!(FIRST_SPECIAL..1024).contains(&intid)).then_some((raw, intid))
    }

    /// Ends (drops the priority of and deactivates) an acknowledged interrupt.
    pub fn end(&self, raw: u32) {
        match self.gic {
            Gic::V2 { cpu_interface, .. } => write32(cpu_interface, GICC_EOIR, raw),
            // SAFETY: writing ICC_EOIR1_EL1 ends an interrupt; it touches no memory.
            Gic::V3 { .. } => unsafe {
                asm!("msr S3_0_C12_C12_1, {}", "isb", in(reg) u64::from(raw), options(nostack, preserves_flags))
            },
        }
    }
}

// The accessors are `asm!` with plain register addressing: a compiler-chosen load or store
// with write-back gives no instruction syndrome (Arm ARM D17.2.40, ESR_ELx.ISV = 0), and a
// hypervisor that emulates the GIC (Xen) cannot decode it.

fn read32(base: u64, offset: usize) -> u32 {
    let value: u32;
    // SAFETY: `new`'s contract makes `base` a mapped GIC frame; offsets are its registers.
    unsafe {
        asm!("ldr {:w}, [{}]", out(reg) value, in(reg) base as usize + offset,
            options(nostack, readonly, preserves_flags))
    };
    value
}

fn write32(base: u64, offset: usize, value: u32) {
    // SAFETY: as for `read32`.
    unsafe {
        asm!("str {:w}, [{}]", in(reg) value, in(reg) base as usize + offset,
            options(nostack, preserves_flags))
    };
}

fn write64(base: u64, offset: usize, value: u64) {
    // SAFETY: as for `read32`; GICD_IROUTER<n> is a 64-bit register.
    unsafe {
        asm!("str {}, [{}]", in(reg) value, in(reg) base as usize + offset,
            options(nostack, preserves_flags))
    };
}

fn write8(base: u64, offset: usize, value: u8) {
    // SAFETY: as for `read32`; priority registers are byte-accessible.
    unsafe {
        asm!("strb {:w}, [{}]", in(reg) u32::from(value), in(reg) base as usize + offset,
            options(nostack, preserves_flags))
    };
}
