//! Host tests for the device tree reader and writer.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::*;

fn sample() -> Tree {
    let mut tree = Tree::new();
    let root = tree.root();
    tree.set_property(root, "#address-cells", cells_value(&[2]));
    tree.set_property(root, "#size-cells", cells_value(&[2]));
    let memory = tree.add_node(root, "memory@40000000");
    tree.set_property(memory, "device_type", strings_value(&["memory"]));
    tree.set_property(
        memory,
        "reg",
        cells_value(&[0, 0x4000_0000, 0, 0x4000_0000]),
    );
    let soc = tree.add_node(root, "soc");
    tree.set_property(soc, "#address-cells", cells_value(&[1]));
    tree.set_property(soc, "#size-cells", cells_value(&[1]));
    tree.set_property(
        soc,
        "ranges",
        cells_value(&[0x7e00_0000, 0, 0xfe00_0000, 0x180_0000]),
    );
    let bus = tree.add_node(soc, "bus@7e100000");
    tree.set_property(bus, "#address-cells", cells_value(&[1]));
    tree.set_property(bus, "#size-cells", cells_value(&[1]));
    tree.set_property(bus, "ranges", cells_value(&[0x0, 0x7e10_0000, 0x1_0000]));
    let uart = tree.add_node(bus, "serial@1000");
    tree.set_property(
        uart,
        "compatible",
        strings_value(&["arm,pl011", "arm,primecell"]),
    );
    tree.set_property(uart, "reg", cells_value(&[0x1000, 0x200]));
    tree.set_property(uart, "phandle", cells_value(&[7]));
    tree.add_reservation(Reservation {
        address: 0x1000,
        size: 0x2000,
    });
    tree
}

#[test]
fn write_then_parse_round_trips() {
    let tree = sample();
    let parsed = Tree::parse(&tree.to_dtb()).expect("valid blob");
    assert_eq!(parsed, tree);
    assert_eq!(
        parsed.reservations(),
        [Reservation {
            address: 0x1000,
            size: 0x2000
        }]
    );
}

#[test]
fn lookups_by_path_compatible_and_phandle() {
    let tree = sample();
    let uart = tree
        .find("/soc/bus/serial@1000")
        .expect("found by base name");
    assert_eq!(tree.path(uart), "/soc/bus@7e100000/serial@1000");
    assert_eq!(tree.compatible("arm,primecell").collect::<Vec<_>>(), [uart]);
    assert_eq!(tree.by_phandle(7), Some(uart));
    assert_eq!(tree.find("/nothing"), None);
    let names: Vec<_> = tree
        .node(uart)
        .property("compatible")
        .expect("present")
        .strings()
        .collect();
    assert_eq!(names, ["arm,pl011", "arm,primecell"]);
}

#[test]
fn reg_is_translated_through_every_ranges() {
    let tree = sample();
    let uart = tree.find("/soc/bus/serial@1000").expect("present");
    assert_eq!(
        tree.reg(uart).expect("decodes"),
        [AddressRange::new(0x1000, 0x200).unwrap()]
    );
    assert_eq!(
        tree.translated_reg(uart).expect("translates"),
        [AddressRange::new(0xfe10_1000, 0x200).unwrap()]
    );
    let memory = tree.find("/memory").expect("present");
    assert_eq!(
        tree.translated_reg(memory).expect("root child"),
        [AddressRange::new(0x4000_0000, 0x4000_0000).unwrap()]
    );
}

#[test]
fn reg_outside_ranges_is_an_error() {
    let mut tree = sample();
    let uart = tree.find("/soc/bus/serial@1000").expect("present");
    tree.set_property(uart, "reg", cells_value(&[0x2_0000, 0x200]));
    assert!(matches!(
        tree.translated_reg(uart),
        Err(DtError::BadAddress { .. })
    ));
}

