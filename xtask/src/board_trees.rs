//! Keeps `dom0less-config --board`'s built-in host trees true: every node and property of a
//! built-in tree must be in the board's real tree with the same value (QEMU virt's tree as
//! QEMU dumps it; Debian's `bcm2711-rpi-4-b.dtb`). `cargo xtask test` runs the comparison.

use std::path::Path;

use dom0less_config::authoring::board_trees;
use dom0less_config::devicetree::Tree;

use crate::debian::Debian;
use crate::partitions::qemu_tree;

/// Properties that may differ: phandle numbers (the built-in trees carry their own), and the
/// Pi's `/memory` (Debian's tree leaves it empty for the firmware to fill).
fn exempt(path: &str, property: &str) -> bool {
    property == "phandle" || (path == "/memory@0" && property == "reg")
}

/// Every difference of `builtin` from `real`: a node or property missing, or a value that is
/// not the same.
pub fn differences(builtin: &Tree, real: &Tree) -> Vec<String> {
    let mut found = Vec::new();
    for id in builtin.node_ids() {
        let path = builtin.path(id);
        let Some(other) = real.find(&path).filter(|o| real.path(*o) == path) else {
            found.push(format!("{path}: no such node in the real tree"));
            continue;
        };
        for property in builtin.node(id).properties() {
            if exempt(&path, property.name()) {
                continue;
            }
            match real.node(other).property(property.name()) {
                None => found.push(format!("{path}: `{}` is not in the real tree", property.name())),
                Some(p) if p.value() != property.value() => found.push(format!(
                    "{path}: `{}` is {:02x?} in the real tree, {:02x?} built in",
                    property.name(),
                    p.value(),
                    property.value()
                )),
                Some(_) => {}
            }
        }
    }
    found
}

/// Compares both built-in trees with the real ones; the differences, as an error.
pub fn check(debian: &mut Debian, scratch: &Path) -> Result<(), String> {
    let virt_file = scratch.join("virt-builtin-check.dtb");
    let args: Vec<String> = [
        "-machine",
        "virt,virtualization=on,gic-version=3",
        "-cpu",
        "cortex-a72",
        "-smp",
        "4",
        "-m",
        "2G",
        "-nodefaults",
        "-display",
        "none",
    ]
    .map(String::from)
    .to_vec();
    let dumping = qemu_tree::dump_args(&args, &virt_file).ok_or("no -machine option")?;
    qemu_tree::dump(&dumping).map_err(|e| format!("QEMU virt's tree: {e}"))?;
    let pi = debian
        .board_dtb(&boards::RPI4)
        .map_err(|e| e.to_string())?
        .ok_or("the Pi 4 has no firmware tree")?;
    let mut all = Vec::new();
    for (board, file) in [("virt", virt_file.as_path()), ("rpi4", pi.as_path())] {
        let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let real = Tree::parse(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
        let builtin = board_trees::host_tree(board).ok_or("no built-in tree")?;
        all.extend(differences(&builtin, &real).into_iter().map(|d| format!("{board}: {d}")));
    }
    if all.is_empty() {
        println!("xtask: the built-in host trees of dom0less-config --board match QEMU virt's and Debian's Pi 4 trees");
        Ok(())
    } else {
        Err(format!(
            "the built-in host trees (dom0less-config/src/authoring/board_trees.rs) differ from the real ones:\n  {}",
            all.join("\n  ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dom0less_config::devicetree::cells_value;

    #[test]
    fn a_missing_node_or_a_changed_value_is_a_difference() {
        let builtin = board_trees::host_tree("virt").unwrap();
        assert!(differences(&builtin, &builtin).is_empty());
        let mut real = builtin.clone();
        let uart = real.find("/pl011@9000000").unwrap();
        real.set_property(uart, "reg", cells_value(&[0, 0x900_1000, 0, 0x1000]));
        real.set_property(uart, "phandle", cells_value(&[7]));
        let found = differences(&builtin, &real);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("/pl011@9000000: `reg`"), "{found:?}");
        // Against an empty tree: every node but the root, and each of the root's properties.
        let found = differences(&builtin, &Tree::new());
        let root_properties = builtin.node(builtin.root()).properties().len();
        assert_eq!(found.len(), builtin.node_count() - 1 + root_properties, "{found:?}");
    }
}
