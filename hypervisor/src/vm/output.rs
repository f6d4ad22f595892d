//! Partitions' console output on its way to the UART. On the trap path a guest's byte only
//! goes into its partition's own buffer (a short lock of that buffer alone, only tried on the
//! trap fast path); whichever CPU finds the console free next prints the buffers through the
//! multiplexer: after a line ends (or any byte of the partition holding the input focus), and
//! on other exits. A trap never waits for the console lock or the UART, so a partition that
//! prints a lot slows only the CPU that prints it, never another partition's vCPU. A byte the
//! multiplexer holds back (another partition's line is open on the console) stays in its
//! buffer and is offered again by a later pump, and so is a byte the UART's transmit ring
//! has no room for (`ONE_BYTE_AT_MOST`): printing queues into that ring, and the UART's
//! transmit interrupt sends it (`console.rs`).
//!
//! Back-pressure: a partition's vPL011 shows its buffer as its transmit FIFO ([`Transmitter`]:
//! TXFF while the buffer is full), so a guest that waits for TXFF to clear, as PL011 drivers
//! do, loses nothing. Bounds: a buffer holds `BUFFER` bytes; bytes written while it is full
//! (the guest ignored TXFF, or two of its vCPUs raced for the last byte of room) are counted
//! and reported (`bulkhead: partition "x": N console bytes dropped`). One hold of the console
//! prints at most `ROUND` bytes, so a CPU that waits for the console (the hypervisor's own
//! lines) waits for one round at most, whatever a partition writes.

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use heapless::Deque;
use locks::Mutex;

use crate::arch::aarch64::cpu;
use crate::console;
use crate::portable::console::{ConsoleSink, Focus, Multiplexer};
use crate::portable::vpl011::{Backlog, TransmitSink};

use super::{LINE, MAX_PARTITIONS, MUX};

/// Bytes a partition's buffer holds.
const BUFFER: usize = 4096;
/// Bytes printed at most per hold of the console by a pump.
const ROUND: usize = 512;
/// Bytes taken out of a buffer at a time (its lock is never held while printing).
const CHUNK: usize = 64;
/// The most the multiplexer writes to the UART's transmit ring for one byte a partition
/// wrote: the partition's whole line (`LINE` bytes, each shown in 4 at most: a C1 control's
/// two bytes become `<U+009B>`), its prefix (a name is 128 bytes at most), a cut mark and line
/// end, another partition's open line cut, and the dropped-bytes report. A pump hands the
/// multiplexer a byte only while the ring has this much room, so the partitions' output
/// never overflows it: it waits in their buffers, whose TXFF holds their guests back.
const ONE_BYTE_AT_MOST: usize = 4 * LINE + 512;

struct Buffer {
    bytes: Deque<u8, BUFFER>,
    /// Bytes refused since the last report.
    dropped: u64,
}

impl Buffer {
    const fn new() -> Self {
        Self { bytes: Deque::new(), dropped: 0 }
    }
}

static BUFFERS: [Mutex<Buffer>; MAX_PARTITIONS] = [const { Mutex::new(Buffer::new()) }; MAX_PARTITIONS];
/// Some buffer may hold bytes: the pump's fast path is this one load.
static PENDING: AtomicBool = AtomicBool::new(false);
/// The partition the next round starts with, so every partition gets its turn.
static NEXT: AtomicUsize = AtomicUsize::new(0);
/// Each buffer's length, stored under its lock whenever it changes, so the UART's flag
/// register (read on the trap fast path) costs one load and takes no lock.
static LENGTHS: [AtomicUsize; MAX_PARTITIONS] = [const { AtomicUsize::new(0) }; MAX_PARTITIONS];

/// The partition holding the input focus (`usize::MAX`: the hypervisor), noted after every
/// console operation: its bytes are printed as they come, so a prompt shows at once.
static FOCUSED: AtomicUsize = AtomicUsize::new(usize::MAX);

