//! Tests of the console multiplexer: line assembly, focus switching, input routing.

use super::*;
use crate::portable::vpl011::Vpl011;

/// The physical console: everything written to it.
#[derive(Default)]
struct Screen(Vec<u8>);

impl ConsoleSink for Screen {
    fn write_bytes(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

impl Screen {
    fn take(&mut self) -> String {
        String::from_utf8(std::mem::take(&mut self.0)).unwrap()
    }
}

fn write<const N: usize, const L: usize>(
    mux: &mut Multiplexer<'_, N, L>,
    index: usize,
    text: &str,
    screen: &mut Screen,
) {
    for byte in text.bytes() {
        mux.output(index, byte, screen).unwrap();
    }
}

fn two_partitions() -> (Multiplexer<'static, 4, 16>, Screen) {
    let mut mux = Multiplexer::new();
    assert_eq!(mux.add_partition("rtos"), Ok(0));
    assert_eq!(mux.add_partition("linux"), Ok(1));
    (mux, Screen::default())
}

const NOTICE_TAIL: &str = " (type 'CTRL-a' three times to switch input)\r\n";

fn notice(name: &str) -> String {
    format!("(Bulkhead) *** Serial input to {name}{NOTICE_TAIL}")
}

fn switch<const N: usize, const L: usize>(mux: &mut Multiplexer<'_, N, L>, screen: &mut Screen) {
    for _ in 0..3 {
        assert!(mux.input(SWITCH_CODE, screen).bytes().is_empty());
    }
}

#[test]
fn lines_are_printed_whole_with_the_prefix() {
    let (mut mux, mut screen) = two_partitions();
    write(&mut mux, 0, "hello\r\n", &mut screen);
    assert_eq!(screen.take(), "(rtos) hello\r\n");
}

#[test]
fn partial_lines_of_two_partitions_do_not_mix() {
    let (mut mux, mut screen) = two_partitions();
    write(&mut mux, 0, "abc", &mut screen);
    write(&mut mux, 1, "xyz\n", &mut screen);
    write(&mut mux, 0, "d\n", &mut screen);
    assert_eq!(screen.take(), "(linux) xyz\r\n(rtos) abcd\r\n");
}

#[test]
fn a_line_longer_than_the_buffer_comes_out_in_pieces() {
    let (mut mux, mut screen) = two_partitions();
    write(&mut mux, 0, "0123456789abcdefGHIJ\n", &mut screen);
    assert_eq!(screen.take(), "(rtos) 0123456789abcdef [cut]\r\n(rtos) GHIJ\r\n");
    // Exactly one buffer's worth: no empty line after it.
    write(&mut mux, 0, "0123456789abcdef\n", &mut screen);
    assert_eq!(screen.take(), "(rtos) 0123456789abcdef\r\n");
}

#[test]
fn empty_lines_are_kept() {
    let (mut mux, mut screen) = two_partitions();
    write(&mut mux, 1, "a\n\nb\n", &mut screen);
    assert_eq!(screen.take(), "(linux) a\r\n(linux) \r\n(linux) b\r\n");
}

#[test]
fn three_ctrl_a_cycle_the_focus_through_running_partitions() {
    let (mut mux, mut screen) = two_partitions();
    assert_eq!(mux.focus(), Focus::Hypervisor);
    switch(&mut mux, &mut screen);
    assert_eq!(mux.focus(), Focus::Partition(0));
    assert_eq!(screen.take(), notice("rtos"));
    switch(&mut mux, &mut screen);
    assert_eq!(mux.focus(), Focus::Partition(1));
    assert_eq!(screen.take(), notice("linux"));
    switch(&mut mux, &mut screen);
    assert_eq!(mux.focus(), Focus::Hypervisor);
    assert_eq!(screen.take(), notice("Bulkhead"));
}

#[test]
fn focus_skips_stopped_partitions() {
    let (mut mux, mut screen) = two_partitions();
    mux.set_running(0, false, &mut screen).unwrap();
    switch(&mut mux, &mut screen);
    assert_eq!(mux.focus(), Focus::Partition(1));
    mux.set_running(1, false, &mut screen).unwrap();
    // The focused partition stopped: the focus moves on, to the hypervisor here.
    assert_eq!(mux.focus(), Focus::Hypervisor);
    screen.take();
    switch(&mut mux, &mut screen);
    assert_eq!(mux.focus(), Focus::Hypervisor);
    assert_eq!(screen.take(), notice("Bulkhead"));
    mux.set_running(0, true, &mut screen).unwrap();
    switch(&mut mux, &mut screen);
    assert_eq!(mux.focus(), Focus::Partition(0));
}

#[test]
fn a_stopping_partition_prints_its_unfinished_line() {
    let (mut mux, mut screen) = two_partitions();
    write(&mut mux, 1, "Power down", &mut screen);
    mux.set_running(1, false, &mut screen).unwrap();
    assert_eq!(screen.take(), "(linux) Power down\r\n");
    assert_eq!(mux.is_running(1), Ok(false));
}

#[test]
fn ordinary_bytes_go_to_the_focus() {
    let (mut mux, mut screen) = two_partitions();
    let routed = mux.input(b'x', &mut screen);
    assert_eq!(
        (routed.target, routed.bytes()),
        (Focus::Hypervisor, &b"x"[..])
    );
    switch(&mut mux, &mut screen);
    let routed = mux.input(b'y', &mut screen);
    assert_eq!(
        (routed.target, routed.bytes()),
        (Focus::Partition(0), &b"y"[..])
    );
}

#[test]
fn ctrl_a_twice_then_another_byte_forwards_all_three() {
    let (mut mux, mut screen) = two_partitions();
    switch(&mut mux, &mut screen);
    screen.take();
    assert!(mux.input(SWITCH_CODE, &mut screen).bytes().is_empty());
    assert!(mux.input(SWITCH_CODE, &mut screen).bytes().is_empty());
    let routed = mux.input(b'c', &mut screen);
    assert_eq!(routed.target, Focus::Partition(0));
    assert_eq!(routed.bytes(), &[SWITCH_CODE, SWITCH_CODE, b'c']);
    assert_eq!(mux.focus(), Focus::Partition(0));
    assert!(screen.take().is_empty());
    // The count starts again after the forwarded run.
    let routed = mux.input(SWITCH_CODE, &mut screen);
    assert!(routed.bytes().is_empty());
    assert_eq!(mux.input(b'd', &mut screen).bytes(), &[SWITCH_CODE, b'd']);
}

#[test]
fn four_ctrl_a_switch_once_and_hold_the_fourth() {
    let (mut mux, mut screen) = two_partitions();
    switch(&mut mux, &mut screen);
    assert!(mux.input(SWITCH_CODE, &mut screen).bytes().is_empty());
    assert_eq!(mux.focus(), Focus::Partition(0));
    let routed = mux.input(b'e', &mut screen);
    assert_eq!(routed.bytes(), &[SWITCH_CODE, b'e']);
}

/// What the hypervisor's buffers do with the multiplexer: each partition's bytes wait in a
/// queue, offered in order until one is refused (held back), which is offered again later.
#[derive(Default)]
struct Queues(Vec<std::collections::VecDeque<u8>>, usize);

impl Queues {
    fn write(&mut self, index: usize, text: &str) {
        if self.0.len() <= index {
            self.0.resize(index + 1, Default::default());
        }
        self.0[index].extend(text.bytes());
    }

    /// Offers every queue's bytes once, in partition order.
    fn pump<const N: usize, const L: usize>(&mut self, mux: &mut Multiplexer<'_, N, L>, screen: &mut Screen) {
        for (index, queue) in self.0.iter_mut().enumerate() {
            while let Some(&byte) = queue.front() {
                if !mux.output(index, byte, screen).unwrap() {
                    self.1 += 1;
                    break;
                }
                queue.pop_front();
            }
        }
    }
}

#[test]
fn the_focused_partition_is_printed_at_once_and_holds_the_others_lines() {
    let (mut mux, mut screen) = two_partitions();
    let mut queues = Queues::default();
    switch(&mut mux, &mut screen);
    screen.take();
    queues.write(0, "/ # ");
    queues.pump(&mut mux, &mut screen);
    assert_eq!(screen.take(), "(rtos) / # ");
    // Another partition's line waits while the open one is young...
    queues.write(1, "boot\n");
    queues.pump(&mut mux, &mut screen);
    mux.set_clock(HOLD_MS - 1);
    queues.pump(&mut mux, &mut screen);
    assert_eq!(screen.take(), "");
    // ... until the open line ends: then it follows, whole.
    queues.write(0, "ls\r\n");
    queues.pump(&mut mux, &mut screen);
    assert_eq!(screen.take(), "ls\r\n(linux) boot\r\n");
}

#[test]
fn an_open_line_quiet_for_the_hold_time_is_cut_and_says_so() {
    let (mut mux, mut screen) = two_partitions();
    let mut queues = Queues::default();
    switch(&mut mux, &mut screen);
    screen.take();
    mux.set_clock(1_000);
    queues.write(0, "login: ");
    queues.write(1, "tick 1\n");
    queues.pump(&mut mux, &mut screen);
    assert_eq!(screen.take(), "(rtos) login: ");
    mux.set_clock(1_000 + HOLD_MS);
    queues.pump(&mut mux, &mut screen);
    assert_eq!(screen.take(), " [cut]\r\n(linux) tick 1\r\n");
    queues.write(0, "root\n");
    queues.pump(&mut mux, &mut screen);
    assert_eq!(screen.take(), "(rtos) root\r\n");
    // The clock never goes back.
    mux.set_clock(5);
    assert_eq!(mux.now, 1_000 + HOLD_MS);
}

#[test]
fn a_focused_partition_writing_slowly_holds_the_others_for_a_bounded_time() {
    let (mut mux, mut screen) = two_partitions();
    let mut queues = Queues::default();
    switch(&mut mux, &mut screen);
    screen.take();
    queues.write(1, "tick\n");
    let mut now = 0;
    while now < MAX_HOLD_MS {
        queues.write(0, "x");
        queues.pump(&mut mux, &mut screen);
        assert!(!screen.take().contains("(linux)"), "held at {now} ms");
        now += HOLD_MS - 1;
        mux.set_clock(now);
    }
    queues.pump(&mut mux, &mut screen);
    assert_eq!(screen.take(), " [cut]\r\n(linux) tick\r\n");
}

/// Issue 12's sighting in `virt-gicv3-console`: "(beta) b" then "(beta) eta: done". The
/// focused partition stopped while another had half a line buffered; the focus moved to it
/// and showed the half, which the hypervisor's next line cut.
#[test]
fn a_focus_moved_by_a_stop_does_not_show_a_half_line_for_the_next_line_to_cut() {
    let mut mux: Multiplexer<'static, 4, 64> = Multiplexer::new();
    let mut screen = Screen::default();
    for name in ["alpha", "beta", "gamma"] {
        mux.add_partition(name).unwrap();
    }
    mux.focus_on(0, &mut screen).unwrap();
    write(&mut mux, 0, "alpha: done\n", &mut screen);
    write(&mut mux, 1, "b", &mut screen);
    mux.set_running(0, false, &mut screen).unwrap();
    assert_eq!(mux.focus(), Focus::Partition(1));
    mux.close_open_line(&mut screen);
    screen.write_bytes(b"bulkhead: partition \"alpha\" stopped\r\n");
    write(&mut mux, 1, "eta: done\n", &mut screen);
    assert_eq!(
        screen.take(),
        format!("(Bulkhead) *** Serial input to alpha{NOTICE_TAIL}(alpha) alpha: done\r\n{}bulkhead: partition \"alpha\" stopped\r\n(beta) beta: done\r\n", notice("beta"))
    );
}

/// Three partitions write lines of random lengths in random turns, one of them focused and
/// printed byte by byte, the focus moved now and then, the clock standing still: every line
/// on the console is one partition's whole line, in that partition's order, never cut.
#[test]
fn lines_written_in_any_interleaving_come_out_whole_and_in_order() {
    let mut mux: Multiplexer<'static, 4, 64> = Multiplexer::new();
    let mut screen = Screen::default();
    let names = ["a", "b", "c"];
    for name in names {
        mux.add_partition(name).unwrap();
    }
    let mut queues = Queues::default();
    let mut written: Vec<Vec<String>> = vec![Vec::new(); 3];
    let mut unfinished = [String::new(), String::new(), String::new()];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut random = |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    for round in 0..3_000 {
        let index = random(3) as usize;
        let byte = match random(8) {
            0 => b'\n',
            _ => b'a' + random(26) as u8,
        };
        if byte == b'\n' {
            written[index].push(std::mem::take(&mut unfinished[index]));
        } else if unfinished[index].len() < 40 {
            unfinished[index].push(byte as char);
        } else {
            continue;
        }
        queues.write(index, core::str::from_utf8(&[byte]).unwrap());
        if random(4) == 0 {
            queues.pump(&mut mux, &mut screen);
        }
        if round % 500 == 0 {
            // Moved by the operator, at a line end of the focus so nothing is cut.
            queues.pump(&mut mux, &mut screen);
            if mux.open_line.is_none() {
                mux.focus_on((round / 500) % 3, &mut screen).unwrap();
            }
        }
    }
    for (index, text) in unfinished.iter().enumerate() {
        if !text.is_empty() {
            queues.write(index, "\n");
            written[index].push(text.clone());
        }
    }
    for _ in 0..4 {
        queues.pump(&mut mux, &mut screen);
    }
    assert!(queues.1 > 100, "lines were held back ({} times)", queues.1);
    let text = screen.take();
    let mut seen: Vec<Vec<String>> = vec![Vec::new(); 3];
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        if line.starts_with("(Bulkhead) ***") {
            continue;
        }
        assert!(!line.ends_with(" [cut]"), "a cut line: {line:?}");
        let index = names.iter().position(|n| line.starts_with(&format!("({n}) "))).unwrap_or_else(|| panic!("no prefix: {line:?}"));
        seen[index].push(line[names[index].len() + 3..].to_string());
    }
    assert_eq!(seen, written);
}

#[test]
fn a_prompt_written_before_the_switch_is_shown_with_the_focus() {
    let (mut mux, mut screen) = two_partitions();
    write(&mut mux, 1, "login: ", &mut screen);
    assert!(screen.take().is_empty());
    switch(&mut mux, &mut screen);
    switch(&mut mux, &mut screen);
    assert_eq!(
        screen.take(),
        format!("{}{}(linux) login: ", notice("rtos"), notice("linux"))
    );
    write(&mut mux, 1, "root\n", &mut screen);
    assert_eq!(screen.take(), "root\r\n");
}

#[test]
fn the_hypervisor_can_close_an_open_line_before_its_own() {
    let (mut mux, mut screen) = two_partitions();
    switch(&mut mux, &mut screen);
    screen.take();
    write(&mut mux, 0, "$ ", &mut screen);
    mux.close_open_line(&mut screen);
    mux.close_open_line(&mut screen);
    assert_eq!(screen.take(), "(rtos) $  [cut]\r\n", "its rest comes on a line of its own");
}

#[test]
fn a_drop_report_cuts_the_unfinished_line_like_every_broken_line() {
    let (mut mux, mut screen) = two_partitions();
    const REPORT: &str = " console bytes dropped (written while its UART showed its transmit FIFO full)\r\n";
    // The bytes lost came after "abc": the line is broken, and says so.
    write(&mut mux, 1, "abc", &mut screen);
    mux.report_dropped(1, 7, &mut screen).unwrap();
    assert_eq!(screen.take(), format!("(linux) abc [cut]\r\nbulkhead: partition \"linux\": 7{REPORT}"));
    write(&mut mux, 1, "def\n", &mut screen);
    assert_eq!(screen.take(), "(linux) def\r\n", "its rest on a line of its own");
    // Nothing unfinished: the report alone, uncut.
    mux.report_dropped(1, u64::MAX, &mut screen).unwrap();
    assert_eq!(screen.take(), format!("bulkhead: partition \"linux\": {}{REPORT}", u64::MAX));
    // The focused partition's open line, and another partition's, are cut the same way.
    switch(&mut mux, &mut screen);
    screen.take();
    write(&mut mux, 0, "$ ", &mut screen);
    write(&mut mux, 1, "xy", &mut screen);
    mux.report_dropped(1, 1, &mut screen).unwrap();
    assert_eq!(screen.take(), format!("(rtos) $  [cut]\r\n(linux) xy [cut]\r\nbulkhead: partition \"linux\": 1{REPORT}"));
    mux.report_dropped(0, 2, &mut screen).unwrap();
    assert_eq!(screen.take(), format!("bulkhead: partition \"rtos\": 2{REPORT}"));
    assert_eq!(mux.report_dropped(2, 1, &mut screen), Err(ConsoleError::NoSuchPartition { index: 2, count: 2 }));
}

#[test]
fn vpl011_output_reaches_the_console_through_a_transmitter() {
    let (mut mux, mut screen) = two_partitions();
    let mut uart = Vpl011::new();
    {
        let mut transmitter = mux.transmitter(1, &mut screen).unwrap();
        for byte in b"Hello from the UART\r\n" {
            uart.write(0, 1, u64::from(*byte), &mut transmitter)
                .unwrap();
        }
    }
    assert_eq!(screen.take(), "(linux) Hello from the U [cut]\r\n(linux) ART\r\n");
}

#[test]
fn unknown_partitions_and_full_tables_are_errors() {
    let mut mux = Multiplexer::<'static, 1, 8>::new();
    let mut screen = Screen::default();
    mux.add_partition("only").unwrap();
    assert_eq!(
        mux.add_partition("more"),
        Err(ConsoleError::TooManyPartitions { capacity: 1 })
    );
    let missing = ConsoleError::NoSuchPartition { index: 1, count: 1 };
    assert_eq!(mux.output(1, b'x', &mut screen), Err(missing));
    assert_eq!(mux.set_running(1, false, &mut screen), Err(missing));
    assert!(mux.transmitter(1, &mut screen).is_err());
    assert_eq!(mux.name(0), Ok("only"));
    assert!(missing.to_string().contains("partition 1"));
}

/// A guest's escape sequences and other control bytes reach the terminal visibly, inside its
/// own prefixed line: it cannot erase its prefix or fake another partition's line.
#[test]
fn control_bytes_are_shown_not_obeyed() {
    let (mut mux, mut screen) = two_partitions();
    write(&mut mux, 0, "\x1b[2K\r(x) f\x07\x7f\tk\n", &mut screen);
    assert_eq!(screen.take(), "(rtos) ^[[2K(x) f^G^?\tk\r\n");
    write(&mut mux, 1, "caf\u{e9} \u{2713}\n", &mut screen);
    assert_eq!(screen.take(), "(linux) caf\u{e9} \u{2713}\r\n", "UTF-8 passes through");
}

/// C1 controls in UTF-8 (U+009B is CSI to some terminals) are shown, not obeyed.
#[test]
fn c1_controls_are_shown_not_obeyed() {
    let (mut mux, mut screen) = two_partitions();
    write(&mut mux, 0, "a\u{9b}2J\u{85}\n", &mut screen);
    assert_eq!(screen.take(), "(rtos) a<U+009B>2J<U+0085>\r\n");
}

/// The focused partition's raw output cannot reach back over its prefix or leave its line,
/// so it cannot draw the focus banner at the start of a line.
#[test]
fn the_focused_partition_cannot_forge_the_focus_banner() {
    let (mut mux, mut screen) = two_partitions();
    switch(&mut mux, &mut screen);
    screen.take();
    write(&mut mux, 0, "ab\x08\x08\x08\x1b[99D\x1b[2K\x1b[A\r(Bulkhead) *** Serial input to Bulkhead", &mut screen);
    assert_eq!(screen.take(), "(rtos) ab\x08\x08^H^[[2K^[[A(Bulkhead) *** Serial input to Bulkhead");
    // A new line starts with the prefix again, and the cursor budget starts afresh.
    write(&mut mux, 0, "\nx\x08\x08", &mut screen);
    assert_eq!(screen.take(), "\r\n(rtos) x\x08^H");
}

#[test]
fn no_partition_may_take_the_hypervisors_console_name() {
    let mut mux: Multiplexer<'static, 4, 16> = Multiplexer::new();
    assert_eq!(mux.add_partition("bulkhead"), Err(ConsoleError::ReservedName { name: HYPERVISOR_NAME }));
    assert_eq!(mux.count(), 0);
}
