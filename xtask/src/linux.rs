//! The Linux guest's files under `target/images/linux/`: Debian's arm64 kernel `Image` and an
//! initramfs built from busybox-static and `tests/linux/init`.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::cpio::CpioError;
use crate::debian::{Debian, DebianError};
use crate::initramfs::{self, INIT_SCRIPT};
use crate::workspace;

/// The kernel's file name in the Linux guest directory.
pub const KERNEL: &str = "Image";
/// The initramfs's file name in the Linux guest directory.
pub const INITRAMFS: &str = "initramfs.cpio";
/// The virtio-blk disk image of the passthrough scenarios (`initramfs::disk`).
pub const DISK: &str = "disk.img";
/// The Linux bench's initramfs (`initramfs::bench_archive`).
pub const BENCH_INITRAMFS: &str = "bench-initramfs.cpio";
/// The Rust target the initramfs's programs are built for: static arm64 Linux, linked by
/// rust-lld (no C cross toolchain needed).
pub const PROGRAM_TARGET: &str = "aarch64-unknown-linux-musl";
/// The files a partition config may name from the Linux guest directory.
pub const FILES: &[&str] = &[KERNEL, INITRAMFS, BENCH_INITRAMFS];

/// Why the Linux guest's files could not be made.
#[derive(Debug)]
pub enum LinuxError {
    Debian(DebianError),
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    Cpio(CpioError),
    /// A program of `tests/linux/` did not build.
    Program { name: String, why: String },
}

impl fmt::Display for LinuxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinuxError::Debian(e) => write!(f, "fetching the Linux guest's packages: {e}"),
            LinuxError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            LinuxError::Cpio(e) => write!(f, "building the initramfs: {e}"),
            LinuxError::Program { name, why } => write!(f, "building tests/linux/{name}.rs for {PROGRAM_TARGET}: {why}"),
        }
    }
}

impl std::error::Error for LinuxError {}

/// The Linux guest's files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinuxGuest {
    /// The directory holding [`KERNEL`] and [`INITRAMFS`].
    pub dir: PathBuf,
    /// The kernel release (`uname -r`), e.g. `6.1.0-37-arm64`.
    pub release: String,
}

impl LinuxGuest {
    /// The kernel Image.
    pub fn kernel(&self) -> PathBuf {
        self.dir.join(KERNEL)
    }

    /// The initramfs.
    pub fn initramfs(&self) -> PathBuf {
        self.dir.join(INITRAMFS)
    }

    /// The Linux bench's initramfs.
    pub fn bench_initramfs(&self) -> PathBuf {
        self.dir.join(BENCH_INITRAMFS)
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LinuxError + '_ {
    move |source| LinuxError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The kernel release of a `linux-image-RELEASE` package name.
pub fn release_of(package: &str) -> &str {
    package.strip_prefix("linux-image-").unwrap_or(package)
}

/// Writes `bytes` to `path` unless it already holds exactly them (keeps the file's time, so
/// nothing downstream rebuilds for nothing).
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), LinuxError> {
    if fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    fs::write(path, bytes).map_err(io(path))
}

/// Builds `tests/linux/NAME.rs` for [`PROGRAM_TARGET`] into `dir/NAME` and returns its bytes.
fn program(dir: &Path, name: &str) -> Result<Vec<u8>, LinuxError> {
    let failed = |why: String| LinuxError::Program { name: name.to_string(), why };
    crate::prereq::ensure_rust_target(PROGRAM_TARGET).map_err(|e| failed(e.to_string()))?;
    let source = workspace::root().join("tests/linux").join(format!("{name}.rs"));
    let output = dir.join(name);
    let mut rustc = std::process::Command::new("rustc");
    rustc
        .current_dir(workspace::root())
        .args(["--edition", "2021", "--target", PROGRAM_TARGET, "-O"])
        .args(["-C", "linker=rust-lld", "-C", "linker-flavor=ld.lld", "-C", "target-feature=+crt-static", "-C", "strip=symbols"])
        .arg(&source)
        .arg("-o")
        .arg(&output);
    crate::shell::run(&mut rustc).map_err(|e| failed(e.to_string()))?;
    fs::read(&output).map_err(io(&output))
}

/// Fetches the kernel and busybox (cached), copies the kernel to `target/images/linux/Image`
/// and writes `target/images/linux/initramfs.cpio`.
pub fn guest(debian: &mut Debian) -> Result<LinuxGuest, LinuxError> {
    let (package, kernel_dir) = debian.kernel_package().map_err(LinuxError::Debian)?;
    let kernel = debian.kernel_image().map_err(LinuxError::Debian)?;
    let busybox = debian.busybox().map_err(LinuxError::Debian)?;
    let dir = workspace::linux_images();
    fs::create_dir_all(&dir).map_err(io(&dir))?;
    let guest = LinuxGuest {
        dir,
        release: release_of(&package).to_string(),
    };

    let image = guest.kernel();
    write_if_changed(&image, &fs::read(&kernel).map_err(io(&kernel))?)?;
    let init = workspace::root().join(INIT_SCRIPT);
    let busybox = fs::read(&busybox).map_err(io(&busybox))?;
    let init = fs::read(&init).map_err(io(&init))?;
    let modules_dir = kernel_dir.join("lib/modules").join(&guest.release);
    let mut modules = Vec::new();
    for relative in initramfs::MODULES {
        let path = modules_dir.join(relative);
        let name = relative.rsplit('/').next().unwrap_or(relative);
        modules.push((name, fs::read(&path).map_err(io(&path))?));
    }
    let mut programs = Vec::new();
    for name in initramfs::PROGRAMS {
        programs.push((*name, program(&guest.dir, name)?));
    }
    let archive = initramfs::archive(&busybox, &init, &modules, &programs).map_err(LinuxError::Cpio)?;
    let initramfs = guest.initramfs();
    write_if_changed(&initramfs, &archive)?;
    let bench = initramfs::bench_archive(&program(&guest.dir, initramfs::BENCH_INIT)?).map_err(LinuxError::Cpio)?;
    write_if_changed(&guest.bench_initramfs(), &bench)?;
    let disk = guest.dir.join(DISK);
    write_if_changed(&disk, &initramfs::disk().map_err(LinuxError::Cpio)?)?;
    println!(
        "xtask: Linux guest {}: {} and {} ({} bytes)",
        guest.release,
        image.display(),
        initramfs.display(),
        archive.len()
    );
    Ok(guest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_release_is_the_package_name_without_its_prefix() {
        assert_eq!(release_of("linux-image-6.1.0-37-arm64"), "6.1.0-37-arm64");
        assert_eq!(release_of("odd"), "odd");
    }
}
