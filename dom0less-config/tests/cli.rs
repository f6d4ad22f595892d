//! The `dom0less-config` command line: exit codes, messages and JSON output.
#![cfg(feature = "cli")]

use std::path::PathBuf;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dom0less-config"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dom0less-config-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

#[test]
fn check_accepts_a_valid_tree_with_a_summary() {
    let out = run(&["check", "testdata/valid-two-linux.dts"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("OK: 2 partitions"), "{stdout}");
    assert!(
        stdout.contains("`sve` is valid Xen but not supported yet"),
        "{stdout}"
    );
}

#[test]
fn check_reports_every_error_with_node_values_and_fix() {
    let out = run(&["check", "testdata/reject-static-overlap.dts"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("/chosen/domU2: range [0x62000000, 0x66000000)"),
        "{stderr}"
    );
    assert!(stderr.contains("move one of them"), "{stderr}");
}

#[test]
fn check_json_names_the_error_kind() {
    let out = run(&[
        "check",
        "testdata/reject-duplicate-port.dts",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert_eq!(report["valid"], false);
    assert_eq!(report["errors"][0]["kind"], "DuplicatePort");
}

#[test]
fn garbage_input_fails_cleanly() {
    let path = scratch("garbage.dtb");
    std::fs::write(&path, [0xd0, 0x0d, 0xfe, 0xed, 0, 0, 0, 1, 2, 3]).expect("write");
    let out = run(&["check", &path.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("truncated"));
    let out = run(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).to_lowercase().contains("usage"));
}

#[test]
fn help_works_and_a_fragment_without_a_host_tree_says_what_to_do() {
    for args in [&["--help"][..], &["check", "--help"], &["help", "compile"]] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("Usage:"), "{args:?}");
    }
    let fragment = scratch("fragment.dts");
    std::fs::write(&fragment, "/ { chosen { }; };\n").expect("write");
    let out = run(&["check", &fragment.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(2));
    let message = text(&out.stderr);
    assert!(message.contains("fragment") && message.contains("--host"), "{message}");
}

#[test]
fn compile_then_check_show_and_decompile() {
    let dtb = scratch("example.dtb");
    let dtb = dtb.to_string_lossy();
    let out = run(&[
        "compile",
        "testdata/example.toml",
        "--host",
        "testdata/host.dts",
        "-o",
        &dtb,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(&["check", &dtb]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(&["show", &dtb]);
    let table = text(&out.stdout);
    assert!(table.contains("vcpu1      cpu 3 (MPIDR 0x3)"), "{table}");
    assert!(table.contains("channel    port 1 <-> linux:1"), "{table}");
    assert!(
        table.contains("weight     512   cap 150% of a CPU"),
        "{table}"
    );
    let out = run(&["show", &dtb, "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert_eq!(report["partitions"][0]["scheduler"], "null");
    assert_eq!(report["partitions"][0]["weight"], 256);
    assert_eq!(report["partitions"][1]["weight"], 512);
    assert_eq!(report["partitions"][1]["cap"], 150);
    let out = run(&["decompile", &dtb]);
    let doc: dom0less_config::authoring::Document =
        toml::from_str(&text(&out.stdout)).expect("TOML output");
    assert_eq!(doc.partitions.len(), 2);
    let out = run(&[
        "compile",
        "testdata/example.toml",
        "--host",
        "testdata/host.dts",
        "-o",
        "/dev/stdout",
        "--dts",
    ]);
    assert!(
        text(&out.stdout).starts_with("/dts-v1/;"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn toml_without_host_is_explained() {
    let out = run(&["check", "testdata/example.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--host"));
}

#[test]
fn a_fragment_without_a_host_tree_says_how_to_give_one() {
    let out = run(&["check", "testdata/xen-docs/command-lines.dts"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("fragment of a board's tree"), "{stderr}");
    assert!(stderr.contains("--board virt") && stderr.contains("--host HOST"), "{stderr}");
}

#[test]
fn a_fragment_checks_on_a_built_in_board_tree() {
    let out = run(&["check", "testdata/xen-docs/static-mem-in-ram.dts", "--board", "virt"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(&["check", "testdata/xen-docs/static-mem-in-ram.dts", "--board", "pc"]);
    assert_eq!(out.status.code(), Some(2), "an unknown board is a usage error");
    let both = run(&["check", "testdata/xen-docs/static-mem-in-ram.dts", "--board", "virt", "--host", "x.dtb"]);
    assert_eq!(both.status.code(), Some(2), "--board and --host exclude each other");
}

#[test]
fn compile_writes_an_overlay_of_the_partitions() {
    let out_file = scratch("partitions.dtbo");
    let out = run(&[
        "compile",
        "testdata/xen-docs/static-evtchn-domus.dts",
        "--board",
        "virt",
        "--overlay",
        "-o",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let overlay = dom0less_config::devicetree::Tree::parse(&std::fs::read(&out_file).unwrap()).unwrap();
    assert!(overlay.find("/fragment@0/__overlay__/domU1/evtchn@3").is_some());
    assert!(overlay.find("/__local_fixups__/fragment@0/__overlay__/domU2/evtchn@5").is_some());
}
