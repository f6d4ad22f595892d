//! Partition output: whole prefixed lines, long lines in pieces, the focus printed at once.
//!
//! A partition's buffered lines reach the operator's terminal with their control bytes made
//! visible (`^[` for ESC, `^?` for DEL; tab kept): a guest cannot move the cursor, erase its
//! `(name)` prefix or draw a line that looks like another partition's or the hypervisor's.
//! The partition holding the input focus is printed byte by byte, so that a shell's line
//! editing works, through a filter (`raw.rs`) that keeps it on its own line, right of its
//! prefix: it cannot forge the focus banner or another partition's line either.

use super::multiplexer::Multiplexer;
use super::{ConsoleError, ConsoleSink, LINE_END};
use crate::portable::vpl011::TransmitSink;

impl<const N: usize, const L: usize> Multiplexer<'_, N, L> {
    /// Takes one byte partition `index` wrote to its console.
    ///
    /// Carriage returns are dropped (every line ends with [`LINE_END`]). A line is printed
    /// when it ends or fills the `L`-byte buffer, so a longer line comes out in pieces,
    /// each with the prefix. The partition holding the focus is printed byte by byte.
    pub fn output(
        &mut self,
        index: usize,
        byte: u8,
        sink: &mut impl ConsoleSink,
    ) -> Result<(), ConsoleError> {
        self.channel(index)?;
        self.push_byte(index, byte, sink);
        Ok(())
    }

    /// [`Self::output`] for an index known to be registered.
    fn push_byte(&mut self, index: usize, byte: u8, sink: &mut impl ConsoleSink) {
        if byte == b'\r' {
            return;
        }
        if self.focus == super::Focus::Partition(index) {
            self.output_now(index, byte, sink);
            return;
        }
        let channel = &mut self.channels[index];
        if byte == b'\n' {
            // An empty line is printed, unless it only ends a line already printed in pieces.
            let wrapped = core::mem::replace(&mut channel.wrapped, false);
            if channel.len == 0 && !wrapped {
                self.close_open_line(sink);
                self.write_prefix(index, sink);
                sink.write_bytes(LINE_END);
            }
            self.flush_line(index, sink);
            return;
        }
        channel.line[channel.len] = byte;
        // Below L: a full buffer was flushed by the byte before.
        channel.len = channel.len.saturating_add(1);
        channel.wrapped = false;
        if channel.len == L {
            self.flush_line(index, sink);
            self.channels[index].wrapped = true;
        }
    }

    /// Prints partition `index`'s unfinished line, if any, as a line of its own (for
    /// example when the partition restarts).
    pub fn flush(&mut self, index: usize, sink: &mut impl ConsoleSink) -> Result<(), ConsoleError> {
        self.channel(index)?;
        self.flush_line(index, sink);
        Ok(())
    }

    /// [`Self::flush`] for an index known to be registered.
    fn flush_line(&mut self, index: usize, sink: &mut impl ConsoleSink) {
        self.channels[index].wrapped = false;
        let len = self.channels[index].len;
        if len == 0 {
            return;
        }
        self.print_buffered(index, sink);
        sink.write_bytes(LINE_END);
    }

    /// Prints partition `index`'s buffered bytes after its prefix, on a line of their own,
    /// and empties the buffer.
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

    fn output_now(&mut self, index: usize, byte: u8, sink: &mut impl ConsoleSink) {
        if self.open_line != Some(index) {
            self.close_open_line(sink);
            self.write_prefix(index, sink);
            self.open_line = Some(index);
            self.raw.start_line();
        }
        if byte == b'\n' {
            self.close_open_line(sink);
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
        // removed.
        self.multiplexer.push_byte(self.index, byte, self.sink);
    }
}
