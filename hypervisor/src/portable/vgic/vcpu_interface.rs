//! The per-vCPU list-register state machine: `flush` before entering the guest, `sync` after it exits.

use super::doorbell::Doorbell;
use super::effects::{Effects, VcpuSet};
use super::error::VgicError;
use super::irq::{is_private, is_sgi, IntId, IrqState, SPI_FIRST};
use super::list_register::{ListRegister, LrState};
use super::state::{LrShadow, Vgic};
use super::{GicVersion, VcpuId, MAX_LIST_REGISTERS};

/// What a flush did and what the caller must arm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlushOutcome {
    /// Nothing changed since the last flush and the guest left the list registers as they
    /// were: `lrs` was not filled, and the caller leaves the hardware as it is.
    pub unchanged: bool,
    /// List registers filled, from index 0; the rest were cleared.
    pub used: usize,
    /// More interrupts wait than the list registers hold: enable the underflow maintenance
    /// interrupt (`ICH_HCR_EL2.UIE`, `GICH_HCR.UIE`) so the next exit refills them.
    pub underflow: bool,
    /// Other vCPUs to kick: interrupts raised on this vCPU's doorbell are now routed to them.
    pub kick: VcpuSet,
}

/// Sort key of a candidate: active ones first (they must be in a list register for the guest's
/// deactivation to work), then by priority, then by INTID.
fn rank(irq: &IrqState, intid: IntId) -> u32 {
    ((!irq.active as u32) << 24) | ((irq.priority as u32) << 12) | intid
}

/// The best candidates for a vCPU's list registers so far, by [`rank`].
struct Chosen {
    /// `(rank, INTID)` in rank order; `u32::MAX` marks a free slot.
    best: [(u32, IntId); MAX_LIST_REGISTERS],
    /// How many list registers there are (at most [`MAX_LIST_REGISTERS`]).
    capacity: usize,
    /// How many slots of `best` are taken (at most `capacity`); the rest are free.
    taken: usize,
    /// Every candidate offered, listed or not.
    waiting: usize,
}

impl Chosen {
    fn new(capacity: usize) -> Self {
        Chosen {
            best: [(u32::MAX, 0); MAX_LIST_REGISTERS],
            capacity: capacity.min(MAX_LIST_REGISTERS),
            taken: 0,
            waiting: 0,
        }
    }

    /// Counts a candidate and keeps it if it ranks among the best `capacity`.
    fn offer(&mut self, key: u32, intid: IntId) {
        self.waiting = self.waiting.saturating_add(1);
        let Some(last) = self.capacity.checked_sub(1) else {
            return;
        };
        if key < self.best[last].0 {
            // An insertion into `best`, indices below its length, from its first free slot
            // (or over the last one, which drops out, when all are taken).
            let mut at = self.taken.min(last);
            while let Some(before) = at.checked_sub(1).filter(|&b| self.best[b].0 > key) {
                self.best[at] = self.best[before];
                at = before;
            }
            self.best[at] = (key, intid);
            self.taken = self.taken.saturating_add(1).min(self.capacity);
        }
    }
}

