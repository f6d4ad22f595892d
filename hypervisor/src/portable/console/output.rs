//! Partition output: whole prefixed lines, long lines in cut pieces, the focus printed at
//! once, and no line printed inside another.
//!
//! A partition's buffered lines reach the operator's terminal with their control bytes made
//! visible (`^[` for ESC, `^?` for DEL; tab kept): a guest cannot move the cursor, erase its
//! `(name)` prefix or draw a line that looks like another partition's or the hypervisor's.
//! The partition holding the input focus is printed byte by byte, so that a shell's line
//! editing works, through a filter (`raw.rs`) that keeps it on its own line, right of its
//! prefix: it cannot forge the focus banner or another partition's line either.

use super::multiplexer::Multiplexer;
use super::{ConsoleError, ConsoleSink, CUT_MARK, LINE_END};
use crate::portable::vpl011::TransmitSink;

impl<const N: usize, const L: usize> Multiplexer<'_, N, L> {
    /// Takes one byte partition `index` wrote to its console; returns whether it took it.
    ///
    /// Carriage returns are dropped (every line ends with [`LINE_END`]). A line is printed
    /// when it ends; a line longer than the `L`-byte buffer comes out in pieces, each with
    /// the prefix, all but the last ending with [`CUT_MARK`]. The partition holding the
    /// focus is printed byte by byte. While the focused partition's unfinished line is on
    /// the console (for [`super::HOLD_MS`] after it last grew), another partition's byte
    /// that would print a line is refused (`Ok(false)`, nothing changed): the caller keeps
    /// it and offers it again later.
    pub fn output(
        &mut self,
        index: usize,
        byte: u8,
        sink: &mut impl ConsoleSink,
    ) -> Result<bool, ConsoleError> {
        self.channel(index)?;
        Ok(self.push_byte(index, byte, sink))
    }

    /// [`Self::output`] for an index known to be registered.
    fn push_byte(&mut self, index: usize, byte: u8, sink: &mut impl ConsoleSink) -> bool {
        if byte == b'\r' {
            return true;
        }
        if self.focus == super::Focus::Partition(index) {
            self.output_now(index, byte, sink);
            return true;
        }
        let completes = byte == b'\n' || self.channels[index].len >= L;
        if completes && self.held(index) {
            return false;
        }
        if byte == b'\n' {
            if self.channels[index].len == 0 {
                // An empty line is printed too.
                self.close_open_line(sink);
                self.write_prefix(index, sink);
                sink.write_bytes(LINE_END);
            }
            self.flush_line(index, sink);
            return true;
        }
        if self.channels[index].len >= L {
            // A longer line than the buffer: this piece goes, cut, and the line goes on.
            self.print_buffered(index, sink);
            sink.write_bytes(CUT_MARK);
            sink.write_bytes(LINE_END);
        }
        let channel = &mut self.channels[index];
        // Below L: a full buffer was printed just above.
        if let Some(slot) = channel.line.get_mut(channel.len) {
            *slot = byte;
            channel.len = channel.len.saturating_add(1);
        }
        true
    }

    /// Prints partition `index`'s unfinished line, if any, as a line of its own (for
    /// example when the partition restarts).
    pub fn flush(&mut self, index: usize, sink: &mut impl ConsoleSink) -> Result<(), ConsoleError> {
        self.channel(index)?;
        self.flush_line(index, sink);
        Ok(())
    }

    /// Says on a line of its own that partition `index` lost `dropped` bytes of output
    /// (written while its UART showed its transmit FIFO full). Its unfinished line goes
    /// first, ended with [`CUT_MARK`] like every other broken line: the bytes lost came
    /// after it, and what the partition writes next is printed on a line of its own.
    pub fn report_dropped(
        &mut self,
        index: usize,
        dropped: u64,
        sink: &mut impl ConsoleSink,
    ) -> Result<(), ConsoleError> {
        use core::fmt::Write;
        self.channel(index)?;
        if self.channels[index].len != 0 {
            self.print_buffered(index, sink);
            sink.write_bytes(CUT_MARK);
            sink.write_bytes(LINE_END);
        }
        // The focused partition's own open line, or another's.
        self.close_open_line(sink);
        // A u64 has at most 20 decimal digits.
        let mut count = heapless::String::<20>::new();
        let _ = write!(count, "{dropped}");
        sink.write_bytes(b"bulkhead: partition \"");
        sink.write_bytes(self.channels[index].name().as_bytes());
        sink.write_bytes(b"\": ");
        sink.write_bytes(count.as_bytes());
        sink.write_bytes(b" console bytes dropped (written while its UART showed its transmit FIFO full)");
        sink.write_bytes(LINE_END);
        Ok(())
    }

    /// [`Self::flush`] for an index known to be registered.
    fn flush_line(&mut self, index: usize, sink: &mut impl ConsoleSink) {
        let len = self.channels[index].len;
        if len == 0 {
            return;
        }
        self.print_buffered(index, sink);
        sink.write_bytes(LINE_END);
    }

    /// Prints partition `index`'s buffered bytes after its prefix, on a line of their own
    /// (cutting another open line), and empties the buffer.
    fn print_buffered(&mut self, index: usize, sink: &mut impl ConsoleSink) {
        self.close_open_line(sink);
        self.write_prefix(index, sink);
        let len = self.channels[index].len;
        write_visible(&self.channels[index].line[..len], sink);
        self.channels[index].len = 0;
    }

    /// A sink for partition `index`'s vPL011 that writes through this multiplexer.
    pub fn transmitter<'m, S: ConsoleSink>(
        &'m mut self,
        index: usize,
        sink: &'m mut S,
    ) -> Result<Transmitter<'m, S, Self>, ConsoleError> {
        self.channel(index)?;
        Ok(Transmitter {
            multiplexer: self,
            index,
            sink,
        })
    }

    /// Prints a byte of the focused partition `index` on its open line, opening it (with
    /// what the partition wrote before it had the focus) if another line is open or none.
    fn output_now(&mut self, index: usize, byte: u8, sink: &mut impl ConsoleSink) {
        if self.open_line != Some(index) {
            self.close_open_line(sink);
            if self.channels[index].len > 0 {
                self.print_buffered(index, sink);
            } else {
                self.write_prefix(index, sink);
            }
            self.open_line = Some(index);
            self.opened_at = self.now;
            self.raw.start_line();
        }
        self.open_at = self.now;
        if byte == b'\n' {
            self.open_line = None;
            sink.write_bytes(LINE_END);
        } else {
            self.raw.push(byte, sink);
        }
    }

    /// Moves partition `index`'s buffered bytes onto the console as its open line, so
    /// that a prompt written before the partition got the focus is seen.
    pub(super) fn show_unfinished_line(&mut self, index: usize, sink: &mut impl ConsoleSink) {
        let len = self.channels[index].len;
        if len == 0 {
            return;
        }
        self.print_buffered(index, sink);
        self.open_line = Some(index);
        self.open_at = self.now;
        self.opened_at = self.now;
        self.raw.start_line();
    }
}

