//! Passthrough SPIs as `Delivery::for_gic` maps them: hardware-mapped on GICv3 (the guest's
//! deactivation reaches the physical GIC, nothing for the hypervisor to do), forwarded by
//! software on GICv2.

use super::super::{GicVersion, ListRegister, LrState, VcpuId, Vgic};
use super::flow::ready;
use super::{gicd_write, Cpu};
use crate::portable::partition::passthrough::Delivery;

fn released(vgic: &mut Vgic) -> Vec<u32> {
    let mut out = Vec::new();
    vgic.take_released(|physical| out.push(physical));
    out
}

#[test]
fn a_passthrough_spi_is_hardware_mapped_on_gicv3_and_forwarded_on_gicv2() {
    for (version, delivery) in [(GicVersion::V3, Delivery::HardwareMapped), (GicVersion::V2, Delivery::Forwarded)] {
        assert_eq!(Delivery::for_gic(version), delivery);
        let mut vgic = ready(version, 1);
        delivery.map(&mut vgic, 47, 47).expect("map");
        let mut cpu = Cpu::new(0);
        vgic.inject(VcpuId(0), 47).expect("inject");
        cpu.cycle(&mut vgic);
        let lr = cpu.entry(47).expect("listed");
        match version {
            GicVersion::V3 => {
                assert_eq!((lr.state, lr.hw, lr.eoi_maintenance), (LrState::Pending, Some(47), false));
                // HW (bit 61) set, pINTID 47 in bits 44:32, no EOI request.
                let raw = lr.encode_v3();
                assert_eq!((raw >> 61) & 1, 1);
                assert_eq!((raw >> 32) & 0x1fff, 47);
            }
            GicVersion::V2 => assert_eq!((lr.state, lr.hw, lr.eoi_maintenance), (LrState::Pending, None, true)),
        }
    }
}

#[test]
fn a_private_interrupt_cannot_be_passed_through_either_way() {
    for delivery in [Delivery::HardwareMapped, Delivery::Forwarded] {
        let mut vgic = ready(GicVersion::V3, 1);
        assert!(delivery.map(&mut vgic, 27, 27).is_err(), "{delivery:?}");
    }
}

#[test]
fn the_guests_deactivation_of_a_hardware_mapped_spi_leaves_the_hypervisor_nothing_to_do() {
    let mut vgic = ready(GicVersion::V3, 1);
    Delivery::HardwareMapped.map(&mut vgic, 47, 47).expect("map");
    let mut cpu = Cpu::new(0);
    vgic.inject(VcpuId(0), 47).expect("inject");
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.acknowledge(), Some(47));
    let outcome = cpu.cycle(&mut vgic);
    assert!(!outcome.underflow);
    assert_eq!(cpu.entry(47).map(|lr| (lr.state, lr.eoi_maintenance)), Some((LrState::Active, false)));
    // The guest's EOI: the hardware invalidates the list register and deactivates the
    // physical SPI itself.
    cpu.deactivate(47);
    assert_eq!(cpu.entry(47), None);
    cpu.cycle(&mut vgic);
    assert!(!vgic.is_active(VcpuId(0), 47));
    assert_eq!(released(&mut vgic), [] as [u32; 0], "no deactivation left for the hypervisor");
    // The device interrupts again: taken, injected, listed again.
    vgic.inject(VcpuId(0), 47).expect("inject");
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.entry(47).map(|lr| lr.state), Some(LrState::Pending));
}

#[test]
fn a_hardware_mapped_spi_whose_list_register_was_evicted_is_deactivated_by_the_hypervisor() {
    let mut vgic = ready(GicVersion::V3, 1);
    Delivery::HardwareMapped.map(&mut vgic, 47, 47).expect("map");
    let mut cpu = Cpu::new(0);
    vgic.inject(VcpuId(0), 47).expect("inject");
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.acknowledge(), Some(47));
    // Four more urgent interrupts made active by register (GICD_IPRIORITYR8, GICD_ISACTIVER1):
    // five active, four list registers, and 47 is the least urgent.
    gicd_write(&mut vgic, 0x420, 0, 0x1010_1010);
    gicd_write(&mut vgic, 0x304, 0, 0xf);
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.intids(), [32, 33, 34, 35]);
    assert!(vgic.is_active(VcpuId(0), 47));
    // The guest's EOI of 47 finds no list register (`EOIcount` 1): the hypervisor
    // deactivates the physical SPI.
    let effects = vgic.deactivate_unlisted(VcpuId(0), 1).expect("EOIcount");
    assert_eq!((effects.hw_base, effects.hw_deactivate), (47, 1));
    assert_eq!(vgic.hw_mapping(VcpuId(0), 47), Some(47));
    assert!(!vgic.is_active(VcpuId(0), 47));
}

#[test]
fn the_raw_intid_of_a_deactivated_list_register_tells_what_an_eoi_maintenance_was_about() {
    let lr = ListRegister {
        intid: 79,
        priority: 0xa0,
        state: LrState::Pending,
        hw: None,
        group1: true,
        eoi_maintenance: true,
        source: 0,
    };
    // After the guest's deactivation the state field reads 00: invalid, the INTID still there.
    let v3 = lr.encode_v3() & !(0b11 << 62);
    let v2 = u64::from(lr.encode_v2() & !(0b11 << 28));
    assert_eq!(ListRegister::decode_v3(v3), None);
    assert_eq!(ListRegister::raw_intid(GicVersion::V3, v3), 79);
    assert_eq!(ListRegister::raw_intid(GicVersion::V2, v2), 79);
}

#[test]
fn clearing_active_bits_deactivates_the_physical_spi_only_if_the_guest_may_have_it_active() {
    for version in [GicVersion::V3, GicVersion::V2] {
        let mut vgic = ready(version, 1);
        let delivery = Delivery::for_gic(version);
        delivery.map(&mut vgic, 47, 47).expect("map");
        // A guest clearing every active bit at boot (GICD_ICACTIVER1): nothing to deactivate.
        assert_eq!(gicd_write(&mut vgic, 0x384, 0, u32::MAX.into()).hw_deactivate, 0);
        // Taken and injected, not yet seen by the guest: the physical SPI stays active.
        vgic.inject(VcpuId(0), 47).expect("inject");
        assert_eq!(gicd_write(&mut vgic, 0x384, 0, 1 << 15).hw_deactivate, 0);
        // Listed and acknowledged: the clear reaches the physical SPI.
        let mut cpu = Cpu::new(0);
        cpu.cycle(&mut vgic);
        assert_eq!(cpu.acknowledge(), Some(47));
        cpu.cycle(&mut vgic);
        let effects = gicd_write(&mut vgic, 0x384, 0, 1 << 15);
        assert_eq!((effects.hw_base, effects.hw_deactivate), (32, 1 << 15), "{version:?}");
    }
}
