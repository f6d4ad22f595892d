//! Where things are: the workspace root, cargo's target directory, the download cache, images.

use std::path::{Path, PathBuf};

/// The bare-metal target the hypervisor and the test guests build for.
pub const TARGET: &str = "aarch64-unknown-none-softfloat";

/// A cargo build profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Debug,
    Release,
}

impl Profile {
    /// The profile's directory name under `target/<triple>/`.
    pub fn dir_name(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }
}

/// The workspace root: the parent of this crate's manifest directory.
pub fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Cargo's target directory, honouring `CARGO_TARGET_DIR` like cargo does.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root().join(dir),
        _ => root().join("target"),
    }
}

/// Where the hypervisor built with its `defmt` feature goes (apart from the text build).
pub fn defmt_target_dir() -> PathBuf {
    target_dir().join("defmt")
}

/// Downloads kept between runs (Debian packages, extracted device trees and kernels).
pub fn cache_dir() -> PathBuf {
    target_dir().join("cache")
}

/// The hypervisor ELF cargo writes for a profile.
pub fn hypervisor_elf(profile: Profile) -> PathBuf {
    target_dir()
        .join(TARGET)
        .join(profile.dir_name())
        .join("hypervisor")
}

/// The flat arm64 `Image` made from the ELF.
pub fn hypervisor_image(profile: Profile) -> PathBuf {
    target_dir()
        .join("images")
        .join(profile.dir_name())
        .join("Image")
}

/// The directory of the test guests' flat Images (`NAME.bin`).
pub fn guest_images(profile: Profile) -> PathBuf {
    target_dir()
        .join("images")
        .join(profile.dir_name())
        .join("guests")
}

/// The Linux guest's kernel `Image` and `initramfs.cpio`, shared by every profile.
pub fn linux_images() -> PathBuf {
    target_dir().join("images").join("linux")
}

/// Where each partition scenario's device trees and modules are built (`NAME/`).
pub fn scenario_builds() -> PathBuf {
    target_dir().join("scenarios")
}
