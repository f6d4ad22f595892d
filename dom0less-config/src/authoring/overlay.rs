//! Writes the partitions of a compiled config as a device-tree overlay: what firmware (the
//! Raspberry Pi's `dtoverlay=`), U-Boot's `fdt apply` or `fdtoverlay` adds to the board's own
//! tree, so that the hypervisor finds the board and its partitions in one tree.
//!
//! The overlay's first fragment, `target-path = "/chosen"`, has in its `__overlay__` every
//! node and property the config added to `/chosen`; one more fragment per node of the board
//! the config changed carries the properties it set there (`xen,passthrough` on a device
//! given to a partition). Phandles between its own nodes (a
//! domain's `domain-cpupool`, a static event channel's peer) are listed in
//! `__local_fixups__`, so the applier renumbers them above the base tree's; a reference to a
//! node of the board (a pool's CPUs) is listed in `__fixups__` under the label the board's
//! tree gives that node in its `__symbols__` (`cpu0` for `/cpus/cpu@0`).

use std::collections::BTreeMap;
use std::fmt;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::devicetree::{cells_value, strings_value, NodeId, Tree};

/// The fragment's node and its overlay node, as the applier expects them.
const FRAGMENT: &str = "fragment@0";
const OVERLAY: &str = "__overlay__";

/// Properties of the dom0less binding that hold phandles, and which of their cells do.
const PHANDLE_PROPERTIES: &[(&str, Cells)] = &[
    ("domain-cpupool", Cells::Index(0)),
    ("cpupool-cpus", Cells::All),
    ("xen,evtchn", Cells::Index(1)),
];

/// Which cells of a property are phandles.
#[derive(Clone, Copy)]
enum Cells {
    All,
    Index(usize),
}

/// Why no overlay was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OverlayError {
    /// The compiled tree has no `/chosen`.
    NoChosen,
    /// A phandle names no node.
    Dangling {
        node: String,
        property: String,
        phandle: u32,
    },
    /// A reference to a node of the board that has no well-known label to fix it up by.
    NoLabel {
        node: String,
        property: String,
        target: String,
    },
}

impl fmt::Display for OverlayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoChosen => write!(f, "the compiled tree has no /chosen node to write an overlay of"),
            Self::Dangling { node, property, phandle } => write!(
                f,
                "{node}: `{property}` names phandle {phandle:#x}, which no node carries; fix the reference"
            ),
            Self::NoLabel { node, property, target } => write!(
                f,
                "{node}: `{property}` refers to {target}, a node of the board's tree with no label an overlay \
                 can name (only /cpus/cpu@N, label cpuN, is known); refer to a node of the config instead"
            ),
        }
    }
}

/// The label the board's tree gives the node at `path` (Linux's and the Raspberry Pi
/// firmware's trees label `/cpus/cpu@N` as `cpuN`); `None` for other nodes.
pub fn board_label(path: &str) -> Option<String> {
    let number = path.strip_prefix("/cpus/cpu@")?;
    let valid = !number.is_empty() && number.chars().all(|c| c.is_ascii_hexdigit());
    let number = u64::from_str_radix(number, 16).ok().filter(|_| valid)?;
    Some(format!("cpu{number}"))
}

