//! The partition's vGIC state: configuration, every interrupt's state, and the operations devices use.

use super::effects::{Effects, VcpuSet};
use super::error::VgicError;
use super::irq::{is_private, IntId, IrqState, Trigger, PRIVATE_COUNT, SPI_FIRST};
use super::list_register::LrState;
use super::{GicVersion, VcpuId, MAX_LIST_REGISTERS, MAX_SPIS, MAX_VCPUS};

/// What a partition's vGIC looks like; the validated partition plan provides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VgicConfig {
    /// GIC architecture version the guest sees.
    pub version: GicVersion,
    /// Number of vCPUs, 1 to [`MAX_VCPUS`].
    pub vcpus: usize,
    /// Number of SPIs (the config's `nr_spis`, or enough for the partition's devices); rounded up
    /// to a multiple of 32 as `GICD_TYPER.ITLinesNumber` describes, at most [`MAX_SPIS`].
    pub spis: usize,
}

/// What a vCPU's list registers held after its last flush.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct LrShadow {
    /// The INTID put into the list register.
    pub intid: IntId,
    /// The state it was given.
    pub state: Option<LrState>,
}

/// One vCPU's private state: its SGIs and PPIs, its redistributor's wake state, its list registers.
#[derive(Clone, Copy, Debug)]
pub(super) struct VcpuState {
    pub private: [IrqState; PRIVATE_COUNT],
    /// `GICR_WAKER.ProcessorSleep` (GICv3).
    pub asleep: bool,
    /// Entries written by the last flush, cleared by sync.
    pub shadow: [LrShadow; MAX_LIST_REGISTERS],
    /// Number of valid entries in `shadow`.
    pub shadow_len: usize,
    /// `Vgic::changes` when this vCPU's list registers were last filled.
    pub flushed_at: u64,
    /// The last sync found the list registers exactly as the last flush left them and nothing
    /// had changed since: `shadow` still describes them, and the next flush may leave them be.
    pub kept: bool,
    /// The private interrupts a flush must look at, one bit per INTID 0 to 31 (see
    /// [`Vgic::spi_stirred`]).
    pub stirred: u32,
}

impl VcpuState {
    const fn new() -> Self {
        let mut private = [IrqState::new(Trigger::Level); PRIVATE_COUNT];
        let mut intid = 0;
        while intid < PRIVATE_COUNT {
            private[intid] = IrqState::reset(intid as IntId);
            intid = intid.saturating_add(1);
        }
        VcpuState {
            private,
            asleep: true,
            shadow: [LrShadow {
                intid: 0,
                state: None,
            }; MAX_LIST_REGISTERS],
            shadow_len: 0,
            flushed_at: 0,
            kept: false,
            stirred: 0,
        }
    }
}

/// A partition's virtual GIC (distributor, redistributors and the list-register state machine).
///
/// It is about 50 KiB: build it in place with [`Vgic::boxed_empty`] and [`Vgic::configure`]
/// rather than on a small stack.
#[derive(Clone, Debug)]
pub struct Vgic {
    pub(super) version: GicVersion,
    pub(super) vcpu_count: usize,
    pub(super) spi_count: usize,
    /// `GICD_CTLR.EnableGrp0` and `EnableGrp1`.
    pub(super) group_enabled: [bool; 2],
    pub(super) spis: [IrqState; MAX_SPIS],
    pub(super) vcpus: [VcpuState; MAX_VCPUS],
    /// Counts the changes made from outside the list-register state machine (injections,
    /// register writes, SGIs): a vCPU whose list registers were filled at the current count,
    /// and that the guest left untouched, needs no new fill.
    pub(super) changes: u64,
    /// Interrupts made pending from outside the guest's own acknowledgements: injections,
    /// rising lines, SGIs (the operator's `irq`).
    pub(super) raised: u64,
    /// Mapped SPIs whose physical interrupt the hypervisor must deactivate, found since
    /// [`Vgic::take_released`] last ran, one bit per SPI: forwarded ones the guest has
    /// deactivated, and mapped ones whose pending state the guest cleared while a list
    /// register held them and before it acknowledged them.
    pub(super) released: [u32; SPI_WORDS],
    /// Whether `released` has any bit set.
    pub(super) any_released: bool,
    /// The SPIs a flush must look at, one bit per SPI: set whenever an SPI's state is borrowed
    /// for a change ([`Vgic::irq_mut`], the one way to change it), cleared by a flush that
    /// finds the SPI quiet ([`IrqState::is_quiet`]). So a flush visits the few interrupts that
    /// are pending, active or asserted (and those changed since the last flush), not all of them.
    ///
    /// Invariant: an interrupt that is not quiet has its bit set, here for SPIs and in its
    /// vCPU's [`VcpuState::stirred`] for SGIs and PPIs.
    pub(super) spi_stirred: [u32; SPI_WORDS],
    /// One bit per word of `spi_stirred` that may be non-zero.
    pub(super) spi_stirred_words: u32,
}

