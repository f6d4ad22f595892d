//! The stirred bitmaps (`Vgic::spi_stirred`, `VcpuState::stirred`) against a full scan: after
//! random register writes, injections, line changes, SGIs, routing changes and guest
//! acknowledgements and deactivations, every interrupt that is not quiet has its bit, each
//! flush chooses exactly what the same flush would choose visiting every interrupt,
//! `has_listable` says beforehand whether it will list anything, and a private interrupt
//! concerns its own vCPU only.

use super::super::irq::{IrqState, SPI_FIRST};
use super::super::state::SPI_WORDS;
use super::super::{GUEST_GICR_BASE, GUEST_GICR_STRIDE};
use super::*;

use crate::portable::test_rng::Rng;

/// One bit most of the time, any pattern sometimes.
fn mask(rng: &mut Rng) -> u64 {
    if rng.below(4) == 0 {
        rng.word() & 0xffff_ffff
    } else {
        1 << rng.below(32)
    }
}

const VCPUS: usize = 3;
const SPIS: usize = 96;

/// Every interrupt of the partition as `(vcpu, intid, state)`: each vCPU's private ones, then
/// the implemented SPIs once (as vCPU 0 sees them).
fn every_irq(vgic: &Vgic) -> Vec<(usize, u32, IrqState)> {
    let mut all = Vec::new();
    for vcpu in 0..vgic.vcpu_count() {
        for intid in 0..SPI_FIRST {
            all.push((vcpu, intid, vgic.vcpus[vcpu].private[intid as usize]));
        }
    }
    for spi in 0..vgic.spi_count() {
        all.push((0, SPI_FIRST + spi as u32, vgic.spis[spi]));
    }
    all
}

fn stirred(vgic: &Vgic, vcpu: usize, intid: u32) -> bool {
    if intid < SPI_FIRST {
        vgic.vcpus[vcpu].stirred & (1 << intid) != 0
    } else {
        let spi = (intid - SPI_FIRST) as usize;
        let word = spi / 32;
        vgic.spi_stirred[word] & (1 << (spi % 32)) != 0 && vgic.spi_stirred_words & (1 << word) != 0
    }
}

/// Invariants: an interrupt that is not quiet is stirred; a private interrupt concerns no
/// vCPU but its own (`Vgic::interested`), which the sync's fold and the timer's injection at
/// an interrupt exit rely on to tell nobody else.
fn check_invariant(vgic: &Vgic, step: usize) {
    for (vcpu, intid, irq) in every_irq(vgic) {
        assert!(
            irq.is_quiet() || stirred(vgic, vcpu, intid),
            "step {step}: INTID {intid} (vcpu {vcpu}) is {irq:?} but not stirred"
        );
        if intid < SPI_FIRST {
            let others = vgic.interested(VcpuId(vcpu), intid).without(VcpuId(vcpu));
            assert!(others.is_empty(), "step {step}: private INTID {intid} of vcpu {vcpu} concerns vCPUs {others:?}: {irq:?}");
        }
    }
    for word in 0..SPI_WORDS {
        assert!(
            vgic.spi_stirred[word] == 0 || vgic.spi_stirred_words & (1 << word) != 0,
            "step {step}: SPI word {word} has bits but no summary bit"
        );
    }
}

/// The same vGIC with every interrupt stirred: its flush visits all of them, as before the bitmaps.
fn full_scan_twin(vgic: &Vgic) -> Box<Vgic> {
    let mut twin = Box::new(vgic.clone());
    for vcpu in 0..VCPUS {
        twin.vcpus[vcpu].stirred = u32::MAX;
    }
    for spi in 0..twin.spi_count() {
        twin.spi_stirred[spi / 32] |= 1 << (spi % 32);
        twin.spi_stirred_words |= 1 << (spi / 32);
    }
    twin
}