impl Vgic {
    /// Fills `lrs` (one slot per hardware list register) with the interrupts `vcpu` should see:
    /// every active one, then the pending, enabled ones by priority. Drains `doorbell` first.
    ///
    /// Edge-triggered pending state moves into the list register; [`Vgic::sync`] folds back what
    /// the guest did not consume. Level-triggered interrupts driven by software ask for an EOI
    /// maintenance interrupt, so their line is sampled again when the guest deactivates them.
    pub fn flush(
        &mut self,
        vcpu: VcpuId,
        doorbell: &Doorbell,
        lrs: &mut [Option<ListRegister>],
    ) -> Result<FlushOutcome, VgicError> {
        self.check_vcpu(vcpu)?;
        if lrs.len() > MAX_LIST_REGISTERS {
            return Err(VgicError::TooManyListRegisters {
                requested: lrs.len(),
                max: MAX_LIST_REGISTERS,
            });
        }
        if self.vcpus[vcpu.0].kept {
            if self.vcpus[vcpu.0].flushed_at == self.changes && !doorbell.is_raised() {
                // The shadow stays: the next sync compares the hardware with it again.
                self.vcpus[vcpu.0].kept = false;
                return Ok(FlushOutcome { unchanged: true, used: self.vcpus[vcpu.0].shadow_len, ..FlushOutcome::default() });
            }
            if self.vcpus[vcpu.0].shadow_len != 0 {
                // Something changed after the sync kept the list registers: fold them back
                // now, from the shadow, which is what the hardware still holds.
                let effects = self.fold_back_kept(vcpu)?;
                let mut outcome = self.flush(vcpu, doorbell, lrs)?;
                outcome.kick.0 |= effects.kick.0 & !(1 << vcpu.0);
                return Ok(outcome);
            }
            // Kept empty (or settled): nothing to fold back; they are filled afresh below.
            self.vcpus[vcpu.0].kept = false;
        }
        if self.vcpus[vcpu.0].shadow_len != 0 {
            return Err(VgicError::FlushWithoutSync { vcpu });
        }
        let mut outcome = FlushOutcome::default();
        doorbell.drain(|intid| {
            if let Some(irq) = self.irq_mut(vcpu, intid) {
                irq.set_pending(None);
                outcome.kick.0 |= self.interested(vcpu, intid).0 & !(1 << vcpu.0);
            }
        });

        let mut chosen = Chosen::new(lrs.len());
        // Only the stirred interrupts (`Vgic::spi_stirred`): the vCPU's private ones, then the
        // SPIs. Those found quiet lose their bit; a later change sets it again.
        let mut bits = self.vcpus[vcpu.0].stirred;
        let mut left = bits;
        while bits != 0 {
            let intid = bits.trailing_zeros();
            bits &= bits.wrapping_sub(1);
            let Some(irq) = self.vcpus[vcpu.0].private.get(intid as usize) else { continue };
            if irq.is_quiet() {
                left &= !(1 << (intid % 32));
            } else if self.wants_here(vcpu, irq, intid) {
                chosen.offer(rank(irq, intid), intid);
            }
        }
        self.vcpus[vcpu.0].stirred = left;
        let mut words = self.spi_stirred_words;
        while words != 0 {
            let word = words.trailing_zeros() as usize;
            words &= words.wrapping_sub(1);
            let Some(&stirred) = self.spi_stirred.get(word) else { continue };
            let mut bits = stirred;
            let mut left = stirred;
            while bits != 0 {
                let bit = bits.trailing_zeros() as usize;
                bits &= bits.wrapping_sub(1);
                // Below SPI_WORDS * 32; `irq_mut` sets no bit past the implemented SPIs.
                let spi = word.wrapping_mul(32).wrapping_add(bit);
                let Some(irq) = self.spis.get(spi) else { continue };
                let intid = SPI_FIRST.wrapping_add(spi as IntId);
                if irq.is_quiet() {
                    left &= !(1 << (bit % 32));
                } else if self.wants_here(vcpu, irq, intid) {
                    chosen.offer(rank(irq, intid), intid);
                }
            }
            if let Some(slot) = self.spi_stirred.get_mut(word) {
                *slot = left;
            }
            if left == 0 {
                self.spi_stirred_words &= !(1 << (word % 32));
            }
        }
        // The chosen ones fill the list registers from index 0, in rank order (`best` keeps its
        // free slots last), each at its shadow's index; the rest are cleared.
        for &(key, intid) in chosen.best.iter().take(chosen.capacity) {
            if key == u32::MAX {
                break;
            }
            let Some(entry) = self.load(vcpu, intid) else { continue };
            let state = &mut self.vcpus[vcpu.0];
            if let Some(lr) = lrs.get_mut(state.shadow_len) {
                *lr = Some(entry);
            }
            state.shadow[state.shadow_len] = LrShadow {
                intid: entry.intid,
                state: Some(entry.state),
            };
            state.shadow_len = state.shadow_len.saturating_add(1);
        }
        outcome.used = self.vcpus[vcpu.0].shadow_len;
        for lr in lrs.iter_mut().skip(outcome.used) {
            *lr = None;
        }
        outcome.underflow = chosen.waiting > outcome.used;
        self.vcpus[vcpu.0].flushed_at = self.changes;
        Ok(outcome)
    }

