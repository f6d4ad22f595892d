//! The physical UART's transmit ring: what the console writes waits here, in hypervisor
//! memory, and leaves through the UART's transmit FIFO without any writer waiting for it.
//!
//! A writer only queues ([`TransmitRing::queue`]) and, when the transmitter is idle, primes
//! the FIFO with what fits at once ([`TransmitRing::prime`]: at most [`BURST`] bytes, while
//! the FIFO shows room), arming the UART's transmit interrupt if bytes are left; the
//! interrupt ([`TransmitRing::interrupt`]) sends the next burst each time the FIFO drains to
//! its trigger level, and disarms once the ring is empty. Only early boot, the board's last
//! lines and the fatal report wait for the UART ([`TransmitRing::drain`], bounded per byte).
//!
//! Full ring: a write that does not fit is dropped whole, and so is everything after it until
//! the dropped stream reaches a line end (or the end of a defmt frame) while a quarter of the
//! ring is free again (or the ring has emptied). Then the line the ring last took, if it was
//! left open, is ended with [`CUT_MARK`] (a defmt frame left open with its closing zero byte),
//! and a line says how many bytes were lost:
//! `bulkhead: console: N bytes dropped: ...`. So nothing is ever waited for, what is printed
//! still comes in whole lines (the multiplexer's guarantees hold: a line is whole or ends with
//! ` [cut]`), and the loss is visible where it happened.

use core::fmt::Write;

use super::{CUT_MARK, LINE_END};

/// Bytes written into the FIFO at most per prime or interrupt: the deepest PL011 FIFO
/// (r1p5, 32 entries); a shallower one shows TXFF earlier and stops the burst there.
pub const BURST: usize = 32;

/// The UART's transmit side, as the ring drives it.
pub trait TransmitFifo {
    /// Whether the FIFO has no room for a byte now (PL011 UARTFR.TXFF).
    fn is_full(&mut self) -> bool;
    /// Puts a byte into the FIFO; only called when [`Self::is_full`] said there is room.
    fn write(&mut self, byte: u8);
    /// Enables or disables the transmit interrupt (PL011 UARTIMSC.TXIM).
    fn set_interrupt(&mut self, enabled: bool);
}

/// Where a byte stream is: inside a defmt frame (between its two zero bytes) and, outside
/// one, whether its last line is unfinished.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Stream {
    in_frame: bool,
    line_open: bool,
}

impl Stream {
    fn advance(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if byte == 0 {
                self.in_frame = !self.in_frame;
            } else if !self.in_frame {
                self.line_open = byte != b'\n';
            }
        }
    }

    /// Between lines and frames: where output may resume after a gap.
    fn at_boundary(self) -> bool {
        !self.in_frame && !self.line_open
    }
}

/// A drop: whether one is in progress, what it lost, and where the lost stream stands. All
/// zero when none is (so an empty ring is all zeros, and the ring's static lives in `.bss`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Dropping {
    active: bool,
    bytes: u64,
    stream: Stream,
}

/// What the ring has done since boot (reported by the board's last lines and `irq`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransmitStats {
    /// Bytes written into the FIFO by writers priming an idle transmitter.
    pub primed: u64,
    /// Bytes written into the FIFO from the transmit interrupt.
    pub from_interrupt: u64,
    /// Transmit interrupts taken while armed.
    pub interrupts: u64,
    /// Bytes written while waiting for the UART (boot, the last lines, the fatal report).
    pub waited: u64,
    /// Bytes dropped because the ring was full (or the UART never made room while waited for).
    pub dropped: u64,
}

impl TransmitStats {
    /// Every byte written into the FIFO.
    pub fn sent(&self) -> u64 {
        self.primed.saturating_add(self.from_interrupt).saturating_add(self.waited)
    }
}

/// The transmit ring: `N` bytes (a power of two), the armed interrupt, the drop state.
pub struct TransmitRing<const N: usize> {
    bytes: [u8; N],
    start: usize,
    len: usize,
    armed: bool,
    accepted: Stream,
    dropping: Dropping,
    stats: TransmitStats,
}

impl<const N: usize> Default for TransmitRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> TransmitRing<N> {
    const SIZE_IS_A_POWER_OF_TWO: () = assert!(N.is_power_of_two() && N >= 1024, "the ring is a power of two of at least 1 KiB");
    /// Free bytes a drop waits for before it resumes (with the stream at a line end).
    const RESUME: usize = N / 4;

