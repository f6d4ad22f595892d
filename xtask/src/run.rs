//! `cargo xtask run`: boots the hypervisor in QEMU on this terminal, with the board's demo
//! partitions, a given dom0less config or none, until QEMU exits or a deadline passes.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use qemu_tests::command::{self, Boot, CommandError, ConsoleMode, ESCAPE_KEY};
use qemu_tests::{PartitionConfig, Prepared, Scenario};

use crate::build::{self, BuildError};
use crate::cli::RunPartitions;
use crate::debian::{Debian, DebianError};
use crate::linux::{self, LinuxError};
use crate::partitions::{self, Inputs, PrepareError};
use crate::prereq::{self, PrereqError};
use crate::shell;
use crate::workspace::{self, Profile};

/// How long an interactive run may last unless `--timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// The same with the Linux demo, whose shell waits for a person.
pub const LINUX_TIMEOUT: Duration = Duration::from_secs(3600);
/// The directory of the demo configs, relative to the workspace root.
pub const DEMO_DIR: &str = "demo";

/// Why the run failed.
#[derive(Debug)]
pub enum RunError {
    UnknownBoard(String),
    Build(BuildError),
    Prereq(PrereqError),
    Dtb(DebianError),
    /// The board has no demo config of that kind.
    NoDemo {
        board: &'static str,
        linux: bool,
    },
    /// A config file given with `--config` cannot be found.
    NoConfig {
        file: PathBuf,
        error: std::io::Error,
    },
    Linux(LinuxError),
    Prepare {
        file: PathBuf,
        error: PrepareError,
    },
    Command(CommandError),
    Spawn(std::io::Error),
    Decoder(qemu_tests::defmt::DecoderError),
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
            RunError::NoDemo { board, linux } => {
                let name = if *linux { "-linux" } else { "" };
                write!(
                    f,
                    "board `{board}` has no demo: no {DEMO_DIR}/{board}{name}.dts or .toml"
                )
            }
            RunError::NoConfig { file, error } => write!(f, "{}: {error}", file.display()),
            RunError::Linux(e) => write!(f, "{e}"),
            RunError::Prepare { file, error } => write!(f, "{}: {error}", file.display()),
            RunError::Command(e) => write!(f, "{e}"),
            RunError::Spawn(e) => write!(f, "cannot start {}: {e}", command::QEMU),
            RunError::Decoder(e) => write!(f, "{e}"),
            RunError::Exit(status) => write!(f, "QEMU ended with {status}"),
            RunError::Deadline(limit) => {
                write!(f, "QEMU was still running after {}s and was stopped (use --timeout to allow more)", limit.as_secs())
            }
        }
    }
}

impl std::error::Error for RunError {}

/// What `cargo xtask run` was asked for.
#[derive(Clone, Debug)]
pub struct RunOptions<'a> {
    pub board: &'a str,
    pub gic: Option<u8>,
    pub profile: Profile,
    /// The hypervisor's command line (`-append`).
    pub bootargs: Option<&'a str>,
    pub timeout: Option<Duration>,
    pub partitions: RunPartitions,
    /// QEMU starts halted with its gdbstub on localhost:1234.
    pub gdb: bool,
    /// The defmt build, its frames decoded on this terminal.
    pub defmt: bool,
}

/// Where QEMU loads the hypervisor's Image on each board (RAM + 2 MiB on virt, 2 MiB on the
/// Pi): the image is linked at 0 and relocates itself, so its symbols are at this offset.
pub fn load_address(board: &str) -> Option<u64> {
    match board {
        "virt" => Some(0x4020_0000),
        "rpi4" => Some(0x20_0000),
        _ => None,
    }
}

/// How to attach gdb to a `--gdb` run: the command line and what to type first.
pub fn gdb_help(elf: &Path, load: u64) -> String {
    format!(
        "xtask: QEMU waits for gdb on localhost:1234 (Debian's gdb-multiarch):\n\
         xtask:   gdb-multiarch -ex 'set architecture aarch64' -ex 'target remote localhost:1234' \\\n\
         xtask:       -ex 'add-symbol-file {} -o {load:#x}'\n\
         xtask: then `break guest_exit` stops at every guest exit (vectors.s; `x/2gx $sp` shows the \
         guest's x0 and x1), `break hypervisor::vm::exits::handle` at its handling, and `continue` \
         boots. The symbols are the image's own: what runs before the relocation at entry is at \
         the same addresses.",
        elf.display()
    )
}

