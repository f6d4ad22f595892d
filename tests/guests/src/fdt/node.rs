//! Nodes and properties of a device tree, and a depth-first walk that tracks address cells.

use core::ops::ControlFlow;

use super::token::{Token, Tokens};
use super::{be32, Fdt, FdtError, MAX_DEPTH};

/// The `#address-cells` and `#size-cells` a node gives its children's `reg` and `ranges`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cells {
    /// Number of 32-bit cells in a child address.
    pub address: u32,
    /// Number of 32-bit cells in a child size.
    pub size: u32,
}

impl Cells {
    /// The values a node without the properties implies (Devicetree Specification 2.3.5).
    pub const DEFAULT: Cells = Cells {
        address: 2,
        size: 1,
    };
}

/// What [`Fdt::walk`] knows about each node above the one it visits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ancestor<'a> {
    /// The cells this node gives its children.
    pub cells: Cells,
    /// Its `ranges` property, if it has one.
    pub ranges: Option<&'a [u8]>,
}

impl Ancestor<'_> {
    const DEFAULT: Self = Self {
        cells: Cells::DEFAULT,
        ranges: None,
    };
}

/// One node met by [`Fdt::walk`].
#[derive(Clone, Copy, Debug)]
pub struct Visit<'a, 'w> {
    /// The node.
    pub node: Node<'a>,
    /// The nodes above it, the root first and its parent last (empty for the root).
    pub ancestors: &'w [Ancestor<'a>],
}

impl Visit<'_, '_> {
    /// The cells that apply to this node's `reg`.
    pub fn parent_cells(&self) -> Cells {
        self.ancestors
            .last()
            .map_or(Cells::DEFAULT, |parent| parent.cells)
    }
}

/// A node of the tree.
#[derive(Clone, Copy, Debug)]
pub struct Node<'a> {
    fdt: Fdt<'a>,
    name: &'a str,
    /// Structure-block offset of the first token after the node's `FDT_BEGIN_NODE`.
    body: usize,
}

impl<'a> Node<'a> {
    pub(crate) fn new(fdt: Fdt<'a>, name: &'a str, body: usize) -> Self {
        Self { fdt, name, body }
    }

    /// The node's name with its unit address (`cpu@1`); the root's name is empty.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The name without its unit address (`cpu`).
    pub fn base_name(&self) -> &'a str {
        self.name.split('@').next().unwrap_or(self.name)
    }

    /// Whether `other` is this very node (not merely one with the same name).
    pub fn same_as(&self, other: &Node<'_>) -> bool {
        self.body == other.body
    }

    /// The value of the property `name`, if the node has it.
    pub fn property(&self, name: &str) -> Result<Option<&'a [u8]>, FdtError> {
        let mut tokens = Tokens::new(self.fdt, self.body);
        loop {
            match tokens.next() {
                Some(Ok((_, Token::Property { name: found, value }))) if found == name => {
                    return Ok(Some(value));
                }
                Some(Ok((_, Token::Property { .. }))) => {}
                Some(Ok((_, Token::BeginNode(_) | Token::EndNode))) => return Ok(None),
                Some(Ok((offset, Token::End))) => return Err(FdtError::Unbalanced { offset }),
                Some(Err(error)) => return Err(error),
                None => {
                    return Err(FdtError::Unbalanced {
                        offset: tokens.position(),
                    })
                }
            }
        }
    }

    /// A string property: its value up to the first NUL. `None` if absent or not UTF-8.
    pub fn string_property(&self, name: &str) -> Result<Option<&'a str>, FdtError> {
        Ok(self
            .property(name)?
            .and_then(|value| string_list(value).next()))
    }

    /// Whether the node's `compatible` list contains `compatible`.
    pub fn is_compatible(&self, compatible: &str) -> Result<bool, FdtError> {
        let value = self.property("compatible")?.unwrap_or(&[]);
        Ok(string_list(value).any(|entry| entry == compatible))
    }

    /// The cells this node gives its children.
    pub fn cells(&self) -> Result<Cells, FdtError> {
        let address = self.cell_count("#address-cells")?;
        let size = self.cell_count("#size-cells")?;
        Ok(Cells {
            address: address.unwrap_or(Cells::DEFAULT.address),
            size: size.unwrap_or(Cells::DEFAULT.size),
        })
    }

    fn cell_count(&self, name: &str) -> Result<Option<u32>, FdtError> {
        match self.property(name)? {
            None => Ok(None),
            Some(value) if value.len() == 4 => be32(value, 0).map(Some),
            Some(_) => Err(FdtError::BadCells { offset: self.body }),
        }
    }

    /// The node's direct children, in order.
    pub fn children(&self) -> Children<'a> {
        Children {
            fdt: self.fdt,
            tokens: Tokens::new(self.fdt, self.body),
            depth: 0,
            done: false,
        }
    }

    /// The child named `component`; without a unit address it also matches `component@...`.
    pub fn child(&self, component: &str) -> Result<Option<Node<'a>>, FdtError> {
        for child in self.children() {
            let child = child?;
            let matches = if component.contains('@') {
                child.name == component
            } else {
                child.base_name() == component
            };
            if matches {
                return Ok(Some(child));
            }
        }
        Ok(None)
    }
}

