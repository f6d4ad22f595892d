//! Zeroing memory with `DC ZVA`: decoding DCZID_EL0 and cutting a range into the unaligned
//! head and tail that plain stores zero and the block-aligned body that `DC ZVA` zeroes. Pure,
//! so it builds and is tested on the host; `cpu::zero_to_poc` runs it.

/// DCZID_EL0, the Data Cache Zero ID register (Arm ARM, DCZID_EL0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dczid(pub u64);

impl Dczid {
    /// The bytes one `DC ZVA` zeroes, or `None` when `DC ZVA` is prohibited at this exception
    /// level (`DZP`, bit 4). `BS` (bits 3:0) is log2 of the block size in 4-byte words; the
    /// architecture caps it at 9 (2 KiB), and a larger value is treated as prohibited rather
    /// than trusted.
    pub fn block_bytes(self) -> Option<u64> {
        let prohibited = self.0 & (1 << 4) != 0;
        let log2_words = self.0 & 0xf;
        (!prohibited && log2_words <= 9).then(|| 4 << log2_words)
    }
}

/// A range cut for `DC ZVA`: `head` and `tail` (each `(address, bytes)`) are zeroed with
/// stores, `body` with one `DC ZVA` per block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    pub head: (u64, u64),
    pub body: (u64, u64),
    pub tail: (u64, u64),
}

/// Cuts `start..start + len` at `block`-aligned boundaries (`block` a power of two). `None`
/// when the range holds no whole block or its end overflows: then stores do it all.
pub fn cut(start: u64, len: u64, block: u64) -> Option<Cut> {
    if !block.is_power_of_two() {
        return None;
    }
    let end = start.checked_add(len)?;
    let body_start = start.checked_add(block - 1)? & !(block - 1);
    let body_end = end & !(block - 1);
    if body_end <= body_start {
        return None;
    }
    Some(Cut {
        head: (start, body_start - start),
        body: (body_start, body_end - body_start),
        tail: (body_end, end - body_end),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dczid_decodes_the_block_size_and_the_prohibit_bit() {
        assert_eq!(Dczid(4).block_bytes(), Some(64), "Cortex-A57, A72: 16 words");
        assert_eq!(Dczid(7).block_bytes(), Some(512));
        assert_eq!(Dczid(0x14).block_bytes(), None, "DZP set");
        assert_eq!(Dczid(0xf).block_bytes(), None, "beyond the architecture's 2 KiB");
    }

    #[test]
    fn an_aligned_range_is_all_body() {
        let cut = cut(0x4000_0000, 0x2000_0000, 64).unwrap();
        assert_eq!(cut.head, (0x4000_0000, 0));
        assert_eq!(cut.body, (0x4000_0000, 0x2000_0000));
        assert_eq!(cut.tail, (0x6000_0000, 0));
    }

    #[test]
    fn unaligned_ends_become_head_and_tail() {
        let cut = cut(0x1010, 0x100, 64).unwrap();
        assert_eq!(cut.head, (0x1010, 0x30));
        assert_eq!(cut.body, (0x1040, 0xc0));
        assert_eq!(cut.tail, (0x1100, 0x10));
        assert_eq!(cut.head.1 + cut.body.1 + cut.tail.1, 0x100);
    }

    #[test]
    fn a_range_without_a_whole_block_or_that_wraps_is_left_to_stores() {
        assert_eq!(cut(0x1010, 0x40, 64), None);
        assert_eq!(cut(0x1000, 0, 64), None);
        assert_eq!(cut(u64::MAX - 0x100, 0x200, 64), None);
        assert_eq!(cut(0x1000, 0x1000, 48), None);
    }
}
