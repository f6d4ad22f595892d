//! The hypervisor's log lines (`log!`): plain text through the console by default; with the
//! `defmt` feature, compact defmt frames on the console UART, which the host decodes with the
//! ELF's symbols (`cargo xtask run --defmt`). The operator console's answers and the fatal
//! report stay text in both builds (they are read on the board's serial line as they are).
//!
//! A `log!` format string is written for both: positional `{}` for values shown by `Display`
//! (wrapped in [`D`]) or by `Debug` (wrapped in [`Dbg`]), and `{:#x}` for integers.
//!
//! On the wire, a defmt frame is a zero byte, the frame's rzCOBS bytes (which hold no zero)
//! and a zero byte; text never holds a zero byte (the console multiplexer shows control bytes
//! in caret notation), so the host tells frames from the partitions' text by that alone.

use core::fmt;

/// A value a `log!` line shows through `Display` (and, in a defmt build, formats on the
/// board into the frame, as defmt's `Display2Format` does).
pub struct D<T>(pub T);

impl<T: fmt::Display> fmt::Display for D<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A value a `log!` line shows through `Debug`, with a plain `{}`.
pub struct Dbg<T>(pub T);

impl<T: fmt::Debug> fmt::Display for Dbg<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(feature = "defmt")]
impl<T: fmt::Display> defmt::Format for D<T> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{}", defmt::Display2Format(&self.0));
    }
}

#[cfg(feature = "defmt")]
impl<T: fmt::Debug> defmt::Format for Dbg<T> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{}", defmt::Debug2Format(&self.0));
    }
}

/// Logs a line of the hypervisor: text through the console lock, or a defmt frame.
#[cfg(not(feature = "defmt"))]
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => { $crate::println!($($arg)*) };
}

/// Logs a line of the hypervisor: text through the console lock, or a defmt frame.
#[cfg(feature = "defmt")]
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => { ::defmt::println!($($arg)*) };
}

#[cfg(all(feature = "defmt", target_os = "none"))]
mod frames {
    //! The defmt global logger: frames written to the console UART under the console lock.

    use core::cell::UnsafeCell;
    use core::sync::atomic::{AtomicBool, Ordering};

    /// Whether a CPU is writing a frame (it holds the console lock meanwhile).
    static TAKEN: AtomicBool = AtomicBool::new(false);

    /// The frame encoder, used only by the CPU that set `TAKEN`.
    struct Encoder(UnsafeCell<defmt::Encoder>);

    // SAFETY: the encoder is only touched between `acquire`, which sets `TAKEN` with an
    // acquire compare-exchange, and `release`, which clears it with a release store: one CPU
    // at a time.
    unsafe impl Sync for Encoder {}

    static ENCODER: Encoder = Encoder(UnsafeCell::new(defmt::Encoder::new()));

    #[defmt::global_logger]
    struct Logger;

    fn encoder() -> &'static mut defmt::Encoder {
        // SAFETY: only called between `acquire` and `release`, by the CPU holding `TAKEN`
        // (interrupts are masked at EL2, so nothing on this CPU logs meanwhile).
        unsafe { &mut *ENCODER.0.get() }
    }

    // SAFETY: `acquire` and `release` bracket every use of the encoder with `TAKEN`, and
    // `write` and `flush` are only called in between, as defmt's contract asks.
    unsafe impl defmt::Logger for Logger {
        fn acquire() {
            crate::console::lock_for_frame();
            while TAKEN.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
                core::hint::spin_loop();
            }
            // The zero byte that tells the host a frame starts.
            crate::console::write_raw(&[0]);
            encoder().start_frame(crate::console::write_raw);
        }

        unsafe fn flush() {}

        unsafe fn release() {
            encoder().end_frame(crate::console::write_raw);
            TAKEN.store(false, Ordering::Release);
            // SAFETY: `acquire` took the console lock for this frame.
            unsafe { crate::console::unlock_after_frame() };
        }

        unsafe fn write(bytes: &[u8]) {
            encoder().write(bytes, crate::console::write_raw);
        }
    }

    defmt::timestamp!("{=u64:us}", {
        let ticks = crate::arch::aarch64::cpu::counter();
        let frequency = crate::arch::aarch64::cpu::counter_frequency().max(1);
        u64::try_from(u128::from(ticks) * 1_000_000 / u128::from(frequency)).unwrap_or(u64::MAX)
    });
}