/// A blob built by hand with `FDT_NOP` between every token, as Debian's Pi 4 tree has.
fn blob_with_nops() -> Vec<u8> {
    let strings = b"#address-cells\0";
    let mut structure: Vec<u32> = vec![4, 1, 0, 4, 3, 4, 0, 1, 4, 1];
    structure.extend_from_slice(&[u32::from_be_bytes(*b"a@1\0"), 4, 2, 4, 4, 2, 4, 9]);
    let struct_bytes: Vec<u8> = structure.iter().flat_map(|w| w.to_be_bytes()).collect();
    let header_and_rsv = 40 + 16;
    let total = header_and_rsv + struct_bytes.len() + strings.len();
    let header = [
        0xd00d_feed,
        total as u32,
        56,
        (56 + struct_bytes.len()) as u32,
        40,
        17,
        16,
        0,
        strings.len() as u32,
        struct_bytes.len() as u32,
    ];
    let mut blob: Vec<u8> = header.iter().flat_map(|w| w.to_be_bytes()).collect();
    blob.extend_from_slice(&[0; 16]);
    blob.extend_from_slice(&struct_bytes);
    blob.extend_from_slice(strings);
    blob
}

#[test]
fn nop_tokens_are_skipped() {
    let tree = Tree::parse(&blob_with_nops()).expect("NOPs are legal");
    let child = tree.find("/a@1").expect("child after NOPs");
    assert_eq!(tree.address_cells(tree.root()), Ok(1));
    assert_eq!(tree.node(child).parent(), Some(tree.root()));
}

#[test]
fn malformed_headers_are_errors() {
    assert!(matches!(
        Tree::parse(&[0; 8]),
        Err(DtError::Truncated { .. })
    ));
    let mut blob = sample().to_dtb();
    blob[0] = 0;
    assert!(matches!(Tree::parse(&blob), Err(DtError::BadMagic { .. })));
    let mut blob = sample().to_dtb();
    blob[23] = 3;
    assert_eq!(
        Tree::parse(&blob),
        Err(DtError::UnsupportedVersion { version: 3 })
    );
}

#[test]
fn every_truncation_and_byte_flip_is_handled() {
    let blob = sample().to_dtb();
    for len in 0..blob.len() {
        assert!(
            Tree::parse(&blob[..len]).is_err(),
            "prefix of {len} bytes accepted"
        );
    }
    for at in 0..blob.len() {
        let mut mutated = blob.clone();
        mutated[at] ^= 0xff;
        // Either outcome is fine; the reader must simply return.
        let _ = Tree::parse(&mutated);
    }
}

#[test]
fn property_accessors_check_lengths() {
    let p = Property::new("x", vec![0, 0, 0, 5]);
    assert_eq!(p.u32(), Ok(5));
    assert_eq!(p.u64(), Ok(5));
    assert!(Property::new("x", vec![1, 2, 3]).u32().is_err());
    assert!(Property::new("s", b"no-nul".to_vec()).str().is_err());
    assert_eq!(Property::new("s", b"ok\0".to_vec()).str(), Ok("ok"));
    let pairs = decode_pairs(&Property::new("reg", cells_value(&[0, 0x1000, 0x10])), 2, 1)
        .expect("decodes");
    assert_eq!(pairs, [AddressRange::new(0x1000, 0x10).unwrap()]);
    assert!(decode_pairs(&Property::new("reg", cells_value(&[1, 2])), 2, 1).is_err());
}

#[test]
fn is_str_agrees_with_str() {
    let values: [&[u8]; 9] = [
        b"memory\0",
        b"memory",
        b"memory\0\0",
        b"mem\0ory\0",
        b"memor\0",
        b"\0",
        b"",
        b"\xff\0",
        b"cpu\0",
    ];
    for value in values {
        let p = Property::new("device_type", value.to_vec());
        for text in ["memory", "cpu", "", "memor", "\u{ff}", "mem\0ory"] {
            assert_eq!(
                p.is_str(text),
                p.str() == Ok(text),
                "value {value:?}, text {text:?}"
            );
        }
    }
}

#[test]
fn a_structure_block_cut_short_names_the_missing_word() {
    let blob = sample().to_dtb();
    let struct_offset = u32::from_be_bytes([blob[8], blob[9], blob[10], blob[11]]) as usize;
    // The root's BEGIN_NODE, its empty name, then the first property's length and name
    // offset: cut inside the name offset, the reader's word runs past the block.
    let cut = &blob[..struct_offset + 14];
    let mut header = cut.to_vec();
    header[4..8].copy_from_slice(&(cut.len() as u32).to_be_bytes());
    header[36..40].copy_from_slice(&14u32.to_be_bytes());
    header[12..16].copy_from_slice(&(cut.len() as u32).to_be_bytes());
    header[32..36].copy_from_slice(&0u32.to_be_bytes());
    assert_eq!(
        Tree::parse(&header),
        Err(DtError::Truncated {
            needed: 16,
            available: 14
        })
    );
}