/// Words of a bitmap with one bit per SPI.
pub(super) const SPI_WORDS: usize = MAX_SPIS.div_ceil(32);
// The summary of `Vgic::spi_stirred` has one bit per word.
const _: () = assert!(SPI_WORDS <= 32);

impl Vgic {
    /// A vGIC with no vCPUs, to be configured in place.
    pub const fn empty() -> Self {
        Vgic {
            version: GicVersion::V2,
            vcpu_count: 0,
            spi_count: 0,
            group_enabled: [false; 2],
            spis: [IrqState::new(Trigger::Level); MAX_SPIS],
            vcpus: [VcpuState::new(); MAX_VCPUS],
            changes: 1,
            raised: 0,
            released: [0; SPI_WORDS],
            any_released: false,
            spi_stirred: [0; SPI_WORDS],
            spi_stirred_words: 0,
        }
    }

    /// A vGIC with no vCPUs on the heap, to be configured in place: built where it lives,
    /// never on the stack (`Box::new(Vgic::empty())` builds the 50 KiB value on the stack
    /// first and copies it, and so did the old `configure`: 103 KiB of stack at boot and on
    /// every partition restart).
    pub fn boxed_empty() -> alloc::boxed::Box<Self> {
        // Adding a field makes this fail to compile until the writes below set it too.
        let _every_field_is_written = |v: Vgic| {
            let Vgic { version: _, vcpu_count: _, spi_count: _, group_enabled: _, spis: _, vcpus: _, changes: _, raised: _, released: _, any_released: _, spi_stirred: _, spi_stirred_words: _ } = v;
        };
        let mut slot = alloc::boxed::Box::<Self>::new_uninit();
        let vgic = slot.as_mut_ptr();
        // SAFETY: `vgic` points to memory for one `Vgic`, allocated above and owned by `slot`.
        // Each field is written through a raw pointer to it (no reference to uninitialised
        // memory is made), the arrays element by element, and the destructuring above lists
        // every field, so all of them are initialised when `assume_init` runs.
        unsafe {
            core::ptr::addr_of_mut!((*vgic).version).write(GicVersion::V2);
            core::ptr::addr_of_mut!((*vgic).vcpu_count).write(0);
            core::ptr::addr_of_mut!((*vgic).spi_count).write(0);
            core::ptr::addr_of_mut!((*vgic).group_enabled).write([false; 2]);
            let spis = core::ptr::addr_of_mut!((*vgic).spis).cast::<IrqState>();
            for i in 0..MAX_SPIS {
                spis.add(i).write(IrqState::new(Trigger::Level));
            }
            let vcpus = core::ptr::addr_of_mut!((*vgic).vcpus).cast::<VcpuState>();
            for i in 0..MAX_VCPUS {
                vcpus.add(i).write(VcpuState::new());
            }
            core::ptr::addr_of_mut!((*vgic).changes).write(1);
            core::ptr::addr_of_mut!((*vgic).raised).write(0);
            core::ptr::addr_of_mut!((*vgic).released).write([0; SPI_WORDS]);
            core::ptr::addr_of_mut!((*vgic).any_released).write(false);
            core::ptr::addr_of_mut!((*vgic).spi_stirred).write([0; SPI_WORDS]);
            core::ptr::addr_of_mut!((*vgic).spi_stirred_words).write(0);
            slot.assume_init()
        }
    }

