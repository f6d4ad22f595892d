//! Lock-free pending bits through which any core raises an interrupt for a vCPU.

use core::sync::atomic::{AtomicU32, Ordering};

use super::irq::IntId;

const WORDS: usize = 32;
// The summary has one bit per word.
const _: () = assert!(WORDS <= 32);

/// One bit per INTID (0 to 1023) that another core, or an interrupt handler that must not take the
/// partition's vGIC lock, raised for one vCPU. [`super::Vgic::flush`] drains it into the vGIC state.
///
/// Raising is an edge: a rising edge on the interrupt (or one hardware-mapped firing).
///
/// `raised` summarises the bits (one per word), so that the flush of every exit asks "anything
/// raised?" with one load instead of 32. A raise sets its bit, then the summary; a drain
/// clears the summary, then takes the words. A raise between the two finds its bit taken
/// and leaves the summary set for nothing, which costs one empty drain; a bit is never left
/// set under a clear summary.
#[derive(Debug)]
pub struct Doorbell {
    bits: [AtomicU32; WORDS],
    raised: AtomicU32,
}

impl Default for Doorbell {
    fn default() -> Self {
        Self::new()
    }
}

impl Doorbell {
    /// An empty doorbell.
    pub const fn new() -> Self {
        Doorbell {
            bits: [const { AtomicU32::new(0) }; WORDS],
            raised: AtomicU32::new(0),
        }
    }

    /// Marks `intid` raised. Returns `true` when it was not already raised (the caller then kicks the
    /// vCPU). INTIDs from 1024 up are ignored and return `false`.
    pub fn raise(&self, intid: IntId) -> bool {
        let word = (intid / 32) as usize;
        let Some(slot) = self.bits.get(word) else {
            return false;
        };
        let bit = 1 << (intid % 32);
        let new = slot.fetch_or(bit, Ordering::Release) & bit == 0;
        // After the bit: a drain that sees the summary finds the bit.
        self.raised.fetch_or(1 << word, Ordering::Release);
        new
    }

    /// Whether anything is raised.
    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::Acquire) != 0
    }

    /// Takes every raised INTID, clearing it, and hands each to `take`.
    pub fn drain(&self, mut take: impl FnMut(IntId)) {
        // Before the words: a raise from now on sets the summary again.
        let mut words = self.raised.swap(0, Ordering::Acquire);
        while words != 0 {
            // `words` is not zero: its lowest set bit is a word index below 32.
            let index = words.trailing_zeros() as usize;
            words &= words.wrapping_sub(1);
            let Some(slot) = self.bits.get(index) else { continue };
            let mut word = slot.swap(0, Ordering::Acquire);
            while word != 0 {
                let bit = word.trailing_zeros();
                // `word` is not zero; the index is a small array's.
                word &= word.wrapping_sub(1);
                take((index as u32).wrapping_mul(32).wrapping_add(bit));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn drained(doorbell: &Doorbell) -> Vec<IntId> {
        let mut out = Vec::new();
        doorbell.drain(|intid| out.push(intid));
        out
    }

    #[test]
    fn every_raised_intid_is_drained_once_in_order_and_the_summary_follows() {
        let doorbell = Doorbell::new();
        assert!(!doorbell.is_raised());
        for intid in [1023, 27, 31, 32, 0, 500] {
            assert!(doorbell.raise(intid), "{intid}");
        }
        assert!(!doorbell.raise(27), "already raised");
        assert!(!doorbell.raise(1024), "beyond the INTIDs");
        assert!(doorbell.is_raised());
        assert_eq!(drained(&doorbell), [0, 27, 31, 32, 500, 1023]);
        assert!(!doorbell.is_raised());
        assert!(drained(&doorbell).is_empty());
        assert!(doorbell.raise(27), "raised again after the drain");
        assert!(doorbell.is_raised());
        assert_eq!(drained(&doorbell), [27]);
    }

    #[test]
    fn raises_from_other_threads_are_never_lost() {
        let doorbell = std::sync::Arc::new(Doorbell::new());
        let raisers: Vec<_> = (0..4u32)
            .map(|t| {
                let doorbell = doorbell.clone();
                std::thread::spawn(move || (0..256u32).for_each(|i| {
                    doorbell.raise(t * 256 + i);
                }))
            })
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        while raisers.iter().any(|r| !r.is_finished()) {
            doorbell.drain(|intid| assert!(seen.insert(intid), "{intid} twice"));
        }
        raisers.into_iter().for_each(|r| r.join().unwrap());
        doorbell.drain(|intid| assert!(seen.insert(intid), "{intid} twice"));
        assert_eq!(seen.len(), 1024);
        assert!(!doorbell.is_raised());
    }
}
