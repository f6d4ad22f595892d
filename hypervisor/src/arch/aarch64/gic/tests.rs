//! Host tests of the GIC register decoders and the redistributor walk.

use super::regs::*;
use super::virtual_regs::*;
use super::walk::{find_redistributors, MAX_REDISTRIBUTOR_FRAMES};

#[test]
fn gicr_typer_affinity_is_laid_out_as_in_mpidr() {
    // Affinity_Value 0x12.34.56.78 (Aff3.Aff2.Aff1.Aff0), Processor_Number 5, Last.
    let typer = GicrTyper(0x1234_5678_0000_0510);
    assert_eq!(typer.mpidr_affinity(), 0x12_0034_5678);
    assert_eq!(typer.processor_number(), 5);
    assert!(typer.is_last());
    assert!(!GicrTyper(0x1234_5678_0000_0500).is_last());
}

#[test]
fn gicr_frames_are_two_or_four_64k_pages() {
    assert_eq!(GicrTyper(0).stride(), 0x2_0000);
    assert_eq!(GicrTyper(1 << 1).stride(), 0x4_0000);
}

#[test]
fn gicd_typer_counts_lines_and_caps_at_special_intids() {
    // GIC-400 on the BCM2711: ITLinesNumber 6, 224 lines; four CPU interfaces; Security Extensions.
    let typer = GicdTyper(6 | (3 << 5) | (1 << 10));
    assert_eq!(typer.interrupt_lines(), 224);
    assert_eq!(typer.cpu_interfaces(), 4);
    assert!(typer.security_extensions());
    assert!(!typer.range_selector());
    // ITLinesNumber 31 would be 1024 lines; INTIDs 1020..1023 are special.
    assert_eq!(GicdTyper(31).interrupt_lines(), 1020);
    assert!(GicdTyper(1 << 26).range_selector());
}

#[test]
fn sgi1r_targets_one_cpu_by_affinity() {
    // SGI 3 to MPIDR 0.0.1.2: Aff1 1 at bits 23:16, target list bit 2, INTID at 27:24.
    let value = Sgi1r::to_cpu(3, 0x102).expect("SGI 3 exists");
    assert_eq!(value.0, 0x0301_0004);
    assert_eq!(value.sgi(), 3);
    assert_eq!(value.target_list(), 1 << 2);
    assert_eq!(value.range_selector(), 0);
}

#[test]
fn sgi1r_carries_aff3_aff2_and_the_range_selector() {
    // MPIDR Aff3 0xab, Aff2 0xcd, Aff1 0xef, Aff0 0x25: RS 2, target bit 5.
    let value = Sgi1r::to_cpu(15, 0xab_00cd_ef25).expect("SGI 15 exists");
    assert_eq!(value.upper_affinity(), 0xab_00cd_ef00);
    assert_eq!(value.range_selector(), 2);
    assert_eq!(value.target_list(), 1 << 5);
    assert_eq!(value.sgi(), 15);
    assert_eq!(
        value.0,
        (0xab << 48) | (2 << 44) | (0xcd << 32) | (15 << 24) | (0xef << 16) | (1 << 5)
    );
    assert_eq!(Sgi1r::to_cpu(16, 0), None);
}

#[test]
fn gicv2_sgir_targets_a_cpu_interface() {
    let value = Sgir::to_cpu_interface(1, 2).expect("in range");
    assert_eq!(value.0, 0x0004_0001);
    assert_eq!(value.target_list(), 0b100);
    assert_eq!(value.sgi(), 1);
    assert_eq!(Sgir::to_cpu_interface(16, 0), None);
    assert_eq!(Sgir::to_cpu_interface(0, 8), None);
}

