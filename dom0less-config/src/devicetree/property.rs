//! Device tree properties and typed accessors for their values.

use alloc::string::String;
use alloc::rc::Rc;
use alloc::vec::Vec;

use super::DtError;

/// A property: a name and a raw big-endian value.
///
/// The name is shared: every property that a blob's strings block names with one string
/// holds the same allocation, so a long name referenced many times costs its length once.
/// `Rc`, not `Arc`: the hypervisor builds its tree with the MMU off, where the atomic
/// read-modify-write an `Arc` count needs is not allowed (memory is Device memory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Property {
    name: Rc<str>,
    value: Vec<u8>,
}

impl Property {
    /// A property with the given raw value.
    pub fn new(name: &str, value: Vec<u8>) -> Self {
        Self {
            name: Rc::from(name),
            value,
        }
    }

    /// A property whose name is already shared with other properties.
    pub(super) fn with_shared_name(name: Rc<str>, value: Vec<u8>) -> Self {
        Self { name, value }
    }

    /// The property name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw value bytes.
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// Whether the value is empty (a boolean property).
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }

    fn bad(&self, reason: &'static str) -> DtError {
        DtError::BadValue {
            property: String::from(self.name()),
            reason,
        }
    }

    /// The value as one 32-bit cell.
    pub fn u32(&self) -> Result<u32, DtError> {
        let bytes: [u8; 4] = self
            .value
            .as_slice()
            .try_into()
            .map_err(|_| self.bad("expected one 32-bit cell"))?;
        Ok(u32::from_be_bytes(bytes))
    }

    /// The value as a 64-bit number (two cells), or one cell for lenient readers.
    pub fn u64(&self) -> Result<u64, DtError> {
        match self.value.len() {
            4 => self.u32().map(u64::from),
            8 => {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(&self.value);
                Ok(u64::from_be_bytes(bytes))
            }
            _ => Err(self.bad("expected a 64-bit number (two cells)")),
        }
    }

    /// The value as 32-bit cells.
    pub fn cells(&self) -> Result<Vec<u32>, DtError> {
        if !self.value.len().is_multiple_of(4) {
            return Err(self.bad("length is not a multiple of 4 bytes"));
        }
        Ok(self
            .value
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// The value as one NUL-terminated string.
    pub fn str(&self) -> Result<&str, DtError> {
        let body = self
            .value
            .strip_suffix(&[0])
            .ok_or_else(|| self.bad("expected a NUL-terminated string"))?;
        if body.contains(&0) {
            return Err(self.bad("expected one string, found a string list"));
        }
        core::str::from_utf8(body).map_err(|_| self.bad("string is not UTF-8"))
    }

    /// Whether the value is the one string `text`: exactly when [`Property::str`] returns
    /// `Ok(text)`, answered without building the error a value that is not a string gets.
    pub fn is_str(&self, text: &str) -> bool {
        !text.as_bytes().contains(&0) && self.value.strip_suffix(&[0]) == Some(text.as_bytes())
    }

    /// The value as a string list; entries that are not UTF-8 are skipped.
    pub fn strings(&self) -> impl Iterator<Item = &str> {
        let body = self.value.strip_suffix(&[0]).unwrap_or(&[]);
        body.split(|b| *b == 0)
            .filter_map(|s| core::str::from_utf8(s).ok())
    }
}

/// Encodes 32-bit cells big-endian.
pub fn cells_value(cells: &[u32]) -> Vec<u8> {
    cells.iter().flat_map(|c| c.to_be_bytes()).collect()
}

/// Encodes a string list (each NUL-terminated).
pub fn strings_value(strings: &[&str]) -> Vec<u8> {
    let mut value = Vec::new();
    for s in strings {
        value.extend_from_slice(s.as_bytes());
        value.push(0);
    }
    value
}

/// Encodes `value` in `count` cells (1 or 2), the form `reg` uses.
pub fn number_cells(value: u64, count: u32, out: &mut Vec<u32>) {
    if count >= 2 {
        for _ in 2..count {
            out.push(0);
        }
        out.push((value >> 32) as u32);
    }
    out.push(value as u32);
}
