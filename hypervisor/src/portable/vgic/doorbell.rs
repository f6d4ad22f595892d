//! Lock-free pending bits through which any core raises an interrupt for a vCPU.

use core::sync::atomic::{AtomicU32, Ordering};

use super::irq::IntId;

const WORDS: usize = 32;

/// One bit per INTID (0 to 1023) that another core, or an interrupt handler that must not take the
/// partition's vGIC lock, raised for one vCPU. [`super::Vgic::flush`] drains it into the vGIC state.
///
/// Raising is an edge: a rising edge on the interrupt (or one hardware-mapped firing).
#[derive(Debug)]
pub struct Doorbell {
    bits: [AtomicU32; WORDS],
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
        slot.fetch_or(bit, Ordering::Release) & bit == 0
    }

    /// Whether anything is raised.
    pub fn is_raised(&self) -> bool {
        self.bits.iter().any(|w| w.load(Ordering::Acquire) != 0)
    }

    /// Takes every raised INTID, clearing it, and hands each to `take`.
    pub fn drain(&self, mut take: impl FnMut(IntId)) {
        for (index, slot) in self.bits.iter().enumerate() {
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
