//! Writes a [`Tree`] as a version 17 flattened device tree blob.

use alloc::vec::Vec;

use super::{NodeId, Tree};

const MAGIC: u32 = 0xd00d_feed;
const HEADER_SIZE: usize = 40;

fn push_word(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_be_bytes());
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// Offset of `name` in the strings block, adding it when new.
fn string_offset(strings: &mut Vec<u8>, name: &str) -> u32 {
    let mut start = 0;
    while start < strings.len() {
        let end = strings[start..]
            .iter()
            .position(|b| *b == 0)
            .map_or(strings.len(), |p| start + p);
        if &strings[start..end] == name.as_bytes() {
            return start as u32;
        }
        start = end + 1;
    }
    let offset = strings.len() as u32;
    strings.extend_from_slice(name.as_bytes());
    strings.push(0);
    offset
}

fn write_node(tree: &Tree, id: NodeId, structure: &mut Vec<u8>, strings: &mut Vec<u8>) {
    let node = tree.node(id);
    push_word(structure, 1);
    structure.extend_from_slice(node.name().as_bytes());
    structure.push(0);
    pad4(structure);
    for property in node.properties() {
        push_word(structure, 3);
        push_word(structure, property.value().len() as u32);
        let offset = string_offset(strings, property.name());
        push_word(structure, offset);
        structure.extend_from_slice(property.value());
        pad4(structure);
    }
    for child in node.children() {
        write_node(tree, *child, structure, strings);
    }
    push_word(structure, 2);
}

/// Serialises `tree`.
pub(super) fn write(tree: &Tree) -> Vec<u8> {
    let mut reservations = Vec::new();
    for r in tree.reservations() {
        reservations.extend_from_slice(&r.address.to_be_bytes());
        reservations.extend_from_slice(&r.size.to_be_bytes());
    }
    reservations.extend_from_slice(&[0; 16]);
    let mut structure = Vec::new();
    let mut strings = Vec::new();
    write_node(tree, tree.root(), &mut structure, &mut strings);
    push_word(&mut structure, 9);

    let reservations_offset = HEADER_SIZE.next_multiple_of(8);
    let struct_offset = reservations_offset + reservations.len();
    let strings_offset = struct_offset + structure.len();
    let total = strings_offset + strings.len();
    let mut out = Vec::with_capacity(total);
    for value in [
        MAGIC,
        total as u32,
        struct_offset as u32,
        strings_offset as u32,
        reservations_offset as u32,
        17,
        16,
        tree.boot_cpu(),
        strings.len() as u32,
        structure.len() as u32,
    ] {
        push_word(&mut out, value);
    }
    out.resize(reservations_offset, 0);
    out.extend_from_slice(&reservations);
    out.extend_from_slice(&structure);
    out.extend_from_slice(&strings);
    out
}
