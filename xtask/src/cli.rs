//! The command line: `cargo xtask <task> [options]`, parsed by clap (`--help` for the tool
//! and each task, usage errors with status 2), turned into a [`Task`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::workspace::Profile;

/// Project tasks of the Bulkhead hypervisor. `cargo xtask TASK --help` describes a task.
///
/// `run` and `image` build the release hypervisor unless --debug; `build`, `test` and
/// `stress` build debug unless --release; `bench` measures release.
#[derive(Parser, Debug)]
#[command(name = "cargo xtask", about, long_about, disable_version_flag = true)]
struct Cli {
    #[command(subcommand)]
    task: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build the hypervisor and the test guests as arm64 Images.
    Build {
        #[command(flatten)]
        board: BoardArg,
        /// Build the release hypervisor.
        #[arg(long)]
        release: bool,
    },
    /// Boot it in QEMU on this console with the board's demo: a Linux partition with a shell
    /// beside bare-metal ones (demo/BOARD-linux.*, the default). CTRL-] x quits QEMU; CTRL-a
    /// three times switches the console between partitions.
    Run(RunArgs),
    /// Host unit tests, the image, then every QEMU scenario (pending ones only with
    /// --pending or named by --filter).
    Test {
        /// QEMU processes at once, 1 or 2.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
        jobs: u8,
        /// Run only the scenarios whose name contains TEXT.
        #[arg(long, value_name = "TEXT")]
        filter: Option<String>,
        /// Test the release build instead of the debug build.
        #[arg(long)]
        release: bool,
        /// Skip the host unit tests.
        #[arg(long)]
        qemu_only: bool,
        /// Also run scenarios not yet expected to pass.
        #[arg(long)]
        pending: bool,
    },
    /// Boot each selected QEMU scenario N times (default: the Linux ones, 30 times, two QEMUs
    /// at once so each run has a neighbour loading the host); counts hangs.
    Stress {
        /// Boots per scenario, 1 to 1000.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u16).range(1..=1000))]
        runs: u16,
        /// QEMU processes at once, 1 or 2.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
        jobs: u8,
        /// The scenarios whose name contains TEXT.
        #[arg(long, value_name = "TEXT", default_value = "linux")]
        filter: String,
        /// Stress the release build.
        #[arg(long)]
        release: bool,
    },
    /// Time trap, MMIO, hypercall, timer-interrupt and boot costs on Bulkhead (release) and
    /// on Xen 4.17 under QEMU -icount; prints a table, writes target/bench/.
    Bench,
    /// Write a Raspberry Pi 4 SD-card boot folder: the hypervisor, the partitions of a
    /// config as an overlay the firmware applies to its own tree, their modules, config.txt
    /// (README: "Flash a Raspberry Pi 4").
    Image {
        /// The board (rpi4: the one booted by the Raspberry Pi firmware).
        #[arg(long, value_parser = ["virt", "rpi4"])]
        board: String,
        /// The folder to write.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The partition config, TOML (default demo/BOARD.toml).
        #[arg(long, value_name = "FILE.toml")]
        config: Option<PathBuf>,
        /// Build the debug hypervisor instead of the release one.
        #[arg(long)]
        debug: bool,
        /// Boot through U-Boot: a boot.scr (made with mkimage, Debian's u-boot-tools) that
        /// loads the hypervisor and each module, instead of the firmware loading them.
        #[arg(long)]
        u_boot: bool,
    },
    /// Fetch Debian's arm64 kernel, busybox and the Pi 4 DTB.
    Guests,
    /// Install QEMU, dtc (with fdtoverlay), mkimage and the aarch64 target if missing.
    Setup,
}

#[derive(Args, Debug)]
struct BoardArg {
    /// The board: virt (QEMU virt) or rpi4 (Raspberry Pi 4, QEMU raspi4b).
    #[arg(long, default_value = "virt", value_parser = ["virt", "rpi4"])]
    board: String,
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    board: BoardArg,
    /// GIC version of QEMU virt, 2 or 3.
    #[arg(long, value_parser = clap::value_parser!(u8).range(2..=3))]
    gic: Option<u8>,
    /// Boot the release hypervisor (the default).
    #[arg(long, conflicts_with = "debug")]
    release: bool,
    /// Boot the debug hypervisor.
    #[arg(long)]
    debug: bool,
    /// Add ARGS to the hypervisor's command line.
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    append: Option<String>,
    /// Stop QEMU after SECONDS.
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// The Linux demo (the default).
    #[arg(long, group = "partitions")]
    linux: bool,
    /// The demo without Linux (demo/BOARD.*).
    #[arg(long, group = "partitions")]
    bare_metal: bool,
    /// A dom0less config: a .dts fragment of /chosen or a .toml.
    #[arg(long, value_name = "FILE", group = "partitions")]
    config: Option<PathBuf>,
    /// No partitions: the hypervisor alone.
    #[arg(long, group = "partitions")]
    no_partitions: bool,
    /// Start QEMU halted with its gdbstub on localhost:1234, and say how to attach gdb with
    /// the hypervisor's symbols at their relocated address.
    #[arg(long)]
    gdb: bool,
    /// Build the hypervisor with its defmt feature (compact binary log frames) and decode
    /// its frames here with the ELF's symbols; the partitions' output stays text.
    #[arg(long)]
    defmt: bool,
}

