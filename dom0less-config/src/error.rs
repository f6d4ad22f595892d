//! Configuration errors and warnings: one variant per problem, each naming the node and values.

use alloc::string::String;
use core::fmt;

use crate::devicetree::{AddressRange, DtError};

/// What a memory range collided with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Region {
    /// A domain's `xen,static-mem` bank.
    StaticMemory { node: String },
    /// A boot module (kernel, ramdisk or partial device tree).
    Module { node: String },
    /// The hypervisor image.
    Hypervisor,
    /// A `/reserved-memory` node or `/memreserve/` entry.
    Reserved { source: String },
    /// A static shared memory region.
    SharedMemory { id: String },
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StaticMemory { node } => write!(f, "static memory of {node}"),
            Self::Module { node } => write!(f, "module {node}"),
            Self::Hypervisor => write!(f, "the hypervisor image"),
            Self::Reserved { source } => write!(f, "reserved memory {source}"),
            Self::SharedMemory { id } => write!(f, "shared memory region \"{id}\""),
        }
    }
}

/// Why a partition cannot take its interrupts directly (`bulkhead,irq-delivery = "direct"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectRefusal {
    /// The host's interrupt controller is not a GICv3 (`found`: its `compatible`, or none).
    NotGicV3 { found: String },
    /// Its pool does not pin one vCPU per CPU.
    NotNullPool { pool: String, scheduler: &'static str },
    /// Another partition runs in its pool.
    SharedPool { pool: String, other: String },
    /// Its pool holds the boot CPU, which keeps the console's interrupt.
    BootCpu { pool: String, cpu: String },
    /// `bulkhead,trap-wfi`: its WFI must wait on its own core.
    TrapWfi,
    /// `xen,enhanced`: the event-channel upcall is a virtual interrupt it would never see.
    Enhanced,
    /// Passthrough devices: their SPIs are not forwarded to the physical GIC yet.
    Passthrough { device: String },
}

