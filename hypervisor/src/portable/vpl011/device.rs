//! The register model of one partition's virtual PL011 (SBSA Generic UART subset).
//!
//! Each byte written to UARTDR goes to a [`TransmitSink`] (the partition's console buffer),
//! which takes it at once: the UART transmits as fast as the guest writes, so the flag
//! register (PL011 TRM 3.3.3) shows TXFE and no BUSY while the sink has room, even with
//! bytes waiting in it for the physical console, and TXFF and BUSY while it can take no more.
//! A guest that waits for TXFF to clear before writing, as every PL011 driver does, loses
//! nothing however fast it writes; a byte written while TXFF shows is the sink's to drop (and
//! count). A guest that waits for BUSY to clear after each line, as Linux's console does,
//! does not wait for the physical UART. The TX interrupt is raised after each
//! write, as when a real FIFO drains below its trigger level (TRM 2.8.3): a driver that
//! finds TXFF in its TX interrupt is interrupted again until the sink has room.
//! The receive FIFO fills from the console; RX is raised at the UARTIFLS trigger level and
//! RT (receive timeout) as soon as a byte waits, both cleared when reads drain the FIFO
//! or through UARTICR (TRM 2.8.2, 2.8.4).

use super::fifo::{ReceiveFifo, FIFO_DEPTH};
use super::registers::*;
use super::Vpl011Error;

/// Receives the bytes the guest transmits.
pub trait TransmitSink {
    /// Takes one byte written by the guest to UARTDR.
    fn transmit(&mut self, byte: u8);

    /// Takes the byte if that needs no wait (the trap fast path asks); returns false, having
    /// taken nothing, if it would have to wait. A sink that never waits takes it always.
    fn try_transmit(&mut self, byte: u8) -> bool {
        self.transmit(byte);
        true
    }

    /// How much of what the guest transmitted still waits to go out (what the flag register
    /// shows). A sink that passes bytes straight on is always empty.
    fn backlog(&self) -> Backlog {
        Backlog::Empty
    }
}

impl<F: FnMut(u8)> TransmitSink for F {
    fn transmit(&mut self, byte: u8) {
        self(byte)
    }
}

/// How full a [`TransmitSink`] is, and what UARTFR shows of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backlog {
    /// Nothing waits: TXFE.
    Empty,
    /// Bytes wait to go out, and there is room for more: TXFE too (the UART took them).
    Waiting,
    /// No room for another byte: TXFF and BUSY.
    Full,
}

/// The state of one virtual PL011.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vpl011 {
    receive: ReceiveFifo,
    receive_status: u32,
    raw_interrupts: u32,
    interrupt_mask: u32,
    fifo_levels: u32,
    line_control: u32,
    control: u32,
    integer_divisor: u32,
    fractional_divisor: u32,
    low_power_counter: u32,
    dma_control: u32,
}

impl Default for Vpl011 {
    fn default() -> Self {
        Self::new()
    }
}

impl Vpl011 {
    /// A UART in its reset state, with an empty receive FIFO.
    pub const fn new() -> Self {
        Self {
            receive: ReceiveFifo::new(),
            receive_status: 0,
            raw_interrupts: 0,
            interrupt_mask: 0,
            fifo_levels: IFLS_RESET,
            line_control: 0,
            control: CR_RESET,
            integer_divisor: 0,
            fractional_divisor: 0,
            low_power_counter: 0,
            dma_control: 0,
        }
    }

    /// Returns to the reset state (when the partition restarts).
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// The level of the UART's interrupt line: any unmasked raw interrupt.
    pub const fn interrupt_pending(&self) -> bool {
        self.raw_interrupts & self.interrupt_mask != 0
    }

    /// The number of received bytes the guest has not read.
    pub const fn pending_input(&self) -> usize {
        self.receive.len()
    }

