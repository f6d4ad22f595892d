//! The transmit ring against a model UART: bursts, the interrupt's arming, waiting, and the
//! full ring's drop policy.

use std::collections::VecDeque;

use super::{TransmitFifo, TransmitRing, BURST};

/// A UART whose FIFO holds `depth` bytes until the test lets the line send them.
struct Uart {
    depth: usize,
    fifo: VecDeque<u8>,
    line: Vec<u8>,
    interrupt: bool,
    /// Times the interrupt was switched (on or off).
    switches: usize,
}

impl Uart {
    fn new(depth: usize) -> Self {
        Self { depth, fifo: VecDeque::new(), line: Vec::new(), interrupt: false, switches: 0 }
    }

    /// The line sends `n` bytes from the FIFO.
    fn send(&mut self, n: usize) {
        for _ in 0..n {
            if let Some(b) = self.fifo.pop_front() {
                self.line.push(b);
            }
        }
    }

    /// Everything the UART has taken, sent or still in its FIFO.
    fn taken(&self) -> Vec<u8> {
        let mut all = self.line.clone();
        all.extend(self.fifo.iter());
        all
    }
}

impl TransmitFifo for Uart {
    fn is_full(&mut self) -> bool {
        self.fifo.len() >= self.depth
    }

    fn write(&mut self, byte: u8) {
        assert!(self.fifo.len() < self.depth, "written while TXFF");
        self.fifo.push_back(byte);
    }

    fn set_interrupt(&mut self, enabled: bool) {
        assert_ne!(self.interrupt, enabled, "the interrupt switched to the state it was in");
        self.interrupt = enabled;
        self.switches += 1;
    }
}

