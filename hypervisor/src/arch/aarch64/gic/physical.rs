//! [`Gic`]: the physical GIC of either version behind one API, set up once and shared.

use super::regs::Acknowledged;
use super::v2::GicV2;
use super::v3::GicV3;
use super::virtual_interface::VirtualInterface;
use super::GicError;
use boards::Trigger;
use boards::GicLayout;
use spin::Once;

static GIC: Once<Gic> = Once::new();

/// The physical interrupt controller.
pub struct Gic {
    version: Version,
    virtual_interface: VirtualInterface,
}

#[allow(clippy::large_enum_variant, reason = "one instance, in a static")]
enum Version {
    V2(GicV2),
    V3(GicV3),
}

impl Gic {
    /// Sets up the distributor, on the boot CPU, once. `cpus` holds each CPU's MPIDR by
    /// index and `boot_cpu` is the calling CPU's index. Every SPI starts disabled and
    /// targeted at the boot CPU. It does not set up the boot CPU's own interface: run
    /// [`Gic::init_cpu`] there too.
    ///
    /// # Safety
    /// Every frame of `layout` (for GICv3 the redistributor region up to its last frame) must
    /// be mapped as Device memory for the rest of the program, and nothing but this driver
    /// may program them.
    pub unsafe fn init_distributor(
        layout: &GicLayout,
        cpus: &[u64],
        boot_cpu: usize,
    ) -> Result<&'static Gic, GicError> {
        if GIC.is_completed() {
            return Err(GicError::AlreadyInitialised);
        }
        let gic = match *layout {
            GicLayout::V2 {
                gicd, gicc, gich, ..
            } => Gic {
                // SAFETY: the caller's guarantee covers the distributor and CPU interface.
                version: Version::V2(unsafe { GicV2::init(gicd, gicc, cpus.len(), boot_cpu)? }),
                // SAFETY: the caller's guarantee covers the virtual interface control frame,
                // which only the handles this driver gives out use.
                virtual_interface: unsafe { VirtualInterface::v2(gich)? },
            },
            GicLayout::V3 { gicd, gicr } => {
                // SAFETY: the caller's guarantee covers the distributor and redistributors.
                let v3 = unsafe { GicV3::init(gicd, gicr, cpus, boot_cpu)? };
                // ICH_VTR_EL2 is read with the system-register interface on.
                super::v3::enable_system_registers();
                Gic {
                    version: Version::V3(v3),
                    virtual_interface: VirtualInterface::v3(),
                }
            }
        };
        let mut fresh = false;
        let stored = GIC.call_once(|| {
            fresh = true;
            gic
        });
        if !fresh {
            return Err(GicError::AlreadyInitialised);
        }
        Ok(stored)
    }

    /// The GIC, once [`Gic::init_distributor`] has run.
    pub fn get() -> Option<&'static Gic> {
        GIC.get()
    }

    /// Sets up the calling CPU's interface (and, for GICv3, its redistributor); `cpu` is its
    /// index. Run it on every CPU, the boot CPU included, before taking interrupts there.
    pub fn init_cpu(&self, cpu: usize) -> Result<(), GicError> {
        match &self.version {
            Version::V2(g) => g.init_cpu(cpu),
            Version::V3(g) => g.init_cpu(cpu),
        }
    }

    /// Enables or disables `intid`. For an SGI or PPI, `cpu` says whose; a GICv2 reaches only
    /// the calling CPU's. For an SPI, `cpu` is not used beyond being checked. Out of line:
    /// inlined, its two drivers' checks and register writes took 230 bytes at each of 15
    /// callers (partition starts and stops, passthrough, direct delivery).
    #[inline(never)]
    pub fn set_enabled(&self, intid: u32, cpu: usize, enable: bool) -> Result<(), GicError> {
        match &self.version {
            Version::V2(g) => g.set_enabled(intid, cpu, enable),
            Version::V3(g) => g.set_enabled(intid, cpu, enable),
        }
    }

    /// Sets the priority of `intid` (0 is the most urgent; GIC-400 keeps five bits).
    pub fn set_priority(&self, intid: u32, cpu: usize, priority: u8) -> Result<(), GicError> {
        match &self.version {
            Version::V2(g) => g.set_priority(intid, cpu, priority),
            Version::V3(g) => g.set_priority(intid, cpu, priority),
        }
    }

    /// Makes `intid` edge- or level-triggered.
    pub fn set_trigger(&self, intid: u32, cpu: usize, trigger: Trigger) -> Result<(), GicError> {
        match &self.version {
            Version::V2(g) => g.set_trigger(intid, cpu, trigger),
            Version::V3(g) => g.set_trigger(intid, cpu, trigger),
        }
    }

    /// Routes SPI `intid` to CPU `cpu` only. On GICv2 the target must have run
    /// [`Gic::init_cpu`] (its CPU interface number is learned there).
    pub fn route_spi(&self, intid: u32, cpu: usize) -> Result<(), GicError> {
        match &self.version {
            Version::V2(g) => g.route_spi(intid, cpu),
            Version::V3(g) => g.route_spi(intid, cpu),
        }
    }

    /// Acknowledges the most urgent pending interrupt of the calling CPU; `None` when none is
    /// (a spurious INTID, 1020 to 1023).
    pub fn acknowledge(&self) -> Option<Acknowledged> {
        match &self.version {
            Version::V2(g) => g.acknowledge(),
            Version::V3(g) => g.acknowledge(),
        }
    }

    /// Drops the running priority of an acknowledged interrupt. It stays active (split EOI):
    /// follow with [`Gic::deactivate`], or let the guest deactivate it through a list
    /// register's `HW` bit.
    pub fn end_of_interrupt(&self, irq: Acknowledged) {
        match &self.version {
            Version::V2(g) => g.end_of_interrupt(irq),
            Version::V3(g) => g.end_of_interrupt(irq),
        }
    }

    /// Deactivates an interrupt. For one acknowledged elsewhere, pass `Acknowledged::of(intid)`.
    pub fn deactivate(&self, irq: Acknowledged) {
        match &self.version {
            Version::V2(g) => g.deactivate(irq),
            Version::V3(g) => g.deactivate(irq),
        }
    }

    /// Deactivates SPI `intid`, acknowledged on this CPU or on another: on GICv2 at the
    /// distributor (`GICD_ICACTIVERn`), on GICv3 with `ICC_DIR_EL1`, which deactivates an SPI
    /// at the distributor too (a GICv3 keeps an SPI's active state there, in the unbanked
    /// `GICD_ISACTIVERn`). For the hypervisor's deactivations on behalf of a guest, which
    /// may run on another CPU than the one that took the interrupt.
    pub fn deactivate_spi(&self, intid: u32) -> Result<(), GicError> {
        match &self.version {
            Version::V2(g) => g.deactivate_spi(intid),
            Version::V3(g) => {
                if super::regs::is_private(intid) {
                    return Err(GicError::NotShared { intid });
                }
                g.deactivate(Acknowledged::of(intid));
                Ok(())
            }
        }
    }

    /// Sends SGI `sgi` (0 to 15) to CPU `cpu`, which must have run [`Gic::init_cpu`] on GICv2.
    pub fn send_sgi(&self, sgi: u32, cpu: usize) -> Result<(), GicError> {
        match &self.version {
            Version::V2(g) => g.send_sgi(sgi, cpu),
            Version::V3(g) => g.send_sgi(sgi, cpu),
        }
    }

    /// Number of INTIDs the distributor implements (SGIs and PPIs included).
    pub fn lines(&self) -> u32 {
        match &self.version {
            Version::V2(g) => g.lines(),
            Version::V3(g) => g.lines(),
        }
    }

    /// The GICv3 driver, for direct interrupt delivery (`gic::direct`); an error naming why
    /// not on a GICv2 or a GICv3 with two security states.
    pub fn direct(&self) -> Result<&GicV3, GicError> {
        match &self.version {
            Version::V2(_) => Err(GicError::NoDirectDelivery { why: "the GIC is a GICv2, whose CPU interface is memory-mapped" }),
            Version::V3(g) if !g.single_security_state() => Err(GicError::NoDirectDelivery {
                why: "the GICv3 has two security states (GICD_CTLR.DS is 0), so Group 0 belongs to the Secure world",
            }),
            Version::V3(g) => Ok(g),
        }
    }

    /// The calling CPU's virtual interface control.
    pub fn virtual_interface(&self) -> VirtualInterface {
        self.virtual_interface
    }
}
