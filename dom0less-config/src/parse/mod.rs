//! Reads `/chosen` into drafts: typed values still carrying node references, not yet
//! checked against each other or against the host.

mod cpuset;
mod domain;
mod subnodes;

use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;

use crate::devicetree::{decode_numbers, AddressRange, NodeId, PhandleIndex, Property, Tree};
use crate::error::{ConfigError, Warning};
use crate::findings::{Errors, Warnings};
use crate::limits::{Limit, MAX_DOMAINS, MAX_HOST_CPUS, MAX_POOLS};
use crate::plan::{CrashPolicy, Enhanced, IrqDelivery};

pub use cpuset::CpuSet;
pub use domain::{LEGAL_UNMODELLED, MODELLED};

/// A parsed `xen,domain` node.
#[derive(Clone, Debug, Default)]
pub struct DomainDraft {
    pub node: Option<NodeId>,
    pub path: String,
    pub name: String,
    pub vcpu_count: u32,
    pub memory_kib: u64,
    pub static_mem: Option<Vec<AddressRange>>,
    pub direct_map: bool,
    pub vpl011: bool,
    pub trap_wfi: bool,
    /// `bulkhead,irq-delivery`, when given.
    pub irq_delivery: Option<IrqDelivery>,
    /// `bulkhead,evtchn-peers`: names of the domains it may share event channels with.
    pub evtchn_peers: Option<Vec<String>>,
    pub enhanced: Option<Enhanced>,
    pub nr_spis: Option<u32>,
    pub kernel: Option<ModuleDraft>,
    pub ramdisk: Option<ModuleDraft>,
    pub device_tree: Option<ModuleDraft>,
    pub pool: Option<NodeId>,
    pub vcpus: Vec<VcpuDraft>,
    pub priority: u8,
    /// `bulkhead,weight`, when given (1..=65535 checked here).
    pub weight: Option<u16>,
    /// `bulkhead,cap`, when given (the bound depends on the pool: checked by the validator).
    pub cap: Option<u32>,
    pub crash_policy: Option<CrashPolicy>,
    /// `bulkhead,restart-limit` (only with `on-crash = "restart"`, at least 1).
    pub restart_limit: Option<u32>,
    /// `bulkhead,restart-backoff-ms` (1..=60000, only with a restart limit).
    pub restart_backoff_ms: Option<u32>,
    /// `bulkhead,heartbeat-ms` (10..=3600000).
    pub heartbeat_ms: Option<u32>,
    pub channels: Vec<ChannelDraft>,
    pub shared: Vec<SharedDraft>,
    pub passthrough: Option<bool>,
    pub max_grant_frames: Option<u32>,
    pub max_maptrack_frames: Option<u32>,
    pub llc_colors: Vec<(u32, u32)>,
    pub unsupported: Vec<Property>,
}

/// A boot module sub-node.
#[derive(Clone, Debug)]
pub struct ModuleDraft {
    pub path: String,
    pub range: AddressRange,
    pub bootargs: Option<String>,
}

/// A `xen,vcpu` sub-node.
#[derive(Clone, Debug)]
pub struct VcpuDraft {
    pub path: String,
    pub id: u32,
    pub affinity: CpuSet,
    pub priority: Option<u8>,
}

/// A `xen,evtchn-v1` sub-node.
#[derive(Clone, Debug)]
pub struct ChannelDraft {
    pub node: NodeId,
    pub path: String,
    pub port: u32,
    pub remote: NodeId,
}

/// A `xen,domain-shared-memory-v1` sub-node.
#[derive(Clone, Debug)]
pub struct SharedDraft {
    pub path: String,
    pub id: String,
    pub host: Option<u64>,
    pub guest: u64,
    pub size: u64,
    pub owner: bool,
}

/// A `xen,cpupool` node.
#[derive(Clone, Debug)]
pub struct PoolDraft {
    pub node: NodeId,
    pub path: String,
    pub cpus: Vec<NodeId>,
    pub scheduler: Option<String>,
}

/// Everything read from `/chosen`.
#[derive(Clone, Debug, Default)]
pub struct Drafts {
    pub domains: Vec<DomainDraft>,
    pub pools: Vec<PoolDraft>,
    /// `/chosen` `bulkhead,console-control = "read-only"`.
    pub console_read_only: bool,
    /// `/chosen` `bulkhead,boot-scrub = "off"`.
    pub skip_boot_scrub: bool,
}

/// Error and warning sink shared by the parsing functions.
pub struct Reader<'a> {
    pub tree: &'a Tree,
    pub(crate) errors: Errors,
    pub(crate) warnings: Warnings,
    phandles: PhandleIndex,
}

