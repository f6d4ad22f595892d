//! GICv2 distributor emulation: identification, banked registers, targets and `GICD_SGIR`.

use super::super::{AccessSize, GicVersion, VcpuId, VgicError, GUEST_GICD_BASE};
use super::{gicd_read, gicd_write, vgic};

#[test]
fn typer_iidr_and_pidr2_match_what_linux_checks() {
    let vgic = vgic(GicVersion::V2, 4, 64);
    // ITLinesNumber = (32 + 64) / 32 - 1 = 2, CPUNumber = 3, no security extensions.
    assert_eq!(gicd_read(&vgic, 0x004, 0), 0x62);
    assert_eq!(gicd_read(&vgic, 0x008, 0), 0x4200_043b);
    assert_eq!(
        gicd_read(&vgic, 0xfe8, 0) & 0xf0,
        0x20,
        "PIDR2.ArchRev is 2"
    );
    assert_eq!(gicd_read(&vgic, 0xff0, 0), 0x0d);
}

#[test]
fn spi_count_rounds_up_to_lines() {
    let vgic = vgic(GicVersion::V2, 1, 40);
    assert_eq!(vgic.spi_count(), 64);
    assert_eq!(gicd_read(&vgic, 0x004, 0) & 0x1f, 2);
    let vgic = super::vgic(GicVersion::V2, 1, 988);
    assert_eq!(gicd_read(&vgic, 0x004, 0) & 0x1f, 31);
    assert_eq!(vgic.intid_limit(), 1020);
}

#[test]
fn bad_configurations_are_refused() {
    let mut vgic = super::super::Vgic::empty();
    let config = |vcpus, spis| super::super::VgicConfig {
        version: GicVersion::V2,
        vcpus,
        spis,
    };
    assert_eq!(
        vgic.configure(config(9, 32)),
        Err(VgicError::TooManyVcpus {
            requested: 9,
            max: 8
        })
    );
    assert_eq!(
        vgic.configure(config(0, 32)),
        Err(VgicError::TooManyVcpus {
            requested: 0,
            max: 8
        })
    );
    assert_eq!(
        vgic.configure(config(1, 989)),
        Err(VgicError::TooManySpis {
            requested: 989,
            max: 988
        })
    );
}

#[test]
fn itargetsr_of_sgis_and_ppis_reads_the_reader_and_ignores_writes() {
    let mut vgic = vgic(GicVersion::V2, 4, 32);
    // Linux's gic_get_cpumask() ORs the bytes of ITARGETSR0..7 to learn its own CPU bit.
    assert_eq!(gicd_read(&vgic, 0x800, 2), 0x0404_0404);
    assert_eq!(gicd_read(&vgic, 0x81c, 1), 0x0202_0202);
    gicd_write(&mut vgic, 0x800, 2, 0x0101_0101);
    assert_eq!(gicd_read(&vgic, 0x800, 2), 0x0404_0404);
}

#[test]
fn itargetsr_of_spis_is_read_write_and_masks_missing_cpus() {
    let mut vgic = vgic(GicVersion::V2, 2, 32);
    gicd_write(&mut vgic, 0x820, 0, 0xff02_0301);
    assert_eq!(gicd_read(&vgic, 0x820, 1), 0x0302_0301);
    let byte = vgic.mmio_read(GUEST_GICD_BASE + 0x822, AccessSize::Byte, VcpuId(0));
    assert_eq!(byte, Ok(0x02));
}

#[test]
fn priority_bytes_keep_five_bits() {
    let mut vgic = vgic(GicVersion::V2, 1, 32);
    vgic.mmio_write(GUEST_GICD_BASE + 0x421, AccessSize::Byte, VcpuId(0), 0xa7)
        .expect("byte write");
    assert_eq!(gicd_read(&vgic, 0x420, 0), 0xa000);
}

#[test]
fn sgi_config_is_read_only_edge_and_spi_config_is_writable() {
    let mut vgic = vgic(GicVersion::V2, 1, 32);
    assert_eq!(gicd_read(&vgic, 0xc00, 0), 0xaaaa_aaaa);
    gicd_write(&mut vgic, 0xc00, 0, 0);
    assert_eq!(gicd_read(&vgic, 0xc00, 0), 0xaaaa_aaaa);
    gicd_write(&mut vgic, 0xc08, 0, 0b10 << 2);
    assert_eq!(gicd_read(&vgic, 0xc08, 0), 0b10 << 2);
}

#[test]
fn enable_set_and_clear_are_one_register_pair() {
    let mut vgic = vgic(GicVersion::V2, 2, 32);
    gicd_write(&mut vgic, 0x104, 0, 0x0000_0011);
    assert_eq!(gicd_read(&vgic, 0x104, 1), 0x11);
    gicd_write(&mut vgic, 0x184, 1, 0x0000_0001);
    assert_eq!(gicd_read(&vgic, 0x184, 0), 0x10);
    // SGI and PPI enables are banked per vCPU.
    gicd_write(&mut vgic, 0x100, 0, 0x0800_0000);
    assert_eq!(gicd_read(&vgic, 0x100, 0), 0x0800_0000);
    assert_eq!(gicd_read(&vgic, 0x100, 1), 0);
}

#[test]
fn interrupts_past_the_last_line_read_as_zero_and_ignore_writes() {
    let mut vgic = vgic(GicVersion::V2, 1, 32);
    gicd_write(&mut vgic, 0x108, 0, u32::MAX as u64);
    assert_eq!(gicd_read(&vgic, 0x108, 0), 0);
}

