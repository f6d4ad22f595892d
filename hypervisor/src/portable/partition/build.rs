//! Building a partition from its validated plan: CPUs, memory, stage-2 table, placement.

use super::{Partition, RunState, MAX_VCPUS};
use crate::portable::guest::boot::GuestBank;
use crate::portable::guest::image::{ImageError, KernelImage, HEADER_SIZE};
use crate::portable::guest::layout::{ram_banks, GicVersion, LayoutError};
use crate::portable::guest::placement::{place, PlacementError};
use crate::portable::memory::frames::{FrameAllocator, FrameError};
use crate::portable::memory::physical::{PhysicalMemory, PhysicalMemoryError};
use crate::portable::memory::identity_pages::IdentityPages;
use crate::portable::memory::stage2::{tables_needed, MappingAttributes, Stage2Error, Stage2Table};
use crate::portable::memory::{BLOCK_1G, BLOCK_2M};
use super::shared_memory::{self, SharedMemoryError};
use crate::portable::memory::vmid::{VmidAllocator, VmidError};
use crate::portable::memory::vtcr::{Stage2Config, VtcrError};
use crate::portable::memory::AddressRange;
use crate::portable::psci::{PowerError, PowerStates};
use crate::portable::vcpu::Vcpu;
use crate::portable::vgic::{Doorbell, Vgic, VgicConfig, VgicError, VcpuId, GUEST_GICC_BASE, GUEST_GICC_SIZE, VIRTUAL_TIMER_PPI};
use crate::portable::vpl011::Vpl011;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use crate::portable::xen::XenPartition;
use dom0less_config::{Enhanced, Memory, PartitionPlan, Scheduler};
use locks::Mutex;

/// Which physical CPU a `null` pool gives each of its vCPUs, across all partitions (pools that
/// share their CPUs put several vCPUs on one CPU and are not tracked here).
#[derive(Debug)]
pub struct CpuAssignment {
    /// For each host CPU: the partition and vCPU of a `null` pool it runs.
    pub owner: Vec<Option<(usize, usize)>>,
}

impl CpuAssignment {
    pub fn new(cpus: usize) -> Self {
        Self { owner: alloc::vec![None; cpus] }
    }
}

