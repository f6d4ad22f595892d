//! The guest physical address map, matching Xen's `xen/include/public/arch-arm.h` (GUEST_*).

use core::fmt;

use boards::AddressRange;

/// `GUEST_RAM0_BASE`: the first RAM bank, 3 GiB at 1 GiB.
pub const RAM0_BASE: u64 = 0x4000_0000;
/// `GUEST_RAM0_SIZE`.
pub const RAM0_SIZE: u64 = 0xc000_0000;
/// `GUEST_RAM1_BASE`: the second RAM bank, up to 1016 GiB at 8 GiB.
pub const RAM1_BASE: u64 = 0x02_0000_0000;
/// `GUEST_RAM1_SIZE`.
pub const RAM1_SIZE: u64 = 0xfe_0000_0000;
/// `GUEST_GICD_BASE`: the GICv2 distributor.
pub const GICV2_DISTRIBUTOR_BASE: u64 = 0x0300_1000;
/// `GUEST_GICD_SIZE`.
pub const GICV2_DISTRIBUTOR_SIZE: u64 = 0x1000;
/// `GUEST_GICC_BASE`: the GICv2 CPU interface.
pub const GICV2_CPU_INTERFACE_BASE: u64 = 0x0300_2000;
/// `GUEST_GICC_SIZE`.
pub const GICV2_CPU_INTERFACE_SIZE: u64 = 0x2000;
/// `GUEST_GICV3_GICD_BASE`: the GICv3 distributor.
pub const GICV3_DISTRIBUTOR_BASE: u64 = 0x0300_1000;
/// `GUEST_GICV3_GICD_SIZE`.
pub const GICV3_DISTRIBUTOR_SIZE: u64 = 0x1_0000;
/// `GUEST_GICV3_GICR0_BASE`: the first (only) redistributor region, for vCPUs 0 to 127.
pub const GICV3_REDISTRIBUTOR_BASE: u64 = 0x0302_0000;
/// `GUEST_GICV3_GICR0_SIZE`.
pub const GICV3_REDISTRIBUTOR_REGION_SIZE: u64 = 0x0100_0000;
/// One GICv3 redistributor: the RD_base and SGI_base 64 KiB frames (GICv3 spec 12.10).
pub const GICV3_REDISTRIBUTOR_STRIDE: u64 = 0x2_0000;
/// `GUEST_PL011_BASE`: the virtual SBSA UART.
pub const PL011_BASE: u64 = 0x2200_0000;
/// `GUEST_PL011_SIZE`.
pub const PL011_SIZE: u64 = 0x1000;
/// `GUEST_VPL011_SPI`: the UART's interrupt, INTID 32 (SPI 0).
pub const VPL011_INTID: u32 = 32;
/// `GUEST_GNTTAB_BASE`: where the guest maps its grant table; no RAM or device may go here.
pub const GRANT_TABLE_BASE: u64 = 0x3800_0000;
/// `GUEST_GNTTAB_SIZE`.
pub const GRANT_TABLE_SIZE: u64 = 0x0100_0000;
/// `GUEST_MAGIC_BASE`: Xen's magic pages (console ring, xenstore); kept free here too.
pub const MAGIC_BASE: u64 = 0x3900_0000;
/// `GUEST_MAGIC_SIZE`.
pub const MAGIC_SIZE: u64 = 0x0100_0000;
/// `GUEST_MAX_VCPUS`: the guest ABI's limit, which the config validator enforces.
pub const MAX_VCPUS: u32 = dom0less_config::limits::MAX_VCPUS as u32;
const _: () = assert!(dom0less_config::limits::MAX_VCPUS <= u32::MAX as usize);
/// The most vCPUs a GICv2 can address (GICv2 spec 4.3.12: 8 CPU targets).
pub const MAX_GICV2_VCPUS: u32 = 8;

/// The interrupt controller a guest sees: the board's GIC version.
pub use boards::GicVersion;

/// Why a guest layout cannot be built.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum LayoutError {
    /// A guest needs at least one page of RAM.
    NoMemory,
    /// More RAM than the two banks hold.
    TooMuchMemory {
        /// The size asked for.
        size: u64,
    },
    /// A vCPU count the GIC cannot serve.
    BadVcpuCount {
        /// The count asked for.
        vcpus: u32,
        /// The largest count allowed with this GIC.
        max: u32,
    },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoMemory => write!(f, "a guest needs some RAM"),
            Self::TooMuchMemory { size } => {
                write!(
                    f,
                    "{size:#x} bytes of RAM do not fit the two guest RAM banks"
                )
            }
            Self::BadVcpuCount { vcpus, max } => {
                write!(f, "{vcpus} vCPUs: this GIC serves between 1 and {max}")
            }
        }
    }
}

/// Splits `size` bytes of guest RAM into Xen's banks: bank 0 first, the rest in bank 1.
/// Returns one or two IPA ranges.
pub fn ram_banks(size: u64) -> Result<([AddressRange; 2], usize), LayoutError> {
    if size == 0 {
        return Err(LayoutError::NoMemory);
    }
    if size > RAM0_SIZE + RAM1_SIZE {
        return Err(LayoutError::TooMuchMemory { size });
    }
    let low = size.min(RAM0_SIZE);
    let high = size - low;
    let bank0 = AddressRange::new(RAM0_BASE, low).ok_or(LayoutError::TooMuchMemory { size })?;
    let bank1 = AddressRange::new(RAM1_BASE, high).ok_or(LayoutError::TooMuchMemory { size })?;
    Ok(([bank0, bank1], if high == 0 { 1 } else { 2 }))
}

