//! The state of one virtual interrupt, as the distributor and the list registers see it.

/// First PPI INTID.
pub const PPI_FIRST: u32 = 16;
/// First SPI INTID.
pub const SPI_FIRST: u32 = 32;
/// Number of private interrupts (SGIs and PPIs) per vCPU.
pub const PRIVATE_COUNT: usize = 32;
/// Priority bits the virtual CPU interface keeps: five, as in the GICv2 list registers and
/// QEMU's `ICH_VTR_EL2.PRIbits`. Lower bits of `IPRIORITYR` read as zero.
pub const PRIORITY_MASK: u8 = 0xf8;

/// An interrupt identifier (INTID), 0 to 1019.
pub type IntId = u32;

/// Whether an INTID is a software-generated interrupt.
pub const fn is_sgi(intid: IntId) -> bool {
    intid < PPI_FIRST
}

/// Whether an INTID is private to a vCPU (SGI or PPI).
pub const fn is_private(intid: IntId) -> bool {
    intid < SPI_FIRST
}

pub use boards::Trigger;

/// One virtual interrupt's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqState {
    /// Forwarded to the CPU interface when pending (`GICD_ISENABLER`).
    pub enabled: bool,
    /// Latched pending state: an edge, a software set-pending, or an SGI.
    pub pending_latch: bool,
    /// Input level of a level-sensitive interrupt driven by software (a virtual device).
    pub line: bool,
    /// Acknowledged and not yet deactivated.
    pub active: bool,
    /// Group 1 (`GICD_IGROUPR` bit set).
    pub group1: bool,
    /// Edge or level.
    pub trigger: Trigger,
    /// Priority, lower is more urgent; only [`PRIORITY_MASK`] bits kept.
    pub priority: u8,
    /// GICv2 `GICD_ITARGETSR` byte (SPIs only).
    pub targets: u8,
    /// GICv3 `GICD_IROUTER` value (SPIs only): Aff3 in bits 39:32, IRM in bit 31, Aff2:Aff1:Aff0.
    pub route: u64,
    /// Physical INTID when the interrupt is hardware-mapped (the list register's HW bit), or
    /// forwarded (below).
    pub hw: Option<u32>,
    /// A physical SPI forwarded by software (device passthrough): the hypervisor acknowledges
    /// the physical interrupt with a priority drop and leaves it active; the list register
    /// has no HW bit but asks for an EOI maintenance interrupt, and when the guest has
    /// deactivated it the hypervisor deactivates the physical one from its own CPU interface
    /// ([`super::Vgic::take_released`]). Unlike the HW bit this makes every GIC, QEMU's GICv2
    /// included, look at the physical line again.
    pub forwarded: bool,
    /// Mapped interrupts ([`Self::hw`]): the hypervisor took the physical interrupt (it is
    /// active at the physical GIC, acknowledged with a priority drop only) and nothing has
    /// deactivated it since. Set by an injection; cleared when the guest's deactivation
    /// reaches the physical GIC (a hardware-mapped list register, as the sync finds it,
    /// unless it was taken again since: [`Self::reactivated_in_lr`]) or the hypervisor
    /// deactivates it (a forwarded one's release, a clear-active, an unlisted EOI, or a
    /// clear-pending that leaves the guest nothing to deactivate).
    pub physical_active: bool,
    /// Mapped interrupts: injected again while a list register still named it, that is, the
    /// physical interrupt was taken again after the guest's deactivation through a
    /// hardware-mapped list register (or the hypervisor's) reached the GIC but before the
    /// sync that folds that list register back. That list register's deactivation is then
    /// the previous activation's: the physical interrupt is active again.
    pub reactivated_in_lr: bool,
    /// The hypervisor raises it as single events and holds its source quiet until the guest
    /// re-arms it (the virtual timer, masked at EL2 when it fires, as Xen does): its pending
    /// state is a latch consumed when a list register takes it, whatever trigger the guest
    /// configured, and its deactivation needs no maintenance interrupt.
    pub latched: bool,
    /// The vCPU whose list registers hold this interrupt, between its flush and its sync.
    pub owner: Option<u8>,
    /// The vCPU that acknowledged it, while active: an active SPI stays there until deactivated,
    /// even if the guest routes it elsewhere meanwhile.
    pub active_vcpu: Option<u8>,
    /// A clear-pending arrived while a list register held the interrupt.
    pub clear_pending_in_lr: bool,
    /// A clear-active arrived while a list register held the interrupt.
    pub clear_active_in_lr: bool,
    /// GICv2 SGIs: the source vCPUs that made this SGI pending, one bit each.
    pub sgi_sources: u8,
    /// GICv2 SGIs: the source vCPU presented in the list register.
    pub lr_source: u8,
}