#[test]
fn reserved_registers_are_zero_and_bad_accesses_are_errors() {
    let mut vgic = vgic(GicVersion::V2, 1, 32);
    assert_eq!(gicd_read(&vgic, 0x00c, 0), 0);
    assert_eq!(gicd_read(&vgic, 0xf00, 0), 0, "GICD_SGIR is write-only");
    gicd_write(&mut vgic, 0x004, 0, 0xffff);
    assert_eq!(gicd_read(&vgic, 0x004, 0), 0x01, "TYPER is read-only");
    let frame = "GICv2 distributor";
    assert_eq!(
        vgic.mmio_read(GUEST_GICD_BASE + 0x100, AccessSize::Byte, VcpuId(0)),
        Err(VgicError::BadAccessSize {
            frame,
            offset: 0x100,
            size: AccessSize::Byte
        })
    );
    assert_eq!(
        vgic.mmio_read(GUEST_GICD_BASE + 0x102, AccessSize::Word, VcpuId(0)),
        Err(VgicError::BadAccessSize {
            frame,
            offset: 0x102,
            size: AccessSize::Word
        })
    );
    assert_eq!(
        vgic.mmio_read(GUEST_GICD_BASE + 0x1000, AccessSize::Word, VcpuId(0)),
        Err(VgicError::UnmappedAddress {
            address: GUEST_GICD_BASE + 0x1000
        })
    );
    assert_eq!(
        vgic.mmio_read(GUEST_GICD_BASE, AccessSize::Word, VcpuId(1)),
        Err(VgicError::NoSuchVcpu {
            vcpu: VcpuId(1),
            count: 1
        })
    );
    assert_eq!(
        vgic.redistributor_read(0, AccessSize::Word, &mut super::super::VcpuSet(0)),
        Err(VgicError::WrongVersion {
            operation: "a GICv3 redistributor access"
        })
    );
}

#[test]
fn sgir_filter_modes() {
    let mut vgic = vgic(GicVersion::V2, 4, 32);
    // Target list: vCPUs 1 and 3 (and 5, which does not exist), SGI 2.
    let effects = gicd_write(&mut vgic, 0xf00, 0, (0x2a << 16) | 2); // Filter 0b00: the list.
    let pending: Vec<bool> = (0..4).map(|v| vgic.is_pending(VcpuId(v), 2)).collect();
    assert_eq!(pending, [false, true, false, true]);
    assert!(effects.kick.is_empty(), "SGI 2 is disabled: nobody to kick");
    // All but self, SGI 3, from vCPU 1.
    gicd_write(&mut vgic, 0xf00, 1, (0b01 << 24) | 3);
    let pending: Vec<bool> = (0..4).map(|v| vgic.is_pending(VcpuId(v), 3)).collect();
    assert_eq!(pending, [true, false, true, true]);
    // Self only, SGI 4, from vCPU 2; the target list is ignored.
    gicd_write(&mut vgic, 0xf00, 2, (0b10 << 24) | (0xff << 16) | 4);
    let pending: Vec<bool> = (0..4).map(|v| vgic.is_pending(VcpuId(v), 4)).collect();
    assert_eq!(pending, [false, false, true, false]);
    // Reserved filter: nothing happens.
    gicd_write(&mut vgic, 0xf00, 0, (0b11 << 24) | (0xff << 16) | 5);
    assert!((0..4).all(|v| !vgic.is_pending(VcpuId(v), 5)));
}

#[test]
fn sgi_sources_are_visible_in_spendsgir_and_cleared_by_cpendsgir() {
    let mut vgic = vgic(GicVersion::V2, 4, 32);
    gicd_write(&mut vgic, 0x000, 0, 1);
    gicd_write(&mut vgic, 0x100, 3, 1 << 1);
    gicd_write(&mut vgic, 0xf00, 0, (1 << 19) | 1);
    let effects = gicd_write(&mut vgic, 0xf00, 2, (1 << 19) | 1);
    assert!(
        effects.kick.contains(VcpuId(3)),
        "enabled SGI kicks its target"
    );
    // SGI 1 of vCPU 3 is pending from sources 0 and 2: byte 1 of SPENDSGIR0.
    assert_eq!(gicd_read(&vgic, 0xf20, 3), 0b101 << 8);
    gicd_write(&mut vgic, 0xf10, 3, 0b001 << 8);
    assert_eq!(gicd_read(&vgic, 0xf20, 3), 0b100 << 8);
    assert!(vgic.is_pending(VcpuId(3), 1));
    gicd_write(&mut vgic, 0xf10, 3, 0b100 << 8);
    assert!(!vgic.is_pending(VcpuId(3), 1));
    // ISPENDR0 does not set SGIs on GICv2.
    gicd_write(&mut vgic, 0x200, 3, 1 << 1);
    assert!(!vgic.is_pending(VcpuId(3), 1));
}

#[test]
fn ctlr_enables_groups_and_kicks_everyone() {
    let mut vgic = vgic(GicVersion::V2, 2, 32);
    let effects = gicd_write(&mut vgic, 0x000, 0, 1);
    assert_eq!(gicd_read(&vgic, 0x000, 1), 1);
    assert_eq!(effects.kick.0, 0b11);
}
