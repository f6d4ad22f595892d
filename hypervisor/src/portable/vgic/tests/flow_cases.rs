//! The list-register cases that stall guests when they are wrong: re-pending while active, an
//! interrupt disabled while active or while in a list register, overflow with active interrupts,
//! state changed by another vCPU, hardware-mapped interrupts and GICv2 SGI sources.

use super::super::{GicVersion, LrState, VcpuId, VcpuSet, VgicError};
use super::flow::{ready, set_priority};
use super::{enable_private, gicd_read, gicd_write, Cpu};

#[test]
fn re_pending_while_active_becomes_pending_and_active() {
    let mut vgic = ready(GicVersion::V3, 1);
    gicd_write(&mut vgic, 0xc08, 0, 0b10 << 16); // SPI 40 edge.
    let mut cpu = Cpu::new(0);
    vgic.inject(VcpuId(0), 40).expect("inject");
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.acknowledge(), Some(40));
    let effects = vgic
        .inject(VcpuId(0), 40)
        .expect("fires again while the guest handles it");
    assert!(effects.kick.contains(VcpuId(0)));
    cpu.cycle(&mut vgic);
    assert_eq!(
        cpu.intids(),
        [40],
        "one list register, never two for one INTID"
    );
    assert_eq!(
        cpu.entry(40).map(|lr| lr.state),
        Some(LrState::PendingActive)
    );
    cpu.deactivate(40);
    assert_eq!(
        cpu.acknowledge(),
        Some(40),
        "the second edge is delivered after deactivation"
    );
    cpu.deactivate(40);
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.intids(), [] as [u32; 0]);
    assert!(!vgic.is_pending(VcpuId(0), 40) && !vgic.is_active(VcpuId(0), 40));
}

#[test]
fn interrupt_disabled_while_active_keeps_its_list_register_until_deactivated() {
    let mut vgic = ready(GicVersion::V2, 1);
    let mut cpu = Cpu::new(0);
    vgic.inject(VcpuId(0), 44).expect("inject");
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.acknowledge(), Some(44));
    // The guest's handler disables it (a trapped ICENABLER write): exit, sync, emulate, flush.
    vgic.sync(VcpuId(0), &cpu.lrs).expect("sync");
    gicd_write(&mut vgic, 0x184, 0, 1 << 12);
    vgic.inject(VcpuId(0), 44)
        .expect("fires again while disabled");
    vgic.flush(VcpuId(0), &cpu.doorbell, &mut cpu.lrs)
        .expect("flush");
    assert_eq!(
        cpu.entry(44).map(|lr| lr.state),
        Some(LrState::Active),
        "active only, pending withheld"
    );
    cpu.deactivate(44);
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.intids(), [] as [u32; 0]);
    assert!(!vgic.is_active(VcpuId(0), 44));
    assert!(vgic.is_pending(VcpuId(0), 44));
    gicd_write(&mut vgic, 0x104, 0, 1 << 12);
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.entry(44).map(|lr| lr.state), Some(LrState::Pending));
}

#[test]
fn interrupt_disabled_by_another_vcpu_while_in_a_list_register_is_withdrawn() {
    let mut vgic = ready(GicVersion::V3, 2);
    let mut cpu = Cpu::new(0);
    vgic.inject(VcpuId(0), 45).expect("inject");
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.entry(45).map(|lr| lr.state), Some(LrState::Pending));
    let effects = gicd_write(&mut vgic, 0x184, 1, 1 << 13);
    assert_eq!(effects.kick, VcpuSet(1), "vCPU 0 holds it: kicked");
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.intids(), [] as [u32; 0]);
    assert!(
        vgic.is_pending(VcpuId(0), 45),
        "the pending state came back from the list register"
    );
    gicd_write(&mut vgic, 0x104, 1, 1 << 13);
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.intids(), [45]);
}

#[test]
fn active_interrupts_keep_their_list_registers_when_more_are_pending() {
    let mut vgic = ready(GicVersion::V3, 1);
    let mut cpu = Cpu::new(0);
    // Four nested interrupts, each more urgent than the last, all acknowledged.
    for (intid, priority) in [(50u32, 0xc0u8), (51, 0x80), (52, 0x40), (53, 0x00)] {
        set_priority(&mut vgic, intid as u64, priority);
        vgic.inject(VcpuId(0), intid).expect("inject");
        cpu.cycle(&mut vgic);
        assert_eq!(cpu.acknowledge(), Some(intid));
    }
    set_priority(&mut vgic, 54, 0x00);
    vgic.inject(VcpuId(0), 54)
        .expect("inject a more urgent one");
    let outcome = cpu.cycle(&mut vgic);
    assert_eq!(cpu.intids(), [53, 52, 51, 50], "actives are never evicted");
    assert!(cpu
        .lrs
        .iter()
        .flatten()
        .all(|lr| lr.state == LrState::Active));
    assert!(outcome.underflow);
    cpu.deactivate(53);
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.intids(), [52, 51, 50, 54]);
}