/// Every field but the bitmaps is equal.
fn assert_same_state(a: &Vgic, b: &Vgic, step: usize) {
    assert_eq!(a.spis[..], b.spis[..], "step {step}: SPIs differ from the full scan's");
    for vcpu in 0..VCPUS {
        let (x, y) = (&a.vcpus[vcpu], &b.vcpus[vcpu]);
        assert_eq!(x.private, y.private, "step {step}: vcpu {vcpu}'s private interrupts");
        assert_eq!(x.shadow, y.shadow, "step {step}: vcpu {vcpu}'s shadow");
        assert_eq!(
            (x.shadow_len, x.flushed_at, x.kept),
            (y.shadow_len, y.flushed_at, y.kept),
            "step {step}: vcpu {vcpu}'s list-register bookkeeping"
        );
    }
    assert_eq!(
        (a.changes, a.raised, a.released, a.any_released),
        (b.changes, b.raised, b.released, b.any_released),
        "step {step}: counters"
    );
}

/// Writes a word of the interrupt block for `intid`'s 32 (SGIs and PPIs through the GICv3
/// redistributor of `vcpu`, or GICv2's banked distributor).
fn bank_write(vgic: &mut Vgic, offset: u64, intid: u32, vcpu: usize, value: u64) {
    let word = u64::from(intid / 32) * 4;
    let address = if intid < SPI_FIRST && vgic.version() == GicVersion::V3 {
        GUEST_GICR_BASE + vcpu as u64 * GUEST_GICR_STRIDE + 0x1_0000 + offset
    } else {
        GUEST_GICD_BASE + offset + word
    };
    vgic.mmio_write(address, AccessSize::Word, VcpuId(vcpu), value)
        .expect("a valid bank write");
}

/// The guest on a vCPU between its flush and its sync: acknowledges or deactivates.
fn guest_acts(rng: &mut Rng, cpu: &mut Cpu) {
    for _ in 0..rng.below(3) {
        match rng.below(3) {
            0 => {
                cpu.acknowledge();
            }
            1 => {
                let active: Vec<u32> = cpu
                    .lrs
                    .iter()
                    .flatten()
                    .filter(|lr| lr.state.is_active())
                    .map(|lr| lr.intid)
                    .collect();
                if !active.is_empty() {
                    let intid = active[rng.below(active.len() as u64) as usize];
                    cpu.deactivate(intid);
                }
            }
            _ => {}
        }
    }
}