/// The demo config of `board` (`demo/BOARD.dts` or `.toml`; `BOARD-linux` for Linux),
/// relative to the workspace root, if there is one.
pub fn demo_config(board: &str, linux: bool) -> Option<PathBuf> {
    let stem = if linux {
        format!("{board}-linux")
    } else {
        board.to_string()
    };
    ["dts", "toml"]
        .iter()
        .map(|extension| Path::new(DEMO_DIR).join(format!("{stem}.{extension}")))
        .find(|file| workspace::root().join(file).is_file())
}

/// The config file to boot, absolute or relative to the workspace root; `None` for none.
fn config_file(
    board: &'static boards::Board,
    partitions: &RunPartitions,
) -> Result<Option<PathBuf>, RunError> {
    let demo = |linux| {
        demo_config(board.name, linux)
            .map(Some)
            .ok_or(RunError::NoDemo {
                board: board.name,
                linux,
            })
    };
    match partitions {
        RunPartitions::None => Ok(None),
        RunPartitions::Demo => demo(false),
        RunPartitions::LinuxDemo => demo(true),
        // Relative to where the command was typed, like any file argument.
        RunPartitions::Config(file) => std::path::absolute(file)
            .and_then(|file| file.metadata().map(|_| file))
            .map(Some)
            .map_err(|error| RunError::NoConfig {
                file: file.clone(),
                error,
            }),
    }
}

/// Builds the boot of a config like a partition scenario's (`target/scenarios/run-BOARD/`):
/// the test guests, the Linux guest if the config names it, the merged and validated tree.
fn prepare(
    file: &Path,
    board: &'static boards::Board,
    options: &RunOptions<'_>,
    gic: Option<u8>,
    image: &Path,
    board_dtb: Option<&Path>,
    debian: &mut Debian,
) -> Result<Prepared, RunError> {
    let scenario = Scenario {
        gic,
        bootargs: options.bootargs.map(String::from),
        partitions: Some(PartitionConfig {
            file: file.to_path_buf(),
            valid: true,
        }),
        ..Scenario::new(&format!("run-{}", board.name), board.name)
    };
    let guests = build::guests(options.profile).map_err(RunError::Build)?;
    let linux = match partitions::names_linux(&scenario) {
        true => Some(linux::guest(debian).map_err(RunError::Linux)?.dir),
        false => None,
    };
    prereq::ensure_dtc().map_err(RunError::Prereq)?;
    let inputs = Inputs {
        image,
        guests: &guests,
        board_dtb,
        linux: linux.as_deref(),
    };
    partitions::prepare(&scenario, &inputs).map_err(|error| RunError::Prepare {
        file: file.to_path_buf(),
        error,
    })
}

/// Builds, then boots with QEMU's console on this terminal until QEMU exits or the timeout
/// passes.
pub fn run(options: &RunOptions<'_>) -> Result<(), RunError> {
    let board = boards::Board::by_name(options.board)
        .ok_or_else(|| RunError::UnknownBoard(options.board.into()))?;
    let config = config_file(board, &options.partitions)?;
    let logs = if options.defmt { build::Logs::Defmt } else { build::Logs::Text };
    let (image, elf) = build::build_variant(options.profile, logs).map_err(RunError::Build)?;
    prereq::ensure_qemu().map_err(RunError::Prereq)?;
    let mut debian = Debian::new();
    let board_dtb: Option<PathBuf> = debian.board_dtb(board).map_err(RunError::Dtb)?;
    // A machine with a selectable GIC boots with GICv3 unless told otherwise.
    let gic = options
        .gic
        .or_else(|| board.qemu.filter(|q| q.selectable_gic).map(|_| 3));
    let prepared = match &config {
        Some(file) => Some(prepare(
            file,
            board,
            options,
            gic,
            &image,
            board_dtb.as_deref(),
            &mut debian,
        )?),
        None => None,
    };
    let extra = prepared
        .as_ref()
        .map(|p| p.qemu_args.clone())
        .unwrap_or_default();
    let boot = Boot {
        board,
        gic,
        kernel: &image,
        dtb: prepared
            .as_ref()
            .map(|p| p.dtb.as_path())
            .or(board_dtb.as_deref()),
        bootargs: options.bootargs,
        extra: &extra,
    };
    let args = command::qemu_args(&boot, ConsoleMode::Interactive).map_err(RunError::Command)?;
    let mut qemu = Command::new(command::QEMU);
    qemu.args(&args).current_dir(workspace::root());
    if options.gdb {
        qemu.args(["-s", "-S"]);
    }
    println!("$ {}", shell::describe(&qemu));
    println!("{}", banner(config.as_deref()));
    if options.gdb {
        match load_address(board.name) {
            Some(load) => println!("{}", gdb_help(&elf, load)),
            None => println!("xtask: QEMU waits for gdb on localhost:1234"),
        }
    }
    let limit = options.timeout.unwrap_or(match (options.gdb, &options.partitions) {
        // A debugging session lasts as long as the person at gdb wants.
        (true, _) => LINUX_TIMEOUT,
        (false, RunPartitions::LinuxDemo) => LINUX_TIMEOUT,
        (false, _) => DEFAULT_TIMEOUT,
    });
    if options.defmt {
        let decoder = qemu_tests::defmt::Decoder::from_elf(&elf).map_err(RunError::Decoder)?;
        println!("xtask: decoding the hypervisor's defmt frames with the symbols of {}", elf.display());
        qemu.stdout(std::process::Stdio::piped());
        return wait_decoding(qemu, limit, qemu_tests::defmt::Console::new(decoder));
    }
    wait(qemu, limit)
}