#[test]
fn one_name_is_shared_by_every_property_that_uses_it() {
    let long = "x".repeat(MAX_NAME_LENGTH);
    let mut tree = Tree::new();
    for i in 0..64 {
        let node = tree.add_node(tree.root(), &alloc::format!("n{i}"));
        tree.set_property(node, &long, vec![]);
    }
    let parsed = Tree::parse(&tree.to_dtb()).expect("valid blob");
    let names: Vec<*const u8> = parsed
        .node_ids()
        .skip(1)
        .map(|id| parsed.node(id).properties()[0].name().as_ptr())
        .collect();
    assert_eq!(names.len(), 64);
    assert!(names.iter().all(|p| *p == names[0]), "names were copied");
}

#[test]
fn names_longer_than_the_cap_are_errors() {
    let mut tree = Tree::new();
    let root = tree.root();
    tree.set_property(root, &"p".repeat(MAX_NAME_LENGTH + 1), vec![]);
    assert!(matches!(
        Tree::parse(&tree.to_dtb()),
        Err(DtError::NameTooLong {
            limit: MAX_NAME_LENGTH,
            ..
        })
    ));
    let mut tree = Tree::new();
    tree.add_node(root, &"n".repeat(MAX_NAME_LENGTH + 1));
    assert!(matches!(
        Tree::parse(&tree.to_dtb()),
        Err(DtError::NameTooLong { .. })
    ));
}

#[test]
fn phandle_index_agrees_with_the_tree_walk() {
    let mut tree = sample();
    let memory = tree.find("/memory").expect("present");
    let soc = tree.find("/soc").expect("present");
    tree.set_property(memory, "phandle", cells_value(&[7]));
    tree.set_property(soc, "linux,phandle", cells_value(&[3]));
    let index = tree.phandle_index();
    for phandle in [0, 3, 7, 8, u32::MAX] {
        assert_eq!(index.get(phandle), tree.by_phandle(phandle), "{phandle}");
    }
    assert_eq!(index.get(7), Some(memory), "first in tree order wins");
}

#[test]
fn ranges_with_too_many_windows_are_errors() {
    let mut tree = sample();
    let bus = tree.find("/soc/bus").expect("present");
    let uart = tree.find("/soc/bus/serial@1000").expect("present");
    let windows: Vec<u32> = (0..=MAX_RANGES_WINDOWS as u32)
        .flat_map(|i| [i * 0x1_0000, 0x7e10_0000, 0x1_0000])
        .collect();
    tree.set_property(bus, "ranges", cells_value(&windows));
    assert_eq!(
        tree.translated_reg(uart),
        Err(DtError::TooMany {
            node: String::from("/soc/bus@7e100000"),
            what: "`ranges` windows",
            count: MAX_RANGES_WINDOWS + 1,
            limit: MAX_RANGES_WINDOWS,
        })
    );
}

#[test]
fn a_reg_pair_that_wraps_past_2_64_is_a_bad_value() {
    let reg = Property::new("reg", cells_value(&[0xffff_ffff, 0xffff_f000, 0x2000]));
    assert_eq!(
        decode_pairs(&reg, 2, 1),
        Err(DtError::BadValue {
            property: String::from("reg"),
            reason: "an (address, size) entry wraps past 2^64; lower its address or size",
        })
    );
}

#[test]
fn a_ranges_window_that_wraps_past_2_64_is_a_bad_address() {
    let mut tree = sample();
    let bus = tree.find("/soc/bus").expect("present");
    let uart = tree.find("/soc/bus/serial@1000").expect("present");
    tree.set_property(bus, "#address-cells", cells_value(&[2]));
    tree.set_property(uart, "reg", cells_value(&[0xffff_ffff, 0xffff_f800, 0x200]));
    tree.set_property(
        bus,
        "ranges",
        cells_value(&[0xffff_ffff, 0xffff_f000, 0x7e10_0000, 0x2000]),
    );
    assert_eq!(
        tree.translated_reg(uart),
        Err(DtError::BadAddress {
            node: String::from("/soc/bus@7e100000"),
            reason: "a `ranges` window wraps past 2^64; lower its child address or length",
        })
    );
}
