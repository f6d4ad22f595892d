//! A small, safe reader for flattened device trees (the DTB a guest boots with).
//!
//! It follows the Devicetree Specification v0.4, chapter 5 ("Flattened Devicetree (DTB)
//! Format"). Every read is bounds-checked: a malformed blob gives an [`FdtError`], never a
//! panic.

mod node;
mod reg;
mod token;

use core::fmt;

pub use node::{string_list, Children};
pub use node::{Ancestor, Cells, Node, Visit};
pub use reg::{read_cells, translate, RegEntries, RegError};

use token::Tokens;

/// The magic number every DTB starts with.
pub const FDT_MAGIC: u32 = 0xd00d_feed;
/// Size of the header fields this reader uses (up to `size_dt_struct`).
pub const HEADER_SIZE: usize = 40;
/// The deepest node nesting [`Fdt::walk`] follows.
pub const MAX_DEPTH: usize = 16;

/// What can be wrong with a DTB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdtError {
    /// The blob ends before `needed` bytes at `offset` could be read.
    Truncated { offset: usize, needed: usize },
    /// The first word is not [`FDT_MAGIC`].
    BadMagic { found: u32 },
    /// The blob's version cannot be read by a version 17 reader.
    UnsupportedVersion { version: u32, last_compatible: u32 },
    /// A block named in the header lies outside the blob.
    BlockOutOfBounds {
        block: &'static str,
        offset: u32,
        size: u32,
        total: usize,
    },
    /// An unknown token in the structure block.
    BadToken { offset: usize, token: u32 },
    /// A node or property name that is not NUL-terminated UTF-8.
    BadName { offset: usize },
    /// The structure block does not start with the root node or its nodes do not nest.
    Unbalanced { offset: usize },
    /// Nodes nest deeper than [`MAX_DEPTH`].
    TooDeep { offset: usize },
    /// A `#address-cells` or `#size-cells` property that is not one 32-bit cell.
    BadCells { offset: usize },
}

impl fmt::Display for FdtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated { offset, needed } => {
                write!(f, "device tree truncated: {needed} bytes needed at offset {offset:#x}")
            }
            Self::BadMagic { found } => {
                write!(f, "not a device tree: magic {found:#010x}, expected {FDT_MAGIC:#010x}")
            }
            Self::UnsupportedVersion { version, last_compatible } => write!(
                f,
                "device tree version {version} (compatible with {last_compatible}) is not supported"
            ),
            Self::BlockOutOfBounds { block, offset, size, total } => write!(
                f,
                "device tree {block} block at {offset:#x} (size {size:#x}) \
                 lies outside the {total:#x}-byte blob"
            ),
            Self::BadToken { offset, token } => {
                write!(f, "device tree has unknown token {token:#x} at offset {offset:#x}")
            }
            Self::BadName { offset } => {
                write!(f, "device tree has a malformed name at offset {offset:#x}")
            }
            Self::Unbalanced { offset } => {
                write!(f, "device tree nodes do not nest properly at offset {offset:#x}")
            }
            Self::BadCells { offset } => write!(
                f,
                "device tree node at offset {offset:#x} has a malformed #address-cells or #size-cells"
            ),
            Self::TooDeep { offset } => write!(
                f,
                "device tree nodes nest deeper than {MAX_DEPTH} levels at offset {offset:#x}"
            ),
        }
    }
}

/// Reads a big-endian `u32` at `offset`.
pub(crate) fn be32(bytes: &[u8], offset: usize) -> Result<u32, FdtError> {
    let end = offset
        .checked_add(4)
        .ok_or(FdtError::Truncated { offset, needed: 4 })?;
    let word = bytes
        .get(offset..end)
        .ok_or(FdtError::Truncated { offset, needed: 4 })?;
    Ok(u32::from_be_bytes([word[0], word[1], word[2], word[3]]))
}

/// Returns the blob size the header at the start of `header` announces, after checking the
/// magic number. Needs only the first 8 bytes: use it to size the slice given to [`Fdt::new`].
pub fn total_size(header: &[u8]) -> Result<usize, FdtError> {
    let magic = be32(header, 0)?;
    if magic != FDT_MAGIC {
        return Err(FdtError::BadMagic { found: magic });
    }
    Ok(be32(header, 4)? as usize)
}

/// A checked device tree blob.
#[derive(Clone, Copy, Debug)]
pub struct Fdt<'a> {
    structure: &'a [u8],
    strings: &'a [u8],
}

impl<'a> Fdt<'a> {
    /// Checks the header of `blob` and locates its structure and strings blocks.
    pub fn new(blob: &'a [u8]) -> Result<Self, FdtError> {
        let total = total_size(blob)?;
        if blob.len() < total || total < HEADER_SIZE {
            return Err(FdtError::Truncated {
                offset: 0,
                needed: total.max(HEADER_SIZE),
            });
        }
        let blob = &blob[..total];
        let version = be32(blob, 0x14)?;
        let last_compatible = be32(blob, 0x18)?;
        if version < 17 || last_compatible > 17 {
            return Err(FdtError::UnsupportedVersion {
                version,
                last_compatible,
            });
        }
        let structure = block(blob, "structure", be32(blob, 0x08)?, be32(blob, 0x24)?)?;
        let strings = block(blob, "strings", be32(blob, 0x0c)?, be32(blob, 0x20)?)?;
        Ok(Self { structure, strings })
    }

    /// The root node.
    pub fn root(&self) -> Result<Node<'a>, FdtError> {
        let mut tokens = Tokens::new(*self, 0);
        match tokens.next() {
            Some(Ok((_, token::Token::BeginNode(_)))) => {
                Ok(Node::new(*self, "", tokens.position()))
            }
            Some(Err(error)) => Err(error),
            _ => Err(FdtError::Unbalanced { offset: 0 }),
        }
    }

    /// Finds a node by its full path (`/cpus/cpu@0`). A path component without a unit
    /// address also matches a node that has one (`/memory` matches `memory@40000000`).
    pub fn find(&self, path: &str) -> Result<Option<Node<'a>>, FdtError> {
        let mut node = self.root()?;
        for component in path.split('/').filter(|c| !c.is_empty()) {
            match node.child(component)? {
                Some(child) => node = child,
                None => return Ok(None),
            }
        }
        Ok(Some(node))
    }

    pub(crate) fn structure(&self) -> &'a [u8] {
        self.structure
    }

    pub(crate) fn strings(&self) -> &'a [u8] {
        self.strings
    }
}

fn block<'a>(
    blob: &'a [u8],
    name: &'static str,
    offset: u32,
    size: u32,
) -> Result<&'a [u8], FdtError> {
    let error = FdtError::BlockOutOfBounds {
        block: name,
        offset,
        size,
        total: blob.len(),
    };
    let start = offset as usize;
    let end = start.checked_add(size as usize).ok_or(error)?;
    blob.get(start..end).ok_or(error)
}

#[cfg(test)]
mod tests;
