//! The nodes of a partition's partial device tree that go into its own device tree, as Xen
//! dom0less copies them: `/passthrough` (the devices, with `interrupt-parent` naming the guest
//! GIC's phandle 65000) and `/aliases`, every property except Xen's own `xen,*`.

use alloc::vec::Vec;
use core::fmt;

use dom0less_config::devicetree::{NodeId, Tree};

use super::dtb::ExtraNode;

/// The partial tree's top-level nodes a guest gets (Xen's `domain_handle_dtb_bootmodule`).
const COPIED: [&str; 2] = ["passthrough", "aliases"];
/// Levels below the root copied at most: a device with a few levels of sub-nodes fits.
pub const MAX_DEPTH: usize = 8;

/// Why the partial tree's nodes could not be copied.
#[derive(Debug, PartialEq, Eq)]
pub enum PassthroughError {
    /// The partial tree nests deeper than [`MAX_DEPTH`] under `/passthrough`.
    TooDeep { depth: usize },
}

impl fmt::Display for PassthroughError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooDeep { depth } => write!(
                f,
                "the partial device tree nests more than {depth} levels under /passthrough; flatten it"
            ),
        }
    }
}

/// One node of the copy: its name, its properties, and where its children are in the level below.
struct Copied<'t> {
    name: &'t str,
    properties: Vec<(&'t str, &'t [u8])>,
    children: core::ops::Range<usize>,
}

/// One level of the copy.
struct Level<'t> {
    nodes: Vec<Copied<'t>>,
}

/// Calls `use_nodes` once with the copied nodes of `partial`, as [`ExtraNode`]s for the guest
/// device tree. Work and memory are bounded by the partial tree's size.
pub fn with_nodes<R>(
    partial: &Tree,
    mut use_nodes: impl FnMut(&[ExtraNode<'_>]) -> R,
) -> Result<R, PassthroughError> {
    let mut ids: Vec<Vec<NodeId>> = Vec::new();
    let root = partial.node(partial.root());
    let top: Vec<NodeId> = root
        .children()
        .iter()
        .copied()
        .filter(|id| COPIED.contains(&partial.node(*id).name()))
        .collect();
    ids.push(top);
    loop {
        let next: Vec<NodeId> = ids
            .last()
            .map(|level| level.iter().flat_map(|id| partial.node(*id).children().iter().copied()).collect())
            .unwrap_or_default();
        if next.is_empty() {
            break;
        }
        if ids.len() >= MAX_DEPTH {
            return Err(PassthroughError::TooDeep { depth: MAX_DEPTH });
        }
        ids.push(next);
    }
    let levels: Vec<Level<'_>> = ids
        .iter()
        .map(|level| {
            let mut first_child = 0;
            Level {
                nodes: level
                    .iter()
                    .map(|id| {
                        let node = partial.node(*id);
                        let properties = node
                            .properties()
                            .iter()
                            .filter(|p| !p.name().starts_with("xen,"))
                            .map(|p| (p.name(), p.value()))
                            .collect();
                        let children = first_child..first_child + node.children().len();
                        first_child = children.end;
                        Copied { name: node.name(), properties, children }
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(build(&levels, &[], &mut use_nodes))
}

/// Builds the deepest level first; each level's nodes borrow their children from the level
/// below, which lives in the caller's frame (recursion depth: the levels, at most MAX_DEPTH).
fn build<R>(levels: &[Level<'_>], below: &[ExtraNode<'_>], top: &mut dyn FnMut(&[ExtraNode<'_>]) -> R) -> R {
    let Some((level, upper)) = levels.split_last() else {
        return top(below);
    };
    let nodes: Vec<ExtraNode<'_>> = level
        .nodes
        .iter()
        .map(|node| ExtraNode {
            name: node.name,
            properties: &node.properties,
            children: below.get(node.children.clone()).unwrap_or(&[]),
        })
        .collect();
    build(upper, &nodes, top)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dom0less_config::devicetree::Property;

    fn partial() -> Tree {
        let mut tree = Tree::new();
        let root = tree.root();
        tree.set_property(root, "#address-cells", alloc::vec![0, 0, 0, 2]);
        let pt = tree.add_node(root, "passthrough");
        tree.set_property(pt, "ranges", alloc::vec![]);
        let dev = tree.add_node(pt, "virtio@a003e00");
        tree.set_property(dev, "compatible", b"virtio,mmio\0".to_vec());
        tree.set_property(dev, "xen,path", b"/virtio_mmio@a003e00\0".to_vec());
        tree.set_property(dev, "xen,reg", alloc::vec![0; 24]);
        let sub = tree.add_node(dev, "sub");
        tree.set_property(sub, "x", alloc::vec![1]);
        tree.add_node(root, "other");
        let aliases = tree.add_node(root, "aliases");
        tree.set_property(aliases, "disk", b"/passthrough/virtio@a003e00\0".to_vec());
        let _ = Property::new("unused", alloc::vec![]);
        tree
    }

    #[test]
    fn passthrough_and_aliases_are_copied_without_xen_properties() {
        let tree = partial();
        let names = with_nodes(&tree, |nodes| {
            let mut out = Vec::new();
            for n in nodes {
                out.push(alloc::format!("{} {:?}", n.name, n.properties.iter().map(|p| p.0).collect::<Vec<_>>()));
                for c in n.children {
                    out.push(alloc::format!("  {} {:?}", c.name, c.properties.iter().map(|p| p.0).collect::<Vec<_>>()));
                    for g in c.children {
                        out.push(alloc::format!("    {}", g.name));
                    }
                }
            }
            out
        })
        .unwrap();
        assert_eq!(
            names,
            [
                "passthrough [\"ranges\"]",
                "  virtio@a003e00 [\"compatible\"]",
                "    sub",
                "aliases [\"disk\"]",
            ]
        );
    }

    #[test]
    fn a_tree_nested_too_deep_is_refused() {
        let mut tree = Tree::new();
        let mut node = tree.add_node(tree.root(), "passthrough");
        for i in 0..MAX_DEPTH {
            node = tree.add_node(node, &alloc::format!("n{i}"));
        }
        assert_eq!(with_nodes(&tree, |_| ()), Err(PassthroughError::TooDeep { depth: MAX_DEPTH }));
    }

    #[test]
    fn no_passthrough_node_gives_no_nodes() {
        let tree = Tree::new();
        assert_eq!(with_nodes(&tree, |nodes| nodes.len()), Ok(0));
    }
}
