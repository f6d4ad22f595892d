//! Reads of the pending and active registers while list registers hold the interrupt: the
//! reader's own (exact, after its exit's sync) and another running vCPU's (every state they may
//! be in, and a kick for that vCPU).

use super::super::{AccessSize, GicVersion, LrState, VcpuId, VcpuSet, Vgic, GUEST_GICD_BASE, GUEST_GICR_BASE, VIRTUAL_TIMER_PPI};
use super::flow::ready;
use super::{gicd_write, Cpu};

/// `GICD_ISPENDR1` / `GICD_ISACTIVER1` (SPIs 32 to 63) as `vcpu` reads them, with the kicks.
fn spi_word(vgic: &Vgic, register: u64, vcpu: usize) -> (u64, VcpuSet) {
    let (value, effects) = vgic
        .mmio_load(GUEST_GICD_BASE + register + 4, AccessSize::Word, VcpuId(vcpu))
        .expect("valid read");
    (value, effects.kick)
}

const ISPENDR: u64 = 0x200;
const ICPENDR: u64 = 0x280;
const ISACTIVER: u64 = 0x300;
const ICACTIVER: u64 = 0x380;
const SPI: u32 = 40;
const BIT: u64 = 1 << (SPI - 32);

/// The vCPU exits: its list registers are synced from what the guest left in them.
fn exit(vgic: &mut Vgic, cpu: &Cpu) {
    vgic.sync(cpu.vcpu, &cpu.lrs).expect("sync");
}

/// The vCPU enters its guest again: its list registers are filled.
fn enter(vgic: &mut Vgic, cpu: &mut Cpu) {
    vgic.flush(cpu.vcpu, &cpu.doorbell, &mut cpu.lrs).expect("flush");
}

#[test]
fn a_vcpu_reads_its_own_listed_edge_pending_and_its_acknowledge_active() {
    for version in [GicVersion::V2, GicVersion::V3] {
        let mut vgic = ready(version, 1);
        gicd_write(&mut vgic, 0xc08, 0, 0b10 << 16); // SPI 40 edge: the flush moves its latch.
        let mut cpu = Cpu::new(0);
        vgic.inject(VcpuId(0), SPI).expect("inject");
        enter(&mut vgic, &mut cpu);
        assert_eq!(cpu.entry(SPI).map(|lr| lr.state), Some(LrState::Pending));

        // The guest traps on its read before taking it: the exit's sync finds the list
        // registers untouched and keeps them, and the latch lives only there.
        exit(&mut vgic, &cpu);
        assert_eq!(spi_word(&vgic, ISPENDR, 0), (BIT, VcpuSet::EMPTY), "{version:?}: ISPENDR shows the listed edge");
        assert_eq!(spi_word(&vgic, ICPENDR, 0), (BIT, VcpuSet::EMPTY), "{version:?}: so does ICPENDR");
        assert_eq!(spi_word(&vgic, ISACTIVER, 0), (0, VcpuSet::EMPTY), "{version:?}: not acknowledged: not active");

        // It acknowledges, then reads again: active, no longer pending.
        enter(&mut vgic, &mut cpu);
        assert_eq!(cpu.acknowledge(), Some(SPI));
        exit(&mut vgic, &cpu);
        assert_eq!(spi_word(&vgic, ISPENDR, 0), (0, VcpuSet::EMPTY), "{version:?}: taken: not pending");
        assert_eq!(spi_word(&vgic, ICACTIVER, 0), (BIT, VcpuSet::EMPTY), "{version:?}: taken: active");

        // It deactivates: neither.
        enter(&mut vgic, &mut cpu);
        cpu.deactivate(SPI);
        exit(&mut vgic, &cpu);
        assert_eq!((spi_word(&vgic, ISPENDR, 0).0, spi_word(&vgic, ISACTIVER, 0).0), (0, 0), "{version:?}: done");
    }
}