/// Runs the interrupt until the ring is empty, the line sending the FIFO between interrupts.
fn run_interrupts<const N: usize>(ring: &mut TransmitRing<N>, uart: &mut Uart) {
    for _ in 0..100_000 {
        if !uart.interrupt {
            return;
        }
        uart.send(uart.depth);
        ring.interrupt(uart);
    }
    panic!("the interrupt never disarmed");
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_writer_primes_an_idle_transmitter_with_one_burst_and_arms_the_interrupt_for_the_rest() {
    let mut ring = TransmitRing::<1024>::new();
    let mut uart = Uart::new(64);
    let line = [b'x'; 100];
    assert!(ring.queue(&line));
    assert_eq!(ring.prime(&mut uart), BURST);
    assert_eq!(uart.fifo.len(), BURST);
    assert!(uart.interrupt && ring.armed());
    // Busy: the next writer only queues.
    assert!(ring.queue(b"more"));
    assert_eq!(ring.prime(&mut uart), 0);
    assert_eq!(ring.len(), 100 - BURST + 4);
    run_interrupts(&mut ring, &mut uart);
    assert!(!ring.armed() && ring.is_empty());
    let mut expected = line.to_vec();
    expected.extend(b"more");
    assert_eq!(uart.taken(), expected);
    let stats = ring.stats();
    assert_eq!(stats.primed, BURST as u64);
    assert_eq!(stats.from_interrupt, (100 - BURST + 4) as u64);
    assert_eq!(stats.interrupts, 3, "32 + 32 + 8 bytes after the prime");
    assert_eq!(stats.sent(), 104);
    assert_eq!(stats.dropped, 0);
}

#[test]
fn what_fits_in_the_fifo_at_once_needs_no_interrupt() {
    let mut ring = TransmitRing::<1024>::new();
    let mut uart = Uart::new(16);
    ring.queue(b"hello\r\n");
    assert_eq!(ring.prime(&mut uart), 7);
    assert!(!uart.interrupt && uart.switches == 0 && ring.is_empty());
}

#[test]
fn a_burst_stops_at_txff_and_never_waits() {
    let mut ring = TransmitRing::<1024>::new();
    let mut uart = Uart::new(16);
    uart.fifo.extend([b'.'; 10]);
    ring.queue(&[b'y'; 40]);
    assert_eq!(ring.prime(&mut uart), 6, "only the FIFO's room");
    assert!(ring.armed());
    // The interrupt comes with the FIFO still full (the line has not sent): nothing written.
    assert_eq!(ring.interrupt(&mut uart), 0);
    assert!(ring.armed(), "stays armed for the next one");
    uart.send(16);
    assert_eq!(ring.interrupt(&mut uart), 16);
}

#[test]
fn an_interrupt_while_disarmed_is_the_receive_side_and_sends_nothing() {
    let mut ring = TransmitRing::<1024>::new();
    let mut uart = Uart::new(16);
    assert_eq!(ring.interrupt(&mut uart), 0);
    assert_eq!(ring.stats().interrupts, 0);
    assert_eq!(uart.switches, 0);
}

#[test]
fn bytes_come_out_in_order_across_the_ring_wrapping_many_times() {
    let mut ring = TransmitRing::<1024>::new();
    let mut uart = Uart::new(16);
    let mut expected = Vec::new();
    let mut seed = 7u32;
    for round in 0..2000u32 {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let len = (seed >> 16) as usize % 300;
        let piece: Vec<u8> = (0..len).map(|i| b'a' + ((round as usize + i) % 26) as u8).collect();
        // A writer that checks the room first, as the pump does.
        if piece.len() <= ring.free() {
            assert!(ring.queue(&piece));
            expected.extend(&piece);
        }
        ring.prime(&mut uart);
        if seed.is_multiple_of(3) {
            uart.send(uart.depth);
            ring.interrupt(&mut uart);
        }
        assert!(ring.len() <= 1024);
    }
    run_interrupts(&mut ring, &mut uart);
    assert_eq!(ring.stats().dropped, 0, "room was checked: {}", ring.stats().dropped);
    assert_eq!(uart.taken(), expected);
}

#[test]
fn a_write_that_does_not_fit_is_dropped_whole_and_the_rest_until_a_line_end_with_room() {
    let mut ring = TransmitRing::<1024>::new();
    let mut uart = Uart::new(16);
    // The UART is stuck: nothing leaves the ring.
    uart.fifo.extend([b'.'; 16]);
    for i in 0..10 {
        assert!(ring.queue(format!("line {i:02} {}\r\n", "=".repeat(80)).as_bytes()));
    }
    assert!(ring.queue(b"(p) open line: "), "{} free", ring.free());
    let full = ring.len();
    assert!(!ring.queue(&[b'z'; 200]), "does not fit");
    // Dropped from here on, room or not, until the lost stream ends a line with room.
    assert!(!ring.queue(b"1"));
    assert!(!ring.queue(b"rest of the line\r\n"), "no room yet");
    assert_eq!(ring.len(), full);
    uart.fifo.clear();
    ring.prime(&mut uart);
    run_interrupts(&mut ring, &mut uart);
    // The ring emptied with the lost stream at a line end: the count follows a cut line.
    let out = text(&uart.taken());
    assert!(out.ends_with("(p) open line:  [cut]\r\nbulkhead: console: 219 bytes dropped: the UART's transmit ring (1024 bytes) was full; less output or a faster line rate avoids it\r\n"), "{out}");
    assert_eq!(ring.stats().dropped, 219);
    assert!(ring.queue(b"next\r\n"), "taken again");
}

#[test]
fn a_drop_ends_at_the_first_line_end_with_a_quarter_of_the_ring_free() {
    let mut ring = TransmitRing::<1024>::new();
    let mut uart = Uart::new(16);
    uart.fifo.extend([b'.'; 16]);
    ring.queue(&[b'a'; 1000]);
    ring.queue(b"\r\n");
    assert!(!ring.queue(&[b'b'; 100]));
    // The line sends 300 bytes: room, but the lost stream is inside a line.
    uart.fifo.clear();
    ring.prime(&mut uart);
    for _ in 0..20 {
        uart.send(16);
        ring.interrupt(&mut uart);
    }
    assert!(ring.free() >= 256);
    assert!(!ring.queue(b"still the lost line"));
    assert!(!ring.queue(b"\r\n"), "the line end itself is lost too");
    assert!(ring.queue(b"whole\r\n"));
    run_interrupts(&mut ring, &mut uart);
    let out = text(&uart.taken());
    assert!(out.ends_with("\r\nbulkhead: console: 121 bytes dropped: the UART's transmit ring (1024 bytes) was full; less output or a faster line rate avoids it\r\nwhole\r\n"), "{out}");
}

#[test]
fn a_lost_line_that_never_ends_keeps_the_drop_going_after_the_ring_empties() {
    let mut ring = TransmitRing::<1024>::new();
    let mut uart = Uart::new(16);
    uart.fifo.extend([b'.'; 16]);
    ring.queue(&[b'a'; 1020]);
    ring.queue(b"\r\n");
    assert!(!ring.queue(b"(shell) $ "));
    uart.fifo.clear();
    ring.prime(&mut uart);
    run_interrupts(&mut ring, &mut uart);
    assert!(!text(&uart.taken()).contains("dropped"), "a prompt's rest would print without its prefix");
    assert!(!ring.queue(b"ls\r\n"));
    assert!(ring.queue(b"(shell) next\r\n"));
    ring.prime(&mut uart);
    run_interrupts(&mut ring, &mut uart);
    assert!(text(&uart.taken()).ends_with("\r\nbulkhead: console: 14 bytes dropped: the UART's transmit ring (1024 bytes) was full; less output or a faster line rate avoids it\r\n(shell) next\r\n"));
}

#[test]
fn a_defmt_frame_is_never_cut_into_text_and_one_left_open_is_closed() {
    let mut ring = TransmitRing::<1024>::new();
    let mut uart = Uart::new(16);
    uart.fifo.extend([b'.'; 16]);
    ring.queue(&[b'a'; 1000]);
    ring.queue(b"\r\n");
    // A frame opens, its body is lost (its bytes may hold 0x0a, which is no line end there).
    assert!(ring.queue(&[0]));
    assert!(!ring.queue(&[5, b'\n', 7, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]));
    uart.fifo.clear();
    ring.prime(&mut uart);
    run_interrupts(&mut ring, &mut uart);
    assert!(!ring.queue(&[3, 0]), "the frame's end, still lost");
    assert!(ring.queue(&[0, 1, 2, 0]), "the next frame is whole");
    ring.prime(&mut uart);
    run_interrupts(&mut ring, &mut uart);
    let out = uart.taken();
    let tail = &out[1002..];
    assert_eq!(tail[0], 0, "the opening zero was taken");
    assert_eq!(tail[1], 0, "closed at once: the zeros still pair up");
    let rest = text(&tail[2..]);
    assert!(rest.starts_with("bulkhead: console: 25 bytes dropped"), "{rest}");
    assert!(out.ends_with(&[0, 1, 2, 0]));
    assert_eq!(out.iter().filter(|&&b| b == 0).count() % 2, 0);
}

#[test]
fn waiting_writes_everything_in_order_and_leaves_the_interrupt_off() {
    let mut ring = TransmitRing::<1024>::new();
    let mut uart = Uart::new(16);
    ring.queue(&[b'q'; 100]);
    ring.prime(&mut uart);
    assert!(uart.interrupt);
    let big = vec![b'w'; 3000];
    let mut sent = 0;
    {
        let mut waits = 0;
        // A UART whose line sends a byte each time its flag register shows TXFF.
        struct Waiting<'a> {
            uart: &'a mut Uart,
        }
        impl TransmitFifo for Waiting<'_> {
            fn is_full(&mut self) -> bool {
                let full = self.uart.is_full();
                if full {
                    self.uart.send(1);
                }
                full
            }
            fn write(&mut self, byte: u8) {
                self.uart.write(byte)
            }
            fn set_interrupt(&mut self, enabled: bool) {
                self.uart.set_interrupt(enabled)
            }
        }
        let mut fifo = Waiting { uart: &mut uart };
        sent += ring.write_waiting(&big, &mut fifo, || {
            waits += 1;
            true
        });
        assert!(waits > 0);
    }
    assert_eq!(sent, 100 - 16 + 3000, "the prime wrote the FIFO's 16");
    assert!(!uart.interrupt && !ring.armed() && ring.is_empty());
    let mut expected = vec![b'q'; 100];
    expected.extend(&big);
    assert_eq!(uart.taken(), expected);
    assert_eq!(ring.stats().waited, sent as u64);
}

