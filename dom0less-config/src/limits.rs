//! Caps on counts in a configuration. Each keeps validation's work and memory bounded by
//! the size of its input; going over one is a [`crate::ConfigError::TooMany`].

/// Most `xen,domain` nodes under `/chosen`.
pub const MAX_DOMAINS: usize = 64;
/// Most `xen,cpupool` nodes under `/chosen`.
pub const MAX_POOLS: usize = 64;
/// Most `xen,static-mem` banks of one domain.
pub const MAX_STATIC_BANKS: usize = 64;
/// Most vCPUs of one domain, and most `xen,vcpu` sub-nodes (Xen's `MAX_VIRT_CPUS` on Arm).
pub const MAX_VCPUS: usize = 128;
/// Most static event channel sub-nodes of one domain.
pub const MAX_EVENT_CHANNELS: usize = 64;
/// Most static shared memory sub-nodes of one domain (Xen's `NR_SHMEM_BANKS`).
pub const MAX_SHARED_MEMORY: usize = 32;
/// Most CPUs of the host, and so most `cpupool-cpus` entries and the bound on CPU ids in
/// `hard-affinity`.
pub const MAX_HOST_CPUS: usize = 256;
/// Most RAM banks of the host (`device_type = "memory"` nodes' `reg` entries).
pub const MAX_RAM_BANKS: usize = 256;
/// Most reserved ranges of the host (`/reserved-memory` and `/memreserve/` entries).
pub const MAX_RESERVED_RANGES: usize = 256;
/// Most passthrough devices in one partial device tree.
pub const MAX_PASSTHROUGH_DEVICES: usize = 64;
/// Most `xen,reg` ranges of one passthrough device.
pub const MAX_DEVICE_RANGES: usize = 64;
/// Most interrupts of one passthrough device.
pub const MAX_DEVICE_INTERRUPTS: usize = 64;

/// The credit2 weight of a partition without `bulkhead,weight` (Xen's default).
pub const DEFAULT_WEIGHT: u16 = 256;
/// Most `bulkhead,cap` per vCPU: a partition of N vCPUs can use at most N CPUs, 100% each.
pub const MAX_CAP_PER_VCPU: u32 = 100;

/// Which cap a [`crate::ConfigError::TooMany`] hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limit {
    Domains,
    Pools,
    StaticMemoryBanks,
    VcpuNodes,
    EventChannels,
    SharedMemory,
    PoolCpus,
    HostCpus,
    RamBanks,
    ReservedRanges,
    PassthroughDevices,
    DeviceRanges,
    DeviceInterrupts,
}

impl Limit {
    /// The cap.
    pub const fn max(self) -> usize {
        match self {
            Self::Domains => MAX_DOMAINS,
            Self::Pools => MAX_POOLS,
            Self::StaticMemoryBanks => MAX_STATIC_BANKS,
            Self::VcpuNodes => MAX_VCPUS,
            Self::EventChannels => MAX_EVENT_CHANNELS,
            Self::SharedMemory => MAX_SHARED_MEMORY,
            Self::PoolCpus | Self::HostCpus => MAX_HOST_CPUS,
            Self::RamBanks => MAX_RAM_BANKS,
            Self::ReservedRanges => MAX_RESERVED_RANGES,
            Self::PassthroughDevices => MAX_PASSTHROUGH_DEVICES,
            Self::DeviceRanges => MAX_DEVICE_RANGES,
            Self::DeviceInterrupts => MAX_DEVICE_INTERRUPTS,
        }
    }

    /// What is counted, in the plural.
    pub const fn what(self) -> &'static str {
        match self {
            Self::Domains => "xen,domain nodes",
            Self::Pools => "xen,cpupool nodes",
            Self::StaticMemoryBanks => "xen,static-mem banks",
            Self::VcpuNodes => "xen,vcpu nodes",
            Self::EventChannels => "static event channels",
            Self::SharedMemory => "static shared memory nodes",
            Self::PoolCpus => "cpupool-cpus entries",
            Self::HostCpus => "CPU nodes",
            Self::RamBanks => "RAM banks",
            Self::ReservedRanges => "reserved memory ranges",
            Self::PassthroughDevices => "passthrough devices",
            Self::DeviceRanges => "xen,reg ranges",
            Self::DeviceInterrupts => "interrupts",
        }
    }

    /// How to get under the cap.
    pub const fn fix(self) -> &'static str {
        match self {
            Self::Domains => "merge partitions",
            Self::Pools => "merge pools",
            Self::StaticMemoryBanks => "merge adjacent banks or use fewer, larger ones",
            Self::VcpuNodes => "keep one node per vCPU",
            Self::EventChannels => "remove unused channels",
            Self::SharedMemory => "use fewer, larger regions",
            Self::PoolCpus => "list each CPU once",
            Self::HostCpus | Self::RamBanks | Self::ReservedRanges => "check the host device tree",
            Self::PassthroughDevices => "pass fewer devices to this partition",
            Self::DeviceRanges => "merge adjacent ranges",
            Self::DeviceInterrupts => "pass only the interrupts the device uses",
        }
    }
}

/// The first crash-restart back-off under `bulkhead,restart-limit` when the config names
/// none (`bulkhead,restart-backoff-ms`), in milliseconds.
pub const DEFAULT_RESTART_BACKOFF_MS: u32 = 100;
/// The longest crash-restart back-off, and the largest `bulkhead,restart-backoff-ms`, in
/// milliseconds (one minute).
pub const MAX_RESTART_BACKOFF_MS: u32 = 60_000;
/// The shortest `bulkhead,heartbeat-ms` (a deadline closer than this would be missed by a
/// healthy partition that merely waits for its turn on a shared CPU).
pub const MIN_HEARTBEAT_MS: u32 = 10;
/// The longest `bulkhead,heartbeat-ms`: one hour.
pub const MAX_HEARTBEAT_MS: u32 = 3_600_000;
