//! Console input: the CTRL-a switch sequence and routing of every other byte to the focus.
//!
//! As in Xen's serial input handler, switch characters are held back while they count
//! towards a switch; when another byte breaks the run, the held ones are forwarded first,
//! so a guest still receives a single or double CTRL-a.

use super::multiplexer::Multiplexer;
use super::{ConsoleSink, Focus, SWITCH_CODE, SWITCH_COUNT};

/// The bytes one input byte releases, and who receives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Routed {
    /// Who receives the bytes.
    pub target: Focus,
    bytes: [u8; SWITCH_COUNT as usize],
    len: usize,
}

impl Routed {
    /// The bytes to deliver, oldest first (empty while a switch sequence is counted).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl<const N: usize, const L: usize> Multiplexer<'_, N, L> {
    /// Takes one byte from the physical console and says where it and any held-back
    /// switch characters go. A completed switch sequence moves the focus and prints the
    /// change to `sink`.
    pub fn input(&mut self, byte: u8, sink: &mut impl ConsoleSink) -> Routed {
        let mut routed = Routed {
            target: self.focus,
            bytes: [0; SWITCH_COUNT as usize],
            len: 0,
        };
        if byte == SWITCH_CODE {
            self.switch_count = self.switch_count.saturating_add(1);
            if self.switch_count == SWITCH_COUNT {
                self.switch_count = 0;
                self.switch_focus(true, sink);
                routed.target = self.focus;
            }
            return routed;
        }
        let held = usize::from(self.switch_count);
        routed.bytes[..held].fill(SWITCH_CODE);
        routed.bytes[held] = byte;
        routed.len = held + 1;
        self.switch_count = 0;
        routed
    }
}
