//! Finds `qemu-system-aarch64` and checks that it is new enough and has the machines we boot.

use std::fmt;
use std::process::Command;

use crate::shell::{self, ShellError};

/// The QEMU binary for every board.
pub const QEMU: &str = "qemu-system-aarch64";

/// The oldest QEMU the boards need, and the machine that needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Floor {
    /// `(major, minor)`.
    pub version: (u32, u32),
    /// The QEMU machine that first came in that version.
    pub machine: &'static str,
}

/// A `major.minor.patch` version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What is wrong with the installed QEMU.
#[derive(Debug)]
pub enum QemuError {
    /// It does not run (not installed).
    Missing { source: ShellError },
    /// `--version` printed something without a version in it.
    UnreadableVersion { output: String },
    /// It is older than a board needs.
    TooOld { found: Version, floor: Floor },
    /// `-machine help` does not list a machine we boot.
    NoMachine { machine: String, version: Version },
}

impl fmt::Display for QemuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QemuError::Missing { source } => write!(f, "{QEMU} is not usable: {source}"),
            QemuError::UnreadableVersion { output } => {
                write!(
                    f,
                    "cannot read a version from `{QEMU} --version`: {output:?}"
                )
            }
            QemuError::TooOld { found, floor } => {
                let (major, minor) = floor.version;
                write!(
                    f,
                    "{QEMU} {found} is too old: {major}.{minor} or newer is needed (its `{}` machine \
                     first came in {major}.{minor}); install a newer QEMU, on Debian 12 the \
                     `qemu-system-arm` package of the backports suite (`apt-get install -t \
                     bookworm-backports qemu-system-arm`, which xtask runs itself as root or with \
                     password-less sudo)",
                    floor.machine
                )
            }
            QemuError::NoMachine { machine, version } => {
                write!(f, "{QEMU} {version} has no machine `{machine}`")
            }
        }
    }
}

impl std::error::Error for QemuError {}

/// Reads the version from `qemu-system-aarch64 --version` output
/// (`QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-1~bpo12+1)`).
pub fn parse_version(text: &str) -> Option<Version> {
    let rest = text.split("version").nth(1)?;
    let word = rest.split_whitespace().next()?;
    let mut numbers = word
        .split('.')
        .map(|n| n.trim_matches(|c: char| !c.is_ascii_digit()).parse::<u32>());
    let major = numbers.next()?.ok()?;
    let minor = numbers.next()?.ok()?;
    let patch = numbers.next().and_then(Result::ok).unwrap_or(0);
    Some(Version {
        major,
        minor,
        patch,
    })
}

/// Whether `-machine help` output lists `machine` (the first word of a line).
pub fn lists_machine(help: &str, machine: &str) -> bool {
    help.lines()
        .any(|l| l.split_whitespace().next() == Some(machine))
}

/// The `-machine` name without its options (`virt,virtualization=on` -> `virt`).
pub fn machine_name(machine: &str) -> &str {
    machine.split(',').next().unwrap_or(machine)
}

/// Checks the installed QEMU against the oldest version and the machines needed.
pub fn check(floor: Floor, machines: &[&str]) -> Result<Version, QemuError> {
    let text = shell::output(Command::new(QEMU).arg("--version"))
        .map_err(|source| QemuError::Missing { source })?;
    let version = parse_version(&text).ok_or_else(|| QemuError::UnreadableVersion {
        output: text.clone(),
    })?;
    if (version.major, version.minor) < floor.version {
        return Err(QemuError::TooOld {
            found: version,
            floor,
        });
    }
    let help = shell::output(Command::new(QEMU).args(["-machine", "help"]))
        .map_err(|source| QemuError::Missing { source })?;
    for machine in machines {
        let name = machine_name(machine);
        if !lists_machine(&help, name) {
            return Err(QemuError::NoMachine {
                machine: name.to_string(),
                version,
            });
        }
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_parsed() {
        let v = parse_version(
            "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-1~bpo12+1)\nCopyright (c) 2003-2025",
        )
        .unwrap();
        assert_eq!(
            v,
            Version {
                major: 10,
                minor: 0,
                patch: 2
            }
        );
        assert_eq!(
            parse_version("QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7+deb12u13)")
                .map(|v| v.major),
            Some(7)
        );
        assert_eq!(
            parse_version("QEMU emulator version 9.1"),
            Some(Version {
                major: 9,
                minor: 1,
                patch: 0
            })
        );
        assert_eq!(parse_version("no numbers here"), None);
        assert!(
            Version {
                major: 7,
                minor: 2,
                patch: 15
            } < Version {
                major: 9,
                minor: 0,
                patch: 0
            }
        );
    }

    #[test]
    fn machines_are_found_by_first_word() {
        let help = "Supported machines are:\nraspi3b              Raspberry Pi 3B (revision 1.2)\n\
                    raspi4b              Raspberry Pi 4B (revision 1.5)\nvirt                 QEMU 10.0 ARM Virtual Machine (alias of virt-10.0)\n";
        assert!(lists_machine(help, "raspi4b"));
        assert!(lists_machine(help, machine_name("virt,virtualization=on")));
        assert!(!lists_machine(help, "raspi4"));
        assert!(!lists_machine(help, "Raspberry"));
    }
}