impl<'a> Reader<'a> {
    /// A reader over `tree` with no findings yet; indexes the tree's phandles once.
    pub fn new(tree: &'a Tree) -> Self {
        Self {
            tree,
            errors: Errors::errors(),
            warnings: Warnings::warnings(),
            phandles: tree.phandle_index(),
        }
    }

    fn property(&self, node: NodeId, name: &str) -> Option<&'a Property> {
        self.tree.node(node).property(name)
    }

    fn bad(&mut self, node: NodeId, property: &Property, error: crate::devicetree::DtError) {
        let tree = self.tree;
        self.errors.push(ConfigError::BadProperty {
            node: tree.path(node),
            property: String::from(property.name()),
            error,
        });
    }

    /// An optional one-cell property; malformed values are recorded.
    fn u32(&mut self, node: NodeId, name: &str) -> Option<u32> {
        let p = self.property(node, name)?;
        p.u32().map_err(|e| self.bad(node, p, e)).ok()
    }

    /// An optional string property; malformed values are recorded.
    fn string(&mut self, node: NodeId, name: &str) -> Option<&'a str> {
        let p = self.property(node, name)?;
        p.str().map_err(|e| self.bad(node, p, e)).ok()
    }

    /// `property` as `(address, size)` ranges; records a malformed value, or a pair that wraps
    /// past 2^64 (named by its raw start and size), and returns `None`.
    fn ranges(
        &mut self,
        node: NodeId,
        property: &'a Property,
        address_cells: u32,
        size_cells: u32,
    ) -> Option<Vec<AddressRange>> {
        let pairs = match decode_numbers(property, address_cells, size_cells) {
            Ok(pairs) => pairs,
            Err(e) => {
                self.bad(node, property, e);
                return None;
            }
        };
        let mut ranges = Vec::with_capacity(pairs.len());
        for (start, size) in pairs {
            let Some(range) = AddressRange::new(start, size) else {
                self.invalid(
                    node,
                    property.name(),
                    alloc::format!("{start:#x}+{size:#x} (wraps past 2^64)"),
                    "(address, size) entries that end at or below 2^64; lower the address or size",
                );
                return None;
            };
            ranges.push(range);
        }
        Some(ranges)
    }

    fn invalid(&mut self, node: NodeId, property: &str, value: String, expected: &'static str) {
        let tree = self.tree;
        self.errors.push(ConfigError::InvalidValue {
            node: tree.path(node),
            property: String::from(property),
            value,
            expected,
        });
    }

    /// Resolves a phandle; records dangling ones.
    fn phandle(&mut self, node: NodeId, property: &'static str, phandle: u32) -> Option<NodeId> {
        let target = self.phandles.get(phandle);
        if target.is_none() {
            let tree = self.tree;
            self.errors.push(ConfigError::DanglingPhandle {
                node: tree.path(node),
                property,
                phandle,
            });
        }
        target
    }
}

/// Parses a Xen-style list of numbers and inclusive ranges: `"0-3,5"` (`llc-colors`; CPU
/// lists use [`CpuSet`]).
pub fn parse_ranges(text: &str) -> Option<Vec<(u32, u32)>> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim) {
        let (low, high) = match part.split_once('-') {
            Some((l, h)) => (l.trim().parse().ok()?, h.trim().parse().ok()?),
            None => {
                let v = part.parse().ok()?;
                (v, v)
            }
        };
        if low > high {
            return None;
        }
        out.push((low, high));
    }
    Some(out)
}

/// The `/chosen` property that turns the scrub of each partition's first load off.
pub const BOOT_SCRUB: &str = "bulkhead,boot-scrub";

/// Whether `tree`'s `/chosen` turns the boot scrub off (`bulkhead,boot-scrub = "off"`), read
/// alone, before the config is parsed: the hypervisor maps RAM by this choice before its MMU
/// goes on. Only a well-formed `"off"` counts, exactly when [`read_chosen`] sets
/// `skip_boot_scrub`; any other value reads as "on" here, and the parser rejects it.
pub fn boot_scrub_off(tree: &Tree) -> bool {
    let chosen = tree.find("/chosen");
    chosen.and_then(|c| tree.node(c).property(BOOT_SCRUB)).and_then(|p| p.str().ok()) == Some("off")
}

