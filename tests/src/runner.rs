//! Runs one scenario: starts QEMU, reads its console, enforces the deadline, checks the exit.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::command::{self, Boot, ConsoleMode, QEMU};
use crate::diagnosis;
use crate::matcher::{watch, Matcher, WatchEnd};
use crate::scenario::{Dtb, ExpectedExit, Hypervisor, Scenario};

/// What every scenario run shares.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The QEMU program (normally `qemu-system-aarch64`).
    pub qemu: PathBuf,
    /// The hypervisor `Image` booted as the kernel.
    pub image: PathBuf,
    /// Relative paths in scenarios are relative to this.
    pub workspace: PathBuf,
    /// Firmware device trees by board name, for [`Dtb::Board`].
    pub board_dtbs: Vec<(String, PathBuf)>,
    /// How many QEMUs may run at once.
    pub jobs: usize,
    /// Where each scenario's full console log is written, if anywhere.
    pub log_dir: Option<PathBuf>,
    /// Built partition configs by scenario name, for scenarios with
    /// [`Scenario::partitions`]; an error says why the build failed, and fails the scenario.
    pub prepared: Vec<(String, Result<Prepared, String>)>,
    /// Debian's Xen 4.17 image, for scenarios that boot [`Hypervisor::Xen`].
    pub xen: Option<PathBuf>,
    /// The image built with the hypervisor's `defmt` feature and its ELF (whose symbols
    /// decode the frames), for scenarios that boot [`Hypervisor::BulkheadDefmt`].
    pub defmt: Option<(PathBuf, PathBuf)>,
    /// Debian's U-Boot for the Raspberry Pi 4 (`u-boot.bin`), for scenarios that boot
    /// [`Hypervisor::BulkheadByUBoot`].
    pub u_boot: Option<PathBuf>,
}

/// A scenario's partition config, built: the device tree to boot and the QEMU arguments that
/// load the modules it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    /// The host device tree with the partitions in `/chosen`, given with `-dtb`.
    pub dtb: PathBuf,
    /// More QEMU arguments (`-device loader,...` per module).
    pub qemu_args: Vec<String>,
}

impl RunConfig {
    /// A configuration with the default QEMU, one job per core up to two, and no logs.
    pub fn new(image: PathBuf, workspace: PathBuf) -> Self {
        RunConfig {
            qemu: QEMU.into(),
            image,
            workspace,
            board_dtbs: Vec::new(),
            jobs: 2,
            log_dir: None,
            prepared: Vec::new(),
            xen: None,
            defmt: None,
            u_boot: None,
        }
    }
}

/// Why a scenario failed.
#[derive(Debug)]
pub enum Failure {
    /// The scenario cannot be turned into a QEMU command.
    Setup(String),
    /// QEMU could not be started.
    Spawn { qemu: PathBuf, error: String },
    /// The deadline passed while waiting for console lines.
    DeadlineWaitingForLines {
        deadline: Duration,
        waiting_for: Vec<String>,
    },
    /// Every line was seen, but QEMU was still running at the deadline.
    DeadlineWaitingForExit { deadline: Duration },
    /// QEMU ended before every line was seen.
    ExitedEarly {
        status: String,
        waiting_for: Vec<String>,
    },
    /// QEMU ended with the wrong status.
    WrongExit {
        expected: ExpectedExit,
        status: String,
    },
    /// A console line contained a forbidden text.
    ForbiddenLine { line: String, text: String },
    /// The run ended as expected but its output fails a check.
    Check { what: &'static str, why: String },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Setup(why) => write!(f, "cannot set up: {why}"),
            Failure::Check { what, why } => write!(f, "{what}: {why}"),
            Failure::Spawn { qemu, error } => write!(f, "cannot start {}: {error}", qemu.display()),
            Failure::DeadlineWaitingForLines {
                deadline,
                waiting_for,
            } => {
                write!(
                    f,
                    "deadline of {}s passed while waiting for {}",
                    deadline.as_secs(),
                    quoted(waiting_for)
                )
            }
            Failure::DeadlineWaitingForExit { deadline } => {
                write!(
                    f,
                    "all lines seen, but QEMU had not exited when the {}s deadline passed",
                    deadline.as_secs()
                )
            }
            Failure::ExitedEarly {
                status,
                waiting_for,
            } => {
                write!(
                    f,
                    "QEMU ended ({status}) while still waiting for {}",
                    quoted(waiting_for)
                )
            }
            Failure::WrongExit {
                expected: ExpectedExit::Code(code),
                status,
            } => {
                write!(f, "QEMU ended with {status}, expected exit status {code}")
            }
            Failure::WrongExit {
                expected: ExpectedExit::Running,
                status,
            } => {
                write!(f, "QEMU ended with {status}, expected it to keep running")
            }
            Failure::ForbiddenLine { line, text } => {
                write!(f, "the console printed `{text}`: {line:?}")
            }
        }
    }
}