    /// Puts every field back as [`Vgic::empty`] has it, in place (no 50 KiB temporary).
    fn clear(&mut self) {
        self.version = GicVersion::V2;
        self.vcpu_count = 0;
        self.spi_count = 0;
        self.group_enabled = [false; 2];
        self.spis.fill(IrqState::new(Trigger::Level));
        self.vcpus.fill(VcpuState::new());
        self.changes = 1;
        self.raised = 0;
        self.released.fill(0);
        self.any_released = false;
        self.spi_stirred.fill(0);
        self.spi_stirred_words = 0;
    }

    /// A vGIC in its reset state for `config`.
    pub fn new(config: VgicConfig) -> Result<Self, VgicError> {
        let mut vgic = Self::empty();
        vgic.configure(config)?;
        Ok(vgic)
    }

    /// Resets this vGIC to `config`: every interrupt disabled, inactive and not pending.
    pub fn configure(&mut self, config: VgicConfig) -> Result<(), VgicError> {
        if config.vcpus == 0 || config.vcpus > MAX_VCPUS {
            return Err(VgicError::TooManyVcpus {
                requested: config.vcpus,
                max: MAX_VCPUS,
            });
        }
        if config.spis > MAX_SPIS {
            return Err(VgicError::TooManySpis {
                requested: config.spis,
                max: MAX_SPIS,
            });
        }
        let spis = config.spis.div_ceil(32).saturating_mul(32);
        self.clear();
        self.version = config.version;
        self.vcpu_count = config.vcpus;
        self.spi_count = spis.min(MAX_SPIS);
        Ok(())
    }

    /// Records a change from outside the list-register state machine.
    pub(super) fn touch(&mut self) {
        self.changes = self.changes.wrapping_add(1);
    }

    /// Moves the change count without raising an interrupt: a vCPU about to park, which
    /// compares [`Vgic::changes`] with what it read before, stays awake (a Xen poll woken by
    /// its ports, which the upcall does not signal when they are masked).
    pub fn wake_waiters(&mut self) {
        self.touch();
    }

    /// How many interrupts were raised for the guest (injections, rising lines, SGIs).
    pub const fn raised(&self) -> u64 {
        self.raised
    }

    /// The change count: it moves whenever an interrupt is injected or the guest's view
    /// changes. A vCPU parked while it stayed the same missed no interrupt.
    pub const fn changes(&self) -> u64 {
        self.changes
    }

    /// The GIC version the guest sees.
    pub const fn version(&self) -> GicVersion {
        self.version
    }

    /// Number of vCPUs.
    pub const fn vcpu_count(&self) -> usize {
        self.vcpu_count
    }

    /// Number of SPIs implemented (a multiple of 32, except 988 at the top).
    pub const fn spi_count(&self) -> usize {
        self.spi_count
    }

    /// One past the highest implemented INTID.
    pub const fn intid_limit(&self) -> IntId {
        (SPI_FIRST as usize).saturating_add(self.spi_count) as IntId
    }

    /// Checks a vCPU index.
    pub(super) fn check_vcpu(&self, vcpu: VcpuId) -> Result<(), VgicError> {
        if vcpu.0 < self.vcpu_count {
            Ok(())
        } else {
            Err(VgicError::NoSuchVcpu {
                vcpu,
                count: self.vcpu_count,
            })
        }
    }

