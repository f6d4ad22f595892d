//! Installs what the tasks need, or explains why it cannot: the aarch64 target (rustup), QEMU
//! from Debian backports, `dtc`. apt runs only as root or through `sudo -n`.

use std::fmt;
use std::fs;
use std::path::Path;
use std::process::Command;

use crate::apt_sources::{self, Backports, SourcesError};
use crate::qemu::{self, Floor, QemuError};
use crate::shell::{self, ShellError};
use crate::workspace::{self, TARGET};

/// Why a prerequisite is missing and could not be installed.
#[derive(Debug)]
pub enum PrereqError {
    /// A command failed.
    Shell(ShellError),
    /// A file could not be read or written.
    Io {
        path: String,
        source: std::io::Error,
    },
    /// `rust-toolchain.toml` has no `channel`.
    NoChannel { path: String },
    /// apt is needed but we are neither root nor allowed to use `sudo` without a password.
    NotRoot { packages: Vec<String> },
    /// The release codename is unknown, so the backports suite cannot be named.
    NoCodename,
    /// The apt sources give no mirror for backports.
    Sources(SourcesError),
    /// QEMU is still unusable after installing it.
    Qemu(QemuError),
    /// A program is still missing after installing its package.
    StillMissing { program: String, package: String },
}

impl fmt::Display for PrereqError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrereqError::Shell(e) => write!(f, "{e}"),
            PrereqError::Io { path, source } => write!(f, "{path}: {source}"),
            PrereqError::NoChannel { path } => write!(f, "{path} has no `channel = \"...\"` line"),
            PrereqError::NotRoot { packages } => write!(
                f,
                "the Debian packages {} are needed, but installing them takes root: run this as root, give this \
                 user password-less sudo, or install them yourself (QEMU 9.0 or newer comes from the backports \
                 suite on Debian 12)",
                packages.join(", ")
            ),
            PrereqError::NoCodename => write!(f, "/etc/os-release has no VERSION_CODENAME: is this Debian?"),
            PrereqError::Sources(e) => write!(f, "{e}"),
            PrereqError::Qemu(e) => write!(f, "{e}"),
            PrereqError::StillMissing { program, package } => {
                write!(f, "`{program}` is still missing after installing the `{package}` package")
            }
        }
    }
}

impl std::error::Error for PrereqError {}

impl From<ShellError> for PrereqError {
    fn from(e: ShellError) -> Self {
        PrereqError::Shell(e)
    }
}

fn read(path: &str) -> Result<String, PrereqError> {
    fs::read_to_string(path).map_err(|source| PrereqError::Io {
        path: path.to_string(),
        source,
    })
}

/// The toolchain channel pinned in `rust-toolchain.toml` (`channel = "1.95.0"`).
pub fn pinned_channel(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (key, value) = l.split_once('=')?;
        (key.trim() == "channel").then(|| value.trim().trim_matches('"').to_string())
    })
}

/// Adds the bare-metal target to the pinned toolchain when its sysroot lacks it.
pub fn ensure_target() -> Result<(), PrereqError> {
    ensure_rust_target(TARGET)
}

/// Adds Rust target `target` to the pinned toolchain unless it is there.
pub fn ensure_rust_target(target: &str) -> Result<(), PrereqError> {
    let root = workspace::root();
    let sysroot = shell::output(
        Command::new("rustc")
            .args(["--print", "sysroot"])
            .current_dir(&root),
    )?;
    if Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(target)
        .is_dir()
    {
        return Ok(());
    }
    let toolchain_file = root.join("rust-toolchain.toml");
    let path = toolchain_file.display().to_string();
    let channel = pinned_channel(&read(&path)?).ok_or(PrereqError::NoChannel { path })?;
    println!("xtask: the {target} target is missing from toolchain {channel}; adding it");
    shell::run(Command::new("rustup").args(["target", "add", target, "--toolchain", &channel]))?;
    Ok(())
}

