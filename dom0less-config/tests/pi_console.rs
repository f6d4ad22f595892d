//! Passthrough on the Raspberry Pi 4's tree: the hypervisor's console is the board's PL011
//! (UART0), not the mini UART Debian's `stdout-path` names, so the mini UART may be given to
//! a partition and UART0 may not; the GPIO block, an interrupt controller of its own, may be
//! given, the GIC may not.
#![cfg(feature = "cli")]

mod common;

use dom0less_config::authoring::board_trees::host_tree;
use dom0less_config::devicetree::{cells_value, strings_value, AddressRange, Tree};
use dom0less_config::{ConfigError, HostFacts, ModuleSource, PartitionPlan};

/// The partial device tree's bytes at its module address.
struct Partial(Vec<u8>);

impl ModuleSource for Partial {
    fn bytes(&self, range: AddressRange) -> Option<&[u8]> {
        (range.start() == PARTIAL_AT).then_some(self.0.as_slice())
    }
}

const PARTIAL_AT: u64 = 0x2200_0000;

/// The Pi's built-in tree with one partition that is given the host node `device` (its page
/// mapped at guest 0x10000000), and the partial tree's bytes.
fn config(device: &str, page: u64, spi: u32) -> (Tree, Partial) {
    let mut tree = host_tree("rpi4").expect("built-in Pi 4 tree");
    let host = tree.find(device).expect("the device is in the tree");
    tree.set_property(host, "xen,passthrough", Vec::new());
    let chosen = tree.find("/chosen").unwrap();
    let domain = tree.add_node(chosen, "owner");
    tree.set_property(domain, "compatible", strings_value(&["xen,domain"]));
    tree.set_property(domain, "#address-cells", cells_value(&[1]));
    tree.set_property(domain, "#size-cells", cells_value(&[1]));
    tree.set_property(domain, "memory", cells_value(&[0, 0x10000]));
    tree.set_property(domain, "cpus", cells_value(&[1]));
    for (name, compatible, at, size) in [
        ("kernel", "multiboot,kernel", 0x2000_0000u32, 0x10_0000u32),
        ("dtb", "multiboot,device-tree", PARTIAL_AT as u32, 0x1000),
    ] {
        let module = tree.add_node(domain, name);
        tree.set_property(module, "compatible", strings_value(&[compatible, "multiboot,module"]));
        tree.set_property(module, "reg", cells_value(&[at, size]));
    }
    let source = format!(
        "/dts-v1/;\n/ {{ #address-cells = <2>; #size-cells = <2>;\n\
         passthrough {{ compatible = \"simple-bus\"; ranges; #address-cells = <2>; #size-cells = <2>;\n\
         dev@10000000 {{ reg = <0x0 0x10000000 0x0 0x40>; interrupt-parent = <65000>; interrupts = <0x0 {spi:#x} 0x4>;\n\
         xen,path = \"{device}\"; xen,reg = <0x0 {page:#x} 0x0 0x1000 0x0 0x10000000>; xen,force-assign-without-iommu; }}; }}; }};\n"
    );
    let mut bytes = common::compile_source(&source);
    bytes.resize(0x1000, 0);
    (tree, Partial(bytes))
}

fn validate(device: &str, page: u64, spi: u32) -> Result<(), Vec<ConfigError>> {
    let (tree, partial) = config(device, page, spi);
    let facts = HostFacts {
        modules: Some(&partial),
        ..HostFacts::default()
    };
    PartitionPlan::from_tree(&tree, &facts).map(drop)
}

#[test]
fn the_mini_uart_may_be_given_to_a_partition() {
    validate("/soc/serial@7e215040", 0xfe21_5000, 0x5d).unwrap_or_else(|e| panic!("{e:#?}"));
}

#[test]
fn uart0_is_the_hypervisors_console_and_is_refused() {
    let errors = validate("/soc/serial@7e201000", 0xfe20_1000, 0x79).unwrap_err();
    assert!(
        errors.iter().any(|e| matches!(e, ConfigError::BadPassthrough { reason, .. } if reason.contains("console"))),
        "{errors:#?}"
    );
}

#[test]
fn the_gpio_block_may_be_given_and_the_gic_may_not() {
    validate("/soc/gpio@7e200000", 0xfe20_0000, 0x71).unwrap_or_else(|e| panic!("{e:#?}"));
    let errors = validate("/soc/interrupt-controller@40041000", 0xff84_1000, 0x40).unwrap_err();
    assert!(
        errors.iter().any(|e| matches!(e, ConfigError::BadPassthrough { reason, .. } if reason.contains("the GIC"))),
        "{errors:#?}"
    );
}
