//! Physical and intermediate-physical address ranges (the type lives in `boards`, the lowest
//! crate that needs it) and the translation granule's sizes.

pub use boards::{align_down, align_up, AddressRange};

/// The translation granule: 4 KiB pages.
pub const PAGE_SIZE: u64 = 0x1000;
/// A level 2 block with a 4 KiB granule.
pub const BLOCK_2M: u64 = 0x20_0000;
/// A level 1 block with a 4 KiB granule.
pub const BLOCK_1G: u64 = 0x4000_0000;
