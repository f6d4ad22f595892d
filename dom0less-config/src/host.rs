//! What the host device tree says about the machine: RAM, reserved memory, CPUs, console.

use alloc::string::String;
use alloc::vec::Vec;

use crate::devicetree::{AddressRange, DtError, NodeId, Tree};

/// One physical CPU from `/cpus`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostCpu {
    /// Logical CPU id: the position among `/cpus` nodes with `device_type = "cpu"`.
    pub index: usize,
    /// The node's `reg`: the MPIDR affinity fields.
    pub mpidr: u64,
    /// The node's phandle, if any.
    pub phandle: Option<u32>,
    /// The node's path, for messages.
    pub path: String,
}

/// A reserved memory range and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReservedRange {
    /// The reserved range.
    pub range: AddressRange,
    /// The `/reserved-memory` child path, or `/memreserve/`.
    pub source: String,
}

/// The host machine as its device tree describes it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct HostInfo {
    /// RAM banks from `device_type = "memory"` nodes, sorted by start.
    pub ram: Vec<AddressRange>,
    /// `/reserved-memory` children with `reg`, and memory reservation block entries.
    pub reserved: Vec<ReservedRange>,
    /// CPUs in `/cpus` order.
    pub cpus: Vec<HostCpu>,
    /// `/chosen/bootargs`.
    pub bootargs: Option<String>,
    /// `/chosen/stdout-path`.
    pub stdout_path: Option<String>,
}

impl HostInfo {
    /// Reads the host facts from a parsed tree.
    pub fn read(tree: &Tree) -> Result<Self, DtError> {
        let mut info = HostInfo::default();
        for id in tree.node_ids() {
            let node = tree.node(id);
            let is_memory = node
                .property("device_type")
                .is_some_and(|p| p.is_str("memory"));
            if is_memory && node.parent() == Some(tree.root()) {
                info.ram.extend(
                    tree.translated_reg(id)?
                        .into_iter()
                        .filter(|r| !r.is_empty()),
                );
            }
        }
        crate::sort::sort(&mut info.ram);
        if let Some(reserved) = tree.find("/reserved-memory") {
            for child in tree.node(reserved).children() {
                for range in tree.translated_reg(*child)? {
                    info.reserved.push(ReservedRange {
                        range,
                        source: tree.path(*child),
                    });
                }
            }
        }
        for r in tree.reservations() {
            let range = AddressRange::new(r.address, r.size).ok_or_else(|| DtError::BadAddress {
                node: String::from("/memreserve/"),
                reason: "an entry wraps past 2^64; lower its address or size",
            })?;
            info.reserved.push(ReservedRange {
                range,
                source: String::from("/memreserve/"),
            });
        }
        info.cpus = read_cpus(tree)?;
        if let Some(chosen) = tree.find("/chosen") {
            let text = |name| {
                tree.node(chosen)
                    .property(name)
                    .and_then(|p| p.str().ok())
                    .map(String::from)
            };
            info.bootargs = text("bootargs");
            info.stdout_path = text("stdout-path");
        }
        Ok(info)
    }

    /// The CPU whose phandle is `phandle`.
    pub fn cpu_by_phandle(&self, phandle: u32) -> Option<&HostCpu> {
        self.cpus.iter().find(|c| c.phandle == Some(phandle))
    }

    /// Total RAM in bytes.
    pub fn ram_bytes(&self) -> u64 {
        self.ram
            .iter()
            .fold(0u64, |sum, r| sum.saturating_add(r.size()))
    }
}

/// The `/cpus` children with `device_type = "cpu"`, in order: logical CPU `i` is entry `i`.
pub fn cpu_nodes(tree: &Tree) -> Vec<NodeId> {
    let Some(cpus) = tree.find("/cpus") else {
        return Vec::new();
    };
    tree.node(cpus)
        .children()
        .iter()
        .copied()
        .filter(|child| {
            tree.node(*child)
                .property("device_type")
                .is_some_and(|p| p.is_str("cpu"))
        })
        .collect()
}

fn read_cpus(tree: &Tree) -> Result<Vec<HostCpu>, DtError> {
    let mut out = Vec::new();
    for child in cpu_nodes(tree) {
        let mpidr = tree.reg(child)?.first().map_or(0, |r| r.start());
        out.push(HostCpu {
            index: out.len(),
            mpidr,
            phandle: tree.node(child).phandle(),
            path: tree.path(child),
        });
    }
    Ok(out)
}
