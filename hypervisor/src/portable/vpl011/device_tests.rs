//! Tests of the virtual PL011 as a guest driver sees it.

use super::*;
use crate::portable::vpl011::Vpl011Error;

fn uart() -> Vpl011 {
    Vpl011::new()
}

/// A sink that keeps what the guest transmits.
#[derive(Default)]
struct Wire(Vec<u8>);

impl TransmitSink for Wire {
    fn transmit(&mut self, byte: u8) {
        self.0.push(byte);
    }
}

fn read32(uart: &mut Vpl011, offset: u64) -> u32 {
    uart.read(offset, 4, Backlog::Empty).unwrap() as u32
}

fn write32(uart: &mut Vpl011, offset: u64, value: u32) {
    uart.write(offset, 4, u64::from(value), &mut Wire::default())
        .unwrap();
}

#[test]
fn reset_state() {
    let mut uart = uart();
    assert_eq!(read32(&mut uart, FR), FR_TXFE | FR_RXFE);
    assert_eq!(read32(&mut uart, CR), 0x300);
    assert_eq!(read32(&mut uart, IFLS), 0x12);
    assert_eq!(read32(&mut uart, RIS), 0);
    assert!(!uart.interrupt_pending());
}

#[test]
fn transmitted_bytes_reach_the_sink_and_raise_tx() {
    let mut uart = uart();
    let mut wire = Wire::default();
    // A word write: only the low byte is data.
    uart.write(DR, 4, 0x0000_0141, &mut wire).unwrap();
    uart.write(DR, 1, u64::from(b'\n'), &mut wire).unwrap();
    assert_eq!(wire.0, b"A\n");
    assert_eq!(read32(&mut uart, RIS), INT_TX);
    // Masked: the line stays low until the guest unmasks TX.
    assert!(!uart.interrupt_pending());
    write32(&mut uart, IMSC, INT_TX);
    assert!(uart.interrupt_pending());
    assert_eq!(read32(&mut uart, MIS), INT_TX);
    write32(&mut uart, ICR, INT_TX);
    assert!(!uart.interrupt_pending());
    // The transmitter never looks busy or full.
    assert_eq!(read32(&mut uart, FR) & (FR_BUSY | FR_TXFF), 0);
}

#[test]
fn closures_are_sinks() {
    let mut uart = uart();
    let mut seen = 0u8;
    uart.write(DR, 1, 0x5a, &mut |byte| seen = byte).unwrap();
    assert_eq!(seen, 0x5a);
}

#[test]
fn a_received_byte_raises_rt_until_read() {
    let mut uart = uart();
    write32(&mut uart, IMSC, INT_RX | INT_RT);
    uart.receive(b'a').unwrap();
    assert_eq!(read32(&mut uart, FR) & FR_RXFE, 0);
    assert_eq!(read32(&mut uart, MIS), INT_RT);
    assert!(uart.interrupt_pending());
    assert_eq!(read32(&mut uart, DR), u32::from(b'a'));
    assert_eq!(read32(&mut uart, FR) & FR_RXFE, FR_RXFE);
    assert!(!uart.interrupt_pending());
}

#[test]
fn rx_follows_the_trigger_level() {
    let mut uart = uart();
    // Reset trigger: half of 32 entries.
    for byte in 0..15 {
        uart.receive(byte).unwrap();
    }
    assert_eq!(read32(&mut uart, RIS) & INT_RX, 0);
    uart.receive(15).unwrap();
    assert_eq!(read32(&mut uart, RIS) & INT_RX, INT_RX);
    read32(&mut uart, DR);
    assert_eq!(read32(&mut uart, RIS) & INT_RX, 0);
    // RXIFLSEL = 0: one eighth, 4 entries.
    write32(&mut uart, IFLS, 0);
    for _ in 0..11 {
        read32(&mut uart, DR);
    }
    assert_eq!(uart.pending_input(), 4);
    uart.receive(0).unwrap();
    assert_eq!(read32(&mut uart, RIS) & INT_RX, INT_RX);
}