    /// An empty ring, transmitter idle.
    pub const fn new() -> Self {
        let () = Self::SIZE_IS_A_POWER_OF_TWO;
        Self { bytes: [0; N], start: 0, len: 0, armed: false, accepted: Stream { in_frame: false, line_open: false }, dropping: Dropping { active: false, bytes: 0, stream: Stream { in_frame: false, line_open: false } }, stats: TransmitStats { primed: 0, from_interrupt: 0, interrupts: 0, waited: 0, dropped: 0 } }
    }

    /// Bytes queued, not yet in the FIFO.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing waits.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room for more bytes.
    pub const fn free(&self) -> usize {
        N.saturating_sub(self.len)
    }

    /// Whether the transmit interrupt is armed (the transmitter is busy with the ring).
    pub const fn armed(&self) -> bool {
        self.armed
    }

    /// What the ring has done since boot.
    pub const fn stats(&self) -> TransmitStats {
        self.stats
    }

    /// Queues `bytes` whole, or drops them (see the module's policy); never waits. Returns
    /// whether they were queued.
    pub fn queue(&mut self, bytes: &[u8]) -> bool {
        if self.dropping.active || bytes.len() > self.free() {
            self.drop_bytes(bytes);
            return false;
        }
        self.push(bytes);
        true
    }

    /// Drops `bytes` (starting a drop if none is in progress), and ends the drop if the lost
    /// stream now allows it.
    #[cold]
    #[inline(never)]
    fn drop_bytes(&mut self, bytes: &[u8]) {
        if !self.dropping.active {
            self.dropping = Dropping { active: true, bytes: 0, stream: self.accepted };
        }
        self.dropping.bytes = self.dropping.bytes.saturating_add(bytes.len() as u64);
        self.dropping.stream.advance(bytes);
        self.count_dropped(bytes.len());
        self.resume_if_room();
    }

    /// A writer's part once it queued: if the transmitter is idle, fills the FIFO with what it
    /// takes at once (never waiting) and arms the interrupt for the rest. Returns the bytes
    /// written.
    pub fn prime(&mut self, fifo: &mut impl TransmitFifo) -> usize {
        if self.armed || self.is_empty() {
            return 0;
        }
        let sent = self.burst(fifo);
        self.stats.primed = self.stats.primed.saturating_add(sent as u64);
        if !self.is_empty() {
            self.armed = true;
            fifo.set_interrupt(true);
        }
        sent
    }

    /// The transmit interrupt: the next burst, and the interrupt disarmed once the ring is
    /// empty. Returns the bytes written. Not armed (the interrupt line is shared with
    /// receive): nothing.
    pub fn interrupt(&mut self, fifo: &mut impl TransmitFifo) -> usize {
        if !self.armed {
            return 0;
        }
        self.stats.interrupts = self.stats.interrupts.saturating_add(1);
        let sent = self.burst(fifo);
        self.stats.from_interrupt = self.stats.from_interrupt.saturating_add(sent as u64);
        if self.is_empty() {
            // A drop that waited for room but not for a line end yet goes on; one at a line
            // end says so now, which the next interrupt sends.
            self.resume_if_room();
        }
        if self.is_empty() {
            self.armed = false;
            fifo.set_interrupt(false);
        }
        sent
    }

    /// A writer that waits for room in the ring (an operator's long answer) sends a burst
    /// itself, as the interrupt would, leaving the interrupt armed for the rest (or disarmed
    /// once the ring is empty). Returns the bytes written.
    #[inline(never)]
    pub fn relieve(&mut self, fifo: &mut impl TransmitFifo) -> usize {
        let sent = self.burst(fifo);
        self.stats.waited = self.stats.waited.saturating_add(sent as u64);
        if self.is_empty() {
            self.resume_if_room();
        }
        if self.is_empty() && self.armed {
            self.armed = false;
            fifo.set_interrupt(false);
        }
        sent
    }

    /// Sends everything queued, waiting for room in the FIFO: `wait` is called while it is
    /// full and returns false once it gave up (the UART is not draining), which drops the
    /// rest. Leaves the interrupt disarmed. Returns the bytes written.
    #[inline(never)]
    pub fn drain(&mut self, fifo: &mut impl TransmitFifo, mut wait: impl FnMut() -> bool) -> usize {
        if self.armed {
            self.armed = false;
            fifo.set_interrupt(false);
        }
        if self.dropping.active && self.dropping.stream.at_boundary() {
            self.announce_drop();
        }
        let mut sent: usize = 0;
        while let Some(byte) = self.front() {
            while fifo.is_full() {
                if !wait() {
                    let lost = self.len;
                    self.discard(lost);
                    self.count_dropped(lost);
                    self.stats.waited = self.stats.waited.saturating_add(sent as u64);
                    return sent;
                }
            }
            fifo.write(byte);
            self.discard(1);
            sent = sent.saturating_add(1);
        }
        self.stats.waited = self.stats.waited.saturating_add(sent as u64);
        sent
    }

