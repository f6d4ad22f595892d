//! List-register encodings against hand-assembled bit patterns.

use super::super::{ListRegister, LrState};

fn entry(intid: u32, state: LrState) -> ListRegister {
    ListRegister {
        intid,
        priority: 0xa0,
        state,
        hw: None,
        group1: true,
        eoi_maintenance: false,
        source: 0,
    }
}

#[test]
fn v3_software_pending_group1() {
    // State 01 (62), Group (60), priority 0xa0 (55:48), vINTID 27.
    let value = 0x50a0_0000_0000_001b;
    assert_eq!(entry(27, LrState::Pending).encode_v3(), value);
    assert_eq!(
        ListRegister::decode_v3(value),
        Some(entry(27, LrState::Pending))
    );
}

#[test]
fn v3_hardware_mapped_active() {
    let lr = ListRegister {
        hw: Some(27),
        ..entry(27, LrState::Active)
    };
    // State 10, HW (61), Group (60), priority 0xa0, pINTID 27 in 44:32, vINTID 27.
    let value = 0xb0a0_001b_0000_001b;
    assert_eq!(lr.encode_v3(), value);
    assert_eq!(ListRegister::decode_v3(value), Some(lr));
}

#[test]
fn v3_hardware_mapped_spi_with_a_physical_intid_over_bit_41() {
    // A passthrough SPI: pINTID 1019 (0x3fb) sets bit 41, which is EOI only without HW.
    let lr = ListRegister {
        hw: Some(0x3fb),
        ..entry(0x3fb, LrState::Pending)
    };
    // State 01 (62), HW (61), Group (60), priority 0xa0, pINTID 0x3fb in 44:32, vINTID 0x3fb.
    let value = 0x70a0_03fb_0000_03fb;
    assert_eq!(lr.encode_v3(), value);
    let decoded = ListRegister::decode_v3(value).expect("valid");
    assert_eq!((decoded.hw, decoded.eoi_maintenance), (Some(0x3fb), false));
    assert_eq!(decoded, lr);
}

#[test]
fn v3_eoi_maintenance_and_pending_active() {
    let lr = ListRegister {
        eoi_maintenance: true,
        group1: false,
        priority: 0x08,
        ..entry(40, LrState::PendingActive)
    };
    // State 11, EOI (41), priority 0x08, vINTID 40.
    let value = 0xc008_0200_0000_0028;
    assert_eq!(lr.encode_v3(), value);
    assert_eq!(ListRegister::decode_v3(value), Some(lr));
}

#[test]
fn v3_invalid_entry_decodes_to_none() {
    assert_eq!(ListRegister::decode_v3(0x10a0_0000_0000_001b), None);
    assert_eq!(ListRegister::decode_v3(0), None);
}

#[test]
fn v2_software_pending_group1() {
    // Grp1 (30), state 01 (29:28), priority 0xa0 >> 3 = 0x14 in 27:23, VirtualID 27.
    let value = 0x5a00_001b;
    assert_eq!(entry(27, LrState::Pending).encode_v2(), value);
    assert_eq!(
        ListRegister::decode_v2(value),
        Some(entry(27, LrState::Pending))
    );
}

#[test]
fn v2_hardware_mapped() {
    let lr = ListRegister {
        hw: Some(30),
        group1: false,
        ..entry(27, LrState::Active)
    };
    // HW (31), state 10, priority 0x14, PhysicalID 30 in 19:10, VirtualID 27.
    let value = 0xaa00_781b;
    assert_eq!(lr.encode_v2(), value);
    assert_eq!(ListRegister::decode_v2(value), Some(lr));
}

#[test]
fn v2_sgi_source_and_eoi() {
    let lr = ListRegister {
        source: 3,
        eoi_maintenance: true,
        group1: false,
        priority: 0,
        ..entry(1, LrState::Pending)
    };
    // State 01, EOI (19), CPUID 3 in 12:10, VirtualID 1.
    let value = 0x1008_0c01;
    assert_eq!(lr.encode_v2(), value);
    assert_eq!(ListRegister::decode_v2(value), Some(lr));
}

#[test]
fn v2_priority_keeps_top_five_bits() {
    let lr = ListRegister {
        priority: 0xff,
        ..entry(33, LrState::Pending)
    };
    let decoded = ListRegister::decode_v2(lr.encode_v2());
    assert_eq!(decoded.map(|lr| lr.priority), Some(0xf8));
    assert_eq!(
        ListRegister::decode_v2(0x4000_0021),
        None,
        "state 00 is an empty entry"
    );
}

/// The flush's scan skips quiet interrupts without the full test: none of them, whatever its
/// other flags, may want a list register.
#[test]
fn a_quiet_interrupt_never_wants_a_list_register() {
    use crate::portable::vgic::irq::IrqState;
    use boards::Trigger;
    for bits in 0u32..64 {
        for trigger in [Trigger::Level, Trigger::Edge] {
            let mut irq = IrqState::new(trigger);
            irq.enabled = bits & 1 != 0;
            irq.pending_latch = bits & 2 != 0;
            irq.line = bits & 4 != 0;
            irq.active = bits & 8 != 0;
            irq.group1 = bits & 16 != 0;
            let group_enabled = bits & 32 != 0;
            if irq.is_quiet() {
                assert!(!irq.wants_list_register(group_enabled), "{irq:?}");
            }
        }
    }
}