type Mux = Multiplexer<'static, MAX_PARTITIONS, LINE>;

/// Notes where the input focus is now (after the multiplexer may have moved it).
pub fn note_focus(focus: Focus) {
    let index = match focus {
        Focus::Partition(index) => index,
        Focus::Hypervisor => usize::MAX,
    };
    FOCUSED.store(index, Ordering::Relaxed);
}

/// Whether partition `index`'s byte `byte` should be printed now rather than at a later
/// exit: it ends a line, or the partition has the focus.
#[inline]
pub fn wants_print(index: usize, byte: u8) -> bool {
    byte == b'\n' || FOCUSED.load(Ordering::Relaxed) == index
}

/// The multiplexer's clock: the counter in milliseconds.
fn now_ms() -> u64 {
    let per_ms = cpu::counter_frequency().checked_div(1000).unwrap_or(0).max(1);
    cpu::counter().checked_div(per_ms).unwrap_or(0)
}

/// Partition `.0`'s buffer as the transmit side of its vPL011: bytes go in with [`push`], and
/// the UART's flag register shows how full the buffer is.
pub struct Transmitter(pub usize);

impl TransmitSink for Transmitter {
    fn transmit(&mut self, byte: u8) {
        push(self.0, byte);
    }

    /// The trap fast path's write: only if the buffer's lock is free at once.
    fn try_transmit(&mut self, byte: u8) -> bool {
        let Some(buffer) = BUFFERS.get(self.0) else { return true };
        let Some(buffer) = buffer.try_lock() else { return false };
        queue(self.0, buffer, byte);
        true
    }

    /// Never waits (the trap fast path asks): one load of the length the buffer's holder
    /// last stored, which is what a read just before that holder's change would have seen.
    fn backlog(&self) -> Backlog {
        let Some(length) = LENGTHS.get(self.0) else { return Backlog::Empty };
        match length.load(Ordering::Acquire) {
            0 => Backlog::Empty,
            n if n >= BUFFER => Backlog::Full,
            _ => Backlog::Waiting,
        }
    }
}

/// Queues a byte partition `index` wrote to its console (the trap path: no wait).
pub fn push(index: usize, byte: u8) {
    let Some(buffer) = BUFFERS.get(index) else { return };
    queue(index, buffer.lock(), byte);
}

/// Puts a byte into partition `index`'s locked buffer, or counts it dropped if it is full.
fn queue(index: usize, mut buffer: locks::MutexGuard<'_, Buffer>, byte: u8) {
    if buffer.bytes.push_back(byte).is_err() {
        buffer.dropped = buffer.dropped.saturating_add(1);
    }
    if let Some(length) = LENGTHS.get(index) {
        length.store(buffer.bytes.len(), Ordering::Release);
    }
    PENDING.store(true, Ordering::Release);
}

/// Prints buffered output if the console is free, at most two rounds; returns at once if
/// another CPU holds the console (it, or the next pump, prints what is left). Called after
/// every trap: the check is inlined, the printing kept out of the trap path's code.
#[inline]
pub fn pump() {
    // A plain load first: most traps find nothing buffered and write no shared line.
    if PENDING.load(Ordering::Relaxed) {
        pump_slow();
    }
}

#[cold]
#[inline(never)]
fn pump_slow() {
    for _ in 0..2 {
        if !PENDING.swap(false, Ordering::Acquire) {
            return;
        }
        let mut left = true;
        let held = console::try_with_lock(|mut sink| {
            // Taken without the console lock only for a moment (to read the focus): tried,
            // so a pump after a fast-path trap never waits.
            let Some(mut mux) = MUX.try_lock() else { return };
            mux.set_clock(now_ms());
            left = print_round(&mut mux, ROUND, &mut sink);

        });
        if held.is_none() || left {
            PENDING.store(true, Ordering::Release);
        }
        if held.is_none() {
            return;
        }
    }
}