/// What `run` boots beside the hypervisor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunPartitions {
    /// The board's demo config, `demo/BOARD.dts` or `.toml`.
    Demo,
    /// The board's Linux demo config, `demo/BOARD-linux.dts` or `.toml`.
    LinuxDemo,
    /// A dom0less config file, as given on the command line.
    Config(PathBuf),
    /// No partitions: the hypervisor alone.
    None,
}

/// A parsed command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Task {
    Build {
        board: String,
        profile: Profile,
    },
    Run {
        board: String,
        gic: Option<u8>,
        profile: Profile,
        append: Option<String>,
        timeout: Option<u64>,
        partitions: RunPartitions,
        gdb: bool,
        defmt: bool,
    },
    Stress {
        runs: usize,
        jobs: usize,
        filter: String,
        profile: Profile,
    },
    Test {
        jobs: usize,
        filter: Option<String>,
        profile: Profile,
        host_tests: bool,
        pending: bool,
    },
    Image {
        board: String,
        out: PathBuf,
        config: Option<PathBuf>,
        profile: Profile,
        /// Write a U-Boot boot.scr instead of having the firmware load everything.
        u_boot: bool,
    },
    Bench,
    Guests,
    Setup,
}

/// A command line that makes no sense, or a request for help (clap's error kinds say which;
/// `exit` prints it and exits 0 for help, 2 otherwise).
pub type CliError = clap::Error;

fn profile(release: bool) -> Profile {
    if release {
        Profile::Release
    } else {
        Profile::Debug
    }
}

