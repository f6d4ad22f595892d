//! The hypervisor's own console output: `println!` under the console lock (fatal reports
//! write through the arch layer's emergency path instead), and the physical UART's transmit
//! ring, through which every byte of the console goes.
//!
//! Writers (under the console lock) queue bytes in the ring and, when the transmitter is
//! idle, prime the UART's FIFO with what it takes at once; the rest leaves from the UART's
//! transmit interrupt ([`transmit_interrupt`]), on the CPU the console interrupt is routed to.
//! No writer waits for the UART then: a write that finds the ring full is dropped whole, and
//! counted on the console (`portable::console::transmit`). Until the console interrupt is
//! routed (early boot), once no CPU takes it, and for the board's last lines, the console is
//! synchronous ([`interrupt_driven`]): a writer waits for the FIFO, a byte at most
//! [`PATIENCE`] polls of the flag register.
//!
//! Locks: the console lock, then the multiplexer (`vm::MUX`), then the ring ([`RING`]), then
//! the UART's own lock (`arch::aarch64::uart`); the transmit interrupt takes the ring and the
//! UART's lock only, and a receiving CPU only tries the UART's lock. The ring's lock is held
//! for a queue and a burst of at most `BURST` register writes, never while waiting, except in
//! the synchronous mode above.

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use locks::Mutex;
use spin::Once;

use crate::portable::console::transmit::{TransmitFifo, TransmitRing, TransmitStats};
use crate::portable::operator::LogRing;

/// Bytes the transmit ring holds: 1.4 s of output at 115200 baud.
pub const RING_BYTES: usize = 16 << 10;
/// Polls of the UART's flag register a waiting writer makes for one byte before it gives
/// up on the UART (and drops what it still holds): about 100 ms, a thousand byte times.
pub const PATIENCE: u32 = 1_000_000;

/// A byte sink for the console (the physical UART).
pub trait Output: Sync {
    /// Runs `f` with the UART's transmit FIFO (its lock held).
    fn transmit(&self, f: &mut dyn FnMut(&mut dyn TransmitFifo));

    /// A byte typed on the console, if one is waiting.
    fn read_byte(&self) -> Option<u8>;
}

#[cfg(target_os = "none")]
impl TransmitFifo for crate::arch::aarch64::uart::Transmitter<'_> {
    fn is_full(&mut self) -> bool {
        crate::arch::aarch64::uart::Transmitter::is_full(self)
    }

    fn write(&mut self, byte: u8) {
        crate::arch::aarch64::uart::Transmitter::write(self, byte)
    }

    fn set_interrupt(&mut self, enabled: bool) {
        crate::arch::aarch64::uart::Transmitter::set_interrupt(self, enabled)
    }
}

#[cfg(target_os = "none")]
impl Output for crate::arch::aarch64::uart::Pl011Console {
    fn transmit(&self, f: &mut dyn FnMut(&mut dyn TransmitFifo)) {
        crate::arch::aarch64::uart::Pl011Console::transmit(self, |tx| f(tx))
    }

    fn read_byte(&self) -> Option<u8> {
        crate::arch::aarch64::uart::Pl011Console::read_byte(self)
    }
}

/// The UART's transmit FIFO as a [`TransmitFifo`] of known size (the trait object's).
struct Fifo<'a>(&'a mut dyn TransmitFifo);

impl TransmitFifo for Fifo<'_> {
    fn is_full(&mut self) -> bool {
        self.0.is_full()
    }

    fn write(&mut self, byte: u8) {
        self.0.write(byte)
    }

    fn set_interrupt(&mut self, enabled: bool) {
        self.0.set_interrupt(enabled)
    }
}

/// The transmit ring. Taken after the console lock and the multiplexer, before the UART's.
static RING: Mutex<TransmitRing<RING_BYTES>> = Mutex::new(TransmitRing::new());
/// The ring's free bytes, stored under its lock whenever they change: the partitions' pump
/// looks at it (one load) before it hands the multiplexer a byte.
static FREE: AtomicUsize = AtomicUsize::new(RING_BYTES);
/// Whether the UART's transmit interrupt sends the ring (else writers wait for the UART).
static INTERRUPT_DRIVEN: AtomicBool = AtomicBool::new(false);

/// Writes `bytes` to the UART through the ring: queued (and the FIFO primed) while the
/// transmit interrupt drives it, else sent at once, waiting for the FIFO. Out of line: every
/// console sink calls it, several times a line.
#[inline(never)]
fn send(out: &dyn Output, bytes: &[u8]) {
    let mut ring = RING.lock();
    if INTERRUPT_DRIVEN.load(Ordering::Relaxed) {
        ring.queue(bytes);
        if !ring.armed() && !ring.is_empty() {
            out.transmit(&mut |fifo| {
                ring.prime(&mut Fifo(fifo));
            });
        }
    } else {
        out.transmit(&mut |fifo| {
            ring.write_waiting(bytes, &mut Fifo(fifo), patience());
        });
    }
    FREE.store(ring.free(), Ordering::Relaxed);
}

