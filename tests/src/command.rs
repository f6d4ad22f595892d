//! The QEMU command line for a board: one place for `cargo xtask run` and the test runner.

use std::fmt;
use std::path::Path;

use boards::{Board, GicVersion};

/// The QEMU binary for every board.
pub const QEMU: &str = "qemu-system-aarch64";

/// QEMU's escape key on an interactive console (`-echr 0x1d`): CTRL-] instead of the default
/// CTRL-a, which the hypervisor's console multiplexer needs (CTRL-a three times switches the
/// input focus). CTRL-] x quits QEMU.
pub const ESCAPE_KEY: &str = "CTRL-]";

/// Where the guest console goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleMode {
    /// `-nographic -echr 0x1d`: serial and monitor multiplexed on this terminal, with
    /// [`ESCAPE_KEY`] as QEMU's escape key.
    Interactive,
    /// `-display none -serial stdio -monitor none`: the serial port is QEMU's stdout.
    Captured,
}

/// What QEMU options were asked for that the board cannot take.
#[derive(Debug, PartialEq, Eq)]
pub enum CommandError {
    /// The board has no QEMU model.
    NoQemuModel { board: &'static str },
    /// A GIC version was asked for on a machine with a fixed GIC.
    GicNotSelectable { board: &'static str },
    /// The board has no GIC of that version.
    NoSuchGic { board: &'static str, version: u8 },
    /// The machine needs `-dtb` and none was given.
    DtbRequired { board: &'static str },
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::NoQemuModel { board } => write!(f, "board `{board}` has no QEMU model"),
            CommandError::GicNotSelectable { board } => {
                write!(
                    f,
                    "board `{board}` has a fixed GIC: QEMU cannot be given a GIC version for it"
                )
            }
            CommandError::NoSuchGic { board, version } => {
                write!(f, "board `{board}` has no GICv{version}")
            }
            CommandError::DtbRequired { board } => {
                write!(
                    f,
                    "QEMU's model of board `{board}` needs a device tree (-dtb)"
                )
            }
        }
    }
}

impl std::error::Error for CommandError {}

/// What to boot.
#[derive(Clone, Copy, Debug)]
pub struct Boot<'a> {
    pub board: &'static Board,
    pub gic: Option<u8>,
    /// The arm64 `Image`.
    pub kernel: &'a Path,
    pub dtb: Option<&'a Path>,
    /// `-append` text.
    pub bootargs: Option<&'a str>,
    /// More arguments, last.
    pub extra: &'a [String],
}

/// The arguments after `qemu-system-aarch64`.
pub fn qemu_args(boot: &Boot<'_>, console: ConsoleMode) -> Result<Vec<String>, CommandError> {
    let board = boot.board;
    let machine = board
        .qemu
        .ok_or(CommandError::NoQemuModel { board: board.name })?;
    let mut machine_arg = machine.machine.to_string();
    if let Some(version) = boot.gic {
        if !machine.selectable_gic {
            return Err(CommandError::GicNotSelectable { board: board.name });
        }
        let wanted = match version {
            2 => Some(GicVersion::V2),
            3 => Some(GicVersion::V3),
            _ => None,
        };
        if wanted.and_then(|v| board.gic_layout(v)).is_none() {
            return Err(CommandError::NoSuchGic {
                board: board.name,
                version,
            });
        }
        machine_arg.push_str(&format!(",gic-version={version}"));
    }
    let mut args: Vec<String> = ["-machine", &machine_arg, "-cpu", machine.cpu]
        .map(String::from)
        .to_vec();
    args.extend([
        "-smp".to_string(),
        machine.cpus.to_string(),
        "-m".to_string(),
        machine.memory.to_string(),
    ]);
    args.extend(["-kernel".to_string(), boot.kernel.display().to_string()]);
    match boot.dtb {
        Some(dtb) => args.extend(["-dtb".to_string(), dtb.display().to_string()]),
        None if machine.needs_dtb => return Err(CommandError::DtbRequired { board: board.name }),
        None => {}
    }
    if let Some(bootargs) = boot.bootargs {
        args.extend(["-append".to_string(), bootargs.to_string()]);
    }
    // No default network card: the hypervisor has no use for one, and QEMU's virt machine
    // would otherwise need the iPXE option ROM, which a `--no-install-recommends` QEMU lacks.
    args.extend(["-nic".to_string(), "none".to_string()]);
    if machine.no_reboot {
        args.push("-no-reboot".to_string());
    }
    match console {
        ConsoleMode::Interactive => args.extend(["-nographic", "-echr", "0x1d"].map(String::from)),
        ConsoleMode::Captured => args
            .extend(["-display", "none", "-serial", "stdio", "-monitor", "none"].map(String::from)),
    }
    args.extend(boot.extra.iter().cloned());
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot(board: &'static Board, gic: Option<u8>, dtb: Option<&'static Path>) -> Boot<'static> {
        Boot {
            board,
            gic,
            kernel: Path::new("Image"),
            dtb,
            bootargs: None,
            extra: &[],
        }
    }

    #[test]
    fn virt_with_gicv3_is_captured_on_stdio() {
        let args = qemu_args(&boot(&boards::VIRT, Some(3), None), ConsoleMode::Captured).unwrap();
        assert_eq!(
            args.join(" "),
            "-machine virt,virtualization=on,gic-version=3 -cpu cortex-a72 -smp 4 -m 2G -kernel Image \
             -nic none -display none -serial stdio -monitor none"
        );
    }

    #[test]
    fn raspi4b_takes_a_dtb_bootargs_and_no_reboot() {
        let mut b = boot(&boards::RPI4, None, Some(Path::new("pi.dtb")));
        b.bootargs = Some("bulkhead.debug=el2-fault");
        let extra = ["-icount".to_string(), "shift=0".to_string()];
        b.extra = &extra;
        let args = qemu_args(&b, ConsoleMode::Interactive).unwrap();
        assert_eq!(
            args.join(" "),
            "-machine raspi4b -cpu cortex-a72 -smp 4 -m 2G -kernel Image -dtb pi.dtb \
             -append bulkhead.debug=el2-fault -nic none -no-reboot -nographic -echr 0x1d -icount shift=0"
        );
    }

    #[test]
    fn impossible_boots_are_refused() {
        assert_eq!(
            qemu_args(&boot(&boards::RPI4, None, None), ConsoleMode::Captured),
            Err(CommandError::DtbRequired { board: "rpi4" })
        );
        assert_eq!(
            qemu_args(
                &boot(&boards::RPI4, Some(2), Some(Path::new("d"))),
                ConsoleMode::Captured
            ),
            Err(CommandError::GicNotSelectable { board: "rpi4" })
        );
        assert_eq!(
            qemu_args(&boot(&boards::VIRT, Some(4), None), ConsoleMode::Captured),
            Err(CommandError::NoSuchGic {
                board: "virt",
                version: 4
            })
        );
    }
}
