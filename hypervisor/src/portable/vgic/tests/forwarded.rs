//! Physical SPIs forwarded by software (device passthrough): no HW bit, an EOI maintenance
//! interrupt, and the physical interrupt handed back once the guest deactivated the virtual one.

use super::super::{GicVersion, LrState, VcpuId};
use super::flow::ready;
use super::{gicd_write, Cpu};

fn released(vgic: &mut super::super::Vgic) -> Vec<u32> {
    let mut out = Vec::new();
    vgic.take_released(|physical| out.push(physical));
    out
}

#[test]
fn a_forwarded_spi_is_listed_without_the_hw_bit_and_asks_for_eoi_maintenance() {
    for version in [GicVersion::V2, GicVersion::V3] {
        let mut vgic = ready(version, 1);
        vgic.map_forwarded(47, 47).expect("map");
        let mut cpu = Cpu::new(0);
        vgic.inject(VcpuId(0), 47).expect("inject");
        cpu.cycle(&mut vgic);
        let lr = cpu.entry(47).expect("listed");
        assert_eq!((lr.state, lr.hw, lr.eoi_maintenance), (LrState::Pending, None, true));
        assert_eq!(released(&mut vgic), [] as [u32; 0], "nothing to deactivate yet");
    }
}

#[test]
fn the_guests_deactivation_hands_the_physical_interrupt_back_once() {
    let mut vgic = ready(GicVersion::V2, 1);
    vgic.map_forwarded(47, 47).expect("map");
    let mut cpu = Cpu::new(0);
    vgic.inject(VcpuId(0), 47).expect("inject");
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.acknowledge(), Some(47));
    cpu.cycle(&mut vgic);
    assert_eq!(released(&mut vgic), [] as [u32; 0], "still active in the guest");
    assert!(vgic.is_active(VcpuId(0), 47) || cpu.entry(47).is_some());
    cpu.deactivate(47);
    // The EOI maintenance interrupt: the hardware invalidated the list register.
    cpu.lrs = [None; 4];
    cpu.cycle(&mut vgic);
    assert_eq!(released(&mut vgic), [47]);
    assert_eq!(released(&mut vgic), [] as [u32; 0], "each deactivation once");
    assert!(!vgic.is_active(VcpuId(0), 47));
    // The line was still high: the physical interrupt comes again and is delivered again.
    vgic.inject(VcpuId(0), 47).expect("inject");
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.entry(47).map(|lr| lr.state), Some(LrState::Pending));
}

#[test]
fn clear_active_by_register_deactivates_the_physical_interrupt_through_effects_only() {
    let mut vgic = ready(GicVersion::V3, 1);
    vgic.map_forwarded(47, 47).expect("map");
    let mut cpu = Cpu::new(0);
    vgic.inject(VcpuId(0), 47).expect("inject");
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.acknowledge(), Some(47));
    let effects = gicd_write(&mut vgic, 0x384, 0, 1 << 15);
    assert_eq!((effects.hw_base, effects.hw_deactivate), (32, 1 << 15));
    cpu.lrs = [None; 4];
    cpu.cycle(&mut vgic);
    assert_eq!(released(&mut vgic), [] as [u32; 0], "not deactivated twice");
}

#[test]
fn enabling_and_retargeting_a_forwarded_spi_reach_the_physical_one() {
    let mut vgic = ready(GicVersion::V2, 2);
    vgic.map_forwarded(47, 47).expect("map");
    let effects = gicd_write(&mut vgic, 0x184, 0, 1 << 15);
    assert_eq!(effects.hw_disable, 1 << 15);
    let effects = gicd_write(&mut vgic, 0x104, 0, 1 << 15);
    assert_eq!(effects.hw_enable, 1 << 15);
    let effects = gicd_write(&mut vgic, 0x82c, 0, 0x0200_0000);
    assert_eq!((effects.hw_base, effects.hw_retarget), (44, 1 << 3));
    assert_eq!(vgic.spi_target(47), Some(VcpuId(1)));
}

#[test]
fn a_private_interrupt_cannot_be_forwarded() {
    let mut vgic = ready(GicVersion::V3, 1);
    assert!(vgic.map_forwarded(27, 27).is_err());
    assert!(vgic.map_forwarded(2000, 2000).is_err());
}
