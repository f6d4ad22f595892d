//! The validated partition plan: the only configuration form the hypervisor core accepts.

use alloc::string::String;
use alloc::vec::Vec;

use crate::devicetree::{AddressRange, Property};
use crate::host::HostCpu;

/// Every partition, pool and shared region of a validated configuration.
///
/// Invariant: partitions, pools and shared regions are non-empty where referenced, and every
/// index stored in the plan (`Partition::pool`, `EventChannel::remote_partition`,
/// `SharedMapping::region`, `Placement::cpu`) is in bounds.
/// Invariant: no two static memory banks, modules, shared regions, reserved ranges or the
/// hypervisor image overlap, and all of them lie inside host RAM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionPlan {
    /// Partitions in `/chosen` order.
    pub partitions: Vec<Partition>,
    /// CPU pools; pool 0 contains the boot CPU.
    pub pools: Vec<CpuPool>,
    /// Static shared memory regions, one per `xen,shm-id`.
    pub shared_regions: Vec<SharedRegion>,
    /// The host's CPUs in `/cpus` order.
    pub cpus: Vec<HostCpu>,
    /// The hypervisor console refuses commands that change state (`/chosen`
    /// `bulkhead,console-control = "read-only"`); the default is `"read-write"`.
    pub console_read_only: bool,
    /// The partitions' memory is not zeroed before their first boot (`/chosen`
    /// `bulkhead,boot-scrub = "off"`, for firmware that already clears RAM); the default is
    /// `"on"`. A restart scrubs whatever this says.
    pub skip_boot_scrub: bool,
}

/// A validated plan plus what `check` must report without rejecting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validated {
    /// The plan.
    pub plan: PartitionPlan,
    /// Warnings such as "not supported yet" properties.
    pub warnings: Vec<crate::Warning>,
}

/// One partition (a Xen `xen,domain` node).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Node name under `/chosen`.
    pub name: String,
    /// Number of vCPUs. Invariant: at least 1 and equal to `vcpus.len()`.
    pub vcpu_count: u32,
    /// Memory assignment.
    pub memory: Memory,
    /// Whether the partition gets a virtual PL011.
    pub vpl011: bool,
    /// The `xen,enhanced` mode.
    pub enhanced: Enhanced,
    /// `nr_spis`, when given.
    pub nr_spis: Option<u32>,
    /// The kernel. Invariant: always present, inside host RAM.
    pub kernel: Module,
    /// The ramdisk, if any.
    pub ramdisk: Option<Module>,
    /// The partial device tree for passthrough, if any.
    pub device_tree: Option<Module>,
    /// Index into [`PartitionPlan::pools`].
    pub pool: usize,
    /// Per-vCPU affinity, placement and priority, indexed by vCPU id.
    pub vcpus: Vec<Vcpu>,
    /// Scheduling priority (`bulkhead,priority`, 0..=255, higher runs first; default 0).
    pub priority: u8,
    /// Credit2 weight (`bulkhead,weight`, 1..=65535, default 256): CPU time in proportion
    /// to it among the vCPUs that compete. Invariant: not 0; not 256 only in a credit2 pool.
    pub weight: u16,
    /// Credit2 cap (`bulkhead,cap`) in percent of one CPU for the whole partition; 0: none.
    /// Invariant: at most 100 per vCPU; not 0 only in a credit2 pool.
    pub cap_percent: u32,
    /// WFI and WFE trap to the hypervisor, which waits for the vCPU (`bulkhead,trap-wfi`);
    /// otherwise they run natively on the vCPU's own CPU.
    pub trap_wfi: bool,
    /// How its interrupts reach it (`bulkhead,irq-delivery`). Invariant: `Direct` only for a
    /// partition alone in a `null` pool that leaves out the boot CPU, on a GICv3, without
    /// `bulkhead,trap-wfi`, `xen,enhanced` or passthrough devices (`validate/delivery.rs`).
    pub irq_delivery: IrqDelivery,
    /// What to do when the partition crashes (`bulkhead,on-crash`).
    pub crash_policy: CrashPolicy,
    /// Crash restarts in a row after which the partition stays stopped
    /// (`bulkhead,restart-limit`, with `on-crash = "restart"`); `None`: no limit.
    pub restart_limit: Option<u32>,
    /// The first back-off before a crash restart under a restart limit
    /// (`bulkhead,restart-backoff-ms`, 1..=60000; [`crate::limits::DEFAULT_RESTART_BACKOFF_MS`] when a limit
    /// is set without it); each crash restart in a row waits twice as long as the one before,
    /// at most [`crate::limits::MAX_RESTART_BACKOFF_MS`]. `None` without a limit: restarts at once.
    pub restart_backoff_ms: Option<u32>,
    /// The partition must write to its console (its vPL011 or Xen `console_io`) within this
    /// many milliseconds of its start and of its last write, or its crash policy applies
    /// (`bulkhead,heartbeat-ms`, 10..=3600000); `None`: not watched.
    pub heartbeat_ms: Option<u32>,
    /// The partitions it may share event channels with (`bulkhead,evtchn-peers`), as indexes
    /// in [`PartitionPlan::partitions`]; `None`: any partition. A channel needs each end to
    /// admit the other. Invariant: every index is in bounds, and every static channel's peer
    /// is admitted by both ends.
    pub evtchn_peers: Option<Vec<usize>>,
    /// Static event channels. Invariant: local ports are unique within the partition and
    /// every channel's peer links back to it.
    pub event_channels: Vec<EventChannel>,
    /// Static shared memory mappings.
    pub shared_memory: Vec<SharedMapping>,
    /// `passthrough` mode and assigned devices.
    pub passthrough: Passthrough,
    /// `max_grant_frames`, when given.
    pub max_grant_frames: Option<u32>,
    /// `max_maptrack_frames`, when given.
    pub max_maptrack_frames: Option<u32>,
    /// `llc-colors` as inclusive ranges.
    pub llc_colors: Vec<(u32, u32)>,
    /// Legal Xen properties not modelled yet, kept verbatim.
    pub unsupported: Vec<Property>,
}