/// Why a partition could not be built.
#[derive(Debug)]
pub enum BuildError {
    TooManyVcpus { partition: String, vcpus: u32, max: usize },
    /// Two vCPUs of a `null` pool on one CPU (the validator refuses that first).
    CpuTaken { partition: String, vcpu: usize, cpu: usize, scheduler: &'static str },
    NoFreeCpu { partition: String, vcpu: usize, pool: String, scheduler: &'static str },
    Layout { partition: String, error: LayoutError },
    Memory { partition: String, bytes: u64, error: FrameError },
    /// A partition's RAM bank (allocated, not static) fits in no free range of host RAM:
    /// the static banks, shared regions, modules and the hypervisor split it too finely.
    NoRoom { partition: String, bytes: u64, largest: Option<AddressRange> },
    StaticMemory { partition: String, bank: AddressRange, error: FrameError },
    Stage2 { partition: String, error: Stage2Error },
    Vmid { partition: String, error: VmidError },
    Vttbr { partition: String, error: VtcrError },
    KernelHeader { partition: String, error: PhysicalMemoryError },
    Kernel { partition: String, error: ImageError },
    Placement { partition: String, error: PlacementError },
    Power { partition: String, error: PowerError },
    BadRange { partition: String, what: &'static str },
    /// A passthrough window's guest range lands on the guest's RAM or on an address of Xen's
    /// guest layout (the GIC, the vPL011, the grant table and magic pages).
    DeviceWindow { partition: String, device: String, guest: AddressRange, what: &'static str },
    Vgic { partition: String, error: VgicError },
    /// The heap has no page left for the partition's Xen shared_info page.
    SharedInfo { partition: String },
    /// A static shared-memory region cannot be mapped where the partition names it.
    SharedMemory { partition: String, error: SharedMemoryError },
    /// A static event channel could not be bound.
    EventChannel { partition: String, error: crate::portable::evtchn::StaticChannelError },
    /// No page of host RAM for a partition's first grant frame.
    GrantTables { partition: String },
    /// No heap for the pool's free list (its capacity is reserved at boot).
    PagePool { pages: usize },
    /// No host RAM for the heap the partitions need beyond what the hypervisor has.
    Heap { bytes: u64, error: FrameError },
    /// A partition's RAM banks cannot describe its grant table.
    GrantBank { partition: String, error: crate::portable::gnttab::TableError },
    /// Host RAM (`what`: taken for the hypervisor's own use, or a partition's bank) could not
    /// be switched from Non-cacheable to write-back in the EL2 map, or the block mappings
    /// around it split (`reason`: the map's error).
    HostMap { what: &'static str, range: AddressRange, reason: String },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManyVcpus { partition, vcpus, max } => {
                write!(f, "partition \"{partition}\": {vcpus} vCPUs; this build supports at most {max}")
            }
            Self::CpuTaken { partition, vcpu, cpu, scheduler } => write!(
                f,
                "partition \"{partition}\" vCPU {vcpu}: CPU {cpu} already runs another vCPU of its {scheduler} pool, which gives each vCPU a CPU of its own: give it a free CPU, or put both in a credit2 or bulkhead,fixed-priority pool"
            ),
            Self::NoFreeCpu { partition, vcpu, pool, scheduler } => write!(
                f,
                "partition \"{partition}\" vCPU {vcpu}: pool {pool} ({scheduler}) has no CPU its hard affinity allows; give it a CPU of the pool"
            ),
            Self::Layout { partition, error } => write!(f, "partition \"{partition}\": {error}"),
            Self::Memory { partition, bytes, error } => {
                write!(f, "partition \"{partition}\": cannot allocate {} MiB of RAM: {error}", bytes >> 20)
            }
            Self::NoRoom { partition, bytes, largest } => {
                write!(f, "partition \"{partition}\": needs {} MiB of host RAM in one range, but ", bytes >> 20)?;
                match largest {
                    Some(range) => write!(f, "the largest free range is {range} ({} MiB)", range.size() >> 20)?,
                    None => write!(f, "no host RAM is free")?,
                }
                write!(f, " once every static bank, static shared-memory region, boot module, reserved region and the hypervisor has its place, and the partitions before it theirs: lower its memory, or move the static banks and modules so that free RAM is less split")
            }
            Self::StaticMemory { partition, bank, error } => {
                write!(f, "partition \"{partition}\": static memory {bank} (xen,static-mem) cannot be taken: {error}; give it host RAM that no other partition's bank, boot module, reserved region, static shared memory or the hypervisor uses")
            }
            Self::Stage2 { partition, error } => write!(f, "partition \"{partition}\": stage-2 table: {error}"),
            Self::Vmid { partition, error } => write!(f, "partition \"{partition}\": {error}"),
            Self::Vttbr { partition, error } => write!(f, "partition \"{partition}\": {error}"),
            Self::KernelHeader { partition, error } => {
                write!(f, "partition \"{partition}\": cannot read the kernel's header: {error}")
            }
            Self::Kernel { partition, error } => write!(f, "partition \"{partition}\": kernel: {error}"),
            Self::Placement { partition, error } => write!(f, "partition \"{partition}\": {error}"),
            Self::Power { partition, error } => write!(f, "partition \"{partition}\": {error}"),
            Self::Vgic { partition, error } => write!(f, "partition \"{partition}\": virtual GIC: {error}"),
            Self::EventChannel { partition, error } => write!(f, "partition \"{partition}\": its static event channels cannot be bound: {error}"),
            Self::GrantTables { partition } => write!(
                f,
                "partition \"{partition}\": no page of host RAM for its first grant frame: give the partitions less memory"
            ),
            Self::PagePool { pages } => write!(
                f,
                "the hypervisor's heap has no room for the page pool's free list ({pages} pages, the sum of the partitions' caps): use fewer partitions or smaller max_grant_frames/max_maptrack_frames"
            ),
            Self::GrantBank { partition, error } => write!(f, "partition \"{partition}\": grant table: {error}"),
            Self::HostMap { what, range, reason } => write!(f, "the {what} at {range} cannot be used: {reason}"),
            Self::Heap { bytes, error } => write!(
                f,
                "the hypervisor's heap needs {} KiB of host RAM for these partitions (their virtual GICs, stage-2 tables, event channels and device trees): {error}; give the partitions less memory or use fewer partitions",
                bytes >> 10
            ),
            Self::SharedInfo { partition } => write!(f, "partition \"{partition}\": no memory left for its Xen shared_info page: give the hypervisor a larger heap or use fewer partitions"),
            Self::SharedMemory { partition, error } => write!(f, "partition \"{partition}\": {error}"),
            Self::BadRange { partition, what } => write!(f, "partition \"{partition}\": {what} wraps past the end of memory"),
            Self::DeviceWindow { partition, device, guest, what } => write!(
                f,
                "partition \"{partition}\": passthrough of {device}: its guest window {guest:?} (xen,reg) overlaps {what}; choose another guest address in its partial device tree"
            ),
        }
    }
}

/// Proof that every `xen,static-mem` bank of the plan was taken from the frame allocator
/// before any partition's RAM was allocated from it ([`claim_static_banks`]): [`build`]
/// asks for it, and takes no static bank itself.
#[derive(Debug)]
pub struct StaticBanksClaimed(());

/// Takes every partition's `xen,static-mem` banks from `frames`, before anything is allocated
/// from it: as Xen dom0less reserves static memory first and places the other domains around
/// it, a partition earlier in `/chosen` is never placed on a later one's fixed bank. Call it
/// once, on the allocator that already excludes the hypervisor, the boot modules, the
/// reserved regions and the static shared memory.
pub fn claim_static_banks<const N: usize>(plan: &PartitionPlan, frames: &mut FrameAllocator<N>) -> Result<StaticBanksClaimed, BuildError> {
    for p in &plan.partitions {
        if let Memory::Static { banks, .. } = &p.memory {
            for bank in banks {
                frames
                    .claim(*bank)
                    .map_err(|error| BuildError::StaticMemory { partition: String::from(p.name.as_str()), bank: *bank, error })?;
            }
        }
    }
    Ok(StaticBanksClaimed(()))
}

/// SPIs every partition's vGIC has at least: the vPL011 is SPI 0, and Linux expects a full
/// group of 32.
const MIN_SPIS: usize = 32;

/// One mapping a partition's stage 2 has from its build on: guest address, host range,
/// attributes.
pub type StaticMapping = (u64, AddressRange, MappingAttributes);

/// Partition `index`'s static mappings, in the order they are made: its RAM banks, the GICV
/// frame at Xen's GICC address (GICv2, `gicv`), each passthrough window as device memory at
/// its guest address (`xen,reg`), each static shared-memory region as RAM at its guest address.
pub fn static_mappings(plan: &PartitionPlan, index: usize, gic: GicVersion, gicv: Option<u64>, banks: &[GuestBank]) -> Result<Vec<StaticMapping>, BuildError> {
    let p = &plan.partitions[index];
    let name = || String::from(p.name.as_str());
    let mut out = Vec::new();
    for bank in banks {
        let host = bank.host_range().ok_or_else(|| BuildError::BadRange { partition: name(), what: "a RAM bank" })?;
        out.push((bank.ipa.start(), host, MappingAttributes::RAM));
    }
    if let (GicVersion::V2, Some(gicv)) = (gic, gicv) {
        let frame = AddressRange::new(gicv, GUEST_GICC_SIZE).ok_or_else(|| BuildError::BadRange { partition: name(), what: "the GICV frame" })?;
        out.push((GUEST_GICC_BASE, frame, MappingAttributes::DEVICE));
    }
    for device in &p.passthrough.devices {
        for (host, guest) in &device.mmio {
            let window = AddressRange::new(*guest, host.size()).ok_or_else(|| BuildError::BadRange { partition: name(), what: "a passthrough window" })?;
            if let Some(what) = guest_layout_clash(window, banks) {
                return Err(BuildError::DeviceWindow { partition: name(), device: device.host_path.clone(), guest: window, what });
            }
            out.push((*guest, *host, MappingAttributes::DEVICE));
        }
    }
    let shared_memory = shared_memory::regions(plan, index, banks).map_err(|error| BuildError::SharedMemory { partition: name(), error })?;
    for region in &shared_memory {
        out.push((region.guest.start(), region.host, MappingAttributes::RAM));
    }
    Ok(out)
}

/// The most stage-2 table pages a partition with these static mappings and RAM banks may hold
/// at once: a root, what the static mappings can need (`tables_needed` each, an upper bound),
/// and what run-time mappings can add: a level-3 table for every 2 MiB and a level-2 table
/// for every 1 GiB of its RAM (grants mapped and pages given back split blocks), nine for the
/// 16 MiB grant-table window, two for its shared_info page and two reserved ahead of a change.
pub fn stage2_cap(statics: &[StaticMapping], banks: &[GuestBank]) -> usize {
    let statics = statics.iter().fold(1usize, |sum, (ipa, host, _)| {
        let need = AddressRange::new(*ipa, host.size()).map_or(0, |range| tables_needed(range, host.start()));
        sum.saturating_add(need)
    });
    let ram = banks.iter().fold(0u64, |sum, bank| {
        let size = bank.ipa.size();
        sum.saturating_add(size.div_ceil(BLOCK_2M)).saturating_add(size.div_ceil(BLOCK_1G)).saturating_add(2)
    });
    let run_time = usize::try_from(ram).unwrap_or(usize::MAX).saturating_add(9 + 2 + 2);
    statics.saturating_add(run_time)
}

/// Builds partition `index` of `plan` in its RAM `banks` (`guest_banks`): takes its CPUs from
/// `cpus`, maps its static mappings (`static_mappings`) in a new stage-2 table whose pages
/// come from `pages`, and places its modules. For a GICv2 partition, `gicv` is the physical
/// virtual-CPU-interface frame mapped at Xen's GICC address. `evtchn` is its event-channel
/// table, built for the whole plan (static channels bound).
#[allow(clippy::too_many_arguments)]
pub fn build(
    plan: &PartitionPlan,
    index: usize,
    gic: GicVersion,
    gicv: Option<u64>,
    cpus: &mut CpuAssignment,
    banks: Vec<GuestBank>,
    vmids: &mut VmidAllocator,
    stage2: Stage2Config,
    pages: IdentityPages,
    memory: &impl PhysicalMemory,
    evtchn: crate::portable::evtchn::EventChannels,
) -> Result<Partition, BuildError> {
    let p = &plan.partitions[index];
    let name = || String::from(p.name.as_str());
    if p.vcpus.len() > MAX_VCPUS {
        return Err(BuildError::TooManyVcpus { partition: name(), vcpus: p.vcpu_count, max: MAX_VCPUS });
    }
    let vcpu_cpus = assign_cpus(plan, index, cpus)?;
    let static_mappings = static_mappings(plan, index, gic, gicv, &banks)?;
    let mut table = Stage2Table::new(pages, stage2).map_err(|error| BuildError::Stage2 { partition: name(), error })?;
    for &(ipa, host, attributes) in &static_mappings {
        table.map(ipa, host, attributes).map_err(|error| BuildError::Stage2 { partition: name(), error })?;
    }
    // The pages the static mappings took stay the partition's: a rebuild needs them again.
    if !table.page_source().keep_current() {
        return Err(BuildError::Stage2 { partition: name(), error: Stage2Error::OutOfTablePages { needed: table.page_source().held().0, available: 0 } });
    }
    let vgic = new_vgic(p, gic, vcpu_cpus.len()).map_err(|error| BuildError::Vgic { partition: name(), error })?;
    let vmid = vmids.allocate().map_err(|error| BuildError::Vmid { partition: name(), error })?;
    let vttbr_el2 = table.vttbr_el2(vmid).map_err(|error| BuildError::Vttbr { partition: name(), error })?;
    let shared_memory = shared_memory::regions(plan, index, &banks).map_err(|error| BuildError::SharedMemory { partition: name(), error })?;

    let kernel = p.kernel.range;
    let initrd = p.ramdisk.as_ref().map(|m| m.range);
    let mut header = [0u8; HEADER_SIZE];
    memory.read(kernel.start(), &mut header).map_err(|error| BuildError::KernelHeader { partition: name(), error })?;
    let image = KernelImage::parse(&header, kernel.size()).map_err(|error| BuildError::Kernel { partition: name(), error })?;
    let placement = place(banks[0].ipa, &image, initrd.map(|r| r.size()))
        .map_err(|error| BuildError::Placement { partition: name(), error })?;

    let power = PowerStates::new(vcpu_cpus.len()).map_err(|error| BuildError::Power { partition: name(), error })?;
    let bootargs = p.kernel.bootargs.clone();
    let vcpus = vcpu_cpus.iter().map(|_| Mutex::new(Vcpu::new())).collect();
    let direct_mapped = matches!(p.memory, Memory::Static { direct_map: true, .. });
    let xen = XenPartition::new(p.enhanced != Enhanced::Disabled, direct_mapped).ok_or_else(|| BuildError::SharedInfo { partition: name() })?;
    let evtchn = Mutex::new(evtchn);
    let partition = Partition {
        index,
        name: name(),
        vcpu_cpus,
        pool: p.pool,
        gic,
        vpl011: p.vpl011,
        skip_boot_scrub: plan.skip_boot_scrub,
        // Where CPUs are shared, a vCPU waiting in WFI must give its CPU to the others.
        trap_wfi: p.trap_wfi || plan.pools.get(p.pool).is_some_and(|pool| pool.scheduler != Scheduler::Null),
        direct: p.irq_delivery == dom0less_config::IrqDelivery::Direct,
        native_wfi: !p.trap_wfi
            && p.irq_delivery != dom0less_config::IrqDelivery::Direct
            && plan.pools.get(p.pool).is_some_and(|pool| pool.scheduler != Scheduler::Null),
        banks,
        kernel,
        initrd,
        bootargs,
        partial_dtb: p.device_tree.as_ref().map(|m| m.range),
        passthrough_irqs: p
            .passthrough
            .devices
            .iter()
            .flat_map(|d| d.interrupts.iter().copied().zip(d.triggers.iter().copied()))
            .collect(),
        placement,
        vttbr_el2,
        crash_policy: p.crash_policy,
        restart_limit: p.restart_limit,
        restart_backoff_ms: p.restart_backoff_ms,
        heartbeat_ms: p.heartbeat_ms,
        heartbeat: core::sync::atomic::AtomicU64::new(u64::MAX),
        run: Mutex::new(RunState { running: false, stop_announced: false, boot_count: 1, untouched: true, generation: 0, power, vpl011: Vpl011::new(), input: heapless::Deque::new(), cntvoff: 0, reports: super::report_limit::ReportLimit::new(), last_crash: None, crash_restarts: 0, held: false, restart_pending: None, restarting: None }),
        vgic: Mutex::new(vgic),
        doorbells: [const { Doorbell::new() }; MAX_VCPUS],
        vcpus,
        stage2: Mutex::new(table),
        static_mappings,
        xen,
        shared_memory,
        evtchn,
        static_channels: p.event_channels.clone(),
    };
    Ok(partition)
}

/// What of the guest's own layout a guest range (a passthrough window, a shared-memory region)
/// would cover, if any: its RAM, or Xen's guest addresses for the GIC (either version), the
/// vPL011, the grant-table window and the magic pages.
pub(super) fn guest_layout_clash(window: AddressRange, banks: &[GuestBank]) -> Option<&'static str> {
    use crate::portable::guest::layout as l;
    let gic_end = l::GICV3_REDISTRIBUTOR_BASE.saturating_add(l::GICV3_REDISTRIBUTOR_REGION_SIZE);
    let fixed = [
        (l::GICV2_DISTRIBUTOR_BASE, gic_end.saturating_sub(l::GICV2_DISTRIBUTOR_BASE), "the virtual GIC"),
        (l::PL011_BASE, l::PL011_SIZE, "the vPL011"),
        (l::GRANT_TABLE_BASE, l::GRANT_TABLE_SIZE, "the grant-table window"),
        (l::MAGIC_BASE, l::MAGIC_SIZE, "the magic pages"),
    ];
    if banks.iter().any(|b| b.ipa.overlaps(&window)) {
        return Some("the partition's RAM");
    }
    fixed
        .iter()
        .find(|(base, size, _)| AddressRange::new(*base, *size).is_some_and(|r| r.overlaps(&window)))
        .map(|(_, _, what)| *what)
}

/// The partition's vGIC, with each vCPU's virtual timer PPI latched: the guest uses the EL1
/// virtual timer directly; when it fires the hypervisor masks it and injects one event.
fn new_vgic(p: &dom0less_config::Partition, gic: GicVersion, vcpus: usize) -> Result<Box<Vgic>, VgicError> {
    let version = gic;
    // Passthrough SPIs keep their numbers in the guest: the vGIC reaches the highest.
    let highest = p.passthrough.devices.iter().flat_map(|d| d.interrupts.iter()).max().map_or(0, |intid| intid.saturating_sub(31) as usize);
    let spis = (p.nr_spis.unwrap_or(0) as usize).max(MIN_SPIS).max(highest);
    // About 50 KiB: built and configured in place on the heap, never moved through the stack.
    let mut vgic = Vgic::boxed_empty();
    vgic.configure(VgicConfig { version, vcpus, spis })?;
    for v in 0..vcpus {
        vgic.set_latched(VcpuId(v), VIRTUAL_TIMER_PPI)?;
        vgic.set_latched(VcpuId(v), crate::portable::xen::abi::layout::EVENT_CHANNEL_PPI)?;
    }
    let delivery = super::passthrough::Delivery::for_gic(gic);
    for intid in p.passthrough.devices.iter().flat_map(|d| d.interrupts.iter()) {
        delivery.map(&mut vgic, *intid, *intid)?;
    }
    Ok(vgic)
}

/// The CPU of each vCPU: its placement in a pinning pool (a `null` pool's CPU is never
/// given twice); in a credit2 pool, where vCPUs move, its home CPU: the first CPU of its hard
/// affinity or pool, spread round robin (it takes the console interrupt and names the vCPU in
/// reports; the scheduler decides where it runs).
fn assign_cpus(plan: &PartitionPlan, index: usize, cpus: &mut CpuAssignment) -> Result<Vec<usize>, BuildError> {
    let p = &plan.partitions[index];
    let pool = &plan.pools[p.pool];
    let scheduler = pool.scheduler.name();
    let mut out = Vec::new();
    for (v, vcpu) in p.vcpus.iter().enumerate() {
        let cpu = match (pool.scheduler, vcpu.placement) {
            (Scheduler::Null, Some(placement)) => {
                if cpus.owner.get(placement.cpu).copied().flatten().is_some() {
                    return Err(BuildError::CpuTaken { partition: p.name.clone(), vcpu: v, cpu: placement.cpu, scheduler });
                }
                if let Some(slot) = cpus.owner.get_mut(placement.cpu) {
                    *slot = Some((index, v));
                }
                placement.cpu
            }
            (_, Some(placement)) => placement.cpu,
            (_, None) => {
                let allowed: Vec<usize> = pool.cpus.iter().copied().filter(|c| vcpu.affinity.is_empty() || vcpu.affinity.contains(c)).collect();
                match index.wrapping_add(v).checked_rem(allowed.len()).and_then(|i| allowed.get(i)) {
                    Some(&cpu) => cpu,
                    None => return Err(BuildError::NoFreeCpu { partition: p.name.clone(), vcpu: v, pool: pool.name.clone(), scheduler }),
                }
            }
        };
        out.push(cpu);
    }
    Ok(out)
}

/// Guest RAM banks: allocated from free host RAM, or the static banks, claimed before any
/// partition was built (1:1 with direct-map, else packed from Xen's guest RAM base).
pub fn guest_banks<const N: usize>(p: &dom0less_config::Partition, frames: &mut FrameAllocator<N>, _claimed: &StaticBanksClaimed) -> Result<Vec<GuestBank>, BuildError> {
    let name = || String::from(p.name.as_str());
    let mut banks = Vec::new();
    match &p.memory {
        Memory::Allocated { bytes } => {
            let (ipas, count) = ram_banks(*bytes).map_err(|error| BuildError::Layout { partition: name(), error })?;
            for ipa in &ipas[..count] {
                let host = frames.allocate(ipa.size()).map_err(|error| match error {
                    FrameError::OutOfMemory { .. } => BuildError::NoRoom { partition: name(), bytes: ipa.size(), largest: frames.largest_free() },
                    error => BuildError::Memory { partition: name(), bytes: ipa.size(), error },
                })?;
                banks.push(GuestBank { ipa: *ipa, host: host.start() });
            }
        }
        Memory::Static { banks: statics, direct_map } => {
            let (ipas, count) = ram_banks(p.memory.bytes()).map_err(|error| BuildError::Layout { partition: name(), error })?;
            if !direct_map && count > 1 {
                return Err(BuildError::Layout { partition: name(), error: LayoutError::TooMuchMemory { size: p.memory.bytes() } });
            }
            let mut next_ipa = ipas[0].start();
            for s in statics {
                let host = *s;
                let ipa_start = if *direct_map { host.start() } else { next_ipa };
                let ipa = AddressRange::new(ipa_start, host.size()).ok_or_else(|| BuildError::BadRange { partition: name(), what: "a static memory bank" })?;
                banks.push(GuestBank { ipa, host: host.start() });
                next_ipa = ipa.end();
            }
        }
    }
    Ok(banks)
}
