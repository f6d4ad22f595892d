//! Passthrough: devices named by each partition's partial device tree module.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::HostFacts;
use crate::devicetree::{decode_tuples, AddressRange, NodeId, Tree};
use crate::error::{ConfigError, Warning};
use crate::findings::{Errors, Warnings};
use crate::limits::{Limit, MAX_DEVICE_INTERRUPTS, MAX_DEVICE_RANGES, MAX_PASSTHROUGH_DEVICES};
use crate::plan::{Device, Memory, Partition};
use boards::Trigger;

/// Reads the devices of one partial device tree (Xen's `docs/misc/arm/passthrough.txt`).
pub fn partial_tree_devices(
    host: &Tree,
    partial: &Tree,
    node: &str,
    errors: &mut Errors,
) -> Vec<Device> {
    let mut devices = Vec::new();
    let Some(passthrough) = partial.find("/passthrough") else {
        return devices;
    };
    let count = partial.node(passthrough).children().len();
    if count > MAX_PASSTHROUGH_DEVICES {
        errors.push(ConfigError::TooMany {
            node: String::from(node),
            limit: Limit::PassthroughDevices,
            count,
        });
        return devices;
    }
    let console = console_node(host);
    let root_parent = host
        .node(host.root())
        .property("interrupt-parent")
        .and_then(|p| p.u32().ok())
        .and_then(|phandle| host.by_phandle(phandle));
    let console_irqs = console.map(|c| spis_of(host, c)).unwrap_or_default();
    let console_pages: Vec<AddressRange> = console
        .and_then(|c| host.translated_reg(c).ok())
        .unwrap_or_default()
        .iter()
        .map(|r| r.grow_to(0x1000).unwrap_or(*r))
        .collect();
    let root = partial.root();
    let (a, s) = (
        partial.address_cells(root).unwrap_or(2),
        partial.size_cells(root).unwrap_or(1),
    );
    for child in partial.node(passthrough).children() {
        let n = partial.node(*child);
        let Some(path) = n.property("xen,path").and_then(|p| p.str().ok()) else {
            continue;
        };
        let fail = |reason| ConfigError::BadPassthrough {
            node: String::from(node),
            device: String::from(path),
            reason,
        };
        let too_many = |limit, count| ConfigError::TooMany {
            node: format!("{node}: passthrough of {path}"),
            limit,
            count,
        };
        let Some(host_node) = host.find(path) else {
            errors.push(fail("xen,path names no node of the host device tree"));
            continue;
        };
        let without_iommu = n.property("xen,force-assign-without-iommu").is_some();
        let host_device = host.node(host_node);
        if host_device.property("xen,passthrough").is_none() {
            errors.push(fail("the host node lacks the `xen,passthrough` property; add it to the host node"));
        }
        if !without_iommu {
            errors.push(fail(
                "no IOMMU protects the device (Bulkhead drives none): add `xen,force-assign-without-iommu` to its node in the partial device tree, as Xen requires",
            ));
        }
        if Some(host_node) == console || hypervisor_device(host, host_node, root_parent) {
            errors.push(fail(
                "the hypervisor uses this device (its console UART, the GIC or the timer); pass another device through",
            ));
        }
        let dma = ["dma-coherent", "iommus", "dmas"].iter().any(|p| host_device.property(p).is_some())
            || host_device.is_compatible("virtio,mmio");
        // Xen maps whole pages, so `xen,reg` may cover the pages around the device's registers.
        let host_regs: Vec<AddressRange> = host
            .translated_reg(host_node)
            .unwrap_or_default()
            .iter()
            .map(|r| r.grow_to(0x1000).unwrap_or(*r))
            .collect();
        let mut mmio = Vec::new();
        if let Some(reg) = n.property("xen,reg") {
            match decode_tuples(reg, &[a, s, a]) {
                Ok(entries) if entries.len() > MAX_DEVICE_RANGES => {
                    errors.push(too_many(Limit::DeviceRanges, entries.len()));
                }
                Ok(entries) => {
                    for e in entries {
                        let Some(range) = AddressRange::new(e[0], e[1]) else {
                            errors.push(fail(
                                "a `xen,reg` range wraps past 2^64; lower its address or size",
                            ));
                            continue;
                        };
                        if (range.start() | range.size() | e[2]) & 0xfff != 0 {
                            errors.push(fail(
                                "a `xen,reg` range is not page aligned (stage 2 maps 4 KiB pages): align its host address, size and guest address to 4 KiB, covering the pages around the registers",
                            ));
                        }
                        if console_pages.iter().any(|c| c.overlaps(&range)) {
                            errors.push(fail(
                                "a `xen,reg` range covers the page of the hypervisor's console UART, which stage 2 maps whole; pass a device on other pages",
                            ));
                        }
                        if !host_regs.iter().any(|h| h.contains_range(&range)) {
                            errors.push(fail(
                                "a `xen,reg` range is not inside the host node's `reg`",
                            ));
                        }
                        mmio.push((range, e[2]));
                    }
                }
                Err(_) => errors.push(fail(
                    "`xen,reg` is not a list of <host-address size guest-address>",
                )),
            }
        }
        let mut interrupts = Vec::new();
        let mut triggers = Vec::new();
        if let Some(cells) = n.property("interrupts").and_then(|p| p.cells().ok()) {
            if cells.len() / 3 > MAX_DEVICE_INTERRUPTS {
                errors.push(too_many(Limit::DeviceInterrupts, cells.len() / 3));
                continue;
            }
            if cells.len() % 3 != 0 {
                errors.push(fail("`interrupts` is not a list of 3-cell GIC specifiers"));
            }
            for spec in cells.chunks_exact(3) {
                match spec[0] {
                    0 => {
                        let irq = spec[1].saturating_add(32);
                        if console_irqs.contains(&irq) {
                            errors.push(ConfigError::InterruptReserved {
                                node: String::from(node),
                                device: String::from(path),
                                irq,
                                user: "the hypervisor's console UART interrupt",
                            });
                        }
                        interrupts.push(irq);
                        // Flags 1 and 2: edge (rising, falling); 4 and 8: level (high, low).
                        triggers.push(if spec[2] & 0x3 != 0 { Trigger::Edge } else { Trigger::Level });
                    }
                    _ => errors.push(fail("only SPIs (first cell 0) can be passed through")),
                }
            }
        }
        devices.push(Device {
            host_path: String::from(path),
            mmio,
            interrupts,
            triggers,
            without_iommu,
            dma,
        });
    }
    devices
}

