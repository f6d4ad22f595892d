//! The list-register state machine on ordinary flows: delivery, priority, overflow, edge and level.

use super::super::{GicVersion, LrState, VcpuId, VcpuSet, Vgic, VIRTUAL_TIMER_PPI};
use super::{gicd_write, vgic, Cpu};

/// A vGIC with both groups on, SPIs 32 to 63 enabled, group 1, priority 0xa0, routed to vCPU 0.
pub(super) fn ready(version: GicVersion, vcpus: usize) -> Box<Vgic> {
    let mut vgic = vgic(version, vcpus, 32);
    gicd_write(&mut vgic, 0x000, 0, 0b11);
    gicd_write(&mut vgic, 0x084, 0, u32::MAX as u64);
    gicd_write(&mut vgic, 0x104, 0, u32::MAX as u64);
    for word in 0..8 {
        gicd_write(&mut vgic, 0x420 + 4 * word, 0, 0xa0a0_a0a0);
        if version == GicVersion::V2 {
            gicd_write(&mut vgic, 0x820 + 4 * word, 0, 0x0101_0101);
        }
    }
    vgic
}

/// Sets one interrupt's priority through `IPRIORITYR` (GICv2 layout, distributor).
pub(super) fn set_priority(vgic: &mut Vgic, intid: u64, priority: u8) {
    let address = super::super::GUEST_GICD_BASE + 0x400 + intid;
    vgic.mmio_write(
        address,
        super::super::AccessSize::Byte,
        VcpuId(0),
        priority as u64,
    )
    .expect("priority");
}

#[test]
fn pending_enabled_interrupt_reaches_a_list_register() {
    let mut vgic = ready(GicVersion::V3, 1);
    gicd_write(&mut vgic, 0xc08, 0, 0b10 << 16); // SPI 40 edge: no EOI maintenance needed.
    let mut cpu = Cpu::new(0);
    assert_eq!(vgic.inject(VcpuId(0), 40).map(|e| e.kick), Ok(VcpuSet(1)));
    let outcome = cpu.cycle(&mut vgic);
    assert_eq!((outcome.used, outcome.underflow), (1, false));
    let lr = cpu.entry(40).expect("SPI 40 in a list register");
    assert_eq!(
        (lr.state, lr.priority, lr.group1, lr.hw, lr.eoi_maintenance),
        (LrState::Pending, 0xa0, true, None, false)
    );
}

#[test]
fn priority_ordering_picks_the_most_urgent_first() {
    let mut vgic = ready(GicVersion::V2, 1);
    for (intid, priority) in [(33, 0x80), (34, 0x20), (35, 0xa0), (36, 0x20), (37, 0xf0)] {
        set_priority(&mut vgic, intid, priority);
        vgic.inject(VcpuId(0), intid as u32).expect("inject");
    }
    let mut cpu = Cpu::new(0);
    let outcome = cpu.cycle(&mut vgic);
    assert_eq!(cpu.intids(), [34, 36, 33, 35]);
    assert!(
        outcome.underflow,
        "SPI 37 waits: underflow maintenance requested"
    );
    assert_eq!(cpu.acknowledge(), Some(34));
}

#[test]
fn overflow_is_queued_and_refilled_on_underflow() {
    let mut vgic = ready(GicVersion::V3, 1);
    let mut cpu = Cpu::new(0);
    for intid in 40..46 {
        vgic.inject(VcpuId(0), intid).expect("inject");
    }
    let mut delivered = Vec::new();
    let mut outcome = cpu.cycle(&mut vgic);
    assert_eq!((outcome.used, outcome.underflow), (4, true));
    while outcome.used > 0 {
        while let Some(intid) = cpu.acknowledge() {
            delivered.push(intid);
            cpu.deactivate(intid);
        }
        outcome = cpu.cycle(&mut vgic);
    }
    assert_eq!(
        delivered,
        [40, 41, 42, 43, 44, 45],
        "each exactly once, in order"
    );
    assert!(!outcome.underflow);
}

#[test]
fn edge_interrupt_is_consumed_by_acknowledge() {
    let mut vgic = ready(GicVersion::V3, 1);
    gicd_write(&mut vgic, 0xc08, 0, 0b10 << 16); // SPI 40 edge.
    let mut cpu = Cpu::new(0);
    vgic.inject(VcpuId(0), 40).expect("inject");
    vgic.inject(VcpuId(0), 40)
        .expect("a second edge before delivery merges");
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.acknowledge(), Some(40));
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.entry(40).map(|lr| lr.state), Some(LrState::Active));
    assert!(!vgic.is_pending(VcpuId(0), 40));
    cpu.deactivate(40);
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.intids(), [] as [u32; 0]);
    assert!(!vgic.is_active(VcpuId(0), 40));
}

