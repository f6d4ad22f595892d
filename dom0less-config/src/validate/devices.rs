//! Passthrough: devices named by each partition's partial device tree module.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::HostFacts;
use crate::devicetree::{decode_tuples, AddressRange, Tree};
use crate::error::{ConfigError, Warning};
use crate::findings::{Errors, Warnings};
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
            .map(|r| {
                let start = r.start & !0xfff;
                let end = r.end().unwrap_or(u64::MAX).saturating_add(0xfff) & !0xfff;
                AddressRange::new(start, end - start)
            })
            .collect();
        let mut mmio = Vec::new();
        if let Some(reg) = n.property("xen,reg") {
            match decode_tuples(reg, &[a, s, a]) {
                Ok(entries) => {
                    for e in entries {
                        let range = AddressRange::new(e[0], e[1]);
                        if !host_regs.iter().any(|h| h.contains(&range)) {
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
    for (i, p) in partitions.iter().enumerate() {
        for other in &partitions[..i] {
            for d in &p.passthrough.devices {
                if other
                    .passthrough
                    .devices
                    .iter()
                    .any(|o| o.host_path == d.host_path)
                {
                    errors.push(ConfigError::DeviceAssignedTwice {
                        device: d.host_path.clone(),
                        first: other.name.clone(),
                        second: p.name.clone(),
                    });
                }
                for irq in &d.interrupts {
                    if other
                        .passthrough
                        .devices
                        .iter()
                        .any(|o| o.interrupts.contains(irq))
                    {
                        errors.push(ConfigError::InterruptAssignedTwice {
                            irq: *irq,
                            first: other.name.clone(),
                            second: p.name.clone(),
                        });
                    }
                }
            }
        }
    }
}
