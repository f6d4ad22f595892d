//! GICv3 distributor and redistributor emulation, `IROUTER` routing and `ICC_SGI1R_EL1` decoding.

use super::super::{
    AccessSize, GicVersion, SgiRequest, SgiTargets, VcpuId, VcpuSet, Vgic, VgicError,
    GUEST_GICD_BASE, GUEST_GICR_BASE, GUEST_GICR_STRIDE,
};
use super::{gicd_read, gicd_write, vgic};

fn gicr_read(vgic: &Vgic, vcpu: u64, offset: u64, size: AccessSize) -> u64 {
    vgic.mmio_read(
        GUEST_GICR_BASE + vcpu * GUEST_GICR_STRIDE + offset,
        size,
        VcpuId(0),
    )
    .expect("valid read")
}

fn gicr_write(vgic: &mut Vgic, vcpu: u64, offset: u64, value: u64) {
    let address = GUEST_GICR_BASE + vcpu * GUEST_GICR_STRIDE + offset;
    vgic.mmio_write(address, AccessSize::Word, VcpuId(0), value)
        .expect("valid write");
}

#[test]
fn typer_ctlr_and_pidr2_match_what_linux_checks() {
    let vgic = vgic(GicVersion::V3, 2, 96);
    // ITLinesNumber 3, CPUNumber 1, IDbits 9; LPIS, MBIS, ESPI, RSS, A3V all clear.
    assert_eq!(gicd_read(&vgic, 0x0004, 0), (9 << 19) | (1 << 5) | 3);
    assert_eq!(
        gicd_read(&vgic, 0x0000, 0),
        (1 << 4) | (1 << 6),
        "ARE and DS read as one"
    );
    assert_eq!(
        gicd_read(&vgic, 0xffe8, 0) & 0xf0,
        0x30,
        "PIDR2.ArchRev is 3"
    );
    assert_eq!(gicr_read(&vgic, 1, 0xffe8, AccessSize::Word) & 0xf0, 0x30);
    assert_eq!(
        gicd_read(&vgic, 0x0008, 0),
        gicr_read(&vgic, 0, 0x0004, AccessSize::Word)
    );
}

#[test]
fn ctlr_keeps_group_enables_and_reports_no_pending_write() {
    let mut vgic = vgic(GicVersion::V3, 1, 32);
    // Linux writes ARE_NS | EnableGrp1A | EnableGrp1, then polls RWP (bit 31).
    gicd_write(&mut vgic, 0x0000, 0, (1 << 4) | 0b11);
    assert_eq!(gicd_read(&vgic, 0x0000, 0), (1 << 4) | (1 << 6) | 0b11);
}

#[test]
fn private_interrupts_live_in_the_redistributor_not_the_distributor() {
    let mut vgic = vgic(GicVersion::V3, 2, 32);
    gicd_write(&mut vgic, 0x0100, 0, u32::MAX as u64);
    assert_eq!(
        gicd_read(&vgic, 0x0100, 0),
        0,
        "GICD_ISENABLER0 is RAZ/WI with affinity routing"
    );
    gicd_write(&mut vgic, 0x0800 + 32, 0, u32::MAX as u64);
    assert_eq!(
        gicd_read(&vgic, 0x0800 + 32, 0),
        0,
        "GICD_ITARGETSR is RAZ/WI with affinity routing"
    );
    // GICR_ISENABLER0 of vCPU 1, written through vCPU 1's SGI frame by vCPU 0.
    gicr_write(&mut vgic, 1, 0x1_0100, 1 << 27);
    assert_eq!(gicr_read(&vgic, 1, 0x1_0100, AccessSize::Word), 1 << 27);
    assert_eq!(gicr_read(&vgic, 0, 0x1_0100, AccessSize::Word), 0);
    gicr_write(&mut vgic, 1, 0x1_0c04, 0);
    assert_eq!(
        gicr_read(&vgic, 1, 0x1_0c00, AccessSize::Word),
        0xaaaa_aaaa,
        "SGIs stay edge"
    );
    let priority = vgic.mmio_write(
        GUEST_GICR_BASE + GUEST_GICR_STRIDE + 0x1_041b,
        AccessSize::Byte,
        VcpuId(0),
        0x80,
    );
    assert!(priority.is_ok());
    assert_eq!(gicr_read(&vgic, 1, 0x1_0418, AccessSize::Word), 0x8000_0000);
}

#[test]
fn redistributor_typer_has_affinity_number_and_last() {
    let vgic = vgic(GicVersion::V3, 3, 32);
    let typer = |v| gicr_read(&vgic, v, 0x0008, AccessSize::Double);
    assert_eq!(typer(0), 0);
    assert_eq!(typer(1), (1 << 32) | (1 << 8));
    assert_eq!(typer(2), (2 << 32) | (2 << 8) | (1 << 4));
    assert_eq!(
        gicr_read(&vgic, 2, 0x000c, AccessSize::Word),
        2,
        "upper half alone"
    );
    assert_eq!(
        vgic.mmio_read(
            GUEST_GICR_BASE + 3 * GUEST_GICR_STRIDE,
            AccessSize::Word,
            VcpuId(0)
        ),
        Err(VgicError::UnmappedAddress {
            address: GUEST_GICR_BASE + 3 * GUEST_GICR_STRIDE
        })
    );
}

#[test]
fn waker_children_follow_processor_sleep() {
    let mut vgic = vgic(GicVersion::V3, 1, 32);
    assert_eq!(gicr_read(&vgic, 0, 0x0014, AccessSize::Word), 0b110);
    gicr_write(&mut vgic, 0, 0x0014, 0);
    assert_eq!(gicr_read(&vgic, 0, 0x0014, AccessSize::Word), 0);
}

