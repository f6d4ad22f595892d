//! Tests of data abort decoding on syndromes built by hand from the Arm ARM D13 layout.

use super::*;
use crate::portable::trap::registers::RegisterFile;

/// `HPFAR_EL2` for an IPA: the page number in FIPA (bits \[43:4\]).
fn hpfar(ipa: u64) -> u64 {
    (ipa >> 12) << 4
}

fn access(esr: u64, ipa: u64) -> Result<MmioAccess, DataAbortError> {
    // The guest's virtual address shares only its page offset with the IPA.
    let far = 0xffff_0000_dead_0000 | (ipa & 0xfff);
    DataAbort::new(Esr(esr))?.mmio_access(far, hpfar(ipa))
}

#[test]
fn fault_ipa_joins_hpfar_page_and_far_offset() {
    assert_eq!(
        fault_ipa(0xffff_8000_1234_5678, hpfar(0x0900_0000)),
        0x0900_0678
    );
    // Bits of HPFAR outside FIPA (for example NS, bit 63) are ignored.
    assert_eq!(
        fault_ipa(0x18, (1 << 63) | hpfar(0x8_0000_0000)),
        0x8_0000_0018
    );
    // The top of FIPA: IPA bit 51.
    assert_eq!(fault_ipa(0, 1 << 43), 1 << 51);
}

#[test]
fn ldr_w1_from_x0() {
    // ldr w1, [x0]: EC 0x24, IL, ISV, SAS = word, SRT = 1, SF = 0, DFSC = level-2 translation.
    let mmio = access(0x9381_0006, 0x0900_0000).unwrap();
    assert_eq!(
        mmio,
        MmioAccess {
            ipa: 0x0900_0000,
            size: 4,
            write: false,
            reg: Register::new(1),
            sign_extend: false,
            sf: false,
        }
    );
    let abort = DataAbort::new(Esr(0x9381_0006)).unwrap();
    assert_eq!(abort.fault_status(), FaultStatus::Translation { level: 2 });
    let mut registers = RegisterFile { x: [u64::MAX; 31] };
    mmio.complete_load(&mut registers, 0x1234_5678);
    assert_eq!(registers.x[1], 0x1234_5678);
}

#[test]
fn str_x2_to_x0_stores_all_64_bits() {
    // str x2, [x0]: SAS = doubleword, SRT = 2, SF, WnR.
    let mmio = access(0x93c2_8046, 0x0900_0008).unwrap();
    assert!(mmio.write);
    assert_eq!(mmio.size, 8);
    let mut registers = RegisterFile::default();
    registers.x[2] = 0x0123_4567_89ab_cdef;
    assert_eq!(mmio.store_value(&registers), 0x0123_4567_89ab_cdef);
}

#[test]
fn str_w_with_sf_clear_stores_32_bits() {
    // str w4, [x0]: SAS = word, SRT = 4, SF = 0, WnR.
    let mmio = access(0x9384_0046, 0x0900_0000).unwrap();
    assert!(!mmio.sf);
    let mut registers = RegisterFile::default();
    registers.x[4] = 0xffff_ffff_0000_0041;
    assert_eq!(mmio.store_value(&registers), 0x41);
}

#[test]
fn strb_keeps_one_byte() {
    // strb w5, [x0].
    let mmio = access(0x9305_0046, 0x0900_0000).unwrap();
    let mut registers = RegisterFile::default();
    registers.x[5] = 0x1234_5678;
    assert_eq!(mmio.size, 1);
    assert_eq!(mmio.store_value(&registers), 0x78);
}

#[test]
fn store_of_the_zero_register_writes_zero() {
    // str wzr, [x0]: SRT = 31.
    let mmio = access(0x939f_0046, 0x0900_0000).unwrap();
    assert!(mmio.reg.is_zero_register());
    let registers = RegisterFile { x: [u64::MAX; 31] };
    assert_eq!(mmio.store_value(&registers), 0);
}

#[test]
fn load_into_the_zero_register_changes_nothing() {
    // ldr wzr, [x0].
    let mmio = access(0x939f_0006, 0x0900_0000).unwrap();
    let mut registers = RegisterFile { x: [7; 31] };
    mmio.complete_load(&mut registers, 0xffff_ffff);
    assert_eq!(registers, RegisterFile { x: [7; 31] });
}

