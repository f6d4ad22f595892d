//! The physical GICv3: distributor with affinity routing, one redistributor per CPU, and the
//! system-register CPU interface (IHI 0069 chapters 2, 4 and 12; section numbers are those of
//! issue H.b).
//!
//! The `arm-gic` crate drives the distributor and redistributor registers and the common
//! CPU interface accesses; this module finds each CPU's redistributor, serialises access to
//! the shared frames, and sets the EL2-specific controls (`ICC_SRE_EL2`, split EOI).

use super::regs::{is_private, Acknowledged, GicdTyper, GicrTyper, Sgi1r, MPIDR_AFFINITY_MASK};
use super::sysreg::{self, ICC_CTLR_EOIMODE, ICC_CTLR_RSS};
use super::walk;
use super::GicError;
use crate::arch::aarch64::entry::MAX_CPUS;
use boards::Trigger;
use aarch64_cpu::registers::{ICC_SRE_EL2, MPIDR_EL1};
use arm_gic::gicv3::registers::{Gicd, GicdCtlr, GicrSgi};
use arm_gic::gicv3::{GicCpuInterface, GicDistributor, GicError as CrateError, GicRedistributor, Group, SecureIntGroup};
use arm_gic::{IntId, InterruptGroup, UniqueMmioPointer};
use core::ptr::NonNull;
use locks::Mutex;
use tock_registers::interfaces::{Readable, Writeable};

/// Offset of `GICR_TYPER` in a redistributor's RD_base frame (IHI 0069H.b §12.10).
const GICR_TYPER_OFFSET: usize = 0x8;
/// Offset of `GICD_TYPER` in the distributor (IHI 0069H.b §12.8).
const GICD_TYPER_OFFSET: usize = 0x4;

/// The GICv3 driver state shared by all CPUs.
pub struct GicV3 {
    distributor: Mutex<GicDistributor<'static>>,
    /// Each CPU's redistributor, by CPU index.
    redistributors: [Option<Mutex<GicRedistributor<'static>>>; MAX_CPUS],
    /// MPIDR affinity of each CPU, by index.
    cpus: heapless::Vec<u64, MAX_CPUS>,
    lines: u32,
    range_selector: bool,
    /// `GICD_CTLR.DS`: the GIC has one security state, so EL2 may own Group 0.
    single_security: bool,
    /// Each CPU's redistributor frame (RD_base), for the write-one-to-clear registers the
    /// `arm-gic` driver does not reach; written only under that redistributor's lock.
    frames: [usize; MAX_CPUS],
}

/// `GICD_CTLR.DS` (bit 6): security disabled, one security state (IHI 0069H.b §12.9.4).
const GICD_CTLR_DS: u32 = 1 << 6;
/// Offset of the SGI and PPI frame from a redistributor's RD_base (IHI 0069H.b §12.10).
const GICR_SGI_BASE: usize = 0x1_0000;
/// `GICR_ICENABLER0`, `GICR_ICPENDR0`, `GICR_ICACTIVER0` in the SGI frame (§12.11).
const GICR_ICENABLER0: usize = 0x180;
const GICR_ICPENDR0: usize = 0x280;
const GICR_ICACTIVER0: usize = 0x380;

impl GicV3 {
    /// Sets up the distributor on the boot CPU: every SPI disabled, Group 1, level-triggered,
    /// priority 0x80 and routed to the boot CPU; affinity routing on; Group 1 enabled.
    ///
    /// # Safety
    /// `gicd` and `gicr` must be the GIC distributor and first redistributor frame, mapped as
    /// Device memory (the redistributor region up to the frame with `GICR_TYPER.Last`), and
    /// nothing else may drive them.
    pub unsafe fn init(
        gicd: u64,
        gicr: u64,
        cpus: &[u64],
        boot_cpu: usize,
    ) -> Result<Self, GicError> {
        let mut table = heapless::Vec::new();
        for &mpidr in cpus {
            table
                .push(mpidr & MPIDR_AFFINITY_MASK)
                .map_err(|_| GicError::TooManyCpus {
                    count: cpus.len(),
                    max: MAX_CPUS,
                })?;
        }
        let boot_mpidr = *table.get(boot_cpu).ok_or(GicError::UnknownCpu {
            cpu: boot_cpu,
            count: table.len(),
        })?;
        // SAFETY: the caller guarantees every frame up to the last one is mapped Device memory.
        let frames = unsafe { find_frames(gicr as usize, &table)? };
        let gicd = NonNull::new(gicd as *mut Gicd).ok_or(GicError::BadAddress { address: gicd })?;
        // SAFETY: the caller guarantees the distributor is mapped; GICD_TYPER is read-only
        // and reading it has no side effects.
        let typer = GicdTyper(unsafe {
            gicd.byte_add(GICD_TYPER_OFFSET)
                .cast::<u32>()
                .read_volatile()
        });
        // SAFETY: as for GICD_TYPER: GICD_CTLR is read without side effects.
        let ctlr = unsafe { gicd.cast::<u32>().read_volatile() };
        // SAFETY: the caller guarantees `gicd` is the mapped distributor and that nothing else
        // drives it; this driver keeps the only pointer, behind a lock.
        let mut distributor = GicDistributor::new(unsafe { UniqueMmioPointer::new(gicd) });

        // Affinity routing is changed only with every group disabled (IHI 0069, `GICD_CTLR`).
        distributor.modify_control(
            GicdCtlr::EnableGrp0 | GicdCtlr::EnableGrp1NS | GicdCtlr::EnableGrp1S,
            false,
        );
        distributor.enable_all_interrupts(false);
        // Bit 4 is ARE with one security state (QEMU without EL3) and ARE_NS in the non-secure
        // view of a GIC with two (§12.9.4); both enable affinity routing for us.
        distributor.configure_default_settings();
        let lines = typer.interrupt_lines();
        for intid in super::regs::FIRST_SPI..lines {
            distributor
                .set_routing(int_id(intid)?, Some(boot_mpidr))
                .map_err(|e| crate_error(e, intid, lines))?;
        }
        // Bit 1 enables Group 1 (EnableGrp1 with one security state, EnableGrp1A in the
        // non-secure view); bit 0 is Group 0 or, non-secure, EnableGrp1 again.
        distributor.modify_control(GicdCtlr::EnableGrp0 | GicdCtlr::EnableGrp1NS, true);

        let range_selector = typer.range_selector();
        let raw_frames = frames.map(|frame| frame.map_or(0, |f| f.as_ptr() as usize));
        let redistributors = frames.map(|frame| {
            // SAFETY: each frame was found once in the walk, belongs to one CPU, and only
            // this driver drives it, behind its lock.
            frame.map(|f| Mutex::new(GicRedistributor::new(unsafe { UniqueMmioPointer::new(f) })))
        });
        Ok(GicV3 {
            distributor: Mutex::new(distributor),
            redistributors,
            cpus: table,
            lines,
            range_selector,
            single_security: ctlr & GICD_CTLR_DS != 0,
            frames: raw_frames,
        })
    }

