//! The physical GICv2 (GIC-400): distributor and memory-mapped CPU interface
//! (IHI 0048B.b chapter 4).
//!
//! SGI and PPI registers, `GICD_ITARGETSR0..7` and the whole CPU interface are banked: each
//! CPU reaches only its own copy, so operations on them work for the calling CPU only.

use super::frame::Frame;
use super::regs::{
    is_private, spi_bit, spi_target_byte, Acknowledged, GicdTyper, PrivateTargets, Sgir, FIRST_SPI,
};
use super::GicError;
use crate::arch::aarch64::cpu;
use crate::arch::aarch64::entry::MAX_CPUS;
use boards::Trigger;
use core::sync::atomic::{AtomicU8, Ordering};
use locks::Mutex;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_structs! {
    /// The distributor (IHI 0048B Table 4-1, the distributor register map).
    pub Distributor {
        (0x000 => ctlr: ReadWrite<u32>),
        (0x004 => typer: ReadOnly<u32>),
        (0x008 => _iidr),
        (0x00c => _reserved0),
        (0x080 => _igroupr),
        (0x100 => isenabler: [ReadWrite<u32>; 32]),
        (0x180 => icenabler: [ReadWrite<u32>; 32]),
        (0x200 => _ispendr),
        (0x280 => icpendr: [ReadWrite<u32>; 32]),
        (0x300 => _isactiver),
        (0x380 => icactiver: [ReadWrite<u32>; 32]),
        (0x400 => ipriorityr: [ReadWrite<u8>; 1020]),
        (0x7fc => _reserved1),
        (0x800 => itargetsr_private: [ReadOnly<u32>; 8]),
        (0x820 => itargetsr: [ReadWrite<u8>; 988]),
        (0xbfc => _reserved2),
        (0xc00 => icfgr: [ReadWrite<u32>; 64]),
        (0xd00 => _reserved3),
        (0xf00 => sgir: WriteOnly<u32>),
        (0xf04 => _reserved4),
        (0x1000 => @END),
    }
}

register_structs! {
    /// The CPU interface (IHI 0048B, the CPU interface register map); `GICC_DIR` is on the
    /// second page.
    pub CpuInterface {
        (0x000 => ctlr: ReadWrite<u32>),
        (0x004 => pmr: ReadWrite<u32>),
        (0x008 => _bpr),
        (0x00c => iar: ReadOnly<u32>),
        (0x010 => eoir: WriteOnly<u32>),
        (0x014 => _reserved0),
        (0x1000 => dir: WriteOnly<u32>),
        (0x1004 => @END),
    }
}

/// `GICD_CTLR` / `GICC_CTLR` bit 0: Group 0 enable, or Group 1 in the non-secure view.
const CTLR_ENABLE_GROUP0: u32 = 1 << 0;
/// `GICD_CTLR` / `GICC_CTLR` bit 1 without Security Extensions: Group 1 enable.
const CTLR_ENABLE_GROUP1: u32 = 1 << 1;
/// `GICC_CTLR` bit 9: EOImode (EOImodeNS in the non-secure view): `GICC_EOIR` only drops
/// the priority, `GICC_DIR` deactivates (IHI 0048B §4.4.1).
const GICC_CTLR_EOIMODE: u32 = 1 << 9;
/// Priority given to every interrupt at set-up (GIC-400 keeps the top five bits).
const DEFAULT_PRIORITY: u8 = 0xa0;
/// A CPU interface number not yet read.
const UNKNOWN_INTERFACE: u8 = u8::MAX;

/// The GICv2 driver state shared by all CPUs.
pub struct GicV2 {
    distributor: Frame<Distributor>,
    cpu_interface: Frame<CpuInterface>,
    /// Serialises read-modify-write of shared distributor registers (`GICD_ICFGR`).
    config: Mutex<()>,
    /// Each CPU's interface number, by CPU index, read from `GICD_ITARGETSR0` on that CPU.
    interfaces: [AtomicU8; MAX_CPUS],
    cpu_count: usize,
    lines: u32,
    security_extensions: bool,
}

