//! Address ranges, `#address-cells`/`#size-cells`, `reg` decoding and `ranges` translation.

use alloc::string::String;
use alloc::vec::Vec;
pub use boards::AddressRange;

use super::{DtError, NodeId, Property, Tree};

/// Most windows one `ranges` property may have. Translating an address searches them all,
/// so the cap bounds the work per `reg` entry; real buses have a handful.
pub const MAX_RANGES_WINDOWS: usize = 64;

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
///
/// A pair whose end would wrap past 2^64 is refused: the result holds only [`AddressRange`]s.
pub fn decode_pairs(
    property: &Property,
    address_cells: u32,
    size_cells: u32,
) -> Result<Vec<AddressRange>, DtError> {
    decode_numbers(property, address_cells, size_cells)?
        .into_iter()
        .map(|(start, size)| {
            AddressRange::new(start, size).ok_or_else(|| DtError::BadValue {
                property: String::from(property.name()),
                reason: "an (address, size) entry wraps past 2^64; lower its address or size",
            })
        })
        .collect()
}

/// Splits `property` into raw `(address, size)` numbers, which may wrap past 2^64 when added;
/// for callers that report such a pair with its values.
pub(crate) fn decode_numbers(
    property: &Property,
    address_cells: u32,
    size_cells: u32,
) -> Result<Vec<(u64, u64)>, DtError> {
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
            Ok((start, size))
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
            .map_or_else(|| Ok(2), Property::u32)
    }

    /// The node's own `#size-cells` (for its children), defaulting to 1.
    pub fn size_cells(&self, id: NodeId) -> Result<u32, DtError> {
        self.node(id)
            .property("#size-cells")
            .map_or_else(|| Ok(1), Property::u32)
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
                    *entry = translate(&windows, *entry, || self.path(parent))?;
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

/// Translates `range` through the first window that contains the whole range.
fn translate(
    windows: &[Vec<u64>],
    range: AddressRange,
    path: impl Fn() -> String,
) -> Result<AddressRange, DtError> {
    // An empty entry still names an address: it must lie inside a window.
    let needed = AddressRange::new(range.start(), range.size().max(1));
    for entry in windows {
        let [child, parent, length] = entry[..] else {
            continue;
        };
        let window = AddressRange::new(child, length).ok_or_else(|| DtError::BadAddress {
            node: path(),
            reason: "a `ranges` window wraps past 2^64; lower its child address or length",
        })?;
        if needed.is_some_and(|needed| window.contains_range(&needed)) {
            return parent
                .checked_add(range.start() - child)
                .and_then(|start| AddressRange::new(start, range.size()))
                .ok_or_else(|| DtError::BadAddress {
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
