//! The device tree a guest boots with: memory, vCPUs, PSCI, timer, virtual GIC, SBSA UART and
//! `/chosen`, laid out as Xen describes a dom0less domU so the same kernels boot.
//!
//! Bindings: Linux `Documentation/devicetree/bindings` (`arm/cpus.yaml`, `arm/psci.yaml`,
//! `timer/arm,arch_timer.yaml`, `interrupt-controller/arm,gic.yaml` and `arm,gic-v3.yaml`,
//! `serial/arm,sbsa-uart.yaml`).

extern crate alloc;

use alloc::vec::Vec;
use core::fmt;

use vm_fdt::FdtWriter;

use super::layout::{self, GicVersion, LayoutError};
use super::placement::MAX_DTB_SIZE;
use boards::AddressRange;

/// Xen's `GUEST_PHANDLE_GIC` (`xen/include/public/device_tree_defs.h`).
pub const GIC_PHANDLE: u32 = 65000;
/// The UART's node path, which `/chosen/stdout-path` names.
pub const UART_PATH: &str = "/sbsa-uart@22000000";

/// The first cell of a GIC interrupt specifier: shared peripheral interrupt.
const GIC_SPI: u32 = 0;
/// The first cell of a GIC interrupt specifier: private peripheral interrupt.
const GIC_PPI: u32 = 1;
/// Level-sensitive, active high.
const IRQ_LEVEL_HIGH: u32 = 4;
/// Level-sensitive, active low.
const IRQ_LEVEL_LOW: u32 = 8;
/// Timer PPIs in binding order: secure physical, non-secure physical, virtual, hypervisor.
const TIMER_PPIS: [u32; 4] = [13, 14, 11, 10];

/// An extra node to add under the root (for example a partial device tree's `/passthrough`).
#[derive(Clone, Copy, Debug)]
pub struct ExtraNode<'a> {
    /// The node name, with its unit address.
    pub name: &'a str,
    /// Properties as raw big-endian values.
    pub properties: &'a [(&'a str, &'a [u8])],
    /// Child nodes.
    pub children: &'a [ExtraNode<'a>],
}

/// What a guest's device tree describes.
#[derive(Clone, Copy, Debug)]
pub struct GuestDtbSpec<'a> {
    /// The partition's name (the root `model`).
    pub name: &'a str,
    /// The number of vCPUs.
    pub vcpus: u32,
    /// Guest RAM banks (IPA).
    pub memory: &'a [AddressRange],
    /// The virtual GIC's version.
    pub gic: GicVersion,
    /// Whether the guest has the virtual SBSA UART.
    pub vpl011: bool,
    /// The kernel command line.
    pub bootargs: Option<&'a str>,
    /// The initrd's guest physical range.
    pub initrd: Option<AddressRange>,
    /// How many times the partition has been restarted.
    pub boot_count: u32,
    /// Further nodes under the root.
    pub extra_nodes: &'a [ExtraNode<'a>],
    /// Static shared-memory regions, described under `/reserved-memory`.
    pub shared_memory: &'a [SharedMemoryNode<'a>],
}

/// A static shared-memory region as the guest's device tree names it.
#[derive(Clone, Copy, Debug)]
pub struct SharedMemoryNode<'a> {
    /// `xen,shm-id`.
    pub id: &'a str,
    /// Where the guest sees it.
    pub guest: AddressRange,
}

/// Why a guest device tree could not be built.
#[derive(Debug, Eq, PartialEq)]
pub enum DtbError {
    /// The guest has no RAM bank.
    NoMemory,
    /// The vCPU count does not suit the GIC.
    Layout(LayoutError),
    /// The FDT writer refused a node or property (a bad name, or a NUL in a string).
    Writer(vm_fdt::Error),
    /// The blob is larger than the 2 MiB the boot protocol allows.
    TooBig {
        /// The blob's size.
        size: usize,
    },
}

impl fmt::Display for DtbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoMemory => write!(f, "the guest device tree needs at least one RAM bank"),
            Self::Layout(error) => write!(f, "guest layout: {error}"),
            Self::Writer(error) => write!(f, "cannot write the guest device tree: {error}"),
            Self::TooBig { size } => {
                write!(
                    f,
                    "the guest device tree is {size} bytes, more than the 2 MiB allowed"
                )
            }
        }
    }
}

impl From<vm_fdt::Error> for DtbError {
    fn from(error: vm_fdt::Error) -> Self {
        Self::Writer(error)
    }
}

