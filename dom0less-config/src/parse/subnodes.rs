//! Reads a domain's sub-nodes: boot modules, `xen,vcpu`, static event channels and static
//! shared memory.

use alloc::format;
use alloc::string::String;

use super::{
    domain, ChannelDraft, CpuSet, DomainDraft, ModuleDraft, Reader, SharedDraft, VcpuDraft,
};
use crate::devicetree::{decode_tuples, AddressRange, NodeId};
use crate::error::{ConfigError, Warning};
use crate::limits::{Limit, MAX_HOST_CPUS};

/// Xen's `MAX_SHM_ID_LENGTH`, including the terminating NUL.
const MAX_SHM_ID_LENGTH: usize = 16;
/// Highest static event channel port (FIFO ABI limit).
pub const MAX_PORT: u32 = 1 << 17;
/// What `hard-affinity` must look like; the bound is [`MAX_HOST_CPUS`].
const EXPECTED_CPU_LIST: &str = "a CPU list like \"0-3,5\" with ids below 256";
const _: () = assert!(MAX_HOST_CPUS == 256, "EXPECTED_CPU_LIST names the bound");

#[derive(Clone, Copy)]
enum ModuleKind {
    Kernel,
    Ramdisk,
    DeviceTree,
}

fn module_kind(reader: &Reader<'_>, node: NodeId) -> Option<ModuleKind> {
    let n = reader.tree.node(node);
    if n.is_compatible("multiboot,kernel") || n.is_compatible("xen,linux-zimage") {
        Some(ModuleKind::Kernel)
    } else if n.is_compatible("multiboot,ramdisk") || n.is_compatible("xen,linux-initrd") {
        Some(ModuleKind::Ramdisk)
    } else if n.is_compatible("multiboot,device-tree") {
        Some(ModuleKind::DeviceTree)
    } else {
        None
    }
}

pub(super) fn read_subnodes(
    reader: &mut Reader<'_>,
    domain: NodeId,
    cells: Option<(u32, u32)>,
    d: &mut DomainDraft,
) {
    let tree = reader.tree;
    // Caps first, so that the findings of the nodes read cannot crowd them out of the list.
    let children = tree.node(domain).children();
    let count = |c: &str| {
        children
            .iter()
            .filter(|n| tree.node(**n).is_compatible(c))
            .count()
    };
    for (count, limit) in [
        (count("xen,vcpu"), Limit::VcpuNodes),
        (count("xen,evtchn-v1"), Limit::EventChannels),
        (count("xen,domain-shared-memory-v1"), Limit::SharedMemory),
    ] {
        if count > limit.max() {
            reader.errors.push(ConfigError::TooMany {
                node: d.path.clone(),
                limit,
                count,
            });
        }
    }
    // Sub-nodes of each capped kind read so far; those past the cap are skipped.
    let (mut vcpus, mut channels, mut shared) = (0, 0, 0);
    for child in children {
        let node = tree.node(*child);
        let path = || tree.path(*child);
        if node.is_compatible("multiboot,module") || node.is_compatible("xen,multiboot-module") {
            let Some(kind) = module_kind(reader, *child) else {
                reader.warnings.push(Warning::NotSupportedYet {
                    node: path(),
                    property: String::from("compatible"),
                });
                continue;
            };
            let Some(module) = read_module(reader, *child, cells) else {
                continue;
            };
            let (slot, label) = match kind {
                ModuleKind::Kernel => (&mut d.kernel, "kernel"),
                ModuleKind::Ramdisk => (&mut d.ramdisk, "ramdisk"),
                ModuleKind::DeviceTree => (&mut d.device_tree, "device-tree"),
            };
            match slot {
                Some(first) => reader.errors.push(ConfigError::DuplicateModule {
                    domain: d.path.clone(),
                    kind: label,
                    first: first.path.clone(),
                    second: module.path,
                }),
                None => *slot = Some(module),
            }
        } else if node.is_compatible("xen,vcpu") {
            vcpus += 1;
            if vcpus > Limit::VcpuNodes.max() {
                continue;
            }
            if let Some(v) = read_vcpu(reader, *child) {
                d.vcpus.push(v);
            }
        } else if node.is_compatible("xen,evtchn-v1") {
            channels += 1;
            if channels > Limit::EventChannels.max() {
                continue;
            }
            if let Some(c) = read_channel(reader, *child) {
                d.channels.push(c);
            }
        } else if node.is_compatible("xen,domain-shared-memory-v1") {
            shared += 1;
            if shared > Limit::SharedMemory.max() {
                continue;
            }
            if let Some(s) = read_shared(reader, *child, cells) {
                d.shared.push(s);
            }
        } else {
            reader.warnings.push(Warning::NotSupportedYet {
                node: path(),
                property: String::from("compatible"),
            });
        }
    }
    if d.kernel.is_none() {
        reader.errors.push(ConfigError::MissingKernel {
            domain: d.path.clone(),
        });
    }
}