/// The strings of a string-list property value (NUL-separated), skipping non-UTF-8 entries.
pub fn string_list(value: &[u8]) -> impl Iterator<Item = &str> {
    let value = value.strip_suffix(&[0]).unwrap_or(value);
    value
        .split(|&b| b == 0)
        .filter_map(|entry| core::str::from_utf8(entry).ok())
}

/// Iterator over a node's children; see [`Node::children`].
#[derive(Clone, Debug)]
pub struct Children<'a> {
    fdt: Fdt<'a>,
    tokens: Tokens<'a>,
    depth: usize,
    done: bool,
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<Node<'a>, FdtError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let (offset, token) = match self.tokens.next() {
                Some(Ok(item)) => item,
                Some(Err(error)) => {
                    self.done = true;
                    return Some(Err(error));
                }
                None => (self.tokens.position(), Token::End),
            };
            match token {
                Token::BeginNode(name) => {
                    self.depth += 1;
                    if self.depth == 1 {
                        return Some(Ok(Node::new(self.fdt, name, self.tokens.position())));
                    }
                }
                Token::EndNode if self.depth == 0 => self.done = true,
                Token::EndNode => self.depth -= 1,
                Token::Property { .. } => {}
                Token::End => {
                    self.done = true;
                    return Some(Err(FdtError::Unbalanced { offset }));
                }
            }
        }
        None
    }
}

impl<'a> Fdt<'a> {
    /// Visits every node depth-first, in tree order, until `visit` breaks; returns the value
    /// it broke with. Each visit sees the cells and `ranges` of all the node's ancestors.
    pub fn walk<B>(
        &self,
        mut visit: impl FnMut(&Visit<'a, '_>) -> ControlFlow<B>,
    ) -> Result<Option<B>, FdtError> {
        let mut stack = [Ancestor::DEFAULT; MAX_DEPTH];
        let mut depth = 0;
        let mut tokens = Tokens::new(*self, 0);
        while let Some(item) = tokens.next() {
            let (offset, token) = item?;
            match token {
                Token::BeginNode(name) => {
                    if depth == MAX_DEPTH {
                        return Err(FdtError::TooDeep { offset });
                    }
                    let node = Node::new(*self, name, tokens.position());
                    let ancestors = &stack[..depth];
                    if let ControlFlow::Break(value) = visit(&Visit { node, ancestors }) {
                        return Ok(Some(value));
                    }
                    stack[depth] = Ancestor::DEFAULT;
                    depth += 1;
                }
                Token::Property { name, value } if depth > 0 => {
                    let top = &mut stack[depth - 1];
                    match name {
                        "#address-cells" | "#size-cells" if value.len() != 4 => {
                            return Err(FdtError::BadCells { offset });
                        }
                        "#address-cells" => top.cells.address = be32(value, 0)?,
                        "#size-cells" => top.cells.size = be32(value, 0)?,
                        "ranges" => top.ranges = Some(value),
                        _ => {}
                    }
                }
                Token::Property { .. } => return Err(FdtError::Unbalanced { offset }),
                Token::EndNode if depth == 0 => return Err(FdtError::Unbalanced { offset }),
                Token::EndNode => depth -= 1,
                Token::End if depth != 0 => return Err(FdtError::Unbalanced { offset }),
                Token::End => return Ok(None),
            }
        }
        Err(FdtError::Unbalanced {
            offset: self.structure().len(),
        })
    }
}
