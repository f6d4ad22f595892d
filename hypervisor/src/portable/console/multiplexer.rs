//! The multiplexer's state: partitions with their line buffers, the focus, the open line.

use super::raw::RawFilter;
use super::{ConsoleError, ConsoleSink, Focus, CUT_MARK, HOLD_MS, HYPERVISOR_NAME, LINE_END, MAX_HOLD_MS, SWITCH_CODE};

/// One partition's console: its name, the line being collected, whether it runs.
#[derive(Clone, Copy, Debug)]
pub(super) struct Channel<'a, const L: usize> {
    /// `None` in an unused slot: an empty multiplexer is all zeros, so the hypervisor's
    /// (4.7 KB for 16 partitions) lies in `.bss`, not in the image file's `.data` (a `&str`,
    /// even empty, is a non-null pointer).
    name: Option<&'a str>,
    pub(super) line: [u8; L],
    pub(super) len: usize,
    pub(super) running: bool,
}

impl<'a, const L: usize> Channel<'a, L> {
    const EMPTY: Self = Self {
        name: None,
        line: [0; L],
        len: 0,
        running: false,
    };

    /// The partition's name ("" in an unused slot).
    pub(super) fn name(&self) -> &'a str {
        self.name.unwrap_or("")
    }
}

/// The console multiplexer for up to `N` partitions with `L`-byte line buffers.
///
/// Partitions are numbered in the order they are added, from 0.
#[derive(Clone, Debug)]
pub struct Multiplexer<'a, const N: usize, const L: usize> {
    pub(super) channels: [Channel<'a, L>; N],
    pub(super) count: usize,
    pub(super) focus: Focus,
    /// How many switch characters arrived in a row, not yet forwarded.
    pub(super) switch_count: u8,
    /// The partition whose unfinished line the physical console shows, if any (always the
    /// focused one).
    pub(super) open_line: Option<usize>,
    /// When the open line last grew, on the caller's clock.
    pub(super) open_at: u64,
    /// When the open line opened.
    pub(super) opened_at: u64,
    /// The caller's clock (milliseconds), as last set.
    pub(super) now: u64,
    /// What the focused partition's raw output may do on its open line.
    pub(super) raw: RawFilter,
}

impl<const N: usize, const L: usize> Default for Multiplexer<'_, N, L> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a, const N: usize, const L: usize> Multiplexer<'a, N, L> {
    const LINE_BUFFER_NOT_EMPTY: () = assert!(L > 0, "line buffers need at least one byte");

    /// A multiplexer with no partition, input going to the hypervisor.
    pub const fn new() -> Self {
        let () = Self::LINE_BUFFER_NOT_EMPTY;
        Self {
            channels: [Channel::EMPTY; N],
            count: 0,
            focus: Focus::Hypervisor,
            switch_count: 0,
            open_line: None,
            open_at: 0,
            opened_at: 0,
            now: 0,
            raw: RawFilter::new(),
        }
    }

    /// Sets the multiplexer's clock (milliseconds, any origin, never going back): how long
    /// the focused partition's unfinished line holds the others' lines is measured on it.
    pub fn set_clock(&mut self, now_ms: u64) {
        self.now = self.now.max(now_ms);
    }

    /// Registers a running partition under `name`; returns its index.
    pub fn add_partition(&mut self, name: &'a str) -> Result<usize, ConsoleError> {
        if name.eq_ignore_ascii_case(HYPERVISOR_NAME) {
            return Err(ConsoleError::ReservedName { name: HYPERVISOR_NAME });
        }
        let index = self.count;
        let channel = self
            .channels
            .get_mut(index)
            .ok_or(ConsoleError::TooManyPartitions { capacity: N })?;
        *channel = Channel {
            name: Some(name),
            running: true,
            ..Channel::EMPTY
        };
        // `index` < N: the slot exists.
        self.count = index.saturating_add(1);
        Ok(index)
    }

    /// The number of registered partitions.
    pub const fn count(&self) -> usize {
        self.count
    }

    /// Who receives input now.
    pub const fn focus(&self) -> Focus {
        self.focus
    }

