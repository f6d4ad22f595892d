//! Human messages for [`ConfigError`]: what is wrong, where, the values and the fix.

use core::fmt;

use crate::error::ConfigError;

impl fmt::Display for ConfigError {
    // Out of line: with link-time optimisation it was inlined twice into the hypervisor
    // (showing a `ConfigError` and a `&ConfigError`), 2.6 KB each.
    #[inline(never)]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DeviceTree(e) => write!(f, "unreadable device tree: {e}; rebuild it with dtc"),
            Self::BadProperty { node, property, error } => {
                write!(f, "{node}: property `{property}` is malformed ({error}); see docs/config.md for its format")
            }
            Self::NoDomains => write!(f, "/chosen has no node with compatible = \"xen,domain\"; add one per partition"),
            Self::MissingProperty { node, property } => write!(f, "{node}: required property `{property}` is missing; add it"),
            Self::InvalidValue { node, property, value, expected } => {
                write!(f, "{node}: `{property}` = {value} is invalid; expected {expected}")
            }
            Self::UnknownProperty { node, property } => write!(
                f,
                "{node}: unknown property `{property}` (rejected: a misspelt property would silently change the partition); \
                 remove it or fix its spelling"
            ),
            Self::MissingKernel { domain } => write!(
                f,
                "{domain}: no kernel; add a sub-node with compatible = \"multiboot,kernel\", \"multiboot,module\" and `reg`"
            ),
            Self::DuplicateModule { domain, kind, first, second } => {
                write!(f, "{domain}: two {kind} modules ({first} and {second}); keep one")
            }
            Self::StaticMemorySizeMismatch { domain, memory_kib, static_bytes } => write!(
                f,
                "{domain}: `memory` = {memory_kib} KiB but `xen,static-mem` totals {static_bytes:#x} bytes ({} KiB); make them equal",
                static_bytes / 1024
            ),
            Self::DirectMapWithoutStaticMemory { domain } => {
                write!(f, "{domain}: `direct-map` needs `xen,static-mem`; add static memory or remove `direct-map`")
            }
            Self::Misaligned { node, property, range } => {
                write!(f, "{node}: `{property}` range {range} is not 4 KiB aligned; align start and size to 0x1000")
            }
            Self::MemoryOverlap { node, range, other, other_range } => {
                write!(f, "{node}: range {range} overlaps {other} at {other_range}; move one of them")
            }
            Self::OutsideRam { node, property, range } => {
                write!(f, "{node}: `{property}` range {range} is not inside host RAM; use an address inside a /memory bank")
            }
            Self::OutOfMemory { requested, free } => write!(
                f,
                "partitions without static memory need {requested:#x} bytes but only {free:#x} bytes of RAM are free; \
                 lower their `memory`"
            ),
            Self::CpuInTwoPools { cpu, first, second } => {
                write!(f, "CPU {cpu} is in cpupools {first} and {second}; list it in one pool only")
            }
            Self::EmptyPool { pool } => write!(f, "{pool}: `cpupool-cpus` lists no CPU; add at least one"),
            Self::NullPoolOvercommitted { pool, vcpus, cpus } => write!(
                f,
                "{pool}: the null scheduler runs one vCPU per CPU but its domains have {vcpus} vCPUs for {cpus} CPUs; \
                 add CPUs, lower `cpus`, or use \"bulkhead,fixed-priority\""
            ),
            Self::DirectDelivery { domain, refusal } => write!(
                f,
                "{domain}: `bulkhead,irq-delivery` = \"direct\" is refused: {refusal}"
            ),
            Self::Credit2Only { domain, property, value, pool, scheduler } => write!(
                f,
                "{domain}: `{property}` = <{value}> applies only to a credit2 pool, but the partition runs in {pool} \
                 (\"{scheduler}\"); remove it, or move the partition to a pool with cpupool-sched = \"credit2\""
            ),
            Self::CapTooLarge { domain, cap, vcpus } => write!(
                f,
                "{domain}: `bulkhead,cap` = <{cap}> is more than its {vcpus} vCPUs can use (at most {} percent, 100 per vCPU); \
                 lower it, or use 0 for no cap",
                vcpus.saturating_mul(crate::limits::MAX_CAP_PER_VCPU)
            ),
            Self::UnknownScheduler { pool, name } => write!(
                f,
                "{pool}: scheduler \"{name}\" is not supported; use \"null\", \"credit2\" or \"bulkhead,fixed-priority\""
            ),
            Self::DanglingPhandle { node, property, phandle } => {
                write!(f, "{node}: `{property}` refers to phandle {phandle:#x}, which no node has; fix the reference")
            }
            Self::WrongPhandleTarget { node, property, target, expected } => {
                write!(f, "{node}: `{property}` refers to {target}, which is not {expected}; point it at {expected}")
            }
            Self::AffinityOutsidePool { node, cpu, pool } => {
                write!(f, "{node}: `hard-affinity` names CPU {cpu}, which is not in {pool}; use a CPU of that pool")
            }
            Self::BadVcpuId { node, id, vcpus } => {
                write!(f, "{node}: vCPU id {id} is repeated or not below `cpus` = {vcpus}; use a unique id below {vcpus}")
            }
            Self::DuplicatePort { domain, port, first, second } => {
                write!(f, "{domain}: local event channel port {port} is used by {first} and {second}; give each a distinct port")
            }
            Self::ChannelNotMutual { node, remote, remote_links_to } => write!(
                f,
                "{node}: links to {remote}, which links to {remote_links_to}; both ends of a static event channel must name each other"
            ),
            Self::UnknownPeer { domain, name } => write!(
                f,
                "{domain}: bulkhead,evtchn-peers names \"{name}\", which is no domain under /chosen; use the node name of a xen,domain node"
            ),
            Self::ChannelNotPermitted { domain, port, peer } => write!(
                f,
                "{domain}: static event channel port {port} joins it to {peer}, but bulkhead,evtchn-peers of one of them does not list the other; list each in the other's bulkhead,evtchn-peers or remove the channel"
            ),
            Self::Dom0Only { node } => write!(
                f,
                "{node}: a boot module directly under /chosen is dom0's kernel or ramdisk, and Bulkhead has no dom0 \
                 (partitions are dom0-less only); put the kernel in a compatible = \"xen,domain\" node"
            ),
            Self::SharedMemoryNoHost { id, node } => write!(
                f,
                "{node}: shared memory \"{id}\" has no host address (`xen,shared-mem` with two values), and Bulkhead \
                 does not choose one; give <host-address guest-address size>"
            ),
            Self::ChannelOutsideDomain { node } => {
                write!(f, "{node}: static event channels for dom0 are not supported (there is no dom0); move it into a domain")
            }
            Self::SharedMemoryMismatch { id, node, range, other, other_range } => write!(
                f,
                "shared memory \"{id}\": {node} uses host range {range} but {other} uses {other_range}; every node of one id must use the same host range and size"
            ),
            Self::SharedMemoryOwners { id, first, second } => {
                write!(f, "shared memory \"{id}\": {first} and {second} both say role = \"owner\"; keep one owner")
            }
            Self::DeviceAssignedTwice { device, first, second } => {
                write!(f, "device {device} is assigned to {first} and {second}; assign it to one domain")
            }
            Self::InterruptAssignedTwice { irq, first, second } => {
                write!(f, "interrupt {irq} is assigned to {first} and {second}; assign it to one domain")
            }
            Self::BadPassthrough { node, device, reason } => write!(f, "{node}: passthrough of {device}: {reason}"),
            Self::InterruptReserved { node, device, irq, user } => write!(
                f,
                "{node}: passthrough of {device}: interrupt {irq} (SPI {}) is {user}; remove it from the device's `interrupts`",
                irq.saturating_sub(32)
            ),
            Self::DmaNeedsDirectMap { domain, device } => write!(
                f,
                "{domain}: {device} can do DMA and there is no IOMMU, so its DMA addresses are host addresses: give {domain} `xen,static-mem` and `direct-map`, or do not pass the device through"
            ),
            Self::DuplicateDomain { name } => write!(f, "two domains are named {name}; rename one"),
            Self::TooMany { node, limit, count } => write!(
                f,
                "{node}: {count} {}; at most {} are supported; {}",
                limit.what(),
                limit.max(),
                limit.fix()
            ),
            Self::MoreErrors { omitted } => write!(
                f,
                "{omitted} more errors were left out (at most {} are listed); fix these and check again",
                crate::MAX_ERRORS
            ),
        }
    }
}