    /// Queues a byte from the console for the guest to read.
    ///
    /// When the FIFO is full the byte is lost, the overrun error is latched in UARTRSR and
    /// UARTRIS, and the error says which byte was dropped.
    pub fn receive(&mut self, byte: u8) -> Result<(), Vpl011Error> {
        if self.receive.push(byte).is_err() {
            self.receive_status |= RSR_OE;
            self.raw_interrupts |= INT_OE;
            return Err(Vpl011Error::ReceiveOverrun { byte });
        }
        self.raw_interrupts |= INT_RT;
        if self.receive.len() >= self.receive_trigger() {
            self.raw_interrupts |= INT_RX;
        }
        Ok(())
    }

    /// The receive FIFO level that raises RX: UARTIFLS.RXIFLSEL (bits \[5:3\]) selects
    /// 1/8, 1/4, 1/2, 3/4 or 7/8 of the FIFO.
    fn receive_trigger(&self) -> usize {
        let eighths = match (self.fifo_levels >> 3) & 0b111 {
            0 => 1,
            1 => 2,
            3 => 6,
            4 => 7,
            _ => 4,
        };
        // Constants: 16 * 7 at most.
        FIFO_DEPTH.saturating_mul(eighths) / 8
    }

    fn flags(&self, backlog: Backlog) -> u32 {
        let mut flags = match backlog {
            Backlog::Empty | Backlog::Waiting => FR_TXFE,
            Backlog::Full => FR_BUSY | FR_TXFF,
        };
        if self.receive.is_empty() {
            flags |= FR_RXFE;
        }
        if self.receive.is_full() {
            flags |= FR_RXFF;
        }
        flags
    }

    fn read_data(&mut self) -> u32 {
        let byte = self.receive.pop().unwrap_or(0);
        if self.receive.len() < self.receive_trigger() {
            self.raw_interrupts &= !INT_RX;
        }
        if self.receive.is_empty() {
            self.raw_interrupts &= !INT_RT;
        }
        u32::from(byte)
    }

    /// Reads `size` bytes (1, 2 or 4) at `offset` within the UART's page; the flag register
    /// shows the transmit side as `backlog` says.
    pub fn read(&mut self, offset: u64, size: u8, backlog: Backlog) -> Result<u64, Vpl011Error> {
        let (register, shift) = check_access(offset, size)?;
        let value = match register {
            DR => self.read_data(),
            _ => self.register(register, offset, backlog)?,
        };
        Ok(u64::from(value >> shift) & size_mask(size))
    }

    /// What [`Self::read`] would return for a read that changes nothing (every register but
    /// UARTDR, whose read takes a byte from the FIFO); `None` for UARTDR and for an access
    /// `read` refuses. The trap fast path answers these without touching the interrupt line.
    pub fn peek(&self, offset: u64, size: u8, backlog: Backlog) -> Option<u64> {
        // UARTFR read whole, which a PL011 driver does before every byte it writes: its
        // value with no decode (what the general path below gives it too).
        if offset == FR && size == 4 {
            return Some(u64::from(self.flags(backlog)));
        }
        let (register, shift) = check_access(offset, size).ok()?;
        if register == DR {
            return None;
        }
        let value = self.register(register, offset, backlog).ok()?;
        Some(u64::from(value >> shift) & size_mask(size))
    }

    /// A write of `size` bytes of `value` at `offset` that only transmits a byte and leaves
    /// the interrupt line's level as it is: a write to UARTDR's low byte when raising TX
    /// changes no unmasked interrupt and the sink takes the byte without waiting. Does it
    /// and returns true, or returns false having changed nothing (then [`Self::write`] and
    /// the line's update take the full path). The trap fast path writes this way.
    pub fn write_quietly(&mut self, offset: u64, size: u8, value: u64, sink: &mut impl TransmitSink) -> bool {
        let Ok((register, shift)) = check_access(offset, size) else { return false };
        if register != DR || shift != 0 {
            return false;
        }
        let raised = self.raw_interrupts | INT_TX;
        if (raised & self.interrupt_mask != 0) != self.interrupt_pending() {
            return false;
        }
        if !sink.try_transmit((value & 0xff) as u8) {
            return false;
        }
        self.raw_interrupts = raised;
        true
    }