/// A waiting writer's patience: [`PATIENCE`] polls of the flag register for one byte.
fn patience() -> impl FnMut() -> bool {
    let mut polls: u32 = 0;
    move || {
        polls = polls.saturating_add(1);
        core::hint::spin_loop();
        polls < PATIENCE
    }
}

/// The console interrupt was taken (on this CPU): sends the next burst of the ring if the
/// transmit interrupt is armed, and disarms it once the ring is empty. Returns the bytes sent.
pub fn transmit_interrupt() -> usize {
    let Some(out) = OUTPUT.get() else { return 0 };
    let mut ring = RING.lock();
    let mut sent = 0;
    if ring.armed() {
        out.transmit(&mut |fifo| sent = ring.interrupt(&mut Fifo(fifo)));
    }
    FREE.store(ring.free(), Ordering::Relaxed);
    sent
}

/// Waits until the transmit ring has room for `bytes`, sending from it into the UART's FIFO
/// itself meanwhile (the interrupt stays armed for the rest): for the operator's long
/// answers (the state dump), which are asked for, and which the CPU answering them, the one
/// the console interrupt goes to, could not otherwise send until it is done. Holds no lock
/// while it waits; gives up after [`PATIENCE`] polls without progress (the line then takes
/// the ring's policy). Nothing to wait for while writers wait for the UART anyway.
#[cold]
pub fn make_room(bytes: usize) {
    let Some(out) = OUTPUT.get() else { return };
    let mut wait = patience();
    while INTERRUPT_DRIVEN.load(Ordering::Relaxed) {
        let sent = {
            let mut ring = RING.lock();
            if ring.free() >= bytes {
                return;
            }
            let mut sent = 0;
            out.transmit(&mut |fifo| sent = ring.relieve(&mut Fifo(fifo)));
            FREE.store(ring.free(), Ordering::Relaxed);
            sent
        };
        if sent > 0 {
            wait = patience();
        } else if !wait() {
            return;
        }
    }
}

/// Whether the ring has room for `bytes` more now (always, while writers wait for the UART).
/// Only the console lock's holder adds bytes, and the interrupt only takes them out: what
/// the holder sees here stays true until it writes.
pub fn has_room(bytes: usize) -> bool {
    !INTERRUPT_DRIVEN.load(Ordering::Relaxed) || FREE.load(Ordering::Relaxed) >= bytes
}

/// Lets the UART's transmit interrupt send the console (`true`: the console interrupt is
/// routed to a CPU that takes it), or makes writers wait for the UART again (`false`): then
/// the interrupt is disarmed and what the ring holds is sent first, waiting.
#[cold]
pub fn interrupt_driven(on: bool) {
    let Some(out) = OUTPUT.get() else { return };
    let mut ring = RING.lock();
    INTERRUPT_DRIVEN.store(on, Ordering::Relaxed);
    if !on {
        out.transmit(&mut |fifo| {
            ring.drain(&mut Fifo(fifo), patience());
        });
    }
    FREE.store(ring.free(), Ordering::Relaxed);
}

/// What the transmit ring has done since boot.
#[cold]
pub fn transmit_stats() -> TransmitStats {
    RING.lock().stats()
}

/// Hands the ring's bytes to the emergency path (which writes them before its report), if
/// its lock can be had within [`PATIENCE`] tries: a CPU that failed while holding it loses
/// the backlog, not the report. Once only (the report calls it for each line); writers after
/// it wait for the UART.
#[cfg(target_os = "none")]
fn emergency_backlog(write: &mut dyn FnMut(&[u8])) {
    static TAKEN: AtomicBool = AtomicBool::new(false);
    INTERRUPT_DRIVEN.store(false, Ordering::Relaxed);
    if TAKEN.swap(true, Ordering::Relaxed) {
        return;
    }
    let mut wait = patience();
    loop {
        if let Some(mut ring) = RING.try_lock() {
            ring.take_all(|bytes| write(bytes));
            FREE.store(ring.free(), Ordering::Relaxed);
            return;
        }
        if !wait() {
            return;
        }
    }
}

/// A byte typed on the console, if one is waiting.
pub fn read_byte() -> Option<u8> {
    OUTPUT.get().and_then(|out| out.read_byte())
}

