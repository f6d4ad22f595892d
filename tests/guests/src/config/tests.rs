//! Host tests of what guests read from their device tree.

use super::*;
use crate::dtb_builder::{virt_like, DtbBuilder};

fn tree_with_chosen(build: impl FnOnce(&mut DtbBuilder)) -> std::vec::Vec<u8> {
    let mut b = DtbBuilder::new();
    b.begin("").begin("chosen");
    build(&mut b);
    b.end().end();
    b.finish()
}

#[test]
fn reads_a_virt_like_tree() {
    let blob = virt_like("guest.name=hello");
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(uart_address(&fdt), Ok(0x0900_0000));
    assert_eq!(psci_conduit(&fdt), Ok(Conduit::Hvc));
    let memory = memory(&fdt).unwrap();
    assert_eq!(
        memory.ranges(),
        [Span {
            start: 0x4000_0000,
            size: 0x1000_0000
        }]
    );
    let cpus = cpus(&fdt).unwrap();
    assert_eq!(cpus.mpidrs(), [0, 1]);
    assert_eq!(cpus.index_of(1), Some(1));
    assert_eq!(cpus.index_of(0x100), None);
    assert_eq!(
        chosen(&fdt),
        Ok(Chosen {
            bootargs: "guest.name=hello",
            boot_count: 1
        })
    );
}

#[test]
fn boot_count_comes_from_chosen() {
    let blob = tree_with_chosen(|b| {
        b.prop_u32s(BOOT_COUNT_PROPERTY, &[3]);
    });
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(chosen(&fdt).unwrap().boot_count, 3);
    let blob = tree_with_chosen(|b| {
        b.prop(BOOT_COUNT_PROPERTY, &[0, 3]);
    });
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(
        chosen(&fdt),
        Err(ConfigError::BadValue {
            node: "/chosen",
            property: BOOT_COUNT_PROPERTY
        })
    );
    let mut b = DtbBuilder::new();
    b.begin("").end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(
        chosen(&fdt),
        Ok(Chosen {
            bootargs: "",
            boot_count: 1
        })
    );
}

#[test]
fn stdout_path_through_an_alias_wins_over_compatible_search() {
    let mut b = DtbBuilder::new();
    b.begin("")
        .prop_u32s("#address-cells", &[1])
        .prop_u32s("#size-cells", &[1]);
    b.begin("aliases")
        .prop_str("serial0", "/uart@22000000")
        .end();
    b.begin("chosen")
        .prop_str("stdout-path", "serial0:115200n8")
        .end();
    b.begin("uart@9000000").prop_str("compatible", "arm,pl011");
    b.prop_u32s("reg", &[0x0900_0000, 0x1000]).end();
    b.begin("uart@22000000")
        .prop_str("compatible", "arm,sbsa-uart");
    b.prop_u32s("reg", &[0x2200_0000, 0x1000]).end();
    b.end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(uart_address(&fdt), Ok(0x2200_0000));
}

#[test]
fn compatible_search_skips_disabled_uarts() {
    let mut b = DtbBuilder::new();
    b.begin("")
        .prop_u32s("#address-cells", &[1])
        .prop_u32s("#size-cells", &[1]);
    b.begin("uart@1000")
        .prop_str("compatible", "arm,pl011")
        .prop_str("status", "disabled");
    b.prop_u32s("reg", &[0x1000, 0x1000]).end();
    b.begin("uart@22000000")
        .prop_str("compatible", "arm,sbsa-uart");
    b.prop_u32s("reg", &[0x2200_0000, 0x1000]).end();
    b.end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(uart_address(&fdt), Ok(0x2200_0000));
}

#[test]
fn reports_a_dangling_stdout_path_and_a_missing_uart() {
    let blob = tree_with_chosen(|b| {
        b.prop_str("stdout-path", "/nowhere");
    });
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(
        uart_address(&fdt),
        Err(ConfigError::BadStdoutPath { path: "/nowhere" })
    );
    let blob = tree_with_chosen(|_| {});
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(uart_address(&fdt), Err(ConfigError::NoUart));
}

#[test]
fn reports_missing_psci_and_bad_methods() {
    let blob = tree_with_chosen(|_| {});
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(
        psci_conduit(&fdt),
        Err(ConfigError::MissingNode { path: "/psci" })
    );
    let mut b = DtbBuilder::new();
    b.begin("")
        .begin("psci")
        .prop_str("method", "spin-table")
        .end()
        .end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(
        psci_conduit(&fdt),
        Err(ConfigError::BadPsciMethod {
            method: "spin-table"
        })
    );
}

