//! The token stream of a DTB structure block (Devicetree Specification v0.4, section 5.4).

use super::{be32, Fdt, FdtError};

const FDT_BEGIN_NODE: u32 = 0x1;
const FDT_END_NODE: u32 = 0x2;
const FDT_PROP: u32 = 0x3;
const FDT_NOP: u32 = 0x4;
const FDT_END: u32 = 0x9;

/// One structure-block token; `FDT_NOP` tokens are skipped and never appear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    BeginNode(&'a str),
    EndNode,
    Property { name: &'a str, value: &'a [u8] },
    End,
}

/// Iterates over tokens from an offset in the structure block, yielding each token with the
/// offset it starts at. Stops after `FDT_END` or the first error.
#[derive(Clone, Debug)]
pub(crate) struct Tokens<'a> {
    fdt: Fdt<'a>,
    offset: usize,
    done: bool,
}

impl<'a> Tokens<'a> {
    pub(crate) fn new(fdt: Fdt<'a>, offset: usize) -> Self {
        Self {
            fdt,
            offset,
            done: false,
        }
    }

    /// The offset of the next token.
    pub(crate) fn position(&self) -> usize {
        self.offset
    }

    fn read(&mut self) -> Result<(usize, Token<'a>), FdtError> {
        let structure = self.fdt.structure();
        loop {
            let start = self.offset;
            let token = be32(structure, start)?;
            let body = start + 4;
            match token {
                FDT_NOP => self.offset = body,
                FDT_BEGIN_NODE => {
                    let (name, length) = c_string(structure, body)?;
                    self.offset = align4(body + length + 1);
                    return Ok((start, Token::BeginNode(name)));
                }
                FDT_END_NODE => {
                    self.offset = body;
                    return Ok((start, Token::EndNode));
                }
                FDT_PROP => {
                    let length = be32(structure, body)? as usize;
                    let name_offset = be32(structure, body + 4)? as usize;
                    let value_start = body + 8;
                    let value = value_start
                        .checked_add(length)
                        .and_then(|end| structure.get(value_start..end))
                        .ok_or(FdtError::Truncated {
                            offset: value_start,
                            needed: length,
                        })?;
                    let (name, _) = c_string(self.fdt.strings(), name_offset)?;
                    self.offset = align4(value_start + length);
                    return Ok((start, Token::Property { name, value }));
                }
                FDT_END => return Ok((start, Token::End)),
                _ => {
                    return Err(FdtError::BadToken {
                        offset: start,
                        token,
                    })
                }
            }
        }
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Result<(usize, Token<'a>), FdtError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.read();
        self.done = matches!(item, Err(_) | Ok((_, Token::End)));
        Some(item)
    }
}

fn align4(offset: usize) -> usize {
    (offset + 3) & !3
}

/// Reads a NUL-terminated UTF-8 string at `offset`, returning it and its length.
fn c_string(bytes: &[u8], offset: usize) -> Result<(&str, usize), FdtError> {
    let tail = bytes.get(offset..).ok_or(FdtError::BadName { offset })?;
    let length = tail
        .iter()
        .position(|&b| b == 0)
        .ok_or(FdtError::BadName { offset })?;
    let text = core::str::from_utf8(&tail[..length]).map_err(|_| FdtError::BadName { offset })?;
    Ok((text, length))
}
