//! The heap a plan's partitions need, computed from the plan before they are built, so that
//! the boot can carve what the heap lacks from host RAM instead of the image carrying a heap
//! for the largest config.

use super::Partition;
use crate::portable::evtchn::{abi::DEFAULT_MAX_PORT, EventChannels};
use crate::portable::vcpu::Vcpu;
use crate::portable::vgic::Vgic;
use core::mem::size_of;
use locks::Mutex;

const PAGE: usize = 4096;

/// What the heap holds beside the partitions: the schedulers' pools and run queues, the
/// console multiplexer's partition list, the operator's commands (about 10 KiB with four
/// CPUs and three partitions, measured).
pub const FIXED: usize = 64 << 10;

/// Bytes of heap partition `p` takes: what it keeps for good (its vGIC, the Xen shared_info
/// page and the page its alignment may waste, the partition and its vCPUs, its event-channel
/// table, names and lists), and what each of its starts builds and frees (its device tree:
/// the partial device tree read in, the tree written, which grows by doubling), with a
/// quarter more for the allocator's alignment and fragments. Its stage-2 table pages and grant
/// table come from the page pool instead (`page_pool`).
pub fn for_partition(p: &dom0less_config::Partition) -> usize {
    let vcpus = p.vcpus.len();
    let vcpu_count = u16::try_from(vcpus).unwrap_or(u16::MAX);
    let kept = [
        size_of::<Vgic>(),
        2 * PAGE,
        size_of::<Partition>(),
        vcpus.saturating_mul(size_of::<Mutex<Vcpu>>().saturating_add(size_of::<usize>())),
        EventChannels::heap_bytes(vcpu_count, DEFAULT_MAX_PORT),
        PAGE,
    ];
    let partial = p.device_tree.as_ref().map_or(0, |m| usize::try_from(m.range.size()).unwrap_or(usize::MAX));
    let bootargs = p.kernel.bootargs.as_ref().map_or(0, |b| b.len());
    let device_tree = partial.saturating_add(bootargs).saturating_mul(4).saturating_add(32 << 10);
    let total = kept.iter().fold(device_tree, |sum, &bytes| sum.saturating_add(bytes));
    total.saturating_add(total / 4)
}

/// Bytes of heap the plan needs: [`FIXED`] and each partition's [`for_partition`]. Every
/// partition's device tree counts, as partitions may restart at the same time.
pub fn for_plan(plan: &dom0less_config::PartitionPlan) -> usize {
    plan.partitions.iter().fold(FIXED, |sum, p| sum.saturating_add(for_partition(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_needs_its_vgic_and_event_channels_and_more_with_a_larger_tree() {
        let plan = super::super::tests::two_partition_plan();
        let p = &plan.partitions[0];
        let need = for_partition(p);
        let floor = size_of::<Vgic>() + 2 * PAGE + EventChannels::heap_bytes(2, DEFAULT_MAX_PORT);
        assert!(need > floor, "{need} <= {floor}");
        assert!(need < floor * 2, "{need}: a quarter more, and the device tree's allowance");
        let mut bigger = p.clone();
        bigger.kernel.bootargs = Some("x".repeat(10_000));
        assert!(for_partition(&bigger) >= need + 40_000, "four times the command line more");
        assert_eq!(for_plan(&plan), FIXED + for_partition(&plan.partitions[0]) + for_partition(&plan.partitions[1]));
    }

    #[test]
    fn a_built_table_takes_what_heap_bytes_says() {
        let table = EventChannels::new(0, 2, DEFAULT_MAX_PORT);
        let bytes = EventChannels::heap_bytes(2, DEFAULT_MAX_PORT);
        assert_eq!(bytes, table.heap_bytes_held(), "the estimate is the table's own allocations");
    }
}