    /// Sets up the calling CPU, which must be CPU `cpu`: system-register access for EL2 and
    /// EL1, its redistributor awake with SGIs and PPIs disabled, every priority unmasked,
    /// split priority drop and deactivation, Group 1 enabled.
    pub fn init_cpu(&self, cpu: usize) -> Result<(), GicError> {
        let expected = self.mpidr(cpu)?;
        let actual = MPIDR_EL1.get() & MPIDR_AFFINITY_MASK;
        if expected != actual {
            return Err(GicError::WrongCpu {
                cpu,
                expected,
                actual,
            });
        }
        enable_system_registers();
        {
            let mut redistributor = self.redistributor(cpu)?.lock();
            // GICR_WAKER (§12.11.42): clear ProcessorSleep, wait for ChildrenAsleep to clear. A
            // redistributor found awake already (set up before a restart) is fine.
            match redistributor.mark_core_awake() {
                Ok(()) | Err(CrateError::AlreadyAwake) => {}
                Err(e) => return Err(crate_error(e, 0, self.lines)),
            }
            // SGIs and PPIs disabled, Group 1, priority 0x80, PPIs level-triggered.
            redistributor.configure_default_settings();
            redistributor.wait_for_pending_write();
        }
        sysreg::set_icc_ctlr_el1(sysreg::icc_ctlr_el1() | ICC_CTLR_EOIMODE);
        GicCpuInterface::set_priority_mask(0xff);
        GicCpuInterface::enable_group1(true);
        aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
        Ok(())
    }

    /// Enables or disables `intid`; SGIs and PPIs on CPU `cpu`'s redistributor.
    pub fn set_enabled(&self, intid: u32, cpu: usize, enable: bool) -> Result<(), GicError> {
        let id = self.checked(intid)?;
        let result = if is_private(intid) {
            self.redistributor(cpu)?.lock().enable_interrupt(id, enable)
        } else {
            self.distributor.lock().enable_interrupt(id, enable)
        };
        result.map_err(|e| crate_error(e, intid, self.lines))
    }

