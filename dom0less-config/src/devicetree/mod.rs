//! A small, safe flattened device tree (DTB) model: read, look up, edit and write.
//!
//! The reader accepts `FDT_NOP` tokens anywhere in the structure block and returns a
//! [`DtError`] for every malformed input instead of panicking.

mod address;
mod error;
mod names;
mod phandle;
mod property;
mod reader;
mod writer;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

pub(crate) use address::decode_numbers;
pub use address::{decode_pairs, decode_tuples, AddressRange, MAX_RANGES_WINDOWS};
pub use error::DtError;
pub use names::MAX_NAME_LENGTH;
pub use phandle::PhandleIndex;
pub use property::{cells_value, number_cells, strings_value, Property};

/// Index of a node inside its [`Tree`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(usize);

/// One node: its name (with unit address), parent, children and properties.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    name: String,
    parent: Option<NodeId>,
    children: Vec<NodeId>,
    properties: Vec<Property>,
}

impl Node {
    /// The node name including its unit address (`memory@40000000`); empty for the root.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node name without its unit address.
    pub fn base_name(&self) -> &str {
        self.name.split('@').next().unwrap_or("")
    }

    /// The parent node, `None` for the root.
    pub fn parent(&self) -> Option<NodeId> {
        self.parent
    }

    /// Child nodes in tree order.
    pub fn children(&self) -> &[NodeId] {
        &self.children
    }

    /// Properties in tree order.
    pub fn properties(&self) -> &[Property] {
        &self.properties
    }

    /// The property called `name`, if present.
    pub fn property(&self, name: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.name() == name)
    }

    /// Whether the `compatible` list contains `compatible`.
    pub fn is_compatible(&self, compatible: &str) -> bool {
        self.property("compatible")
            .is_some_and(|p| p.strings().any(|s| s == compatible))
    }

    /// The node's own `phandle` (or legacy `linux,phandle`), if it has one.
    pub fn phandle(&self) -> Option<u32> {
        self.property("phandle")
            .or_else(|| self.property("linux,phandle"))
            .and_then(|p| p.u32().ok())
    }
}

/// One memory reservation block entry (`/memreserve/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// First reserved byte.
    pub address: u64,
    /// Number of reserved bytes.
    pub size: u64,
}

/// Counts reads of a tree's nodes: a measure of work that does not depend on timing.
///
/// A clone starts again from zero, and trees compare equal whatever their counts.
#[derive(Default)]
struct Reads(AtomicUsize);

impl Clone for Reads {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for Reads {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Reads {}

impl fmt::Debug for Reads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.load(Ordering::Relaxed))
    }
}

/// A whole device tree held in memory.
///
/// Invariant: node 0 is the root; every other node's parent has a smaller index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tree {
    nodes: Vec<Node>,
    reservations: Vec<Reservation>,
    boot_cpu: u32,
    reads: Reads,
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

impl Tree {
    /// An empty tree with only a root node.
    pub fn new() -> Self {
        let root = Node {
            name: String::new(),
            parent: None,
            children: Vec::new(),
            properties: Vec::new(),
        };
        Self {
            nodes: alloc::vec![root],
            reservations: Vec::new(),
            boot_cpu: 0,
            reads: Reads::default(),
        }
    }

    /// Parses a flattened device tree blob.
    pub fn parse(bytes: &[u8]) -> Result<Self, DtError> {
        reader::parse(bytes)
    }

    /// Serialises the tree as a version 17 flattened device tree blob.
    pub fn to_dtb(&self) -> Vec<u8> {
        writer::write(self)
    }

    /// The root node's id.
    pub fn root(&self) -> NodeId {
        NodeId(0)
    }

    /// The node behind `id`.
    ///
    /// Ids come only from this tree, so the lookup cannot fail; a foreign id yields the root.
    pub fn node(&self, id: NodeId) -> &Node {
        // A plain load and store, not a read-modify-write: the hypervisor reads its tree with
        // the MMU off, where exclusive accesses are not allowed (Device memory). The count is
        // for tests; concurrent readers of one tree may lose an increment.
        let reads = self.reads.0.load(Ordering::Relaxed);
        self.reads.0.store(reads.wrapping_add(1), Ordering::Relaxed);
        self.nodes.get(id.0).unwrap_or(&self.nodes[0])
    }