impl fmt::Display for crate::error::DirectRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const VIRTUAL: &str = "or use \"virtual\" (the default)";
        match self {
            Self::NotGicV3 { found } => write!(
                f,
                "direct delivery needs a GICv3 (the guest uses the physical ICC_* Group 1 \
                 registers), but the host's interrupt controller is {found}; {VIRTUAL}"
            ),
            Self::NotNullPool { pool, scheduler } => write!(
                f,
                "it runs in {pool} (\"{scheduler}\"), but its CPUs must be its own: put it alone \
                 in a pool with cpupool-sched = \"null\", {VIRTUAL}"
            ),
            Self::SharedPool { pool, other } => write!(
                f,
                "partition {other} also runs in {pool}, but its CPUs must be its own: give it a \
                 null pool of its own, {VIRTUAL}"
            ),
            Self::BootCpu { pool, cpu } => write!(
                f,
                "its pool {pool} holds the boot CPU {cpu}, which takes the console's interrupt for \
                 the hypervisor: move the pool to other CPUs, {VIRTUAL}"
            ),
            Self::TrapWfi => write!(
                f,
                "with `bulkhead,trap-wfi` its WFI would wait at EL2 for interrupts that go to EL1: \
                 remove `bulkhead,trap-wfi`, {VIRTUAL}"
            ),
            Self::Enhanced => write!(
                f,
                "with `xen,enhanced` its event channels signal PPI 31 through the virtual CPU \
                 interface, which a direct partition never sees (HCR_EL2.IMO is 0): remove \
                 `xen,enhanced`, {VIRTUAL}"
            ),
            Self::Passthrough { device } => write!(
                f,
                "it is given {device}, whose interrupts are forwarded only in software so far: \
                 remove the device, {VIRTUAL}"
            ),
        }
    }
}
