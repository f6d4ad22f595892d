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

/// `GICD_ICPENDR1` (SPIs 32 to 63) and the bit of SPI 47 in it.
const ICPENDR1: u64 = 0x284;
const SPI_47: u64 = 1 << 15;

/// A partition's vGIC on `version` with SPI 47 passed through as `Delivery::for_gic` does.
fn passed_through(version: GicVersion) -> Box<Vgic> {
    let mut vgic = ready(version, 1);
    Delivery::for_gic(version).map(&mut vgic, 47, 47).expect("map");
    vgic
}

#[test]
fn a_pending_state_cleared_before_the_guest_saw_the_spi_deactivates_the_physical_one() {
    for version in [GicVersion::V3, GicVersion::V2] {
        let mut vgic = passed_through(version);
        // The hypervisor took the physical SPI (it stays active) and injected it; the
        // guest clears the pending state before any list register held it.
        vgic.inject(VcpuId(0), 47).expect("inject");
        let effects = gicd_write(&mut vgic, ICPENDR1, 0, SPI_47);
        assert_eq!((effects.hw_base, effects.hw_deactivate), (32, 1 << 15), "{version:?}");
        assert!(!vgic.is_pending(VcpuId(0), 47) && !vgic.is_active(VcpuId(0), 47));
        let mut cpu = Cpu::new(0);
        cpu.cycle(&mut vgic);
        assert_eq!(cpu.entry(47), None, "nothing left for the guest");
        assert_eq!(released(&mut vgic), [] as [u32; 0], "deactivated once, by the effect");
        // Clearing it again finds nothing to deactivate.
        assert_eq!(gicd_write(&mut vgic, ICPENDR1, 0, SPI_47).hw_deactivate, 0);
        // The device interrupts again: taken, injected, listed.
        vgic.inject(VcpuId(0), 47).expect("inject");
        cpu.cycle(&mut vgic);
        assert_eq!(cpu.entry(47).map(|lr| lr.state), Some(LrState::Pending), "{version:?}");
    }
}

#[test]
fn a_pending_state_cleared_while_a_list_register_holds_the_spi_deactivates_it_at_the_sync() {
    for version in [GicVersion::V3, GicVersion::V2] {
        let mut vgic = passed_through(version);
        let mut cpu = Cpu::new(0);
        vgic.inject(VcpuId(0), 47).expect("inject");
        cpu.cycle(&mut vgic);
        assert_eq!(cpu.entry(47).map(|lr| lr.state), Some(LrState::Pending));
        // Another vCPU (or this one, with its interrupts masked) clears it: the list register
        // may hold an acknowledgement not yet synced, so nothing is deactivated yet.
        assert_eq!(gicd_write(&mut vgic, ICPENDR1, 0, SPI_47).hw_deactivate, 0);
        assert_eq!(released(&mut vgic), [] as [u32; 0]);
        // The sync finds it still only pending: the list register goes, and the physical SPI
        // is the hypervisor's to deactivate, once.
        cpu.cycle(&mut vgic);
        assert_eq!(cpu.entry(47), None, "{version:?}");
        assert_eq!(released(&mut vgic), [47], "{version:?}");
        assert_eq!(released(&mut vgic), [] as [u32; 0]);
        assert!(!vgic.is_pending(VcpuId(0), 47) && !vgic.is_active(VcpuId(0), 47));
        vgic.inject(VcpuId(0), 47).expect("inject");
        cpu.cycle(&mut vgic);
        assert_eq!(cpu.entry(47).map(|lr| lr.state), Some(LrState::Pending), "delivered again");
    }
}

#[test]
fn a_pending_state_cleared_in_list_registers_a_sync_kept_is_found_by_the_next_flush() {
    for version in [GicVersion::V3, GicVersion::V2] {
        let mut vgic = passed_through(version);
        let mut cpu = Cpu::new(0);
        vgic.inject(VcpuId(0), 47).expect("inject");
        cpu.cycle(&mut vgic);
        // An exit that changed nothing: the sync keeps the list registers as they are.
        vgic.sync(cpu.vcpu, &cpu.lrs).expect("sync");
        // The exit was this vCPU's GICD_ICPENDR write.
        assert_eq!(gicd_write(&mut vgic, ICPENDR1, 0, SPI_47).hw_deactivate, 0);
        vgic.flush(cpu.vcpu, &cpu.doorbell, &mut cpu.lrs).expect("flush");
        assert_eq!(cpu.entry(47), None);
        assert_eq!(released(&mut vgic), [47], "{version:?}");
    }
}

