//! Node and property names: length-capped reads and one shared copy per strings-block name.

use alloc::collections::BTreeMap;
use alloc::rc::Rc;

use super::DtError;

/// Longest node or property name the reader accepts, in bytes (without the NUL).
///
/// The devicetree specification (v0.4, sections 2.2.1 and 2.2.4.1) allows 31 characters for
/// a node or property name, plus a unit address for nodes; this leaves room for both. The cap
/// bounds the work of finding a name's end and the length of every path built from names.
pub const MAX_NAME_LENGTH: usize = 128;

/// Reads the NUL-terminated name starting at `offset` within `block`; returns it and its
/// length. Looks at most [`MAX_NAME_LENGTH`] + 1 bytes.
pub(super) fn name_at(block: &[u8], offset: usize) -> Result<(&str, usize), DtError> {
    let Some(rest) = block.get(offset..) else {
        return Err(DtError::BadName { offset });
    };
    let window = &rest[..rest.len().min(MAX_NAME_LENGTH + 1)];
    let Some(len) = window.iter().position(|b| *b == 0) else {
        return Err(if window.len() > MAX_NAME_LENGTH {
            DtError::NameTooLong {
                offset,
                limit: MAX_NAME_LENGTH,
            }
        } else {
            DtError::BadName { offset }
        });
    };
    let name = core::str::from_utf8(&window[..len]).map_err(|_| DtError::BadName { offset })?;
    Ok((name, len))
}

/// Property names by strings-block offset: each offset is read and allocated once, however
/// many properties refer to it.
pub(super) struct Names<'a> {
    block: &'a [u8],
    seen: BTreeMap<usize, Rc<str>>,
}

impl<'a> Names<'a> {
    /// An empty table over a blob's strings block.
    pub(super) fn new(block: &'a [u8]) -> Self {
        Self {
            block,
            seen: BTreeMap::new(),
        }
    }

    /// The shared name at `offset`.
    pub(super) fn get(&mut self, offset: usize) -> Result<Rc<str>, DtError> {
        if let Some(name) = self.seen.get(&offset) {
            return Ok(Rc::clone(name));
        }
        let (name, _) = name_at(self.block, offset)?;
        let name: Rc<str> = Rc::from(name);
        self.seen.insert(offset, Rc::clone(&name));
        Ok(name)
    }
}