    /// Whether `vcpu`'s list registers would hold anything after a flush now: what a sync kept
    /// in them, an interrupt a flush would list, or an interrupt raised on `doorbell` (counted
    /// without draining it, so perhaps one that is disabled). Changes nothing: a vCPU about to
    /// wait asks it instead of a flush and a sync, and its WFI completes at once when it is
    /// true. Visits the stirred interrupts only.
    pub fn has_listable(&self, vcpu: VcpuId, doorbell: &Doorbell) -> bool {
        let Some(state) = self.vcpus.get(vcpu.0).filter(|_| vcpu.0 < self.vcpu_count) else {
            return false;
        };
        if state.shadow_len != 0 || doorbell.is_raised() {
            return true;
        }
        let mut bits = state.stirred;
        while bits != 0 {
            let intid = bits.trailing_zeros();
            bits &= bits.wrapping_sub(1);
            if state.private.get(intid as usize).is_some_and(|irq| !irq.is_quiet() && self.wants_here(vcpu, irq, intid)) {
                return true;
            }
        }
        let mut words = self.spi_stirred_words;
        while words != 0 {
            let word = words.trailing_zeros() as usize;
            words &= words.wrapping_sub(1);
            let mut bits = self.spi_stirred.get(word).copied().unwrap_or(0);
            while bits != 0 {
                let bit = bits.trailing_zeros() as usize;
                bits &= bits.wrapping_sub(1);
                // Below SPI_WORDS * 32, as in `flush`.
                let spi = word.wrapping_mul(32).wrapping_add(bit);
                let intid = SPI_FIRST.wrapping_add(spi as IntId);
                if self.spis.get(spi).is_some_and(|irq| !irq.is_quiet() && self.wants_here(vcpu, irq, intid)) {
                    return true;
                }
            }
        }
        false
    }

    /// Records that `vcpu`'s list registers are all empty in the hardware, the underflow
    /// interrupt off, and that [`Vgic::has_listable`] said false under the same lock: the state
    /// a flush that lists nothing and an untouched sync would leave. The next flush then leaves
    /// the hardware alone unless something changes meanwhile, so a vCPU woken with nothing new
    /// goes back in without a scan. Does nothing while list registers are in use.
    pub fn settle_empty(&mut self, vcpu: VcpuId) {
        let changes = self.changes;
        if let Some(state) = self.vcpus.get_mut(vcpu.0).filter(|state| state.shadow_len == 0) {
            state.flushed_at = changes;
            state.kept = true;
        }
    }

    /// Whether a non-quiet interrupt wants one of `vcpu`'s list registers now: not held by a
    /// vCPU's list registers already, pending and enabled (or active), and delivered to `vcpu`.
    fn wants_here(&self, vcpu: VcpuId, irq: &IrqState, intid: IntId) -> bool {
        irq.owner.is_none()
            && irq.wants_list_register(self.group_on(irq.group1))
            && self.delivery_vcpu(vcpu, intid) == Some(vcpu)
    }

    /// Builds the list register for one interrupt and moves the state it carries into it.
    fn load(&mut self, vcpu: VcpuId, intid: IntId) -> Option<ListRegister> {
        let group_on = self
            .irq(vcpu, intid)
            .is_some_and(|irq| self.group_on(irq.group1));
        let v2_sgi = self.version == GicVersion::V2 && is_sgi(intid);
        let irq = self.irq_mut(vcpu, intid)?;
        let level_software = irq.level_sampled(intid);
        let mut pending = irq.enabled && group_on && irq.is_pending();
        let mut more_behind = false;
        if irq.active && pending {
            // A hardware-mapped list register cannot be pending and active (the physical GIC holds
            // that state); a GICv2 SGI can carry only the source being handled; a level input is
            // sampled again at deactivation unless software latched it pending.
            if irq.hw.is_some() || v2_sgi || (level_software && !irq.pending_latch) {
                pending = false;
                more_behind = irq.hw.is_none();
            }
        }
        let state = LrState::from_bits(pending, irq.active)?;
        if pending && !level_software {
            if v2_sgi {
                irq.lr_source = irq.sgi_sources.trailing_zeros().min(7) as u8;
                irq.sgi_sources &= !(1 << irq.lr_source);
                irq.pending_latch = irq.sgi_sources != 0;
                more_behind |= irq.pending_latch;
            } else {
                irq.pending_latch = false;
            }
        }
        irq.owner = Some(vcpu.0 as u8);
        let hw_bit = irq.hw.filter(|_| !irq.forwarded);
        Some(ListRegister {
            intid,
            priority: irq.priority,
            state,
            hw: hw_bit,
            group1: irq.group1,
            eoi_maintenance: irq.forwarded || (irq.hw.is_none() && (level_software || more_behind)),
            source: if v2_sgi { irq.lr_source } else { 0 },
        })
    }