/// Writes `bytes` with every control byte but tab in caret notation (`^[` for ESC, `^?` for
/// DEL) and every C1 control in UTF-8 (U+0080 to U+009F, which some terminals obey) as
/// `<U+009B>`: runs of ordinary bytes go out as they are, other UTF-8 included.
pub(super) fn write_visible(bytes: &[u8], sink: &mut impl ConsoleSink) {
    let mut run = 0;
    let mut at = 0;
    // `at` stays below `bytes.len()`, far from overflowing.
    while let Some(&byte) = bytes.get(at) {
        let next = bytes.get(at.saturating_add(1)).copied().filter(|next| byte == 0xc2 && (0x80..=0x9f).contains(next));
        let control = (byte < 0x20 && byte != b'\t') || byte == 0x7f;
        if !control && next.is_none() {
            at = at.saturating_add(1);
            continue;
        }
        sink.write_bytes(&bytes[run..at]);
        if let Some(c1) = next {
            super::raw::write_c1(c1, sink);
            at = at.saturating_add(2);
        } else {
            sink.write_bytes(&[b'^', byte ^ 0x40]);
            at = at.saturating_add(1);
        }
        run = at;
    }
    sink.write_bytes(&bytes[run..]);
}

/// Writes one partition's vPL011 output through the multiplexer.
pub struct Transmitter<'m, S, M> {
    multiplexer: &'m mut M,
    index: usize,
    sink: &'m mut S,
}

impl<S: ConsoleSink, const N: usize, const L: usize> TransmitSink
    for Transmitter<'_, S, Multiplexer<'_, N, L>>
{
    fn transmit(&mut self, byte: u8) {
        // The index was checked when the transmitter was made, and partitions are never
        // removed. A byte held back is dropped: this sink has nowhere to keep it (the
        // hypervisor's own sink, `vm/output.rs`, keeps it in the partition's buffer).
        let _ = self.multiplexer.push_byte(self.index, byte, self.sink);
    }
}
