//! The data caches' geometry, for maintenance by set and way: decoding CLIDR_EL1 and
//! CCSIDR_EL1 and forming the operand of `DC CISW`. Pure, so it builds and is tested on the
//! host; `cpu::clean_invalidate_dcache_all` runs it.

/// CLIDR_EL1, the Cache Level ID register (Arm ARM, CLIDR_EL1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clidr(pub u64);

impl Clidr {
    /// The Level of Coherence (bits 26:24): the levels below it are what set/way maintenance
    /// must reach for memory to be up to date at the point of coherency.
    pub const fn level_of_coherence(self) -> u32 {
        ((self.0 >> 24) & 0b111) as u32
    }

    /// Whether cache level `level` (1 to 7) has a data or unified cache: its `Ctype` field
    /// (3 bits at `3 * (level - 1)`) is 2 (data only), 3 (separate instruction and data) or
    /// 4 (unified).
    pub const fn has_data_cache(self, level: u32) -> bool {
        if level == 0 || level > 7 {
            return false;
        }
        matches!((self.0 >> (3 * (level - 1))) & 0b111, 2..=4)
    }

    /// The levels with a data or unified cache below the Level of Coherence, innermost first.
    pub fn data_levels(self) -> impl Iterator<Item = u32> {
        (1..=self.level_of_coherence()).filter(move |&level| self.has_data_cache(level))
    }
}

/// One cache level's geometry, from CCSIDR_EL1 (Arm ARM, CCSIDR_EL1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// log2 of the line size in bytes.
    pub line_shift: u32,
    pub ways: u32,
    pub sets: u32,
}

impl Geometry {
    /// Decodes CCSIDR_EL1. `ccidx`: FEAT_CCIDX is implemented (ID_AA64MMFR2_EL1.CCIDX is not
    /// zero), which widens the register: NumSets in bits 55:32 and Associativity in bits 23:3;
    /// otherwise NumSets is bits 27:13 and Associativity bits 12:3. Both hold the value minus
    /// one; LineSize (bits 2:0) is log2 of the line's words minus 2.
    pub const fn decode(ccsidr: u64, ccidx: bool) -> Self {
        let (ways, sets) = if ccidx {
            ((ccsidr >> 3) & 0x1f_ffff, (ccsidr >> 32) & 0xff_ffff)
        } else {
            ((ccsidr >> 3) & 0x3ff, (ccsidr >> 13) & 0x7fff)
        };
        Self { line_shift: (ccsidr & 0b111) as u32 + 4, ways: ways as u32 + 1, sets: sets as u32 + 1 }
    }

    /// The bits the way number is shifted to in a set/way operand: 32 minus log2 of the
    /// associativity rounded up (a direct-mapped cache has no way field).
    const fn way_shift(self) -> u32 {
        32 - (self.ways.next_power_of_two().trailing_zeros())
    }

    /// The `DC CISW` / `DC CSW` / `DC ISW` operand for `set` and `way` at cache `level` (1 to
    /// 7): the way in the top bits of the low word, the set above the line offset, the level
    /// minus one in bits 3:1 (Arm ARM, "DC CISW").
    pub const fn operand(self, level: u32, set: u32, way: u32) -> u64 {
        let way_bits = if self.ways > 1 { (way as u64) << self.way_shift() } else { 0 };
        way_bits | ((set as u64) << self.line_shift) | (((level - 1) as u64) << 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU's Cortex-A57: L1 instruction and data caches separate, a unified L2, LoC 2.
    const A57_CLIDR: u64 = 0x0a20_0023;
    /// QEMU's Cortex-A57 L1 data cache (32 KiB, 2 ways, 64-byte lines) and L2 (2 MiB, 16 ways).
    const A57_L1D: u64 = 0x701f_e00a;
    const A57_L2: u64 = 0x70ff_e07a;

    #[test]
    fn clidr_names_the_data_levels_below_the_level_of_coherence() {
        let clidr = Clidr(A57_CLIDR);
        assert_eq!(clidr.level_of_coherence(), 2);
        assert!(clidr.has_data_cache(1) && clidr.has_data_cache(2));
        assert!(!clidr.has_data_cache(3) && !clidr.has_data_cache(0) && !clidr.has_data_cache(8));
        assert_eq!(clidr.data_levels().collect::<Vec<_>>(), [1, 2]);
        // An instruction-only level 1 (Ctype 1) and LoC 1: nothing to clean.
        assert_eq!(Clidr((1 << 24) | 1).data_levels().count(), 0);
    }

    #[test]
    fn ccsidr_decodes_in_both_formats() {
        assert_eq!(Geometry::decode(A57_L1D, false), Geometry { line_shift: 6, ways: 2, sets: 256 });
        assert_eq!(Geometry::decode(A57_L2, false), Geometry { line_shift: 6, ways: 16, sets: 2048 });
        // FEAT_CCIDX: 8 ways (7 in bits 23:3), 4096 sets (4095 in bits 55:32), 64-byte lines.
        let wide = (4095u64 << 32) | (7 << 3) | 2;
        assert_eq!(Geometry::decode(wide, true), Geometry { line_shift: 6, ways: 8, sets: 4096 });
    }

    #[test]
    fn operands_place_way_set_and_level() {
        let l2 = Geometry::decode(A57_L2, false);
        // 16 ways: the way in bits 31:28; 64-byte lines: the set from bit 6; level 2 as 1 << 1.
        assert_eq!(l2.operand(2, 0, 0), 0b10);
        assert_eq!(l2.operand(2, 2047, 15), (15 << 28) | (2047 << 6) | 0b10);
        let l1 = Geometry::decode(A57_L1D, false);
        assert_eq!(l1.operand(1, 255, 1), (1 << 31) | (255 << 6));
        // Three ways round up to four: the way field is bits 31:30.
        let three = Geometry { line_shift: 6, ways: 3, sets: 1 };
        assert_eq!(three.operand(1, 0, 2), 2 << 30);
        let direct = Geometry { line_shift: 5, ways: 1, sets: 8 };
        assert_eq!(direct.operand(3, 7, 0), (7 << 5) | (2 << 1));
    }
}