    /// The state of `intid` as `vcpu` sees it (its own bank for SGIs and PPIs).
    pub(super) fn irq(&self, vcpu: VcpuId, intid: IntId) -> Option<&IrqState> {
        if is_private(intid) {
            self.vcpus.get(vcpu.0)?.private.get(intid as usize)
        } else if intid < self.intid_limit() {
            self.spis.get(intid.saturating_sub(SPI_FIRST) as usize)
        } else {
            None
        }
    }

    /// Mutable state of `intid` as `vcpu` sees it, the one way to change an interrupt's
    /// state: it marks the interrupt stirred, for the next flush to look at.
    pub(super) fn irq_mut(&mut self, vcpu: VcpuId, intid: IntId) -> Option<&mut IrqState> {
        if is_private(intid) {
            let state = self.vcpus.get_mut(vcpu.0)?;
            let irq = state.private.get_mut(intid as usize)?;
            state.stirred |= 1 << (intid % 32);
            Some(irq)
        } else if intid < self.intid_limit() {
            let spi = intid.saturating_sub(SPI_FIRST) as usize;
            let irq = self.spis.get_mut(spi)?;
            if let Some(word) = self.spi_stirred.get_mut(spi / 32) {
                *word |= 1 << (spi % 32);
                // `spi` is below MAX_SPIS: the word index is below 32.
                self.spi_stirred_words |= 1 << (spi / 32);
            }
            Some(irq)
        } else {
            None
        }
    }

    fn irq_checked(&mut self, vcpu: VcpuId, intid: IntId) -> Result<&mut IrqState, VgicError> {
        self.check_vcpu(vcpu)?;
        self.irq_mut(vcpu, intid)
            .ok_or(VgicError::NoSuchInterrupt { intid })
    }

    /// The affinity of a vCPU in `GICD_IROUTER` layout (Aff3 in bits 39:32, Aff2:Aff1:Aff0 in
    /// 23:0): Aff0 = index mod 16, Aff1 = index / 16. The caller programs `VMPIDR_EL2` to match.
    pub const fn vcpu_affinity(vcpu: VcpuId) -> u64 {
        ((vcpu.0 as u64 / 16) << 8) | (vcpu.0 as u64 % 16)
    }

    /// The vCPU with a given affinity (`GICD_IROUTER` layout), if any.
    pub(super) fn vcpu_with_affinity(&self, affinity: u64) -> Option<VcpuId> {
        (0..self.vcpu_count)
            .map(VcpuId)
            .find(|v| Self::vcpu_affinity(*v) == affinity)
    }

    /// The vCPU an interrupt is delivered to, seen from `vcpu` for private ones.
    pub(super) fn target(&self, vcpu: VcpuId, intid: IntId) -> Option<VcpuId> {
        if is_private(intid) {
            return Some(vcpu);
        }
        let irq = self.irq(vcpu, intid)?;
        match self.version {
            GicVersion::V2 => {
                let targets = irq.targets as u32 & super::effects::all_vcpus(self.vcpu_count);
                (targets != 0).then(|| VcpuId(targets.trailing_zeros() as usize))
            }
            GicVersion::V3 => {
                if irq.route & IROUTER_IRM != 0 {
                    Some(VcpuId(0))
                } else {
                    self.vcpu_with_affinity(irq.route & IROUTER_AFFINITY)
                }
            }
        }
    }

    /// The vCPU whose list registers should hold `intid`: the one it is active on, else its target.
    pub(super) fn delivery_vcpu(&self, vcpu: VcpuId, intid: IntId) -> Option<VcpuId> {
        if is_private(intid) {
            return Some(vcpu);
        }
        match self.irq(vcpu, intid)? {
            IrqState {
                active: true,
                active_vcpu: Some(holder),
                ..
            } => Some(VcpuId(*holder as usize)),
            _ => self.target(vcpu, intid),
        }
    }