    /// The value of a register whose read has no side effect (not UARTDR).
    fn register(&self, register: u64, offset: u64, backlog: Backlog) -> Result<u32, Vpl011Error> {
        let value = match register {
            RSR => self.receive_status,
            FR => self.flags(backlog),
            ILPR => self.low_power_counter,
            IBRD => self.integer_divisor,
            FBRD => self.fractional_divisor,
            LCR_H => self.line_control,
            CR => self.control,
            IFLS => self.fifo_levels,
            IMSC => self.interrupt_mask,
            RIS => self.raw_interrupts,
            MIS => self.raw_interrupts & self.interrupt_mask,
            ICR => 0,
            DMACR => self.dma_control,
            id => id_byte(id).ok_or(Vpl011Error::BadOffset { offset })?,
        };
        Ok(value)
    }

    /// Writes `size` bytes (1, 2 or 4) of `value` at `offset`; UARTDR bytes go to `sink`.
    ///
    /// Writes to read-only registers (flags, status, identification) are ignored, as the
    /// PL011 does.
    pub fn write(
        &mut self,
        offset: u64,
        size: u8,
        value: u64,
        sink: &mut impl TransmitSink,
    ) -> Result<(), Vpl011Error> {
        let (register, shift) = check_access(offset, size)?;
        let bits = ((value & size_mask(size)) as u32) << shift;
        let lanes = (size_mask(size) as u32) << shift;
        let merge = |old: u32| (old & !lanes) | bits;
        match register {
            DR => {
                if shift == 0 {
                    sink.transmit(bits as u8);
                    self.raw_interrupts |= INT_TX;
                }
            }
            RSR => self.receive_status = 0,
            ILPR => self.low_power_counter = merge(self.low_power_counter) & 0xff,
            IBRD => self.integer_divisor = merge(self.integer_divisor) & 0xffff,
            FBRD => self.fractional_divisor = merge(self.fractional_divisor) & 0x3f,
            LCR_H => self.line_control = merge(self.line_control) & 0xff,
            CR => self.control = merge(self.control) & 0xff87,
            IFLS => self.fifo_levels = merge(self.fifo_levels) & 0x3f,
            IMSC => self.interrupt_mask = merge(self.interrupt_mask) & INT_ALL,
            ICR => {
                self.raw_interrupts &= !bits;
                // A real PL011 raises the receive timeout again 32 bit periods later while
                // data waits in the FIFO; with no time here, it stays raised.
                if !self.receive.is_empty() {
                    self.raw_interrupts |= INT_RT;
                }
            }
            DMACR => self.dma_control = merge(self.dma_control) & 0x7,
            FR | RIS | MIS => {}
            id => {
                id_byte(id).ok_or(Vpl011Error::BadOffset { offset })?;
            }
        }
        Ok(())
    }
}

/// The register word an access falls in and the bit shift of its first byte.
fn check_access(offset: u64, size: u8) -> Result<(u64, u32), Vpl011Error> {
    if !matches!(size, 1 | 2 | 4) {
        return Err(Vpl011Error::BadSize { offset, size });
    }
    if !offset.is_multiple_of(u64::from(size)) {
        return Err(Vpl011Error::Misaligned { offset, size });
    }
    let register = offset & !0b11;
    let known = matches!(register, DR | RSR | FR | ILPR..=DMACR)
        || (PERIPH_ID0..0x1000).contains(&register);
    if !known {
        return Err(Vpl011Error::BadOffset { offset });
    }
    Ok((register, ((offset & 0b11) as u32) << 3))
}

fn id_byte(register: u64) -> Option<u32> {
    let index = usize::try_from(register.checked_sub(PERIPH_ID0)? / 4).ok()?;
    ID_BYTES.get(index).map(|byte| u32::from(*byte))
}

const fn size_mask(size: u8) -> u64 {
    match size {
        1 => 0xff,
        2 => 0xffff,
        4 => 0xffff_ffff,
        _ => u64::MAX,
    }
}

#[cfg(test)]
#[path = "device_tests.rs"]
mod tests;
