//! The operator console's line editing, parsing and answers.

use super::*;
use alloc::string::String;
use alloc::vec::Vec;

fn typed(editor: &mut LineEditor, text: &str) -> Vec<Key> {
    text.bytes().map(|b| editor.key(b)).collect()
}

#[test]
fn a_line_is_echoed_and_entered() {
    let mut editor = LineEditor::new();
    let keys = typed(&mut editor, "list\r");
    assert_eq!(keys[..4], [Key::EchoKey(b'l'), Key::EchoKey(b'i'), Key::EchoKey(b's'), Key::EchoKey(b't')]);
    assert_eq!(keys[4], Key::Line(heapless::String::try_from("list").unwrap()));
    assert_eq!(editor.key(b'\n'), Key::Line(heapless::String::new()), "the line starts empty again");
}

#[test]
fn backspace_erases_and_control_bytes_are_ignored() {
    let mut editor = LineEditor::new();
    assert_eq!(editor.key(0x7f), Key::Nothing, "nothing to erase");
    typed(&mut editor, "lisx");
    assert_eq!(editor.key(0x7f), Key::Echo(b"\x08 \x08"));
    assert_eq!(editor.key(0x08), Key::Echo(b"\x08 \x08"));
    // An escape sequence (cursor up) leaves only its printable tail, which the parser refuses.
    assert_eq!(editor.key(0x1b), Key::Nothing);
    assert_eq!(editor.key(0x00), Key::Nothing);
    typed(&mut editor, "st");
    assert_eq!(editor.key(b'\r'), Key::Line(heapless::String::try_from("list").unwrap()));
}

#[test]
fn a_line_too_long_is_refused_whole() {
    let mut editor = LineEditor::new();
    let long: String = core::iter::repeat_n('a', LINE + 5).collect();
    let keys = typed(&mut editor, &long);
    assert_eq!(keys.iter().filter(|k| **k == Key::Nothing).count(), 5, "the bytes past the limit are not echoed");
    assert_eq!(editor.key(b'\r'), Key::TooLong);
    assert_eq!(editor.key(b'\r'), Key::Line(heapless::String::new()), "the next line is fine");
}

#[test]
fn commands_parse_with_their_names() {
    assert_eq!(parse(""), Ok(None));
    assert_eq!(parse("   "), Ok(None));
    assert_eq!(parse("list"), Ok(Some(Command::List)));
    assert_eq!(parse("  help "), Ok(Some(Command::Help)));
    assert_eq!(parse("stop rtos"), Ok(Some(Command::Stop("rtos"))));
    assert_eq!(parse("start  linux"), Ok(Some(Command::Start("linux"))));
    assert_eq!(parse("restart a"), Ok(Some(Command::Restart("a"))));
    assert_eq!(parse("focus b"), Ok(Some(Command::Focus("b"))));
    for c in ["pools", "mem", "irq", "log", "dump"] {
        assert!(matches!(parse(c), Ok(Some(_))), "{c}");
    }
    assert!(Command::Stop("x").changes_state() && Command::Start("x").changes_state() && Command::Restart("x").changes_state());
    assert!(!Command::List.changes_state() && !Command::Focus("x").changes_state());
}

#[test]
fn bad_lines_get_a_hint() {
    assert_eq!(parse("reboot"), Err(ParseError::Unknown("reboot")));
    assert_eq!(parse("stop"), Err(ParseError::MissingName("stop")));
    assert_eq!(parse("list now"), Err(ParseError::Extra("now")));
    assert_eq!(alloc::format!("{}", ParseError::Unknown("reboot")), "bulkhead: unknown command \"reboot\"; type help for the list");
    assert_eq!(alloc::format!("{}", ParseError::MissingName("stop")), "bulkhead: stop needs a partition name: stop NAME (list shows them)");
}

