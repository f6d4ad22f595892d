//! Partitions: what each one runs (fixed once built) and its run state (behind a lock).
//!
//! Invariant: a `Partition` is built only from a validated `PartitionPlan`; its banks are
//! disjoint host memory that no other partition and nothing of the hypervisor uses, and its
//! stage-2 table maps exactly those banks (the vPL011 and everything else trap), and, once the
//! guest asks, its own Xen shared_info page.

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

mod build;
mod exit;
pub mod fast;
pub mod health;
pub mod heap_need;
pub mod passthrough;
pub mod report_limit;
pub mod restart;
pub mod shared_memory;

pub use build::{build, claim_static_banks, guest_banks, stage2_cap, static_mappings, BuildError, CpuAssignment, StaticBanksClaimed, StaticMapping};
#[cfg(test)]
use build::guest_layout_clash;
pub use exit::{handle_sync, is_xen_hypercall, vpl011_line, AbortReason, Exit, SystemRegister};

use crate::portable::guest::boot::{load, BootError, BootModules, EntryState, GuestBank};
use crate::portable::guest::dtb::{self, DtbError, GuestDtbSpec};
use crate::portable::guest::layout::GicVersion;
use crate::portable::guest::placement::Placement;
use crate::portable::memory::physical::PhysicalMemory;
use crate::portable::memory::identity_pages::IdentityPages;
use crate::portable::memory::stage2::Stage2Table;
use crate::portable::memory::AddressRange;
use crate::portable::psci::PowerStates;
use crate::portable::vcpu::Vcpu;
use crate::portable::vgic::{Doorbell, Vgic};
use crate::portable::vpl011::Vpl011;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use dom0less_config::CrashPolicy;
use locks::Mutex;

/// vCPUs a partition may have: as many as its vGIC serves.
pub use crate::portable::vgic::MAX_VCPUS;
/// Bytes of console input held for a partition while its vPL011 FIFO is full (a pasted line
/// or two); more is dropped.
pub const INPUT_BUFFER: usize = 1024;

/// One partition.
#[derive(Debug)]
pub struct Partition {
    /// Position in the plan; also the console channel.
    pub index: usize,
    pub name: String,
    /// Each vCPU's CPU: in a `null` pool the one it runs on for its whole life, in a
    /// fixed-priority pool the one it is pinned to, in a credit2 pool its home CPU (where the
    /// console interrupt goes; the scheduler moves it across the pool).
    pub vcpu_cpus: Vec<usize>,
    /// Its CPU pool (index into the plan's pools).
    pub pool: usize,
    pub gic: GicVersion,
    pub vpl011: bool,
    /// WFI and WFE trap to the hypervisor (`bulkhead,trap-wfi`).
    pub trap_wfi: bool,
    /// In a pool that shares its CPUs, its vCPUs may run with WFI not trapped while alone on
    /// their CPU (`PoolScheduler::native_wfi`): not asked to trap WFI (`bulkhead,trap-wfi`),
    /// and not direct.
    pub native_wfi: bool,
    /// Its CPUs take its interrupts straight from the physical GICv3 (`bulkhead,irq-delivery =
    /// "direct"`, `vm::direct`); the plan's validator keeps it alone on its CPUs.
    pub direct: bool,
    /// Its first load leaves its RAM as the firmware left it (`/chosen`
    /// `bulkhead,boot-scrub = "off"`); every later load scrubs.
    pub skip_boot_scrub: bool,
    /// Guest RAM and the host memory behind it.
    pub banks: Vec<GuestBank>,
    /// Pristine boot modules in host memory, reloaded on every (re)start.
    pub kernel: AddressRange,
    pub initrd: Option<AddressRange>,
    pub bootargs: Option<String>,
    /// The partial device tree module (passthrough), whose `/passthrough` and `/aliases`
    /// nodes go into the guest's device tree at every load.
    pub partial_dtb: Option<AddressRange>,
    /// Passthrough interrupts: physical SPIs delivered to the same virtual INTIDs, as Xen
    /// dom0less does, with their triggers (`passthrough::Delivery` says how).
    pub passthrough_irqs: Vec<(u32, boards::Trigger)>,
    pub placement: Placement,
    pub vttbr_el2: u64,
    pub crash_policy: CrashPolicy,
    /// Crash restarts in a row after which it stays stopped (`bulkhead,restart-limit`).
    pub restart_limit: Option<u32>,
    /// The back-off before its first crash restart in a row under the limit, in ms; each next
    /// one doubles it (`bulkhead,restart-backoff-ms`, `health::backoff_ms`).
    pub restart_backoff_ms: Option<u32>,
    /// Milliseconds within which it must write to its console (`bulkhead,heartbeat-ms`).
    pub heartbeat_ms: Option<u32>,
    /// The counter value by which it must next write to its console (`u64::MAX`: none, or
    /// not watched now). Renewed by every console write; read by its home CPU's health poll.
    pub heartbeat: core::sync::atomic::AtomicU64,
    pub run: Mutex<RunState>,
    /// The virtual GIC. Lock order: `run`, then `vgic`.
    pub vgic: Mutex<Box<Vgic>>,
    /// Per vCPU: interrupts raised from interrupt handlers without taking the vGIC lock.
    pub doorbells: [Doorbell; MAX_VCPUS],
    /// The vCPUs: state and saved registers. Lock order: `run`, then a vCPU, then `vgic`.
    pub vcpus: Vec<Mutex<Vcpu>>,
    /// The live stage-2 table (its VTTBR is `vttbr_el2`): mapping changes at run time go
    /// through it, with page-table pages from the host RAM page pool (those of the static
    /// mappings kept for good, the others given back when it stops), followed by TLB
    /// maintenance for the partition's VMID. Taken after `run`, never while a vCPU or the vGIC
    /// lock is held.
    pub stage2: Mutex<Stage2Table<IdentityPages>>,
    /// What its stage 2 maps from its build on (`build::static_mappings`): the table is
    /// rebuilt from them when it stops.
    pub static_mappings: Vec<StaticMapping>,
    /// The Xen interface: domain id `index + 1`, shared_info, registrations (`portable::xen`).
    pub xen: crate::portable::xen::XenPartition,
    /// Static shared-memory regions it maps (`xen,domain-shared-memory-v1`), fixed at build.
    pub shared_memory: Vec<shared_memory::SharedMemory>,
    /// Its event-channel ports (`portable::evtchn`). Lock order: taken with no other lock of
    /// this partition held, except while `bind_interdomain` holds two tables (lower partition
    /// index first); the partition's `xen.state` may be taken inside it, never the vGIC.
    pub evtchn: Mutex<crate::portable::evtchn::EventChannels>,
    /// Its static event channels (`xen,evtchn`), bound again when it restarts.
    pub static_channels: Vec<dom0less_config::plan::EventChannel>,
}

