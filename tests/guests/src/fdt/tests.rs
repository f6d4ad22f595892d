//! Host tests of the device tree reader, on well-formed and broken blobs.

use core::ops::ControlFlow;

use super::*;
use crate::dtb_builder::{virt_like, DtbBuilder};

#[test]
fn finds_nodes_by_path_and_reads_properties() {
    let blob = virt_like("guest.name=one");
    let fdt = Fdt::new(&blob).unwrap();
    let chosen = fdt.find("/chosen").unwrap().unwrap();
    assert_eq!(
        chosen.string_property("bootargs").unwrap(),
        Some("guest.name=one")
    );
    let psci = fdt.find("/psci").unwrap().unwrap();
    assert_eq!(psci.string_property("method").unwrap(), Some("hvc"));
    assert!(psci.is_compatible("arm,psci-0.2").unwrap());
    assert!(!psci.is_compatible("arm,psci-0.3").unwrap());
    let memory = fdt.find("/memory").unwrap().unwrap();
    assert_eq!(memory.name(), "memory@40000000");
    assert!(fdt.find("/cpus/cpu@2").unwrap().is_none());
    assert_eq!(fdt.find("/cpus/cpu@1").unwrap().unwrap().base_name(), "cpu");
}

#[test]
fn children_skip_grandchildren_and_nops() {
    let blob = virt_like("");
    let fdt = Fdt::new(&blob).unwrap();
    let root = fdt.root().unwrap();
    let names: std::vec::Vec<&str> = root.children().map(|c| c.unwrap().name()).collect();
    assert_eq!(
        names,
        ["psci", "memory@40000000", "pl011@9000000", "cpus", "chosen"]
    );
    let cpus = fdt.find("/cpus").unwrap().unwrap();
    assert_eq!(
        cpus.cells().unwrap(),
        Cells {
            address: 1,
            size: 0
        }
    );
    assert_eq!(
        root.cells().unwrap(),
        Cells {
            address: 2,
            size: 2
        }
    );
    assert_eq!(cpus.children().count(), 2);
}