/// Prints everything partition `index` buffered (waiting for the console): its lines come
/// out before a hypervisor line about it (a crash, a restart, a stop).
pub fn flush(index: usize) {
    console::with_lock(|mut sink| {
        let mut mux = MUX.lock();
        mux.make_way(index, &mut sink);
        print_buffer(&mut mux, index, BUFFER, Room::Unchecked, &mut sink);
    });
}

/// Prints every buffer whole (waiting for the console): before the board stops.
pub fn flush_all() {
    console::with_lock(|mut sink| {
        let mut mux = MUX.lock();
        mux.close_open_line(&mut sink);
        for index in 0..MAX_PARTITIONS {
            print_buffer(&mut mux, index, BUFFER, Room::Unchecked, &mut sink);
        }
    });
}

/// One round: up to `budget` bytes from the buffers in turn. Returns whether bytes are left.
fn print_round(mux: &mut Mux, mut budget: usize, sink: &mut impl ConsoleSink) -> bool {
    let first = NEXT.load(Ordering::Relaxed) % MAX_PARTITIONS;
    for offset in 0..MAX_PARTITIONS {
        let index = first.wrapping_add(offset) % MAX_PARTITIONS;
        budget = budget.saturating_sub(print_buffer(mux, index, budget, Room::Checked, sink));
        if budget == 0 {
            NEXT.store(index, Ordering::Relaxed);
            return true;
        }
    }
    BUFFERS.iter().any(|b| !b.lock().bytes.is_empty())
}

/// Whether a print looks at the transmit ring's room first.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Room {
    /// Each byte only while the ring has room for what it may become (a pump: what does not
    /// fit waits in the buffer for a later pump).
    Checked,
    /// Every byte (a flush before a hypervisor line about the partition, or before the board
    /// stops: the ring's own policy applies, or the console waits for the UART).
    Unchecked,
}

/// Prints up to `budget` bytes of partition `index`'s buffer through the multiplexer, then
/// the count of bytes it dropped, if any. Returns how many bytes it printed. The bytes are
/// copied out first and removed only once the multiplexer took them: a byte it holds back
/// (or, with [`Room::Checked`], one the transmit ring has no room for) stays first in the
/// buffer. Only the multiplexer's holder removes bytes, so the ones removed are the ones
/// copied.
fn print_buffer(mux: &mut Mux, index: usize, budget: usize, room: Room, sink: &mut impl ConsoleSink) -> usize {
    let Some(buffer) = BUFFERS.get(index) else { return 0 };
    let mut printed = 0;
    while printed < budget {
        let mut chunk = [0u8; CHUNK];
        let len = {
            let buffer = buffer.lock();
            let want = CHUNK.min(budget.saturating_sub(printed));
            let mut len: usize = 0;
            for (slot, &byte) in chunk.iter_mut().zip(buffer.bytes.iter()).take(want) {
                *slot = byte;
                len = len.saturating_add(1);
            }
            len
        };
        let mut taken: usize = 0;
        for &byte in &chunk[..len] {
            if room == Room::Checked && !console::has_room(ONE_BYTE_AT_MOST) {
                break;
            }
            // An unknown index cannot come from here; a byte held back ends this turn.
            if mux.output(index, byte, sink) == Ok(false) {
                break;
            }
            taken = taken.saturating_add(1);
        }
        let dropped = {
            let mut buffer = buffer.lock();
            for _ in 0..taken {
                buffer.bytes.pop_front();
            }
            if let Some(length) = LENGTHS.get(index) {
                length.store(buffer.bytes.len(), Ordering::Release);
            }
            if buffer.bytes.is_empty() { core::mem::take(&mut buffer.dropped) } else { 0 }
        };
        printed = printed.saturating_add(taken);
        if dropped > 0 {
            // Its unfinished line, cut, then the count on a line of its own. The index is one
            // of the multiplexer's (the buffers are the partitions').
            let _ = mux.report_dropped(index, dropped, sink);
        }
        if taken < CHUNK {
            break;
        }
    }
    printed
}