impl GicV2 {
    /// Sets up the distributor on the boot CPU: every SPI disabled, not pending, inactive,
    /// level-triggered, priority 0xa0 and targeted at the boot CPU; forwarding enabled.
    ///
    /// # Safety
    /// `gicd` and `gicc` must be the distributor and the CPU interface (both pages), mapped as
    /// Device memory for the rest of the program, and nothing else may drive them.
    pub unsafe fn init(
        gicd: u64,
        gicc: u64,
        cpu_count: usize,
        boot_cpu: usize,
    ) -> Result<Self, GicError> {
        if cpu_count > MAX_CPUS {
            return Err(GicError::TooManyCpus {
                count: cpu_count,
                max: MAX_CPUS,
            });
        }
        if boot_cpu >= cpu_count {
            return Err(GicError::UnknownCpu {
                cpu: boot_cpu,
                count: cpu_count,
            });
        }
        // SAFETY: the caller guarantees both frames are mapped Device memory for good and that
        // only this driver uses them; the register structs match the frames' layouts.
        let distributor = unsafe { Frame::<Distributor>::new(gicd) }
            .ok_or(GicError::BadAddress { address: gicd })?;
        // SAFETY: as above.
        let cpu_interface = unsafe { Frame::<CpuInterface>::new(gicc) }
            .ok_or(GicError::BadAddress { address: gicc })?;
        let typer = GicdTyper(distributor.typer.get());
        let gic = GicV2 {
            distributor,
            cpu_interface,
            config: Mutex::new(()),
            interfaces: [const { AtomicU8::new(UNKNOWN_INTERFACE) }; MAX_CPUS],
            cpu_count,
            lines: typer.interrupt_lines(),
            security_extensions: typer.security_extensions(),
        };
        let boot_interface = gic.read_own_interface(boot_cpu)?;
        let d = &gic.distributor;
        d.ctlr.set(0);
        let spi_words = (FIRST_SPI / 32) as usize..gic.lines.div_ceil(32) as usize;
        for word in spi_words.clone() {
            d.icenabler[word].set(u32::MAX);
            d.icpendr[word].set(u32::MAX);
            d.icactiver[word].set(u32::MAX);
        }
        for intid in FIRST_SPI..gic.lines {
            d.ipriorityr[intid as usize].set(DEFAULT_PRIORITY);
            d.itargetsr[(intid - FIRST_SPI) as usize].set(spi_target_byte(boot_interface));
        }
        // Level-triggered: ICFGR bit 2n+1 clear (IHI 0048B §4.3.13), 16 interrupts a word.
        for word in (FIRST_SPI / 16) as usize..gic.lines.div_ceil(16) as usize {
            d.icfgr[word].set(0);
        }
        // Interrupts stay in their reset group: Group 0 without Security Extensions; with
        // them, the non-secure view cannot change groups and boot firmware made ours Group 1.
        d.ctlr.set(gic.group_enables());
        Ok(gic)
    }

    /// Sets up the calling CPU, which must be CPU `cpu`: learns its interface number, disables
    /// its PPIs, sets SGI and PPI priorities, unmasks every priority and enables the interface
    /// with split priority drop and deactivation.
    pub fn init_cpu(&self, cpu: usize) -> Result<(), GicError> {
        if cpu != cpu::index() {
            return Err(GicError::BankedElsewhere {
                intid: 0,
                cpu,
                current: cpu::index(),
            });
        }
        self.read_own_interface(cpu)?;
        let d = &self.distributor;
        // PPIs off; whether SGIs can be disabled is implementation defined (§4.3.5).
        d.icenabler[0].set(0xffff_0000);
        for intid in 0..FIRST_SPI {
            d.ipriorityr[intid as usize].set(DEFAULT_PRIORITY);
        }
        let c = &self.cpu_interface;
        c.pmr.set(0xff);
        c.ctlr.set(self.group_enables() | GICC_CTLR_EOIMODE);
        Ok(())
    }

    /// Enables or disables `intid`; an SGI or PPI only on the calling CPU.
    pub fn set_enabled(&self, intid: u32, cpu: usize, enable: bool) -> Result<(), GicError> {
        self.check(intid, cpu)?;
        let (word, bit) = ((intid / 32) as usize, 1 << (intid % 32));
        if enable {
            self.distributor.isenabler[word].set(bit);
        } else {
            self.distributor.icenabler[word].set(bit);
        }
        Ok(())
    }

    /// Sets the priority of `intid` (0 is the most urgent).
    pub fn set_priority(&self, intid: u32, cpu: usize, priority: u8) -> Result<(), GicError> {
        self.check(intid, cpu)?;
        self.distributor.ipriorityr[intid as usize].set(priority);
        Ok(())
    }

    /// Sets `intid` edge- or level-triggered (§4.3.13; SGIs are always edge-triggered and
    /// whether PPIs can change is implementation defined).
    pub fn set_trigger(&self, intid: u32, cpu: usize, trigger: Trigger) -> Result<(), GicError> {
        self.check(intid, cpu)?;
        let (word, bit) = ((intid / 16) as usize, 1 << ((intid % 16) * 2 + 1));
        let _guard = self.config.lock();
        let value = self.distributor.icfgr[word].get();
        self.distributor.icfgr[word].set(match trigger {
            Trigger::Edge => value | bit,
            Trigger::Level => value & !bit,
        });
        Ok(())
    }

