//! Links the bare-metal image: our linker script, position independent, no dynamic loader.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("aarch64") && target.contains("-none") {
        println!("cargo:rustc-link-arg-bins=-T{dir}/src/arch/aarch64/image.ld");
        println!("cargo:rustc-link-arg-bins=-pie");
        println!("cargo:rustc-link-arg-bins=--no-dynamic-linker");
        println!("cargo:rustc-link-arg-bins=-znotext");
        println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
        // defmt's interned strings: a section of their own, never loaded.
        if std::env::var_os("CARGO_FEATURE_DEFMT").is_some() {
            println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
        }
    }
    println!("cargo:rerun-if-changed=src/arch/aarch64/image.ld");
    println!("cargo:rerun-if-changed=build.rs");
}
