//! Built-in host trees (`--board virt|rpi4`): the nodes of QEMU `virt`'s tree and of Debian's
//! Raspberry Pi 4 tree (`bcm2711-rpi-4-b.dtb`) that a partition config is checked against,
//! with their names, addresses and interrupts, so that a fragment or a TOML config can be
//! checked without the board's own tree at hand.
//!
//! They are subsets: the CPUs, RAM, GIC, timer, console and the devices a partition may be
//! given. `cargo xtask test` compares every node and property here with the real trees (QEMU's
//! `dumpdtb`, Debian's blob) so that they stay true.

use std::format;
use std::vec::Vec;

use crate::devicetree::{cells_value, strings_value, NodeId, Reservation, Tree};

/// The boards with a built-in tree, as `--board` takes them.
pub const BOARDS: &[&str] = &["virt", "rpi4"];

/// The RAM of the built-in Raspberry Pi 4 tree: what the firmware gives the ARM cores on every
/// Pi 4 (the 1 GiB model, default GPU memory), which it writes into `/memory` at boot.
pub const RPI4_RAM: (u64, u64) = (0, 0x3b40_0000);

/// The RAM of the built-in QEMU `virt` tree: 2 GiB at 0x40000000 (`-m 2G`, as `cargo xtask
/// run` boots it).
pub const VIRT_RAM: (u64, u64) = (0x4000_0000, 0x8000_0000);

/// The built-in host tree of `board`, `None` for a board without one.
pub fn host_tree(board: &str) -> Option<Tree> {
    match board {
        "virt" => Some(virt()),
        "rpi4" => Some(rpi4()),
        _ => None,
    }
}

/// A small builder over [`Tree`].
struct Builder {
    tree: Tree,
}

impl Builder {
    fn node(&mut self, parent: NodeId, name: &str) -> NodeId {
        self.tree.add_node(parent, name)
    }
    fn cells(&mut self, node: NodeId, name: &str, cells: &[u32]) {
        self.tree.set_property(node, name, cells_value(cells));
    }
    fn strings(&mut self, node: NodeId, name: &str, strings: &[&str]) {
        self.tree.set_property(node, name, strings_value(strings));
    }
    fn flag(&mut self, node: NodeId, name: &str) {
        self.tree.set_property(node, name, Vec::new());
    }
    /// A device: `compatible`, `reg`, and 3-cell `interrupts` when it has any.
    fn device(&mut self, parent: NodeId, name: &str, compatible: &[&str], reg: &[u32], interrupts: &[u32]) -> NodeId {
        let node = self.node(parent, name);
        self.strings(node, "compatible", compatible);
        self.cells(node, "reg", reg);
        if !interrupts.is_empty() {
            self.cells(node, "interrupts", interrupts);
        }
        node
    }
}

/// The high and low cells of a 64-bit number.
fn split(value: u64) -> [u32; 2] {
    [(value >> 32) as u32, value as u32]
}

/// QEMU `virt,virtualization=on,gic-version=3` with 4 Cortex-A72s and 2 GiB.
fn virt() -> Tree {
    let mut b = Builder { tree: Tree::new() };
    let root = b.tree.root();
    b.strings(root, "compatible", &["linux,dummy-virt"]);
    b.strings(root, "model", &["linux,dummy-virt"]);
    b.cells(root, "#address-cells", &[2]);
    b.cells(root, "#size-cells", &[2]);
    b.cells(root, "interrupt-parent", &[0x8005]);

    let psci = b.node(root, "psci");
    b.strings(psci, "compatible", &["arm,psci-1.0", "arm,psci-0.2", "arm,psci"]);
    b.strings(psci, "method", &["smc"]);

    let (start, size) = VIRT_RAM;
    let memory = b.node(root, &format!("memory@{start:x}"));
    b.strings(memory, "device_type", &["memory"]);
    let [s0, s1] = split(start);
    let [z0, z1] = split(size);
    b.cells(memory, "reg", &[s0, s1, z0, z1]);

    let cpus = b.node(root, "cpus");
    b.cells(cpus, "#address-cells", &[1]);
    b.cells(cpus, "#size-cells", &[0]);
    for cpu in 0..4u32 {
        let node = b.node(cpus, &format!("cpu@{cpu}"));
        b.strings(node, "device_type", &["cpu"]);
        b.strings(node, "compatible", &["arm,cortex-a72"]);
        b.cells(node, "reg", &[cpu]);
        b.strings(node, "enable-method", &["psci"]);
        b.cells(node, "phandle", &[0x8004 - cpu]);
    }

    let gic = b.device(
        root,
        "intc@8000000",
        &["arm,gic-v3"],
        &[0, 0x800_0000, 0, 0x1_0000, 0, 0x80a_0000, 0, 0xf6_0000],
        &[1, 9, 4],
    );
    b.flag(gic, "interrupt-controller");
    b.cells(gic, "#interrupt-cells", &[3]);
    b.cells(gic, "phandle", &[0x8005]);

    let timer = b.node(root, "timer");
    b.strings(timer, "compatible", &["arm,armv8-timer", "arm,armv7-timer"]);
    b.cells(timer, "interrupts", &[1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4]);

    b.device(root, "pl011@9000000", &["arm,pl011", "arm,primecell"], &[0, 0x900_0000, 0, 0x1000], &[0, 1, 4]);
    b.device(root, "pl031@9010000", &["arm,pl031", "arm,primecell"], &[0, 0x901_0000, 0, 0x1000], &[0, 2, 4]);
    b.device(root, "pl061@9030000", &["arm,pl061", "arm,primecell"], &[0, 0x903_0000, 0, 0x1000], &[0, 7, 4]);
    // 32 virtio-mmio transports, 0x200 bytes apart from 0x0a000000, on SPIs 16 to 47.
    for i in 0..32u32 {
        let address = 0xa00_0000 + 0x200 * i;
        let node = b.device(
            root,
            &format!("virtio_mmio@{address:x}"),
            &["virtio,mmio"],
            &[0, address, 0, 0x200],
            &[0, 16 + i, 1],
        );
        b.flag(node, "dma-coherent");
    }

    let aliases = b.node(root, "aliases");
    b.strings(aliases, "serial0", &["/pl011@9000000"]);
    let chosen = b.node(root, "chosen");
    b.strings(chosen, "stdout-path", &["/pl011@9000000"]);
    b.tree
}

