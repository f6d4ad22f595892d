//! `cargo xtask build`: the hypervisor for the bare-metal target, then its flat `Image`.

use std::fmt;
use std::path::PathBuf;
use std::process::Command;

use crate::elf_image::{self, ImageError};
use crate::prereq::{self, PrereqError};
use crate::shell::{self, ShellError};
use crate::workspace::{self, Profile, TARGET};

/// Why the image was not built.
#[derive(Debug)]
pub enum BuildError {
    Prereq(PrereqError),
    Cargo(ShellError),
    Image { elf: PathBuf, error: ImageError },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Prereq(e) => write!(f, "{e}"),
            BuildError::Cargo(e) => write!(f, "building the hypervisor: {e}"),
            BuildError::Image { elf, error } => {
                write!(f, "making an Image of {}: {error}", elf.display())
            }
        }
    }
}

impl std::error::Error for BuildError {}

/// The cargo that runs us, so the pinned toolchain is used throughout.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace::root());
    command
}

/// Builds the hypervisor ELF and converts it; returns the Image path.
pub fn build(profile: Profile) -> Result<PathBuf, BuildError> {
    prereq::ensure_target().map_err(BuildError::Prereq)?;
    let mut command = cargo();
    command.args([
        "build",
        "-p",
        "hypervisor",
        "--bin",
        "hypervisor",
        "--features",
        "image",
        "--target",
        TARGET,
    ]);
    if profile == Profile::Release {
        command.arg("--release");
    }
    shell::run(&mut command).map_err(BuildError::Cargo)?;
    let elf = workspace::hypervisor_elf(profile);
    let image = workspace::hypervisor_image(profile);
    let size = elf_image::convert(&elf, &image).map_err(|error| BuildError::Image {
        elf: elf.clone(),
        error,
    })?;
    println!("xtask: wrote {} ({size} bytes)", image.display());
    Ok(image)
}