    /// Sets the priority of `intid` (0 is the most urgent).
    pub fn set_priority(&self, intid: u32, cpu: usize, priority: u8) -> Result<(), GicError> {
        let id = self.checked(intid)?;
        let result = if is_private(intid) {
            self.redistributor(cpu)?
                .lock()
                .set_interrupt_priority(id, priority)
        } else {
            self.distributor.lock().set_interrupt_priority(id, priority)
        };
        result.map_err(|e| crate_error(e, intid, self.lines))
    }

    /// Sets `intid` edge- or level-triggered (SGIs are always edge-triggered).
    pub fn set_trigger(&self, intid: u32, cpu: usize, trigger: Trigger) -> Result<(), GicError> {
        let id = self.checked(intid)?;
        let trigger = match trigger {
            Trigger::Edge => arm_gic::Trigger::Edge,
            Trigger::Level => arm_gic::Trigger::Level,
        };
        let result = if is_private(intid) {
            self.redistributor(cpu)?.lock().set_trigger(id, trigger)
        } else {
            self.distributor.lock().set_trigger(id, trigger)
        };
        result.map_err(|e| crate_error(e, intid, self.lines))
    }

    /// Routes SPI `intid` to CPU `cpu` (`GICD_IROUTER<n>`, §12.9.22, with IRM 0).
    pub fn route_spi(&self, intid: u32, cpu: usize) -> Result<(), GicError> {
        let id = self.checked(intid)?;
        if is_private(intid) {
            return Err(GicError::NotShared { intid });
        }
        let mpidr = self.mpidr(cpu)?;
        self.distributor
            .lock()
            .set_routing(id, Some(mpidr))
            .map_err(|e| crate_error(e, intid, self.lines))
    }

    /// Acknowledges the most urgent pending Group 1 interrupt (`ICC_IAR1_EL1`).
    pub fn acknowledge(&self) -> Option<Acknowledged> {
        let id = GicCpuInterface::get_and_acknowledge_interrupt(InterruptGroup::Group1)?;
        Some(Acknowledged::from_v3(u32::from(id))).filter(|a| !a.is_special())
    }

    /// Drops the running priority (`ICC_EOIR1_EL1`; with EOImode 1 the interrupt stays active).
    pub fn end_of_interrupt(&self, irq: Acknowledged) {
        if let Ok(id) = IntId::try_from(irq.raw()) {
            GicCpuInterface::end_interrupt(id, InterruptGroup::Group1);
        }
    }

    /// Deactivates an interrupt (`ICC_DIR_EL1`).
    pub fn deactivate(&self, irq: Acknowledged) {
        sysreg::write_icc_dir_el1(irq.raw());
    }

    /// Sends SGI `sgi` to CPU `cpu` (`ICC_SGI1R_EL1`, §12.2).
    pub fn send_sgi(&self, sgi: u32, cpu: usize) -> Result<(), GicError> {
        let mpidr = self.mpidr(cpu)?;
        let value = Sgi1r::to_cpu(sgi, mpidr).ok_or(GicError::NoSuchSgi { sgi })?;
        if value.range_selector() != 0
            && !(self.range_selector && sysreg::icc_ctlr_el1() & ICC_CTLR_RSS != 0)
        {
            return Err(GicError::SgiTargetOutOfRange { mpidr });
        }
        sysreg::write_icc_sgi1r_el1(value.0);
        Ok(())
    }

    /// Number of INTIDs the distributor implements.
    pub fn lines(&self) -> u32 {
        self.lines
    }

    /// Whether the GIC has one security state (`GICD_CTLR.DS`), so that Group 0 is EL2's to
    /// configure (with two, Group 0 belongs to the Secure world).
    pub fn single_security_state(&self) -> bool {
        self.single_security
    }

    /// Puts SGI or PPI `intid` of CPU `cpu` in Group 0 (`group0`) or Group 1 (`GICR_IGROUPR0`,
    /// `GICR_IGRPMODR0` clear).
    pub fn set_private_group(&self, intid: u32, cpu: usize, group0: bool) -> Result<(), GicError> {
        let id = self.checked(intid)?;
        if !is_private(intid) {
            return Err(GicError::NoSuchInterrupt { intid, lines: 32 });
        }
        let group = if group0 { Group::Secure(SecureIntGroup::Group0) } else { Group::Group1NS };
        self.redistributor(cpu)?.lock().set_group(id, group).map_err(|e| crate_error(e, intid, self.lines))
    }