#[test]
fn waiting_on_a_uart_that_never_drains_gives_up_and_counts_the_loss() {
    let mut ring = TransmitRing::<1024>::new();
    let mut uart = Uart::new(16);
    uart.fifo.extend([b'.'; 16]);
    ring.queue(&[b'r'; 50]);
    let mut patience = 3;
    let sent = ring.drain(&mut uart, || {
        patience -= 1;
        patience > 0
    });
    assert_eq!(sent, 0);
    assert!(ring.is_empty());
    assert_eq!(ring.stats().dropped, 50);
}

#[test]
fn the_emergency_path_takes_everything_in_order_across_the_wrap() {
    let mut ring = TransmitRing::<1024>::new();
    let mut uart = Uart::new(16);
    ring.queue(&[b'1'; 900]);
    ring.prime(&mut uart);
    run_interrupts(&mut ring, &mut uart);
    ring.queue(&[b'2'; 300]);
    ring.queue(b"end");
    let mut out = Vec::new();
    assert_eq!(ring.take_all(|chunk| out.extend_from_slice(chunk)), 303);
    let mut expected = vec![b'2'; 300];
    expected.extend(b"end");
    assert_eq!(out, expected);
    assert!(ring.is_empty());
}

#[test]
fn a_writer_waiting_for_room_sends_bursts_itself_and_the_interrupt_stays_armed_until_empty() {
    let mut ring = TransmitRing::<1024>::new();
    let mut uart = Uart::new(16);
    ring.queue(&[b'd'; 1000]);
    ring.prime(&mut uart);
    assert!(ring.armed());
    let mut rounds = 0;
    while ring.free() < 900 {
        uart.send(16);
        assert!(ring.relieve(&mut uart) > 0);
        assert!(ring.armed(), "the interrupt still sends the rest");
        rounds += 1;
    }
    assert_eq!(rounds, 54, "16 bytes a round, from 984 queued after the prime to 124 at most");
    while !ring.is_empty() {
        uart.send(16);
        ring.relieve(&mut uart);
    }
    assert!(!ring.armed() && !uart.interrupt);
    assert_eq!(uart.taken(), vec![b'd'; 1000]);
    assert_eq!(ring.stats().waited, 1000 - 16);
    assert_eq!(ring.stats().interrupts, 0);
}