/// What changes while a partition runs.
#[derive(Debug)]
pub struct RunState {
    pub running: bool,
    /// Its stop was announced on the console (`partition "NAME" stopped`): only then does it
    /// count towards "all partitions stopped", so that the board never powers off before
    /// another CPU has printed a partition's stop.
    pub stop_announced: bool,
    /// 1 for the first boot, one more for each restart.
    pub boot_count: u32,
    /// No load has written its RAM yet: it is as the firmware left it.
    pub untouched: bool,
    /// One more each time the partition stops or restarts: a vCPU started for an older
    /// generation leaves the guest at its next exit.
    pub generation: u64,
    pub power: PowerStates<MAX_VCPUS>,
    pub vpl011: Vpl011,
    /// Console input for the guest that its vPL011's FIFO has no room for yet.
    pub input: heapless::Deque<u8, INPUT_BUFFER>,
    /// CNTVOFF_EL2 for this boot: the counter when it started, so the guest's virtual counter
    /// starts near zero.
    pub cntvoff: u64,
    /// How many fault reports (injected aborts) this partition may still print.
    pub reports: report_limit::ReportLimit,
    /// Why it crashed last, for the operator's `list` (kept across restarts).
    pub last_crash: Option<heapless::String<CRASH_REASON>>,
    /// Crash restarts since the operator last started or restarted it (or since boot).
    pub crash_restarts: u32,
    /// Stopped for good by its restart limit, until the operator starts it.
    pub held: bool,
    /// A crash restart waiting out its back-off (its vCPUs are stopped meanwhile).
    pub restart_pending: Option<PendingRestart>,
    /// A restart under way: asked for, its vCPUs stopping or its memory loading, vCPU 0 not
    /// started yet (`restart.rs`). Another request for the same run joins it.
    pub restarting: Option<restart::Restarting>,
}

/// A crash restart that waits for its back-off to pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingRestart {
    /// The counter value from which it may restart.
    pub at: u64,
    /// The back-off, in milliseconds.
    pub delay_ms: u64,
    /// Its number among the crash restarts in a row (1 for the first).
    pub restart: u32,
    /// The partition's generation when the crash stopped it: a stop, start or restart by the
    /// operator meanwhile changes it, and the pending restart is dropped.
    pub generation: u64,
}

/// Bytes of a crash reason kept (`list` shows it).
pub const CRASH_REASON: usize = 96;

impl RunState {
    /// Queues console input; returns how many bytes did not fit and were dropped.
    pub fn queue_input(&mut self, bytes: &[u8]) -> usize {
        bytes.iter().filter(|&&b| self.input.push_back(b).is_err()).count()
    }

    /// Moves queued input into the vPL011 FIFO as far as it has room; returns whether any moved.
    pub fn feed_input(&mut self) -> bool {
        let mut moved = false;
        while self.vpl011.pending_input() < crate::portable::vpl011::FIFO_DEPTH {
            let Some(byte) = self.input.pop_front() else { break };
            if self.vpl011.receive(byte).is_err() {
                break;
            }
            moved = true;
        }
        moved
    }
}