/// Reads `/chosen`: domains and cpupools.
pub fn read_chosen(reader: &mut Reader<'_>) -> Drafts {
    let tree = reader.tree;
    let mut drafts = Drafts::default();
    let Some(chosen) = tree.find("/chosen") else {
        reader.errors.push(ConfigError::NoDomains);
        return drafts;
    };
    drafts.console_read_only = match reader.string(chosen, "bulkhead,console-control") {
        None | Some("read-write") => false,
        Some("read-only") => true,
        Some(other) => {
            reader.errors.push(ConfigError::InvalidValue {
                node: tree.path(chosen),
                property: String::from("bulkhead,console-control"),
                value: String::from(other),
                expected: "\"read-write\" (the default) or \"read-only\"",
            });
            false
        }
    };
    drafts.skip_boot_scrub = match reader.string(chosen, BOOT_SCRUB) {
        None | Some("on") => false,
        Some("off") => true,
        Some(other) => {
            reader.errors.push(ConfigError::InvalidValue {
                node: tree.path(chosen),
                property: String::from(BOOT_SCRUB),
                value: String::from(other),
                expected: "\"on\" (the default) or \"off\" (only for firmware that already clears RAM)",
            });
            false
        }
    };
    // Xen's own settings in /chosen: valid, with nothing for Bulkhead to do.
    for property in ["xen,xen-bootargs", "xen,dom0-bootargs", "xen,static-heap"] {
        if tree.node(chosen).property(property).is_some() {
            reader.warnings.push(Warning::NotSupportedYet {
                node: tree.path(chosen),
                property: String::from(property),
            });
        }
    }
    // Caps first, so that the findings of the nodes read cannot crowd them out of the list.
    let children = tree.node(chosen).children();
    let count = |c: &str| {
        children
            .iter()
            .filter(|n| tree.node(**n).is_compatible(c))
            .count()
    };
    for (count, limit) in [
        (count("xen,domain"), Limit::Domains),
        (count("xen,cpupool"), Limit::Pools),
    ] {
        if count > limit.max() {
            reader.errors.push(ConfigError::TooMany {
                node: tree.path(chosen),
                limit,
                count,
            });
        }
    }
    let mut dom0_module = None;
    for child in children {
        let node = tree.node(*child);
        if node.is_compatible("xen,domain") {
            if drafts.domains.len() < MAX_DOMAINS {
                drafts.domains.push(domain::read_domain(reader, *child));
            }
        } else if node.is_compatible("xen,cpupool") {
            if drafts.pools.len() < MAX_POOLS {
                drafts.pools.push(read_pool(reader, *child));
            }
        } else if node.is_compatible("xen,evtchn-v1") {
            reader.errors.push(ConfigError::ChannelOutsideDomain {
                node: tree.path(*child),
            });
        } else if node.is_compatible("multiboot,module")
            || node.is_compatible("xen,multiboot-module")
            || node.is_compatible("xen,domain-shared-memory-v1")
        {
            if !node.is_compatible("xen,domain-shared-memory-v1") && dom0_module.is_none() {
                dom0_module = Some(*child);
            }
            reader.warnings.push(Warning::Dom0Ignored {
                node: tree.path(*child),
            });
        }
    }
    if drafts.domains.is_empty() {
        reader.errors.push(match dom0_module {
            Some(module) => ConfigError::Dom0Only { node: tree.path(module) },
            None => ConfigError::NoDomains,
        });
    }
    drafts
}

fn read_pool(reader: &mut Reader<'_>, node: NodeId) -> PoolDraft {
    let path = reader.tree.path(node);
    let mut cpus = Vec::new();
    match reader.property(node, "cpupool-cpus") {
        None => reader.errors.push(ConfigError::MissingProperty {
            node: path.clone(),
            property: "cpupool-cpus",
        }),
        Some(p) if p.value().len() / 4 > MAX_HOST_CPUS => {
            reader.errors.push(ConfigError::TooMany {
                node: path.clone(),
                limit: Limit::PoolCpus,
                count: p.value().len() / 4,
            })
        }
        Some(p) => match p.cells() {
            Err(e) => reader.bad(node, p, e),
            Ok(handles) => {
                // A CPU listed twice is looked up (and reported) once.
                let mut seen = BTreeSet::new();
                for handle in handles.into_iter().filter(|h| seen.insert(*h)) {
                    let Some(target) = reader.phandle(node, "cpupool-cpus", handle) else {
                        continue;
                    };
                    let is_cpu = reader
                        .tree
                        .node(target)
                        .property("device_type")
                        .is_some_and(|t| t.is_str("cpu"));
                    if is_cpu {
                        cpus.push(target);
                    } else {
                        reader.errors.push(ConfigError::WrongPhandleTarget {
                            node: path.clone(),
                            property: "cpupool-cpus",
                            target: reader.tree.path(target),
                            expected: "a /cpus node with device_type = \"cpu\"",
                        });
                    }
                }
            }
        },
    }
    let scheduler = reader.string(node, "cpupool-sched").map(String::from);
    PoolDraft {
        node,
        path,
        cpus,
        scheduler,
    }
}
