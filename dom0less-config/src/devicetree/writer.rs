//! Writes a [`Tree`] as a version 17 flattened device tree blob.

use alloc::collections::BTreeMap;
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

/// The strings block being written: each name once, found again in O(log n).
#[derive(Default)]
struct Strings<'a> {
    block: Vec<u8>,
    offsets: BTreeMap<&'a str, u32>,
}

impl<'a> Strings<'a> {
    /// Offset of `name` in the block, adding it when new.
    fn offset(&mut self, name: &'a str) -> u32 {
        if let Some(offset) = self.offsets.get(name) {
            return *offset;
        }
        let offset = self.block.len() as u32;
        self.block.extend_from_slice(name.as_bytes());
        self.block.push(0);
        self.offsets.insert(name, offset);
        offset
    }
}

fn write_node<'a>(tree: &'a Tree, id: NodeId, structure: &mut Vec<u8>, strings: &mut Strings<'a>) {
    let node = tree.node(id);
    push_word(structure, 1);
    structure.extend_from_slice(node.name().as_bytes());
    structure.push(0);
    pad4(structure);
    for property in node.properties() {
        push_word(structure, 3);
        push_word(structure, property.value().len() as u32);
        push_word(structure, strings.offset(property.name()));
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
    let mut strings = Strings::default();
    write_node(tree, tree.root(), &mut structure, &mut strings);
    let strings = strings.block;
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