fn run(version: GicVersion, seed: u64, steps: usize) {
    let mut rng = Rng(seed);
    let mut vgic = vgic(version, VCPUS, SPIS);
    let mut cpus: Vec<Cpu> = (0..VCPUS).map(Cpu::new).collect();
    let mut in_guest = [false; VCPUS];
    let limit = SPI_FIRST + SPIS as u32;
    gicd_write(&mut vgic, 0x0, 0, 0x3);
    vgic.set_latched(VcpuId(0), 27).expect("PPI 27");
    vgic.map_forwarded(SPI_FIRST + 5, 80).expect("a forwarded SPI");
    for step in 0..steps {
        let vcpu = rng.below(VCPUS as u64) as usize;
        let intid = match rng.below(3) {
            0 => rng.below(u64::from(SPI_FIRST)) as u32,
            _ => rng.below(u64::from(limit)) as u32,
        };
        match rng.below(16) {
            0 => bank_write(&mut vgic, 0x080, intid, vcpu, mask(&mut rng) | mask(&mut rng)),
            1 => bank_write(&mut vgic, 0x100, intid, vcpu, mask(&mut rng)),
            2 => bank_write(&mut vgic, 0x180, intid, vcpu, mask(&mut rng)),
            3 => bank_write(&mut vgic, 0x200, intid, vcpu, mask(&mut rng)),
            4 => bank_write(&mut vgic, 0x280, intid, vcpu, mask(&mut rng)),
            5 => bank_write(&mut vgic, 0x300, intid, vcpu, mask(&mut rng)),
            6 => bank_write(&mut vgic, 0x380, intid, vcpu, mask(&mut rng)),
            7 => {
                // ICFGR: two bits per interrupt, 16 a word.
                let offset = 0xc00 + u64::from(intid / 16) * 4;
                let address = if intid < SPI_FIRST && version == GicVersion::V3 {
                    GUEST_GICR_BASE + vcpu as u64 * GUEST_GICR_STRIDE + 0x1_0000 + 0xc00 + u64::from(intid / 16) * 4
                } else {
                    GUEST_GICD_BASE + offset
                };
                vgic.mmio_write(address, AccessSize::Word, VcpuId(vcpu), rng.word() & 0xaaaa_aaaa)
                    .expect("ICFGR");
            }
            8 if intid >= SPI_FIRST => {
                // Route the SPI to another vCPU (or, on GICv3, to any).
                let to = rng.below(VCPUS as u64);
                match version {
                    GicVersion::V2 => {
                        let byte = (1u64 << to) << ((intid % 4) * 8);
                        let address = GUEST_GICD_BASE + 0x800 + u64::from(intid & !3);
                        let old = vgic.mmio_read(address, AccessSize::Word, VcpuId(vcpu)).expect("ITARGETSR");
                        let cleared = old & !(0xff << ((intid % 4) * 8));
                        vgic.mmio_write(address, AccessSize::Word, VcpuId(vcpu), cleared | byte)
                            .expect("ITARGETSR");
                    }
                    GicVersion::V3 => {
                        let route = if rng.below(4) == 0 { 1 << 31 } else { to };
                        vgic.mmio_write(GUEST_GICD_BASE + 0x6000 + 8 * u64::from(intid), AccessSize::Double, VcpuId(vcpu), route)
                            .expect("IROUTER");
                    }
                }
            }
            9 => {
                let _ = vgic.inject(VcpuId(vcpu), intid);
            }
            10 => {
                let _ = vgic.set_level(VcpuId(vcpu), intid, rng.below(2) == 0);
            }
            11 => {
                let sgi = rng.below(16);
                let targets = rng.below(1 << VCPUS);
                match version {
                    GicVersion::V3 => {
                        vgic.send_sgi_v3(VcpuId(vcpu), (sgi << 24) | targets).expect("SGI");
                    }
                    GicVersion::V2 => {
                        gicd_write(&mut vgic, 0xf00, vcpu, (targets << 16) | sgi);
                    }
                }
            }
            12 if rng.below(8) == 0 => {
                let ctlr = if rng.below(2) == 0 { 0x3 } else { rng.below(4) };
                gicd_write(&mut vgic, 0x0, vcpu, ctlr);
            }
            13 if rng.below(2) == 0 => {
                cpus[vcpu].doorbell.raise(intid);
            }
            _ => {
                // The vCPU exits (sync) or enters (flush); the guest works in between.
                let cpu = &mut cpus[vcpu];
                if in_guest[vcpu] {
                    guest_acts(&mut rng, cpu);
                    if rng.below(8) == 0 {
                        let _ = vgic.deactivate_unlisted(cpu.vcpu, rng.below(3) as u32);
                    }
                    vgic.sync(cpu.vcpu, &cpu.lrs).expect("sync");
                    in_guest[vcpu] = false;
                    match rng.below(4) {
                        0 => {
                            vgic.release_list_registers(cpu.vcpu).expect("release");
                        }
                        // About to wait: nothing listable and the list registers empty.
                        1 if !vgic.has_listable(cpu.vcpu, &cpu.doorbell) && cpu.lrs.iter().all(Option::is_none) => {
                            vgic.settle_empty(cpu.vcpu);
                        }
                        _ => {}
                    }
                } else {
                    let mut twin = full_scan_twin(&vgic);
                    let twin_doorbell = Doorbell::new();
                    let mut raised = Vec::new();
                    cpu.doorbell.drain(|intid| raised.push(intid));
                    for &intid in &raised {
                        cpu.doorbell.raise(intid);
                        twin_doorbell.raise(intid);
                    }
                    let listable = vgic.has_listable(cpu.vcpu, &cpu.doorbell);
                    let state = &vgic.vcpus[vcpu];
                    let kept_changed = state.kept && state.shadow_len != 0 && state.flushed_at != vgic.changes;
                    // Without what a sync or `settle_empty` kept: the flush starts from scratch
                    // and writes every list register (the hardware is then what it writes).
                    let mut fresh = twin.clone();
                    let fresh_doorbell = Doorbell::new();
                    for &intid in &raised {
                        fresh_doorbell.raise(intid);
                    }
                    let mut fresh_lrs = [None; 4];
                    if fresh.vcpus[vcpu].kept && fresh.vcpus[vcpu].flushed_at == fresh.changes {
                        fresh.vcpus[vcpu].kept = false;
                        let held = fresh.vcpus[vcpu].shadow_len;
                        fresh.vcpus[vcpu].shadow_len = 0;
                        for slot in 0..held {
                            let intid = fresh.vcpus[vcpu].shadow[slot].intid;
                            if let Some(irq) = fresh.irq_mut(cpu.vcpu, intid) {
                                irq.owner = None;
                            }
                        }
                        if held == 0 {
                            fresh.flush(cpu.vcpu, &fresh_doorbell, &mut fresh_lrs).expect("fresh flush");
                        }
                    }
                    let mut twin_lrs = cpu.lrs;
                    let expected = twin.flush(cpu.vcpu, &twin_doorbell, &mut twin_lrs).expect("full-scan flush");
                    let outcome = vgic.flush(cpu.vcpu, &cpu.doorbell, &mut cpu.lrs).expect("flush");
                    assert_eq!(outcome, expected, "step {step}: flush outcome of vcpu {vcpu}");
                    assert_eq!(cpu.lrs, twin_lrs, "step {step}: list registers of vcpu {vcpu}");
                    assert_same_state(&vgic, &twin, step);
                    // A flush that left the hardware as a kept sync or a settle had it leaves
                    // what a flush from scratch writes: nothing was kept that should change.
                    if outcome.unchanged && cpu.lrs.iter().all(Option::is_none) {
                        assert_eq!(cpu.lrs, fresh_lrs, "step {step}: vcpu {vcpu} kept empty list registers a flush would fill");
                    }
                    // What a vCPU about to wait asks instead of a flush: exact, but a doorbell
                    // raise counts without looking, and so do list registers a sync kept
                    // when something changed since (the flush folds them back first).
                    if raised.is_empty() && !kept_changed {
                        assert_eq!(listable, outcome.used != 0, "step {step}: has_listable of vcpu {vcpu}");
                    } else {
                        assert!(listable, "step {step}: has_listable of vcpu {vcpu} ({raised:?} raised, kept {kept_changed})");
                    }
                    // The flush dropped what it found quiet: a bit left set is an interrupt
                    // that is not quiet, or one the flush just listed.
                    if !outcome.unchanged {
                        for intid in 0..limit {
                            let irq = if intid < SPI_FIRST {
                                vgic.vcpus[vcpu].private[intid as usize]
                            } else {
                                vgic.spis[(intid - SPI_FIRST) as usize]
                            };
                            if stirred(&vgic, vcpu, intid) {
                                assert!(
                                    !irq.is_quiet() || irq.owner == Some(vcpu as u8),
                                    "step {step}: INTID {intid} still stirred after vcpu {vcpu}'s flush: {irq:?}"
                                );
                            }
                        }
                    }
                    in_guest[vcpu] = true;
                }
            }
        }
        check_invariant(&vgic, step);
    }
}

#[test]
fn the_stirred_bitmaps_hold_every_busy_interrupt_and_flush_as_a_full_scan_gicv3() {
    for seed in 1..=8 {
        run(GicVersion::V3, 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(seed), 4000);
    }
}

#[test]
fn the_stirred_bitmaps_hold_every_busy_interrupt_and_flush_as_a_full_scan_gicv2() {
    for seed in 1..=8 {
        run(GicVersion::V2, 0xc2b2_ae3d_27d4_eb4fu64.wrapping_mul(seed), 4000);
    }
}
