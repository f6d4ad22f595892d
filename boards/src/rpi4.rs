//! Raspberry Pi 4 Model B (BCM2711, four Cortex-A72, GIC-400).

use crate::*;

/// Raspberry Pi 4 Model B, and QEMU's `raspi4b` model of it.
///
/// The GIC-400 and PL011 addresses are the ARM ("low peripheral") view of the BCM2711
/// peripherals; the firmware's device tree gives them as 0x7e... bus addresses that
/// translate through the parents' `ranges` to these.
pub const RPI4: Board = Board {
    name: "rpi4",
    model: "Raspberry Pi 4 Model B",
    compatible: &["raspberrypi,4-model-b", "brcm,bcm2711"],
    // uart0 is GIC SPI 121 in the firmware tree.
    console: Console { base: 0xfe20_1000, intid: 153 },
    gic: &[GicLayout::V2 { gicd: 0xff84_1000, gicc: 0xff84_2000, gich: 0xff84_4000, gicv: 0xff84_6000 }],
    smp: Smp::SpinTable { release_addrs: &[0xd8, 0xe0, 0xe8, 0xf0] },
    power_off: PowerOff::Bcm2711Watchdog { pm_base: 0xfe10_0000 },
    // The low GiB (less the VideoCore's share, which the firmware cuts from /memory) and, on
    // boards with more RAM, the rest of the first 4 GiB and beyond.
    ram_windows: &[AddressRange::window(0, 0x4000_0000), AddressRange::window(0x4000_0000, 0xfc00_0000), AddressRange::window(0x1_0000_0000, 0x2_0000_0000)],
    // The "low peripheral" window: UARTs, power management, GIC-400.
    mmio_windows: &[AddressRange::window(0xfc00_0000, 0x1_0000_0000)],
    // The armstub and spin table live in the first page.
    firmware_reserved: &[AddressRange::window(0, 0x1000)],
    #[cfg(feature = "tooling")]
    packaging: Packaging::RaspberryPiFirmware {
        kernel_name: "bulkhead8.img",
        kernel_address: 0x20_0000,
        dtb_name: "bcm2711-rpi-4-b.dtb",
    },
    #[cfg(feature = "tooling")]
    qemu: Some(QemuMachine {
        machine: "raspi4b",
        selectable_gic: false,
        cpu: "cortex-a72",
        cpus: 4,
        memory: "2G",
        needs_dtb: true,
        no_reboot: true,
        // `raspi4b` first came in QEMU 9.0.
        min_qemu: (9, 0),
    }),
};
