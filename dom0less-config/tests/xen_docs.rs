//! Every example of Xen's dom0less documentation (booting.txt and the dom0less guide) that
//! fits a static dom0-less board, written as a `/chosen` fragment under `testdata/xen-docs/`
//! and checked on a built-in board tree: valid, or refused with messages naming what is
//! missing. Each file's comment says which example it is and why it passes or fails. The
//! valid ones are also booted, with test guests as their kernels, by the QEMU scenarios
//! `virt-gicv3-xen-doc-*` and `raspi4b-xen-doc-dom0less-guide` (`tests/scenarios/`).
#![cfg(feature = "cli")]

use std::process::Command;

/// What `check` must say about a fixture on a board.
enum Outcome {
    /// Valid, with these warnings (texts the output contains).
    Valid(&'static [&'static str]),
    /// Refused, each text in its errors.
    Refused(&'static [&'static str]),
}

const CASES: &[(&str, &str, Outcome)] = &[
    ("dom0-modules", "virt", Outcome::Refused(&["/chosen/module@48000000: a boot module directly under /chosen is dom0's"])),
    (
        "command-lines",
        "virt",
        Outcome::Valid(&["`xen,xen-bootargs` is valid Xen but not supported yet", "`xen,dom0-bootargs`"]),
    ),
    (
        "two-domains-affinity",
        "virt",
        Outcome::Refused(&[
            "/chosen/domU1/vcpu1: `hard-affinity` names CPU 4",
            "names CPU 7",
        ]),
    ),
    ("two-domains-affinity-4cpus", "virt", Outcome::Valid(&["OK: 2 partitions"])),
    ("dom0less-guide", "rpi4", Outcome::Valid(&["OK: 1 partitions"])),
    (
        "dom0less-guide",
        "virt",
        Outcome::Refused(&["/chosen/domU1/module@2000000: `reg` range [0x2000000, 0x2ffffff) is not inside host RAM"]),
    ),
    (
        "static-mem",
        "virt",
        Outcome::Refused(&["/chosen/domU1: `xen,static-mem` range [0x30000000, 0x50000000) is not inside host RAM"]),
    ),
    (
        "static-mem",
        "rpi4",
        Outcome::Refused(&["/chosen/domU1: `xen,static-mem` range [0x30000000, 0x50000000) is not inside host RAM"]),
    ),
    ("static-mem-in-ram", "virt", Outcome::Valid(&["OK: 1 partitions"])),
    (
        "static-evtchn",
        "virt",
        Outcome::Refused(&["/chosen/evtchn@1: static event channels for dom0 are not supported (there is no dom0)"]),
    ),
    ("static-evtchn-domus", "virt", Outcome::Valid(&["2 event channels"])),
    ("static-heap", "virt", Outcome::Valid(&["`xen,static-heap` is valid Xen but not supported yet"])),
    (
        "static-shm",
        "virt",
        Outcome::Refused(&[
            "shared memory \"my-shared-mem-2\" has no host address",
            "shared memory \"my-shared-mem-0\": `xen,shared-mem` range [0x10000000, 0x20000000) is not inside host RAM",
        ]),
    ),
    ("static-shm-host", "virt", Outcome::Valid(&["1 shared memory regions"])),
];

#[test]
fn xen_documentation_examples_pass_or_are_refused_by_name() {
    for (name, board, outcome) in CASES {
        let file = format!("testdata/xen-docs/{name}.dts");
        let out = Command::new(env!("CARGO_BIN_EXE_dom0less-config"))
            .args(["check", &file, "--board", board])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("the binary runs");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let (code, texts) = match outcome {
            Outcome::Valid(texts) => (0, texts),
            Outcome::Refused(texts) => (1, texts),
        };
        assert_eq!(out.status.code(), Some(code), "{name} on {board}:\n{text}");
        for expected in *texts {
            assert!(text.contains(expected), "{name} on {board}: no `{expected}` in\n{text}");
        }
    }
}

#[test]
fn every_fixture_is_checked() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/xen-docs");
    for entry in std::fs::read_dir(dir).expect("testdata/xen-docs") {
        let file = entry.expect("entry").file_name().to_string_lossy().into_owned();
        let name = file.trim_end_matches(".dts");
        assert!(CASES.iter().any(|(n, _, _)| *n == name), "{file} is in no case");
    }
}