fn read_module(
    reader: &mut Reader<'_>,
    node: NodeId,
    cells: Option<(u32, u32)>,
) -> Option<ModuleDraft> {
    let path = reader.tree.path(node);
    for property in reader.tree.node(node).properties() {
        if property.name() == "xen,uefi-binary" {
            reader.warnings.push(Warning::NotSupportedYet {
                node: path.clone(),
                property: String::from("xen,uefi-binary"),
            });
        }
    }
    let bootargs = reader.string(node, "bootargs").map(String::from);
    let Some(reg) = reader.property(node, "reg") else {
        reader.errors.push(ConfigError::MissingProperty {
            node: path,
            property: "reg",
        });
        return None;
    };
    let (address, size) = cells?;
    match reader.ranges(node, reg, address, size)? {
        ranges if ranges.len() == 1 && ranges[0].size() > 0 => Some(ModuleDraft {
            path,
            range: ranges[0],
            bootargs,
        }),
        ranges => {
            reader.invalid(
                node,
                "reg",
                format!("{ranges:x?}"),
                "exactly one non-empty (address, size) entry",
            );
            None
        }
    }
}

fn read_vcpu(reader: &mut Reader<'_>, node: NodeId) -> Option<VcpuDraft> {
    let path = reader.tree.path(node);
    let Some(id) = reader.u32(node, "id") else {
        if reader.property(node, "id").is_none() {
            reader.errors.push(ConfigError::MissingProperty {
                node: path,
                property: "id",
            });
        }
        return None;
    };
    let mut affinity = CpuSet::default();
    if let Some(text) = reader.string(node, "hard-affinity") {
        match CpuSet::parse(text) {
            Some(set) => affinity = set,
            None => reader.invalid(
                node,
                "hard-affinity",
                format!("\"{text}\""),
                EXPECTED_CPU_LIST,
            ),
        }
    }
    let priority = domain::priority(reader, node);
    Some(VcpuDraft {
        path,
        id,
        affinity,
        priority,
    })
}

fn read_channel(reader: &mut Reader<'_>, node: NodeId) -> Option<ChannelDraft> {
    let path = reader.tree.path(node);
    let Some(p) = reader.property(node, "xen,evtchn") else {
        reader.errors.push(ConfigError::MissingProperty {
            node: path,
            property: "xen,evtchn",
        });
        return None;
    };
    let cells = match p.cells() {
        Ok(c) if c.len() == 2 => c,
        Ok(c) => {
            reader.invalid(
                node,
                "xen,evtchn",
                format!("{c:x?}"),
                "<local-port &remote-evtchn-node>",
            );
            return None;
        }
        Err(e) => {
            reader.bad(node, p, e);
            return None;
        }
    };
    if cells[0] == 0 || cells[0] > MAX_PORT {
        reader.invalid(
            node,
            "xen,evtchn",
            format!("port {}", cells[0]),
            "a local port from 1 to 131072",
        );
        return None;
    }
    let remote = reader.phandle(node, "xen,evtchn", cells[1])?;
    Some(ChannelDraft {
        node,
        path,
        port: cells[0],
        remote,
    })
}

fn read_shared(
    reader: &mut Reader<'_>,
    node: NodeId,
    cells: Option<(u32, u32)>,
) -> Option<SharedDraft> {
    let path = reader.tree.path(node);
    let id = match reader.string(node, "xen,shm-id") {
        None => {
            if reader.property(node, "xen,shm-id").is_none() {
                reader.errors.push(ConfigError::MissingProperty {
                    node: path,
                    property: "xen,shm-id",
                });
            }
            return None;
        }
        Some(id) if id.is_empty() || id.len() >= MAX_SHM_ID_LENGTH => {
            reader.invalid(
                node,
                "xen,shm-id",
                format!("\"{id}\""),
                "a string of 1 to 15 characters",
            );
            return None;
        }
        Some(id) => String::from(id),
    };
    let owner = match reader.string(node, "role") {
        None | Some("borrower") => false,
        Some("owner") => true,
        Some(other) => {
            reader.invalid(
                node,
                "role",
                format!("\"{other}\""),
                "\"owner\" or \"borrower\"",
            );
            false
        }
    };
    let Some(p) = reader.property(node, "xen,shared-mem") else {
        reader.errors.push(ConfigError::MissingProperty {
            node: path,
            property: "xen,shared-mem",
        });
        return None;
    };
    let (a, s) = cells?;
    // One entry of either form: decode only the form whose length the value has, so that
    // a valid value builds no error for the other form (the domain's cell counts are 1 or 2
    // and 0 to 2, so a value of the right length always decodes).
    let one_entry = |widths: &[u32]| {
        let cells: u32 = widths.iter().sum();
        (p.value().len() == cells as usize * 4)
            .then(|| decode_tuples(p, widths).ok())
            .flatten()
            .filter(|t| t.len() == 1)
    };
    let with_host = one_entry(&[a, a, s]);
    let without_host = one_entry(&[a, s]);
    let (host, guest, size) = match (with_host, without_host) {
        (Some(t), _) => (Some(t[0][0]), t[0][1], t[0][2]),
        (None, Some(t)) => (None, t[0][0], t[0][1]),
        _ => {
            reader.invalid(
                node,
                "xen,shared-mem",
                format!("{} bytes", p.value().len()),
                "<host guest size> or <guest size>",
            );
            return None;
        }
    };
    if size == 0 {
        reader.invalid(
            node,
            "xen,shared-mem",
            String::from("size 0"),
            "a non-zero size",
        );
        return None;
    }
    if let Some(start) = host.filter(|start| AddressRange::new(*start, size).is_none()) {
        reader.invalid(
            node,
            "xen,shared-mem",
            format!("{start:#x}+{size:#x} (wraps past 2^64)"),
            "a host range that ends at or below 2^64; lower the address or size",
        );
        return None;
    }
    Some(SharedDraft {
        path,
        id,
        host,
        guest,
        size,
        owner,
    })
}
