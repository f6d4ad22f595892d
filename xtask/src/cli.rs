//! The command line: `cargo xtask <task> [options]`, parsed by hand (there are few options).

use std::fmt;
use std::path::PathBuf;

use crate::workspace::Profile;

/// Usage text printed by `cargo xtask help` and after a command-line error.
pub const USAGE: &str = "\
usage: cargo xtask <task> [options]

tasks:
  build  [--board virt|rpi4] [--release]        build the hypervisor and the test guests as arm64 Images
  run    [--board virt|rpi4] [--gic 2|3] [--debug] [--append ARGS] [--timeout SECONDS]
         [--linux | --bare-metal | --config FILE | --no-partitions]
                                                 boot it in QEMU on this console with the board's
                                                 demo: a Linux partition with a shell beside
                                                 bare-metal ones (demo/BOARD-linux.*, the default),
                                                 only bare-metal ones (--bare-metal: demo/BOARD.*),
                                                 a dom0less config FILE (.dts fragment of /chosen
                                                 or .toml), or none
                                                 (CTRL-] x quits QEMU; CTRL-a three times switches
                                                 the console between partitions)
  test   [--jobs N] [--filter TEXT] [--release] [--qemu-only] [--pending]
                                                 host unit tests, the image, then every QEMU scenario
                                                 (pending ones only with --pending or named by --filter)
  stress [--runs N] [--jobs N] [--filter TEXT] [--release]
                                                 boot each selected QEMU scenario N times (default:
                                                 the Linux ones, 30 times, two QEMUs at once so each
                                                 run has a neighbour loading the host); counts hangs
  bench                                          time trap, MMIO, hypercall, timer-interrupt and boot
                                                 costs on Bulkhead (release) and on Xen 4.17 under
                                                 QEMU -icount; prints a table, writes target/bench/
  image  --board rpi4 --out DIR [--config FILE.toml] [--debug]
                                                 write a Raspberry Pi 4 SD-card boot folder with the
                                                 partitions of FILE (default demo/rpi4.toml)
                                                 (run and image build the release hypervisor
                                                 unless --debug; build, test and stress build
                                                 debug unless --release; bench measures release)
  guests                                         fetch Debian's arm64 kernel, busybox and the Pi 4 DTB
  setup                                          install QEMU, dtc and the aarch64 target if missing
  help                                           this text";

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
    },
    Bench,
    Guests,
    Setup,
    Help,
}

/// A command line that makes no sense.
#[derive(Debug, PartialEq, Eq)]
pub enum CliError {
    NoTask,
    UnknownTask(String),
    UnknownOption {
        task: String,
        option: String,
    },
    MissingValue(String),
    BadValue {
        option: String,
        value: String,
        expected: &'static str,
    },
    Required {
        task: String,
        option: &'static str,
    },
    /// Two options that exclude each other.
    Conflict {
        first: String,
        second: String,
    },
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::NoTask => write!(f, "no task given"),
            CliError::UnknownTask(t) => write!(f, "unknown task `{t}`"),
            CliError::UnknownOption { task, option } => {
                write!(f, "`{task}` has no option `{option}`")
            }
            CliError::MissingValue(o) => write!(f, "`{o}` needs a value"),
            CliError::BadValue {
                option,
                value,
                expected,
            } => {
                write!(f, "`{option} {value}`: expected {expected}")
            }
            CliError::Required { task, option } => write!(f, "`{task}` needs `{option}`"),
            CliError::Conflict { first, second } => {
                write!(f, "`{first}` and `{second}` cannot be given together")
            }
        }
    }
}

impl std::error::Error for CliError {}

