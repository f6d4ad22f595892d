//! Fetches Debian arm64 packages into `target/cache/debian/` and unpacks them, without touching
//! the machine's apt configuration: apt runs with a private state and cache directory, reading
//! the system's source lists, with arm64 as its only architecture.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::shell::{self, ShellError};
use crate::workspace;

/// The metapackage that depends on the current arm64 kernel package.
pub const KERNEL_METAPACKAGE: &str = "linux-image-arm64";
/// A statically linked busybox for initramfs images.
pub const BUSYBOX: &str = "busybox-static";
/// Xen for arm64, the hypervisor `cargo xtask bench` compares with.
pub const XEN_HYPERVISOR: &str = "xen-hypervisor-4.17-arm64";
/// U-Boot for the Raspberry Pi boards, with the 64-bit build for the Pi 3 and 4.
pub const U_BOOT_RPI: &str = "u-boot-rpi";
/// The 64-bit Pi U-Boot in that package.
pub const U_BOOT_RPI_ARM64: &str = "usr/lib/u-boot/rpi_arm64/u-boot.bin";

/// Why a package could not be fetched or did not hold the expected file.
#[derive(Debug)]
pub enum DebianError {
    Shell(ShellError),
    Io {
        path: String,
        source: std::io::Error,
    },
    /// `apt-cache depends` named no dependency for a metapackage.
    NoDependency {
        metapackage: String,
    },
    /// `apt-get download` left no `.deb` for the package.
    NoDeb {
        package: String,
        dir: PathBuf,
    },
    /// The unpacked package lacks a file.
    NotInPackage {
        package: String,
        pattern: String,
    },
}

impl fmt::Display for DebianError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DebianError::Shell(e) => write!(f, "{e}"),
            DebianError::Io { path, source } => write!(f, "{path}: {source}"),
            DebianError::NoDependency { metapackage } => {
                write!(f, "apt names no dependency of `{metapackage}` for arm64")
            }
            DebianError::NoDeb { package, dir } => {
                write!(
                    f,
                    "downloading `{package}` left no {package}_*_arm64.deb in {}",
                    dir.display()
                )
            }
            DebianError::NotInPackage { package, pattern } => {
                write!(f, "package `{package}` has no {pattern}")
            }
        }
    }
}

impl std::error::Error for DebianError {}

impl From<ShellError> for DebianError {
    fn from(e: ShellError) -> Self {
        DebianError::Shell(e)
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DebianError {
    let path = path.display().to_string();
    move |source| DebianError::Io { path, source }
}

/// The first `Depends:` of `apt-cache depends` output (`  Depends: linux-image-6.1.0-37-arm64`).
pub fn first_dependency(depends_output: &str) -> Option<String> {
    depends_output.lines().find_map(|l| {
        let name = l
            .trim_start()
            .trim_start_matches('|')
            .strip_prefix("Depends:")?
            .trim();
        let name = name.trim_start_matches('<').trim_end_matches('>');
        (!name.is_empty()).then(|| name.split(':').next().unwrap_or(name).to_string())
    })
}

/// Whether a file name under `boot/` is Xen's arm64 Image (`xen-4.17-arm64`), not its EFI
/// build or its build configuration.
pub fn is_xen_image(name: &str) -> bool {
    name.starts_with("xen-") && name.ends_with("-arm64")
}

/// Whether a file name is a downloaded `<package>_<version>_arm64.deb`.
pub fn is_deb_of(package: &str, name: &str) -> bool {
    name.strip_prefix(package)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|rest| rest.ends_with("_arm64.deb"))
}

/// The `.deb` of `package` among file names (the cache keeps one per package).
pub fn pick_deb<'a>(package: &str, names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    names.filter(|n| is_deb_of(package, n)).max()
}

/// The package cache: one per workspace target directory.
pub struct Debian {
    root: PathBuf,
    updated: bool,
}

impl Default for Debian {
    fn default() -> Self {
        Self::new()
    }
}

impl Debian {
    /// The cache under `target/cache/debian/`.
    pub fn new() -> Self {
        Debian {
            root: workspace::cache_dir().join("debian"),
            updated: false,
        }
    }