fn quoted(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| format!("`{l}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The result of one scenario.
#[derive(Debug)]
pub struct Outcome {
    pub name: String,
    pub elapsed: Duration,
    /// Everything QEMU printed on the console (its stdout), one entry per line.
    pub console: Vec<String>,
    /// What QEMU printed on stderr.
    pub stderr: Vec<String>,
    /// The QEMU command line.
    pub command: String,
    pub failure: Option<Failure>,
    /// For a missed deadline: the hypervisor's state dump and where QEMU's CPUs were.
    pub diagnosis: Vec<String>,
    /// How many console lines came before the deadline (the rest answer the diagnosis).
    pub console_at_deadline: Option<usize>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

fn resolve(workspace: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        workspace.join(path)
    }
}

/// The QEMU arguments for a scenario under a configuration.
pub fn scenario_args(scenario: &Scenario, config: &RunConfig) -> Result<Vec<String>, String> {
    let board = boards::Board::by_name(&scenario.board)
        .ok_or(format!("unknown board `{}`", scenario.board))?;
    let prepared = match &scenario.partitions {
        None => None,
        Some(partitions) => Some(
            config
                .prepared
                .iter()
                .find(|(name, _)| *name == scenario.name)
                .ok_or(format!(
                    "the partition config {} was not built (`cargo xtask test` builds it)",
                    partitions.file.display()
                ))?
                .1
                .as_ref()
                .map_err(|why| {
                    format!(
                        "building the partition config {}: {why}",
                        partitions.file.display()
                    )
                })?,
        ),
    };
    let dtb = match &scenario.dtb {
        _ if prepared.is_some() => prepared.map(|p| resolve(&config.workspace, &p.dtb)),
        Dtb::None => None,
        Dtb::File(path) => Some(resolve(&config.workspace, path)),
        Dtb::Board => Some(
            config
                .board_dtbs
                .iter()
                .find(|(name, _)| *name == scenario.board)
                .map(|(_, path)| path.clone())
                .ok_or(format!(
                    "no firmware device tree was provided for board `{}`",
                    scenario.board
                ))?,
        ),
    };
    let mut extra = scenario.qemu_args.clone();
    if let Some(prepared) = prepared {
        extra.extend(prepared.qemu_args.iter().cloned());
    }
    let kernel = match scenario.hypervisor {
        Hypervisor::Bulkhead => &config.image,
        Hypervisor::Xen => config.xen.as_ref().ok_or(
            "the scenario boots Xen 4.17, whose image was not fetched (`cargo xtask test` fetches it)",
        )?,
        Hypervisor::BulkheadDefmt => config.defmt.as_ref().map(|(image, _)| image).ok_or(
            "the scenario boots the defmt build, which was not built (`cargo xtask test` builds it)",
        )?,
        Hypervisor::BulkheadByUBoot => config.u_boot.as_ref().ok_or(
            "the scenario boots through U-Boot, which was not fetched (`cargo xtask test` fetches Debian's u-boot-rpi)",
        )?,
    };
    let boot = Boot {
        board,
        gic: scenario.gic,
        kernel,
        dtb: dtb.as_deref(),
        bootargs: scenario.bootargs.as_deref(),
        extra: &extra,
    };
    command::qemu_args(&boot, ConsoleMode::Captured).map_err(|e| e.to_string())
}

/// Sends each line read from `source` (without its line ending) until end of file.
fn forward_lines(
    source: impl Read + Send + 'static,
    lines: mpsc::Sender<String>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(source);
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            match reader.read_until(b'\n', &mut buffer) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buffer)
                        .trim_end_matches(['\r', '\n'])
                        .to_string();
                    if lines.send(line).is_err() {
                        return;
                    }
                }
            }
        }
    })
}