/// The host's console UART (`/chosen/stdout-path`, through `/aliases`), which the hypervisor
/// keeps for itself.
fn console_node(host: &Tree) -> Option<NodeId> {
    // On a board of ours, the console is the board's UART, whatever `stdout-path` says
    // (Debian's Pi 4 tree names the mini UART there; the hypervisor writes to the PL011).
    let compatible = host.node(host.root()).property("compatible");
    if let Some(board) = compatible.and_then(|c| boards::Board::find(c.strings())) {
        let base = board.console.base;
        let holds = |id: &NodeId| {
            let node = host.node(*id);
            node.parent().is_some()
                && node.property("interrupts").is_some()
                && host.translated_reg(*id).is_ok_and(|r| r.iter().any(|r| r.contains(base)))
        };
        if let Some(found) = host.node_ids().find(holds) {
            return Some(found);
        }
    }
    let chosen = host.find("/chosen")?;
    let stdout = host.node(chosen).property("stdout-path")?.str().ok()?;
    let path = stdout.split(':').next()?;
    if path.starts_with('/') {
        return host.find(path);
    }
    let aliases = host.find("/aliases")?;
    let target = host.node(aliases).property(path)?.str().ok()?;
    host.find(target)
}

/// The GIC and the architected timer: the hypervisor drives both. The GIC is the interrupt
/// controller the root's `interrupt-parent` names, or one with a GIC's `compatible`; other
/// interrupt controllers (a GPIO block's, the Pi's) are devices like any other.
/// `root_parent` is the node the root's `interrupt-parent` names, looked up once per tree.
fn hypervisor_device(host: &Tree, id: NodeId, root_parent: Option<NodeId>) -> bool {
    let node = host.node(id);
    let gic = node.property("interrupt-controller").is_some()
        && (root_parent == Some(id)
            || ["arm,gic-400", "arm,gic-v3", "arm,gic-v2", "arm,cortex-a15-gic", "arm,cortex-a9-gic"]
                .iter()
                .any(|c| node.is_compatible(c)));
    gic || node.is_compatible("arm,armv8-timer") || node.is_compatible("arm,armv7-timer")
}

/// The SPIs (as INTIDs) of a host node's 3-cell `interrupts`.
fn spis_of(host: &Tree, id: NodeId) -> Vec<u32> {
    let cells = host.node(id).property("interrupts").and_then(|p| p.cells().ok()).unwrap_or_default();
    cells
        .chunks_exact(3)
        .take(MAX_DEVICE_INTERRUPTS)
        .filter(|spec| spec[0] == 0)
        .map(|spec| spec[1].saturating_add(32))
        .collect()
}