#[test]
fn list_lines_carry_the_figures() {
    let vcpus = [VcpuRow { state: "running", cpu: Some(2), cpu_ms: 1234 }, VcpuRow { state: "waiting", cpu: None, cpu_ms: 5 }];
    let row = PartitionRow {
        id: 2,
        name: "linux",
        running: true,
        pool: "Pool-0",
        scheduler: "credit2",
        ram_bytes: 256 << 20,
        uptime_ms: Some(62_000),
        restarts: 1,
        last_crash: Some("data abort at 0x0"),
        held: None,
        backoff: None,
        heartbeat_ms: None,
        vcpus: &vcpus,
    };
    let mut line = String::new();
    write_partition(&mut line, &row).unwrap();
    assert_eq!(line, "bulkhead:   2 linux: running, 2 vcpus, pool Pool-0 (credit2), 256 MiB, up 1m02s, 1 restart, last crash: data abort at 0x0");
    let mut line = String::new();
    write_vcpu(&mut line, 0, &vcpus[0]).unwrap();
    assert_eq!(line, "bulkhead:     vcpu 0: running on cpu 2, cpu time 1.234s");
    let mut line = String::new();
    write_vcpu(&mut line, 1, &vcpus[1]).unwrap();
    assert_eq!(line, "bulkhead:     vcpu 1: waiting, cpu time 5ms");
    let stopped = PartitionRow { running: false, uptime_ms: None, restarts: 0, last_crash: None, held: Some("3 restarts in a row (restart-limit 3)"), ..row };
    let mut line = String::new();
    write_partition(&mut line, &stopped).unwrap();
    assert!(line.ends_with("stopped, 2 vcpus, pool Pool-0 (credit2), 256 MiB, 0 restarts, held stopped: 3 restarts in a row (restart-limit 3)"), "{line}");
    let backoff = BackoffRow { remaining_ms: 1500, delay_ms: 2000, restart: 3, limit: 3 };
    let waiting = PartitionRow { backoff: Some(backoff), heartbeat_ms: Some(500), restarts: 2, ..row };
    let mut line = String::new();
    write_partition(&mut line, &waiting).unwrap();
    assert_eq!(
        line,
        "bulkhead:   2 linux: waiting to restart, 2 vcpus, pool Pool-0 (credit2), 256 MiB, restart in 1.500s (back-off 2.000s before crash restart 3 of at most 3), heartbeat 500ms, 2 restarts, last crash: data abort at 0x0"
    );
}

#[test]
fn durations_read_naturally() {
    let text = |ms| {
        let mut s = String::new();
        write_duration(&mut s, ms).unwrap();
        s
    };
    assert_eq!(text(0), "0ms");
    assert_eq!(text(999), "999ms");
    assert_eq!(text(1_000), "1.000s");
    assert_eq!(text(59_999), "59.999s");
    assert_eq!(text(3_599_000), "59m59s");
    assert_eq!(text(3_723_000), "1h02m03s");
    assert!(text(u64::MAX).starts_with("5124095576030h"), "the longest uptime still prints: {}", text(u64::MAX));
}

#[test]
fn names_are_found_or_listed() {
    let names = ["rtos", "linux"];
    assert_eq!(find(names.iter().copied(), "linux"), Ok(1));
    assert_eq!(find(names.iter().copied(), "lin"), Err(NotFound));
    let mut line = String::new();
    write_not_found(&mut line, "lin", names.iter().copied()).unwrap();
    assert_eq!(line, "bulkhead: no partition \"lin\"; the partitions are rtos, linux");
}

#[test]
fn the_log_keeps_the_newest_whole_lines() {
    let mut log = LogRing::<32>::new();
    log.push(b"first line\r\n");
    log.push(b"second line\r\n");
    log.push(b"third one\r\n");
    let mut lines = Vec::new();
    log.lines(|l| lines.push(String::from_utf8(l.to_vec()).unwrap()));
    assert_eq!(lines, ["second line", "third one"], "the oldest line made room whole");
    let mut big = LogRing::<8>::new();
    big.push(b"0123456789abcdef\n");
    let mut lines = Vec::new();
    big.lines(|l| lines.push(String::from_utf8(l.to_vec()).unwrap()));
    assert_eq!(lines, ["9abcdef"], "a line longer than the ring keeps its end");
}