static OUTPUT: Once<&'static dyn Output> = Once::new();
static LOCK: Mutex<()> = Mutex::new(());
/// The hypervisor's recent lines (not the partitions'), for the operator's `log`. Taken
/// after `LOCK`.
static LOG: Mutex<LogRing<LOG_BYTES>> = Mutex::new(LogRing::new());
/// Bytes of recent hypervisor lines kept.
pub const LOG_BYTES: usize = 4096;
/// Called under the lock before each hypervisor line, with the raw writer: the partition
/// console multiplexer ends a guest's unfinished line there.
static BEFORE_LINE: Once<BeforeLine> = Once::new();

/// A hook that may write to the console (through the writer it is given).
pub type BeforeLine = fn(&mut dyn FnMut(&[u8]));

/// Sets the hook run before each hypervisor line.
pub fn set_before_line(hook: BeforeLine) {
    BEFORE_LINE.call_once(|| hook);
}

/// Sets where console output goes (synchronous until [`interrupt_driven`]). Later calls are
/// ignored.
pub fn init(output: &'static dyn Output) {
    OUTPUT.call_once(|| output);
    #[cfg(target_os = "none")]
    crate::arch::aarch64::uart::set_backlog(emergency_backlog);
}

struct Writer {
    out: &'static dyn Output,
}

impl Writer {
    fn put(&self, bytes: &[u8]) {
        send(self.out, bytes);
        LOG.lock().push(bytes);
    }
}

/// Copies the kept hypervisor lines into `buffer` (whole lines, `\n` after each); returns how
/// many bytes. Printing them goes through the console again, so nothing is held meanwhile.
pub fn recent_lines(buffer: &mut [u8; LOG_BYTES]) -> usize {
    let log = LOG.lock();
    let mut used: usize = 0;
    log.lines(|line| {
        let Some(end) = used.checked_add(line.len()) else { return };
        if let Some(slot) = buffer.get_mut(used..end) {
            slot.copy_from_slice(line);
            if let Some(newline) = buffer.get_mut(end) {
                *newline = b'\n';
                used = end.saturating_add(1);
            }
        }
    });
    used
}

impl Write for Writer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Terminals want CR LF.
        for (i, line) in s.split('\n').enumerate() {
            if i > 0 {
                self.put(b"\r\n");
            }
            self.put(line.as_bytes());
        }
        Ok(())
    }
}

/// Prints under the console lock, so lines from different CPUs do not interleave.
///
/// Out of line: every `log!` and `println!` calls this one copy (with link-time optimisation
/// it was inlined, formatting machinery and all, into seven callers). Not `#[cold]`: that
/// moved blocks in `run_vcpu`, and its trap fast path came out two instructions longer.
#[inline(never)]
pub fn print(args: fmt::Arguments) {
    if let Some(out) = OUTPUT.get() {
        let _guard = LOCK.lock();
        if let Some(hook) = BEFORE_LINE.get() {
            hook(&mut |bytes: &[u8]| send(*out, bytes));
        }
        let _ = Writer { out: *out }.write_fmt(args);
    }
}

/// Runs `f` with a writer to the console, holding the console lock, so that what `f` writes
/// (a guest's whole line) is not interleaved with other output.
pub fn with_lock(f: impl FnOnce(&mut dyn FnMut(&[u8]))) {
    if let Some(out) = OUTPUT.get() {
        let _guard = LOCK.lock();
        f(&mut |bytes: &[u8]| send(*out, bytes));
    }
}

/// Runs `f` with a writer to the console if no other CPU holds it (never waits); `None` if
/// one does.
pub fn try_with_lock(f: impl FnOnce(&mut dyn FnMut(&[u8]))) -> Option<()> {
    let out = OUTPUT.get()?;
    let _guard = LOCK.try_lock()?;
    f(&mut |bytes: &[u8]| send(*out, bytes));
    Some(())
}

/// Takes the console lock for a defmt frame (released by [`unlock_after_frame`]), and ends a
/// partition's unfinished line first, as before a text line.
#[cfg(feature = "defmt")]
pub fn lock_for_frame() {
    core::mem::forget(LOCK.lock());
    if let (Some(out), Some(hook)) = (OUTPUT.get(), BEFORE_LINE.get()) {
        hook(&mut |bytes: &[u8]| send(*out, bytes));
    }
}

/// Lets go of the console lock a defmt frame took.
///
/// # Safety
/// Only after [`lock_for_frame`] on this CPU, once per frame.
#[cfg(feature = "defmt")]
pub unsafe fn unlock_after_frame() {
    // SAFETY: the caller took the lock with `lock_for_frame` and forgot its guard.
    unsafe { LOCK.force_unlock() };
}

/// Writes bytes to the console as they are (a defmt frame's), the console lock held.
#[cfg(feature = "defmt")]
pub fn write_raw(bytes: &[u8]) {
    if let Some(out) = OUTPUT.get() {
        send(*out, bytes);
    }
}

/// Prints a line on the hypervisor console.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}