/// One problem that makes a configuration unusable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The blob itself is malformed.
    DeviceTree(DtError),
    /// A property could not be decoded.
    BadProperty {
        node: String,
        property: String,
        error: DtError,
    },
    /// The tree has no `/chosen` node or no `xen,domain` node under it.
    NoDomains,
    /// A required property is missing.
    MissingProperty {
        node: String,
        property: &'static str,
    },
    /// A property has a value outside what the binding allows.
    InvalidValue {
        node: String,
        property: String,
        value: String,
        expected: &'static str,
    },
    /// A property that neither Xen's binding nor this project defines.
    UnknownProperty { node: String, property: String },
    /// A domain has no `multiboot,kernel` module.
    MissingKernel { domain: String },
    /// A domain has two modules of one kind.
    DuplicateModule {
        domain: String,
        kind: &'static str,
        first: String,
        second: String,
    },
    /// `memory` does not equal the sum of `xen,static-mem` banks.
    StaticMemorySizeMismatch {
        domain: String,
        memory_kib: u64,
        static_bytes: u64,
    },
    /// `direct-map` without `xen,static-mem`.
    DirectMapWithoutStaticMemory { domain: String },
    /// An address or size is not 4 KiB aligned.
    Misaligned {
        node: String,
        property: &'static str,
        range: AddressRange,
    },
    /// Two memory users overlap.
    MemoryOverlap {
        node: String,
        range: AddressRange,
        other: Region,
        other_range: AddressRange,
    },
    /// A range lies (partly) outside host RAM.
    OutsideRam {
        node: String,
        property: &'static str,
        range: AddressRange,
    },
    /// Dynamically allocated memory exceeds the RAM left free.
    OutOfMemory { requested: u64, free: u64 },
    /// A CPU is listed by two cpupools.
    CpuInTwoPools {
        cpu: String,
        first: String,
        second: String,
    },
    /// A cpupool lists no CPUs.
    EmptyPool { pool: String },
    /// A `null`-scheduled pool has more vCPUs than CPUs.
    NullPoolOvercommitted { pool: String, vcpus: u32, cpus: u32 },
    /// `bulkhead,irq-delivery = "direct"` on a partition that cannot have it.
    DirectDelivery { domain: String, refusal: DirectRefusal },
    /// `bulkhead,weight` or `bulkhead,cap` on a partition whose pool is not credit2.
    Credit2Only {
        domain: String,
        property: &'static str,
        value: u32,
        pool: String,
        scheduler: &'static str,
    },
    /// `bulkhead,cap` above 100% per vCPU.
    CapTooLarge {
        domain: String,
        cap: u32,
        vcpus: u32,
    },
    /// A pool names a scheduler this project does not know.
    UnknownScheduler { pool: String, name: String },
    /// A phandle that points nowhere.
    DanglingPhandle {
        node: String,
        property: &'static str,
        phandle: u32,
    },
    /// A phandle that points at the wrong kind of node.
    WrongPhandleTarget {
        node: String,
        property: &'static str,
        target: String,
        expected: &'static str,
    },
    /// `hard-affinity` names a CPU outside the domain's pool or the host.
    AffinityOutsidePool {
        node: String,
        cpu: u32,
        pool: String,
    },
    /// A `xen,vcpu` id is out of range or repeated.
    BadVcpuId { node: String, id: u32, vcpus: u32 },
    /// Two event channels of one domain use the same local port.
    DuplicatePort {
        domain: String,
        port: u32,
        first: String,
        second: String,
    },
    /// An event channel's peer does not link back to it.
    ChannelNotMutual {
        node: String,
        remote: String,
        remote_links_to: String,
    },
    /// `bulkhead,evtchn-peers` names a domain that does not exist.
    UnknownPeer { domain: String, name: String },
    /// A static event channel joins two domains one of which does not admit the other in
    /// `bulkhead,evtchn-peers`.
    ChannelNotPermitted { domain: String, port: u32, peer: String },
    /// A static event channel outside any domain (a dom0 channel).
    ChannelOutsideDomain { node: String },
    /// No domain, but boot modules directly under `/chosen`: dom0's kernel and ramdisk, and
    /// there is no dom0.
    Dom0Only { node: String },
    /// A shared memory region no node gives a host address (Xen would choose one).
    SharedMemoryNoHost { id: String, node: String },
    /// Two nodes of one shared memory id disagree on the host range.
    SharedMemoryMismatch {
        id: String,
        node: String,
        range: AddressRange,
        other: String,
        other_range: AddressRange,
    },
    /// Two owners for one shared memory id.
    SharedMemoryOwners {
        id: String,
        first: String,
        second: String,
    },
    /// A device (by host path) is assigned to two domains.
    DeviceAssignedTwice {
        device: String,
        first: String,
        second: String,
    },
    /// An interrupt is assigned to two domains.
    InterruptAssignedTwice {
        irq: u32,
        first: String,
        second: String,
    },
    /// A passthrough device is not usable as declared.
    BadPassthrough {
        node: String,
        device: String,
        reason: &'static str,
    },
    /// A passthrough interrupt that the hypervisor or the partition's own virtual devices use.
    InterruptReserved {
        node: String,
        device: String,
        irq: u32,
        user: &'static str,
    },
    /// A device that can do DMA, given without an IOMMU to a partition that is not
    /// direct-mapped: its DMA addresses would be the guest's, not the host's.
    DmaNeedsDirectMap { domain: String, device: String },
    /// Two domains with the same name.
    DuplicateDomain { name: String },
    /// More of something than this crate supports (the caps in [`crate::limits`]).
    TooMany {
        node: String,
        limit: crate::limits::Limit,
        count: usize,
    },
    /// The list stopped at [`crate::MAX_ERRORS`] errors; this many more were left out.
    MoreErrors { omitted: usize },
}

impl From<DtError> for ConfigError {
    fn from(error: DtError) -> Self {
        Self::DeviceTree(error)
    }
}

/// Something legal that the plan does not act on; `check` reports it, nothing drops it silently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warning {
    /// A legal Xen property this project does not model yet; it is kept in the plan.
    NotSupportedYet { node: String, property: String },
    /// A node under `/chosen` that belongs to dom0 (there is no dom0 here).
    Dom0Ignored { node: String },
    /// A partial device tree module whose contents were not available to inspect.
    PartialTreeNotInspected { domain: String, module: String },
    /// The list stopped at [`crate::MAX_WARNINGS`] warnings; this many more were left out.
    MoreWarnings { omitted: usize },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotSupportedYet { node, property } => {
                write!(f, "{node}: `{property}` is valid Xen but not supported yet; it is kept and has no effect")
            }
            Self::Dom0Ignored { node } => write!(f, "{node}: dom0 configuration is ignored (partitions are dom0less only)"),
            Self::PartialTreeNotInspected { domain, module } => write!(
                f,
                "{domain}: passthrough device tree {module} was not available, so its devices were not checked"
            ),
            Self::MoreWarnings { omitted } => write!(
                f,
                "{omitted} more warnings were left out (at most {} are listed)",
                crate::MAX_WARNINGS
            ),
        }
    }
}
