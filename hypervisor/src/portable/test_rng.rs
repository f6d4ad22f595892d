//! The randomized host tests' deterministic generator (xorshift64*): a seed gives the same
//! operations on every run, so a failure names a seed that reproduces it.

/// xorshift64* over its state; the seed must not be 0.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn word(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value below `n` (not 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.word() % n
    }

    /// Below `n` fifteen times in sixteen, any value otherwise: arguments mostly in range, as
    /// a hostile guest's sometimes are not.
    pub fn small(&mut self, n: u64) -> u64 {
        match self.below(16) {
            0 => self.word(),
            _ => self.below(n),
        }
    }
}