    fn apt(&self, program: &str) -> Command {
        let state = self.root.join("apt/state");
        let mut command = Command::new(program);
        command
            .arg("-o")
            .arg(format!("Dir::State={}", state.display()))
            .arg("-o")
            .arg(format!(
                "Dir::State::status={}",
                state.join("status").display()
            ))
            .arg("-o")
            .arg(format!(
                "Dir::Cache={}",
                self.root.join("apt/cache").display()
            ))
            .args(["-o", "Dir::Etc::SourceList=/etc/apt/sources.list"])
            .args(["-o", "Dir::Etc::SourceParts=/etc/apt/sources.list.d"])
            .args([
                "-o",
                "APT::Architecture=arm64",
                "-o",
                "APT::Architectures=arm64",
            ])
            .args([
                "-o",
                "Acquire::Languages=none",
                "-o",
                "Debug::NoLocking=true",
            ])
            // Root would hand downloads to the `_apt` user, who cannot write into our cache.
            .args(["-o", "APT::Sandbox::User=root"]);
        command
    }

    /// Refreshes the private package lists, once per run.
    fn update(&mut self) -> Result<(), DebianError> {
        if self.updated {
            return Ok(());
        }
        let state = self.root.join("apt/state");
        for dir in [
            state.join("lists/partial"),
            self.root.join("apt/cache/archives/partial"),
        ] {
            fs::create_dir_all(&dir).map_err(io(&dir))?;
        }
        let status = state.join("status");
        if !status.exists() {
            fs::write(&status, "").map_err(io(&status))?;
        }
        println!(
            "xtask: refreshing the arm64 package lists in {}",
            self.root.display()
        );
        shell::run(self.apt("apt-get").arg("update").arg("-q"))?;
        self.updated = true;
        Ok(())
    }

    /// The package a metapackage currently depends on (`linux-image-arm64` ->
    /// `linux-image-6.1.0-37-arm64`). The answer is remembered in the cache.
    pub fn resolve(&mut self, metapackage: &str) -> Result<String, DebianError> {
        let memo = self.root.join("resolved").join(metapackage);
        if let Ok(name) = fs::read_to_string(&memo) {
            if !name.trim().is_empty() {
                return Ok(name.trim().to_string());
            }
        }
        self.update()?;
        let text = shell::output(self.apt("apt-cache").args([
            "depends",
            "--no-recommends",
            "--no-suggests",
            metapackage,
        ]))?;
        let name = first_dependency(&text).ok_or_else(|| DebianError::NoDependency {
            metapackage: metapackage.into(),
        })?;
        fs::create_dir_all(self.root.join("resolved")).map_err(io(&self.root))?;
        fs::write(&memo, &name).map_err(io(&memo))?;
        Ok(name)
    }

    /// Downloads and unpacks a package, returning the directory it was unpacked into.
    pub fn unpack(&mut self, package: &str) -> Result<PathBuf, DebianError> {
        let dir = self.root.join("unpacked").join(package);
        let complete = dir.join(".complete");
        if complete.exists() {
            return Ok(dir);
        }
        self.update()?;
        let debs = self.root.join("debs");
        fs::create_dir_all(&debs).map_err(io(&debs))?;
        // Drop older downloads of the package, so the one left is the one fetched now.
        for entry in fs::read_dir(&debs).map_err(io(&debs))?.flatten() {
            if entry
                .file_name()
                .to_str()
                .is_some_and(|n| is_deb_of(package, n))
            {
                fs::remove_file(entry.path()).map_err(io(&entry.path()))?;
            }
        }
        shell::run(
            self.apt("apt-get")
                .args(["download", "-q", package])
                .current_dir(&debs),
        )?;
        let names: Vec<String> = fs::read_dir(&debs)
            .map_err(io(&debs))?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        let deb = pick_deb(package, names.iter().map(String::as_str)).ok_or_else(|| {
            DebianError::NoDeb {
                package: package.into(),
                dir: debs.clone(),
            }
        })?;
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        shell::run(
            Command::new("dpkg-deb")
                .arg("-x")
                .arg(debs.join(deb))
                .arg(&dir),
        )?;
        fs::write(&complete, deb).map_err(io(&complete))?;
        Ok(dir)
    }

    /// The current arm64 kernel package, unpacked.
    pub fn kernel_package(&mut self) -> Result<(String, PathBuf), DebianError> {
        let package = self.resolve(KERNEL_METAPACKAGE)?;
        let dir = self.unpack(&package)?;
        Ok((package, dir))
    }

