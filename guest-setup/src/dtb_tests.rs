//! Host tests for the guest device tree: each blob is parsed back and every property checked.

use fdt::parsing::unaligned::UnalignedParser;
use fdt::parsing::Panic;
use fdt::Fdt;

use super::*;

const BANKS: [AddressRange; 2] = match (
    AddressRange::new(0x4000_0000, 0xc000_0000),
    AddressRange::new(0x2_0000_0000, 0x4000_0000),
) {
    (Some(low), Some(high)) => [low, high],
    _ => panic!("constant banks"),
};

fn spec(gic: GicVersion, vcpus: u32) -> GuestDtbSpec<'static> {
    GuestDtbSpec {
        name: "linux1",
        vcpus,
        memory: &BANKS,
        gic,
        vpl011: true,
        bootargs: Some("console=ttyAMA0 nokaslr"),
        initrd: AddressRange::new(0x4820_0000, 0x12_3456),
        boot_count: 3,
        extra_nodes: &[],
        shared_memory: &[],
    }
}

/// A generated blob, read back with the `fdt` crate.
struct Parsed(Vec<u8>);

impl Parsed {
    fn new(spec: &GuestDtbSpec<'_>) -> Self {
        Self(build(spec).unwrap())
    }

    fn fdt(&self) -> Fdt<'_, (UnalignedParser<'_>, Panic)> {
        Fdt::new_unaligned(&self.0).unwrap()
    }

    fn has(&self, path: &str) -> bool {
        self.fdt().find_node(path).is_some()
    }

    fn property(&self, path: &str, name: &str) -> &[u8] {
        let node = self
            .fdt()
            .find_node(path)
            .unwrap_or_else(|| panic!("no node {path}"));
        let property = node
            .raw_property(name)
            .unwrap_or_else(|| panic!("{path} has no {name}"));
        property.value
    }

    fn has_property(&self, path: &str, name: &str) -> bool {
        self.fdt()
            .find_node(path)
            .is_some_and(|node| node.raw_property(name).is_some())
    }

    fn string(&self, path: &str, name: &str) -> &str {
        let value = self.property(path, name);
        core::str::from_utf8(value.strip_suffix(b"\0").unwrap()).unwrap()
    }

    fn cells(&self, path: &str, name: &str) -> Vec<u32> {
        let value = self.property(path, name);
        assert_eq!(value.len() % 4, 0);
        value
            .chunks(4)
            .map(|cell| u32::from_be_bytes(cell.try_into().unwrap()))
            .collect()
    }

    fn u64s(&self, path: &str, name: &str) -> Vec<u64> {
        let value = self.property(path, name);
        assert_eq!(value.len() % 8, 0);
        value
            .chunks(8)
            .map(|cell| u64::from_be_bytes(cell.try_into().unwrap()))
            .collect()
    }

    fn children(&self, path: &str) -> Vec<String> {
        let node = self.fdt().find_node(path).unwrap();
        node.children()
            .iter()
            .map(|child| {
                let name = child.name();
                match name.unit_address {
                    Some(address) => format!("{}@{address}", name.name),
                    None => name.name.to_string(),
                }
            })
            .collect()
    }
}

#[test]
fn root_names_the_partition_and_the_gic_as_interrupt_parent() {
    let dtb = Parsed::new(&spec(GicVersion::V3, 2));
    assert_eq!(dtb.string("/", "model"), "linux1");
    assert_eq!(dtb.string("/", "compatible"), "xen,xenvm");
    assert_eq!(dtb.cells("/", "#address-cells"), [2]);
    assert_eq!(dtb.cells("/", "#size-cells"), [2]);
    assert_eq!(dtb.cells("/", "interrupt-parent"), [GIC_PHANDLE]);
    assert!(!dtb.has("/hypervisor"));
}

#[test]
fn memory_lists_every_bank() {
    let dtb = Parsed::new(&spec(GicVersion::V3, 1));
    assert_eq!(dtb.string("/memory@40000000", "device_type"), "memory");
    assert_eq!(
        dtb.u64s("/memory@40000000", "reg"),
        [0x4000_0000, 0xc000_0000, 0x2_0000_0000, 0x4000_0000]
    );
}