#[test]
fn level_interrupt_pends_again_while_its_line_is_high() {
    let mut vgic = ready(GicVersion::V2, 1);
    let mut cpu = Cpu::new(0);
    vgic.set_level(VcpuId(0), 41, true).expect("assert");
    cpu.cycle(&mut vgic);
    let lr = cpu.entry(41).expect("presented");
    assert!(
        lr.eoi_maintenance,
        "level interrupts ask for an EOI maintenance interrupt"
    );
    assert_eq!(cpu.acknowledge(), Some(41));
    cpu.cycle(&mut vgic);
    assert_eq!(
        cpu.entry(41).map(|lr| lr.state),
        Some(LrState::Active),
        "the line is sampled at deactivation"
    );
    cpu.deactivate(41);
    cpu.cycle(&mut vgic);
    assert_eq!(
        cpu.entry(41).map(|lr| lr.state),
        Some(LrState::Pending),
        "still high: pending again"
    );
    assert_eq!(cpu.acknowledge(), Some(41));
    vgic.set_level(VcpuId(0), 41, false)
        .expect("the guest's handler cleared the device");
    cpu.deactivate(41);
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.intids(), [] as [u32; 0]);
}

#[test]
fn level_interrupt_dropped_before_acknowledge_is_withdrawn() {
    let mut vgic = ready(GicVersion::V3, 1);
    let mut cpu = Cpu::new(0);
    vgic.set_level(VcpuId(0), 41, true).expect("assert");
    cpu.cycle(&mut vgic);
    let effects = vgic.set_level(VcpuId(0), 41, false).expect("deassert");
    assert!(effects.kick.contains(VcpuId(0)), "the owner is kicked");
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.intids(), [] as [u32; 0]);
}

#[test]
fn edge_configured_input_pends_on_rising_levels_only() {
    let mut vgic = ready(GicVersion::V3, 1);
    gicd_write(&mut vgic, 0xc08, 0, 0b10 << 18); // SPI 41 edge.
    vgic.set_level(VcpuId(0), 41, true).expect("rise");
    let mut cpu = Cpu::new(0);
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.acknowledge(), Some(41));
    cpu.deactivate(41);
    vgic.set_level(VcpuId(0), 41, true)
        .expect("still high: no edge");
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.intids(), [] as [u32; 0]);
}

#[test]
fn disabled_interrupt_or_group_is_never_presented() {
    let mut vgic = ready(GicVersion::V3, 1);
    let mut cpu = Cpu::new(0);
    gicd_write(&mut vgic, 0x184, 0, 1 << 10); // Disable SPI 42.
    vgic.inject(VcpuId(0), 42).expect("inject");
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.intids(), [] as [u32; 0]);
    assert!(
        vgic.is_pending(VcpuId(0), 42),
        "a disabled interrupt stays pending"
    );
    vgic.sync(VcpuId(0), &cpu.lrs).expect("sync");
    gicd_write(&mut vgic, 0x000, 0, 0b01); // Group 1 off.
    let effects = gicd_write(&mut vgic, 0x104, 0, 1 << 10);
    assert!(effects.kick.is_empty(), "enabled but its group is off");
    vgic.flush(VcpuId(0), &cpu.doorbell, &mut cpu.lrs)
        .expect("flush");
    assert_eq!(cpu.intids(), [] as [u32; 0]);
    vgic.sync(VcpuId(0), &cpu.lrs).expect("sync");
    gicd_write(&mut vgic, 0x000, 0, 0b11);
    vgic.flush(VcpuId(0), &cpu.doorbell, &mut cpu.lrs)
        .expect("flush");
    assert_eq!(cpu.intids(), [42]);
}

#[test]
fn doorbell_raised_elsewhere_is_drained_at_flush() {
    let mut vgic = ready(GicVersion::V3, 1);
    let mut cpu = Cpu::new(0);
    assert!(cpu.doorbell.raise(43));
    assert!(!cpu.doorbell.raise(43), "already raised");
    assert!(!cpu.doorbell.raise(5000), "out of range");
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.intids(), [43]);
    assert!(!cpu.doorbell.is_raised());
}

