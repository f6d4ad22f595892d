//! Matches console lines against the expected steps, and waits for them with a deadline.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Instant;

use crate::scenario::Expect;

/// Progress through a scenario's expected lines. Console lines that match nothing expected
/// at the current step are skipped.
#[derive(Debug)]
pub struct Matcher {
    steps: Vec<Expect>,
    /// Index of the step being waited for.
    step: usize,
    /// For an [`Expect::AnyOrder`] step: which of its lines were seen.
    seen: Vec<bool>,
}

impl Matcher {
    /// Starts at the first step.
    pub fn new(steps: Vec<Expect>) -> Self {
        let mut matcher = Matcher {
            steps,
            step: 0,
            seen: Vec::new(),
        };
        matcher.enter_step();
        matcher
    }

    /// Sets up the current step, skipping empty groups.
    fn enter_step(&mut self) {
        loop {
            match self.steps.get(self.step) {
                Some(Expect::AnyOrder(group)) if group.is_empty() => self.step += 1,
                Some(Expect::AnyOrder(group)) => {
                    self.seen = vec![false; group.len()];
                    return;
                }
                _ => {
                    self.seen.clear();
                    return;
                }
            }
        }
    }

    /// Takes one console line; returns true if it completed at least one expected line. One
    /// console line can complete several steps when their texts follow each other in it
    /// (`ESR_EL2 0x96000005: EC 0x25 ...` completes `ESR_EL2` then `EC 0x25`).
    pub fn feed(&mut self, line: &str) -> bool {
        let mut rest = line;
        let mut matched = false;
        loop {
            let found = match self.steps.get(self.step) {
                None => None,
                Some(Expect::Line(text)) => rest.find(text.as_str()).map(|at| at + text.len()),
                Some(Expect::AnyOrder(group)) => group
                    .iter()
                    .zip(&self.seen)
                    .enumerate()
                    .filter(|(_, (_, seen))| !**seen)
                    .find_map(|(i, (text, _))| {
                        rest.find(text.as_str()).map(|at| (i, at + text.len()))
                    })
                    .map(|(i, end)| {
                        self.seen[i] = true;
                        end
                    }),
            };
            let Some(end) = found else { return matched };
            matched = true;
            rest = &rest[end..];
            if self.seen.contains(&false) {
                // An unordered group goes on: it waits for its other lines.
                return true;
            }
            self.step += 1;
            self.enter_step();
        }
    }

    /// Whether every step was seen.
    pub fn done(&self) -> bool {
        self.step >= self.steps.len()
    }

    /// The lines still awaited at the current step (empty when done).
    pub fn waiting_for(&self) -> Vec<String> {
        match self.steps.get(self.step) {
            None => Vec::new(),
            Some(Expect::Line(text)) => vec![text.clone()],
            Some(Expect::AnyOrder(group)) => group
                .iter()
                .zip(&self.seen)
                .filter(|(_, seen)| !**seen)
                .map(|(t, _)| t.clone())
                .collect(),
        }
    }
}

/// How watching a console ended.
#[derive(Debug, PartialEq, Eq)]
pub enum WatchEnd {
    /// Every expected line was seen.
    AllSeen,
    /// The console closed (the program ended) first.
    Closed,
    /// The deadline passed first.
    Deadline,
}

/// Feeds lines from `lines` to `matcher` until it is done, the sender side closes, or
/// `deadline` passes. Every line received is appended to `log`.
pub fn watch(
    lines: &Receiver<String>,
    matcher: &mut Matcher,
    deadline: Instant,
    log: &mut Vec<String>,
) -> WatchEnd {
    while !matcher.done() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return WatchEnd::Deadline;
        }
        match lines.recv_timeout(left) {
            Ok(line) => {
                matcher.feed(&line);
                log.push(line);
            }
            Err(RecvTimeoutError::Timeout) => return WatchEnd::Deadline,
            Err(RecvTimeoutError::Disconnected) => return WatchEnd::Closed,
        }
    }
    WatchEnd::AllSeen
}

#[cfg(test)]
#[path = "matcher_tests.rs"]
mod tests;
