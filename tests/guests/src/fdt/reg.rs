//! Decoding of `reg` and `ranges` values: addresses and sizes made of 32-bit cells.

use core::fmt;

use super::{Ancestor, Cells};

/// What can be wrong with a `reg` or `ranges` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegError {
    /// A number spans more cells than fit in 64 bits.
    TooManyCells { cells: u32 },
    /// The value is not a whole number of entries.
    BadLength { length: usize, entry: usize },
    /// No `ranges` entry of a parent bus covers the address.
    NotTranslatable { address: u64 },
}

impl fmt::Display for RegError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooManyCells { cells } => {
                write!(f, "a {cells}-cell number does not fit in 64 bits")
            }
            Self::BadLength { length, entry } => {
                write!(
                    f,
                    "a {length}-byte value is not a whole number of {entry}-byte entries"
                )
            }
            Self::NotTranslatable { address } => {
                write!(
                    f,
                    "address {address:#x} is not mapped by the parent buses' ranges"
                )
            }
        }
    }
}

/// Reads a number of `count` cells (at most 2) starting at cell `index` of `value`.
pub fn read_cells(value: &[u8], index: usize, count: u32) -> Result<u64, RegError> {
    if count > 2 {
        return Err(RegError::TooManyCells { cells: count });
    }
    let mut number = 0u64;
    for cell in 0..count as usize {
        let start = (index + cell) * 4;
        let bytes = value.get(start..start + 4).ok_or(RegError::BadLength {
            length: value.len(),
            entry: count as usize * 4,
        })?;
        number = (number << 32)
            | u64::from(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]));
    }
    Ok(number)
}

/// The `(address, size)` pairs of a `reg` value.
#[derive(Clone, Debug)]
pub struct RegEntries<'a> {
    value: &'a [u8],
    cells: Cells,
    index: usize,
}

impl<'a> RegEntries<'a> {
    /// Checks that `value` is a whole number of entries of the given cells.
    pub fn new(value: &'a [u8], cells: Cells) -> Result<Self, RegError> {
        for count in [cells.address, cells.size] {
            if count > 2 {
                return Err(RegError::TooManyCells { cells: count });
            }
        }
        let entry = (cells.address + cells.size) as usize * 4;
        if entry == 0 || !value.len().is_multiple_of(entry) {
            return Err(RegError::BadLength {
                length: value.len(),
                entry,
            });
        }
        Ok(Self {
            value,
            cells,
            index: 0,
        })
    }
}

impl Iterator for RegEntries<'_> {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        let address = read_cells(self.value, self.index, self.cells.address).ok()?;
        let size_index = self.index + self.cells.address as usize;
        let size = read_cells(self.value, size_index, self.cells.size).ok()?;
        self.index = size_index + self.cells.size as usize;
        Some((address, size))
    }
}

/// Translates a `reg` address of a node with these `ancestors` (root first) into a CPU
/// physical address through each parent bus's `ranges` (Devicetree Specification 2.3.8).
pub fn translate(mut address: u64, ancestors: &[Ancestor<'_>]) -> Result<u64, RegError> {
    for level in (1..ancestors.len()).rev() {
        let bus = ancestors[level];
        let parent = ancestors[level - 1].cells;
        let ranges = bus.ranges.ok_or(RegError::NotTranslatable { address })?;
        if ranges.is_empty() {
            continue;
        }
        let (child_cells, size_cells) = (bus.cells.address, bus.cells.size);
        let entry_cells = (child_cells + parent.address + size_cells) as usize;
        if !ranges.len().is_multiple_of(entry_cells * 4) {
            return Err(RegError::BadLength {
                length: ranges.len(),
                entry: entry_cells * 4,
            });
        }
        let mut translated = None;
        for entry in 0..ranges.len() / (entry_cells * 4) {
            let first = entry * entry_cells;
            let child = read_cells(ranges, first, child_cells)?;
            let parent_base = read_cells(ranges, first + child_cells as usize, parent.address)?;
            let size = read_cells(
                ranges,
                first + (child_cells + parent.address) as usize,
                size_cells,
            )?;
            if address >= child && address - child < size {
                translated = Some(parent_base + (address - child));
                break;
            }
        }
        address = translated.ok_or(RegError::NotTranslatable { address })?;
    }
    Ok(address)
}