#[test]
fn itargetsr_private_bytes_name_the_reading_cpu_interface() {
    assert_eq!(PrivateTargets(0x0101_0101).cpu_interface(), Some(0));
    assert_eq!(PrivateTargets(0x0404_0404).cpu_interface(), Some(2));
    assert_eq!(PrivateTargets(0x8080_8080).cpu_interface(), Some(7));
    // Uniprocessor implementations read as zero.
    assert_eq!(PrivateTargets(0).cpu_interface(), Some(0));
    assert_eq!(PrivateTargets(0x03).cpu_interface(), None);
    assert_eq!(spi_target_byte(3), 0b1000);
}

#[test]
fn gicv2_acknowledge_keeps_the_sgi_source_for_the_end_of_interrupt() {
    // SGI 3 from CPU interface 3: CPUID in bits 12:10.
    let ack = Acknowledged::from_v2((3 << 10) | 3);
    assert_eq!(ack.intid(), 3);
    assert_eq!(ack.source_cpu(), 3);
    assert_eq!(ack.raw(), 0xc03);
    assert!(!ack.is_special());
    // An SPI: reserved upper bits are dropped, no source.
    let spi = Acknowledged::from_v2(0xffff_e000 | 57);
    assert_eq!((spi.intid(), spi.raw(), spi.source_cpu()), (57, 57, 0));
    assert!(Acknowledged::from_v2(1023).is_special());
    assert!(Acknowledged::from_v2(1020).is_special());
}

#[test]
fn gicv3_acknowledge_reads_24_bit_intids() {
    assert!(Acknowledged::from_v3(1023).is_special());
    assert!(Acknowledged::from_v3(1021).is_special());
    // An extended SPI is not special even though its low 10 bits are zero.
    let espi = Acknowledged::from_v3(4096);
    assert_eq!(espi.intid(), 4096);
    assert!(!espi.is_special());
    assert_eq!(Acknowledged::of(27).raw(), 27);
}

#[test]
fn ich_vtr_fields_as_qemu_reports_them() {
    // QEMU: four list registers, five priority and five preemption bits.
    let vtr = Vtr::from_ich((4 << 29) | (4 << 26) | 3);
    assert_eq!(
        vtr,
        Vtr {
            list_registers: 4,
            preemption_bits: 5,
            priority_bits: 5
        }
    );
    assert_eq!(vtr.active_priority_registers(), 1);
    assert_eq!(Vtr::from_ich(6 << 26).active_priority_registers(), 4);
    assert_eq!(Vtr::from_ich(5 << 26).active_priority_registers(), 2);
    // ListRegs is five bits wide but only ICH_LR0..15_EL2 exist.
    assert_eq!(Vtr::from_ich(0x1f).list_registers, 16);
}

#[test]
fn gich_vtr_has_a_six_bit_list_register_count() {
    assert_eq!(Vtr::from_gich(0x9000_0003).list_registers, 4);
    assert_eq!(Vtr::from_gich(0x3f).list_registers, 64);
    assert_eq!(Vtr::from_gich(0x9000_0003).priority_bits, 5);
}

#[test]
fn hcr_flags_and_eoi_count() {
    let hcr = Hcr::enabled()
        .with(Hcr::UNDERFLOW, true)
        .with(Hcr::NO_PENDING, true)
        .with(Hcr::NO_PENDING, false);
    assert_eq!(hcr.0, 0b11);
    assert!(hcr.has(Hcr::ENABLE | Hcr::UNDERFLOW));
    let counted = Hcr(hcr.0 | (5 << 27));
    assert_eq!(counted.eoi_count(), 5);
    assert_eq!(counted.without_eoi_count(), hcr);
    assert_eq!(Hcr(u32::MAX).eoi_count(), 31);
}

#[test]
fn misr_reasons() {
    let misr = Misr(0b1011);
    assert!(misr.end_of_interrupt() && misr.underflow() && misr.no_pending());
    assert!(!misr.lr_entry_not_present() && !misr.group_change());
    assert!(Misr(1 << 6).group_change());
}

