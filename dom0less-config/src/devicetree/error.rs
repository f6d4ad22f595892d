//! Errors found while reading a flattened device tree.

use alloc::string::String;
use core::fmt;

/// Why a blob or a property could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DtError {
    /// The blob is shorter than the header or than the header says.
    Truncated { needed: usize, available: usize },
    /// The first word is not the FDT magic `0xd00dfeed`.
    BadMagic { found: u32 },
    /// The blob's format version is older than 16.
    UnsupportedVersion { version: u32 },
    /// A header offset or size points outside the blob.
    BadHeader { field: &'static str, value: u32 },
    /// A token other than BEGIN_NODE, END_NODE, PROP, NOP or END.
    BadToken { offset: usize, token: u32 },
    /// The structure block is not a single well-nested root node.
    BadStructure { offset: usize, reason: &'static str },
    /// A node or property name is not NUL-terminated UTF-8.
    BadName { offset: usize },
    /// A name is longer than [`super::MAX_NAME_LENGTH`] bytes.
    NameTooLong { offset: usize, limit: usize },
    /// Nodes nest deeper than the reader allows.
    TooDeep { offset: usize },
    /// A property value has the wrong length or content.
    BadValue {
        property: String,
        reason: &'static str,
    },
    /// More of something in one node than the reader supports.
    TooMany {
        node: String,
        what: &'static str,
        count: usize,
        limit: usize,
    },
    /// A `reg` or `ranges` entry does not fit 64 bits or the cell counts are out of range.
    BadAddress { node: String, reason: &'static str },
}

impl fmt::Display for DtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed, available } => {
                write!(
                    f,
                    "device tree is truncated: needs {needed} bytes, has {available}"
                )
            }
            Self::BadMagic { found } => write!(
                f,
                "not a device tree blob (magic {found:#010x}, expected 0xd00dfeed)"
            ),
            Self::UnsupportedVersion { version } => {
                write!(f, "device tree format version {version} is older than 16")
            }
            Self::BadHeader { field, value } => write!(
                f,
                "device tree header field {field} = {value:#x} is out of bounds"
            ),
            Self::BadToken { offset, token } => write!(
                f,
                "unknown structure token {token:#x} at offset {offset:#x}"
            ),
            Self::BadStructure { offset, reason } => write!(
                f,
                "malformed structure block at offset {offset:#x}: {reason}"
            ),
            Self::BadName { offset } => {
                write!(f, "name at offset {offset:#x} is not NUL-terminated UTF-8")
            }
            Self::NameTooLong { offset, limit } => write!(
                f,
                "name at offset {offset:#x} is longer than {limit} bytes; \
                 shorten it (the devicetree specification allows 31 characters)"
            ),
            Self::TooDeep { offset } => write!(f, "nodes nest too deeply at offset {offset:#x}"),
            Self::BadValue { property, reason } => write!(f, "property {property}: {reason}"),
            Self::BadAddress { node, reason } => write!(f, "{node}: {reason}"),
            Self::TooMany {
                node,
                what,
                count,
                limit,
            } => write!(f, "{node}: {count} {what}; at most {limit} are supported"),
        }
    }
}
