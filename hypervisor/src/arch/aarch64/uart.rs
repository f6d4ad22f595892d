//! The physical console: the board's PL011, through `arm-pl011-uart`. Its transmit side is
//! driven by the console's transmit ring (`console.rs`) through [`Transmitter`]: a byte is
//! written only while UARTFR.TXFF is clear, and the transmit interrupt (UARTIMSC.TXIM, at the
//! FIFO level UARTIFLS sets) asks for more; only the emergency path waits for the FIFO.

use arm_pl011_uart::{FifoLevel, Interrupts, PL011Registers, Uart};
use core::ptr::NonNull;
use safe_mmio::UniqueMmioPointer;
use locks::Mutex;
use spin::Once;

/// The board's PL011 as the hypervisor console. Firmware (or QEMU) has configured it.
pub struct Pl011Console {
    uart: Mutex<Uart<'static>>,
    /// The registers' address, for the emergency path (`write_bytes_emergency`).
    base: u64,
}

/// UARTDR and UARTFR (PL011 TRM 3.3.1, 3.3.3) and FR.TXFF, for the emergency path.
const DR: u64 = 0x00;
const FR: u64 = 0x18;
const FR_TXFF: u32 = 1 << 5;

impl Pl011Console {
    /// # Safety
    /// `base` must be the physical address of a PL011, mapped as Device memory at EL2 for the
    /// rest of the hypervisor's life, and no other code may drive that UART.
    pub unsafe fn new(base: u64) -> Self {
        let regs = NonNull::new(base as *mut PL011Registers).expect("the console's address is not 0");
        // SAFETY: the caller guarantees the registers are mapped and ours alone.
        let regs = unsafe { UniqueMmioPointer::new(regs) };
        Self { uart: Mutex::new(Uart::new(regs)), base }
    }

    /// Turns on the FIFOs and the receive interrupts (FIFO level and timeout), so typed
    /// characters wait in the UART and raise the console interrupt, and sets the transmit
    /// interrupt's level (the transmit ring arms it while it has bytes to send).
    pub fn enable_interrupts(&self, base: u64) {
        let mut uart = self.uart.lock();
        while uart.is_busy() {
            core::hint::spin_loop();
        }
        // UARTLCR_H (offset 0x2c), FEN (bit 4): `arm-pl011-uart` sets it only together with the
        // baud rate, which firmware already chose. PL011 TRM 3.3.7.
        let lcr_h = (base + 0x2c) as *mut u32;
        // SAFETY: the constructor's contract makes `base` this PL011's mapped registers; the
        // transmitter is idle, so changing the FIFO mode loses nothing.
        unsafe { lcr_h.write_volatile(lcr_h.read_volatile() | (1 << 4)) };
        // Both at half the FIFO (UARTIFLS 0b010 for each, its reset value, PL011 TRM 3.3.9:
        // 8 of 16 entries, 16 of 32 on r1p5): the transmit interrupt comes with half a FIFO
        // still to send, time enough to refill it before the line goes idle.
        uart.set_interrupt_fifo_levels(FifoLevel::Bytes16, FifoLevel::Bytes16);
        uart.set_interrupt_masks(Interrupts::RXI | Interrupts::RTI);
    }

    /// Runs `f` with the UART's transmit side, the UART's lock held (a receiving CPU then
    /// leaves the typed bytes in the FIFO for its next look).
    pub fn transmit<T>(&self, f: impl FnOnce(&mut Transmitter<'_>) -> T) -> T {
        f(&mut Transmitter { uart: &mut self.uart.lock() })
    }

    fn write_all(uart: &mut Uart<'static>, bytes: &[u8]) {
        for &b in bytes {
            while uart.is_tx_fifo_full() {
                core::hint::spin_loop();
            }
            uart.write_word(b);
        }
    }
}

impl Pl011Console {
    /// A byte typed on the console, if one is waiting and no other CPU is writing to the UART
    /// (then the byte waits in the receive FIFO for the next look: a trap never waits for
    /// another CPU's output). Break, parity and framing errors lose the byte; there is nobody
    /// to tell.
    pub fn read_byte(&self) -> Option<u8> {
        self.uart.try_lock()?.read_word().ok().flatten()
    }