    /// The name of partition `index`.
    pub fn name(&self, index: usize) -> Result<&'a str, ConsoleError> {
        Ok(self.channel(index)?.name())
    }

    /// Whether partition `index` is running.
    pub fn is_running(&self, index: usize) -> Result<bool, ConsoleError> {
        Ok(self.channel(index)?.running)
    }

    /// Records that partition `index` stopped or runs again.
    ///
    /// A stopping partition's unfinished line is printed; if it held the focus, the focus
    /// moves on as three CTRL-a would move it.
    pub fn set_running(
        &mut self,
        index: usize,
        running: bool,
        sink: &mut impl ConsoleSink,
    ) -> Result<(), ConsoleError> {
        self.channel(index)?;
        if !running {
            // Its own open line ends with it, uncut.
            if self.open_line == Some(index) {
                self.open_line = None;
                sink.write_bytes(LINE_END);
            }
            self.flush(index, sink)?;
        }
        self.channels[index].running = running;
        if !running && self.focus == Focus::Partition(index) {
            // The next partition's unfinished line is not shown now: whatever the hypervisor
            // prints next (this partition stopped) would cut it. It comes with its next byte.
            self.switch_focus(false, sink);
        }
        Ok(())
    }

    pub(super) fn channel(&self, index: usize) -> Result<&Channel<'a, L>, ConsoleError> {
        self.channels[..self.count]
            .get(index)
            .ok_or(ConsoleError::NoSuchPartition {
                index,
                count: self.count,
            })
    }

    /// Ends the unfinished line on the physical console, if there is one, with [`CUT_MARK`]:
    /// its rest comes later on a line of its own.
    ///
    /// The hypervisor calls this before writing a line of its own.
    pub fn close_open_line(&mut self, sink: &mut impl ConsoleSink) {
        if self.open_line.take().is_some() {
            sink.write_bytes(CUT_MARK);
            sink.write_bytes(LINE_END);
        }
    }

    /// Whether another partition's unfinished line still holds partition `index`'s lines
    /// back: it is open, grew less than [`HOLD_MS`] ago and opened less than
    /// [`MAX_HOLD_MS`] ago.
    pub(super) fn held(&self, index: usize) -> bool {
        matches!(self.open_line, Some(open) if open != index)
            && self.now < self.open_at.saturating_add(HOLD_MS)
            && self.now < self.opened_at.saturating_add(MAX_HOLD_MS)
    }

    /// Cuts another partition's open line, so that partition `index`'s buffered output can
    /// be printed at once (before a hypervisor line about it: a crash, a stop).
    pub fn make_way(&mut self, index: usize, sink: &mut impl ConsoleSink) {
        if self.open_line.is_some_and(|open| open != index) {
            self.close_open_line(sink);
        }
    }

    /// Writes `(name) ` for partition `index`.
    pub(super) fn write_prefix(&self, index: usize, sink: &mut impl ConsoleSink) {
        sink.write_bytes(b"(");
        sink.write_bytes(self.channels[index].name().as_bytes());
        sink.write_bytes(b") ");
    }

    /// Moves the focus to the next running partition, or to the hypervisor after the
    /// last one, and prints where input goes now; with `show`, the new focus's unfinished
    /// line follows (a prompt the operator should see).
    pub(super) fn switch_focus(&mut self, show: bool, sink: &mut impl ConsoleSink) {
        let first = match self.focus {
            Focus::Hypervisor => 0,
            Focus::Partition(index) => index.saturating_add(1),
        };
        let next = (first..self.count).find(|&index| self.channels[index].running);
        self.set_focus(next, show, sink);
    }

    /// Gives the input focus to running partition `index` (the operator's `focus NAME`).
    pub fn focus_on(&mut self, index: usize, sink: &mut impl ConsoleSink) -> Result<(), ConsoleError> {
        if !self.is_running(index)? {
            return Err(ConsoleError::NotRunning { index });
        }
        self.set_focus(Some(index), true, sink);
        Ok(())
    }

    /// Moves the focus to a partition (or to the hypervisor) and says so, then shows the
    /// partition's unfinished line if `show`.
    fn set_focus(&mut self, next: Option<usize>, show: bool, sink: &mut impl ConsoleSink) {
        self.focus = next.map_or(Focus::Hypervisor, Focus::Partition);
        self.close_open_line(sink);
        let name = next.map_or(HYPERVISOR_NAME, |index| self.channels[index].name());
        sink.write_bytes(b"(");
        sink.write_bytes(HYPERVISOR_NAME.as_bytes());
        sink.write_bytes(b") *** Serial input to ");
        sink.write_bytes(name.as_bytes());
        sink.write_bytes(b" (type 'CTRL-");
        sink.write_bytes(&[b'a' + SWITCH_CODE - 1]);
        sink.write_bytes(b"' three times to switch input)");
        sink.write_bytes(LINE_END);
        if let Some(index) = next.filter(|_| show) {
            self.show_unfinished_line(index, sink);
        }
    }
}