#[test]
fn cpus_use_psci_and_xen_affinities() {
    let dtb = Parsed::new(&spec(GicVersion::V3, 18));
    assert_eq!(dtb.cells("/cpus", "#address-cells"), [1]);
    assert_eq!(dtb.cells("/cpus", "#size-cells"), [0]);
    let names = dtb.children("/cpus");
    assert_eq!(names.len(), 18);
    assert_eq!(names[0], "cpu@0");
    assert_eq!(names[17], "cpu@101");
    for index in [0u32, 5, 16, 17] {
        let affinity = layout::vcpu_affinity(index);
        let path = format!("/cpus/cpu@{affinity:x}");
        assert_eq!(dtb.string(&path, "device_type"), "cpu");
        assert_eq!(dtb.string(&path, "compatible"), "arm,armv8");
        assert_eq!(dtb.cells(&path, "reg"), [affinity]);
        assert_eq!(dtb.string(&path, "enable-method"), "psci");
    }
}

#[test]
fn psci_uses_the_hvc_conduit() {
    let dtb = Parsed::new(&spec(GicVersion::V2, 1));
    assert_eq!(
        dtb.property("/psci", "compatible"),
        b"arm,psci-1.0\0arm,psci-0.2\0"
    );
    assert_eq!(dtb.string("/psci", "method"), "hvc");
}

#[test]
fn timer_ppis_are_level_low_with_a_cpu_mask_only_on_gicv2() {
    let v3 = Parsed::new(&spec(GicVersion::V3, 4));
    assert_eq!(v3.string("/timer", "compatible"), "arm,armv8-timer");
    assert_eq!(
        v3.cells("/timer", "interrupts"),
        [1, 13, 8, 1, 14, 8, 1, 11, 8, 1, 10, 8]
    );
    let v2 = Parsed::new(&spec(GicVersion::V2, 4));
    let flags = 8 | (0b1111 << 8);
    assert_eq!(
        v2.cells("/timer", "interrupts"),
        [1, 13, flags, 1, 14, flags, 1, 11, flags, 1, 10, flags]
    );
}

#[test]
fn gicv2_node_has_distributor_and_cpu_interface() {
    let dtb = Parsed::new(&spec(GicVersion::V2, 2));
    let path = "/interrupt-controller@3001000";
    assert_eq!(dtb.string(path, "compatible"), "arm,cortex-a15-gic");
    assert_eq!(dtb.cells(path, "#interrupt-cells"), [3]);
    assert_eq!(dtb.cells(path, "#address-cells"), [0]);
    assert_eq!(dtb.property(path, "interrupt-controller"), b"");
    assert_eq!(
        dtb.u64s(path, "reg"),
        [0x0300_1000, 0x1000, 0x0300_2000, 0x2000]
    );
    assert_eq!(dtb.cells(path, "phandle"), [GIC_PHANDLE]);
    assert!(!dtb.has_property(path, "#redistributor-regions"));
}

#[test]
fn gicv3_node_sizes_redistributors_for_the_vcpus() {
    let dtb = Parsed::new(&spec(GicVersion::V3, 3));
    let path = "/interrupt-controller@3001000";
    assert_eq!(dtb.string(path, "compatible"), "arm,gic-v3");
    assert_eq!(dtb.cells(path, "#interrupt-cells"), [3]);
    assert_eq!(dtb.property(path, "interrupt-controller"), b"");
    assert_eq!(dtb.cells(path, "#redistributor-regions"), [1]);
    assert_eq!(
        dtb.u64s(path, "reg"),
        [0x0300_1000, 0x1_0000, 0x0302_0000, 3 * 0x2_0000]
    );
    assert_eq!(dtb.cells(path, "phandle"), [GIC_PHANDLE]);
}

#[test]
fn sbsa_uart_is_on_spi_0_and_is_the_console() {
    let dtb = Parsed::new(&spec(GicVersion::V3, 1));
    assert_eq!(dtb.string(UART_PATH, "compatible"), "arm,sbsa-uart");
    assert_eq!(dtb.u64s(UART_PATH, "reg"), [0x2200_0000, 0x1000]);
    assert_eq!(dtb.cells(UART_PATH, "interrupts"), [0, 0, 4]);
    assert_eq!(dtb.cells(UART_PATH, "current-speed"), [115_200]);
    assert_eq!(dtb.string("/chosen", "stdout-path"), UART_PATH);
}

#[test]
fn without_vpl011_there_is_no_uart_and_no_stdout_path() {
    let dtb = Parsed::new(&GuestDtbSpec {
        vpl011: false,
        ..spec(GicVersion::V3, 1)
    });
    assert!(!dtb.has(UART_PATH));
    assert!(!dtb.has_property("/chosen", "stdout-path"));
}

