//! Board matching and device-tree checks on small synthetic trees.

use super::*;
use dom0less_config::devicetree::{cells_value, strings_value, NodeId};

fn prop_u32(tree: &mut Tree, node: NodeId, name: &str, value: u32) {
    tree.set_property(node, name, cells_value(&[value]));
}

/// A tree shaped like QEMU virt's: 2 address and size cells, GICv3 at 0x8000000.
fn virt_tree(cpus: u32, gic_compatible: &str) -> Tree {
    let mut t = Tree::new();
    let root = t.root();
    t.set_property(root, "compatible", strings_value(&["linux,dummy-virt"]));
    prop_u32(&mut t, root, "#address-cells", 2);
    prop_u32(&mut t, root, "#size-cells", 2);
    let mem = t.add_node(root, "memory@40000000");
    t.set_property(mem, "device_type", strings_value(&["memory"]));
    t.set_property(mem, "reg", cells_value(&[0, 0x4000_0000, 0, 0x8000_0000]));
    let cpus_node = t.add_node(root, "cpus");
    prop_u32(&mut t, cpus_node, "#address-cells", 1);
    prop_u32(&mut t, cpus_node, "#size-cells", 0);
    for i in 0..cpus {
        let cpu = t.add_node(cpus_node, &alloc::format!("cpu@{i}"));
        t.set_property(cpu, "device_type", strings_value(&["cpu"]));
        prop_u32(&mut t, cpu, "reg", i);
    }
    let gic = t.add_node(root, "intc@8000000");
    t.set_property(gic, "compatible", strings_value(&[gic_compatible]));
    t.set_property(gic, "reg", cells_value(&[0, 0x0800_0000, 0, 0x1_0000, 0, 0x080a_0000, 0, 0xf6_0000]));
    let chosen = t.add_node(root, "chosen");
    t.set_property(chosen, "bootargs", strings_value(&["console=ttyAMA0 bulkhead.debug=el2-fault"]));
    t
}

/// A tree shaped like the Raspberry Pi 4's: the GIC under /soc at a bus address.
fn rpi4_tree() -> Tree {
    let mut t = Tree::new();
    let root = t.root();
    t.set_property(root, "compatible", strings_value(&["raspberrypi,4-model-b", "brcm,bcm2711"]));
    prop_u32(&mut t, root, "#address-cells", 2);
    prop_u32(&mut t, root, "#size-cells", 1);
    let mem = t.add_node(root, "memory@0");
    t.set_property(mem, "device_type", strings_value(&["memory"]));
    t.set_property(mem, "reg", cells_value(&[0, 0, 0x3c00_0000]));
    let cpus_node = t.add_node(root, "cpus");
    prop_u32(&mut t, cpus_node, "#address-cells", 1);
    prop_u32(&mut t, cpus_node, "#size-cells", 0);
    for i in 0..4 {
        let cpu = t.add_node(cpus_node, &alloc::format!("cpu@{i}"));
        t.set_property(cpu, "device_type", strings_value(&["cpu"]));
        prop_u32(&mut t, cpu, "reg", i);
    }
    let soc = t.add_node(root, "soc");
    prop_u32(&mut t, soc, "#address-cells", 1);
    prop_u32(&mut t, soc, "#size-cells", 1);
    t.set_property(soc, "ranges", cells_value(&[0x7e00_0000, 0, 0xfe00_0000, 0x180_0000, 0x4000_0000, 0, 0xff80_0000, 0x80_0000]));
    let gic = t.add_node(soc, "interrupt-controller@40041000");
    t.set_property(gic, "compatible", strings_value(&["arm,gic-400"]));
    t.set_property(gic, "reg", cells_value(&[0x4004_1000, 0x1000, 0x4004_2000, 0x2000]));
    t
}

#[test]
fn virt_gicv3_is_recognised() {
    let p = Platform::from_tree(&virt_tree(4, "arm,gic-v3"), 8, 0).unwrap();
    assert_eq!(p.board.name, "virt");
    assert_eq!(p.gic.version(), GicVersion::V3);
    assert_eq!(p.ram, [AddressRange::window(0x4000_0000, 0xc000_0000)]);
    assert_eq!(p.ram_bytes(), 2 << 30);
    assert_eq!(p.cpus, [0, 1, 2, 3]);
    assert_eq!(p.boot_cpu, 0);
    assert!(p.has_bootarg("bulkhead.debug=el2-fault"));
    assert!(!p.has_bootarg("bulkhead.debug"));
}