/// Parses the arguments after `cargo xtask`.
pub fn parse(args: &[String]) -> Result<Task, CliError> {
    let (task, rest) = args.split_first().ok_or(CliError::NoTask)?;
    let mut board = None;
    let mut gic = None;
    // What a user runs or flashes is the release build (the debug build is about 13 times
    // slower on traps); the test suite runs the debug build, which checks overflows.
    let mut profile = match task.as_str() {
        "run" | "image" => Profile::Release,
        _ => Profile::Debug,
    };
    let mut append = None;
    let mut timeout = None;
    let mut jobs = 2;
    let mut runs = 30;
    let mut filter = None;
    let mut out = None;
    let mut host_tests = true;
    let mut pending = false;
    let mut partitions = RunPartitions::LinuxDemo;
    let mut partitions_option: Option<String> = None;
    let mut config = None;
    let allowed: &[&str] = match task.as_str() {
        "build" => &["--board", "--release"],
        "run" => &[
            "--board",
            "--gic",
            "--release",
            "--debug",
            "--append",
            "--timeout",
            "--config",
            "--linux",
            "--bare-metal",
            "--no-partitions",
        ],
        "test" => &[
            "--jobs",
            "--filter",
            "--release",
            "--qemu-only",
            "--pending",
        ],
"stress" => &["--runs", "--jobs", "--filter", "--release"],
        "image" => &["--board", "--out", "--config", "--release", "--debug"],
        "bench" | "guests" | "setup" | "help" | "--help" | "-h" => &[],
        other => return Err(CliError::UnknownTask(other.to_string())),
    };
    let mut items = rest.iter();
    while let Some(option) = items.next() {
        if !allowed.contains(&option.as_str()) {
            return Err(CliError::UnknownOption {
                task: task.clone(),
                option: option.clone(),
            });
        }
        if matches!(option.as_str(), "--config" | "--linux" | "--bare-metal" | "--no-partitions") {
            if let Some(first) = partitions_option.replace(option.clone()) {
                return Err(CliError::Conflict {
                    first,
                    second: option.clone(),
                });
            }
        }
        match option.as_str() {
            "--release" => profile = Profile::Release,
            "--debug" => profile = Profile::Debug,
            "--qemu-only" => host_tests = false,
            "--pending" => pending = true,
            "--linux" => partitions = RunPartitions::LinuxDemo,
            "--bare-metal" => partitions = RunPartitions::Demo,
            "--no-partitions" => partitions = RunPartitions::None,
            _ => {}
        }
        if matches!(
            option.as_str(),
            "--release" | "--debug" | "--qemu-only" | "--pending" | "--linux" | "--bare-metal" | "--no-partitions"
        ) {
            continue;
        }
        let value = items
            .next()
            .ok_or_else(|| CliError::MissingValue(option.clone()))?
            .clone();
        let bad = |expected| CliError::BadValue {
            option: option.clone(),
            value: value.clone(),
            expected,
        };
        match option.as_str() {
            "--board" => {
                if boards::Board::by_name(&value).is_none() {
                    return Err(bad("a board name: virt or rpi4"));
                }
                board = Some(value);
            }
            "--gic" => {
                gic = Some(
                    value
                        .parse()
                        .ok()
                        .filter(|v| matches!(v, 2 | 3))
                        .ok_or_else(|| bad("2 or 3"))?,
                )
            }
            "--append" => append = Some(value),
            "--timeout" => timeout = Some(value.parse().map_err(|_| bad("a number of seconds"))?),
            "--jobs" => {
                jobs = value
                    .parse()
                    .ok()
                    .filter(|j| (1..=2).contains(j))
                    .ok_or_else(|| bad("1 or 2"))?
            }
            "--filter" => filter = Some(value),
            "--runs" => {
                runs = value
                    .parse()
                    .ok()
                    .filter(|r| (1..=1000).contains(r))
                    .ok_or_else(|| bad("a number of runs from 1 to 1000"))?
            }
            "--config" => {
                config = Some(PathBuf::from(&value));
                partitions = RunPartitions::Config(PathBuf::from(value))
            }
            _ => out = Some(PathBuf::from(value)),
        }
    }
    let board_or_virt = board.clone().unwrap_or_else(|| "virt".to_string());
    Ok(match task.as_str() {
        "build" => Task::Build {
            board: board_or_virt,
            profile,
        },
        "run" => Task::Run {
            board: board_or_virt,
            gic,
            profile,
            append,
            timeout,
            partitions,
        },
        "stress" => Task::Stress {
            runs,
            jobs,
            filter: filter.unwrap_or_else(|| "linux".to_string()),
            profile,
        },
        "test" => Task::Test {
            jobs,
            filter,
            profile,
            host_tests,
            pending,
        },
        "image" => Task::Image {
            board: board.ok_or(CliError::Required {
                task: task.clone(),
                option: "--board",
            })?,
            out: out.ok_or(CliError::Required {
                task: task.clone(),
                option: "--out",
            })?,
            config,
            profile,
        },
        "bench" => Task::Bench,
        "guests" => Task::Guests,
        "setup" => Task::Setup,
        _ => Task::Help,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn tasks_and_options_are_parsed() {
        assert_eq!(
            parse(&args("build")),
            Ok(Task::Build {
                board: "virt".into(),
                profile: Profile::Debug
            })
        );
        assert_eq!(
            parse(&args("run --board rpi4 --release --gic 2")),
            Ok(Task::Run {
                board: "rpi4".into(),
                gic: Some(2),
                profile: Profile::Release,
                append: None,
                timeout: None,
                partitions: RunPartitions::LinuxDemo
            })
        );
        assert_eq!(
            parse(&args("run --linux")),
            Ok(Task::Run {
                board: "virt".into(),
                gic: None,
                profile: Profile::Release,
                append: None,
                timeout: None,
                partitions: RunPartitions::LinuxDemo
            })
        );
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
            parse(&args("image --board rpi4 --out boot")),
            Ok(Task::Image {
                board: "rpi4".into(),
                out: "boot".into(),
                config: None,
                profile: Profile::Release
            })
        );
        assert_eq!(
            parse(&args("image --board rpi4 --out boot --config my.toml")),
            Ok(Task::Image {
                board: "rpi4".into(),
                out: "boot".into(),
                config: Some("my.toml".into()),
                profile: Profile::Release
            })
        );
        assert_eq!(
            parse(&args("image --board rpi4 --out boot --debug")),
            Ok(Task::Image {
                board: "rpi4".into(),
                out: "boot".into(),
                config: None,
                profile: Profile::Debug
            })
        );
        assert!(matches!(parse(&args("run --debug")), Ok(Task::Run { profile: Profile::Debug, .. })));
        assert!(parse(&args("test --debug")).is_err(), "test runs the debug build already");
        assert_eq!(
            parse(&args("test --jobs 1")),
            Ok(Task::Test {
                jobs: 1,
                filter: None,
                profile: Profile::Debug,
                host_tests: true,
                pending: false
            })
        );
        assert_eq!(
            parse(&args("test --qemu-only --filter gicv2 --pending")),
            Ok(Task::Test {
                jobs: 2,
                filter: Some("gicv2".into()),
                profile: Profile::Debug,
                host_tests: false,
                pending: true
            })
        );
    }

    #[test]
    fn bad_command_lines_are_refused() {
        assert_eq!(parse(&[]), Err(CliError::NoTask));
        assert_eq!(
            parse(&args("frobnicate")),
            Err(CliError::UnknownTask("frobnicate".into()))
        );
        assert!(matches!(
            parse(&args("run --gic 4")),
            Err(CliError::BadValue { .. })
        ));
        assert!(matches!(
            parse(&args("build --board pc")),
            Err(CliError::BadValue { .. })
        ));
        assert!(matches!(
            parse(&args("build --gic 3")),
            Err(CliError::UnknownOption { .. })
        ));
        assert!(matches!(
            parse(&args("test --jobs 3")),
            Err(CliError::BadValue { .. })
        ));
        assert!(parse(&args("stress --runs 0")).is_err());
    }

    #[test]
    fn bench_takes_no_options() {
        assert_eq!(parse(&args("bench")), Ok(Task::Bench));
        assert!(matches!(
            parse(&args("bench --release")),
            Err(CliError::UnknownOption { .. })
        ));
    }

    #[test]
    fn stress_defaults_to_the_linux_scenarios_thirty_times() {
        assert_eq!(
            parse(&args("stress")),
            Ok(Task::Stress {
                runs: 30,
                jobs: 2,
                filter: "linux".into(),
                profile: Profile::Debug,
            })
        );
        assert_eq!(
            parse(&args("stress --runs 5 --filter gicv2 --jobs 1 --release")),
            Ok(Task::Stress {
                runs: 5,
                jobs: 1,
                filter: "gicv2".into(),
                profile: Profile::Release,
            })
        );
    }

    #[test]
    fn conflicting_partition_options_are_refused() {
        assert_eq!(
            parse(&args("run --linux --config x.dts")),
            Err(CliError::Conflict {
                first: "--linux".into(),
                second: "--config".into()
            })
        );
        assert!(matches!(
            parse(&args("run --no-partitions --linux")),
            Err(CliError::Conflict { .. })
        ));
        assert!(matches!(
            parse(&args("build --linux")),
            Err(CliError::UnknownOption { .. })
        ));
        assert_eq!(
            parse(&args("run --board")),
            Err(CliError::MissingValue("--board".into()))
        );
        assert_eq!(
            parse(&args("image --out x")),
            Err(CliError::Required {
                task: "image".into(),
                option: "--board"
            })
        );
    }
}