/// Builds the flattened device tree for a guest.
pub fn build(spec: &GuestDtbSpec<'_>) -> Result<Vec<u8>, DtbError> {
    layout::check_vcpus(spec.vcpus, spec.gic).map_err(DtbError::Layout)?;
    let first_bank = spec.memory.first().ok_or(DtbError::NoMemory)?;
    let mut fdt = FdtWriter::new()?;
    let root = fdt.begin_node("")?;
    fdt.property_string("model", spec.name)?;
    fdt.property("compatible", b"xen,xenvm\0")?;
    fdt.property_u32("#address-cells", 2)?;
    fdt.property_u32("#size-cells", 2)?;
    fdt.property_u32("interrupt-parent", GIC_PHANDLE)?;

    write_chosen(&mut fdt, spec)?;
    write_memory(&mut fdt, first_bank, spec.memory)?;
    write_shared_memory(&mut fdt, spec.shared_memory)?;
    write_cpus(&mut fdt, spec.vcpus)?;
    write_psci(&mut fdt)?;
    write_timer(&mut fdt, spec)?;
    write_gic(&mut fdt, spec)?;
    if spec.vpl011 {
        write_uart(&mut fdt)?;
    }
    for node in spec.extra_nodes {
        write_extra(&mut fdt, node)?;
    }
    fdt.end_node(root)?;
    let blob = fdt.finish()?;
    if blob.len() as u64 > MAX_DTB_SIZE {
        return Err(DtbError::TooBig { size: blob.len() });
    }
    Ok(blob)
}

fn write_chosen(fdt: &mut FdtWriter, spec: &GuestDtbSpec<'_>) -> Result<(), DtbError> {
    let chosen = fdt.begin_node("chosen")?;
    if let Some(bootargs) = spec.bootargs {
        fdt.property_string("bootargs", bootargs)?;
    }
    if spec.vpl011 {
        fdt.property_string("stdout-path", UART_PATH)?;
    }
    if let Some(initrd) = spec.initrd {
        fdt.property_u64("linux,initrd-start", initrd.start())?;
        fdt.property_u64("linux,initrd-end", initrd.end())?;
    }
    fdt.property_u32("bulkhead,boot-count", spec.boot_count)?;
    fdt.end_node(chosen)?;
    Ok(())
}

fn write_memory(
    fdt: &mut FdtWriter,
    first: &AddressRange,
    banks: &[AddressRange],
) -> Result<(), DtbError> {
    let memory = fdt.begin_node(&node_name("memory", first.start()))?;
    fdt.property_string("device_type", "memory")?;
    let reg: Vec<u64> = banks
        .iter()
        .flat_map(|bank| [bank.start(), bank.size()])
        .collect();
    fdt.property_array_u64("reg", &reg)?;
    fdt.end_node(memory)?;
    Ok(())
}

fn write_cpus(fdt: &mut FdtWriter, vcpus: u32) -> Result<(), DtbError> {
    let cpus = fdt.begin_node("cpus")?;
    fdt.property_u32("#address-cells", 1)?;
    fdt.property_u32("#size-cells", 0)?;
    for index in 0..vcpus {
        let affinity = layout::vcpu_affinity(index);
        let cpu = fdt.begin_node(&node_name("cpu", u64::from(affinity)))?;
        fdt.property_string("device_type", "cpu")?;
        fdt.property_string("compatible", "arm,armv8")?;
        fdt.property_u32("reg", affinity)?;
        fdt.property_string("enable-method", "psci")?;
        fdt.end_node(cpu)?;
    }
    fdt.end_node(cpus)?;
    Ok(())
}

fn write_psci(fdt: &mut FdtWriter) -> Result<(), DtbError> {
    let psci = fdt.begin_node("psci")?;
    fdt.property("compatible", b"arm,psci-1.0\0arm,psci-0.2\0")?;
    fdt.property_string("method", "hvc")?;
    fdt.end_node(psci)?;
    Ok(())
}

fn write_timer(fdt: &mut FdtWriter, spec: &GuestDtbSpec<'_>) -> Result<(), DtbError> {
    // GICv2 PPI specifiers carry a mask of the CPUs the interrupt goes to in bits [15:8].
    let cpu_mask = match spec.gic {
        GicVersion::V2 => ((1u32 << spec.vcpus) - 1) << 8,
        GicVersion::V3 => 0,
    };
    let interrupts: Vec<u32> = TIMER_PPIS
        .iter()
        .flat_map(|ppi| [GIC_PPI, *ppi, IRQ_LEVEL_LOW | cpu_mask])
        .collect();
    let timer = fdt.begin_node("timer")?;
    fdt.property_string("compatible", "arm,armv8-timer")?;
    fdt.property_array_u32("interrupts", &interrupts)?;
    fdt.end_node(timer)?;
    Ok(())
}