    /// Disables, clears the pending state of and deactivates CPU `cpu`'s SGIs and PPIs in
    /// `mask` (bit n: INTID n) through `GICR_ICENABLER0`, `GICR_ICPENDR0`, `GICR_ICACTIVER0`.
    pub fn clear_private(&self, cpu: usize, mask: u32) -> Result<(), GicError> {
        let redistributor = self.redistributor(cpu)?.lock();
        let base = self.frames.get(cpu).copied().unwrap_or(0);
        if base == 0 {
            return Err(GicError::NoRedistributor { cpu, mpidr: self.mpidr(cpu)? });
        }
        for offset in [GICR_ICENABLER0, GICR_ICPENDR0, GICR_ICACTIVER0] {
            // SAFETY: `base` is this CPU's redistributor frame, found and mapped at `init`
            // (its SGI frame follows RD_base); these write-one-to-clear registers change
            // interrupt state only, and the redistributor's lock is held.
            unsafe { ((base + GICR_SGI_BASE + offset) as *mut u32).write_volatile(mask) };
        }
        redistributor.wait_for_pending_write();
        Ok(())
    }

    /// Sends Group 0 SGI `sgi` to CPU `cpu` (`ICC_SGI0R_EL1`).
    pub fn send_sgi_group0(&self, sgi: u32, cpu: usize) -> Result<(), GicError> {
        let mpidr = self.mpidr(cpu)?;
        let value = Sgi1r::to_cpu(sgi, mpidr).ok_or(GicError::NoSuchSgi { sgi })?;
        if value.range_selector() != 0
            && !(self.range_selector && sysreg::icc_ctlr_el1() & ICC_CTLR_RSS != 0)
        {
            return Err(GicError::SgiTargetOutOfRange { mpidr });
        }
        super::direct::send_sgi0(value.0);
        Ok(())
    }

    fn mpidr(&self, cpu: usize) -> Result<u64, GicError> {
        self.cpus.get(cpu).copied().ok_or(GicError::UnknownCpu {
            cpu,
            count: self.cpus.len(),
        })
    }

    fn redistributor(&self, cpu: usize) -> Result<&Mutex<GicRedistributor<'static>>, GicError> {
        let mpidr = self.mpidr(cpu)?;
        self.redistributors
            .get(cpu)
            .and_then(Option::as_ref)
            .ok_or(GicError::NoRedistributor { cpu, mpidr })
    }

    fn checked(&self, intid: u32) -> Result<IntId, GicError> {
        if intid >= self.lines {
            return Err(GicError::NoSuchInterrupt {
                intid,
                lines: self.lines,
            });
        }
        int_id(intid)
    }
}

/// Turns on the system-register CPU interface of the calling CPU for EL2 and EL1
/// (`ICC_SRE_EL2`, IHI 0069H.b §12.2): SRE selects it at EL2 (and is needed for the `ICH_*`
/// registers); Enable lets EL1 reach `ICC_SRE_EL1`, which with IMO/FMO set is the guest's
/// virtual one.
pub fn enable_system_registers() {
    ICC_SRE_EL2.write(ICC_SRE_EL2::SRE::SET + ICC_SRE_EL2::ENABLE::SET);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

fn int_id(intid: u32) -> Result<IntId, GicError> {
    IntId::try_from(intid).map_err(|_| GicError::NoSuchInterrupt { intid, lines: 0 })
}

fn crate_error(e: CrateError, intid: u32, lines: u32) -> GicError {
    match e {
        CrateError::InvalidRedistributorIndex(cpu) => GicError::UnknownCpu { cpu, count: 0 },
        _ => GicError::NoSuchInterrupt { intid, lines },
    }
}

/// Finds each CPU's redistributor frame.
///
/// # Safety
/// Every frame from `base` up to the one with `GICR_TYPER.Last` set, or up to the one where
/// all CPUs are found, must be mapped as Device memory.
unsafe fn find_frames(
    base: usize,
    cpus: &[u64],
) -> Result<[Option<NonNull<GicrSgi>>; MAX_CPUS], GicError> {
    let mut found = [None; MAX_CPUS];
    walk::find_redistributors(base, cpus, &mut found, |frame| {
        // SAFETY: the walk reads only frames up to the last one or the last one needed, which
        // the caller guarantees are mapped; GICR_TYPER is a read-only 64-bit register.
        GicrTyper(unsafe { ((frame + GICR_TYPER_OFFSET) as *const u64).read_volatile() })
    })
    .map_err(|cpu| GicError::NoRedistributor {
        cpu,
        mpidr: cpus.get(cpu).copied().unwrap_or(0),
    })?;
    Ok(found.map(|frame| frame.and_then(|f| NonNull::new(f as *mut GicrSgi))))
}
