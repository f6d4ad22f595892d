//! `cargo xtask stress`: boots each selected QEMU scenario many times, two QEMUs at once by
//! default (so every run has a neighbour loading the host), and counts the runs that passed,
//! failed and hung (missed their deadline). Outside the normal suite: it takes a long time.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use qemu_tests::runner::Failure;
use qemu_tests::{run_each, Scenario};

use crate::test::{self, Selection, TestError};
use crate::workspace::Profile;

/// What happened to the runs of one scenario.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub hung: usize,
    pub failed: usize,
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let runs = self.passed + self.hung + self.failed;
        write!(f, "{runs} runs: {} passed, {} hung, {} failed otherwise", self.passed, self.hung, self.failed)
    }
}

/// The scenario a repeated run belongs to: `NAME#RUN` names run RUN of NAME.
pub fn base_name(run_name: &str) -> &str {
    run_name.split('#').next().unwrap_or(run_name)
}

/// `runs` copies of each scenario, interleaved (every scenario's first run, then every second
/// run, ...), named `NAME#RUN`.
pub fn repeat(scenarios: &[Scenario], runs: usize) -> Vec<Scenario> {
    (1..=runs)
        .flat_map(|run| {
            scenarios.iter().map(move |s| Scenario {
                name: format!("{}#{run}", s.name),
                ..s.clone()
            })
        })
        .collect()
}

/// Runs the stress test; fails if any run did not pass.
pub fn stress(filter: &str, runs: usize, jobs: usize, profile: Profile) -> Result<(), TestError> {
    let selection = Selection { filter: Some(filter), pending: false };
    let (scenarios, _) = test::select(qemu_tests::scenarios::all(), &selection);
    if scenarios.is_empty() {
        return Err(TestError::NoScenario { filter: filter.to_string() });
    }
    let mut config = test::prepare(&scenarios, jobs, profile)?;
    // Each repeated run boots what its scenario's build prepared.
    let prepared = config.prepared.clone();
    for scenario in repeat(&scenarios, runs) {
        if let Some((_, built)) = prepared.iter().find(|(name, _)| name == base_name(&scenario.name)) {
            config.prepared.push((scenario.name.clone(), built.clone()));
        }
    }
    let runs_list = repeat(&scenarios, runs);
    println!(
        "xtask: stress: {} scenarios x {runs} runs, at most {} QEMUs at once",
        scenarios.len(),
        config.jobs
    );
    let tallies: Mutex<BTreeMap<String, Tally>> = Mutex::new(BTreeMap::new());
    let summary = run_each(&runs_list, &config, |outcome| {
        if let Ok(mut tallies) = tallies.lock() {
            let tally = tallies.entry(base_name(&outcome.name).to_string()).or_default();
            match &outcome.failure {
                None => tally.passed += 1,
                Some(Failure::DeadlineWaitingForLines { .. } | Failure::DeadlineWaitingForExit { .. }) => tally.hung += 1,
                Some(_) => tally.failed += 1,
            }
        }
    });
    let tallies = tallies.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
    for (name, tally) in &tallies {
        println!("xtask: stress: {name}: {tally}");
    }
    if summary.failed > 0 {
        return Err(TestError::Failed { failed: summary.failed, total: runs_list.len() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_interleaved_and_named_after_their_scenario() {
        let all = qemu_tests::scenarios::all();
        let two: Vec<Scenario> = all.into_iter().filter(|s| s.name.contains("linux")).take(2).collect();
        let names: Vec<String> = repeat(&two, 2).into_iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                format!("{}#1", two[0].name),
                format!("{}#1", two[1].name),
                format!("{}#2", two[0].name),
                format!("{}#2", two[1].name)
            ]
        );
        assert_eq!(base_name(&names[3]), two[1].name);
        assert_eq!(base_name("plain"), "plain");
    }

    #[test]
    fn a_tally_reads_as_a_sentence() {
        let tally = Tally { passed: 29, hung: 1, failed: 0 };
        assert_eq!(tally.to_string(), "30 runs: 29 passed, 1 hung, 0 failed otherwise");
    }
}