/// The Raspberry Pi 4 Model B as Debian's `bcm2711-rpi-4-b.dtb` describes it, with the 1 GiB
/// of RAM the firmware gives every Pi 4.
fn rpi4() -> Tree {
    let mut b = Builder { tree: Tree::new() };
    // The spin table's page, which the firmware keeps.
    b.tree.add_reservation(Reservation { address: 0, size: 0x1000 });
    let root = b.tree.root();
    b.strings(root, "compatible", &["raspberrypi,4-model-b", "brcm,bcm2711"]);
    b.strings(root, "model", &["Raspberry Pi 4 Model B"]);
    b.cells(root, "#address-cells", &[2]);
    b.cells(root, "#size-cells", &[1]);
    b.cells(root, "interrupt-parent", &[1]);

    let (start, size) = RPI4_RAM;
    let memory = b.node(root, "memory@0");
    b.strings(memory, "device_type", &["memory"]);
    let [s0, s1] = split(start);
    b.cells(memory, "reg", &[s0, s1, size as u32]);

    let cpus = b.node(root, "cpus");
    b.cells(cpus, "#address-cells", &[1]);
    b.cells(cpus, "#size-cells", &[0]);
    for (cpu, release) in [0xd8u32, 0xe0, 0xe8, 0xf0].into_iter().enumerate() {
        let cpu = cpu as u32;
        let node = b.node(cpus, &format!("cpu@{cpu}"));
        b.strings(node, "device_type", &["cpu"]);
        b.strings(node, "compatible", &["arm,cortex-a72"]);
        b.cells(node, "reg", &[cpu]);
        b.strings(node, "enable-method", &["spin-table"]);
        b.cells(node, "cpu-release-addr", &[0, release]);
        b.cells(node, "phandle", &[0x22 + cpu]);
    }

    let timer = b.node(root, "timer");
    b.strings(timer, "compatible", &["arm,armv8-timer"]);
    b.cells(timer, "interrupts", &[1, 13, 0xf08, 1, 14, 0xf08, 1, 11, 0xf08, 1, 10, 0xf08]);

    // The peripherals at bus addresses: 0x7e000000 is 0xfe000000 for the CPU, 0x7c000000 is
    // 0xfc000000, and the ARM local block 0x40000000 is 0xff800000.
    let soc = b.node(root, "soc");
    b.strings(soc, "compatible", &["simple-bus"]);
    b.cells(soc, "#address-cells", &[1]);
    b.cells(soc, "#size-cells", &[1]);
    b.cells(
        soc,
        "ranges",
        &[0x7e00_0000, 0, 0xfe00_0000, 0x180_0000, 0x7c00_0000, 0, 0xfc00_0000, 0x200_0000, 0x4000_0000, 0, 0xff80_0000, 0x80_0000],
    );
    let gic = b.device(
        soc,
        "interrupt-controller@40041000",
        &["arm,gic-400"],
        &[0x4004_1000, 0x1000, 0x4004_2000, 0x2000, 0x4004_4000, 0x2000, 0x4004_6000, 0x2000],
        &[1, 9, 0xf04],
    );
    b.flag(gic, "interrupt-controller");
    b.cells(gic, "#interrupt-cells", &[3]);
    b.cells(gic, "phandle", &[1]);

    b.device(soc, "mailbox@7e00b880", &["brcm,bcm2835-mbox"], &[0x7e00_b880, 0x40], &[0, 0x21, 4]);
    b.device(soc, "rng@7e104000", &["brcm,bcm2711-rng200"], &[0x7e10_4000, 0x28], &[]);
    b.device(soc, "gpio@7e200000", &["brcm,bcm2711-gpio"], &[0x7e20_0000, 0xb4], &[0, 0x71, 4, 0, 0x72, 4, 0, 0x73, 4, 0, 0x74, 4]);
    // UART0 (the hypervisor's console) and UART2 to UART5 share one interrupt line.
    for address in [0x7e20_1000u32, 0x7e20_1400, 0x7e20_1600, 0x7e20_1800, 0x7e20_1a00] {
        b.device(soc, &format!("serial@{address:x}"), &["arm,pl011", "arm,primecell"], &[address, 0x200], &[0, 0x79, 4]);
    }
    b.device(soc, "mmc@7e202000", &["brcm,bcm2835-sdhost"], &[0x7e20_2000, 0x100], &[0, 0x78, 4]);
    b.device(soc, "spi@7e204000", &["brcm,bcm2835-spi"], &[0x7e20_4000, 0x200], &[0, 0x76, 4]);
    b.device(soc, "i2c@7e205000", &["brcm,bcm2711-i2c", "brcm,bcm2835-i2c"], &[0x7e20_5000, 0x200], &[0, 0x75, 4]);
    // The auxiliary block: its enable register, the mini UART and two SPI masters, one page,
    // one interrupt.
    b.device(soc, "aux@7e215000", &["brcm,bcm2835-aux"], &[0x7e21_5000, 8], &[]);
    b.device(soc, "serial@7e215040", &["brcm,bcm2835-aux-uart"], &[0x7e21_5040, 0x40], &[0, 0x5d, 4]);
    b.device(soc, "mmc@7e300000", &["brcm,bcm2835-sdhci"], &[0x7e30_0000, 0x100], &[0, 0x7e, 4]);

    let emmc2bus = b.node(root, "emmc2bus");
    b.strings(emmc2bus, "compatible", &["simple-bus"]);
    b.cells(emmc2bus, "#address-cells", &[2]);
    b.cells(emmc2bus, "#size-cells", &[1]);
    b.cells(emmc2bus, "ranges", &[0, 0x7e00_0000, 0, 0xfe00_0000, 0x180_0000]);
    b.device(emmc2bus, "mmc@7e340000", &["brcm,bcm2711-emmc2"], &[0, 0x7e34_0000, 0x100], &[0, 0x7e, 4]);

    let aliases = b.node(root, "aliases");
    b.strings(aliases, "serial0", &["/soc/serial@7e201000"]);
    b.strings(aliases, "serial1", &["/soc/serial@7e215040"]);
    let chosen = b.node(root, "chosen");
    b.strings(chosen, "stdout-path", &["serial1:115200n8"]);
    b.tree
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::HostInfo;

    #[test]
    fn each_board_tree_has_its_cpus_ram_and_console() {
        for (board, ram) in [("virt", VIRT_RAM), ("rpi4", RPI4_RAM)] {
            let tree = host_tree(board).expect("a built-in tree");
            let tree = Tree::parse(&tree.to_dtb()).expect("the tree round-trips through a blob");
            let info = HostInfo::read(&tree).expect("host facts");
            assert_eq!(info.cpus.len(), 4, "{board}");
            assert_eq!(info.ram.len(), 1, "{board}");
            assert_eq!((info.ram[0].start(), info.ram[0].size()), ram, "{board}");
            let compatible = tree.node(tree.root()).property("compatible").unwrap();
            let found = boards::Board::find(compatible.strings()).expect("a board of ours");
            assert_eq!(found.name, board);
        }
        assert!(host_tree("pc").is_none());
    }

    #[test]
    fn pi_devices_translate_to_cpu_addresses() {
        let tree = host_tree("rpi4").unwrap();
        let uart = tree.find("/soc/serial@7e201000").unwrap();
        assert_eq!(tree.translated_reg(uart).unwrap()[0].start(), 0xfe20_1000);
        let gic = tree.find("/soc/interrupt-controller@40041000").unwrap();
        assert_eq!(tree.translated_reg(gic).unwrap()[0].start(), 0xff84_1000);
        let emmc2 = tree.find("/emmc2bus/mmc@7e340000").unwrap();
        assert_eq!(tree.translated_reg(emmc2).unwrap()[0].start(), 0xfe34_0000);
    }
}