    /// A device tree shipped with the kernel (`broadcom/bcm2711-rpi-4-b.dtb`).
    pub fn kernel_dtb(&mut self, relative: &str) -> Result<PathBuf, DebianError> {
        let (package, dir) = self.kernel_package()?;
        let lib = dir.join("usr/lib");
        let found = fs::read_dir(&lib)
            .map_err(io(&lib))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("linux-image-"))
            })
            .map(|p| p.join(relative))
            .find(|p| p.is_file());
        found.ok_or(DebianError::NotInPackage {
            package,
            pattern: format!("usr/lib/linux-image-*/{relative}"),
        })
    }

    /// The arm64 kernel `Image` (`boot/vmlinuz-*`, uncompressed on arm64).
    pub fn kernel_image(&mut self) -> Result<PathBuf, DebianError> {
        let (package, dir) = self.kernel_package()?;
        let boot = dir.join("boot");
        let found = fs::read_dir(&boot)
            .map_err(io(&boot))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("vmlinuz-"))
            });
        found.ok_or(DebianError::NotInPackage {
            package,
            pattern: "boot/vmlinuz-*".into(),
        })
    }

    /// The static busybox binary.
    pub fn busybox(&mut self) -> Result<PathBuf, DebianError> {
        let path = self.unpack(BUSYBOX)?.join("bin/busybox");
        if path.is_file() {
            Ok(path)
        } else {
            Err(DebianError::NotInPackage {
                package: BUSYBOX.into(),
                pattern: "bin/busybox".into(),
            })
        }
    }

    /// Debian's 64-bit U-Boot for the Raspberry Pi 3 and 4 ([`U_BOOT_RPI_ARM64`] of
    /// [`U_BOOT_RPI`]).
    pub fn u_boot_rpi(&mut self) -> Result<PathBuf, DebianError> {
        let path = self.unpack(U_BOOT_RPI)?.join(U_BOOT_RPI_ARM64);
        if path.is_file() {
            Ok(path)
        } else {
            Err(DebianError::NotInPackage { package: U_BOOT_RPI.into(), pattern: U_BOOT_RPI_ARM64.into() })
        }
    }

    /// Xen's arm64 Image (`boot/xen-*-arm64` of [`XEN_HYPERVISOR`]).
    pub fn xen_image(&mut self) -> Result<PathBuf, DebianError> {
        let boot = self.unpack(XEN_HYPERVISOR)?.join("boot");
        let found = fs::read_dir(&boot)
            .map_err(io(&boot))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(is_xen_image));
        found.ok_or(DebianError::NotInPackage {
            package: XEN_HYPERVISOR.into(),
            pattern: "boot/xen-*-arm64".into(),
        })
    }

    /// The firmware device tree a board's QEMU model boots with, if it needs one.
    pub fn board_dtb(&mut self, board: &boards::Board) -> Result<Option<PathBuf>, DebianError> {
        match board.packaging {
            boards::Packaging::RaspberryPiFirmware { dtb_name, .. } => {
                self.kernel_dtb(&format!("broadcom/{dtb_name}")).map(Some)
            }
            boards::Packaging::LinuxImage => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metapackage_dependency_is_read() {
        let text = "linux-image-arm64\n  Depends: linux-image-6.1.0-37-arm64\n  Depends: other\n";
        assert_eq!(
            first_dependency(text).as_deref(),
            Some("linux-image-6.1.0-37-arm64")
        );
        assert_eq!(
            first_dependency(" |Depends: <virtual:arm64>\n").as_deref(),
            Some("virtual")
        );
        assert_eq!(first_dependency("linux-image-arm64\n"), None);
    }

    #[test]
    fn xen_image_is_told_from_its_efi_build_and_config() {
        assert!(is_xen_image("xen-4.17-arm64"));
        assert!(!is_xen_image("xen-4.17-arm64.efi"));
        assert!(!is_xen_image("xen-4.17-arm64.config"));
        assert!(!is_xen_image("vmlinuz-6.1.0-37-arm64"));
    }

    #[test]
    fn the_downloaded_deb_is_picked_by_package_name() {
        let names = [
            "linux-image-6.1.0-37-arm64_6.1.140-1_arm64.deb",
            "linux-image-6.1.0-37-arm64-dbg_6.1.140-1_arm64.deb",
            "busybox-static_1%3a1.35.0-4+b4_arm64.deb",
            "notes.txt",
        ];
        assert_eq!(
            pick_deb("linux-image-6.1.0-37-arm64", names.into_iter()),
            Some("linux-image-6.1.0-37-arm64_6.1.140-1_arm64.deb")
        );
        assert_eq!(
            pick_deb("busybox-static", names.into_iter()),
            Some("busybox-static_1%3a1.35.0-4+b4_arm64.deb")
        );
        assert_eq!(pick_deb("busybox", names.into_iter()), None);
        assert!(!is_deb_of(
            "busybox-static",
            "busybox-static_1%3a1.35.0-4+b4_amd64.deb"
        ));
    }
}