/// The overlay that adds to `base` what `compiled` (the same tree with a config compiled onto
/// it) has in `/chosen` beyond it.
pub fn overlay(base: &Tree, compiled: &Tree) -> Result<Tree, OverlayError> {
    let chosen = compiled.find("/chosen").ok_or(OverlayError::NoChosen)?;
    let base_chosen = base.find("/chosen");
    let mut out = Tree::new();
    let root = out.root();
    let fragment = out.add_node(root, FRAGMENT);
    out.set_property(fragment, "target-path", strings_value(&["/chosen"]));
    let target = out.add_node(fragment, OVERLAY);

    let base_property = |name: &str| {
        base_chosen
            .and_then(|c| base.node(c).property(name))
            .map(|p| p.value().to_vec())
    };
    for property in compiled.node(chosen).properties() {
        if base_property(property.name()).as_deref() != Some(property.value()) {
            out.set_property(target, property.name(), property.value().to_vec());
        }
    }
    // The nodes the config added, copied with their subtrees; `copied` maps each to its
    // place in the overlay, relative to `__overlay__`. Appliers built on libfdt (fdtoverlay,
    // U-Boot's `fdt apply`, the Raspberry Pi firmware) add each new node before the siblings
    // already there, so the overlay lists every node's children last first: applied, they
    // come out in the config's order, which gives the domains their ids.
    let mut copied: BTreeMap<NodeId, (NodeId, String)> = BTreeMap::new();
    for &child in compiled.node(chosen).children().iter().rev() {
        let name = compiled.node(child).name();
        let in_base = base_chosen.is_some_and(|c| {
            base.node(c).children().iter().any(|n| base.node(*n).name() == name)
        });
        if !in_base {
            copy(compiled, child, &mut out, target, String::new(), &mut copied);
        }
    }

    // Properties the config set on nodes of the board (`xen,passthrough` on a device a
    // partition is given): one more fragment per node. Phandles the compiler gave the board's
    // CPUs stay out: the overlay names those by label.
    let mut extra = 1usize;
    for id in compiled.node_ids() {
        let path = compiled.path(id);
        if path == "/" || path == "/chosen" || path.starts_with("/chosen/") {
            continue;
        }
        let Some(in_base) = base.find(&path).filter(|b| base.path(*b) == path) else {
            continue;
        };
        let added: Vec<_> = compiled
            .node(id)
            .properties()
            .iter()
            .filter(|p| !matches!(p.name(), "phandle" | "linux,phandle"))
            .filter(|p| base.node(in_base).property(p.name()).map(|b| b.value()) != Some(p.value()))
            .collect();
        if added.is_empty() {
            continue;
        }
        let fragment = out.add_node(root, &format!("fragment@{extra}"));
        extra += 1;
        out.set_property(fragment, "target-path", strings_value(&[&path]));
        let node = out.add_node(fragment, OVERLAY);
        for property in added {
            out.set_property(node, property.name(), property.value().to_vec());
        }
    }

    let index = compiled.phandle_index();
    let mut fixups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut local: Vec<(String, String, Vec<u32>)> = Vec::new();
    for (&source, (into, relative)) in &copied {
        for &(name, cells) in PHANDLE_PROPERTIES {
            let Some(property) = compiled.node(source).property(name) else {
                continue;
            };
            let Ok(mut values) = property.cells() else {
                continue;
            };
            let positions: Vec<usize> = match cells {
                Cells::All => (0..values.len()).collect(),
                Cells::Index(i) if i < values.len() => std::vec![i],
                Cells::Index(_) => Vec::new(),
            };
            let mut offsets = Vec::new();
            for at in positions {
                let phandle = values[at];
                let node = || compiled.path(source);
                let referred = index.get(phandle).ok_or_else(|| OverlayError::Dangling {
                    node: node(),
                    property: name.to_string(),
                    phandle,
                })?;
                let offset = u32::try_from(at * 4).unwrap_or(u32::MAX);
                if copied.contains_key(&referred) {
                    offsets.push(offset);
                    continue;
                }
                let target_path = compiled.path(referred);
                let label = board_label(&target_path).ok_or_else(|| OverlayError::NoLabel {
                    node: node(),
                    property: name.to_string(),
                    target: target_path.clone(),
                })?;
                fixups
                    .entry(label)
                    .or_default()
                    .push(format!("/{FRAGMENT}/{OVERLAY}{relative}:{name}:{offset}"));
                // The applier writes the board's phandle here.
                values[at] = u32::MAX;
            }
            out.set_property(*into, name, cells_value(&values));
            if !offsets.is_empty() {
                local.push((relative.clone(), name.to_string(), offsets));
            }
        }
    }

    if !fixups.is_empty() {
        let node = out.add_node(root, "__fixups__");
        for (label, places) in &fixups {
            let places: Vec<&str> = places.iter().map(String::as_str).collect();
            out.set_property(node, label, strings_value(&places));
        }
    }
    if !local.is_empty() {
        let top = out.add_node(root, "__local_fixups__");
        let fragment = out.add_node(top, FRAGMENT);
        let overlay = out.add_node(fragment, OVERLAY);
        for (relative, name, offsets) in local {
            let mut at = overlay;
            for part in relative.split('/').filter(|p| !p.is_empty()) {
                let existing = out
                    .node(at)
                    .children()
                    .iter()
                    .copied()
                    .find(|c| out.node(*c).name() == part);
                at = match existing {
                    Some(c) => c,
                    None => out.add_node(at, part),
                };
            }
            out.set_property(at, &name, cells_value(&offsets));
        }
    }
    Ok(out)
}

/// Copies `node` of `from` with its subtree under `parent` of `to`, recording where each
/// node went and its path relative to the overlay node.
fn copy(
    from: &Tree,
    node: NodeId,
    to: &mut Tree,
    parent: NodeId,
    prefix: String,
    copied: &mut BTreeMap<NodeId, (NodeId, String)>,
) {
    // Iterative, so a deep tree costs no stack; children come out last first (see above).
    let mut work = std::vec![(node, parent, prefix)];
    while let Some((node, parent, prefix)) = work.pop() {
        let name = from.node(node).name();
        let new = to.add_node(parent, name);
        for property in from.node(node).properties() {
            to.set_property(new, property.name(), property.value().to_vec());
        }
        let relative = format!("{prefix}/{name}");
        for &child in from.node(node).children() {
            work.push((child, new, relative.clone()));
        }
        copied.insert(node, (new, relative));
    }
}