fn write_gic(fdt: &mut FdtWriter, spec: &GuestDtbSpec<'_>) -> Result<(), DtbError> {
    let (compatible, reg) = match spec.gic {
        GicVersion::V2 => (
            "arm,cortex-a15-gic",
            [
                layout::GICV2_DISTRIBUTOR_BASE,
                layout::GICV2_DISTRIBUTOR_SIZE,
                layout::GICV2_CPU_INTERFACE_BASE,
                layout::GICV2_CPU_INTERFACE_SIZE,
            ],
        ),
        GicVersion::V3 => (
            "arm,gic-v3",
            [
                layout::GICV3_DISTRIBUTOR_BASE,
                layout::GICV3_DISTRIBUTOR_SIZE,
                layout::GICV3_REDISTRIBUTOR_BASE,
                layout::redistributor_size(spec.vcpus),
            ],
        ),
    };
    let gic = fdt.begin_node(&node_name("interrupt-controller", reg[0]))?;
    fdt.property_string("compatible", compatible)?;
    fdt.property_u32("#interrupt-cells", 3)?;
    fdt.property_u32("#address-cells", 0)?;
    fdt.property_null("interrupt-controller")?;
    if spec.gic == GicVersion::V3 {
        fdt.property_u32("#redistributor-regions", 1)?;
    }
    fdt.property_array_u64("reg", &reg)?;
    fdt.property_phandle(GIC_PHANDLE)?;
    fdt.end_node(gic)?;
    Ok(())
}

fn write_uart(fdt: &mut FdtWriter) -> Result<(), DtbError> {
    let uart = fdt.begin_node(&UART_PATH[1..])?;
    fdt.property_string("compatible", "arm,sbsa-uart")?;
    fdt.property_array_u64("reg", &[layout::PL011_BASE, layout::PL011_SIZE])?;
    let spi = layout::VPL011_INTID - 32;
    fdt.property_array_u32("interrupts", &[GIC_SPI, spi, IRQ_LEVEL_HIGH])?;
    fdt.property_u32("current-speed", 115_200)?;
    fdt.end_node(uart)?;
    Ok(())
}

fn write_extra(fdt: &mut FdtWriter, node: &ExtraNode<'_>) -> Result<(), DtbError> {
    let handle = fdt.begin_node(node.name)?;
    for (name, value) in node.properties {
        fdt.property(name, value)?;
    }
    for child in node.children {
        write_extra(fdt, child)?;
    }
    fdt.end_node(handle)?;
    Ok(())
}

/// Static shared memory as Xen 4.17 writes it for a domU: a `/reserved-memory` node (empty
/// `ranges`, 2 address and 2 size cells) with one `xen-shmem@<guest address>` child per
/// region: `compatible = "xen,shared-memory-v1"`, `reg` (guest address and size), `xen,id`
/// (the `xen,shm-id`) and a 64-bit `xen,offset` of 0. No node without regions.
fn write_shared_memory(fdt: &mut FdtWriter, regions: &[SharedMemoryNode<'_>]) -> Result<(), DtbError> {
    if regions.is_empty() {
        return Ok(());
    }
    let reserved = fdt.begin_node("reserved-memory")?;
    fdt.property_null("ranges")?;
    fdt.property_u32("#address-cells", 2)?;
    fdt.property_u32("#size-cells", 2)?;
    for region in regions {
        let node = fdt.begin_node(&node_name("xen-shmem", region.guest.start()))?;
        fdt.property("compatible", b"xen,shared-memory-v1\0")?;
        fdt.property_array_u64("reg", &[region.guest.start(), region.guest.size()])?;
        fdt.property_string("xen,id", region.id)?;
        fdt.property_u64("xen,offset", 0)?;
        fdt.end_node(node)?;
    }
    fdt.end_node(reserved)?;
    Ok(())
}

/// `name@<hex address>`.
fn node_name(name: &str, address: u64) -> alloc::string::String {
    alloc::format!("{name}@{address:x}")
}

#[cfg(test)]
#[path = "dtb_tests.rs"]
mod tests;
