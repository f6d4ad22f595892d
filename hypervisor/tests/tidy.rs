//! Checks that keep the hypervisor's layout honest: the arch layer imports nothing from the
//! rest of the hypervisor, assembly and system registers stay in it, and every `unsafe` block
//! says why it is sound.

use std::fs;
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable source directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Lines of code, without comment lines.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter(|(_, l)| !l.trim_start().starts_with("//")).map(|(i, l)| (i + 1, l))
}

#[test]
fn arch_imports_nothing_from_the_rest_of_the_hypervisor() {
    let mut files = Vec::new();
    sources(&src().join("arch"), &mut files);
    let mut offenders = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("readable source");
        for (n, line) in code_lines(&text) {
            let mut rest = line;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                if !rest.starts_with("arch") {
                    offenders.push(format!("{}:{n}: {}", file.display(), line.trim()));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "arch/ must not import the rest of the hypervisor:\n{}", offenders.join("\n"));
}

#[test]
fn assembly_and_system_registers_stay_in_arch() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let arch = src().join("arch");
    let mut offenders = Vec::new();
    for file in files.iter().filter(|f| !f.starts_with(&arch)) {
        let text = fs::read_to_string(file).expect("readable source");
        for (n, line) in code_lines(&text) {
            if ["asm!(", "global_asm!(", "aarch64_cpu::", "tock_registers::"].iter().any(|p| line.contains(p)) {
                offenders.push(format!("{}:{n}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "only arch/ may use assembly and system registers:\n{}", offenders.join("\n"));
}

#[test]
fn every_unsafe_block_says_why_it_is_sound() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let mut offenders = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("readable source");
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if !code.contains("unsafe {") || code.contains("unsafe fn") {
                continue;
            }
            // The SAFETY comment is on one of the few lines above (it may span several).
            let explained = lines[i.saturating_sub(8)..i].iter().any(|l| l.contains("SAFETY:"));
            if !explained {
                offenders.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "unsafe blocks without a // SAFETY: comment:\n{}", offenders.join("\n"));
}

/// The modules a guest drives with its registers, memory and traps (the trap decision, fault
/// injection, PSCI, the vPL011, the vGIC, the console and its buffers, the exit handlers, the
/// grant tables), where a
/// guest-controlled value must never reach an overflowing add, a wrapping subtraction or a
/// division by zero: each denies `clippy::arithmetic_side_effects` (so `cargo clippy` fails on
/// plain `+`, `-`, `*` there), and each `allow` of it says why on the line above.
#[test]
fn guest_reachable_arithmetic_is_checked() {
    const GUARDED: [&str; 11] = [
        "portable/partition/mod.rs",
        "portable/evtchn/runtime.rs",
        "vm/evtchn.rs",
        "portable/gnttab/mod.rs",
        "portable/trap/mod.rs",
        "portable/psci/mod.rs",
        "portable/vpl011/mod.rs",
        "portable/vgic/mod.rs",
        "portable/console/mod.rs",
        "vm/exits.rs",
        "vm/output.rs",
    ];
    let mut offenders = Vec::new();
    for file in GUARDED {
        let text = fs::read_to_string(src().join(file)).expect("readable source");
        if !text.contains("#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]") {
            offenders.push(format!("{file}: no #![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]"));
        }
    }
    let mut files = Vec::new();
    sources(&src(), &mut files);
    for file in &files {
        let text = fs::read_to_string(file).expect("readable source");
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.contains("allow(clippy::arithmetic_side_effects)") && !lines[..i].last().is_some_and(|l| l.trim_start().starts_with("//")) {
                offenders.push(format!("{}:{}: an allow of arithmetic_side_effects without a reason on the line above", file.display(), i + 1));
            }
        }
    }
    assert!(offenders.is_empty(), "guest-reachable arithmetic must stay checked:\n{}", offenders.join("\n"));
}
