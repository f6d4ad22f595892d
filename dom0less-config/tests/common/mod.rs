//! Shared helpers for the fixture tests: compiling `.dts` fixtures with `dtc`.
// Each test binary uses a subset of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The crate's `testdata/` directory.
pub fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// Compiles `testdata/<name>.dts` to a DTB with `dtc`.
///
/// Fails (never skips) when `dtc` is missing, naming the package that provides it.
pub fn compile(name: &str) -> Vec<u8> {
    let source = testdata().join(format!("{name}.dts"));
    let output = Command::new("dtc")
        .args(["-q", "-I", "dts", "-O", "dtb", "-o", "-"])
        .arg(&source)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run dtc ({e}): install the Debian package `device-tree-compiler` (`cargo xtask test` does)")
        });
    assert!(
        output.status.success(),
        "dtc failed on {}: {}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Compiles device tree source text with `dtc`.
pub fn compile_source(source: &str) -> Vec<u8> {
    // One file per call: tests run in parallel threads of one process.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "dom0less-config-{}-{call}-{}.dts",
        std::process::id(),
        source.len()
    ));
    std::fs::write(&path, source).expect("temp file");
    let output = Command::new("dtc")
        .args(["-q", "-I", "dts", "-O", "dtb", "-o", "-"])
        .arg(&path)
        .output();
    let _ = std::fs::remove_file(&path);
    let output = output.unwrap_or_else(|e| {
        panic!("cannot run dtc ({e}): install the Debian package `device-tree-compiler` (`cargo xtask test` does)")
    });
    assert!(
        output.status.success(),
        "dtc failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}