/// Parses the arguments after `cargo xtask`.
pub fn parse(args: &[String]) -> Result<Task, CliError> {
    let cli = Cli::try_parse_from(std::iter::once("cargo xtask").chain(args.iter().map(String::as_str)))?;
    Ok(match cli.task {
        Command::Build { board, release } => Task::Build { board: board.board, profile: profile(release) },
        Command::Run(r) => Task::Run {
            board: r.board.board,
            gic: r.gic,
            // What a user runs or flashes is the release build (the debug build is about
            // 13 times slower on traps).
            profile: profile(!r.debug),
            append: r.append,
            timeout: r.timeout,
            partitions: match (r.config, r.bare_metal, r.no_partitions) {
                (Some(file), _, _) => RunPartitions::Config(file),
                (None, true, _) => RunPartitions::Demo,
                (None, _, true) => RunPartitions::None,
                _ => RunPartitions::LinuxDemo,
            },
            gdb: r.gdb,
            defmt: r.defmt,
        },
        Command::Test { jobs, filter, release, qemu_only, pending } => Task::Test {
            jobs: usize::from(jobs),
            filter,
            profile: profile(release),
            host_tests: !qemu_only,
            pending,
        },
        Command::Stress { runs, jobs, filter, release } => Task::Stress {
            runs: usize::from(runs),
            jobs: usize::from(jobs),
            filter,
            profile: profile(release),
        },
        Command::Bench => Task::Bench,
        Command::Image { board, out, config, debug, u_boot } => {
            Task::Image { board, out, config, profile: profile(!debug), u_boot }
        }
        Command::Guests => Task::Guests,
        Command::Setup => Task::Setup,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn tasks_and_options_are_parsed() {
        assert_eq!(
            parse(&args("build")).ok(),
            Some(Task::Build {
                board: "virt".into(),
                profile: Profile::Debug
            })
        );
        assert_eq!(
            parse(&args("run --board rpi4 --release --gic 2")).ok(),
            Some(Task::Run {
                board: "rpi4".into(),
                gic: Some(2),
                profile: Profile::Release,
                append: None,
                timeout: None,
                partitions: RunPartitions::LinuxDemo,
                gdb: false,
                defmt: false
            })
        );
        assert_eq!(
            parse(&args("run --linux")).ok(),
            Some(Task::Run {
                board: "virt".into(),
                gic: None,
                profile: Profile::Release,
                append: None,
                timeout: None,
                partitions: RunPartitions::LinuxDemo,
                gdb: false,
                defmt: false
            })
        );
        assert!(matches!(parse(&args("run --gdb --bare-metal")), Ok(Task::Run { gdb: true, partitions: RunPartitions::Demo, .. })));
        assert!(matches!(parse(&args("run --defmt --bare-metal")), Ok(Task::Run { defmt: true, gdb: false, .. })));
        assert!(matches!(
            parse(&args("run --bare-metal")),
            Ok(Task::Run { partitions: RunPartitions::Demo, .. })
        ));
        assert!(matches!(
            parse(&args("run --config my.toml")),
            Ok(Task::Run { partitions: RunPartitions::Config(file), .. }) if file.as_path() == std::path::Path::new("my.toml")
        ));
        assert!(matches!(
            parse(&args("run --no-partitions --gic 2")),
            Ok(Task::Run {
                partitions: RunPartitions::None,
                gic: Some(2),
                ..
            })
        ));
        assert_eq!(
            parse(&args("image --board rpi4 --out boot")).ok(),
            Some(Task::Image {
                board: "rpi4".into(),
                out: "boot".into(),
                config: None,
                profile: Profile::Release,
                u_boot: false,
            })
        );
        assert_eq!(
            parse(&args("image --board rpi4 --out boot --config my.toml --u-boot")).ok(),
            Some(Task::Image {
                board: "rpi4".into(),
                out: "boot".into(),
                config: Some("my.toml".into()),
                profile: Profile::Release,
                u_boot: true,
            })
        );
        assert_eq!(
            parse(&args("image --board rpi4 --out boot --debug")).ok(),
            Some(Task::Image {
                board: "rpi4".into(),
                out: "boot".into(),
                config: None,
                profile: Profile::Debug,
                u_boot: false,
            })
        );
        assert!(matches!(parse(&args("run --debug")), Ok(Task::Run { profile: Profile::Debug, .. })));
        assert!(parse(&args("test --debug")).is_err(), "test runs the debug build already");
        assert_eq!(
            parse(&args("test --jobs 1")).ok(),
            Some(Task::Test {
                jobs: 1,
                filter: None,
                profile: Profile::Debug,
                host_tests: true,
                pending: false
            })
        );
        assert_eq!(
            parse(&args("test --qemu-only --filter gicv2 --pending")).ok(),
            Some(Task::Test {
                jobs: 2,
                filter: Some("gicv2".into()),
                profile: Profile::Debug,
                host_tests: false,
                pending: true
            })
        );
    }

    fn kind(text: &str) -> ErrorKind {
        parse(&args(text)).expect_err(text).kind()
    }

    #[test]
    fn bad_command_lines_are_refused() {
        assert_eq!(kind(""), ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand);
        assert_eq!(kind("frobnicate"), ErrorKind::InvalidSubcommand);
        assert_eq!(kind("run --gic 4"), ErrorKind::ValueValidation);
        assert_eq!(kind("build --board pc"), ErrorKind::InvalidValue);
        assert_eq!(kind("build --gic 3"), ErrorKind::UnknownArgument);
        assert_eq!(kind("test --jobs 3"), ErrorKind::ValueValidation);
        assert!(parse(&args("stress --runs 0")).is_err());
    }

    #[test]
    fn help_is_there_for_the_tool_and_every_task() {
        for text in ["--help", "help", "image --help", "help image", "run -h", "test --help"] {
            let error = parse(&args(text)).expect_err(text);
            assert_eq!(error.kind(), ErrorKind::DisplayHelp, "{text}");
            assert_eq!(error.exit_code(), 0, "{text}");
        }
        let help = parse(&args("image --help")).expect_err("help").to_string();
        for needed in ["--board", "--out", "--config", "--debug"] {
            assert!(help.contains(needed), "{needed}");
        }
    }

    #[test]
    fn bench_takes_no_options() {
        assert_eq!(parse(&args("bench")).ok(), Some(Task::Bench));
        assert_eq!(kind("bench --release"), ErrorKind::UnknownArgument);
    }

    #[test]
    fn stress_defaults_to_the_linux_scenarios_thirty_times() {
        assert_eq!(
            parse(&args("stress")).ok(),
            Some(Task::Stress {
                runs: 30,
                jobs: 2,
                filter: "linux".into(),
                profile: Profile::Debug,
            })
        );
        assert_eq!(
            parse(&args("stress --runs 5 --filter gicv2 --jobs 1 --release")).ok(),
            Some(Task::Stress {
                runs: 5,
                jobs: 1,
                filter: "gicv2".into(),
                profile: Profile::Release,
            })
        );
    }

    #[test]
    fn conflicting_partition_options_are_refused() {
        assert_eq!(kind("run --linux --config x.dts"), ErrorKind::ArgumentConflict);
        assert_eq!(kind("run --no-partitions --linux"), ErrorKind::ArgumentConflict);
        assert_eq!(kind("build --linux"), ErrorKind::UnknownArgument);
        assert_eq!(kind("run --board"), ErrorKind::InvalidValue);
        assert_eq!(kind("image --out x"), ErrorKind::MissingRequiredArgument);
    }
}