/// Why a partition could not be (re)started.
#[derive(Debug)]
pub enum LoadError {
    Dtb(DtbError),
    Boot(BootError),
    Vgic(crate::portable::vgic::VgicError),
    /// The partial device tree could not be read or copied.
    PartialTree(&'static str),
    Passthrough(crate::portable::guest::passthrough::PassthroughError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dtb(e) => write!(f, "its device tree could not be built: {e}"),
            Self::Boot(e) => write!(f, "its modules could not be loaded: {e}"),
            Self::Vgic(e) => write!(f, "its virtual GIC could not be reset: {e}"),
            Self::PartialTree(why) => write!(f, "its partial device tree {why}"),
            Self::Passthrough(e) => write!(f, "{e}"),
        }
    }
}

impl Partition {
    pub fn vcpu_count(&self) -> usize {
        self.vcpu_cpus.len()
    }

    /// Its Xen domain id: 1, 2, ... in `/chosen` order, as Xen dom0less numbers domUs.
    pub fn domid(&self) -> u16 {
        u16::try_from(self.index.saturating_add(1)).unwrap_or(u16::MAX)
    }

    /// Puts the vGIC back to its reset state (same version, vCPUs and SPIs), with each vCPU's
    /// virtual timer and event-channel upcall latched again.
    fn reset_vgic(&self) -> Result<(), crate::portable::vgic::VgicError> {
        use crate::portable::vgic::{VcpuId, VgicConfig, VIRTUAL_TIMER_PPI};
        let mut vgic = self.vgic.lock();
        let config = VgicConfig { version: vgic.version(), vcpus: vgic.vcpu_count(), spis: vgic.spi_count() };
        vgic.configure(config)?;
        for v in 0..config.vcpus {
            vgic.set_latched(VcpuId(v), VIRTUAL_TIMER_PPI)?;
            vgic.set_latched(VcpuId(v), crate::portable::xen::abi::layout::EVENT_CHANNEL_PPI)?;
        }
        // The physical SPIs were disabled and deactivated before the load
        // (`vm::passthrough::quiesce`): the new run's guest enables them when it is ready.
        let delivery = passthrough::Delivery::for_gic(self.gic);
        for &(intid, _) in &self.passthrough_irqs {
            delivery.map(&mut vgic, intid, intid)?;
        }
        Ok(())
    }

    /// Scrubs the partition's RAM, writes a fresh device tree and copies the modules from
    /// their pristine copies; resets PSCI and vPL011 state. Returns vCPU 0's entry state.
    pub fn load(&self, run: &mut RunState, memory: &mut impl PhysicalMemory) -> Result<EntryState, LoadError> {
        let ram: Vec<AddressRange> = self.banks.iter().map(|b| b.ipa).collect();
        let shared: Vec<dtb::SharedMemoryNode<'_>> =
            self.shared_memory.iter().map(|s| dtb::SharedMemoryNode { id: &s.id, guest: s.guest }).collect();
        let spec = GuestDtbSpec {
            name: &self.name,
            vcpus: self.vcpu_count() as u32,
            memory: &ram,
            gic: self.gic,
            vpl011: self.vpl011,
            bootargs: self.bootargs.as_deref(),
            initrd: self.placement.initrd,
            boot_count: run.boot_count,
            extra_nodes: if self.xen.hypervisor_node { &[crate::portable::xen::HYPERVISOR_NODE] } else { &[] },
            shared_memory: &shared,
        };
        let tree = match self.partial_dtb {
            None => dtb::build(&spec).map_err(LoadError::Dtb)?,
            Some(module) => {
                if module.size() > crate::portable::guest::placement::MAX_DTB_SIZE {
                    return Err(LoadError::PartialTree("is larger than 2 MiB"));
                }
                let mut bytes = alloc::vec![0u8; module.size() as usize];
                memory.read(module.start(), &mut bytes).map_err(|_| LoadError::PartialTree("cannot be read"))?;
                let partial = dom0less_config::devicetree::Tree::parse(&bytes).map_err(|_| LoadError::PartialTree("does not parse"))?;
                crate::portable::guest::passthrough::with_nodes(&partial, |nodes| dtb::build(&GuestDtbSpec { extra_nodes: nodes, ..spec }))
                    .map_err(LoadError::Passthrough)?
                    .map_err(LoadError::Dtb)?
            }
        };
        let modules = BootModules { kernel: self.kernel, initrd: self.initrd, dtb: &tree };
        // Only the very first load may skip the scrub, and only by the config's choice: a
        // restart, or a start after a stop, always scrubs what the last run left.
        let scrub = !(self.skip_boot_scrub && run.untouched);
        run.untouched = false;
        let entry = load(memory, &self.banks, &self.placement, &modules, scrub).map_err(LoadError::Boot)?;
        run.power.reset();
        run.vpl011.reset();
        run.input.clear();
        self.reset_vgic().map_err(LoadError::Vgic)?;
        Ok(entry)
    }
}

#[cfg(test)]
mod tests;