#[test]
fn chosen_carries_bootargs_initrd_and_boot_count() {
    let dtb = Parsed::new(&spec(GicVersion::V3, 1));
    assert_eq!(dtb.string("/chosen", "bootargs"), "console=ttyAMA0 nokaslr");
    assert_eq!(dtb.u64s("/chosen", "linux,initrd-start"), [0x4820_0000]);
    assert_eq!(
        dtb.u64s("/chosen", "linux,initrd-end"),
        [0x4820_0000 + 0x12_3456]
    );
    assert_eq!(dtb.cells("/chosen", "bulkhead,boot-count"), [3]);

    let bare = Parsed::new(&GuestDtbSpec {
        bootargs: None,
        initrd: None,
        boot_count: 0,
        ..spec(GicVersion::V3, 1)
    });
    assert!(!bare.has_property("/chosen", "bootargs"));
    assert!(!bare.has_property("/chosen", "linux,initrd-start"));
    assert_eq!(bare.cells("/chosen", "bulkhead,boot-count"), [0]);
}

#[test]
fn extra_nodes_are_written_under_the_root() {
    let device = ExtraNode {
        name: "ethernet@ff000000",
        properties: &[
            ("compatible", b"vendor,nic\0"),
            ("reg", &[0, 0, 0, 0, 0xff, 0, 0, 0]),
        ],
        children: &[],
    };
    let passthrough = ExtraNode {
        name: "passthrough",
        properties: &[("ranges", b"")],
        children: core::slice::from_ref(&device),
    };
    let extra = [passthrough];
    let dtb = Parsed::new(&GuestDtbSpec {
        extra_nodes: &extra,
        ..spec(GicVersion::V3, 1)
    });
    assert_eq!(dtb.property("/passthrough", "ranges"), b"");
    assert_eq!(
        dtb.string("/passthrough/ethernet@ff000000", "compatible"),
        "vendor,nic"
    );
    assert_eq!(
        dtb.property("/passthrough/ethernet@ff000000", "reg"),
        [0, 0, 0, 0, 0xff, 0, 0, 0]
    );
}

#[test]
fn shared_memory_is_described_as_xen_does() {
    let none = Parsed::new(&spec(GicVersion::V3, 1));
    assert!(!none.has("/reserved-memory"), "no regions, no node");
    let regions = [
        SharedMemoryNode { id: "telemetry", guest: AddressRange::new(0x5000_0000, 0x20_0000).unwrap() },
        SharedMemoryNode { id: "b", guest: AddressRange::new(0x6000_0000, 0x1000).unwrap() },
    ];
    let dtb = Parsed::new(&GuestDtbSpec { shared_memory: &regions, ..spec(GicVersion::V3, 1) });
    assert_eq!(dtb.property("/reserved-memory", "ranges"), b"");
    assert_eq!(dtb.property("/reserved-memory", "#address-cells"), [0, 0, 0, 2]);
    assert_eq!(dtb.property("/reserved-memory", "#size-cells"), [0, 0, 0, 2]);
    let node = "/reserved-memory/xen-shmem@50000000";
    assert_eq!(dtb.string(node, "compatible"), "xen,shared-memory-v1");
    assert_eq!(dtb.property(node, "reg"), [0, 0, 0, 0, 0x50, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0]);
    assert_eq!(dtb.string(node, "xen,id"), "telemetry");
    assert_eq!(dtb.property(node, "xen,offset"), [0; 8]);
    assert_eq!(dtb.string("/reserved-memory/xen-shmem@60000000", "xen,id"), "b");
    // Not RAM: the memory node lists the banks only.
    assert!(!dtb.has("/memory@50000000"));
}

#[test]
fn bad_specs_are_refused() {
    assert_eq!(
        build(&spec(GicVersion::V2, 9)),
        Err(DtbError::Layout(LayoutError::BadVcpuCount {
            vcpus: 9,
            max: 8
        }))
    );
    assert_eq!(
        build(&GuestDtbSpec {
            memory: &[],
            ..spec(GicVersion::V3, 1)
        }),
        Err(DtbError::NoMemory)
    );
    assert_eq!(
        build(&GuestDtbSpec {
            bootargs: Some("a\0b"),
            ..spec(GicVersion::V3, 1)
        }),
        Err(DtbError::Writer(vm_fdt::Error::InvalidString))
    );
}

#[test]
fn errors_read_as_sentences() {
    assert_eq!(
        DtbError::TooBig { size: 3 << 20 }.to_string(),
        "the guest device tree is 3145728 bytes, more than the 2 MiB allowed"
    );
}