#[test]
fn an_spi_the_guest_took_stays_active_when_its_pending_state_is_cleared_and_its_deactivation_reaches_the_gic() {
    for version in [GicVersion::V3, GicVersion::V2] {
        let mut vgic = passed_through(version);
        let mut cpu = Cpu::new(0);
        vgic.inject(VcpuId(0), 47).expect("inject");
        cpu.cycle(&mut vgic);
        assert_eq!(cpu.acknowledge(), Some(47));
        // Clearing the pending state leaves the active state alone (GICD_ICPENDR<n>).
        let effects = gicd_write(&mut vgic, ICPENDR1, 0, SPI_47);
        assert_eq!(effects.hw_deactivate, 0);
        cpu.cycle(&mut vgic);
        assert_eq!(released(&mut vgic), [] as [u32; 0], "the guest has it active");
        assert_eq!(cpu.entry(47).map(|lr| lr.state), Some(LrState::Active), "{version:?}");
        // The guest's EOI: on GICv3 the hardware-mapped list register deactivates the
        // physical SPI; on GICv2 the EOI maintenance interrupt hands it to the hypervisor.
        cpu.deactivate(47);
        if version == GicVersion::V2 {
            cpu.lrs = [None; 4];
        }
        cpu.cycle(&mut vgic);
        let expected: &[u32] = if version == GicVersion::V2 { &[47] } else { &[] };
        assert_eq!(released(&mut vgic), expected, "{version:?}");
        // And nothing is deactivated twice: a later clear-pending finds nothing.
        assert_eq!(gicd_write(&mut vgic, ICPENDR1, 0, SPI_47).hw_deactivate, 0);
        vgic.inject(VcpuId(0), 47).expect("inject");
        cpu.cycle(&mut vgic);
        assert_eq!(cpu.entry(47).map(|lr| lr.state), Some(LrState::Pending));
    }
}

#[test]
fn a_pending_state_the_guest_set_itself_and_clears_deactivates_nothing() {
    for version in [GicVersion::V3, GicVersion::V2] {
        let mut vgic = passed_through(version);
        // GICD_ISPENDR1 then GICD_ICPENDR1: the physical SPI was never taken.
        gicd_write(&mut vgic, 0x204, 0, SPI_47);
        assert!(vgic.is_pending(VcpuId(0), 47));
        assert_eq!(gicd_write(&mut vgic, ICPENDR1, 0, SPI_47).hw_deactivate, 0, "{version:?}");
        let mut cpu = Cpu::new(0);
        gicd_write(&mut vgic, 0x204, 0, SPI_47);
        cpu.cycle(&mut vgic);
        gicd_write(&mut vgic, ICPENDR1, 0, SPI_47);
        cpu.cycle(&mut vgic);
        assert_eq!(released(&mut vgic), [] as [u32; 0], "{version:?}");
    }
}

/// SPI 47, hardware-mapped on GICv3, acknowledged by vCPU 0 and ended by its guest (the list
/// register gone and the physical SPI inactive, with no exit since), then taken again by
/// the CPU it is routed to and injected, before the vCPU's next sync.
fn ended_then_taken_again() -> (Box<Vgic>, Cpu) {
    let mut vgic = passed_through(GicVersion::V3);
    let mut cpu = Cpu::new(0);
    vgic.inject(VcpuId(0), 47).expect("inject");
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.acknowledge(), Some(47));
    cpu.cycle(&mut vgic);
    cpu.deactivate(47);
    vgic.inject(VcpuId(0), 47).expect("inject");
    (vgic, cpu)
}

/// The vCPU runs on another CPU than the one the SPI is routed to (a credit2 pool): the
/// guest's end of interrupt through the hardware-mapped list register deactivates the
/// physical SPI at once, with no exit, so the routed CPU can take it again and inject it
/// before the vCPU's next sync folds the list register back. That sync must not take the
/// old list register's deactivation for the new activation's: the physical SPI is active
/// again, and a pending state the guest then clears before acknowledging it must still
/// deactivate it (before, it stayed active and the device never interrupted again).
#[test]
fn an_spi_taken_again_before_the_sync_of_its_end_of_interrupt_stays_known_active() {
    let (mut vgic, mut cpu) = ended_then_taken_again();
    // The kick makes the vCPU exit.
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.entry(47).map(|lr| lr.state), Some(LrState::Pending));
    assert_eq!(released(&mut vgic), [] as [u32; 0], "the guest has it pending");
    // The guest clears the pending state before acknowledging it: the hypervisor is the
    // only one left to deactivate the physical SPI.
    assert_eq!(gicd_write(&mut vgic, ICPENDR1, 0, SPI_47).hw_deactivate, 0);
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.entry(47), None);
    assert_eq!(released(&mut vgic), [47]);
}

/// As above, but the guest clears the pending state of the new activation before the vCPU's
/// sync has folded the old list register back (the clear arrives while that list register
/// still names the SPI): the sync finds the list register deactivated and the new pending
/// state cleared, and the physical SPI, active since it was taken again, is deactivated.
#[test]
fn an_spi_taken_again_and_cleared_before_the_sync_of_its_end_of_interrupt_is_deactivated() {
    let (mut vgic, mut cpu) = ended_then_taken_again();
    // Another vCPU's GICD_ICPENDR write, before this vCPU exits.
    assert_eq!(gicd_write(&mut vgic, ICPENDR1, 0, SPI_47).hw_deactivate, 0);
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.entry(47), None, "nothing left for the guest");
    assert_eq!(released(&mut vgic), [47]);
    assert!(!vgic.is_pending(VcpuId(0), 47) && !vgic.is_active(VcpuId(0), 47));
    // Delivered again afterwards.
    vgic.inject(VcpuId(0), 47).expect("inject");
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.entry(47).map(|lr| lr.state), Some(LrState::Pending));
}
