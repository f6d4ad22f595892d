//! Passthrough: devices named by each partition's partial device tree module.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::HostFacts;
use crate::devicetree::{decode_tuples, AddressRange, Tree};
use crate::error::{ConfigError, Warning};
use crate::findings::{Errors, Warnings};
use crate::limits::{Limit, MAX_DEVICE_INTERRUPTS, MAX_DEVICE_RANGES, MAX_PASSTHROUGH_DEVICES};
use crate::plan::{Device, Partition};

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
        if host.node(host_node).property("xen,passthrough").is_none() {
            errors.push(fail("the host node lacks the `xen,passthrough` property"));
        }
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
                    0 => interrupts.push(spec[1].saturating_add(32)),
                    _ => errors.push(fail("only SPIs (first cell 0) can be passed through")),
                }
            }
        }
        devices.push(Device {
            host_path: String::from(path),
            mmio,
            interrupts,
            without_iommu,
        });
    }
    devices
}

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
                p.passthrough.devices = partial_tree_devices(tree, &partial, &module.node, errors)
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
    for (i, p) in partitions.iter().enumerate() {
        for d in &p.passthrough.devices {
            devices.push((&d.host_path, i));
            interrupts.extend(d.interrupts.iter().map(|irq| (*irq, i)));
        }
    }
    devices.sort_unstable();
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
    interrupts.sort_unstable();
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