#[test]
fn walk_reports_parent_cells() {
    let blob = virt_like("");
    let fdt = Fdt::new(&blob).unwrap();
    let found = fdt
        .walk(|visit| {
            if visit.node.name() == "cpu@1" {
                ControlFlow::Break((visit.parent_cells(), visit.ancestors.len()))
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(
        found,
        Some((
            Cells {
                address: 1,
                size: 0
            },
            2
        ))
    );
    let none: Option<()> = fdt.walk(|_| ControlFlow::Continue(())).unwrap();
    assert_eq!(none, None);
}

#[test]
fn translates_through_bus_ranges() {
    let mut b = DtbBuilder::new();
    b.begin("")
        .prop_u32s("#address-cells", &[2])
        .prop_u32s("#size-cells", &[1]);
    b.begin("soc")
        .prop_u32s("#address-cells", &[1])
        .prop_u32s("#size-cells", &[1]);
    b.prop_u32s("ranges", &[0x7e00_0000, 0, 0xfe00_0000, 0x0180_0000]);
    b.begin("serial@7e201000")
        .prop_str("compatible", "arm,pl011");
    b.prop_u32s("reg", &[0x7e20_1000, 0x200]).end();
    b.end().end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    let address = fdt
        .walk(|visit| {
            if visit.node.is_compatible("arm,pl011").unwrap() {
                let reg = visit.node.property("reg").unwrap().unwrap();
                let (address, _) = RegEntries::new(reg, visit.parent_cells())
                    .unwrap()
                    .next()
                    .unwrap();
                ControlFlow::Break(translate(address, visit.ancestors))
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(address, Some(Ok(0xfe20_1000)));
}

#[test]
fn translation_fails_without_ranges() {
    let mut b = DtbBuilder::new();
    b.begin("").begin("bus").begin("device").end().end().end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    let result = fdt
        .walk(|visit| match visit.node.name() {
            "device" => ControlFlow::Break(translate(0x1000, visit.ancestors)),
            _ => ControlFlow::Continue(()),
        })
        .unwrap();
    assert_eq!(
        result,
        Some(Err(RegError::NotTranslatable { address: 0x1000 }))
    );
}

#[test]
fn reg_entries_check_their_length() {
    let value: std::vec::Vec<u8> = [0u32, 0x4000_0000, 0, 0x1000_0000, 1, 0, 0, 0x100]
        .iter()
        .flat_map(|c| c.to_be_bytes())
        .collect();
    let cells = Cells {
        address: 2,
        size: 2,
    };
    let entries: std::vec::Vec<_> = RegEntries::new(&value, cells).unwrap().collect();
    assert_eq!(
        entries,
        [(0x4000_0000, 0x1000_0000), (0x1_0000_0000, 0x100)]
    );
    assert_eq!(
        RegEntries::new(&value[..12], cells).unwrap_err(),
        RegError::BadLength {
            length: 12,
            entry: 16
        }
    );
    assert_eq!(
        RegEntries::new(
            &value,
            Cells {
                address: 3,
                size: 1
            }
        )
        .unwrap_err(),
        RegError::TooManyCells { cells: 3 }
    );
}

#[test]
fn rejects_bad_headers() {
    let blob = virt_like("");
    let mut bad = blob.clone();
    bad[0] = 0;
    assert_eq!(
        Fdt::new(&bad).unwrap_err(),
        FdtError::BadMagic { found: 0x000d_feed }
    );
    assert!(matches!(
        Fdt::new(&blob[..blob.len() - 1]),
        Err(FdtError::Truncated { .. })
    ));
    assert!(matches!(
        Fdt::new(&blob[..6]),
        Err(FdtError::Truncated { .. })
    ));
    let mut old = blob.clone();
    old[0x17] = 16;
    assert!(matches!(
        Fdt::new(&old),
        Err(FdtError::UnsupportedVersion { version: 16, .. })
    ));
    let mut outside = blob.clone();
    outside[0x0b] = 0xff;
    assert!(matches!(
        Fdt::new(&outside),
        Err(FdtError::BlockOutOfBounds {
            block: "structure",
            ..
        })
    ));
    assert_eq!(total_size(&blob).unwrap(), blob.len());
}

#[test]
fn rejects_bad_structure() {
    let mut b = DtbBuilder::new();
    b.begin("").raw_token(7).end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    let result = fdt.walk(|_| ControlFlow::<()>::Continue(()));
    assert!(matches!(result, Err(FdtError::BadToken { token: 7, .. })));

    let mut b = DtbBuilder::new();
    b.begin("").begin("open");
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    assert!(matches!(
        fdt.walk(|_| ControlFlow::<()>::Continue(())),
        Err(FdtError::Unbalanced { .. })
    ));
    assert!(matches!(
        fdt.find("/open/x"),
        Err(FdtError::Unbalanced { .. })
    ));

    let mut b = DtbBuilder::new();
    b.begin("").prop("#address-cells", &[0, 1]).end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    assert!(matches!(
        fdt.root().unwrap().cells(),
        Err(FdtError::BadCells { .. })
    ));
    assert!(matches!(
        fdt.walk(|_| ControlFlow::<()>::Continue(())),
        Err(FdtError::BadCells { .. })
    ));
}

#[test]
fn rejects_deep_nesting() {
    let mut b = DtbBuilder::new();
    for _ in 0..=MAX_DEPTH {
        b.begin("n");
    }
    for _ in 0..=MAX_DEPTH {
        b.end();
    }
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    assert!(matches!(
        fdt.walk(|_| ControlFlow::<()>::Continue(())),
        Err(FdtError::TooDeep { .. })
    ));
}

#[test]
fn truncated_property_is_an_error_not_a_panic() {
    let mut b = DtbBuilder::new();
    b.begin("").prop("x", &[1, 2, 3, 4]).end();
    let mut blob = b.finish();
    // Make the property claim far more bytes than the structure block holds.
    let structure = 56;
    let length_at = structure + 8 + 4;
    blob[length_at..length_at + 4].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    let fdt = Fdt::new(&blob).unwrap();
    assert!(matches!(
        fdt.root().unwrap().property("x"),
        Err(FdtError::Truncated { .. })
    ));
}

#[test]
fn string_lists_split_on_nul() {
    let entries: std::vec::Vec<&str> = string_list(b"a\0bc\0").collect();
    assert_eq!(entries, ["a", "bc"]);
    assert_eq!(string_list(b"").count(), 1);
}