#[test]
fn clear_pending_from_another_vcpu_wins_over_the_list_register() {
    let mut vgic = ready(GicVersion::V3, 2);
    let mut cpu = Cpu::new(0);
    gicd_write(&mut vgic, 0xc08, 0, 0b10 << 28); // SPI 46 edge.
    vgic.inject(VcpuId(0), 46).expect("inject");
    cpu.cycle(&mut vgic);
    let effects = gicd_write(&mut vgic, 0x284, 1, 1 << 14);
    assert_eq!(effects.kick, VcpuSet(1));
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.intids(), [] as [u32; 0]);
    assert_eq!(gicd_read(&vgic, 0x204, 1) & (1 << 14), 0);
}

#[test]
fn clear_active_of_a_hardware_mapped_interrupt_deactivates_the_physical_one() {
    let mut vgic = ready(GicVersion::V3, 2);
    vgic.map_hw(VcpuId(0), 47, 79).expect("map");
    let mut cpu = Cpu::new(0);
    vgic.inject(VcpuId(0), 47).expect("inject");
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.acknowledge(), Some(47));
    let effects = gicd_write(&mut vgic, 0x384, 1, 1 << 15);
    assert_eq!(
        (effects.hw_base, effects.hw_deactivate, effects.kick),
        (32, 1 << 15, VcpuSet(1))
    );
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.intids(), [] as [u32; 0]);
    assert!(!vgic.is_active(VcpuId(0), 47));
}

#[test]
fn hardware_mapped_interrupt_is_never_pending_and_active_in_a_list_register() {
    let mut vgic = ready(GicVersion::V3, 1);
    vgic.map_hw(VcpuId(0), 48, 80).expect("map");
    let mut cpu = Cpu::new(0);
    vgic.inject(VcpuId(0), 48).expect("inject");
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.acknowledge(), Some(48));
    gicd_write(&mut vgic, 0x208, 0, 1 << 16); // Software sets it pending (ISPENDR1).
    cpu.cycle(&mut vgic);
    let lr = cpu.entry(48).expect("still held");
    assert_eq!((lr.state, lr.hw), (LrState::Active, Some(80)));
}

#[test]
fn enabling_a_hardware_mapped_interrupt_enables_the_physical_one() {
    let mut vgic = ready(GicVersion::V2, 1);
    vgic.map_hw(VcpuId(0), 48, 80).expect("map");
    let effects = gicd_write(&mut vgic, 0x184, 0, 1 << 16 | 1 << 17);
    assert_eq!(
        (effects.hw_base, effects.hw_disable),
        (32, 1 << 16),
        "only the mapped one"
    );
    let effects = gicd_write(&mut vgic, 0x104, 0, 1 << 16);
    assert_eq!(effects.hw_enable, 1 << 16);
    let effects = gicd_write(&mut vgic, 0x830, 0, 0x0000_0002);
    assert_eq!(
        (effects.hw_base, effects.hw_retarget),
        (48, 1),
        "ITARGETSR of SPI 48 changed"
    );
    assert_eq!(vgic.hw_mapping(VcpuId(0), 48), Some(80));
}

#[test]
fn retargeted_interrupt_moves_to_its_new_vcpu() {
    let mut vgic = ready(GicVersion::V2, 2);
    let (mut first, mut second) = (Cpu::new(0), Cpu::new(1));
    vgic.inject(VcpuId(0), 49).expect("inject");
    first.cycle(&mut vgic);
    assert_eq!(first.intids(), [49]);
    let effects = gicd_write(&mut vgic, 0x830, 1, 0x0000_0200);
    assert_eq!(effects.kick, VcpuSet(0b11), "old owner and new target");
    second.cycle(&mut vgic);
    assert_eq!(
        second.intids(),
        [] as [u32; 0],
        "still held by vCPU 0 until its sync"
    );
    let effects = vgic.sync(VcpuId(0), &first.lrs).expect("sync");
    assert_eq!(effects.kick, VcpuSet(0b10));
    vgic.flush(VcpuId(0), &first.doorbell, &mut first.lrs)
        .expect("flush");
    assert_eq!(first.intids(), [] as [u32; 0]);
    second.cycle(&mut vgic);
    assert_eq!(second.intids(), [49]);
}