    /// Writes all of `bytes` even if another CPU is stuck holding the UART.
    pub fn write_bytes_emergency(&self, bytes: &[u8]) {
        // A CPU that failed while printing may hold the lock for good. After a while, write
        // without it, through the registers themselves: never a second `&mut Uart` beside the
        // holder's. Output may then interleave, which beats losing the report.
        for _ in 0..1_000_000 {
            if let Some(mut uart) = self.uart.try_lock() {
                return Self::write_all(&mut uart, bytes);
            }
            core::hint::spin_loop();
        }
        let data = (self.base + DR) as *mut u32;
        let flags = (self.base + FR) as *const u32;
        for &b in bytes {
            // Bounded: a UART that never drains loses the rest of the report, not the CPU.
            for _ in 0..1_000_000 {
                // SAFETY: the constructor's contract makes `base` this PL011's registers, mapped
                // as Device memory for good; a volatile read of UARTFR through a raw pointer makes
                // no Rust reference, so it aliases nothing the lock holder has.
                if unsafe { flags.read_volatile() } & FR_TXFF == 0 {
                    break;
                }
                core::hint::spin_loop();
            }
            // SAFETY: as above, for UARTDR; the only effect on the stuck holder's writes is
            // characters interleaved on the line.
            unsafe { data.write_volatile(u32::from(b)) };
        }
    }
}

/// The PL011's transmit side, for the time its lock is held.
pub struct Transmitter<'a> {
    uart: &'a mut Uart<'static>,
}

impl Transmitter<'_> {
    /// Whether the transmit FIFO is full (UARTFR.TXFF, PL011 TRM 3.3.3).
    pub fn is_full(&self) -> bool {
        self.uart.is_tx_fifo_full()
    }

    /// Writes a byte into the transmit FIFO (UARTDR) without looking at TXFF.
    pub fn write(&mut self, byte: u8) {
        self.uart.write_word(byte);
    }

    /// Unmasks or masks the transmit interrupt (UARTIMSC.TXIM, PL011 TRM 3.3.10), leaving the
    /// receive ones as they are.
    pub fn set_interrupt(&mut self, enabled: bool) {
        let masks = self.uart.interrupt_masks();
        let masks = if enabled { masks | Interrupts::TXI } else { masks - Interrupts::TXI };
        self.uart.set_interrupt_masks(masks);
    }
}

/// A function that hands what a console holds back in its own buffer to the writer it is
/// given.
pub type Backlog = fn(&mut dyn FnMut(&[u8]));

/// The console's backlog, written before an emergency report so that the report comes after
/// it: set by the console once it buffers (`console.rs`).
static BACKLOG: Once<Backlog> = Once::new();

/// Sets the function that hands over the console's backlog to the emergency path.
pub fn set_backlog(backlog: Backlog) {
    BACKLOG.call_once(|| backlog);
}

/// The board's console, once boot has set it up.
static CONSOLE: Once<Pl011Console> = Once::new();

/// Sets up the board's console at `base` (later calls return the first one).
///
/// # Safety
/// As for [`Pl011Console::new`].
pub unsafe fn init(base: u64) -> &'static Pl011Console {
    // SAFETY: forwarded from this function's contract.
    CONSOLE.call_once(|| unsafe { Pl011Console::new(base) })
}

/// Writes a fatal report's text to the console, whoever holds it (nothing before `init`).
pub fn emergency_write(text: &str) {
    if let Some(console) = CONSOLE.get() {
        if let Some(backlog) = BACKLOG.get() {
            backlog(&mut |bytes: &[u8]| console.write_bytes_emergency(bytes));
        }
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                console.write_bytes_emergency(b"\r\n");
            }
            console.write_bytes_emergency(line.as_bytes());
        }
    }
}
