//! Tests for the expected-lines matcher and the deadline watch.

use super::*;
use std::sync::mpsc;
use std::time::Duration;

fn cpus() -> Vec<Expect> {
    vec![
        Expect::line("banner"),
        Expect::AnyOrder((0..4).map(|n| format!("cpu {n} online")).collect()),
        Expect::line("all 4 cpus online"),
    ]
}

#[test]
fn ordered_lines_match_as_substrings_and_skip_noise() {
    let mut m = Matcher::new(vec![Expect::line("one"), Expect::line("two")]);
    assert!(!m.feed("noise"));
    assert!(!m.feed("two, too early"));
    assert!(m.feed("[0.1] line one here"));
    assert_eq!(m.waiting_for(), ["two"]);
    assert!(m.feed("two"));
    assert!(m.done());
    assert!(!m.feed("two"));
}

#[test]
fn unordered_group_accepts_any_order_but_each_line_once() {
    let mut m = Matcher::new(cpus());
    m.feed("banner");
    for n in [2, 0, 3] {
        assert!(m.feed(&format!("bulkhead: cpu {n} online")));
    }
    assert!(
        !m.feed("bulkhead: cpu 0 online"),
        "a line of the group counts once"
    );
    assert!(
        !m.feed("all 4 cpus online"),
        "the next step waits for the whole group"
    );
    assert_eq!(m.waiting_for(), ["cpu 1 online"]);
    assert!(m.feed("bulkhead: cpu 1 online"));
    assert_eq!(m.waiting_for(), ["all 4 cpus online"]);
    assert!(m.feed("bulkhead: all 4 cpus online"));
    assert!(m.done());
}

#[test]
fn one_line_can_complete_several_steps_in_order() {
    let steps = || {
        vec![
            Expect::line("ESR_EL2"),
            Expect::line("EC 0x25"),
            Expect::line("FAR_EL2"),
        ]
    };
    let mut m = Matcher::new(steps());
    assert!(m.feed("  ESR_EL2  0x96000005: EC 0x25 (data abort)"));
    assert_eq!(m.waiting_for(), ["FAR_EL2"]);

    let mut m = Matcher::new(steps());
    assert!(m.feed("EC 0x25 comes first, then ESR_EL2"));
    assert_eq!(
        m.waiting_for(),
        ["EC 0x25"],
        "texts before the previous match do not count"
    );
}

#[test]
fn a_group_line_counts_once_even_if_it_holds_two_members() {
    let mut m = Matcher::new(vec![
        Expect::AnyOrder(vec!["cpu 0".into(), "cpu 1".into()]),
        Expect::line("end"),
    ]);
    assert!(m.feed("cpu 0 and cpu 1"));
    assert_eq!(m.waiting_for(), ["cpu 1"]);
    assert!(m.feed("cpu 1 online; end"));
    assert!(m.done());
}

#[test]
fn empty_groups_are_skipped() {
    let m = Matcher::new(vec![Expect::AnyOrder(vec![]), Expect::line("x")]);
    assert_eq!(m.waiting_for(), ["x"]);
    assert!(Matcher::new(vec![Expect::AnyOrder(vec![])]).done());
}

#[test]
fn watch_sees_all_lines_and_logs_them() {
    let (tx, rx) = mpsc::channel();
    for line in [
        "banner",
        "cpu 1 online",
        "cpu 0 online",
        "cpu 3 online",
        "cpu 2 online",
        "all 4 cpus online",
        "tail",
    ] {
        tx.send(line.to_string()).unwrap();
    }
    let mut m = Matcher::new(cpus());
    let mut log = Vec::new();
    let end = watch(
        &rx,
        &mut m,
        Instant::now() + Duration::from_secs(5),
        &mut log,
        &mut |_| {},
    );
    assert_eq!(end, WatchEnd::AllSeen);
    assert_eq!(log.len(), 6, "stops reading once everything was seen");
}

#[test]
fn watch_stops_at_the_deadline_when_a_line_never_comes() {
    let (tx, rx) = mpsc::channel();
    tx.send("banner".to_string()).unwrap();
    let mut m = Matcher::new(cpus());
    let mut log = Vec::new();
    let start = Instant::now();
    let end = watch(&rx, &mut m, start + Duration::from_millis(200), &mut log, &mut |_| {});
    assert_eq!(end, WatchEnd::Deadline);
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(log, ["banner"]);
    assert_eq!(m.waiting_for().len(), 4);
    drop(tx);
}