/// Rules that need the partition: the vPL011's SPI, and DMA without an IOMMU.
fn check_partition(p: &Partition, errors: &mut Errors) {
    let direct_map = matches!(p.memory, Memory::Static { direct_map: true, .. });
    for d in &p.passthrough.devices {
        if p.vpl011 && d.interrupts.contains(&VPL011_INTID) {
            errors.push(ConfigError::InterruptReserved {
                node: format!("/chosen/{}", p.name),
                device: d.host_path.clone(),
                irq: VPL011_INTID,
                user: "the partition's virtual PL011 (vpl011) interrupt in Xen's guest layout",
            });
        }
        if d.dma && !direct_map {
            errors.push(ConfigError::DmaNeedsDirectMap {
                domain: format!("/chosen/{}", p.name),
                device: d.host_path.clone(),
            });
        }
    }
}

/// The vPL011's interrupt in Xen's guest layout (`GUEST_VPL011_SPI`): SPI 0.
pub const VPL011_INTID: u32 = 32;

pub(super) fn check(
    tree: &Tree,
    host: &HostFacts<'_>,
    partitions: &mut [Partition],
    errors: &mut Errors,
    warnings: &mut Warnings,
) {
    for p in partitions.iter_mut() {
        let Some(module) = &p.device_tree else {
            continue;
        };
        let bytes = host.modules.and_then(|m| m.bytes(module.range));
        let Some(bytes) = bytes else {
            warnings.push(Warning::PartialTreeNotInspected {
                domain: format!("/chosen/{}", p.name),
                module: module.node.clone(),
            });
            continue;
        };
        match Tree::parse(bytes) {
            Ok(partial) => {
                p.passthrough.devices = partial_tree_devices(tree, &partial, &module.node, errors);
                check_partition(p, errors);
            }
            Err(error) => errors.push(ConfigError::BadProperty {
                node: module.node.clone(),
                property: String::from("reg"),
                error,
            }),
        }
    }
    assigned_twice(partitions, errors);
}

/// Devices and interrupts given to two partitions, found by sorting (partition, resource)
/// pairs instead of comparing every pair of partitions.
fn assigned_twice(partitions: &[Partition], errors: &mut Errors) {
    let name = |i: usize| {
        partitions
            .get(i)
            .map_or_else(String::new, |p| p.name.clone())
    };
    let mut devices: Vec<(&str, usize)> = Vec::new();
    let mut interrupts: Vec<(u32, usize)> = Vec::new();
    let mut windows: Vec<(AddressRange, usize, &str)> = Vec::new();
    for (i, p) in partitions.iter().enumerate() {
        for d in &p.passthrough.devices {
            devices.push((&d.host_path, i));
            windows.extend(d.mmio.iter().map(|(range, _)| (range.grow_to(0x1000).unwrap_or(*range), i, d.host_path.as_str())));
            interrupts.extend(d.interrupts.iter().map(|irq| (*irq, i)));
        }
    }
    crate::sort::sort(&mut devices);
    devices.dedup();
    for pair in devices.windows(2) {
        let [(device, first), (other, second)] = pair else {
            continue;
        };
        if device == other {
            errors.push(ConfigError::DeviceAssignedTwice {
                device: String::from(*device),
                first: name(*first),
                second: name(*second),
            });
        }
    }
    // Stage 2 maps whole pages: two partitions' windows on one page would share it.
    // A sweep by start address keeps the window reaching furthest and the one reaching
    // furthest among the other partitions': a window overlaps an earlier one of another
    // partition exactly when the one of those two that is not its own reaches past its start.
    crate::sort::sort_by_key(&mut windows, |&(range, i, device)| (range.start(), i, device));
    let mut furthest: Option<(AddressRange, usize, &str)> = None;
    let mut other: Option<(AddressRange, usize, &str)> = None;
    for &w in &windows {
        let (range, part, device) = w;
        let earlier = match furthest {
            Some(f) if f.1 != part => Some(f),
            _ => other,
        };
        if let Some((e_range, e_part, e_device)) = earlier {
            if e_range.overlaps(&range) {
                errors.push(ConfigError::DeviceAssignedTwice {
                    device: format!("the page {range} of {device} (also {e_device}'s)"),
                    first: name(e_part),
                    second: name(part),
                });
            }
        }
        match furthest {
            Some(f) if range.end() <= f.0.end() => {
                if part != f.1 && other.is_none_or(|o| range.end() > o.0.end()) {
                    other = Some(w);
                }
            }
            Some(f) => {
                if part != f.1 {
                    other = Some(f);
                }
                furthest = Some(w);
            }
            None => furthest = Some(w),
        }
    }
    crate::sort::sort(&mut interrupts);
    interrupts.dedup();
    for pair in interrupts.windows(2) {
        let [(irq, first), (other, second)] = pair else {
            continue;
        };
        if irq == other {
            errors.push(ConfigError::InterruptAssignedTwice {
                irq: *irq,
                first: name(*first),
                second: name(*second),
            });
        }
    }
}