/// As [`wait`], with QEMU's console read through `console`, which decodes defmt frames into
/// lines and passes the partitions' text through to this terminal.
fn wait_decoding(mut qemu: Command, limit: Duration, mut console: qemu_tests::defmt::Console) -> Result<(), RunError> {
    use std::io::{Read, Write};
    let mut child = qemu.spawn().map_err(RunError::Spawn)?;
    let Some(mut stdout) = child.stdout.take() else {
        return wait_child(child, limit);
    };
    let printer = thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        let mut terminal = std::io::stdout();
        while let Ok(n) = stdout.read(&mut chunk) {
            if n == 0 {
                break;
            }
            let _ = terminal.write_all(&console.feed(&chunk[..n])).and_then(|()| terminal.flush());
        }
    });
    let result = wait_child(child, limit);
    let _ = printer.join();
    result
}

/// What the person at the console needs to know: what boots and which keys do what.
pub fn banner(config: Option<&Path>) -> String {
    let what = match config {
        Some(file) => format!("the partitions of {}", file.display()),
        None => "no partitions".to_string(),
    };
    format!(
        "xtask: booting the hypervisor with {what}.\n\
         xtask: CTRL-a three times moves the console input to the next partition (and back to \
         the hypervisor);\n\
         xtask: {ESCAPE_KEY} x quits QEMU, {ESCAPE_KEY} c switches to QEMU's monitor and back, \
         {ESCAPE_KEY} h lists QEMU's keys."
    )
}

/// Runs QEMU until it exits (success only with status 0) or `limit` passes.
fn wait(mut qemu: Command, limit: Duration) -> Result<(), RunError> {
    let child = qemu.spawn().map_err(RunError::Spawn)?;
    wait_child(child, limit)
}

/// Waits for QEMU to exit (success only with status 0); stops it once `limit` passes.
fn wait_child(mut child: std::process::Child, limit: Duration) -> Result<(), RunError> {
    let deadline = Instant::now() + limit;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_board_has_a_demo_and_a_linux_demo() {
        for board in ["virt", "rpi4"] {
            let demo = demo_config(board, false).unwrap_or_else(|| panic!("{board}"));
            let linux = demo_config(board, true).unwrap_or_else(|| panic!("{board} linux"));
            let text = |file: &Path| std::fs::read_to_string(workspace::root().join(file)).unwrap();
            assert!(
                !crate::partitions::merge::names_linux(&text(&demo)),
                "{}",
                demo.display()
            );
            let linux_text = text(&linux);
            assert!(
                crate::partitions::merge::names_linux(&linux_text),
                "{}",
                linux.display()
            );
            assert!(linux_text.contains("demo.shell=1"), "{}", linux.display());
        }
        assert_eq!(demo_config("no-such-board", false), None);
    }

    #[test]
    fn the_banner_names_the_keys() {
        let text = banner(Some(Path::new("demo/virt.dts")));
        assert!(text.contains("demo/virt.dts"));
        assert!(text.contains("CTRL-a three times"));
        assert!(text.contains("CTRL-] x quits QEMU"));
    }
}

#[cfg(test)]
mod gdb_tests {
    use super::*;

    #[test]
    fn gdb_is_told_where_the_image_was_loaded() {
        assert_eq!(load_address("virt"), Some(0x4020_0000));
        assert_eq!(load_address("rpi4"), Some(0x20_0000));
        assert_eq!(load_address("nope"), None);
        let help = gdb_help(Path::new("target/x/hypervisor"), 0x4020_0000);
        assert!(help.contains("add-symbol-file target/x/hypervisor -o 0x40200000"), "{help}");
        assert!(help.contains("target remote localhost:1234"));
        assert!(help.contains("break guest_exit"));
    }
}