#[test]
fn a_hardware_mapped_ppi_carries_the_hw_bit() {
    let mut vgic = ready(GicVersion::V3, 2);
    super::enable_private(&mut vgic, 1, VIRTUAL_TIMER_PPI);
    vgic.map_hw(VcpuId(1), VIRTUAL_TIMER_PPI, 27).expect("map");
    assert_eq!(vgic.hw_mapping(VcpuId(1), VIRTUAL_TIMER_PPI), Some(27));
    assert_eq!(
        vgic.hw_mapping(VcpuId(0), VIRTUAL_TIMER_PPI),
        None,
        "PPIs are per vCPU"
    );
    let effects = vgic
        .inject(VcpuId(1), VIRTUAL_TIMER_PPI)
        .expect("timer fired");
    assert_eq!(effects.kick, VcpuSet(0b10));
    let mut cpu = Cpu::new(1);
    cpu.cycle(&mut vgic);
    let lr = cpu.entry(VIRTUAL_TIMER_PPI).expect("timer presented");
    assert_eq!(
        (lr.hw, lr.eoi_maintenance, lr.state),
        (Some(27), false, LrState::Pending)
    );
    assert_eq!(lr.encode_v3() >> 61 & 1, 1, "HW bit set");
}

/// The virtual timer as the hypervisor delivers it: the guest configures PPI 27 level-triggered
/// (as Linux does), the hypervisor masks the timer when it fires and injects one latched event.
/// The latch is consumed by the list register; deactivation needs no maintenance interrupt and
/// nothing is presented again until the timer fires again, even while it is still active.
#[test]
fn latched_virtual_timer_is_one_event_per_firing() {
    for version in [GicVersion::V2, GicVersion::V3] {
        let mut vgic = ready(version, 1);
        super::enable_private(&mut vgic, 0, VIRTUAL_TIMER_PPI);
        vgic.set_latched(VcpuId(0), VIRTUAL_TIMER_PPI).expect("latch");
        let mut cpu = Cpu::new(0);
        cpu.cycle(&mut vgic);
        assert_eq!(cpu.intids(), [] as [u32; 0], "{version:?}: nothing before it fires");

        vgic.inject(VcpuId(0), VIRTUAL_TIMER_PPI).expect("timer fired");
        cpu.cycle(&mut vgic);
        let lr = cpu.entry(VIRTUAL_TIMER_PPI).expect("timer presented");
        assert_eq!(
            (lr.hw, lr.eoi_maintenance, lr.state),
            (None, false, LrState::Pending),
            "{version:?}: a plain pending entry, no maintenance"
        );
        let latch = vgic.irq(VcpuId(0), VIRTUAL_TIMER_PPI).map(|irq| irq.pending_latch);
        assert_eq!(latch, Some(false), "{version:?}: latch consumed");
        assert!(vgic.is_pending(VcpuId(0), VIRTUAL_TIMER_PPI), "{version:?}: it reads pending all the same: a list register holds it");

        assert_eq!(cpu.acknowledge(), Some(VIRTUAL_TIMER_PPI));
        // The guest re-arms an expired deadline inside its handler: it fires again at once.
        vgic.inject(VcpuId(0), VIRTUAL_TIMER_PPI).expect("fired again");
        cpu.cycle(&mut vgic);
        let lr = cpu.entry(VIRTUAL_TIMER_PPI).expect("still listed");
        assert_eq!(lr.state, LrState::PendingActive, "{version:?}: the new event waits behind the active one");
        cpu.deactivate(VIRTUAL_TIMER_PPI);
        assert_eq!(cpu.acknowledge(), Some(VIRTUAL_TIMER_PPI), "{version:?}: second event taken");
        cpu.deactivate(VIRTUAL_TIMER_PPI);
        cpu.cycle(&mut vgic);
        assert_eq!(cpu.intids(), [] as [u32; 0], "{version:?}: two firings, two events, then none");
    }
}

#[test]
fn ipi_between_vcpus_on_different_cores() {
    let mut vgic = ready(GicVersion::V3, 2);
    super::enable_private(&mut vgic, 1, 1);
    let mut sender = Cpu::new(0);
    let mut receiver = Cpu::new(1);
    sender.cycle(&mut vgic);
    receiver.cycle(&mut vgic);
    let effects = vgic
        .send_sgi_v3(VcpuId(0), (1 << 24) | 0b10)
        .expect("SGI 1 to vCPU 1");
    assert_eq!(effects.kick, VcpuSet(0b10));
    receiver.cycle(&mut vgic);
    assert_eq!(receiver.intids(), [1]);
    assert_eq!(sender.intids(), [] as [u32; 0]);
}

