//! When a scenario misses its deadline, the harness asks why before it stops QEMU: it types
//! `dump` on the hypervisor console (a dump of every CPU's last exit and every vCPU's
//! interrupts) and reads every CPU's registers from QEMU's monitor (where each CPU is,
//! EL2 or guest, even when the hypervisor cannot answer).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ChildStdin;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// What the harness types on the hypervisor console for the dump (the hypervisor has the input
/// focus from boot).
const DUMP_COMMAND: &[u8] = b"dump\r";
/// The first line of the hypervisor's state dump.
pub const DUMP_START: &str = "bulkhead: state dump";
/// The last line of the hypervisor's state dump.
pub const DUMP_END: &str = "bulkhead: end of state dump";
/// How long the hypervisor gets to answer `dump`.
const DUMP_WAIT: Duration = Duration::from_secs(5);
/// How long the monitor gets to answer, and how long a pause ends its answer.
const MONITOR_WAIT: Duration = Duration::from_secs(3);
const MONITOR_QUIET: Duration = Duration::from_millis(300);

/// Where a scenario's QEMU monitor listens: a socket in the system's temporary directory
/// (short enough for a socket path wherever the workspace is).
pub fn monitor_path(scenario: &str) -> PathBuf {
    std::env::temp_dir().join(format!("bulkhead-{}-{scenario}.monitor", std::process::id()))
}

/// Types `dump` and collects the dump (appending every console line to `log`), then
/// asks the monitor for the registers. Returns the lines to report.
pub fn diagnose(
    stdin: Option<&mut ChildStdin>,
    console: &Receiver<String>,
    log: &mut Vec<String>,
    monitor: &Path,
) -> Vec<String> {
    let mut report = Vec::new();
    let pressed = stdin.is_some_and(|stdin| stdin.write_all(DUMP_COMMAND).and_then(|()| stdin.flush()).is_ok());
    if pressed {
        report.extend(read_dump(console, log));
    } else {
        report.push("`dump` could not be typed on the console".to_string());
    }
    match monitor_registers(monitor) {
        Ok(text) => report.extend(summarise_registers(&text)),
        Err(e) => report.push(format!("QEMU monitor at {}: {e}", monitor.display())),
    }
    report
}

fn read_dump(console: &Receiver<String>, log: &mut Vec<String>) -> Vec<String> {
    let until = Instant::now() + DUMP_WAIT;
    let mut dump = Vec::new();
    let mut inside = false;
    while let Ok(line) = console.recv_timeout(until.saturating_duration_since(Instant::now())) {
        log.push(line.clone());
        inside |= line.contains(DUMP_START);
        if inside {
            dump.push(line.clone());
        }
        if line.contains(DUMP_END) {
            return dump;
        }
    }
    dump.push(format!(
        "the hypervisor did not finish its state dump within {} s of `dump` (a CPU may \
         be stuck at EL2, or no CPU takes console interrupts: see the registers)",
        DUMP_WAIT.as_secs()
    ));
    dump
}

fn monitor_registers(path: &Path) -> std::io::Result<String> {
    let mut stream = UnixStream::connect(path)?;
    stream.set_read_timeout(Some(MONITOR_QUIET))?;
    let _greeting = read_quiet(&mut stream, MONITOR_WAIT);
    stream.write_all(b"info registers -a\n")?;
    Ok(read_quiet(&mut stream, MONITOR_WAIT))
}

/// Reads until the stream has been quiet for a while or `limit` passed.
fn read_quiet(stream: &mut UnixStream, limit: Duration) -> String {
    let until = Instant::now() + limit;
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    while Instant::now() < until {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buffer[..n]),
            Err(_) if !bytes.is_empty() => break,
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// One line per CPU from `info registers -a`: its exception level and PC, with the guest's
/// EL1 exception state when it is in a guest.
pub fn summarise_registers(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cpu: Option<String> = None;
    let mut pc = String::new();
    let mut level = String::new();
    let flush = |cpu: &Option<String>, pc: &str, level: &str, lines: &mut Vec<String>| {
        if let Some(cpu) = cpu {
            lines.push(format!("QEMU {cpu}: {level} pc {pc}"));
        }
    };
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("CPU#") {
            flush(&cpu, &pc, &level, &mut lines);
            cpu = Some(format!("cpu {}", rest.trim()));
            pc.clear();
            level.clear();
        } else if let Some(rest) = line.strip_prefix("PC=") {
            pc = format!("0x{}", rest.split_whitespace().next().unwrap_or("?").trim_start_matches('0'));
        } else if line.starts_with("PSTATE=") {
            level = line
                .split_whitespace()
                .find(|word| word.starts_with("EL") && word.len() == 4)
                .unwrap_or("EL?")
                .to_string();
        }
    }
    flush(&cpu, &pc, &level, &mut lines);
    if lines.is_empty() {
        lines.push("QEMU's monitor gave no registers".to_string());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_are_summarised_per_cpu() {
        let text = "QEMU 10.0.2 monitor - type 'help' for more information\n(qemu) info registers -a\n\
            CPU#0\n PC=0000000040214a3c X00=0000000000000000 X01=0000000000000001\n\
            PSTATE=600003c9 -ZC- EL2h     BTYPE=0\n\
            CPU#1\n PC=ffff800008a1b2c4 X00=0000000000000000\n PSTATE=20000005 --C- EL1h\n(qemu) ";
        assert_eq!(
            summarise_registers(text),
            ["QEMU cpu 0: EL2h pc 0x40214a3c", "QEMU cpu 1: EL1h pc 0xffff800008a1b2c4"]
        );
        assert_eq!(summarise_registers("garbage"), ["QEMU's monitor gave no registers"]);
    }
}
