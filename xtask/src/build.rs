//! `cargo xtask build`: the hypervisor for the bare-metal target, then its flat `Image`; the
//! test guests, each as a flat `Image` too.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
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
    Image {
        elf: PathBuf,
        error: ImageError,
    },
    /// The guest sources could not be listed.
    GuestList {
        dir: PathBuf,
        error: std::io::Error,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Prereq(e) => write!(f, "{e}"),
            BuildError::Cargo(e) => write!(f, "building the hypervisor: {e}"),
            BuildError::Image { elf, error } => {
                write!(f, "making an Image of {}: {error}", elf.display())
            }
            BuildError::GuestList { dir, error } => {
                write!(f, "listing the test guests in {}: {error}", dir.display())
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
    build_variant(profile, Logs::Text).map(|(image, _)| image)
}

/// How the hypervisor logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logs {
    /// Text lines on the console (the default build).
    Text,
    /// defmt frames (its `defmt` feature), built in `target/defmt/` so that both builds stay.
    Defmt,
}

/// Builds the hypervisor ELF with the logs asked for and converts it; returns the Image and
/// the ELF (whose symbols decode defmt frames).
pub fn build_variant(profile: Profile, logs: Logs) -> Result<(PathBuf, PathBuf), BuildError> {
    prereq::ensure_target().map_err(BuildError::Prereq)?;
    let mut command = cargo();
    let features = match logs {
        Logs::Text => "image",
        Logs::Defmt => "image,defmt",
    };
    command.args([
        "build",
        "-p",
        "hypervisor",
        "--bin",
        "hypervisor",
        "--features",
        features,
        "--target",
        TARGET,
    ]);
    if profile == Profile::Release {
        command.arg("--release");
    }
    if logs == Logs::Defmt {
        command.arg("--target-dir").arg(workspace::defmt_target_dir());
    }
    shell::run(&mut command).map_err(BuildError::Cargo)?;
    let (elf, image) = match logs {
        Logs::Text => (workspace::hypervisor_elf(profile), workspace::hypervisor_image(profile)),
        Logs::Defmt => (
            workspace::defmt_target_dir().join(TARGET).join(profile.dir_name()).join("hypervisor"),
            workspace::hypervisor_image(profile).with_file_name("Image-defmt"),
        ),
    };
    let size = elf_image::convert(&elf, &image).map_err(|error| BuildError::Image {
        elf: elf.clone(),
        error,
    })?;
    println!("xtask: wrote {} ({size} bytes)", image.display());
    Ok((image, elf))
}

/// The test guests' names: one binary per `tests/guests/src/bin/NAME.rs` or
/// `tests/guests/src/bin/NAME/main.rs` (Cargo's two layouts), sorted.
pub fn guest_names() -> Result<Vec<String>, BuildError> {
    let dir = workspace::root().join("tests/guests/src/bin");
    let list_error = |error| BuildError::GuestList {
        dir: dir.clone(),
        error,
    };
    let mut names = Vec::new();
    for entry in fs::read_dir(&dir).map_err(list_error)? {
        let path = entry.map_err(list_error)?.path();
        let binary = if path.is_dir() { path.join("main.rs").is_file() } else { path.extension().is_some_and(|e| e == "rs") };
        if let (true, Some(stem)) = (binary, path.file_stem()) {
            names.push(stem.to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Builds the test guests and converts each ELF to `target/images/<profile>/guests/NAME.bin`;
/// returns that directory.
pub fn guests(profile: Profile) -> Result<PathBuf, BuildError> {
    prereq::ensure_target().map_err(BuildError::Prereq)?;
    let mut command = cargo();
    command.args([
        "build",
        "-p",
        "test-guests",
        "--features",
        "guest",
        "--bins",
        "--target",
        TARGET,
    ]);
    if profile == Profile::Release {
        command.arg("--release");
    }
    shell::run(&mut command).map_err(BuildError::Cargo)?;
    let dir = workspace::guest_images(profile);
    for name in guest_names()? {
        let elf = workspace::target_dir()
            .join(TARGET)
            .join(profile.dir_name())
            .join(&name);
        convert_guest(&elf, &dir.join(format!("{name}.bin")))?;
    }
    println!("xtask: wrote the test guests to {}", dir.display());
    Ok(dir)
}

fn convert_guest(elf: &Path, image: &Path) -> Result<(), BuildError> {
    elf_image::convert(elf, image)
        .map(drop)
        .map_err(|error| BuildError::Image {
            elf: elf.to_path_buf(),
            error,
        })
}