/// How a partition gets its RAM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Memory {
    /// The hypervisor allocates `bytes` from free RAM.
    Allocated { bytes: u64 },
    /// Fixed host banks (`xen,static-mem`). Invariant: banks are 4 KiB aligned and their
    /// sizes add up to the domain's `memory`.
    Static {
        banks: Vec<AddressRange>,
        direct_map: bool,
    },
}

impl Memory {
    /// Total bytes.
    pub fn bytes(&self) -> u64 {
        match self {
            Self::Allocated { bytes } => *bytes,
            Self::Static { banks, .. } => banks.iter().map(|b| b.size()).sum(),
        }
    }
}

/// `xen,enhanced`: which paravirtual interfaces the partition sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enhanced {
    /// No PV interfaces (property absent or `"disabled"`).
    Disabled,
    /// All PV interfaces including xenstore (`"enabled"` or empty).
    Enabled,
    /// As `Enabled` with Xen's legacy xenstore page allocation (`"legacy"`).
    Legacy,
    /// Grant tables and event channels without xenstore (`"no-xenstore"`).
    NoXenstore,
}

/// A boot module in host memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    /// Node path, for messages.
    pub node: String,
    /// Host physical range.
    pub range: AddressRange,
    /// `bootargs`, if any.
    pub bootargs: Option<String>,
}

/// How a partition's interrupts reach it (`bulkhead,irq-delivery`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IrqDelivery {
    /// Every physical interrupt exits to the hypervisor, which injects virtual ones through
    /// the GIC's list registers (`"virtual"`, the default).
    #[default]
    Virtual,
    /// The partition's CPUs take its interrupts straight from the physical GICv3 at EL1, with
    /// no exit; the hypervisor keeps its own as Group 0 (`"direct"`).
    Direct,
}

impl IrqDelivery {
    /// The property's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Virtual => "virtual",
            Self::Direct => "direct",
        }
    }
}

