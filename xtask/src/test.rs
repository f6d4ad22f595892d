//! `cargo xtask test`: host unit tests, then the image, then every QEMU scenario.

use std::fmt;

use qemu_tests::{run_all, Dtb, RunConfig, Scenario};

use crate::build::{self, BuildError};
use crate::debian::{Debian, DebianError};
use crate::prereq::{self, PrereqError};
use crate::shell::{self, ShellError};
use crate::workspace::{self, Profile};

/// Why the tests did not pass.
#[derive(Debug)]
pub enum TestError {
    HostTests(ShellError),
    Build(BuildError),
    Prereq(PrereqError),
    Dtb { board: String, error: DebianError },
    NoScenario { filter: String },
    Failed { failed: usize, total: usize },
}

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestError::HostTests(e) => write!(f, "host unit tests failed: {e}"),
            TestError::Build(e) => write!(f, "{e}"),
            TestError::Prereq(e) => write!(f, "{e}"),
            TestError::Dtb { board, error } => {
                write!(f, "device tree for board `{board}`: {error}")
            }
            TestError::NoScenario { filter } => {
                write!(f, "no QEMU scenario name contains `{filter}`")
            }
            TestError::Failed { failed, total } => {
                write!(f, "{failed} of {total} QEMU scenarios failed")
            }
        }
    }
}

impl std::error::Error for TestError {}

/// The scenarios whose name contains `filter` (all without one).
pub fn select(all: Vec<Scenario>, filter: Option<&str>) -> Vec<Scenario> {
    all.into_iter()
        .filter(|s| filter.is_none_or(|f| s.name.contains(f)))
        .collect()
}

/// Runs the host unit tests (unless `host_tests` is false), builds the image and runs the
/// selected QEMU scenarios; fails if anything fails.
pub fn test(
    jobs: usize,
    filter: Option<&str>,
    profile: Profile,
    host_tests: bool,
) -> Result<(), TestError> {
    // Some crates' build scripts may want the bare-metal target, so add it first.
    prereq::ensure_target().map_err(TestError::Prereq)?;
    if host_tests {
        println!("xtask: host unit tests");
        shell::run(build::cargo().args(["test", "--workspace", "--no-fail-fast"]))
            .map_err(TestError::HostTests)?;
    }

    let scenarios = select(qemu_tests::scenarios::all(), filter);
    if scenarios.is_empty() {
        return Err(TestError::NoScenario {
            filter: filter.unwrap_or_default().to_string(),
        });
    }
    println!("xtask: building the hypervisor image");
    let image = build::build(profile).map_err(TestError::Build)?;
    prereq::ensure_qemu().map_err(TestError::Prereq)?;
    prereq::ensure_dtc().map_err(TestError::Prereq)?;

    let mut config = RunConfig::new(image, workspace::root());
    config.jobs = jobs;
    config.log_dir = Some(workspace::target_dir().join("qemu-logs"));
    let mut debian = Debian::new();
    for scenario in scenarios.iter().filter(|s| s.dtb == Dtb::Board) {
        if config
            .board_dtbs
            .iter()
            .any(|(name, _)| *name == scenario.board)
        {
            continue;
        }
        let dtb_error = |error| TestError::Dtb {
            board: scenario.board.clone(),
            error,
        };
        if let Some(board) = boards::Board::by_name(&scenario.board) {
            if let Some(dtb) = debian.board_dtb(board).map_err(dtb_error)? {
                config.board_dtbs.push((scenario.board.clone(), dtb));
            }
        }
    }

    println!(
        "xtask: {} QEMU scenarios, at most {} at once",
        scenarios.len(),
        config.jobs
    );
    let summary = run_all(&scenarios, &config);
    if summary.failed > 0 {
        return Err(TestError::Failed {
            failed: summary.failed,
            total: scenarios.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_selects_by_name() {
        let all = qemu_tests::scenarios::all();
        let total = all.len();
        assert_eq!(select(all.clone(), None).len(), total);
        let gicv2 = select(all.clone(), Some("gicv2"));
        assert!(!gicv2.is_empty() && gicv2.iter().all(|s| s.name.contains("gicv2")));
        assert!(select(all, Some("no such scenario")).is_empty());
    }
}
