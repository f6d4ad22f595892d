//! Emits static event channel and shared memory nodes.

use std::format;
use std::string::String;
use std::vec::Vec;

use super::compile::CompileError;
use super::{parse_number, Document};
use crate::devicetree::{cells_value, number_cells, strings_value, NodeId, Tree};

fn end(doc: &Document, value: &str) -> Result<(usize, u32), CompileError> {
    let bad = || CompileError::BadChannelEnd {
        value: String::from(value),
    };
    let (name, port) = value.rsplit_once(':').ok_or_else(bad)?;
    let port = port.trim().parse().map_err(|_| bad())?;
    let index = doc
        .partitions
        .iter()
        .position(|p| p.name == name.trim())
        .ok_or_else(|| CompileError::UnknownName {
            field: format!("channel end \"{value}\""),
            name: String::from(name),
        })?;
    Ok((index, port))
}

pub(super) fn channels(
    doc: &Document,
    tree: &mut Tree,
    domains: &[NodeId],
    take_phandle: &mut dyn FnMut() -> u32,
) -> Result<(), CompileError> {
    for c in &doc.channels {
        let (a, a_port) = end(doc, &c.a)?;
        let (b, b_port) = end(doc, &c.b)?;
        let (a_handle, b_handle) = (take_phandle(), take_phandle());
        for (domain, port, own, remote) in [
            (a, a_port, a_handle, b_handle),
            (b, b_port, b_handle, a_handle),
        ] {
            let node = tree.add_node(domains[domain], &format!("evtchn@{port}"));
            tree.set_property(node, "compatible", strings_value(&["xen,evtchn-v1"]));
            tree.set_property(node, "xen,evtchn", cells_value(&[port, remote]));
            tree.set_property(node, "phandle", cells_value(&[own]));
        }
    }
    Ok(())
}

pub(super) fn shared(
    doc: &Document,
    tree: &mut Tree,
    domains: &[NodeId],
) -> Result<(), CompileError> {
    for s in &doc.shared_memory {
        let field = |name: &str| format!("shared_memory {}: {name}", s.id);
        let number = |name: &str, text: &str| {
            parse_number(text).ok_or_else(|| CompileError::BadNumber {
                field: field(name),
                value: String::from(text),
            })
        };
        let size = number("size", &s.size)?;
        let host = s.host.as_deref().map(|h| number("host", h)).transpose()?;
        if let Some(owner) = &s.owner {
            if !doc.partitions.iter().any(|p| &p.name == owner) {
                return Err(CompileError::UnknownName {
                    field: field("owner"),
                    name: owner.clone(),
                });
            }
        }
        for (name, guest) in &s.map {
            let guest = number("map", guest)?;
            let index = doc
                .partitions
                .iter()
                .position(|p| &p.name == name)
                .ok_or_else(|| CompileError::UnknownName {
                    field: field("map"),
                    name: name.clone(),
                })?;
            let node = tree.add_node(domains[index], &format!("shm-{}", s.id));
            tree.set_property(
                node,
                "compatible",
                strings_value(&["xen,domain-shared-memory-v1"]),
            );
            tree.set_property(node, "xen,shm-id", strings_value(&[&s.id]));
            let role = if s.owner.as_deref() == Some(name.as_str()) {
                "owner"
            } else {
                "borrower"
            };
            tree.set_property(node, "role", strings_value(&[role]));
            let mut cells: Vec<u32> = Vec::new();
            if let Some(h) = host {
                number_cells(h, 2, &mut cells);
            }
            number_cells(guest, 2, &mut cells);
            number_cells(size, 2, &mut cells);
            tree.set_property(node, "xen,shared-mem", cells_value(&cells));
        }
    }
    Ok(())
}