/// As [`forward_lines`], for a defmt build's console: frames are decoded into lines first.
fn forward_decoded(
    mut source: impl Read + Send + 'static,
    lines: mpsc::Sender<String>,
    mut console: crate::defmt::Console,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        let mut line = Vec::new();
        loop {
            let n = match source.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            for byte in console.feed(&chunk[..n]) {
                if byte != b'\n' {
                    line.push(byte);
                    continue;
                }
                let text = String::from_utf8_lossy(&line).trim_end_matches('\r').to_string();
                line.clear();
                if lines.send(text).is_err() {
                    return;
                }
            }
        }
    })
}

/// How long to keep reading output after QEMU ended.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Moves the lines still in flight into `log`, until the sender closes or `grace` passes.
fn drain(lines: &mpsc::Receiver<String>, log: &mut Vec<String>, grace: Duration) {
    let until = Instant::now() + grace;
    while let Ok(line) = lines.recv_timeout(until.saturating_duration_since(Instant::now())) {
        log.push(line);
    }
}

/// Waits for the child to exit until `deadline`; kills it and returns `None` after that.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Runs one scenario to its end and reports how it went.
pub fn run_scenario(scenario: &Scenario, config: &RunConfig) -> Outcome {
    let start = Instant::now();
    let mut outcome = Outcome {
        name: scenario.name.clone(),
        elapsed: Duration::ZERO,
        console: Vec::new(),
        stderr: Vec::new(),
        command: String::new(),
        failure: None,
        diagnosis: Vec::new(),
        console_at_deadline: None,
    };
    let mut args = match scenario_args(scenario, config) {
        Ok(args) => args,
        Err(why) => {
            outcome.failure = Some(Failure::Setup(why));
            return outcome;
        }
    };
    // The monitor listens on a socket, so a missed deadline can ask where the CPUs are.
    let monitor = diagnosis::monitor_path(&scenario.name);
    let _ = std::fs::remove_file(&monitor);
    if let Some(at) = args.iter().position(|a| a == "-monitor") {
        if let Some(value) = args.get_mut(at + 1) {
            *value = format!("unix:{},server=on,wait=off", monitor.display());
        }
    }
    outcome.command = format!("{} {}", config.qemu.display(), args.join(" "));
    // Relative paths in a scenario's QEMU arguments are relative to the workspace root.
    let spawned = Command::new(&config.qemu)
        .args(&args)
        .current_dir(&config.workspace)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            outcome.failure = Some(Failure::Spawn {
                qemu: config.qemu.clone(),
                error: e.to_string(),
            });
            return outcome;
        }
    };
    let (console_tx, console_rx) = mpsc::channel();
    let (stderr_tx, stderr_rx) = mpsc::channel();
    let mut readers = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        match (scenario.hypervisor, &config.defmt) {
            (Hypervisor::BulkheadDefmt, Some((_, elf))) => match crate::defmt::Decoder::from_elf(elf) {
                Ok(decoder) => readers.push(forward_decoded(stdout, console_tx, crate::defmt::Console::new(decoder))),
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    outcome.failure = Some(Failure::Setup(e.to_string()));
                    return outcome;
                }
            },
            _ => readers.push(forward_lines(stdout, console_tx)),
        }
    }
    if let Some(stderr) = child.stderr.take() {
        readers.push(forward_lines(stderr, stderr_tx));
    }
    let deadline = start + scenario.deadline;
    let mut matcher =
        Matcher::new(scenario.expect.clone()).with_forbidden(scenario.forbidden.clone());
    let mut stdin = child.stdin.take();
    let mut keyboard = |text: &str| {
        if let Some(stdin) = stdin.as_mut() {
            let _ = stdin.write_all(text.as_bytes()).and_then(|()| stdin.flush());
        }
    };
    let end = watch(&console_rx, &mut matcher, deadline, &mut outcome.console, &mut keyboard);
    if matches!(end, WatchEnd::Deadline) {
        outcome.console_at_deadline = Some(outcome.console.len());
        outcome.diagnosis = diagnosis::diagnose(stdin.as_mut(), &console_rx, &mut outcome.console, &monitor);
    }
    drop(stdin);
    // A forbidden line ends the run at once; so does the last line of a scenario whose
    // machine keeps running.
    let stop_at = match end {
        WatchEnd::Forbidden { .. } => Instant::now(),
        WatchEnd::AllSeen if scenario.exit == ExpectedExit::Running => Instant::now(),
        _ => deadline,
    };
    let status = wait_until(&mut child, stop_at);
    // QEMU has exited or was killed, so its pipes close and the readers finish; a grandchild
    // holding a pipe open must not hang the run, hence the grace period instead of a join.
    drain(&console_rx, &mut outcome.console, DRAIN_GRACE);
    drain(&stderr_rx, &mut outcome.stderr, DRAIN_GRACE);
    drop(readers);
    let _ = std::fs::remove_file(&monitor);
    outcome.elapsed = start.elapsed();
    outcome.failure = judge(end, status, &matcher, scenario)
        .or_else(|| {
            // Lines after the last expected one are checked too.
            outcome.console.iter().find_map(|line| {
                matcher
                    .forbidden_in(line)
                    .map(|text| Failure::ForbiddenLine {
                        line: line.clone(),
                        text: text.to_string(),
                    })
            })
        })
        .or_else(|| run_checks(scenario, &outcome.console));
    outcome
}

