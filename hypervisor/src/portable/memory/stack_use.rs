//! How deep a stack has ever been: stacks are painted with a known word at boot (the entry
//! code's), and the high-water mark is where the paint ends.
//!
//! A stack grows down, so the untouched paint sits at its bottom (lowest addresses): the words
//! counted from there up to the first one that differs were never written.

/// A stack's use: bytes ever written of the bytes it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackUse {
    pub used: usize,
    pub size: usize,
}

impl StackUse {
    /// The use of a stack painted with `paint` whose words, from its lowest address up, are
    /// read by `word(i)` for `i` in `0..words`: everything above the paint at its bottom.
    pub fn measure(words: usize, paint: u64, word: impl Fn(usize) -> u64) -> Self {
        let untouched = (0..words).take_while(|&i| word(i) == paint).count();
        let size = words.saturating_mul(8);
        Self { used: size.saturating_sub(untouched.saturating_mul(8)), size }
    }

    /// Whether the paint is gone to the very bottom: the stack may have overflowed into its
    /// guard page (which then faulted) or been used before it was painted.
    pub fn full(&self) -> bool {
        self.used >= self.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAINT: u64 = 0x5453_4e50_4b43_4154;

    #[test]
    fn an_untouched_stack_uses_nothing() {
        let stack = [PAINT; 64];
        assert_eq!(StackUse::measure(stack.len(), PAINT, |i| stack[i]), StackUse { used: 0, size: 512 });
    }

    #[test]
    fn the_high_water_mark_is_the_lowest_word_written() {
        let mut stack = [PAINT; 64];
        // A frame at the top, and a deeper one that left a word equal to the paint above it.
        stack[60..].fill(7);
        stack[40] = 0;
        stack[41] = PAINT;
        let use_ = StackUse::measure(stack.len(), PAINT, |i| stack[i]);
        assert_eq!(use_.used, (64 - 40) * 8, "the deepest written word counts, paint above it does not");
        assert!(!use_.full());
    }

    #[test]
    fn a_stack_written_to_the_bottom_is_full() {
        let mut stack = [PAINT; 16];
        stack[0] = 1;
        let use_ = StackUse::measure(stack.len(), PAINT, |i| stack[i]);
        assert_eq!(use_, StackUse { used: 128, size: 128 });
        assert!(use_.full());
        assert_eq!(StackUse::measure(0, PAINT, |_| PAINT), StackUse { used: 0, size: 0 });
    }
}