    /// Writes `bytes` and everything queued before them, waiting for the UART (`wait` as for
    /// [`Self::drain`]): early boot, the board's last lines. Goes through the ring in pieces,
    /// so a drop still in progress is ended (and reported) where the stream allows.
    #[inline(never)]
    pub fn write_waiting(&mut self, bytes: &[u8], fifo: &mut impl TransmitFifo, mut wait: impl FnMut() -> bool) -> usize {
        let mut sent = self.drain(fifo, &mut wait);
        for piece in bytes.chunks(N / 2) {
            self.queue(piece);
            sent = sent.saturating_add(self.drain(fifo, &mut wait));
        }
        sent
    }

    /// Takes every queued byte out in order, for a writer that sends them itself (the fatal
    /// report's emergency path); returns how many.
    #[inline(never)]
    pub fn take_all(&mut self, mut out: impl FnMut(&[u8])) -> usize {
        let taken = self.len;
        while !self.is_empty() {
            let end = self.start.saturating_add(self.len).min(N);
            let chunk = &self.bytes[self.start..end];
            out(chunk);
            let n = chunk.len();
            self.discard(n);
        }
        self.stats.waited = self.stats.waited.saturating_add(taken as u64);
        taken
    }

    /// Writes from the ring into the FIFO while it shows room, [`BURST`] bytes at most.
    fn burst(&mut self, fifo: &mut impl TransmitFifo) -> usize {
        let mut sent: usize = 0;
        while sent < BURST {
            let Some(byte) = self.front() else { break };
            if fifo.is_full() {
                break;
            }
            fifo.write(byte);
            self.discard(1);
            sent = sent.saturating_add(1);
        }
        sent
    }

    fn front(&self) -> Option<u8> {
        if self.is_empty() { None } else { self.bytes.get(self.start).copied() }
    }

    /// Removes `n` bytes from the front (at most what is queued).
    fn discard(&mut self, n: usize) {
        let n = n.min(self.len);
        self.start = self.start.wrapping_add(n) & N.wrapping_sub(1);
        self.len = self.len.saturating_sub(n);
        if self.len == 0 {
            self.start = 0;
        }
    }

    /// Appends `bytes`; the caller checked they fit.
    fn push(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if self.len >= N {
                break;
            }
            let at = self.start.wrapping_add(self.len) & N.wrapping_sub(1);
            if let Some(slot) = self.bytes.get_mut(at) {
                *slot = byte;
            }
            self.len = self.len.saturating_add(1);
        }
        self.accepted.advance(bytes);
    }

    fn count_dropped(&mut self, n: usize) {
        self.stats.dropped = self.stats.dropped.saturating_add(n as u64);
    }

    /// Ends a drop whose lost stream is at a line end, once there is room again.
    fn resume_if_room(&mut self) {
        if self.dropping.active && self.dropping.stream.at_boundary() && (self.free() >= Self::RESUME || self.is_empty()) {
            self.announce_drop();
        }
    }

    /// Closes what the ring last took (an open line with the cut mark, an open defmt frame
    /// with its zero byte) and queues the line that counts the loss.
    #[cold]
    #[inline(never)]
    fn announce_drop(&mut self) {
        let dropping = core::mem::take(&mut self.dropping);
        if self.accepted.in_frame {
            self.push(&[0]);
        }
        if self.accepted.line_open {
            self.push(CUT_MARK);
            self.push(LINE_END);
        }
        let mut line = heapless::String::<160>::new();
        let _ = write!(
            line,
            "bulkhead: console: {} bytes dropped: the UART's transmit ring ({} bytes) was full; less output or a faster line rate avoids it",
            dropping.bytes, N
        );
        // The line always fits: a drop ends with a quarter of the ring free, or all of it.
        if line.len().saturating_add(LINE_END.len()).saturating_add(CUT_MARK.len()).saturating_add(1) <= self.free() {
            self.push(line.as_bytes());
            self.push(LINE_END);
        }
    }
}

#[cfg(test)]
mod tests;