    /// Targets SPI `intid` at CPU `cpu` alone (`GICD_ITARGETSR<n>`, §4.3.12).
    pub fn route_spi(&self, intid: u32, cpu: usize) -> Result<(), GicError> {
        if is_private(intid) {
            return Err(GicError::NotShared { intid });
        }
        self.check(intid, cpu)?;
        let interface = self.interface_of(cpu)?;
        self.distributor.itargetsr[(intid - FIRST_SPI) as usize].set(spi_target_byte(interface));
        Ok(())
    }

    /// Acknowledges the most urgent pending interrupt (`GICC_IAR`).
    pub fn acknowledge(&self) -> Option<Acknowledged> {
        Some(Acknowledged::from_v2(self.cpu_interface.iar.get())).filter(|a| !a.is_special())
    }

    /// Drops the running priority (`GICC_EOIR`; with EOImode 1 the interrupt stays active).
    pub fn end_of_interrupt(&self, irq: Acknowledged) {
        self.cpu_interface.eoir.set(irq.raw());
    }

    /// Deactivates an interrupt (`GICC_DIR`, §4.4.15).
    pub fn deactivate(&self, irq: Acknowledged) {
        self.cpu_interface.dir.set(irq.raw());
    }

    /// Deactivates SPI `intid` at the distributor (`GICD_ICACTIVERn`, §4.3.10), whichever CPU
    /// interface acknowledged it: the distributor keeps one active state per SPI (only the
    /// SGI and PPI word, `GICD_ICACTIVER0`, is banked per CPU). `GICC_DIR` is an operation of
    /// the writing CPU's interface; this one does not depend on which CPU writes it.
    pub fn deactivate_spi(&self, intid: u32) -> Result<(), GicError> {
        let Some((word, bit)) = spi_bit(intid, self.lines) else {
            return Err(if is_private(intid) {
                GicError::NotShared { intid }
            } else {
                GicError::NoSuchInterrupt { intid, lines: self.lines }
            });
        };
        self.distributor.icactiver[word].set(bit);
        Ok(())
    }

    /// Sends SGI `sgi` to CPU `cpu` (`GICD_SGIR`, §4.3.15).
    pub fn send_sgi(&self, sgi: u32, cpu: usize) -> Result<(), GicError> {
        let interface = self.interface_of(cpu)?;
        let value = Sgir::to_cpu_interface(sgi, interface).ok_or(GicError::NoSuchSgi { sgi })?;
        // Make earlier stores visible to the target before it takes the SGI.
        aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::ISHST);
        self.distributor.sgir.set(value.0);
        Ok(())
    }

    /// Number of INTIDs the distributor implements.
    pub fn lines(&self) -> u32 {
        self.lines
    }

    /// `GICD_CTLR` / `GICC_CTLR` group enables for our view of the GIC.
    fn group_enables(&self) -> u32 {
        if self.security_extensions {
            CTLR_ENABLE_GROUP0
        } else {
            CTLR_ENABLE_GROUP0 | CTLR_ENABLE_GROUP1
        }
    }

    /// Reads the calling CPU's interface number from `GICD_ITARGETSR0` and records it.
    fn read_own_interface(&self, cpu: usize) -> Result<u8, GicError> {
        let targets = self.distributor.itargetsr_private[0].get();
        let interface = PrivateTargets(targets)
            .cpu_interface()
            .ok_or(GicError::NoCpuInterfaceNumber { cpu, targets })?;
        self.interfaces[cpu].store(interface, Ordering::Release);
        Ok(interface)
    }

    fn interface_of(&self, cpu: usize) -> Result<u8, GicError> {
        if cpu >= self.cpu_count {
            return Err(GicError::UnknownCpu {
                cpu,
                count: self.cpu_count,
            });
        }
        match self.interfaces[cpu].load(Ordering::Acquire) {
            UNKNOWN_INTERFACE => Err(GicError::CpuNotInitialised { cpu }),
            interface => Ok(interface),
        }
    }

    /// Checks that `intid` exists and, for a banked one, that `cpu` is the calling CPU.
    fn check(&self, intid: u32, cpu: usize) -> Result<(), GicError> {
        if intid >= self.lines {
            return Err(GicError::NoSuchInterrupt {
                intid,
                lines: self.lines,
            });
        }
        if cpu >= self.cpu_count {
            return Err(GicError::UnknownCpu {
                cpu,
                count: self.cpu_count,
            });
        }
        let current = cpu::index();
        if is_private(intid) && cpu != current {
            return Err(GicError::BankedElsewhere {
                intid,
                cpu,
                current,
            });
        }
        Ok(())
    }
}