#[test]
fn irouter_routes_spis_by_affinity() {
    let mut vgic = vgic(GicVersion::V3, 4, 32);
    gicd_write(&mut vgic, 0x0100 + 4, 0, 1 << 8); // Enable SPI 40.
    gicd_write(&mut vgic, 0x0000, 0, 0b10);
    let router = 0x6000 + 8 * 40;
    vgic.mmio_write(GUEST_GICD_BASE + router, AccessSize::Double, VcpuId(0), 2)
        .expect("64-bit write");
    assert_eq!(
        vgic.mmio_read(GUEST_GICD_BASE + router, AccessSize::Double, VcpuId(0)),
        Ok(2)
    );
    gicd_write(&mut vgic, 0x0080 + 4, 0, 1 << 8); // Group 1.
    let effects = vgic.inject(VcpuId(0), 40).expect("inject");
    assert_eq!(effects.kick, VcpuSet(1 << 2));
    // Affinity that matches no vCPU: pending, delivered nowhere.
    gicd_write(&mut vgic, router + 4, 0, 1);
    assert_eq!(
        vgic.mmio_read(GUEST_GICD_BASE + router, AccessSize::Double, VcpuId(0)),
        Ok((1 << 32) | 2)
    );
    // 1-of-N (IRM): any vCPU; this vGIC picks vCPU 0.
    gicd_write(&mut vgic, router, 0, 1 << 31);
    gicd_write(&mut vgic, router + 4, 0, 0);
    assert_eq!(vgic.inject(VcpuId(3), 40).map(|e| e.kick), Ok(VcpuSet(1)));
    // Reserved bits are not kept.
    gicd_write(&mut vgic, router, 0, 0x7f00_0001);
    assert_eq!(gicd_read(&vgic, router, 0), 1);
}

#[test]
fn icc_sgi1r_decoding() {
    // Aff3 0x12, RS 3, IRM 0, Aff2 0x34, INTID 9, Aff1 0x56, TargetList 0x8001.
    let value: u64 = (0x12 << 48) | (3 << 44) | (0x34 << 32) | (9 << 24) | (0x56 << 16) | 0x8001;
    let request = SgiRequest::from_icc_sgi1r(value);
    assert_eq!(
        request,
        SgiRequest {
            intid: 9,
            targets: SgiTargets::Affinity {
                aff3: 0x12,
                aff2: 0x34,
                aff1: 0x56,
                range: 3,
                list: 0x8001
            }
        }
    );
    let broadcast = SgiRequest::from_icc_sgi1r((1 << 40) | (5 << 24) | 0xffff);
    assert_eq!(
        broadcast,
        SgiRequest {
            intid: 5,
            targets: SgiTargets::AllButSelf
        }
    );
}

#[test]
fn icc_sgi1r_reaches_vcpus_by_affinity() {
    let mut vgic = vgic(GicVersion::V3, 4, 32);
    for v in 0..4 {
        gicr_write(&mut vgic, v, 0x1_0080, u32::MAX as u64);
        gicr_write(&mut vgic, v, 0x1_0100, 1 << 7);
    }
    gicd_write(&mut vgic, 0x0000, 0, 0b10);
    let effects = vgic
        .send_sgi_v3(VcpuId(0), (7 << 24) | 0b1010)
        .expect("SGI");
    assert_eq!(effects.kick, VcpuSet(0b1010));
    let pending: Vec<bool> = (0..4).map(|v| vgic.is_pending(VcpuId(v), 7)).collect();
    assert_eq!(pending, [false, true, false, true]);
    // Aff1 = 1 names vCPUs 16 and up: none here.
    assert_eq!(
        vgic.send_sgi_v3(VcpuId(0), (6 << 24) | (1 << 16) | 1)
            .map(|e| e.kick),
        Ok(VcpuSet::EMPTY)
    );
    // IRM: everyone but the sender.
    vgic.send_sgi_v3(VcpuId(2), (1 << 40) | (7 << 24))
        .expect("SGI");
    let pending: Vec<bool> = (0..4).map(|v| vgic.is_pending(VcpuId(v), 7)).collect();
    assert_eq!(pending, [true, true, false, true]);
    let mut v2 = super::vgic(GicVersion::V2, 1, 32);
    assert_eq!(
        v2.send_sgi_v3(VcpuId(0), 0),
        Err(VgicError::WrongVersion {
            operation: "ICC_SGI1R_EL1"
        })
    );
}

#[test]
fn v3_access_widths() {
    let vgic = vgic(GicVersion::V3, 1, 32);
    let frame = "GICv3 distributor";
    assert_eq!(
        vgic.mmio_read(GUEST_GICD_BASE + 0x0004, AccessSize::Double, VcpuId(0)),
        Err(VgicError::BadAccessSize {
            frame,
            offset: 4,
            size: AccessSize::Double
        })
    );
    assert_eq!(
        vgic.mmio_read(GUEST_GICD_BASE + 0x0100, AccessSize::Half, VcpuId(0)),
        Err(VgicError::BadAccessSize {
            frame,
            offset: 0x100,
            size: AccessSize::Half
        })
    );
    assert_eq!(
        vgic.mmio_read(GUEST_GICD_BASE + 0x0420, AccessSize::Byte, VcpuId(0)),
        Ok(0)
    );
    assert_eq!(
        vgic.mmio_read(GUEST_GICD_BASE + 0x000c, AccessSize::Word, VcpuId(0)),
        Ok(0),
        "TYPER2 is zero"
    );
}