/// Fake redistributor frames: `(affinity as in GICR_TYPER bits 63:32, extra low bits)`.
fn fake_frames(frames: &[(u32, u64)], stride: usize) -> impl Fn(usize) -> GicrTyper + '_ {
    move |address| {
        let index = (address - 0x8_0000) / stride;
        let (affinity, low) = frames[index];
        GicrTyper(((affinity as u64) << 32) | low)
    }
}

#[test]
fn walk_matches_frames_to_cpus_by_affinity_not_order() {
    // Four frames, the last marked; CPUs listed in another order than the frames.
    let frames = [(0x000, 0), (0x001, 0), (0x100, 0), (0x101, 1 << 4)];
    let cpus = [0x101, 0x000, 0x100, 0x001];
    let mut found = [None; 8];
    find_redistributors(0x8_0000, &cpus, &mut found, fake_frames(&frames, 0x2_0000))
        .expect("all found");
    assert_eq!(
        &found[..4],
        &[
            Some(0xe_0000),
            Some(0x8_0000),
            Some(0xc_0000),
            Some(0xa_0000)
        ]
    );
}

#[test]
fn walk_steps_four_pages_with_virtual_lpis() {
    let frames = [(0x0, 1 << 1), (0x1, (1 << 1) | (1 << 4))];
    let mut found = [None; 2];
    find_redistributors(
        0x8_0000,
        &[0x0, 0x1],
        &mut found,
        fake_frames(&frames, 0x4_0000),
    )
    .expect("all found");
    assert_eq!(found, [Some(0x8_0000), Some(0xc_0000)]);
}

#[test]
fn walk_stops_at_last_and_names_the_cpu_without_a_frame() {
    let frames = [(0x0, 0), (0x1, 1 << 4)];
    let mut found = [None; 3];
    let result = find_redistributors(
        0x8_0000,
        &[0x0, 0x1, 0x2],
        &mut found,
        fake_frames(&frames, 0x2_0000),
    );
    assert_eq!(result, Err(2));
}

#[test]
fn walk_stops_once_every_cpu_has_its_frame() {
    // No frame is marked last: the walk must not read past the second one.
    let frames = [(0x0, 0), (0x1, 0)];
    let mut found = [None; 2];
    find_redistributors(
        0x8_0000,
        &[0x0, 0x1],
        &mut found,
        fake_frames(&frames, 0x2_0000),
    )
    .expect("all found");
}

#[test]
fn walk_gives_up_on_a_region_without_last() {
    let mut reads = 0;
    let mut found = [None; 1];
    let result = find_redistributors(0, &[0x7], &mut found, |_| {
        reads += 1;
        GicrTyper(0)
    });
    assert_eq!(result, Err(0));
    assert_eq!(reads, MAX_REDISTRIBUTOR_FRAMES);
}

#[test]
fn errors_explain_themselves() {
    use super::GicError;
    let text = GicError::NoRedistributor {
        cpu: 2,
        mpidr: 0x102,
    }
    .to_string();
    assert!(text.contains("cpu 2") && text.contains("0x102"), "{text}");
    let text = GicError::NoListRegister { index: 5, count: 4 }.to_string();
    assert!(
        text.contains("list register 5") && text.contains('4'),
        "{text}"
    );
}

#[test]
fn an_spi_is_cleared_in_its_unbanked_word_and_a_private_interrupt_never() {
    // GIC-400 on the BCM2711 (224 lines): SPI 93 (INTID 125, the mini UART) is word 3, bit 29.
    assert_eq!(spi_bit(125, 224), Some((3, 1 << 29)));
    assert_eq!(spi_bit(32, 224), Some((1, 1)));
    assert_eq!(spi_bit(223, 224), Some((6, 1 << 31)));
    // Word 0 holds the SGIs and PPIs, banked per CPU: never written for another CPU's SPI.
    assert_eq!(spi_bit(31, 224), None);
    assert_eq!(spi_bit(0, 224), None);
    // Past the implemented lines, and the special INTIDs.
    assert_eq!(spi_bit(224, 224), None);
    assert_eq!(spi_bit(1023, 1020), None);
}