#[test]
fn ldrsb_into_x_sign_extends_to_64_bits() {
    // ldrsb x3, [x0]: SAS = byte, SSE, SRT = 3, SF.
    let mmio = access(0x9323_8006, 0x0900_0000).unwrap();
    assert!(mmio.sign_extend && mmio.sf);
    let mut registers = RegisterFile::default();
    mmio.complete_load(&mut registers, 0x80);
    assert_eq!(registers.x[3], 0xffff_ffff_ffff_ff80);
    mmio.complete_load(&mut registers, 0x7f);
    assert_eq!(registers.x[3], 0x7f);
}

#[test]
fn ldrsb_into_w_sign_extends_to_32_bits_only() {
    // ldrsb w3, [x0]: SF = 0, so the upper half of x3 is cleared.
    let mmio = access(0x9323_0006, 0x0900_0000).unwrap();
    let mut registers = RegisterFile { x: [u64::MAX; 31] };
    mmio.complete_load(&mut registers, 0xff);
    assert_eq!(registers.x[3], 0xffff_ffff);
}

#[test]
fn ldrsh_and_ldrsw_sign_extend_their_sizes() {
    // ldrsh x6: SAS = halfword.
    let halfword = access(0x9366_8006, 0x0900_0000).unwrap();
    assert_eq!(halfword.loaded_value(0xdead_8001), 0xffff_ffff_ffff_8001);
    // ldrsw x7: SAS = word.
    let word = access(0x93a7_8006, 0x0900_0000).unwrap();
    assert_eq!(word.loaded_value(0x8000_0000), 0xffff_ffff_8000_0000);
}

#[test]
fn loads_without_sse_zero_extend_and_drop_extra_device_bits() {
    // ldrb w1, [x0].
    let mmio = access(0x9301_0006, 0x0900_0000).unwrap();
    assert_eq!(mmio.loaded_value(0x1ff), 0xff);
}

#[test]
fn no_syndrome_is_an_error_not_a_guess() {
    // ldp w1, w2, [x0]: ISV = 0.
    let error = access(0x9200_0006, 0x0900_0010).unwrap_err();
    assert_eq!(
        error,
        DataAbortError::NoSyndrome {
            ipa: 0x0900_0010,
            esr: 0x9200_0006
        }
    );
    assert!(error.to_string().contains("instruction gives no syndrome"));
}

#[test]
fn stage_one_walk_faults_are_not_mmio() {
    // S1PTW set, translation fault level 1.
    let error = access(0x9200_0085, 0x4000_0000).unwrap_err();
    assert_eq!(
        error,
        DataAbortError::StageOneTableWalk { ipa: 0x4000_0000 }
    );
}

#[test]
fn other_classes_are_rejected() {
    // An HVC syndrome.
    let error = DataAbort::new(Esr(0x5a00_0000)).unwrap_err();
    assert_eq!(
        error,
        DataAbortError::NotADataAbort {
            class: ExceptionClass::Hvc64
        }
    );
}

#[test]
fn fault_status_codes_group_by_kind() {
    assert_eq!(
        FaultStatus::from_code(0x07),
        FaultStatus::Translation { level: 3 }
    );
    assert_eq!(
        FaultStatus::from_code(0x09),
        FaultStatus::AccessFlag { level: 1 }
    );
    assert_eq!(
        FaultStatus::from_code(0x0f),
        FaultStatus::Permission { level: 3 }
    );
    assert_eq!(FaultStatus::from_code(0x10), FaultStatus::ExternalAbort);
    assert_eq!(FaultStatus::from_code(0x21), FaultStatus::Alignment);
    assert_eq!(FaultStatus::from_code(0x30), FaultStatus::Other(0x30));
}

#[test]
fn acquire_release_and_cache_maintenance_bits() {
    // ldar w1, [x0]: AR set.
    let abort = DataAbort::new(Esr(0x9381_4006)).unwrap();
    assert!(abort.acquire_release());
    // dc civac on a device page: CM and WnR, no syndrome.
    let maintenance = DataAbort::new(Esr(0x9200_0146)).unwrap();
    assert!(maintenance.cache_maintenance());
    assert!(!maintenance.syndrome_valid());
}