/// The scenario's checks of the whole console, in order; the first that fails.
pub fn run_checks(scenario: &Scenario, console: &[String]) -> Option<Failure> {
    scenario.checks.iter().find_map(|c| {
        (c.check)(console)
            .err()
            .map(|why| Failure::Check { what: c.what, why })
    })
}

/// Decides the verdict from how the console watch ended and how QEMU exited.
fn judge(
    end: WatchEnd,
    status: Option<ExitStatus>,
    matcher: &Matcher,
    scenario: &Scenario,
) -> Option<Failure> {
    let deadline = scenario.deadline;
    match (end, status) {
        (WatchEnd::Forbidden { line, text }, _) => Some(Failure::ForbiddenLine { line, text }),
        (WatchEnd::Deadline, _) | (WatchEnd::Closed, None) => {
            Some(Failure::DeadlineWaitingForLines {
                deadline,
                waiting_for: matcher.waiting_for(),
            })
        }
        (WatchEnd::Closed, Some(status)) => Some(Failure::ExitedEarly {
            status: status.to_string(),
            waiting_for: matcher.waiting_for(),
        }),
        (WatchEnd::AllSeen, _) if scenario.exit == ExpectedExit::Running => None,
        (WatchEnd::AllSeen, None) => Some(Failure::DeadlineWaitingForExit { deadline }),
        (WatchEnd::AllSeen, Some(status)) => match scenario.exit {
            ExpectedExit::Code(code) if status.code() == Some(code) => None,
            expected => Some(Failure::WrongExit {
                expected,
                status: status.to_string(),
            }),
        },
    }
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
