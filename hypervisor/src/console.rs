//! The hypervisor's own console output: `println!` under the console lock (fatal reports
//! write through the arch layer's emergency path instead).

use core::fmt::{self, Write};
use spin::{Mutex, Once};

use crate::portable::operator::LogRing;

/// A byte sink for the console (the physical UART).
pub trait Output: Sync {
    /// Writes all of `bytes`, waiting for room as needed.
    fn write_bytes(&self, bytes: &[u8]);

    /// A byte typed on the console, if one is waiting.
    fn read_byte(&self) -> Option<u8>;
}

#[cfg(target_os = "none")]
impl Output for crate::arch::aarch64::uart::Pl011Console {
    fn write_bytes(&self, bytes: &[u8]) {
        crate::arch::aarch64::uart::Pl011Console::write_bytes(self, bytes)
    }

    fn read_byte(&self) -> Option<u8> {
        crate::arch::aarch64::uart::Pl011Console::read_byte(self)
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

/// Sets where console output goes. Later calls are ignored.
pub fn init(output: &'static dyn Output) {
    OUTPUT.call_once(|| output);
}

struct Writer {
    out: &'static dyn Output,
}

impl Writer {
    fn put(&self, bytes: &[u8]) {
        self.out.write_bytes(bytes);
        LOG.lock().push(bytes);
    }
}

/// Copies the kept hypervisor lines into `buffer` (whole lines, `\n` after each); returns how
/// many bytes. Printing them goes through the console again, so nothing is held meanwhile.
pub fn recent_lines(buffer: &mut [u8; LOG_BYTES]) -> usize {
    let log = LOG.lock();
    let mut used = 0;
    log.lines(|line| {
        let end = used + line.len() + 1;
        if end <= buffer.len() {
            buffer[used..end - 1].copy_from_slice(line);
            buffer[end - 1] = b'\n';
            used = end;
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
pub fn print(args: fmt::Arguments) {
    if let Some(out) = OUTPUT.get() {
        let _guard = LOCK.lock();
        if let Some(hook) = BEFORE_LINE.get() {
            hook(&mut |bytes: &[u8]| out.write_bytes(bytes));
        }
        let _ = Writer { out: *out }.write_fmt(args);
    }
}

/// Runs `f` with a writer to the console, holding the console lock, so that what `f` writes
/// (a guest's whole line) is not interleaved with other output.
pub fn with_lock(f: impl FnOnce(&mut dyn FnMut(&[u8]))) {
    if let Some(out) = OUTPUT.get() {
        let _guard = LOCK.lock();
        f(&mut |bytes: &[u8]| out.write_bytes(bytes));
    }
}

/// Runs `f` with a writer to the console if no other CPU holds it (never waits); `None` if
/// one does.
pub fn try_with_lock(f: impl FnOnce(&mut dyn FnMut(&[u8]))) -> Option<()> {
    let out = OUTPUT.get()?;
    let _guard = LOCK.try_lock()?;
    f(&mut |bytes: &[u8]| out.write_bytes(bytes));
    Some(())
}

/// Takes the console lock for a defmt frame (released by [`unlock_after_frame`]), and ends a
/// partition's unfinished line first, as before a text line.
#[cfg(feature = "defmt")]
pub fn lock_for_frame() {
    core::mem::forget(LOCK.lock());
    if let (Some(out), Some(hook)) = (OUTPUT.get(), BEFORE_LINE.get()) {
        hook(&mut |bytes: &[u8]| out.write_bytes(bytes));
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
        out.write_bytes(bytes);
    }
}

/// Prints a line on the hypervisor console.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}