#[test]
fn gicv2_sgi_sources_are_delivered_one_at_a_time() {
    let mut vgic = ready(GicVersion::V2, 3);
    enable_private(&mut vgic, 2, 3);
    gicd_write(&mut vgic, 0xf00, 0, (1 << 18) | 3);
    gicd_write(&mut vgic, 0xf00, 1, (1 << 18) | 3);
    let mut cpu = Cpu::new(2);
    cpu.cycle(&mut vgic);
    let lr = cpu.entry(3).expect("SGI 3");
    assert_eq!(
        (lr.source, lr.eoi_maintenance),
        (0, true),
        "source 0 first, another one waits"
    );
    assert_eq!(cpu.acknowledge(), Some(3));
    cpu.deactivate(3);
    cpu.cycle(&mut vgic);
    let lr = cpu.entry(3).expect("SGI 3 again");
    assert_eq!(
        (lr.source, lr.state, lr.eoi_maintenance),
        (1, LrState::Pending, false)
    );
    assert_eq!(lr.encode_v2() >> 10 & 0x7, 1, "GICH_LR.CPUID");
}

#[test]
fn flush_twice_without_sync_is_refused() {
    let mut vgic = ready(GicVersion::V3, 1);
    let mut cpu = Cpu::new(0);
    vgic.inject(VcpuId(0), 40).expect("inject");
    vgic.flush(VcpuId(0), &cpu.doorbell, &mut cpu.lrs)
        .expect("flush");
    assert_eq!(
        vgic.flush(VcpuId(0), &cpu.doorbell, &mut cpu.lrs),
        Err(VgicError::FlushWithoutSync { vcpu: VcpuId(0) })
    );
    let mut too_many = [None; 17];
    vgic.sync(VcpuId(0), &cpu.lrs).expect("sync");
    assert_eq!(
        vgic.flush(VcpuId(0), &cpu.doorbell, &mut too_many),
        Err(VgicError::TooManyListRegisters {
            requested: 17,
            max: 16
        })
    );
}

#[test]
fn active_interrupt_stays_on_the_vcpu_that_acknowledged_it_when_rerouted() {
    let mut vgic = ready(GicVersion::V2, 2);
    gicd_write(&mut vgic, 0xc0c, 0, 0b10); // SPI 48 edge.
    let (mut first, mut second) = (Cpu::new(0), Cpu::new(1));
    vgic.inject(VcpuId(0), 48).expect("inject");
    first.cycle(&mut vgic);
    assert_eq!(first.acknowledge(), Some(48));
    // Linux moves the interrupt's affinity while vCPU 0 still handles it.
    gicd_write(&mut vgic, 0x830, 0, 0x02);
    first.cycle(&mut vgic);
    second.cycle(&mut vgic);
    assert_eq!(
        first.entry(48).map(|lr| lr.state),
        Some(LrState::Active),
        "the deactivation must find it"
    );
    assert_eq!(second.intids(), [] as [u32; 0]);
    vgic.inject(VcpuId(0), 48)
        .expect("fires again while active");
    first.cycle(&mut vgic);
    second.cycle(&mut vgic);
    assert_eq!(
        first.entry(48).map(|lr| lr.state),
        Some(LrState::PendingActive)
    );
    first.deactivate(48);
    assert_eq!(first.acknowledge(), Some(48));
    first.deactivate(48);
    first.cycle(&mut vgic);
    vgic.inject(VcpuId(0), 48)
        .expect("fires after deactivation");
    first.cycle(&mut vgic);
    second.cycle(&mut vgic);
    assert_eq!(
        (first.intids(), second.intids()),
        (vec![], vec![48]),
        "now delivered to the new target"
    );
}

#[test]
fn deactivation_of_an_interrupt_outside_the_list_registers_is_counted_back() {
    let mut vgic = ready(GicVersion::V3, 1);
    let mut cpu = Cpu::new(0);
    for (intid, priority) in [(50u32, 0xc0u8), (51, 0x80), (52, 0x40), (53, 0x00)] {
        set_priority(&mut vgic, intid as u64, priority);
        vgic.inject(VcpuId(0), intid).expect("inject");
        cpu.cycle(&mut vgic);
        assert_eq!(cpu.acknowledge(), Some(intid));
    }
    // A fifth active interrupt, made active by register, has no list register left.
    set_priority(&mut vgic, 55, 0xe0);
    vgic.sync(VcpuId(0), &cpu.lrs).expect("sync");
    gicd_write(&mut vgic, 0x304, 0, 1 << 23);
    vgic.flush(VcpuId(0), &cpu.doorbell, &mut cpu.lrs)
        .expect("flush");
    assert_eq!(cpu.intids(), [53, 52, 51, 50]);
    for intid in [53, 52, 51, 50] {
        cpu.deactivate(intid);
    }
    // The guest then EOIs SPI 55 without an exit: the hardware counts it.
    let effects = vgic.deactivate_unlisted(VcpuId(0), 2).expect("EOIcount");
    assert!(effects.is_empty());
    assert!(!vgic.is_active(VcpuId(0), 55));
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.intids(), [] as [u32; 0]);
    assert!((50..56).all(|intid| !vgic.is_active(VcpuId(0), intid)));
}
