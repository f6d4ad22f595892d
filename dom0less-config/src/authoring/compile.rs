//! Compiles a [`Document`] into Xen dom0less nodes under the host tree's `/chosen`.

use std::fmt;
use std::format;
use std::string::String;
use std::vec::Vec;

use super::{parse_number, Document, ModuleSpec, PartitionSpec};
use crate::devicetree::{
    cells_value, number_cells, strings_value, AddressRange, DtError, NodeId, Tree,
};
use crate::host::HostInfo;

/// Why a document could not be compiled (before validation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompileError {
    /// The host tree is unreadable.
    HostTree(DtError),
    /// A number or size does not parse.
    BadNumber { field: String, value: String },
    /// A reference to a pool or partition that is not defined.
    UnknownName { field: String, name: String },
    /// A channel end is not `"partition:port"`.
    BadChannelEnd { value: String },
    /// A module file could not be read.
    File { path: String, error: String },
    /// A module with neither `file` nor `size`.
    MissingModuleSize {
        partition: String,
        module: &'static str,
    },
    /// A partition with neither `memory` nor `static_memory`.
    MissingMemory { partition: String },
    /// No free RAM is left for a module.
    NoRoomForModule {
        partition: String,
        module: &'static str,
        size: u64,
    },
    /// A pool names a CPU the host does not have.
    UnknownCpu { pool: String, cpu: u32 },
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HostTree(e) => write!(f, "host device tree: {e}"),
            Self::BadNumber { field, value } => {
                write!(f, "{field} = \"{value}\" is not a number; write decimal, 0x hex, or a size like \"128M\"")
            }
            Self::UnknownName { field, name } => write!(f, "{field} names \"{name}\", which is not defined"),
            Self::BadChannelEnd { value } => write!(f, "channel end \"{value}\" should look like \"domU1:10\""),
            Self::File { path, error } => write!(f, "cannot read module file {path}: {error}"),
            Self::MissingModuleSize { partition, module } => {
                write!(f, "partition {partition}: {module} needs `file` or `size`")
            }
            Self::MissingMemory { partition } => write!(f, "partition {partition}: give `memory` or `static_memory`"),
            Self::NoRoomForModule { partition, module, size } => write!(
                f,
                "partition {partition}: no free RAM for its {module} ({size:#x} bytes); give it an `address` or free memory"
            ),
            Self::UnknownCpu { pool, cpu } => write!(f, "pool {pool}: the host has no CPU {cpu}"),
        }
    }
}

/// The compiled tree and the contents of module files (to check partial device trees).
#[derive(Clone, Debug)]
pub struct Compiled {
    /// Host tree with the dom0less nodes added.
    pub tree: Tree,
    /// Loaded module files by host range.
    pub modules: Vec<(AddressRange, Vec<u8>)>,
}

impl crate::ModuleSource for Compiled {
    fn bytes(&self, range: AddressRange) -> Option<&[u8]> {
        self.modules
            .iter()
            .find(|(r, _)| r.start() == range.start())
            .map(|(_, b)| b.as_slice())
    }
}

fn number(field: &str, value: &str) -> Result<u64, CompileError> {
    parse_number(value).ok_or_else(|| CompileError::BadNumber {
        field: String::from(field),
        value: String::from(value),
    })
}

fn two_cells(value: u64) -> Vec<u8> {
    cells_value(&[(value >> 32) as u32, value as u32])
}

/// A module to place: where it goes, or its size and alignment for placement.
pub(super) struct PendingModule {
    pub(super) partition: usize,
    pub(super) kind: &'static str,
    pub(super) address: Option<u64>,
    pub(super) size: u64,
    pub(super) bytes: Option<Vec<u8>>,
    pub(super) bootargs: Option<String>,
}

