//! `cargo xtask run`: boots the hypervisor in QEMU on this terminal, with a deadline.

use std::fmt;
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use qemu_tests::command::{self, Boot, CommandError, ConsoleMode};

use crate::build::{self, BuildError};
use crate::debian::{Debian, DebianError};
use crate::prereq::{self, PrereqError};
use crate::shell;
use crate::workspace::Profile;

/// How long an interactive run may last unless `--timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Why the run failed.
#[derive(Debug)]
pub enum RunError {
    UnknownBoard(String),
    Build(BuildError),
    Prereq(PrereqError),
    Dtb(DebianError),
    Command(CommandError),
    Spawn(std::io::Error),
    Exit(String),
    Deadline(Duration),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::UnknownBoard(b) => write!(f, "unknown board `{b}`"),
            RunError::Build(e) => write!(f, "{e}"),
            RunError::Prereq(e) => write!(f, "{e}"),
            RunError::Dtb(e) => write!(f, "fetching the board's device tree: {e}"),
            RunError::Command(e) => write!(f, "{e}"),
            RunError::Spawn(e) => write!(f, "cannot start {}: {e}", command::QEMU),
            RunError::Exit(status) => write!(f, "QEMU ended with {status}"),
            RunError::Deadline(limit) => {
                write!(f, "QEMU was still running after {}s and was stopped (use --timeout to allow more)", limit.as_secs())
            }
        }
    }
}

impl std::error::Error for RunError {}

/// Builds, then boots `board` with QEMU's console on this terminal until QEMU exits or
/// `timeout` passes.
pub fn run(
    board: &str,
    gic: Option<u8>,
    profile: Profile,
    bootargs: Option<&str>,
    timeout: Option<Duration>,
) -> Result<(), RunError> {
    let board =
        boards::Board::by_name(board).ok_or_else(|| RunError::UnknownBoard(board.into()))?;
    let image = build::build(profile).map_err(RunError::Build)?;
    prereq::ensure_qemu().map_err(RunError::Prereq)?;
    let dtb: Option<PathBuf> = Debian::new().board_dtb(board).map_err(RunError::Dtb)?;
    // A machine with a selectable GIC boots with GICv3 unless told otherwise.
    let gic = gic.or_else(|| board.qemu.filter(|q| q.selectable_gic).map(|_| 3));
    let boot = Boot {
        board,
        gic,
        kernel: &image,
        dtb: dtb.as_deref(),
        bootargs,
        extra: &[],
    };
    let args = command::qemu_args(&boot, ConsoleMode::Interactive).map_err(RunError::Command)?;
    let mut qemu = Command::new(command::QEMU);
    qemu.args(&args);
    println!("$ {}", shell::describe(&qemu));
    let limit = timeout.unwrap_or(DEFAULT_TIMEOUT);
    let deadline = Instant::now() + limit;
    let mut child = qemu.spawn().map_err(RunError::Spawn)?;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return if status.success() {
                Ok(())
            } else {
                Err(RunError::Exit(status.to_string()))
            };
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(RunError::Deadline(limit));
        }
        thread::sleep(Duration::from_millis(50));
    }
}