#[test]
fn virt_gicv2_is_recognised() {
    let p = Platform::from_tree(&virt_tree(2, "arm,cortex-a15-gic"), 8, 1).unwrap();
    assert_eq!(p.gic.version(), GicVersion::V2);
    assert_eq!(p.boot_cpu, 1);
}

#[test]
fn rpi4_gic_bus_address_is_translated() {
    let p = Platform::from_tree(&rpi4_tree(), 8, 0).unwrap();
    assert_eq!(p.board.name, "rpi4");
    assert_eq!(p.gic.gicd(), 0xff84_1000);
    assert_eq!(p.ram, [AddressRange::window(0, 0x3c00_0000)]);
}

#[test]
fn a_dtb_round_trip_gives_the_same_platform() {
    let bytes = virt_tree(4, "arm,gic-v3").to_dtb();
    let tree = Tree::parse(&bytes).unwrap();
    assert_eq!(Platform::from_tree(&tree, 8, 2).unwrap().boot_cpu, 2);
}

#[test]
fn rejections() {
    let mut t = virt_tree(4, "arm,gic-v3");
    let root = t.root();
    t.set_property(root, "compatible", strings_value(&["acme,widget"]));
    assert!(matches!(Platform::from_tree(&t, 8, 0), Err(PlatformError::UnknownBoard { compatible }) if compatible == ["acme,widget"]));

    assert_eq!(Platform::from_tree(&virt_tree(9, "arm,gic-v3"), 8, 0).unwrap_err(), PlatformError::TooManyCpus { count: 9, max: 8 });
    assert_eq!(Platform::from_tree(&virt_tree(0, "arm,gic-v3"), 8, 0).unwrap_err(), PlatformError::NoCpus);
    assert_eq!(Platform::from_tree(&virt_tree(2, "arm,gic-v3"), 8, 5).unwrap_err(), PlatformError::BootCpuNotListed { mpidr: 5 });
    assert_eq!(Platform::from_tree(&virt_tree(2, "acme,pic"), 8, 0).unwrap_err(), PlatformError::NoGic);

    let mut t = rpi4_tree();
    let gic = t.compatible("arm,gic-400").next().unwrap();
    t.set_property(gic, "compatible", strings_value(&["arm,gic-v3"]));
    assert_eq!(Platform::from_tree(&t, 8, 0).unwrap_err(), PlatformError::GicNotOnBoard { board: "rpi4", version: GicVersion::V3 });

    let mut t = virt_tree(2, "arm,gic-v3");
    let gic = t.compatible("arm,gic-v3").next().unwrap();
    t.set_property(gic, "reg", cells_value(&[0, 0x0900_0000, 0, 0x1_0000]));
    assert_eq!(
        Platform::from_tree(&t, 8, 0).unwrap_err(),
        PlatformError::GicAddress { board: "virt", tree: 0x0900_0000, expected: 0x0800_0000 }
    );

    let mut t = virt_tree(2, "arm,gic-v3");
    let mem = t.find("/memory@40000000").unwrap();
    t.set_property(mem, "reg", cells_value(&[0, 0x1000_0000, 0, 0x1000]));
    assert!(matches!(Platform::from_tree(&t, 8, 0), Err(PlatformError::RamOutsideBoard { board: "virt", .. })));
    t.set_property(mem, "reg", cells_value(&[0, 0x4000_0000, 0, 0]));
    assert_eq!(Platform::from_tree(&t, 8, 0).unwrap_err(), PlatformError::NoRam);
}

#[test]
fn errors_read_as_sentences() {
    let e = PlatformError::GicAddress { board: "virt", tree: 0x900_0000, expected: 0x800_0000 };
    assert_eq!(
        alloc::string::ToString::to_string(&e),
        "the device tree's GIC distributor is at 0x9000000, board \"virt\" has it at 0x8000000; fix the board data or the tree"
    );
}
