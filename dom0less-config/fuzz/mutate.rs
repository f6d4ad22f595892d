//! Mutations of device tree blobs: byte-level, token-level (with the header kept
//! consistent) and tree-level, all driven by one seeded generator.

use dom0less_config::devicetree::{cells_value, strings_value, Tree};

use crate::dictionary::{NAMES, NODE_NAMES, STRINGS, WORDS};

/// xorshift64*: small, deterministic, good enough to drive mutations.
pub struct Rng(u64);

impl Rng {
    /// A generator; seed 0 is replaced, since xorshift would stay at zero.
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn word(blob: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(blob.get(at..at + 4)?.try_into().ok()?))
}

fn set_word(blob: &mut [u8], at: usize, value: u32) {
    if let Some(slot) = blob.get_mut(at..at + 4) {
        slot.copy_from_slice(&value.to_be_bytes());
    }
}

/// The structure block's start and size, when the header is plausible.
fn structure(blob: &[u8]) -> Option<(usize, usize)> {
    let (start, size) = (word(blob, 8)? as usize, word(blob, 36)? as usize);
    (start.checked_add(size)? <= blob.len() && start >= 40).then_some((start, size))
}

/// Replaces `blob[at..at + removed]` inside the structure block with `inserted`, keeping
/// the header's sizes and the offsets of the blocks after it right.
fn splice_structure(blob: &mut Vec<u8>, at: usize, removed: usize, inserted: &[u8]) {
    let Some((start, size)) = structure(blob) else {
        return;
    };
    if at < start || at + removed > start + size {
        return;
    }
    blob.splice(at..at + removed, inserted.iter().copied());
    let grow = |v: u32| (v as i64 + inserted.len() as i64 - removed as i64).max(0) as u32;
    for field in [4, 36] {
        let value = word(blob, field).unwrap_or(0);
        set_word(blob, field, grow(value));
    }
    for field in [12, 16] {
        let value = word(blob, field).unwrap_or(0);
        if value as usize >= at + removed && value as usize > start {
            set_word(blob, field, grow(value));
        }
    }
}

/// The offset of `name` in the strings block, if it is there.
fn name_offset(blob: &[u8], name: &str) -> Option<u32> {
    let (start, size) = (word(blob, 12)? as usize, word(blob, 32)? as usize);
    let block = blob.get(start..start.checked_add(size)?)?;
    let needle: Vec<u8> = name.bytes().chain([0]).collect();
    block
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
        .map(|p| p as u32)
}

/// A token sequence: a property naming an existing string, a node, or a bare token.
fn tokens(rng: &mut Rng, blob: &[u8]) -> Vec<u8> {
    let mut out: Vec<u32> = Vec::new();
    match rng.below(4) {
        0 | 1 => {
            let name: &&str = rng.pick(NAMES);
            let name = name_offset(blob, name).unwrap_or(*rng.pick(WORDS));
            let len = if rng.below(8) == 0 {
                *rng.pick(WORDS)
            } else {
                4 * rng.below(20) as u32
            };
            out.extend([3, len, name]);
            if len <= 4096 {
                out.extend((0..len.div_ceil(4)).map(|_| *rng.pick(WORDS)));
            }
        }
        2 => {
            out.push(1);
            let name: &[u8] = match rng.below(3) {
                0 => b"x@1",
                1 => b"vcpu0",
                _ => b"",
            };
            let mut bytes = name.to_vec();
            bytes.push(0);
            while !bytes.len().is_multiple_of(4) {
                bytes.push(0);
            }
            out.extend(
                bytes
                    .chunks(4)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])),
            );
            if rng.below(2) == 0 {
                out.push(2);
            }
        }
        _ => out.push(*rng.pick(&[1, 2, 3, 4, 9])),
    }
    out.iter().flat_map(|w| w.to_be_bytes()).collect()
}

/// A 4-byte aligned offset inside the structure block.
fn structure_offset(rng: &mut Rng, blob: &[u8]) -> Option<(usize, usize, usize)> {
    let (start, size) = structure(blob)?;
    let at = start + 4 * rng.below(size / 4 + 1);
    Some((start, size, at))
}

fn tree_edit(rng: &mut Rng, blob: &[u8]) -> Option<Vec<u8>> {
    let mut tree = Tree::parse(blob).ok()?;
    let ids: Vec<_> = tree.node_ids().collect();
    let id = *rng.pick(&ids);
    let name = *rng.pick(NAMES);
    let value = match rng.below(4) {
        0 => strings_value(&[*rng.pick(STRINGS)]),
        1 => {
            let count = *rng.pick(&[0, 1, 2, 3, 4, 8, 65, 129, 257, 3000]);
            let cells: Vec<u32> = (0..count).map(|_| *rng.pick(WORDS)).collect();
            cells_value(&cells)
        }
        2 => cells_value(&[rng.below(12) as u32]),
        _ => (0..rng.below(24)).map(|_| rng.next() as u8).collect(),
    };
    if rng.below(4) == 0 {
        let child_name: &&str = rng.pick(NODE_NAMES);
        let child = tree.add_node(id, child_name);
        tree.set_property(child, "compatible", strings_value(&[*rng.pick(STRINGS)]));
        tree.set_property(child, name, value);
    } else {
        tree.set_property(id, name, value);
    }
    Some(tree.to_dtb())
}

/// One mutation of `blob`; `other` is a second corpus entry to splice from.
fn mutate_once(rng: &mut Rng, blob: &mut Vec<u8>, other: &[u8], max_len: usize) {
    match rng.below(9) {
        0 => {
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(blob.len());
                if let Some(b) = blob.get_mut(at) {
                    *b = rng.next() as u8;
                }
            }
        }
        1 => {
            let at = 4 * rng.below(blob.len() / 4);
            set_word(blob, at, *rng.pick(WORDS));
        }
        2 => blob.truncate(rng.below(blob.len() + 1)),
        3 => {
            let cut = rng.below(blob.len() + 1);
            let from = rng.below(other.len() + 1);
            blob.truncate(cut);
            blob.extend_from_slice(&other[from..]);
        }
        4 | 5 => {
            if let Some((_, _, at)) = structure_offset(rng, blob) {
                let inserted = tokens(rng, blob);
                splice_structure(blob, at, 0, &inserted);
            }
        }
        6 => {
            // Repeat a chunk of the structure block, to reach the caps on counts.
            if let Some((start, size, at)) = structure_offset(rng, blob) {
                let end = (at + 4 * (1 + rng.below(64))).min(start + size);
                let times = *rng.pick(&[1, 2, 16, 200, 2000]);
                let chunk = blob[at..end].repeat(times);
                let room = max_len.saturating_sub(blob.len());
                splice_structure(blob, end, 0, &chunk[..chunk.len().min(room) / 4 * 4]);
            }
        }
        7 => {
            if let Some((start, size, at)) = structure_offset(rng, blob) {
                let end = (at + 4 * (1 + rng.below(16))).min(start + size);
                splice_structure(blob, at, end - at, &[]);
            }
        }
        _ => {
            if let Some(edited) = tree_edit(rng, blob) {
                *blob = edited;
            }
        }
    }
    blob.truncate(max_len);
}

/// One to four stacked mutations of `blob`.
pub fn mutate(rng: &mut Rng, blob: &[u8], other: &[u8], max_len: usize) -> Vec<u8> {
    let mut out = blob.to_vec();
    for _ in 0..1 + rng.below(4) {
        mutate_once(rng, &mut out, other, max_len);
    }
    out
}