    /// Folds back what the guest did to the list registers `flush` filled; `lrs` holds them as
    /// read back from the hardware, in the same slots. Call it on every exit, before anything
    /// else touches this vCPU's interrupts.
    ///
    /// Returns the other vCPUs to kick (an interrupt routed away while this vCPU held it).
    ///
    /// When nothing changed since the flush and the guest left every list register as it was
    /// (no acknowledge, no deactivation), the state is kept as it is and the next flush leaves
    /// the hardware alone: the common exit (a hypercall, a device register) touches no
    /// interrupt state.
    pub fn sync(
        &mut self,
        vcpu: VcpuId,
        lrs: &[Option<ListRegister>],
    ) -> Result<Effects, VgicError> {
        self.check_vcpu(vcpu)?;
        let state = &self.vcpus[vcpu.0];
        let untouched = state.flushed_at == self.changes
            && (0..lrs.len()).all(|slot| match (lrs[slot], state.shadow.get(slot).filter(|_| slot < state.shadow_len)) {
                (Some(lr), Some(shadow)) => lr.intid == shadow.intid && Some(lr.state) == shadow.state,
                (None, None) => true,
                _ => false,
            });
        if untouched {
            self.vcpus[vcpu.0].kept = true;
            return Ok(Effects::NONE);
        }
        self.full_sync(vcpu, lrs)
    }

    /// The vCPU leaves its CPU (another vCPU's list registers go in there): list registers a
    /// sync kept in the hardware are folded back into the model from the shadow, so the next
    /// flush, wherever the vCPU runs, writes every list register afresh. Returns the other
    /// vCPUs to kick.
    pub fn release_list_registers(&mut self, vcpu: VcpuId) -> Result<Effects, VgicError> {
        self.check_vcpu(vcpu)?;
        if !self.vcpus[vcpu.0].kept {
            return Ok(Effects::NONE);
        }
        self.fold_back_kept(vcpu)
    }

    /// Folds list registers kept by a sync back from the shadow, which is what the hardware
    /// holds while they are kept.
    fn fold_back_kept(&mut self, vcpu: VcpuId) -> Result<Effects, VgicError> {
        let mut held = [None; MAX_LIST_REGISTERS];
        let state = &self.vcpus[vcpu.0];
        for (slot, entry) in state.shadow.iter().enumerate().take(state.shadow_len) {
            held[slot] = entry.state.map(|lr_state| ListRegister {
                intid: entry.intid,
                priority: 0,
                state: lr_state,
                hw: None,
                group1: false,
                eoi_maintenance: false,
                source: 0,
            });
        }
        self.full_sync(vcpu, &held)
    }

    /// The whole fold of [`Vgic::sync`].
    fn full_sync(&mut self, vcpu: VcpuId, lrs: &[Option<ListRegister>]) -> Result<Effects, VgicError> {
        self.vcpus[vcpu.0].kept = false;
        let count = self.vcpus[vcpu.0].shadow_len;
        if count > 0 {
            // Folding back releases interrupts other vCPUs may now take: they must look again.
            self.touch();
        }
        self.vcpus[vcpu.0].shadow_len = 0;
        let mut kick = VcpuSet::EMPTY;
        for slot in 0..count {
            let LrShadow {
                intid,
                state: presented,
            } = self.vcpus[vcpu.0].shadow[slot];
            let read = lrs
                .get(slot)
                .copied()
                .flatten()
                .filter(|lr| lr.intid == intid);
            let pending_now = read.is_some_and(|lr| lr.state.is_pending());
            let active_now = read.is_some_and(|lr| lr.state.is_active());
            let v2_sgi = self.version == GicVersion::V2 && is_sgi(intid);
            let Some(irq) = self.irq_mut(vcpu, intid) else {
                continue;
            };
            irq.owner = None;
            // Injected again since the flush: the physical interrupt was taken again after
            // this list register's activation had ended at the GIC (`reactivated_in_lr`).
            let reactivated = core::mem::take(&mut irq.reactivated_in_lr);
            let released = irq.forwarded
                && presented.is_some()
                && !active_now
                && !pending_now
                && !irq.clear_active_in_lr;
            // The guest cleared the pending state of a mapped SPI while a list register held
            // it, and had not acknowledged it: the list register is dropped below, so nothing
            // would ever deactivate the physical SPI; the hypervisor does. If it was taken
            // again since, the list register shows only the previous activation's end, and the
            // new one is the pending state the injection set: the same holds if the guest
            // has cleared that before this sync.
            let dropped = irq.hw.is_some()
                && irq.physical_active
                && !active_now
                && if reactivated {
                    !irq.is_pending()
                } else {
                    irq.clear_pending_in_lr && pending_now && !irq.clear_active_in_lr
                };
            if irq.hw.is_some() && presented.is_some() && !active_now && !pending_now && !reactivated {
                // Deactivated: by the guest through a hardware-mapped list register, or
                // handed to the hypervisor (`released`; a clear-active already did it). Not
                // if it was taken again since: that activation is still the guest's to end.
                irq.physical_active = false;
            }
            if dropped {
                irq.physical_active = false;
            }
            if !irq.clear_active_in_lr {
                irq.active = active_now;
            }
            irq.active_vcpu = if irq.active { Some(vcpu.0 as u8) } else { None };
            let level_software = irq.level_sampled(intid);
            if !irq.clear_pending_in_lr {
                if level_software {
                    // The guest acknowledged it: the latch is consumed, the line stays as it is.
                    if presented.is_some_and(LrState::is_pending) && !pending_now {
                        irq.pending_latch = false;
                    }
                } else if pending_now {
                    if v2_sgi {
                        irq.sgi_sources |= 1 << irq.lr_source;
                    }
                    irq.pending_latch = true;
                }
            }
            irq.clear_active_in_lr = false;
            irq.clear_pending_in_lr = false;
            if released || dropped {
                self.release(intid);
            }
            // A private interrupt concerns its own vCPU only (its bank is listed by no other
            // vCPU, and it is delivered to no other): nobody else to kick.
            if !is_private(intid) {
                kick.0 |= self.interested(vcpu, intid).0 & !(1 << vcpu.0);
            }
        }
        Ok(Effects::kick(kick))
    }