/// Checks `vcpus` against the GIC's limit.
pub fn check_vcpus(vcpus: u32, gic: GicVersion) -> Result<(), LayoutError> {
    let max = match gic {
        GicVersion::V2 => MAX_GICV2_VCPUS,
        GicVersion::V3 => MAX_VCPUS,
    };
    if vcpus == 0 || vcpus > max {
        return Err(LayoutError::BadVcpuCount { vcpus, max });
    }
    Ok(())
}

/// The size of the GICv3 redistributor frames for `vcpus` vCPUs.
pub const fn redistributor_size(vcpus: u32) -> u64 {
    vcpus as u64 * GICV3_REDISTRIBUTOR_STRIDE
}

/// The MPIDR affinity (Aff1:Aff0) of vCPU `index`, as Xen numbers them: 16 vCPUs per cluster,
/// so that a GICv3 SGI target list (Aff0 0 to 15) reaches every vCPU of a cluster.
pub const fn vcpu_affinity(index: u32) -> u32 {
    ((index / 16) << 8) | (index % 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_xen_public_header() {
        assert_eq!(RAM0_BASE + RAM0_SIZE, 0x1_0000_0000, "bank 0 ends at 4 GiB");
        assert_eq!(
            RAM1_BASE + RAM1_SIZE,
            0x100_0000_0000,
            "bank 1 ends at 1 TiB"
        );
        assert_eq!(
            GICV3_REDISTRIBUTOR_REGION_SIZE / GICV3_REDISTRIBUTOR_STRIDE,
            u64::from(MAX_VCPUS)
        );
        assert_eq!(GRANT_TABLE_BASE + GRANT_TABLE_SIZE, MAGIC_BASE);
    }

    #[test]
    fn guest_devices_do_not_overlap_ram_or_each_other() {
        let regions = [
            AddressRange::new(GICV3_DISTRIBUTOR_BASE, GICV3_DISTRIBUTOR_SIZE).unwrap(),
            AddressRange::new(GICV2_CPU_INTERFACE_BASE, GICV2_CPU_INTERFACE_SIZE).unwrap(),
            AddressRange::new(GICV3_REDISTRIBUTOR_BASE, GICV3_REDISTRIBUTOR_REGION_SIZE).unwrap(),
            AddressRange::new(PL011_BASE, PL011_SIZE).unwrap(),
            AddressRange::new(GRANT_TABLE_BASE, GRANT_TABLE_SIZE).unwrap(),
            AddressRange::new(MAGIC_BASE, MAGIC_SIZE).unwrap(),
        ];
        let ram = [
            AddressRange::new(RAM0_BASE, RAM0_SIZE).unwrap(),
            AddressRange::new(RAM1_BASE, RAM1_SIZE).unwrap(),
        ];
        for (index, region) in regions.iter().enumerate() {
            assert!(
                ram.iter().all(|bank| !bank.overlaps(region)),
                "{region} overlaps RAM"
            );
            // The GICv2 CPU interface sits inside the GICv3 distributor frame: they never coexist.
            for other in &regions[index + 1..] {
                let v2_inside_v3 = index == 0 && other.start() == GICV2_CPU_INTERFACE_BASE;
                assert!(
                    v2_inside_v3 || !region.overlaps(other),
                    "{region} overlaps {other}"
                );
            }
        }
    }

    #[test]
    fn ram_fills_bank0_then_bank1() {
        let (banks, count) = ram_banks(0x1000_0000).unwrap();
        assert_eq!(
            (banks[0], count),
            (AddressRange::new(RAM0_BASE, 0x1000_0000).unwrap(), 1)
        );
        let (banks, count) = ram_banks(RAM0_SIZE + 0x4000_0000).unwrap();
        assert_eq!(count, 2);
        assert_eq!(banks[0], AddressRange::new(RAM0_BASE, RAM0_SIZE).unwrap());
        assert_eq!(banks[1], AddressRange::new(RAM1_BASE, 0x4000_0000).unwrap());
        assert_eq!(ram_banks(0), Err(LayoutError::NoMemory));
        let size = RAM0_SIZE + RAM1_SIZE + 1;
        assert_eq!(ram_banks(size), Err(LayoutError::TooMuchMemory { size }));
    }

    #[test]
    fn vcpu_limits_follow_the_gic() {
        assert!(check_vcpus(8, GicVersion::V2).is_ok());
        assert_eq!(
            check_vcpus(9, GicVersion::V2),
            Err(LayoutError::BadVcpuCount { vcpus: 9, max: 8 })
        );
        assert!(check_vcpus(128, GicVersion::V3).is_ok());
        assert_eq!(
            check_vcpus(0, GicVersion::V3),
            Err(LayoutError::BadVcpuCount { vcpus: 0, max: 128 })
        );
        assert_eq!(redistributor_size(4), 0x8_0000);
    }

    #[test]
    fn affinity_packs_sixteen_vcpus_per_cluster() {
        assert_eq!(vcpu_affinity(0), 0);
        assert_eq!(vcpu_affinity(15), 15);
        assert_eq!(vcpu_affinity(16), 0x100);
        assert_eq!(vcpu_affinity(37), 0x205);
    }
}
