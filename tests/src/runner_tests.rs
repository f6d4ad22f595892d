//! Tests for the scenario runner, with a shell script standing in for QEMU.

use super::*;
use crate::scenario::Expect;
use std::os::unix::fs::PermissionsExt;

/// Writes an executable script that ignores its QEMU arguments and runs `body`.
fn fake_qemu(name: &str, body: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qemu-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn scenario(deadline_ms: u64) -> Scenario {
    Scenario {
        gic: Some(3),
        expect: vec![
            Expect::line("banner"),
            Expect::AnyOrder(vec!["cpu 0 online".into(), "cpu 1 online".into()]),
            Expect::line("powering off"),
        ],
        deadline: Duration::from_millis(deadline_ms),
        ..Scenario::new("fake", "virt")
    }
}

fn config(qemu: PathBuf) -> RunConfig {
    let mut config = RunConfig::new("Image".into(), "/".into());
    config.qemu = qemu;
    config
}

#[test]
fn a_clean_run_passes_and_keeps_the_console() {
    let qemu = fake_qemu(
        "clean",
        "printf 'banner\\r\\ncpu 1 online\\ncpu 0 online\\npowering off\\nlast words'\nexit 0",
    );
    let outcome = run_scenario(&scenario(10_000), &config(qemu));
    assert!(outcome.passed(), "{:?}", outcome.failure);
    assert_eq!(
        outcome.console,
        [
            "banner",
            "cpu 1 online",
            "cpu 0 online",
            "powering off",
            "last words"
        ]
    );
    assert!(
        outcome
            .command
            .contains("-machine virt,virtualization=on,gic-version=3"),
        "{}",
        outcome.command
    );
}

#[test]
fn a_hang_fails_at_the_deadline_with_the_log() {
    let qemu = fake_qemu("hang", "echo banner\necho 'cpu 0 online'\nexec sleep 30");
    let start = Instant::now();
    let outcome = run_scenario(&scenario(1_000), &config(qemu));
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "the hung process was not stopped"
    );
    match &outcome.failure {
        Some(Failure::DeadlineWaitingForLines { waiting_for, .. }) => {
            assert_eq!(waiting_for, &["cpu 1 online"])
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(outcome.console, ["banner", "cpu 0 online"]);
}

#[test]
fn a_hang_after_the_last_line_fails_waiting_for_exit() {
    let qemu = fake_qemu(
        "no-exit",
        "printf 'banner\\ncpu 0 online\\ncpu 1 online\\npowering off\\n'\nexec sleep 30",
    );
    let outcome = run_scenario(&scenario(1_000), &config(qemu));
    assert!(
        matches!(
            outcome.failure,
            Some(Failure::DeadlineWaitingForExit { .. })
        ),
        "{:?}",
        outcome.failure
    );
}

#[test]
fn early_and_wrong_exits_fail() {
    let qemu = fake_qemu("early", "echo banner\necho 'qemu: fatal' >&2\nexit 1");
    let outcome = run_scenario(&scenario(10_000), &config(qemu));
    assert!(
        matches!(outcome.failure, Some(Failure::ExitedEarly { .. })),
        "{:?}",
        outcome.failure
    );
    assert_eq!(outcome.stderr, ["qemu: fatal"]);

    let qemu = fake_qemu(
        "wrong",
        "printf 'banner\\ncpu 0 online\\ncpu 1 online\\npowering off\\n'\nexit 3",
    );
    let outcome = run_scenario(&scenario(10_000), &config(qemu));
    match outcome.failure {
        Some(Failure::WrongExit {
            expected: ExpectedExit::Code(0),
            status,
        }) => assert!(status.contains('3'), "{status}"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_missing_program_is_a_spawn_failure() {
    let outcome = run_scenario(&scenario(1_000), &config("/nonexistent/qemu".into()));
    assert!(
        matches!(outcome.failure, Some(Failure::Spawn { .. })),
        "{:?}",
        outcome.failure
    );
}

#[test]
fn a_forbidden_line_stops_the_run_at_once() {
    let qemu = fake_qemu(
        "forbidden",
        "echo banner\necho 'guest: FAIL read 0x0 returned 0x1'\nexec sleep 30",
    );
    let start = Instant::now();
    let outcome = run_scenario(&scenario(20_000), &config(qemu));
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "the run went on after the forbidden line"
    );
    match &outcome.failure {
        Some(Failure::ForbiddenLine { line, text }) => {
            assert_eq!(text, "FAIL");
            assert_eq!(line, "guest: FAIL read 0x0 returned 0x1");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_forbidden_line_after_the_last_expected_one_fails_too() {
    let qemu = fake_qemu(
        "late-fatal",
        "printf 'banner\\ncpu 0 online\\ncpu 1 online\\npowering off\\nFATAL late\\n'\nexit 0",
    );
    let outcome = run_scenario(&scenario(10_000), &config(qemu));
    assert!(
        matches!(&outcome.failure, Some(Failure::ForbiddenLine { text, .. }) if text == "FATAL"),
        "{:?}",
        outcome.failure
    );
}

#[test]
fn allowed_texts_are_not_forbidden() {
    let qemu = fake_qemu(
        "allowed",
        "printf 'banner\\nFATAL: on purpose\\ncpu 0 online\\ncpu 1 online\\npowering off\\n'\nexit 0",
    );
    let mut allowing = scenario(10_000);
    allowing.forbidden = vec!["FAIL".into()];
    let outcome = run_scenario(&allowing, &config(qemu));
    assert!(outcome.passed(), "{:?}", outcome.failure);
}

#[test]
fn a_partition_scenario_boots_its_prepared_tree_and_modules() {
    let mut partitions = scenario(1_000);
    partitions.partitions = Some(crate::PartitionConfig {
        file: "tests/scenarios/fake.dts".into(),
        valid: true,
    });
    let mut config = RunConfig::new("Image".into(), "/ws".into());
    let missing = scenario_args(&partitions, &config).unwrap_err();
    assert!(missing.contains("tests/scenarios/fake.dts"), "{missing}");

    config
        .prepared
        .push(("fake".into(), Err("dtc failed".into())));
    let failed = scenario_args(&partitions, &config).unwrap_err();
    assert!(failed.ends_with("fake.dts: dtc failed"), "{failed}");

    config.prepared[0].1 = Ok(crate::Prepared {
        dtb: "target/scenarios/fake/merged.dtb".into(),
        qemu_args: vec![
            "-device".into(),
            "loader,file=m.bin,addr=0x48200000,force-raw=on".into(),
        ],
    });
    let args = scenario_args(&partitions, &config).unwrap().join(" ");
    assert!(
        args.contains("-dtb /ws/target/scenarios/fake/merged.dtb"),
        "{args}"
    );
    assert!(
        args.ends_with("-device loader,file=m.bin,addr=0x48200000,force-raw=on"),
        "{args}"
    );
}
