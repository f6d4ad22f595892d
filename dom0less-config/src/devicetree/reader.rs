//! Parses the flattened device tree format (devicetree specification v0.4, chapter 5).

use alloc::string::String;
use alloc::vec::Vec;

use super::names::{name_at, Names};
use super::{DtError, NodeId, Property, Reservation, Tree};

const MAGIC: u32 = 0xd00d_feed;
const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;
const HEADER_SIZE: usize = 40;
const MAX_DEPTH: usize = 64;

/// The big-endian word at `offset`. Called for every token and property of a blob, so the
/// error is built only once the word is known to be missing.
fn word(bytes: &[u8], offset: usize) -> Result<u32, DtError> {
    let end = offset.checked_add(4);
    match end.and_then(|end| bytes.get(offset..end)) {
        Some(&[a, b, c, d]) => Ok(u32::from_be_bytes([a, b, c, d])),
        _ => Err(DtError::Truncated {
            needed: end.unwrap_or(usize::MAX),
            available: bytes.len(),
        }),
    }
}

fn align4(offset: usize) -> usize {
    offset.saturating_add(3) & !3
}

/// Header fields the reader uses.
struct Header {
    struct_offset: usize,
    struct_size: usize,
    strings_offset: usize,
    strings_size: usize,
    reservations_offset: usize,
    boot_cpu: u32,
}

fn header(bytes: &[u8]) -> Result<Header, DtError> {
    if bytes.len() < HEADER_SIZE {
        return Err(DtError::Truncated {
            needed: HEADER_SIZE,
            available: bytes.len(),
        });
    }
    let magic = word(bytes, 0)?;
    if magic != MAGIC {
        return Err(DtError::BadMagic { found: magic });
    }
    let total = word(bytes, 4)? as usize;
    if total > bytes.len() {
        return Err(DtError::Truncated {
            needed: total,
            available: bytes.len(),
        });
    }
    let version = word(bytes, 20)?;
    if version < 16 {
        return Err(DtError::UnsupportedVersion { version });
    }
    let field = |name: &'static str, at: usize| -> Result<usize, DtError> {
        let value = word(bytes, at)?;
        if value as usize > total {
            return Err(DtError::BadHeader { field: name, value });
        }
        Ok(value as usize)
    };
    let struct_offset = field("off_dt_struct", 8)?;
    let strings_offset = field("off_dt_strings", 12)?;
    let reservations_offset = field("off_mem_rsvmap", 16)?;
    let strings_size = field("size_dt_strings", 32)?;
    // Version 16 blobs have no size_dt_struct; the block then runs to the end of the blob.
    let struct_size = if version >= 17 {
        field("size_dt_struct", 36)?
    } else {
        total - struct_offset
    };
    if struct_offset.saturating_add(struct_size) > total {
        return Err(DtError::BadHeader {
            field: "size_dt_struct",
            value: struct_size as u32,
        });
    }
    if strings_offset.saturating_add(strings_size) > total {
        return Err(DtError::BadHeader {
            field: "size_dt_strings",
            value: strings_size as u32,
        });
    }
    Ok(Header {
        struct_offset,
        struct_size,
        strings_offset,
        strings_size,
        reservations_offset,
        boot_cpu: word(bytes, 28)?,
    })
}

fn reservations(bytes: &[u8], mut offset: usize, tree: &mut Tree) -> Result<(), DtError> {
    loop {
        let high = |at: usize| -> Result<u64, DtError> {
            Ok((u64::from(word(bytes, at)?) << 32) | u64::from(word(bytes, at + 4)?))
        };
        let address = high(offset)?;
        let size = high(offset + 8)?;
        if address == 0 && size == 0 {
            return Ok(());
        }
        tree.add_reservation(Reservation { address, size });
        offset += 16;
    }
}

/// Parses a whole blob into a [`Tree`].
pub(super) fn parse(bytes: &[u8]) -> Result<Tree, DtError> {
    let header = header(bytes)?;
    let structure = &bytes[header.struct_offset..header.struct_offset + header.struct_size];
    let strings = &bytes[header.strings_offset..header.strings_offset + header.strings_size];
    let mut tree = Tree::new();
    tree.boot_cpu = header.boot_cpu;
    reservations(bytes, header.reservations_offset, &mut tree)?;

    let mut names = Names::new(strings);
    let mut stack: Vec<NodeId> = Vec::new();
    let mut seen_root = false;
    let mut offset = 0;
    loop {
        let token = word(structure, offset).map_err(|_| DtError::BadStructure {
            offset,
            reason: "missing FDT_END",
        })?;
        let token_at = offset;
        offset += 4;
        match token {
            NOP => {}
            BEGIN_NODE => {
                let (name, len) = name_at(structure, offset)?;
                let name = String::from(name);
                offset = align4(offset + len + 1);
                match stack.last() {
                    None if seen_root => {
                        return Err(DtError::BadStructure {
                            offset: token_at,
                            reason: "second root node",
                        })
                    }
                    None => {
                        seen_root = true;
                        stack.push(tree.root());
                    }
                    Some(parent) => {
                        if stack.len() >= MAX_DEPTH {
                            return Err(DtError::TooDeep { offset: token_at });
                        }
                        let id = tree.push_parsed(*parent, name);
                        stack.push(id);
                    }
                }
            }
            END_NODE => {
                if stack.pop().is_none() {
                    return Err(DtError::BadStructure {
                        offset: token_at,
                        reason: "END_NODE without BEGIN_NODE",
                    });
                }
            }
            PROP => {
                let Some(&node) = stack.last() else {
                    return Err(DtError::BadStructure {
                        offset: token_at,
                        reason: "property outside a node",
                    });
                };
                let len = word(structure, offset)? as usize;
                let name_offset = word(structure, offset + 4)? as usize;
                offset += 8;
                let Some(end) = offset
                    .checked_add(len)
                    .filter(|end| *end <= structure.len())
                else {
                    return Err(DtError::BadStructure {
                        offset: token_at,
                        reason: "property value runs past the block",
                    });
                };
                let name = names.get(name_offset)?;
                tree.push_parsed_property(
                    node,
                    Property::with_shared_name(name, structure[offset..end].to_vec()),
                );
                offset = align4(end);
            }
            END => {
                if !stack.is_empty() || !seen_root {
                    return Err(DtError::BadStructure {
                        offset: token_at,
                        reason: "FDT_END inside a node or before the root",
                    });
                }
                return Ok(tree);
            }
            other => {
                return Err(DtError::BadToken {
                    offset: token_at,
                    token: other,
                })
            }
        }
    }
}
