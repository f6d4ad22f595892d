//! Address ranges, `#address-cells`/`#size-cells`, `reg` decoding and `ranges` translation.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::{DtError, NodeId, Property, Tree};

/// Most windows one `ranges` property may have. Translating an address searches them all,
/// so the cap bounds the work per `reg` entry; real buses have a handful.
pub const MAX_RANGES_WINDOWS: usize = 64;

/// A physical address range `start .. start + size`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AddressRange {
    /// First byte.
    pub start: u64,
    /// Length in bytes.
    pub size: u64,
}

impl AddressRange {
    /// A range from its start and size.
    pub const fn new(start: u64, size: u64) -> Self {
        Self { start, size }
    }

    /// One past the last byte, or `None` when the range wraps past 2^64.
    pub const fn end(&self) -> Option<u64> {
        self.start.checked_add(self.size)
    }

    /// Whether the two ranges share at least one byte.
    pub fn overlaps(&self, other: &AddressRange) -> bool {
        let end = self.end().unwrap_or(u64::MAX);
        let other_end = other.end().unwrap_or(u64::MAX);
        self.size != 0 && other.size != 0 && self.start < other_end && other.start < end
    }

    /// Whether `other` lies completely inside `self`.
    pub fn contains(&self, other: &AddressRange) -> bool {
        match (self.end(), other.end()) {
            (Some(end), Some(other_end)) => other.start >= self.start && other_end <= end,
            _ => false,
        }
    }
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.end() {
            Some(end) => write!(f, "{:#x}..{:#x} ({:#x} bytes)", self.start, end, self.size),
            None => write!(f, "{:#x}+{:#x} (wraps past 2^64)", self.start, self.size),
        }
    }
}

/// Reads `count` cells (at most 2) at `cells[at..]` as one number.
fn number(cells: &[u32], at: usize, count: usize) -> Option<u64> {
    let slice = cells.get(at..at.checked_add(count)?)?;
    let mut value: u64 = 0;
    for (i, cell) in slice.iter().enumerate() {
        // Leading cells beyond 64 bits must be zero.
        if count > 2 && i < count - 2 && *cell != 0 {
            return None;
        }
        value = (value << 32) | u64::from(*cell);
    }
    Some(value)
}

/// Splits `property` into `(address, size)` pairs with the given cell counts.
pub fn decode_pairs(
    property: &Property,
    address_cells: u32,
    size_cells: u32,
) -> Result<Vec<AddressRange>, DtError> {
    let bad = |reason| DtError::BadValue {
        property: String::from(property.name()),
        reason,
    };
    let (a, s) = (address_cells as usize, size_cells as usize);
    if a == 0 || a > 4 || s > 4 {
        return Err(bad(
            "cell counts outside 1..=4 address cells and 0..=4 size cells",
        ));
    }
    let cells = property.cells()?;
    if cells.len() % (a + s) != 0 {
        return Err(bad(
            "length is not a whole number of (address, size) entries",
        ));
    }
    cells
        .chunks_exact(a + s)
        .map(|entry| {
            let start = number(entry, 0, a).ok_or_else(|| bad("address does not fit 64 bits"))?;
            let size = number(entry, a, s).ok_or_else(|| bad("size does not fit 64 bits"))?;
            Ok(AddressRange::new(start, size))
        })
        .collect()
}

/// Decodes fixed-width tuples of numbers, each field with its own cell count.
pub fn decode_tuples(property: &Property, widths: &[u32]) -> Result<Vec<Vec<u64>>, DtError> {
    let bad = |reason| DtError::BadValue {
        property: String::from(property.name()),
        reason,
    };
    let stride: usize = widths.iter().map(|w| *w as usize).sum();
    if stride == 0 || widths.iter().any(|w| *w > 4) {
        return Err(bad("cell counts out of range"));
    }
    let cells = property.cells()?;
    if cells.is_empty() || cells.len() % stride != 0 {
        return Err(bad("length is not a whole number of entries"));
    }
    cells
        .chunks_exact(stride)
        .map(|entry| {
            let mut at = 0;
            widths
                .iter()
                .map(|w| {
                    let value = number(entry, at, *w as usize)
                        .ok_or_else(|| bad("number does not fit 64 bits"));
                    at += *w as usize;
                    value
                })
                .collect()
        })
        .collect()
}