#[test]
fn memory_ranges_and_their_errors() {
    let mut b = DtbBuilder::new();
    b.begin("")
        .prop_u32s("#address-cells", &[2])
        .prop_u32s("#size-cells", &[1]);
    b.begin("memory@40000000").prop_str("device_type", "memory");
    b.prop_u32s(
        "reg",
        &[0, 0x4000_0000, 0x0800_0000, 1, 0, 0, 1, 0x1000_0000, 0x100],
    )
    .end();
    b.end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    let expected = [
        Span {
            start: 0x4000_0000,
            size: 0x0800_0000,
        },
        Span {
            start: 0x1_1000_0000,
            size: 0x100,
        },
    ];
    assert_eq!(memory(&fdt).unwrap().ranges(), expected);

    let mut b = DtbBuilder::new();
    b.begin("")
        .begin("memory")
        .prop_str("device_type", "memory");
    b.prop_u32s("reg", &[0, 0x4000_0000]).end().end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(
        memory(&fdt),
        Err(ConfigError::Reg {
            node: "memory",
            error: RegError::BadLength {
                length: 8,
                entry: 12
            }
        })
    );

    let mut b = DtbBuilder::new();
    b.begin("")
        .prop_u32s("#address-cells", &[1])
        .prop_u32s("#size-cells", &[1]);
    b.begin("memory").prop_str("device_type", "memory");
    let many: std::vec::Vec<u32> = (0..=MAX_RANGES as u32)
        .flat_map(|i| [i << 20, 0x1000])
        .collect();
    b.prop_u32s("reg", &many).end().end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(
        memory(&fdt),
        Err(ConfigError::TooMany {
            what: "memory ranges",
            limit: MAX_RANGES
        })
    );
}

#[test]
fn cpus_need_a_reg_each() {
    let mut b = DtbBuilder::new();
    b.begin("")
        .begin("cpus")
        .prop_u32s("#address-cells", &[2])
        .prop_u32s("#size-cells", &[0]);
    b.begin("cpu@100")
        .prop_str("device_type", "cpu")
        .prop_u32s("reg", &[0, 0x100])
        .end();
    b.begin("cpu-map").end();
    b.end().end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(cpus(&fdt).unwrap().mpidrs(), [0x100]);

    let mut b = DtbBuilder::new();
    b.begin("")
        .begin("cpus")
        .prop_u32s("#address-cells", &[1])
        .prop_u32s("#size-cells", &[0]);
    b.begin("cpu@0").prop_str("device_type", "cpu").end();
    b.end().end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(
        cpus(&fdt),
        Err(ConfigError::MissingProperty {
            node: "cpu@0",
            property: "reg"
        })
    );

    let mut b = DtbBuilder::new();
    b.begin("").end();
    let blob = b.finish();
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(cpus(&fdt), Err(ConfigError::MissingNode { path: "/cpus" }));
}

fn tree_with_gic(compatible: &[u8]) -> std::vec::Vec<u8> {
    let mut b = DtbBuilder::new();
    b.begin("")
        .prop_u32s("#address-cells", &[2])
        .prop_u32s("#size-cells", &[2]);
    b.begin("interrupt-controller@3001000").prop("compatible", compatible);
    b.prop_u32s("reg", &[0, 0x0300_1000, 0, 0x1000, 0, 0x0300_2000, 0, 0x2000]);
    b.end().end();
    b.finish()
}

#[test]
fn gic_version_and_frames_come_from_the_tree() {
    let blob = tree_with_gic(b"arm,cortex-a15-gic\0");
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(
        gic(&fdt),
        Ok(Gic::V2 {
            distributor: 0x0300_1000,
            cpu_interface: 0x0300_2000
        })
    );
    let blob = tree_with_gic(b"arm,gic-v3\0");
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(
        gic(&fdt),
        Ok(Gic::V3 {
            distributor: 0x0300_1000,
            redistributor: 0x0300_2000
        })
    );
    let blob = virt_like("");
    let fdt = Fdt::new(&blob).unwrap();
    assert_eq!(gic(&fdt), Err(ConfigError::NoGic));
}