impl IrqState {
    /// The reset state for an interrupt: disabled, inactive, priority 0, group 0.
    pub const fn new(trigger: Trigger) -> Self {
        IrqState {
            enabled: false,
            pending_latch: false,
            line: false,
            active: false,
            group1: false,
            trigger,
            priority: 0,
            targets: 0,
            route: 0,
            hw: None,
            forwarded: false,
            physical_active: false,
            reactivated_in_lr: false,
            latched: false,
            owner: None,
            active_vcpu: None,
            clear_pending_in_lr: false,
            clear_active_in_lr: false,
            sgi_sources: 0,
            lr_source: 0,
        }
    }

    /// Reset state for an INTID: SGIs are edge-triggered, PPIs and SPIs level until configured.
    pub const fn reset(intid: IntId) -> Self {
        if is_sgi(intid) {
            Self::new(Trigger::Edge)
        } else {
            Self::new(Trigger::Level)
        }
    }

    /// Pending as the GIC defines it: the latch, or an asserted level-sensitive input
    /// (IHI 0048B 4.3.7, "level-sensitive interrupts").
    pub const fn is_pending(&self) -> bool {
        self.pending_latch || (matches!(self.trigger, Trigger::Level) && self.line)
    }

    /// Sets the pending latch; for a GICv2 SGI also records the source vCPU.
    pub fn set_pending(&mut self, sgi_source: Option<u8>) {
        if let Some(source) = sgi_source {
            self.sgi_sources |= 1 << source;
        }
        self.pending_latch = true;
    }

    /// Clears the pending latch (the line of a level interrupt stays as it is).
    pub fn clear_pending(&mut self) {
        self.pending_latch = false;
        self.sgi_sources = 0;
        if self.owner.is_some() {
            self.clear_pending_in_lr = true;
        }
    }

    /// Clears the active state.
    pub fn clear_active(&mut self) {
        self.active = false;
        self.active_vcpu = None;
        if self.owner.is_some() {
            self.clear_active_in_lr = true;
        }
    }

    /// Whether the pending state follows a level input that software drives (a virtual
    /// device's line), sampled again when the guest deactivates it: level-triggered, not
    /// hardware-mapped, not latched by the hypervisor, and not an SGI.
    pub const fn level_sampled(&self, intid: IntId) -> bool {
        matches!(self.trigger, Trigger::Level) && self.hw.is_none() && !self.latched && !is_sgi(intid)
    }

    /// Neither active, nor latched pending, nor with its line high: such an interrupt never
    /// wants a list register (a cheaper test than [`Self::wants_list_register`], for scans).
    #[inline]
    pub const fn is_quiet(&self) -> bool {
        !(self.active || self.pending_latch || self.line)
    }

    /// Whether the interrupt should occupy a list register: active interrupts always (so the
    /// guest's deactivation reaches the hardware), pending ones only when enabled and their group is.
    pub const fn wants_list_register(&self, group_enabled: bool) -> bool {
        self.active || (self.enabled && group_enabled && self.is_pending())
    }
}
