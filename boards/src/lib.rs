//! Board descriptions: everything the hypervisor and xtask need to know about a board that its
//! device tree does not say reliably, as plain data.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

mod range;
mod rpi4;
mod virt;

pub use range::{align_down, align_up, AddressRange};

pub use rpi4::RPI4;
pub use virt::VIRT;

/// Every board the hypervisor knows, in the order they are matched against a device tree.
pub const ALL: &[&Board] = &[&VIRT, &RPI4];

/// One board.
#[derive(Debug)]
pub struct Board {
    /// Short name used on the command line (`--board virt`).
    pub name: &'static str,
    /// What the banner calls it.
    pub model: &'static str,
    /// A device tree whose root `compatible` lists one of these strings is this board.
    pub compatible: &'static [&'static str],
    /// The PL011 UART the hypervisor writes its console to.
    pub console: Console,
    /// The interrupt controller layouts this board can have; the device tree says which one
    /// a given boot has, and the hypervisor refuses a tree that matches none of them.
    pub gic: &'static [GicLayout],
    /// How secondary cores are started.
    pub smp: Smp,
    /// How the board is switched off at the end.
    pub power_off: PowerOff,
    /// Where RAM may be; the device tree's `/memory` ranges must lie inside these windows.
    pub ram_windows: &'static [AddressRange],
    /// Where devices are: mapped as Device memory at EL2, never as RAM.
    pub mmio_windows: &'static [AddressRange],
    /// RAM that firmware or the boot stub keeps for itself, whatever the device tree says.
    pub firmware_reserved: &'static [AddressRange],
    /// How the hypervisor is put on the board (build tools only: not in the image).
    #[cfg(feature = "tooling")]
    pub packaging: Packaging,
    /// How QEMU emulates the board, when it does (build and test tools only).
    #[cfg(feature = "tooling")]
    pub qemu: Option<QemuMachine>,
}

/// A PL011 UART.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Console {
    pub base: u64,
    /// Its interrupt (GIC INTID): the hypervisor takes console input through it.
    pub intid: u32,
}

/// GIC architecture version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicVersion {
    V2,
    V3,
}

/// How an interrupt's input becomes pending (`GICD_ICFGR`, GIC v2 spec IHI 0048B 4.3.13):
/// shared by the physical GIC drivers and the virtual GIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Pending while the input is asserted.
    Level,
    /// A rising edge latches the pending state.
    Edge,
}

/// Physical addresses of one GIC layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicLayout {
    /// GICv2 (or GIC-400) with the virtualization extensions.
    V2 {
        /// Distributor.
        gicd: u64,
        /// CPU interface.
        gicc: u64,
        /// Virtual interface control.
        gich: u64,
        /// Virtual CPU interface.
        gicv: u64,
    },
    /// GICv3 with a system-register CPU interface.
    V3 {
        /// Distributor.
        gicd: u64,
        /// First redistributor frame.
        gicr: u64,
    },
}

impl GicLayout {
    pub const fn version(&self) -> GicVersion {
        match self {
            GicLayout::V2 { .. } => GicVersion::V2,
            GicLayout::V3 { .. } => GicVersion::V3,
        }
    }

    pub const fn gicd(&self) -> u64 {
        match *self {
            GicLayout::V2 { gicd, .. } | GicLayout::V3 { gicd, .. } => gicd,
        }
    }
}

/// The SMC Calling Convention conduit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    Smc,
    Hvc,
}

/// How secondary cores are started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Smp {
    /// PSCI CPU_ON through the given conduit.
    Psci(Conduit),
    /// Cores wait in firmware polling these release addresses, one per core (core 0 first).
    /// Write the entry point there, then `sev`.
    SpinTable { release_addrs: &'static [u64] },
}

/// How the board is switched off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerOff {
    /// PSCI SYSTEM_OFF through the given conduit.
    Psci(Conduit),
    /// The BCM2711 power-management watchdog: a reset with the "halt" partition set, which
    /// QEMU run with `-no-reboot` turns into an exit.
    Bcm2711Watchdog { pm_base: u64 },
}

/// How the hypervisor image is put on the board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packaging {
    /// A bootloader (QEMU `-kernel`, U-Boot `booti`) loads the arm64 Image with a device tree.
    LinuxImage,
    /// The Raspberry Pi firmware loads the Image from an SD card's boot partition.
    RaspberryPiFirmware {
        /// File name of the image in the boot folder.
        kernel_name: &'static str,
        /// Where the firmware must put it (`kernel_address` in `config.txt`).
        kernel_address: u64,
        /// The firmware's device tree for this board.
        dtb_name: &'static str,
    },
}

/// How to start QEMU for this board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QemuMachine {
    /// `-machine` value, without the GIC version.
    pub machine: &'static str,
    /// Whether `gic-version=N` can be appended to the machine.
    pub selectable_gic: bool,
    pub cpu: &'static str,
    pub cpus: u32,
    pub memory: &'static str,
    /// The machine needs a device tree file passed with `-dtb`.
    pub needs_dtb: bool,
    /// QEMU must exit instead of rebooting (power-off goes through a reset).
    pub no_reboot: bool,
    /// Oldest QEMU version that has this machine.
    pub min_qemu: (u32, u32),
}

impl Board {
    /// Finds the board whose compatible string the device tree's root node lists.
    pub fn find<'a>(mut root_compatible: impl Iterator<Item = &'a str>) -> Option<&'static Board> {
        root_compatible.find_map(|c| ALL.iter().copied().find(|b| b.compatible.contains(&c)))
    }

    /// Finds a board by its command-line name.
    pub fn by_name(name: &str) -> Option<&'static Board> {
        ALL.iter().copied().find(|b| b.name == name)
    }

    /// The layout of the given version, if this board can have it.
    pub fn gic_layout(&self, version: GicVersion) -> Option<&'static GicLayout> {
        self.gic.iter().find(|g| g.version() == version)
    }
}

#[cfg(test)]
mod tests;
