//! Boots one bench configuration in QEMU and keeps its console until every bench guest has
//! said `bench.done` or `FAIL`, QEMU exits, or the deadline passes. QEMU is then ended: Xen
//! does not switch the machine off when its last domain stops, so "done" is the end.

use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use qemu_tests::command::QEMU;

/// How a boot ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Every guest said `bench.done` or `FAIL`.
    GuestsFinished,
    /// QEMU exited by itself first.
    Exited(String),
    /// The deadline passed first.
    Deadline(Duration),
}

/// Why QEMU could not be run or its log kept.
#[derive(Debug)]
pub enum ConsoleError {
    Spawn(std::io::Error),
    Log { path: PathBuf, source: std::io::Error },
}

impl fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsoleError::Spawn(e) => write!(f, "cannot start {QEMU}: {e}"),
            ConsoleError::Log { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for ConsoleError {}

/// Whether `line` ends guest `name`'s report.
pub fn finishes(line: &str, name: &str) -> bool {
    [format!("{name}: bench.done"), format!("{name}: FAIL")]
        .iter()
        .any(|end| line.contains(end.as_str()))
}

/// Runs QEMU with `args` until the guests in `guests` have finished, QEMU exits or `deadline`
/// passes; writes the console (stdout, then stderr) to `log` and returns the stdout lines.
pub fn boot(
    args: &[String],
    guests: &[&str],
    deadline: Duration,
    log: &Path,
) -> Result<(Vec<String>, End), ConsoleError> {
    let mut child = Command::new(QEMU)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(ConsoleError::Spawn)?;
    let (sender, receiver) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
    }
    let stderr = child.stderr.take().map(|mut pipe| {
        thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
            text
        })
    });
    let until = Instant::now() + deadline;
    let mut lines: Vec<String> = Vec::new();
    let mut waiting: Vec<&str> = guests.to_vec();
    let end = loop {
        if waiting.is_empty() {
            break End::GuestsFinished;
        }
        match receiver.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                waiting.retain(|name| !finishes(&line, name));
                lines.push(line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                break End::Exited(status);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if Instant::now() >= until {
            break End::Deadline(deadline);
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let stderr = stderr.and_then(|reader| reader.join().ok()).unwrap_or_default();
    let mut text = format!("$ {QEMU} {}\n", args.join(" "));
    for line in &lines {
        text.push_str(line.trim_end_matches('\r'));
        text.push('\n');
    }
    text.push_str(&stderr);
    fs::write(log, text).map_err(|source| ConsoleError::Log { path: log.to_path_buf(), source })?;
    Ok((lines, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_finishes_with_done_or_fail() {
        assert!(finishes("(XEN) DOM1: bench: bench.done", "bench"));
        assert!(finishes("(boot2) boot2: FAIL panic", "boot2"));
        assert!(!finishes("(boot2) boot2: bench.done", "boot1"));
        assert!(!finishes("(bench) bench: bench.result x n=1", "bench"));
    }
}
