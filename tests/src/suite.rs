//! Runs many scenarios, at most `jobs` QEMUs at once, printing each result as it finishes and
//! a closing `N passed, N failed` line.

use std::fmt::Write as _;
use std::fs;
use std::sync::Mutex;
use std::thread;

use crate::runner::{run_scenario, Outcome, RunConfig};
use crate::scenario::Scenario;

/// How many console lines a failure report shows.
pub const LOG_TAIL: usize = 60;

/// The counts of a finished suite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
}

impl Summary {
    /// The closing line CI reads.
    pub fn line(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failed)
    }
}

/// The text printed for one finished scenario: a verdict line, and for a failure the reason,
/// the command and the last [`LOG_TAIL`] console lines.
pub fn report(outcome: &Outcome) -> String {
    let seconds = outcome.elapsed.as_secs_f64();
    let Some(failure) = &outcome.failure else {
        return format!("PASS {} ({seconds:.1}s)\n", outcome.name);
    };
    let mut text = format!("FAIL {} ({seconds:.1}s): {failure}\n", outcome.name);
    if !outcome.command.is_empty() {
        let _ = writeln!(text, "  command: {}", outcome.command);
    }
    // Lines that answered the diagnosis are shown with it, not in the console's tail.
    let console = &outcome.console[..outcome.console_at_deadline.unwrap_or(outcome.console.len()).min(outcome.console.len())];
    let skipped = console.len().saturating_sub(LOG_TAIL);
    let _ = writeln!(
        text,
        "  console ({} lines{}):",
        console.len(),
        if skipped > 0 {
            format!(", last {LOG_TAIL} shown")
        } else {
            String::new()
        }
    );
    for line in &console[skipped..] {
        let _ = writeln!(text, "  | {line}");
    }
    if !outcome.diagnosis.is_empty() {
        let _ = writeln!(text, "  at the deadline (`dump` on the hypervisor console, then QEMU's registers):");
        for line in &outcome.diagnosis {
            let _ = writeln!(text, "  > {line}");
        }
    }
    if !outcome.stderr.is_empty() {
        let _ = writeln!(text, "  QEMU stderr:");
        for line in outcome.stderr.iter().rev().take(20).rev() {
            let _ = writeln!(text, "  ! {line}");
        }
    }
    text
}

fn save_log(outcome: &Outcome, config: &RunConfig) {
    let Some(dir) = &config.log_dir else { return };
    let mut text = format!("$ {}\n", outcome.command);
    for line in &outcome.console {
        text.push_str(line);
        text.push('\n');
    }
    if let Err(e) = fs::create_dir_all(dir)
        .and_then(|()| fs::write(dir.join(format!("{}.log", outcome.name)), text))
    {
        eprintln!(
            "warning: cannot save the console log of {}: {e}",
            outcome.name
        );
    }
}

/// Runs the scenarios and prints as described in the module doc; returns the counts.
pub fn run_all(scenarios: &[Scenario], config: &RunConfig) -> Summary {
    run_each(scenarios, config, |_| {})
}

/// As [`run_all`], and hands every outcome to `seen` as it comes.
pub fn run_each(scenarios: &[Scenario], config: &RunConfig, seen: impl Fn(&Outcome) + Sync) -> Summary {
    let next = Mutex::new(scenarios.iter());
    let summary = Mutex::new(Summary::default());
    let jobs = config.jobs.clamp(1, scenarios.len().max(1));
    thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let Some(scenario) = next.lock().ok().and_then(|mut it| it.next()) else {
                    return;
                };
                let outcome = run_scenario(scenario, config);
                save_log(&outcome, config);
                print!("{}", report(&outcome));
                seen(&outcome);
                if let Ok(mut s) = summary.lock() {
                    if outcome.passed() {
                        s.passed += 1;
                    } else {
                        s.failed += 1;
                    }
                }
            });
        }
    });
    let summary = summary
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    println!("{}", summary.line());
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Failure;
    use std::time::Duration;

    fn outcome(lines: usize, failure: Option<Failure>) -> Outcome {
        Outcome {
            name: "virt-gicv3-4cpus".into(),
            elapsed: Duration::from_millis(1500),
            console: (0..lines).map(|n| format!("line {n}")).collect(),
            stderr: vec!["qemu-system-aarch64: warning".into()],
            command: "qemu-system-aarch64 -machine virt".into(),
            failure,
            diagnosis: Vec::new(),
            console_at_deadline: None,
        }
    }

    #[test]
    fn a_missed_deadline_shows_the_diagnosis_apart_from_the_console() {
        let mut missed = outcome(
            5,
            Some(Failure::DeadlineWaitingForExit {
                deadline: Duration::from_secs(60),
            }),
        );
        missed.console_at_deadline = Some(3);
        missed.diagnosis = vec!["bulkhead: state dump".into(), "QEMU cpu 0: EL1h pc 0x40000000".into()];
        let text = report(&missed);
        assert!(text.contains("console (3 lines):"), "{text}");
        assert!(!text.contains("| line 3"), "{text}");
        assert!(text.contains("  > bulkhead: state dump\n  > QEMU cpu 0: EL1h pc 0x40000000\n"), "{text}");
    }

    #[test]
    fn a_pass_is_one_line() {
        assert_eq!(
            report(&outcome(100, None)),
            "PASS virt-gicv3-4cpus (1.5s)\n"
        );
    }

    #[test]
    fn a_failure_shows_why_the_command_and_the_console_tail() {
        let failure = Failure::DeadlineWaitingForLines {
            deadline: Duration::from_secs(60),
            waiting_for: vec!["bulkhead: cpu 3 online".into()],
        };
        let text = report(&outcome(100, Some(failure)));
        let first = text.lines().next().unwrap();
        assert!(first.starts_with("FAIL virt-gicv3-4cpus"), "{first}");
        assert!(
            first.contains("deadline of 60s") && first.contains("`bulkhead: cpu 3 online`"),
            "{first}"
        );
        assert!(text.contains("  command: qemu-system-aarch64 -machine virt\n"));
        assert!(text.contains("(100 lines, last 60 shown)"));
        assert!(
            !text.contains("| line 39\n")
                && text.contains("| line 40\n")
                && text.contains("| line 99\n")
        );
        assert!(text.contains("! qemu-system-aarch64: warning"));
    }

    #[test]
    fn summary_line_is_what_ci_reads() {
        assert_eq!(
            Summary {
                passed: 3,
                failed: 1
            }
            .line(),
            "3 passed, 1 failed"
        );
    }
}