#[test]
fn overflow_drops_the_byte_and_latches_an_overrun() {
    let mut uart = uart();
    for byte in 0..FIFO_DEPTH as u8 {
        uart.receive(byte).unwrap();
    }
    assert_eq!(read32(&mut uart, FR) & FR_RXFF, FR_RXFF);
    assert_eq!(
        uart.receive(0xee),
        Err(Vpl011Error::ReceiveOverrun { byte: 0xee })
    );
    assert_eq!(read32(&mut uart, RSR), RSR_OE);
    assert_eq!(read32(&mut uart, RIS) & INT_OE, INT_OE);
    // The FIFO kept the first bytes, in order.
    for byte in 0..FIFO_DEPTH as u8 {
        assert_eq!(read32(&mut uart, DR), u32::from(byte));
    }
    // Reading an empty FIFO gives zero, not a fault.
    assert_eq!(read32(&mut uart, DR), 0);
    write32(&mut uart, RSR, 0);
    assert_eq!(read32(&mut uart, RSR), 0);
    write32(&mut uart, ICR, INT_ALL);
    assert_eq!(read32(&mut uart, RIS), 0);
}

#[test]
fn identification_registers() {
    let mut uart = uart();
    let ids: Vec<u32> = (0..8)
        .map(|index| read32(&mut uart, PERIPH_ID0 + index * 4))
        .collect();
    assert_eq!(ids, [0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1]);
    assert_eq!(uart.read(0xff0, 1, Backlog::Empty), Ok(0x0d));
    // Writes are ignored.
    write32(&mut uart, 0xfe0, 0xff);
    assert_eq!(read32(&mut uart, 0xfe0), 0x11);
}

#[test]
fn narrow_accesses_see_their_byte_lanes() {
    let mut uart = uart();
    // Halfword write to IMSC, then a byte write to its second byte (OE is bit 10).
    uart.write(IMSC, 2, 0x0050, &mut Wire::default()).unwrap();
    uart.write(IMSC + 1, 1, 0x04, &mut Wire::default()).unwrap();
    assert_eq!(read32(&mut uart, IMSC), 0x0450);
    assert_eq!(uart.read(IMSC + 1, 1, Backlog::Empty), Ok(0x04));
    assert_eq!(uart.read(FR, 1, Backlog::Empty), Ok(u64::from(FR_TXFE | FR_RXFE)));
    // A byte written to the upper lanes of UARTDR sends nothing.
    let mut wire = Wire::default();
    uart.write(DR + 1, 1, 0x41, &mut wire).unwrap();
    assert!(wire.0.is_empty());
}

#[test]
fn read_only_registers_ignore_writes() {
    let mut uart = uart();
    uart.receive(1).unwrap();
    let before = read32(&mut uart, RIS);
    write32(&mut uart, FR, 0);
    write32(&mut uart, RIS, 0);
    write32(&mut uart, MIS, 0);
    assert_eq!(read32(&mut uart, RIS), before);
    assert_eq!(read32(&mut uart, FR) & FR_RXFE, 0);
}

#[test]
fn bad_accesses_are_typed_errors() {
    let mut uart = uart();
    let mut wire = Wire::default();
    for offset in [0x008, 0x01c, 0x04c, 0x100, 0xfdc, 0x1000] {
        assert_eq!(uart.read(offset, 4, Backlog::Empty), Err(Vpl011Error::BadOffset { offset }));
        assert_eq!(
            uart.write(offset, 4, 0, &mut wire),
            Err(Vpl011Error::BadOffset { offset })
        );
    }
    assert_eq!(
        uart.read(DR, 8, Backlog::Empty),
        Err(Vpl011Error::BadSize {
            offset: DR,
            size: 8
        })
    );
    assert_eq!(
        uart.read(FR + 1, 2, Backlog::Empty),
        Err(Vpl011Error::Misaligned {
            offset: FR + 1,
            size: 2
        })
    );
    assert_eq!(
        uart.write(DR + 2, 4, 0x41, &mut wire),
        Err(Vpl011Error::Misaligned {
            offset: DR + 2,
            size: 4
        })
    );
    assert!(wire.0.is_empty());
    assert!(Vpl011Error::BadOffset { offset: 8 }
        .to_string()
        .contains("0x8"));
}