    /// How many times [`Tree::node`] has been called on this tree. Tests use it to check
    /// that validating a tree reads each node a bounded number of times.
    pub fn node_reads(&self) -> usize {
        self.reads.0.load(Ordering::Relaxed)
    }

    /// Number of nodes, the root included.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// All node ids in tree (depth-first) order.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.nodes.len()).map(NodeId)
    }

    /// Memory reservation block entries.
    pub fn reservations(&self) -> &[Reservation] {
        &self.reservations
    }

    /// The header's `boot_cpuid_phys`.
    pub fn boot_cpu(&self) -> u32 {
        self.boot_cpu
    }

    /// Looks a node up by absolute path (`/chosen/domU1`); unit addresses may be omitted
    /// when the base name is unambiguous.
    pub fn find(&self, path: &str) -> Option<NodeId> {
        let mut current = self.root();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let children = self.node(current).children();
            let exact = children.iter().find(|c| self.node(**c).name() == part);
            current = match exact {
                Some(c) => *c,
                None => *children
                    .iter()
                    .find(|c| self.node(**c).base_name() == part)?,
            };
        }
        Some(current)
    }

    /// The absolute path of a node.
    pub fn path(&self, id: NodeId) -> String {
        let mut parts = Vec::new();
        let mut current = Some(id);
        while let Some(node) = current {
            if node.0 == 0 {
                break;
            }
            parts.push(self.node(node).name());
            current = self.node(node).parent();
        }
        if parts.is_empty() {
            return String::from("/");
        }
        let mut path = String::new();
        for part in parts.iter().rev() {
            path.push('/');
            path.push_str(part);
        }
        path
    }

    /// Every node whose `compatible` contains `compatible`, in tree order.
    pub fn compatible<'a>(&'a self, compatible: &'a str) -> impl Iterator<Item = NodeId> + 'a {
        self.node_ids()
            .filter(move |id| self.node(*id).is_compatible(compatible))
    }

    /// The node carrying `phandle`. This walks the tree; to resolve many references, build a
    /// [`PhandleIndex`] once with [`Tree::phandle_index`].
    pub fn by_phandle(&self, phandle: u32) -> Option<NodeId> {
        self.node_ids()
            .find(|id| self.node(*id).phandle() == Some(phandle))
    }

    /// Every phandle of the tree, indexed for lookups in O(log n).
    pub fn phandle_index(&self) -> PhandleIndex {
        PhandleIndex::new(self)
    }

    /// Adds a child node and returns its id.
    pub fn add_node(&mut self, parent: NodeId, name: &str) -> NodeId {
        let id = NodeId(self.nodes.len());
        self.nodes.push(Node {
            name: String::from(name),
            parent: Some(parent),
            children: Vec::new(),
            properties: Vec::new(),
        });
        if let Some(p) = self.nodes.get_mut(parent.0) {
            p.children.push(id);
        }
        id
    }

    /// Sets (adds or replaces) a property.
    pub fn set_property(&mut self, node: NodeId, name: &str, value: Vec<u8>) {
        let Some(n) = self.nodes.get_mut(node.0) else {
            return;
        };
        match n.properties.iter_mut().find(|p| p.name() == name) {
            Some(p) => *p = Property::new(name, value),
            None => n.properties.push(Property::new(name, value)),
        }
    }

    /// Removes a property if present.
    pub fn remove_property(&mut self, node: NodeId, name: &str) {
        if let Some(n) = self.nodes.get_mut(node.0) {
            n.properties.retain(|p| p.name() != name);
        }
    }

    /// Adds a memory reservation block entry.
    pub fn add_reservation(&mut self, reservation: Reservation) {
        self.reservations.push(reservation);
    }

    /// The largest phandle in use, 0 if none.
    pub fn max_phandle(&self) -> u32 {
        self.node_ids()
            .filter_map(|id| self.node(id).phandle())
            .max()
            .unwrap_or(0)
    }

    fn push_parsed(&mut self, parent: NodeId, name: String) -> NodeId {
        let id = NodeId(self.nodes.len());
        self.nodes.push(Node {
            name,
            parent: Some(parent),
            children: Vec::new(),
            properties: Vec::new(),
        });
        if let Some(p) = self.nodes.get_mut(parent.0) {
            p.children.push(id);
        }
        id
    }

    fn push_parsed_property(&mut self, node: NodeId, property: Property) {
        if let Some(n) = self.nodes.get_mut(node.0) {
            n.properties.push(property);
        }
    }
}

#[cfg(test)]
mod tests;
