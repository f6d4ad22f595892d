//! The receive FIFO of the virtual PL011: a fixed ring of bytes from the console.

/// The depth of the receive FIFO: 32 entries, as a PL011 r1p5 and the SBSA Generic UART have.
pub const FIFO_DEPTH: usize = 32;

/// A first-in first-out ring of at most [`FIFO_DEPTH`] bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiveFifo {
    bytes: [u8; FIFO_DEPTH],
    head: usize,
    len: usize,
}

impl Default for ReceiveFifo {
    fn default() -> Self {
        Self::new()
    }
}

impl ReceiveFifo {
    /// An empty FIFO.
    pub const fn new() -> Self {
        Self {
            bytes: [0; FIFO_DEPTH],
            head: 0,
            len: 0,
        }
    }

    /// The number of bytes waiting.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// True when no byte waits.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when another byte would not fit.
    pub const fn is_full(&self) -> bool {
        self.len == FIFO_DEPTH
    }

    /// Appends a byte; gives it back when the FIFO is full.
    pub fn push(&mut self, byte: u8) -> Result<(), u8> {
        if self.is_full() {
            return Err(byte);
        }
        self.bytes[self.head.wrapping_add(self.len) % FIFO_DEPTH] = byte;
        self.len = self.len.saturating_add(1);
        Ok(())
    }

    /// Removes the oldest byte.
    pub fn pop(&mut self) -> Option<u8> {
        if self.is_empty() {
            return None;
        }
        let byte = self.bytes[self.head];
        self.head = self.head.wrapping_add(1) % FIFO_DEPTH;
        self.len = self.len.saturating_sub(1);
        Some(byte)
    }

    /// Drops every waiting byte.
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_across_the_wrap() {
        let mut fifo = ReceiveFifo::new();
        for round in 0..3u8 {
            for byte in 0..20u8 {
                fifo.push(round * 20 + byte).unwrap();
            }
            for byte in 0..20u8 {
                assert_eq!(fifo.pop(), Some(round * 20 + byte));
            }
        }
        assert_eq!(fifo.pop(), None);
    }

    #[test]
    fn refuses_a_byte_when_full() {
        let mut fifo = ReceiveFifo::new();
        for byte in 0..FIFO_DEPTH as u8 {
            fifo.push(byte).unwrap();
        }
        assert!(fifo.is_full());
        assert_eq!(fifo.push(0xaa), Err(0xaa));
        assert_eq!(fifo.pop(), Some(0));
        fifo.clear();
        assert!(fifo.is_empty());
    }
}