#[test]
fn another_vcpus_listed_interrupt_reads_as_every_state_it_may_be_in_until_that_vcpu_exits() {
    let mut vgic = ready(GicVersion::V2, 2);
    gicd_write(&mut vgic, 0xc08, 0, 0b10 << 16); // SPI 40 edge.
    gicd_write(&mut vgic, 0x828, 0, 0x02); // SPI 40 (byte 8 of ITARGETSR) to vCPU 1.
    let mut other = Cpu::new(1);
    vgic.inject(VcpuId(0), SPI).expect("inject");
    enter(&mut vgic, &mut other);
    assert_eq!(other.entry(SPI).map(|lr| lr.state), Some(LrState::Pending), "vCPU 1 holds it");

    // vCPU 1 runs its guest, which may have taken it by now: vCPU 0 reads it pending and
    // active, and vCPU 1 is to be kicked.
    let kick_1 = VcpuSet(1 << 1);
    assert_eq!(spi_word(&vgic, ISPENDR, 0), (BIT, kick_1), "pending, as listed");
    assert_eq!(spi_word(&vgic, ISACTIVER, 0), (BIT, kick_1), "maybe acknowledged: active");

    // The kick makes vCPU 1 exit; it had not taken it: the sync keeps the list registers as
    // they were, and the read is exact again.
    exit(&mut vgic, &other);
    assert_eq!(spi_word(&vgic, ISPENDR, 0), (BIT, VcpuSet::EMPTY), "still pending");
    assert_eq!(spi_word(&vgic, ISACTIVER, 0), (0, VcpuSet::EMPTY), "exactly: not active");

    // vCPU 1 takes it and exits: active, not pending, whoever reads.
    enter(&mut vgic, &mut other);
    assert_eq!(other.acknowledge(), Some(SPI));
    exit(&mut vgic, &other);
    for reader in [0, 1] {
        assert_eq!(spi_word(&vgic, ISPENDR, reader), (0, VcpuSet::EMPTY), "vCPU {reader}: taken");
        assert_eq!(spi_word(&vgic, ISACTIVER, reader), (BIT, VcpuSet::EMPTY), "vCPU {reader}: active");
    }

    // Running again with it active: it may have ended it, so it still reads active (Linux's
    // `synchronize_irq` waits on this bit), with a kick; after vCPU 1's exit, neither.
    enter(&mut vgic, &mut other);
    assert_eq!(spi_word(&vgic, ISACTIVER, 0), (BIT, kick_1), "perhaps still in its handler");
    other.deactivate(SPI);
    exit(&mut vgic, &other);
    assert_eq!(spi_word(&vgic, ISACTIVER, 0), (0, VcpuSet::EMPTY), "ended");
}

#[test]
fn a_clear_by_register_wins_over_what_a_list_register_still_holds() {
    let mut vgic = ready(GicVersion::V3, 2);
    gicd_write(&mut vgic, 0xc08, 0, 0b10 << 16); // SPI 40 edge.
    // SPI 40 to vCPU 1: GICD_IROUTER40 = affinity 0.0.0.1.
    vgic.mmio_write(GUEST_GICD_BASE + 0x6000 + 8 * u64::from(SPI), AccessSize::Double, VcpuId(0), 1)
        .expect("route");
    let mut other = Cpu::new(1);
    vgic.inject(VcpuId(0), SPI).expect("inject");
    enter(&mut vgic, &mut other);
    gicd_write(&mut vgic, ICPENDR + 4, 0, BIT);
    assert_eq!(spi_word(&vgic, ISPENDR, 0).0, 0, "cleared, though vCPU 1's list register still has it");
    assert_eq!(spi_word(&vgic, ISACTIVER, 0).0, BIT, "vCPU 1 may have taken it before the clear");
    exit(&mut vgic, &other);
    assert_eq!(spi_word(&vgic, ISPENDR, 0).0, 0, "the sync dropped it");
    assert_eq!(spi_word(&vgic, ISACTIVER, 0).0, 0, "untaken");
}

#[test]
fn a_listed_private_interrupt_reads_in_its_redistributor_and_a_v2_sgi_shows_its_source() {
    // GICv3: the virtual timer's PPI, listed for vCPU 0 and kept by an untouched sync, reads
    // pending in its redistributor's GICR_ISPENDR0 (its latch lives in the list register).
    let mut vgic = ready(GicVersion::V3, 1);
    super::enable_private(&mut vgic, 0, VIRTUAL_TIMER_PPI);
    vgic.set_latched(VcpuId(0), VIRTUAL_TIMER_PPI).expect("latch");
    let mut cpu = Cpu::new(0);
    vgic.inject(VcpuId(0), VIRTUAL_TIMER_PPI).expect("timer");
    enter(&mut vgic, &mut cpu);
    exit(&mut vgic, &cpu);
    let ispendr0 = GUEST_GICR_BASE + 0x1_0000 + 0x200;
    let (value, effects) = vgic.mmio_load(ispendr0, AccessSize::Word, VcpuId(0)).expect("read");
    assert_eq!((value, effects.kick), (1 << VIRTUAL_TIMER_PPI, VcpuSet::EMPTY));

    // GICv2: SGI 3 from vCPU 1 to vCPU 0, listed with its source: GICD_SPENDSGIR0 byte 3
    // shows source 1 until vCPU 0 takes it.
    let mut vgic = ready(GicVersion::V2, 2);
    super::enable_private(&mut vgic, 0, 3);
    gicd_write(&mut vgic, 0xf00, 1, (1 << 16) | 3); // GICD_SGIR: SGI 3 to CPU interface 0.
    let mut cpu = Cpu::new(0);
    enter(&mut vgic, &mut cpu);
    assert_eq!(cpu.entry(3).map(|lr| (lr.state, lr.source)), Some((LrState::Pending, 1)));
    exit(&mut vgic, &cpu);
    assert_eq!(super::gicd_read(&vgic, 0xf20, 0), 0b10 << 24, "SGI 3 pending from vCPU 1");
    enter(&mut vgic, &mut cpu);
    assert_eq!(cpu.acknowledge(), Some(3));
    exit(&mut vgic, &cpu);
    assert_eq!(super::gicd_read(&vgic, 0xf20, 0), 0, "taken");
}
