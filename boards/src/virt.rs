//! QEMU's `virt` machine with `virtualization=on` (EL2, no EL3).

use crate::*;

/// QEMU `virt`. Its GIC is a v3 or a v2 as `gic-version` says; the addresses are QEMU's
/// `hw/arm/virt.c` memory map. PSCI is answered by QEMU on the SMC conduit.
pub const VIRT: Board = Board {
    name: "virt",
    model: "QEMU virt",
    compatible: &["linux,dummy-virt"],
    console: Console { base: 0x0900_0000, intid: 33 },
    gic: &[
        GicLayout::V3 { gicd: 0x0800_0000, gicr: 0x080a_0000 },
        GicLayout::V2 { gicd: 0x0800_0000, gicc: 0x0801_0000, gich: 0x0803_0000, gicv: 0x0804_0000 },
    ],
    smp: Smp::Psci(Conduit::Smc),
    power_off: PowerOff::Psci(Conduit::Smc),
    // QEMU puts up to 255 GiB here; the EL2 identity map covers 512 GiB (39 bits).
    ram_windows: &[AddressRange::window(0x4000_0000, 0x80_0000_0000)],
    // Flash, GIC, UART, RTC, virtio and the PCIe windows below RAM.
    mmio_windows: &[AddressRange::window(0, 0x4000_0000)],
    firmware_reserved: &[],
    #[cfg(feature = "tooling")]
    packaging: Packaging::LinuxImage,
    #[cfg(feature = "tooling")]
    qemu: Some(QemuMachine {
        machine: "virt,virtualization=on",
        selectable_gic: true,
        cpu: "cortex-a72",
        cpus: 4,
        memory: "2G",
        needs_dtb: false,
        no_reboot: false,
        min_qemu: (7, 2),
    }),
};