#[test]
fn watch_reports_a_closed_console() {
    let (tx, rx) = mpsc::channel();
    tx.send("banner".to_string()).unwrap();
    drop(tx);
    let mut m = Matcher::new(cpus());
    let end = watch(
        &rx,
        &mut m,
        Instant::now() + Duration::from_secs(5),
        &mut Vec::new(),
        &mut |_| {},
    );
    assert_eq!(end, WatchEnd::Closed);
}

fn partitions() -> Vec<Expect> {
    let sequence = |name: &str| {
        vec![
            format!("partition \"{name}\" started"),
            format!("({name}) done"),
            format!("partition \"{name}\" stopped"),
        ]
    };
    vec![
        Expect::Interleaved(vec![sequence("a"), sequence("b")]),
        Expect::line("all partitions stopped"),
    ]
}

#[test]
fn interleaved_sequences_mix_but_keep_their_own_order() {
    let mut m = Matcher::new(partitions());
    assert!(m.feed("partition \"b\" started"));
    assert!(
        !m.feed("partition \"b\" stopped"),
        "b's lines come in b's order"
    );
    assert!(m.feed("partition \"a\" started"));
    assert!(m.feed("(b) done"));
    assert_eq!(m.waiting_for(), ["(a) done", "partition \"b\" stopped"]);
    assert!(m.feed("partition \"b\" stopped"));
    assert!(!m.feed("all partitions stopped"), "a is not done yet");
    assert!(m.feed("(a) done"));
    assert!(m.feed("partition \"a\" stopped"));
    assert_eq!(m.waiting_for(), ["all partitions stopped"]);
    assert!(m.feed("all partitions stopped"));
    assert!(m.done());
}

#[test]
fn empty_interleaved_sequences_are_skipped() {
    let mut m = Matcher::new(vec![
        Expect::Interleaved(vec![Vec::new(), Vec::new()]),
        Expect::line("end"),
    ]);
    assert_eq!(m.waiting_for(), ["end"]);
    assert!(m.feed("end"));
    assert!(m.done());
}

#[test]
fn forbidden_texts_are_found_anywhere_in_a_line() {
    let m = Matcher::new(cpus()).with_forbidden(vec!["FAIL".into(), "FATAL".into()]);
    assert_eq!(m.forbidden_in("(hello) hello: FAIL bad dtb"), Some("FAIL"));
    assert_eq!(m.forbidden_in("bulkhead: FATAL: oops"), Some("FATAL"));
    assert_eq!(m.forbidden_in("a read failed, fatally"), None);
    assert_eq!(Matcher::new(cpus()).forbidden_in("FAIL"), None);
}

#[test]
fn watch_stops_at_a_forbidden_line() {
    let (tx, rx) = mpsc::channel();
    for line in ["banner", "cpu 0 online", "FATAL: oops", "cpu 1 online"] {
        tx.send(line.to_string()).unwrap();
    }
    let mut m = Matcher::new(cpus()).with_forbidden(vec!["FATAL".into()]);
    let mut log = Vec::new();
    let end = watch(
        &rx,
        &mut m,
        Instant::now() + Duration::from_secs(5),
        &mut log,
        &mut |_| {},
    );
    assert_eq!(
        end,
        WatchEnd::Forbidden {
            line: "FATAL: oops".into(),
            text: "FATAL".into()
        }
    );
    assert_eq!(log, ["banner", "cpu 0 online", "FATAL: oops"]);
}

#[test]
fn input_is_typed_when_its_turn_comes() {
    let (tx, rx) = mpsc::channel();
    let mut m = Matcher::new(vec![
        Expect::line("prompt"),
        Expect::Type("list\r".to_string()),
        Expect::Type("help\r".to_string()),
        Expect::line("answer"),
    ]);
    tx.send("prompt".to_string()).unwrap();
    tx.send("answer".to_string()).unwrap();
    let mut typed = Vec::new();
    let end = watch(
        &rx,
        &mut m,
        Instant::now() + Duration::from_secs(5),
        &mut Vec::new(),
        &mut |text| typed.push(text.to_string()),
    );
    assert_eq!(end, WatchEnd::AllSeen);
    assert_eq!(typed, ["list\r", "help\r"], "typed in order, after the prompt");
    assert!(m.pending_input().is_none());
}
