//! The console multiplexer: partitions' output on the one physical UART, and input focus.
//!
//! Output: each partition's bytes are collected per line and printed whole, prefixed with
//! the partition's name in parentheses, `(rtos) text`. No partition's line is printed in the
//! middle of another's: while the focused partition's unfinished line is on the console, the
//! others' lines wait ([`HOLD_MS`] at most after it last grew, [`MAX_HOLD_MS`] after it
//! opened); a line that has to be broken
//! anyway (longer than the line buffer, held past that time, or interrupted by a hypervisor
//! line) ends with [`CUT_MARK`], and its rest follows on a line of its own. Xen prefixes its own lines `(XEN) `
//! and guest console lines `(d1) `; the same shape with the partition's name reads the same
//! way and names the partition as the configuration does, where Xen's vpl011 form `DOM1: `
//! would need a number to be mapped back to a name. The partition holding the input focus
//! is printed as it writes, so that prompts and echoed keys appear at once.
//!
//! Input: three CTRL-a in a row move the focus, hypervisor, then each running partition in
//! turn, then back, and the hypervisor says so as Xen does (`*** Serial input to rtos
//! (type 'CTRL-a' three times to switch input)`); every other byte goes to the focus.

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod input;
pub mod multiplexer;
pub mod output;
pub mod raw;
pub mod transmit;

pub use input::Routed;
pub use multiplexer::Multiplexer;
pub use output::Transmitter;

use core::fmt;

/// The switch character: CTRL-a.
pub const SWITCH_CODE: u8 = 0x01;
/// How many switch characters in a row move the focus.
pub const SWITCH_COUNT: u8 = 3;
/// The name the hypervisor gives itself in its own lines and in focus messages.
pub const HYPERVISOR_NAME: &str = "Bulkhead";
/// What ends every line written to the physical console (carriage return, line feed).
pub const LINE_END: &[u8] = b"\r\n";
/// What ends a piece of a line that was broken, before [`LINE_END`]: the rest of the line
/// follows later, on a line of its own with the prefix.
pub const CUT_MARK: &[u8] = b" [cut]";
/// How long the focused partition's unfinished line keeps the others' lines waiting after
/// it last grew, in the multiplexer's clock ([`Multiplexer::set_clock`], milliseconds): a
/// prompt waiting for the operator does not hold the console for ever.
pub const HOLD_MS: u64 = 100;
/// How long it keeps them waiting at most after it opened, however often it grows: the
/// focused partition cannot hold the others' output back for longer by writing slowly.
pub const MAX_HOLD_MS: u64 = 1000;

/// The physical console, as the multiplexer writes to it.
///
/// The hypervisor hands the multiplexer the console's `&mut dyn FnMut(&[u8])` itself (as
/// `&mut sink`), never a closure around it: each closure is a type of its own, and each gave
/// the multiplexer's output path another copy in the image (about 5 KB each, four of them).
pub trait ConsoleSink {
    /// Writes bytes as they are.
    fn write_bytes(&mut self, bytes: &[u8]);
}

impl<F: FnMut(&[u8])> ConsoleSink for F {
    fn write_bytes(&mut self, bytes: &[u8]) {
        self(bytes)
    }
}

/// Who receives console input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    /// The hypervisor itself (for its debug keys, or nobody).
    Hypervisor,
    /// The partition with this index (its vPL011 receives the bytes).
    Partition(usize),
}

/// Why the multiplexer refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleError {
    /// All the partition slots are taken.
    TooManyPartitions {
        /// The number of slots.
        capacity: usize,
    },
    /// A partition may not take the name the hypervisor uses on the console.
    ReservedName {
        /// The name given.
        name: &'static str,
    },
    /// No partition has this index.
    NoSuchPartition {
        /// The index given.
        index: usize,
        /// The number of partitions registered.
        count: usize,
    },
    /// The partition is stopped: it takes no input.
    NotRunning {
        /// The index given.
        index: usize,
    },
}

impl fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManyPartitions { capacity } => {
                write!(
                    f,
                    "the console multiplexer has room for {capacity} partitions only"
                )
            }
            Self::ReservedName { name } => write!(
                f,
                "the console name \"{name}\" is the hypervisor's own (its focus messages read \"({HYPERVISOR_NAME}) ***\"); rename the partition"
            ),
            Self::NoSuchPartition { index, count } => write!(
                f,
                "console partition {index} does not exist ({count} registered)"
            ),
            Self::NotRunning { index } => {
                write!(f, "console partition {index} is stopped and takes no input; start it first")
            }
        }
    }
}

#[cfg(test)]
mod tests;