/// The common exit (a hypercall, a device register) changes no interrupt state: the sync keeps
/// the list registers and the flush leaves them; any change since, or a guest acknowledge,
/// takes the whole path again, from the list registers the hardware still holds.
#[test]
fn an_exit_that_changes_nothing_leaves_the_list_registers_alone() {
    for version in [GicVersion::V2, GicVersion::V3] {
        let mut vgic = ready(version, 2);
        super::enable_private(&mut vgic, 0, VIRTUAL_TIMER_PPI);
        let mut cpu = Cpu::new(0);
        vgic.inject(VcpuId(0), 40).expect("spi");
        cpu.cycle(&mut vgic);
        assert_eq!(cpu.intids(), [40]);

        // Nothing changed: the flush says so and fills nothing.
        vgic.sync(cpu.vcpu, &cpu.lrs).expect("sync");
        let mut untouched = [None; 4];
        let outcome = vgic.flush(cpu.vcpu, &cpu.doorbell, &mut untouched).expect("flush");
        assert!(outcome.unchanged, "{version:?}");
        assert_eq!(untouched, [None; 4], "{version:?}: nothing written");

        // A change after a kept sync: the flush folds the kept registers back first.
        vgic.sync(cpu.vcpu, &cpu.lrs).expect("sync");
        vgic.inject(VcpuId(0), VIRTUAL_TIMER_PPI).expect("timer");
        let outcome = vgic.flush(cpu.vcpu, &cpu.doorbell, &mut cpu.lrs).expect("flush");
        assert!(!outcome.unchanged);
        let mut listed = cpu.intids();
        listed.sort();
        assert_eq!(listed, [VIRTUAL_TIMER_PPI, 40], "{version:?}");

        // The guest acknowledges one: the whole sync runs and sees it active.
        assert_eq!(cpu.acknowledge(), Some(VIRTUAL_TIMER_PPI));
        vgic.sync(cpu.vcpu, &cpu.lrs).expect("sync");
        assert!(vgic.is_active(VcpuId(0), VIRTUAL_TIMER_PPI), "{version:?}");
        let outcome = vgic.flush(cpu.vcpu, &cpu.doorbell, &mut cpu.lrs).expect("flush");
        assert!(!outcome.unchanged);

        // A doorbell rung elsewhere is never missed by the fast path.
        vgic.sync(cpu.vcpu, &cpu.lrs).expect("sync");
        assert!(cpu.doorbell.raise(41));
        let outcome = vgic.flush(cpu.vcpu, &cpu.doorbell, &mut cpu.lrs).expect("flush");
        assert!(!outcome.unchanged);
        assert!(cpu.intids().contains(&41), "{version:?}");
    }
}

/// A vCPU that leaves its CPU with list registers a sync kept (another vCPU's go in there):
/// releasing folds them back, so its next flush, on any CPU, lists them all again instead of
/// trusting hardware that now holds someone else's.
#[test]
fn a_vcpu_switched_out_gets_every_list_register_again() {
    for version in [GicVersion::V2, GicVersion::V3] {
        let mut vgic = ready(version, 2);
        super::enable_private(&mut vgic, 0, VIRTUAL_TIMER_PPI);
        let mut cpu = Cpu::new(0);
        vgic.inject(VcpuId(0), VIRTUAL_TIMER_PPI).expect("timer");
        cpu.cycle(&mut vgic);
        assert_eq!(cpu.intids(), [VIRTUAL_TIMER_PPI]);
        vgic.sync(cpu.vcpu, &cpu.lrs).expect("sync keeps the registers");

        vgic.release_list_registers(cpu.vcpu).expect("release");
        assert!(vgic.is_pending(VcpuId(0), VIRTUAL_TIMER_PPI), "{version:?}: the model holds it again");
        let mut elsewhere = [None; 4];
        let outcome = vgic.flush(cpu.vcpu, &cpu.doorbell, &mut elsewhere).expect("flush");
        assert!(!outcome.unchanged, "{version:?}: not the fast path");
        assert_eq!(elsewhere.iter().flatten().map(|lr| lr.intid).collect::<Vec<_>>(), [VIRTUAL_TIMER_PPI], "{version:?}");

        // Releasing registers a full sync already folded back changes nothing.
        vgic.sync(cpu.vcpu, &[None; 4]).expect("the guest took it meanwhile");
        vgic.release_list_registers(cpu.vcpu).expect("release again");
        assert!(vgic.release_list_registers(VcpuId(7)).is_err(), "{version:?}: an unknown vCPU is refused");
    }
}