impl Tree {
    /// The node's own `#address-cells` (for its children), defaulting to 2.
    pub fn address_cells(&self, id: NodeId) -> Result<u32, DtError> {
        self.node(id)
            .property("#address-cells")
            .map_or(Ok(2), |p| p.u32())
    }

    /// The node's own `#size-cells` (for its children), defaulting to 1.
    pub fn size_cells(&self, id: NodeId) -> Result<u32, DtError> {
        self.node(id)
            .property("#size-cells")
            .map_or(Ok(1), |p| p.u32())
    }

    /// The node's `reg` entries in its parent's address space (untranslated).
    pub fn reg(&self, id: NodeId) -> Result<Vec<AddressRange>, DtError> {
        let Some(reg) = self.node(id).property("reg") else {
            return Ok(Vec::new());
        };
        let parent = self.node(id).parent().unwrap_or(self.root());
        decode_pairs(reg, self.address_cells(parent)?, self.size_cells(parent)?)
    }

    /// The node's `reg` entries translated through every ancestor's `ranges` into CPU
    /// physical addresses. Each ancestor's `ranges` is decoded once for all entries.
    pub fn translated_reg(&self, id: NodeId) -> Result<Vec<AddressRange>, DtError> {
        let mut entries = self.reg(id)?;
        let mut bus = self.node(id).parent();
        while let Some(parent) = bus {
            if entries.is_empty() {
                break;
            }
            let Some(grand) = self.node(parent).parent() else {
                break;
            };
            if let Some(windows) = self.windows(parent, grand)? {
                for entry in entries.iter_mut() {
                    entry.start = translate(&windows, *entry, || self.path(parent))?;
                }
            }
            bus = Some(grand);
        }
        Ok(entries)
    }

    /// `bus`'s `ranges` as (child, parent, length) windows into `grand`'s address space;
    /// `None` for an empty `ranges` (an identity mapping).
    fn windows(&self, bus: NodeId, grand: NodeId) -> Result<Option<Vec<Vec<u64>>>, DtError> {
        let Some(ranges) = self.node(bus).property("ranges") else {
            return Err(DtError::BadAddress {
                node: self.path(bus),
                reason: "no `ranges`: child addresses are not translatable",
            });
        };
        if ranges.is_empty() {
            return Ok(None);
        }
        let widths = [
            self.address_cells(bus)?,
            self.address_cells(grand)?,
            self.size_cells(bus)?,
        ];
        let windows = decode_tuples(ranges, &widths)?;
        if windows.len() > MAX_RANGES_WINDOWS {
            return Err(DtError::TooMany {
                node: self.path(bus),
                what: "`ranges` windows",
                count: windows.len(),
                limit: MAX_RANGES_WINDOWS,
            });
        }
        Ok(Some(windows))
    }
}

/// Translates `range.start` through the first window that contains the whole range.
fn translate(
    windows: &[Vec<u64>],
    range: AddressRange,
    path: impl Fn() -> String,
) -> Result<u64, DtError> {
    for entry in windows {
        let [child, parent, length] = entry[..] else {
            continue;
        };
        let window = AddressRange::new(child, length);
        if window.contains(&AddressRange::new(range.start, range.size.max(1))) {
            return parent
                .checked_add(range.start - child)
                .ok_or(DtError::BadAddress {
                    node: path(),
                    reason: "translated address overflows",
                });
        }
    }
    Err(DtError::BadAddress {
        node: path(),
        reason: "address lies outside every `ranges` window",
    })
}