/// Compiles `doc` into `host`. `read` loads a module file by the name the document uses.
pub fn compile(
    doc: &Document,
    host: &Tree,
    read: &dyn Fn(&str) -> Result<Vec<u8>, String>,
) -> Result<Compiled, CompileError> {
    let mut tree = host.clone();
    let info = HostInfo::read(&tree).map_err(CompileError::HostTree)?;
    let root = tree.root();
    let chosen = match tree.find("/chosen") {
        Some(c) => c,
        None => tree.add_node(root, "chosen"),
    };
    if tree.node(chosen).property("#address-cells").is_none() {
        tree.set_property(chosen, "#address-cells", cells_value(&[2]));
        tree.set_property(chosen, "#size-cells", cells_value(&[2]));
    }
    if let Some(control) = &doc.console_control {
        tree.set_property(chosen, "bulkhead,console-control", strings_value(&[control]));
    }
    if let Some(scrub) = &doc.boot_scrub {
        tree.set_property(chosen, "bulkhead,boot-scrub", strings_value(&[scrub]));
    }
    let chosen_cells = (
        tree.address_cells(chosen).map_err(CompileError::HostTree)?,
        tree.size_cells(chosen).map_err(CompileError::HostTree)?,
    );
    let mut next_phandle = tree.max_phandle() + 1;
    let mut take_phandle = || {
        next_phandle += 1;
        next_phandle - 1
    };

    // Pools, with phandles on the CPUs they list.
    let mut pool_phandles = Vec::new();
    for pool in &doc.pools {
        let mut handles = Vec::new();
        for cpu in &pool.cpus {
            let host_cpu = info
                .cpus
                .get(*cpu as usize)
                .ok_or(CompileError::UnknownCpu {
                    pool: pool.name.clone(),
                    cpu: *cpu,
                })?;
            let node = tree.find(&host_cpu.path).ok_or(CompileError::UnknownCpu {
                pool: pool.name.clone(),
                cpu: *cpu,
            })?;
            let handle = match tree.node(node).phandle() {
                Some(h) => h,
                None => {
                    let h = take_phandle();
                    tree.set_property(node, "phandle", cells_value(&[h]));
                    h
                }
            };
            handles.push(handle);
        }
        let node = tree.add_node(chosen, &pool.name);
        let phandle = take_phandle();
        tree.set_property(node, "compatible", strings_value(&["xen,cpupool"]));
        tree.set_property(node, "cpupool-cpus", cells_value(&handles));
        if let Some(s) = &pool.scheduler {
            tree.set_property(node, "cpupool-sched", strings_value(&[s]));
        }
        tree.set_property(node, "phandle", cells_value(&[phandle]));
        pool_phandles.push((pool.name.clone(), phandle));
    }

    let pending = modules(doc, read)?;
    mark_passthrough(&mut tree, &pending);
    let placed = super::compile_layout::place(doc, &info, &tree, pending)?;
    let mut compiled_modules = Vec::new();

    let mut domain_nodes = Vec::new();
    for (index, p) in doc.partitions.iter().enumerate() {
        let node = tree.add_node(chosen, &p.name);
        domain_properties(&mut tree, node, p, chosen_cells, &pool_phandles)?;
        for m in placed.iter().filter(|m| m.partition == index) {
            let (start, size) = (m.address.unwrap_or(0), m.size);
            let child = tree.add_node(node, &format!("module@{start:x}"));
            let specific = match m.kind {
                "kernel" => "multiboot,kernel",
                "ramdisk" => "multiboot,ramdisk",
                _ => "multiboot,device-tree",
            };
            tree.set_property(
                child,
                "compatible",
                strings_value(&[specific, "multiboot,module"]),
            );
            let mut reg = Vec::new();
            number_cells(start, 2, &mut reg);
            number_cells(size, 2, &mut reg);
            tree.set_property(child, "reg", cells_value(&reg));
            if let Some(args) = &m.bootargs {
                tree.set_property(child, "bootargs", strings_value(&[args]));
            }
            // A module that wraps past 2^64 has no bytes to look up: validating the tree
            // refuses its `reg`, naming the start and size.
            if let (Some(bytes), Some(range)) = (&m.bytes, AddressRange::new(start, size)) {
                compiled_modules.push((range, bytes.clone()));
            }
        }
        for v in &p.vcpu_settings {
            let child = tree.add_node(node, &format!("vcpu{}", v.id));
            tree.set_property(child, "compatible", strings_value(&["xen,vcpu"]));
            tree.set_property(child, "id", cells_value(&[v.id]));
            if let Some(a) = &v.affinity {
                tree.set_property(child, "hard-affinity", strings_value(&[a]));
            }
            if let Some(prio) = v.priority {
                tree.set_property(child, "bulkhead,priority", cells_value(&[u32::from(prio)]));
            }
        }
        domain_nodes.push(node);
    }
    super::compile_links::channels(doc, &mut tree, &domain_nodes, &mut take_phandle)?;
    super::compile_links::shared(doc, &mut tree, &domain_nodes)?;
    Ok(Compiled {
        tree,
        modules: compiled_modules,
    })
}