    /// Handles `count` deactivations of interrupts that were in no list register
    /// (`ICH_HCR_EL2.EOIcount`, `GICH_HCR.EOICount`): each deactivates the most urgent active
    /// interrupt of `vcpu` outside its list registers, which is the one the guest's priority drop
    /// referred to. Call it before [`Vgic::sync`], then clear the hardware count.
    ///
    /// Flush puts active interrupts first, so this happens only when more interrupts are active at
    /// once than there are list registers.
    pub fn deactivate_unlisted(&mut self, vcpu: VcpuId, count: u32) -> Result<Effects, VgicError> {
        self.touch();
        self.check_vcpu(vcpu)?;
        let mut effects = Effects::NONE;
        for _ in 0..count {
            let unlisted = (0..self.intid_limit())
                .filter(|&intid| self.delivery_vcpu(vcpu, intid) == Some(vcpu))
                .filter_map(|intid| self.irq(vcpu, intid).map(|irq| (intid, irq)))
                .filter(|(_, irq)| irq.active && irq.owner.is_none())
                .min_by_key(|(intid, irq)| rank(irq, *intid));
            let Some((intid, _)) = unlisted else { break };
            let Some(irq) = self.irq_mut(vcpu, intid) else {
                break;
            };
            irq.clear_active();
            if irq.hw.is_some() {
                irq.physical_active = false;
                // One hardware deactivation per call fits the effect masks; callers loop on count.
                return Ok(Effects {
                    hw_base: intid,
                    hw_deactivate: 1,
                    ..effects
                });
            }
            effects.kick.0 |= self.interested(vcpu, intid).0 & !(1 << vcpu.0);
        }
        Ok(effects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portable::test_rng::Rng;

    #[test]
    fn chosen_keeps_the_best_candidates_in_rank_order_whatever_the_order_offered() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for round in 0..2000 {
            let capacity = rng.below(MAX_LIST_REGISTERS as u64 + 1) as usize;
            let count = rng.below(12) as usize;
            // Few distinct ranks, so that ties occur; the INTID tells equal ranks apart.
            let offered: std::vec::Vec<(u32, IntId)> = (0..count).map(|i| (rng.below(6) as u32, i as IntId)).collect();
            let mut chosen = Chosen::new(capacity);
            for &(key, intid) in &offered {
                chosen.offer(key, intid);
            }
            let mut sorted = offered.clone();
            // Stable: among equal ranks the one offered first stays first, as an insertion keeps it.
            sorted.sort_by_key(|&(key, _)| key);
            sorted.truncate(capacity);
            let kept: std::vec::Vec<(u32, IntId)> = chosen.best[..capacity].iter().copied().filter(|&(key, _)| key != u32::MAX).collect();
            assert_eq!(kept, sorted, "round {round}: offered {offered:?} with {capacity} list registers");
            assert_eq!(chosen.taken, kept.len(), "round {round}");
            assert!(chosen.best[kept.len()..].iter().all(|&(key, _)| key == u32::MAX), "round {round}: free slots last");
            assert_eq!(chosen.waiting, count, "round {round}");
        }
    }
}
