//! A virtual PL011 (SBSA Generic UART) per partition, emulated from trapped MMIO accesses.
//!
//! The aarch64 layer turns a stage-2 data abort on the UART's page into
//! [`Vpl011::emulate`] (or [`Vpl011::read`] and [`Vpl011::write`] with the offset in the
//! page and the access size from [`crate::portable::trap::MmioAccess`]), feeds console input through
//! [`Vpl011::receive`], and after each of these sets the partition's SPI
//! [`INTERRUPT_ID`] to the level [`Vpl011::interrupt_pending`] reports.

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod device;
pub mod fifo;
pub mod mmio;
pub mod registers;

pub use device::{Backlog, TransmitSink, Vpl011};
pub use fifo::FIFO_DEPTH;

use core::fmt;

/// The guest interrupt of the UART: SPI 0, INTID 32 (the SPI Xen gives its vpl011).
pub const INTERRUPT_ID: u32 = crate::portable::guest::layout::VPL011_INTID;

/// The size of the UART's MMIO region.
pub const REGION_SIZE: u64 = 0x1000;

/// Why an access or a received byte was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vpl011Error {
    /// No register at this offset.
    BadOffset {
        /// The offset within the UART's page.
        offset: u64,
    },
    /// An access size other than 1, 2 or 4 bytes.
    BadSize {
        /// The offset within the UART's page.
        offset: u64,
        /// The size in bytes.
        size: u8,
    },
    /// An access not aligned to its size.
    Misaligned {
        /// The offset within the UART's page.
        offset: u64,
        /// The size in bytes.
        size: u8,
    },
    /// The receive FIFO was full: the byte was dropped and an overrun latched.
    ReceiveOverrun {
        /// The dropped byte.
        byte: u8,
    },
}

impl fmt::Display for Vpl011Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadOffset { offset } => write!(f, "no PL011 register at offset {offset:#x}"),
            Self::BadSize { offset, size } => write!(
                f,
                "PL011 register at offset {offset:#x} accessed with {size} bytes (1, 2 or 4 allowed)"
            ),
            Self::Misaligned { offset, size } => {
                write!(f, "{size}-byte PL011 access at misaligned offset {offset:#x}")
            }
            Self::ReceiveOverrun { byte } => {
                write!(f, "PL011 receive FIFO full: input byte {byte:#04x} dropped")
            }
        }
    }
}
