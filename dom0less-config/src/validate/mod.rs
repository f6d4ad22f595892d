//! Checks drafts against each other and the host, and builds the [`PartitionPlan`].

mod cpus;
mod delivery;
mod devices;
mod links;
mod memory;

use alloc::string::String;
use alloc::vec::Vec;

use crate::devicetree::{AddressRange, Tree};
use crate::error::ConfigError;
use crate::host::HostInfo;
use crate::limits::{Limit, DEFAULT_WEIGHT};
use crate::parse::{self, DomainDraft, ModuleDraft, Reader};
use crate::plan::{
    CrashPolicy, Enhanced, Memory, Module, Partition, PartitionPlan, Passthrough, Validated,
};

/// Gives access to boot module contents (the partial device trees), where they are loaded.
pub trait ModuleSource {
    /// The bytes of `range`, or `None` when they are not available.
    fn bytes(&self, range: AddressRange) -> Option<&[u8]>;
}

/// What only the hypervisor (or the tool building an image) knows about the host.
#[derive(Clone, Copy, Default)]
pub struct HostFacts<'a> {
    /// Where the hypervisor image lies in host memory (size 0: unknown).
    pub hypervisor: AddressRange,
    /// MPIDR of the boot CPU; `None` means the first `/cpus` entry.
    pub boot_cpu_mpidr: Option<u64>,
    /// Contents of boot modules, to inspect partial device trees.
    pub modules: Option<&'a dyn ModuleSource>,
}

impl PartitionPlan {
    /// Parses and validates the dom0less configuration in the host device tree `dtb`.
    pub fn from_host_tree(dtb: &[u8], host: &HostFacts<'_>) -> Result<Validated, Vec<ConfigError>> {
        let tree = Tree::parse(dtb).map_err(|e| alloc::vec![ConfigError::DeviceTree(e)])?;
        Self::from_tree(&tree, host)
    }

    /// As [`PartitionPlan::from_host_tree`], for an already parsed tree.
    pub fn from_tree(tree: &Tree, host: &HostFacts<'_>) -> Result<Validated, Vec<ConfigError>> {
        let info = HostInfo::read(tree).map_err(|e| alloc::vec![ConfigError::DeviceTree(e)])?;
        host_within_limits(&info)?;
        let mut reader = Reader::new(tree);
        let drafts = parse::read_chosen(&mut reader);
        let mut errors = reader.errors;
        let mut warnings = reader.warnings;

        let (pools, pool_index) = cpus::build_pools(tree, &info, host, &drafts, &mut errors);
        let mut partitions: Vec<Partition> = drafts
            .domains
            .iter()
            .zip(pool_index)
            .map(|(d, pool)| skeleton(d, pool))
            .collect();
        cpus::place_vcpus(&info, &pools, &drafts.domains, &mut partitions, &mut errors);
        cpus::check_credit2_settings(&pools, &drafts.domains, &partitions, &mut errors);
        let shared_regions = links::shared_memory(&drafts.domains, &mut partitions, &mut errors);
        links::event_channels(tree, &drafts.domains, &mut partitions, &mut errors);
        links::evtchn_peers(&drafts.domains, &mut partitions, &mut errors);
        memory::check(&info, host, &drafts.domains, &shared_regions, &mut errors);
        devices::check(tree, host, &mut partitions, &mut errors, &mut warnings);
        delivery::check(tree, host, &info, &pools, &partitions, &mut errors);

        for (i, d) in drafts.domains.iter().enumerate() {
            if drafts.domains[..i].iter().any(|o| o.name == d.name) {
                errors.push(ConfigError::DuplicateDomain {
                    name: d.name.clone(),
                });
            }
        }
        if !errors.is_empty() {
            return Err(errors.into_vec());
        }
        let plan = PartitionPlan {
            partitions,
            pools,
            shared_regions,
            cpus: info.cpus,
            console_read_only: drafts.console_read_only,
            skip_boot_scrub: drafts.skip_boot_scrub,
        };
        Ok(Validated {
            plan,
            warnings: warnings.into_vec(),
        })
    }
}

/// The host's CPUs, RAM banks and reserved ranges are within the caps that bound the later
/// checks; the first one over its cap is the error.
fn host_within_limits(info: &HostInfo) -> Result<(), Vec<ConfigError>> {
    let counts = [
        ("/cpus", Limit::HostCpus, info.cpus.len()),
        ("/memory", Limit::RamBanks, info.ram.len()),
        (
            "/reserved-memory",
            Limit::ReservedRanges,
            info.reserved.len(),
        ),
    ];
    for (node, limit, count) in counts {
        if count > limit.max() {
            return Err(alloc::vec![ConfigError::TooMany {
                node: String::from(node),
                limit,
                count,
            }]);
        }
    }
    Ok(())
}

fn module(draft: &ModuleDraft) -> Module {
    Module {
        node: draft.path.clone(),
        range: draft.range,
        bootargs: draft.bootargs.clone(),
    }
}

/// A partition with everything that needs no cross-checking filled in.
fn skeleton(d: &DomainDraft, pool: usize) -> Partition {
    let memory = match &d.static_mem {
        Some(banks) => Memory::Static {
            banks: banks.clone(),
            direct_map: d.direct_map,
        },
        None => Memory::Allocated {
            bytes: d.memory_kib.saturating_mul(1024),
        },
    };
    Partition {
        name: d.name.clone(),
        vcpu_count: d.vcpu_count,
        memory,
        vpl011: d.vpl011,
        trap_wfi: d.trap_wfi,
        irq_delivery: d.irq_delivery.unwrap_or_default(),
        enhanced: d.enhanced.unwrap_or(Enhanced::Disabled),
        nr_spis: d.nr_spis,
        kernel: d.kernel.as_ref().map(module).unwrap_or_else(|| Module {
            node: d.path.clone(),
            range: AddressRange::default(),
            bootargs: None,
        }),
        ramdisk: d.ramdisk.as_ref().map(module),
        device_tree: d.device_tree.as_ref().map(module),
        pool,
        vcpus: Vec::new(),
        priority: d.priority,
        weight: d.weight.unwrap_or(DEFAULT_WEIGHT),
        cap_percent: d.cap.unwrap_or(0),
        crash_policy: d.crash_policy.unwrap_or(CrashPolicy::Stop),
        restart_limit: d.restart_limit,
        restart_backoff_ms: d.restart_limit.map(|_| d.restart_backoff_ms.unwrap_or(crate::limits::DEFAULT_RESTART_BACKOFF_MS)),
        heartbeat_ms: d.heartbeat_ms,
        evtchn_peers: None,
        event_channels: Vec::new(),
        shared_memory: Vec::new(),
        passthrough: Passthrough {
            enabled: d.passthrough,
            devices: Vec::new(),
        },
        max_grant_frames: d.max_grant_frames,
        max_maptrack_frames: d.max_maptrack_frames,
        llc_colors: d.llc_colors.clone(),
        unsupported: d.unsupported.clone(),
    }
}