    /// Whether a group's interrupts are forwarded (`GICD_CTLR`).
    pub(super) fn group_on(&self, group1: bool) -> bool {
        self.group_enabled[group1 as usize]
    }

    /// The vCPUs that must look again at `intid` after its state changed: its owner if a list
    /// register holds it, and its target if it now wants a list register.
    pub(super) fn interested(&self, vcpu: VcpuId, intid: IntId) -> VcpuSet {
        let mut set = VcpuSet::EMPTY;
        let Some(irq) = self.irq(vcpu, intid) else {
            return set;
        };
        if let Some(owner) = irq.owner {
            set.insert(VcpuId(owner as usize));
        }
        if irq.wants_list_register(self.group_on(irq.group1)) {
            if let Some(target) = self.delivery_vcpu(vcpu, intid) {
                set.insert(target);
            }
        }
        set
    }

    /// A rising edge on `intid` (or one firing of a hardware-mapped interrupt the hypervisor
    /// acknowledged): it becomes pending. `vcpu` selects the bank for SGIs and PPIs.
    pub fn inject(&mut self, vcpu: VcpuId, intid: IntId) -> Result<Effects, VgicError> {
        self.touch();
        let irq = self.irq_checked(vcpu, intid)?;
        irq.set_pending(None);
        // A mapped interrupt is injected when the hypervisor took the physical one: it stays
        // active there until someone deactivates it. Taken again while a list register still
        // names it, its previous activation was ended there before the sync saw it (the vCPU
        // runs on another CPU than the one that took it): the sync must not end this one.
        irq.physical_active |= irq.hw.is_some();
        irq.reactivated_in_lr |= irq.hw.is_some() && irq.owner.is_some();
        self.raised = self.raised.wrapping_add(1);
        Ok(Effects::kick(self.interested(vcpu, intid)))
    }

    /// Sets the input level of a level-sensitive interrupt driven by a virtual device. For an
    /// edge-triggered interrupt a rising level is an edge.
    pub fn set_level(
        &mut self,
        vcpu: VcpuId,
        intid: IntId,
        level: bool,
    ) -> Result<Effects, VgicError> {
        let irq = self.irq_checked(vcpu, intid)?;
        if irq.line == level {
            // The same level again (a device re-evaluating its line on every access): no change.
            return Ok(Effects::NONE);
        }
        self.touch();
        let irq = self.irq_checked(vcpu, intid)?;
        let rising = level && !irq.line;
        irq.line = level;
        if rising && irq.trigger == Trigger::Edge {
            irq.set_pending(None);
        }
        if rising {
            self.raised = self.raised.wrapping_add(1);
        }
        Ok(Effects::kick(self.interested(vcpu, intid)))
    }

    /// Maps a virtual interrupt to a physical one: list registers carry the HW bit, so the guest's
    /// deactivation deactivates the physical interrupt. The hypervisor acknowledges the physical
    /// interrupt with a priority drop only (EOImode 1) and calls [`Vgic::inject`].
    pub fn map_hw(&mut self, vcpu: VcpuId, intid: IntId, physical: u32) -> Result<(), VgicError> {
        self.touch();
        self.irq_checked(vcpu, intid)?.hw = Some(physical);
        Ok(())
    }

    /// Makes `intid` of `vcpu` an interrupt the hypervisor raises as single events with
    /// [`Vgic::inject`] while it holds the source quiet until the guest re-arms it: the
    /// virtual timer, which the hypervisor masks (`CNTV_CTL_EL0.IMASK`) when it fires, and the
    /// event-channel upcall (PPI 31), raised once each time `evtchn_upcall_pending` goes from
    /// 0 to 1, as Xen does. Its pending state is a latch whatever trigger the guest
    /// configures, so no maintenance interrupt follows its deactivation.
    pub fn set_latched(&mut self, vcpu: VcpuId, intid: IntId) -> Result<(), VgicError> {
        self.touch();
        self.irq_checked(vcpu, intid)?.latched = true;
        Ok(())
    }

