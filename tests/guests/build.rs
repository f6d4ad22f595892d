//! Links the guest binaries at their fixed load address with the package's linker script.

use std::env;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let script = manifest_dir.join("link.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rerun-if-changed=build.rs");
    // Host builds (unit tests) have no binaries to link; the script is only for bare metal.
    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "none" {
        println!("cargo:rustc-link-arg-bins=-T{}", script.display());
        // The workspace builds bare-metal code as position independent; a guest is linked
        // at one fixed address instead, so absolute addresses are resolved here.
        println!("cargo:rustc-link-arg-bins=--no-pie");
    }
}
