//! The partitions written as a device-tree overlay and applied to the board's tree by
//! `fdtoverlay` (device-tree-compiler) give the same plan as the config compiled onto it.
#![cfg(feature = "cli")]

mod common;

use std::process::Command;

use dom0less_config::authoring::{overlay, OverlayError};
use dom0less_config::devicetree::{cells_value, strings_value, Tree};
use dom0less_config::{HostFacts, PartitionPlan, Validated};

fn tree(name: &str) -> Tree {
    Tree::parse(&common::compile(name)).expect("fixture parses")
}

/// The plan of `tree`, its host CPUs' phandle numbers left out (the applier renumbers).
fn validate(tree: &Tree) -> PartitionPlan {
    let Validated { mut plan, .. } =
        PartitionPlan::from_tree(tree, &HostFacts::default()).unwrap_or_else(|e| panic!("rejected: {e:#?}"));
    for cpu in &mut plan.cpus {
        cpu.phandle = None;
    }
    plan
}

/// The host fixture with `__symbols__` for its CPUs and a phandle on each, as the Raspberry
/// Pi firmware's trees carry them (dtc -@).
fn base_with_symbols() -> Tree {
    let mut base = tree("host");
    let root = base.root();
    let symbols = base.add_node(root, "__symbols__");
    for cpu in 0..4u32 {
        let path = format!("/cpus/cpu@{cpu}");
        let node = base.find(&path).expect("host fixture has four CPUs");
        base.set_property(node, "phandle", cells_value(&[0x100 + cpu]));
        base.set_property(symbols, &format!("cpu{cpu}"), strings_value(&[&path]));
    }
    base
}

/// Applies `overlay` to `base` with fdtoverlay; the result, or fdtoverlay's complaint.
fn apply(base: &Tree, overlay: &Tree, name: &str) -> Result<Tree, String> {
    let dir = std::env::temp_dir().join(format!("dom0less-overlay-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (base_file, overlay_file, out) = (dir.join("base.dtb"), dir.join("o.dtbo"), dir.join("out.dtb"));
    std::fs::write(&base_file, base.to_dtb()).expect("write base");
    std::fs::write(&overlay_file, overlay.to_dtb()).expect("write overlay");
    let output = Command::new("fdtoverlay")
        .arg("-i")
        .arg(&base_file)
        .arg("-o")
        .arg(&out)
        .arg(&overlay_file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run fdtoverlay ({e}): install the Debian package `device-tree-compiler`"));
    let result = if output.status.success() {
        Ok(Tree::parse(&std::fs::read(&out).expect("fdtoverlay wrote")).expect("applied tree parses"))
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[test]
fn applied_overlay_gives_the_compiled_plan() {
    // Pools naming the board's CPUs (fixups by label), domains naming pools and event
    // channels naming each other (local fixups), shared memory, modules.
    for name in ["valid-cpupools", "valid-channels", "valid-two-linux", "valid-static-mem"] {
        let compiled = tree(name);
        let overlay = overlay(&tree("host"), &compiled).expect("overlay");
        let applied = apply(&base_with_symbols(), &overlay, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(validate(&applied), validate(&compiled), "{name}");
    }
}

#[test]
fn pools_fix_up_cpus_by_label_and_domains_their_pool_locally() {
    let overlay = overlay(&tree("host"), &tree("valid-cpupools")).expect("overlay");
    let fixups = overlay.find("/__fixups__").expect("__fixups__");
    let cpu0 = overlay.node(fixups).property("cpu0").expect("cpu0 fixup");
    let places: Vec<&str> = cpu0.strings().collect();
    assert!(
        places.iter().all(|p| p.starts_with("/fragment@0/__overlay__/") && p.contains(":cpupool-cpus:")),
        "{places:?}"
    );
    let local = overlay.find("/__local_fixups__/fragment@0/__overlay__").expect("__local_fixups__");
    let domains_with_pools = overlay
        .node_ids()
        .filter(|id| overlay.path(*id).starts_with("/__local_fixups__/"))
        .filter(|id| overlay.node(*id).property("domain-cpupool").is_some())
        .count();
    assert!(domains_with_pools > 0 && !overlay.node(local).children().is_empty());
    let target = overlay.find("/fragment@0").expect("fragment");
    assert_eq!(overlay.node(target).property("target-path").unwrap().str().unwrap(), "/chosen");
}

#[test]
fn without_board_references_no_symbols_are_needed() {
    // The board's tree here has no __symbols__ (Debian's kernel trees have none): an overlay
    // whose partitions name no node of the board applies all the same.
    let compiled = tree("valid-two-linux");
    let overlay = overlay(&tree("host"), &compiled).expect("overlay");
    assert!(overlay.find("/__fixups__").is_none());
    let applied = apply(&tree("host"), &overlay, "nosymbols").expect("applies without symbols");
    assert_eq!(validate(&applied), validate(&compiled));
}

#[test]
fn a_board_node_without_a_label_is_refused() {
    let mut compiled = tree("valid-cpupools");
    // Point a pool at a virtio transport of the board: no label an overlay could name.
    let device = compiled.compatible("virtio,mmio").next().expect("host fixture has a virtio transport");
    compiled.set_property(device, "phandle", cells_value(&[0x7777]));
    let pool = compiled.compatible("xen,cpupool").next().expect("a pool");
    compiled.set_property(pool, "cpupool-cpus", cells_value(&[0x7777]));
    let error = overlay(&tree("host"), &compiled).unwrap_err();
    assert!(matches!(&error, OverlayError::NoLabel { property, .. } if property == "cpupool-cpus"), "{error}");
    assert!(error.to_string().contains("cpu@N"), "{error}");
}

#[test]
fn properties_set_on_board_nodes_get_fragments_of_their_own() {
    let mut compiled = tree("valid-two-linux");
    // A UART of the host fixture without `xen,passthrough`, given it by the config.
    let path = "/soc/serial@7e201600";
    let device = compiled.find(path).expect("host fixture has UART2");
    assert!(compiled.node(device).property("xen,passthrough").is_none());
    compiled.set_property(device, "xen,passthrough", Vec::new());
    // A phandle the compiler gave a CPU is not carried: the overlay names CPUs by label.
    let cpu = compiled.find("/cpus/cpu@0").unwrap();
    compiled.set_property(cpu, "phandle", cells_value(&[0x4242]));
    let overlay = overlay(&tree("host"), &compiled).expect("overlay");
    let fragment = overlay.find("/fragment@1").expect("a fragment for the device");
    assert_eq!(overlay.node(fragment).property("target-path").unwrap().str().unwrap(), path);
    assert!(overlay.find("/fragment@2").is_none(), "nothing for the CPU's phandle");
    let applied = apply(&tree("host"), &overlay, "board-node").expect("applies");
    let node = applied.find(path).unwrap();
    assert!(applied.node(node).property("xen,passthrough").is_some());
    assert_eq!(validate(&applied), validate(&compiled));
}