#[test]
fn stored_pl011_registers_read_back_within_their_widths() {
    let mut uart = uart();
    write32(&mut uart, IBRD, 0x1_0027);
    write32(&mut uart, FBRD, 0xff);
    write32(&mut uart, LCR_H, 0x70);
    write32(&mut uart, CR, 0xffff_ffff);
    assert_eq!(read32(&mut uart, IBRD), 0x0027);
    assert_eq!(read32(&mut uart, FBRD), 0x3f);
    assert_eq!(read32(&mut uart, LCR_H), 0x70);
    assert_eq!(read32(&mut uart, CR), 0xff87);
}

#[test]
fn reset_forgets_input_and_masks() {
    let mut uart = uart();
    write32(&mut uart, IMSC, INT_RT);
    uart.receive(b'x').unwrap();
    uart.reset();
    assert_eq!(uart, Vpl011::new());
    assert!(!uart.interrupt_pending());
}

#[test]
fn the_receive_timeout_stays_raised_while_data_waits() {
    let mut uart = Vpl011::new();
    uart.receive(b'a').unwrap();
    uart.write(IMSC, 4, u64::from(INT_RT | INT_RX), &mut |_| {}).unwrap();
    assert!(uart.interrupt_pending());
    // Linux clears RT and RX at start-up and in its handler before it reads.
    uart.write(ICR, 4, u64::from(INT_RT | INT_RX), &mut |_| {}).unwrap();
    assert!(uart.interrupt_pending(), "a byte still waits: the line must stay high");
    assert_eq!(uart.read(DR, 4, Backlog::Empty).unwrap(), u64::from(b'a'));
    assert!(!uart.interrupt_pending());
    uart.write(ICR, 4, u64::from(INT_RT), &mut |_| {}).unwrap();
    assert!(!uart.interrupt_pending());
}

/// A sink with room for `room` bytes that nothing drains.
struct Slow {
    sent: Vec<u8>,
    room: usize,
}

impl TransmitSink for Slow {
    fn transmit(&mut self, byte: u8) {
        if self.sent.len() < self.room {
            self.sent.push(byte);
        }
    }

    fn backlog(&self) -> Backlog {
        match self.sent.len() {
            0 => Backlog::Empty,
            n if n >= self.room => Backlog::Full,
            _ => Backlog::Waiting,
        }
    }
}

#[test]
fn the_flags_show_the_sinks_backlog_as_the_transmit_fifo() {
    let mut uart = uart();
    let mut sink = Slow { sent: Vec::new(), room: 3 };
    let flags = |uart: &mut Vpl011, sink: &Slow| uart.read(FR, 4, sink.backlog()).unwrap() as u32 & (FR_TXFE | FR_TXFF | FR_BUSY);
    assert_eq!(flags(&mut uart, &sink), FR_TXFE, "an empty sink: transmit FIFO empty, not busy");
    uart.write(DR, 4, u64::from(b'a'), &mut sink).unwrap();
    assert_eq!(flags(&mut uart, &sink), FR_TXFE, "bytes wait in the sink: the UART took them, not busy");
    // A guest that waits for TXFF to clear before each byte writes only what fits.
    let mut written = 1;
    for &byte in b"bcdefg" {
        if flags(&mut uart, &sink) & FR_TXFF != 0 {
            break;
        }
        uart.write(DR, 4, u64::from(byte), &mut sink).unwrap();
        written += 1;
    }
    assert_eq!(written, 3);
    assert_eq!(sink.sent, b"abc", "nothing a polite guest wrote was lost");
    assert_eq!(flags(&mut uart, &sink), FR_TXFF | FR_BUSY);
    sink.sent.clear();
    assert_eq!(flags(&mut uart, &sink), FR_TXFE, "drained: empty again");
}

/// A sink that takes bytes only while it is not busy (its lock held elsewhere).
struct Contended {
    sent: Vec<u8>,
    busy: bool,
}