    /// Forwards physical SPI `physical` to virtual SPI `intid` by software (device passthrough):
    /// see [`IrqState::forwarded`]. The caller acknowledges the physical interrupt with a
    /// priority drop only, calls [`Vgic::inject`], and after every sync deactivates what
    /// [`Vgic::take_released`] hands back. Enabling, disabling, deactivating or retargeting
    /// the virtual SPI by register asks for the same on the physical one (`Effects`).
    pub fn map_forwarded(&mut self, intid: IntId, physical: u32) -> Result<(), VgicError> {
        if is_private(intid) {
            return Err(VgicError::NoSuchInterrupt { intid });
        }
        self.touch();
        let irq = self.irq_checked(VcpuId(0), intid)?;
        irq.hw = Some(physical);
        irq.forwarded = true;
        Ok(())
    }

    /// Records that the physical SPI behind mapped SPI `intid` must be deactivated (the guest
    /// deactivated the forwarded SPI, or cleared the pending state of one it never took).
    pub(super) fn release(&mut self, intid: IntId) {
        let spi = intid.wrapping_sub(SPI_FIRST) as usize;
        if let Some(word) = self.released.get_mut(spi / 32) {
            *word |= 1 << (spi % 32);
            self.any_released = true;
        }
    }

    /// Hands over the physical INTIDs of the mapped SPIs to deactivate found since the last
    /// call (each once: see [`Vgic::released`]), for the caller to deactivate. Costs nothing
    /// when there are none.
    pub fn take_released(&mut self, mut deactivate: impl FnMut(u32)) {
        if !self.any_released {
            return;
        }
        self.any_released = false;
        for word in 0..self.released.len() {
            let mut bits = core::mem::take(&mut self.released[word]);
            while bits != 0 {
                let bit = bits.trailing_zeros();
                // `bits` is not zero; a small array's word index.
                bits &= bits.wrapping_sub(1);
                let intid = SPI_FIRST.wrapping_add((word as u32).wrapping_mul(32)).wrapping_add(bit);
                if let Some(physical) = self.irq(VcpuId(0), intid).and_then(|irq| irq.hw) {
                    deactivate(physical);
                }
            }
        }
    }

    /// The vCPU an SPI is delivered to now (its target), for routing the physical interrupt
    /// behind a forwarded one.
    pub fn spi_target(&self, intid: IntId) -> Option<VcpuId> {
        if is_private(intid) {
            return None;
        }
        self.target(VcpuId(0), intid)
    }

    /// The physical INTID a virtual one is mapped to.
    pub fn hw_mapping(&self, vcpu: VcpuId, intid: IntId) -> Option<u32> {
        self.irq(vcpu, intid)?.hw
    }

    /// Whether `intid` reads as pending for `vcpu` in `GICD_ISPENDR`: the distributor's state
    /// with what list registers hold folded in (`observed.rs`).
    pub fn is_pending(&self, vcpu: VcpuId, intid: IntId) -> bool {
        self.observed(vcpu, intid).is_some_and(|seen| seen.pending)
    }

    /// Whether `intid` reads as active for `vcpu` in `GICD_ISACTIVER` (as [`Vgic::is_pending`]).
    pub fn is_active(&self, vcpu: VcpuId, intid: IntId) -> bool {
        self.observed(vcpu, intid).is_some_and(|seen| seen.active)
    }
}

/// `GICD_IROUTER.Interrupt_Routing_Mode`: any participating PE.
pub(super) const IROUTER_IRM: u64 = 1 << 31;
/// `GICD_IROUTER` affinity fields: Aff3 (39:32), Aff2 (23:16), Aff1 (15:8), Aff0 (7:0).
pub(super) const IROUTER_AFFINITY: u64 = 0xff_00ff_ffff;