/// A scheduler for a CPU pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheduler {
    /// One vCPU per physical CPU, pinned (`"null"`).
    Null,
    /// Xen's credit2 (`"credit2"`, the default).
    Credit2,
    /// Pinned like `null`, several vCPUs per CPU chosen by fixed priority
    /// (`"bulkhead,fixed-priority"`).
    FixedPriority,
}

impl Scheduler {
    /// The `cpupool-sched` spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Credit2 => "credit2",
            Self::FixedPriority => "bulkhead,fixed-priority",
        }
    }

    /// Whether vCPUs are pinned to one physical CPU each.
    pub fn pins_vcpus(self) -> bool {
        !matches!(self, Self::Credit2)
    }
}

/// A CPU pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuPool {
    /// Node path of the `xen,cpupool` node, or `Pool-0`/`Pool-rest` for implicit pools.
    pub name: String,
    /// Its scheduler.
    pub scheduler: Scheduler,
    /// Indices into [`PartitionPlan::cpus`]. Invariant: non-empty; no CPU is in two pools.
    pub cpus: Vec<usize>,
}

/// One vCPU's scheduling data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vcpu {
    /// `hard-affinity` as host CPU indices (empty: any CPU of the pool).
    pub affinity: Vec<usize>,
    /// The physical CPU it is pinned to, for `null` and fixed-priority pools.
    /// Invariant: in a `null` pool no two vCPUs share a CPU.
    pub placement: Option<Placement>,
    /// Priority for the fixed-priority scheduler (the vCPU's `bulkhead,priority`, else the
    /// partition's).
    pub priority: u8,
}

/// A physical CPU a vCPU is pinned to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Index into [`PartitionPlan::cpus`].
    pub cpu: usize,
    /// That CPU's MPIDR.
    pub mpidr: u64,
}

/// What happens when a partition crashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashPolicy {
    /// Stop the partition and leave the others running (`"stop"`, the default).
    Stop,
    /// Reload and restart the partition (`"restart"`).
    Restart,
    /// Stop the whole system (`"halt-system"`).
    HaltSystem,
}

impl CrashPolicy {
    /// The `bulkhead,on-crash` spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Restart => "restart",
            Self::HaltSystem => "halt-system",
        }
    }
}

/// A static event channel end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventChannel {
    /// Local port.
    pub port: u32,
    /// Index of the peer partition.
    pub remote_partition: usize,
    /// The peer's local port.
    pub remote_port: u32,
}

/// A shared memory region (one `xen,shm-id`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedRegion {
    /// `xen,shm-id`.
    pub id: String,
    /// Host range, or `None` when the hypervisor chooses it (size in `size`).
    pub host: Option<AddressRange>,
    /// Size in bytes.
    pub size: u64,
    /// Owning partition index; `None` means the hypervisor owns it (Xen's DOMID_IO).
    pub owner: Option<usize>,
}

/// One partition's view of a shared region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedMapping {
    /// Index into [`PartitionPlan::shared_regions`].
    pub region: usize,
    /// Guest physical address of the mapping.
    pub guest_address: u64,
    /// Whether this partition owns the region.
    pub owner: bool,
}

/// Passthrough mode and devices.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Passthrough {
    /// The `passthrough` property: `Some(true)` "enabled", `Some(false)` "disabled".
    pub enabled: Option<bool>,
    /// Devices from the partial device tree.
    pub devices: Vec<Device>,
}

/// One assigned device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// `xen,path`: the host node.
    pub host_path: String,
    /// `xen,reg`: host range and guest address of each MMIO window.
    pub mmio: Vec<(AddressRange, u64)>,
    /// Interrupt ids (SPIs as GIC INTIDs, i.e. SPI number + 32).
    pub interrupts: Vec<u32>,
    /// Each interrupt's trigger, from its specifier's flags. Invariant: as long as `interrupts`.
    pub triggers: Vec<boards::Trigger>,
    /// `xen,force-assign-without-iommu`. Invariant: true (there is no IOMMU).
    pub without_iommu: bool,
    /// The host node says it does DMA (`dma-coherent`, `iommus`, `dmas`, or a virtio
    /// transport). Invariant: only in a direct-mapped partition.
    pub dma: bool,
}