impl TransmitSink for Contended {
    fn transmit(&mut self, byte: u8) {
        self.sent.push(byte);
    }

    fn try_transmit(&mut self, byte: u8) -> bool {
        if !self.busy {
            self.sent.push(byte);
        }
        !self.busy
    }
}

#[test]
fn a_quiet_write_transmits_only_when_the_line_and_the_sink_allow_it() {
    let mut uart = uart();
    let mut sink = Contended { sent: Vec::new(), busy: false };
    assert!(uart.write_quietly(DR, 4, u64::from(b'a'), &mut sink), "TX masked: the line stays low");
    assert!(uart.write_quietly(DR, 1, 0x100 | u64::from(b'b'), &mut sink), "only the low byte goes");
    assert_eq!(sink.sent, b"ab");
    assert_ne!(read32(&mut uart, RIS) & INT_TX, 0, "TX raised as by a full write");
    for (offset, size) in [(DR + 1, 1), (CR, 4), (IMSC, 4), (ICR, 4), (0x7, 1), (DR, 8)] {
        assert!(!uart.write_quietly(offset, size, 0x41, &mut sink), "{offset:#x}/{size}: not a plain data write");
    }
    sink.busy = true;
    assert!(!uart.write_quietly(DR, 4, u64::from(b'c'), &mut sink), "the sink would wait");
    sink.busy = false;
    // TX unmasked with TX cleared: the write would raise the line, which the full path does.
    uart.write(IMSC, 4, u64::from(INT_TX), &mut sink).unwrap();
    uart.write(ICR, 4, u64::from(INT_TX), &mut sink).unwrap();
    assert!(!uart.interrupt_pending());
    assert!(!uart.write_quietly(DR, 4, u64::from(b'd'), &mut sink), "the line would rise");
    uart.write(DR, 4, u64::from(b'd'), &mut sink).unwrap();
    assert!(uart.interrupt_pending());
    assert!(uart.write_quietly(DR, 4, u64::from(b'e'), &mut sink), "already raised: the level stays");
    assert_eq!(sink.sent, b"abde");
}

#[test]
fn a_peek_reads_what_a_read_would_and_changes_nothing() {
    // The trap fast path answers reads with `peek`, and UARTFR by a path of its own: every
    // offset of the page at every size, over receive FIFOs empty, part full and full and every
    // backlog, must give what `read` gives (nothing for UARTDR, whose read pops a byte).
    let mut states = Vec::new();
    for received in [0usize, 1, 31, 32] {
        let mut uart = uart();
        write32(&mut uart, IMSC, INT_RX | INT_RT);
        for byte in 0..received {
            uart.receive(byte as u8).unwrap();
        }
        states.push(uart);
    }
    for uart in &states {
        for backlog in [Backlog::Empty, Backlog::Waiting, Backlog::Full] {
            for offset in 0..0x1000u64 {
                for size in [1u8, 2, 4, 8, 3, 0] {
                    let peeked = uart.peek(offset, size, backlog);
                    let mut reader = uart.clone();
                    let read = reader.read(offset, size, backlog).ok();
                    match offset & !0b11 {
                        DR => assert_eq!(peeked, None, "{offset:#x}/{size}: UARTDR is never peeked"),
                        _ => {
                            assert_eq!(peeked, read, "{offset:#x}/{size} with {} received, {backlog:?}", uart.pending_input());
                            assert_eq!(&reader, uart, "{offset:#x}/{size}: the read changed nothing either");
                        }
                    }
                }
            }
        }
    }
    let full = &states[3];
    assert_eq!(full.peek(FR, 4, Backlog::Full), Some(u64::from(FR_TXFF | FR_BUSY | FR_RXFF)));
    assert_eq!(states[0].peek(FR, 4, Backlog::Waiting), Some(u64::from(FR_TXFE | FR_RXFE)));
    assert_eq!(states[1].peek(FR, 2, Backlog::Empty), Some(u64::from(FR_TXFE)));
    assert_eq!(states[1].peek(FR + 1, 1, Backlog::Empty), Some(0));
}