/// How apt commands get root.
enum Privilege {
    Root,
    Sudo,
}

/// The effective user id from `/proc/self/status` (`Uid: real effective saved fs`).
pub fn effective_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn privilege(packages: &[&str]) -> Result<Privilege, PrereqError> {
    if fs::read_to_string("/proc/self/status")
        .ok()
        .as_deref()
        .and_then(effective_uid)
        == Some(0)
    {
        return Ok(Privilege::Root);
    }
    let sudo_works = Command::new("sudo")
        .args(["-n", "true"])
        .stdin(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if sudo_works {
        Ok(Privilege::Sudo)
    } else {
        Err(PrereqError::NotRoot {
            packages: packages.iter().map(|p| p.to_string()).collect(),
        })
    }
}

fn apt(privilege: &Privilege, args: &[&str]) -> Result<(), PrereqError> {
    let mut command = match privilege {
        Privilege::Root => Command::new("apt-get"),
        Privilege::Sudo => {
            let mut c = Command::new("sudo");
            c.args(["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
            c
        }
    };
    command
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(args)
        .stdin(std::process::Stdio::null());
    shell::run(&mut command)?;
    Ok(())
}

/// Writes a backports source derived from the existing mirror, unless one is configured.
/// Returns the backports suite name.
fn ensure_backports(privilege: &Privilege) -> Result<String, PrereqError> {
    let codename = apt_sources::codename_from_os_release(&read("/etc/os-release")?)
        .ok_or(PrereqError::NoCodename)?;
    let mut entries = Vec::new();
    if let Ok(text) = fs::read_to_string("/etc/apt/sources.list") {
        entries.extend(apt_sources::parse_one_line(&text));
    }
    let mut files: Vec<_> = fs::read_dir("/etc/apt/sources.list.d")
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for file in files {
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        match file.extension().and_then(|e| e.to_str()) {
            Some("sources") => entries.extend(apt_sources::parse_deb822(&text)),
            Some("list") => entries.extend(apt_sources::parse_one_line(&text)),
            _ => {}
        }
    }
    let suite = format!("{codename}-backports");
    match apt_sources::backports_source(&entries, &codename).map_err(PrereqError::Sources)? {
        Backports::AlreadyConfigured => println!("xtask: apt already has {suite}"),
        Backports::Add { stanza } => {
            let path = format!("/etc/apt/sources.list.d/{suite}.sources");
            println!("xtask: adding {suite} from the existing mirror as {path}:\n{stanza}");
            write_as_root(privilege, &path, &stanza)?;
        }
    }
    Ok(suite)
}

fn write_as_root(privilege: &Privilege, path: &str, text: &str) -> Result<(), PrereqError> {
    match privilege {
        Privilege::Root => fs::write(path, text).map_err(|source| PrereqError::Io {
            path: path.to_string(),
            source,
        }),
        Privilege::Sudo => {
            let staged = workspace::cache_dir().join("apt-source.tmp");
            fs::create_dir_all(workspace::cache_dir())
                .and_then(|()| fs::write(&staged, text))
                .map_err(|source| PrereqError::Io {
                    path: staged.display().to_string(),
                    source,
                })?;
            shell::run(
                Command::new("sudo")
                    .arg("-n")
                    .arg("install")
                    .args(["-m", "644"])
                    .arg(&staged)
                    .arg(path),
            )?;
            Ok(())
        }
    }
}

/// The oldest QEMU every board with a QEMU model runs on (the newest of their machines'
/// `min_qemu`, and that machine), and the machines.
pub fn qemu_needs() -> (Floor, Vec<&'static str>) {
    let machines: Vec<_> = boards::ALL.iter().filter_map(|b| b.qemu).collect();
    let floor = machines.iter().max_by_key(|q| q.min_qemu).map_or(
        Floor {
            version: (0, 0),
            machine: "",
        },
        |q| Floor {
            version: q.min_qemu,
            machine: qemu::machine_name(q.machine),
        },
    );
    (floor, machines.iter().map(|q| q.machine).collect())
}

/// Makes sure `qemu-system-aarch64` runs, is new enough and has every board's machine;
/// installs `qemu-system-arm` from backports otherwise.
pub fn ensure_qemu() -> Result<qemu::Version, PrereqError> {
    let (floor, machines) = qemu_needs();
    match qemu::check(floor, &machines) {
        Ok(version) => return Ok(version),
        Err(why) => println!("xtask: {why}; installing QEMU from backports"),
    }
    let packages = ["qemu-system-arm"];
    let privilege = privilege(&packages)?;
    let suite = ensure_backports(&privilege)?;
    apt(&privilege, &["update"])?;
    apt(
        &privilege,
        &[
            "install",
            "-y",
            "--no-install-recommends",
            "-t",
            &suite,
            packages[0],
        ],
    )?;
    let version = qemu::check(floor, &machines).map_err(PrereqError::Qemu)?;
    println!("xtask: {} {version} is ready", qemu::QEMU);
    Ok(version)
}

/// Makes sure the device tree compiler runs; installs `device-tree-compiler` otherwise.
pub fn ensure_dtc() -> Result<(), PrereqError> {
    ensure_program("dtc", "device-tree-compiler")
}

/// Makes sure U-Boot's `mkimage` runs (for `image --u-boot`); installs `u-boot-tools`
/// otherwise.
pub fn ensure_mkimage() -> Result<(), PrereqError> {
    ensure_program("mkimage", "u-boot-tools")
}

/// Makes sure mtools runs (`mformat`, `mcopy`: SD-card images of a folder without root);
/// installs `mtools` otherwise.
pub fn ensure_mtools() -> Result<(), PrereqError> {
    ensure_program("mformat", "mtools")
}

/// Makes sure `program` runs; installs the Debian `package` that has it otherwise.
pub fn ensure_program(program: &str, package: &str) -> Result<(), PrereqError> {
    if shell::has_program(program) {
        return Ok(());
    }
    println!("xtask: `{program}` is missing; installing the `{package}` package");
    let privilege = privilege(&[package])?;
    apt(&privilege, &["update"])?;
    apt(
        &privilege,
        &["install", "-y", "--no-install-recommends", package],
    )?;
    if shell::has_program(program) {
        Ok(())
    } else {
        Err(PrereqError::StillMissing {
            program: program.to_string(),
            package: package.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_is_read_from_the_toolchain_file() {
        let text = "[toolchain]\nchannel = \"1.95.0\"\ncomponents = [\"rustfmt\"]\n";
        assert_eq!(pinned_channel(text).as_deref(), Some("1.95.0"));
        assert_eq!(pinned_channel("[toolchain]\n"), None);
    }

    #[test]
    fn effective_uid_is_the_second_number() {
        assert_eq!(
            effective_uid("Name:\tcargo\nUid:\t1000\t0\t0\t0\nGid:\t0\n"),
            Some(0)
        );
        assert_eq!(effective_uid("Name:\tcargo\n"), None);
    }

    #[test]
    fn qemu_needs_cover_the_raspberry_pi() {
        let (floor, machines) = qemu_needs();
        assert_eq!(
            floor,
            Floor {
                version: (9, 0),
                machine: "raspi4b"
            }
        );
        assert!(machines.contains(&"raspi4b"));
    }

    #[test]
    fn a_qemu_too_old_is_named_with_the_floor_and_the_fix() {
        let (floor, _) = qemu_needs();
        let found = qemu::Version {
            major: 8,
            minor: 2,
            patch: 2,
        };
        let text = QemuError::TooOld { found, floor }.to_string();
        assert!(
            text.contains("8.2.2 is too old: 9.0 or newer is needed"),
            "{text}"
        );
        assert!(text.contains("`raspi4b` machine"), "{text}");
        assert!(
            text.contains("apt-get install -t bookworm-backports qemu-system-arm"),
            "{text}"
        );
    }
}