fn domain_properties(
    tree: &mut Tree,
    node: NodeId,
    p: &PartitionSpec,
    chosen_cells: (u32, u32),
    pools: &[(String, u32)],
) -> Result<(), CompileError> {
    let field = |name: &str| format!("partition {}: {name}", p.name);
    tree.set_property(node, "compatible", strings_value(&["xen,domain"]));
    tree.set_property(node, "#address-cells", cells_value(&[2]));
    tree.set_property(node, "#size-cells", cells_value(&[2]));
    let mut banks = Vec::new();
    for r in &p.static_memory {
        banks.push((
            number(&field("static_memory.address"), &r.address)?,
            number(&field("static_memory.size"), &r.size)?,
        ));
    }
    let bytes = match &p.memory {
        Some(m) => number(&field("memory"), m)?,
        None if !banks.is_empty() => banks.iter().map(|b| b.1).sum(),
        None => {
            return Err(CompileError::MissingMemory {
                partition: p.name.clone(),
            })
        }
    };
    if bytes % 1024 != 0 {
        return Err(CompileError::BadNumber {
            field: field("memory"),
            value: format!("{bytes} (not a whole KiB)"),
        });
    }
    tree.set_property(node, "memory", two_cells(bytes / 1024));
    tree.set_property(node, "cpus", cells_value(&[p.vcpus]));
    if !banks.is_empty() {
        let mut cells = Vec::new();
        for (start, size) in banks {
            number_cells(start, chosen_cells.0, &mut cells);
            number_cells(size, chosen_cells.1, &mut cells);
        }
        tree.set_property(node, "xen,static-mem", cells_value(&cells));
    }
    if p.direct_map {
        tree.set_property(node, "direct-map", Vec::new());
    }
    if p.console {
        tree.set_property(node, "vpl011", Vec::new());
    }
    if p.trap_wfi {
        tree.set_property(node, "bulkhead,trap-wfi", Vec::new());
    }
    if let Some(peers) = &p.evtchn_peers {
        let names: Vec<&str> = peers.iter().map(String::as_str).collect();
        tree.set_property(node, "bulkhead,evtchn-peers", strings_value(&names));
    }
    if let Some(pool) = &p.pool {
        let handle =
            pools
                .iter()
                .find(|(n, _)| n == pool)
                .ok_or_else(|| CompileError::UnknownName {
                    field: field("pool"),
                    name: pool.clone(),
                })?;
        tree.set_property(node, "domain-cpupool", cells_value(&[handle.1]));
    }
    let strings = [
        ("xen,enhanced", &p.enhanced),
        ("passthrough", &p.passthrough),
        ("llc-colors", &p.llc_colors),
        ("bulkhead,on-crash", &p.on_crash),
        ("bulkhead,irq-delivery", &p.irq_delivery),
    ];
    for (name, value) in strings {
        if let Some(v) = value {
            tree.set_property(node, name, strings_value(&[v]));
        }
    }
    let numbers = [
        ("nr_spis", p.nr_spis),
        ("max_grant_frames", p.max_grant_frames),
        ("max_maptrack_frames", p.max_maptrack_frames),
        ("bulkhead,weight", p.weight.map(u32::from)),
        ("bulkhead,restart-limit", p.restart_limit),
        ("bulkhead,restart-backoff-ms", p.restart_backoff_ms),
        ("bulkhead,heartbeat-ms", p.heartbeat_ms),
        ("bulkhead,cap", p.cap),
    ];
    for (name, value) in numbers {
        if let Some(v) = value {
            tree.set_property(node, name, cells_value(&[v]));
        }
    }
    if p.priority != 0 {
        tree.set_property(
            node,
            "bulkhead,priority",
            cells_value(&[u32::from(p.priority)]),
        );
    }
    for (name, hex) in &p.xen_properties {
        let value = decode_hex(hex).ok_or_else(|| CompileError::BadNumber {
            field: field(name),
            value: hex.clone(),
        })?;
        tree.set_property(node, name, value);
    }
    Ok(())
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Marks each host node a partial device tree passes through (its `/passthrough` nodes'
/// `xen,path`) with `xen,passthrough`, as Xen's binding wants of the host tree and as
/// ImageBuilder does for its users. A path the host does not have, or a partial tree that
/// does not parse, is left for the validator to report.
fn mark_passthrough(tree: &mut Tree, modules: &[PendingModule]) {
    for module in modules.iter().filter(|m| m.kind == "device-tree") {
        let Some(partial) = module.bytes.as_deref().and_then(|b| Tree::parse(b).ok()) else {
            continue;
        };
        let Some(passthrough) = partial.find("/passthrough") else {
            continue;
        };
        for &device in partial.node(passthrough).children() {
            let path = partial.node(device).property("xen,path").and_then(|p| p.str().ok());
            if let Some(host) = path.and_then(|path| tree.find(path)) {
                tree.set_property(host, "xen,passthrough", Vec::new());
            }
        }
    }
}

fn modules(
    doc: &Document,
    read: &dyn Fn(&str) -> Result<Vec<u8>, String>,
) -> Result<Vec<PendingModule>, CompileError> {
    let mut out = Vec::new();
    for (index, p) in doc.partitions.iter().enumerate() {
        let specs: [(&'static str, Option<&ModuleSpec>); 3] = [
            ("kernel", Some(&p.kernel)),
            ("ramdisk", p.ramdisk.as_ref()),
            ("device-tree", p.device_tree.as_ref()),
        ];
        for (kind, spec) in specs {
            let Some(spec) = spec else { continue };
            let field = |name: &str| format!("partition {}: {kind}.{name}", p.name);
            let bytes = match &spec.file {
                Some(path) => Some(read(path).map_err(|error| CompileError::File {
                    path: path.clone(),
                    error,
                })?),
                None => None,
            };
            let size = match (&spec.size, &bytes) {
                (Some(s), _) => number(&field("size"), s)?,
                (None, Some(b)) => b.len() as u64,
                (None, None) => {
                    return Err(CompileError::MissingModuleSize {
                        partition: p.name.clone(),
                        module: kind,
                    })
                }
            };
            let address = spec
                .address
                .as_deref()
                .map(|a| number(&field("address"), a))
                .transpose()?;
            out.push(PendingModule {
                partition: index,
                kind,
                address,
                size,
                bytes,
                bootargs: spec.bootargs.clone(),
            });
        }
    }
    Ok(out)
}
