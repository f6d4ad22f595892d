//! One sorted index of a tree's phandles, built once, so each reference costs O(log n).

use alloc::vec::Vec;

use super::{NodeId, Tree};

/// Every node's phandle, sorted.
///
/// A phandle carried by two nodes resolves to the first in tree order, as
/// [`Tree::by_phandle`] does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PhandleIndex {
    entries: Vec<(u32, NodeId)>,
}

impl PhandleIndex {
    /// Reads every node's `phandle` (or `linux,phandle`) once.
    pub fn new(tree: &Tree) -> Self {
        let mut entries: Vec<(u32, NodeId)> = tree
            .node_ids()
            .filter_map(|id| tree.node(id).phandle().map(|p| (p, id)))
            .collect();
        crate::sort::sort(&mut entries);
        Self { entries }
    }

    /// The node carrying `phandle`.
    pub fn get(&self, phandle: u32) -> Option<NodeId> {
        let at = self.entries.partition_point(|(p, _)| *p < phandle);
        self.entries
            .get(at)
            .filter(|(p, _)| *p == phandle)
            .map(|(_, id)| *id)
    }
}
