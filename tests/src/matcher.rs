//! Matches console lines against the expected steps, and waits for them with a deadline.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Instant;

use crate::scenario::Expect;

/// Progress through a scenario's expected lines. Console lines that match nothing expected
/// at the current step are skipped; a line containing a forbidden text ends the run.
#[derive(Debug)]
pub struct Matcher {
    steps: Vec<Expect>,
    /// Index of the step being waited for.
    step: usize,
    /// For an [`Expect::AnyOrder`] step: which of its lines were seen. For an
    /// [`Expect::Interleaved`] step: how many lines of each sequence were seen.
    progress: Vec<usize>,
    /// Texts that fail the scenario wherever they appear.
    forbidden: Vec<String>,
}

impl Matcher {
    /// Starts at the first step, with nothing forbidden.
    pub fn new(steps: Vec<Expect>) -> Self {
        let mut matcher = Matcher {
            steps,
            step: 0,
            progress: Vec::new(),
            forbidden: Vec::new(),
        };
        matcher.enter_step();
        matcher
    }

    /// The same matcher, failing on any line that contains one of `texts`.
    pub fn with_forbidden(mut self, texts: Vec<String>) -> Self {
        self.forbidden = texts;
        self
    }

    /// The forbidden text `line` contains, if any.
    pub fn forbidden_in(&self, line: &str) -> Option<&str> {
        self.forbidden
            .iter()
            .find(|text| line.contains(text.as_str()))
            .map(String::as_str)
    }

    /// Sets up the current step, skipping empty groups.
    fn enter_step(&mut self) {
        loop {
            let targets: Vec<usize> = match self.steps.get(self.step) {
                Some(Expect::AnyOrder(group)) => vec![1; group.len()],
                Some(Expect::Interleaved(sequences)) => sequences.iter().map(Vec::len).collect(),
                _ => {
                    self.progress.clear();
                    return;
                }
            };
            if targets.iter().all(|t| *t == 0) {
                self.step += 1;
                continue;
            }
            self.progress = vec![0; targets.len()];
            return;
        }
    }

    /// The texts the current step can take next, each with its slot in `progress`.
    fn candidates(&self) -> Vec<(usize, &str)> {
        match self.steps.get(self.step) {
            // Input is typed, not awaited.
            None | Some(Expect::Type(_)) => Vec::new(),
            Some(Expect::Line(text)) => vec![(0, text.as_str())],
            Some(Expect::AnyOrder(group)) => group
                .iter()
                .enumerate()
                .filter(|(i, _)| self.progress.get(*i) == Some(&0))
                .map(|(i, text)| (i, text.as_str()))
                .collect(),
            Some(Expect::Interleaved(sequences)) => sequences
                .iter()
                .enumerate()
                .filter_map(|(i, sequence)| {
                    let next = sequence.get(*self.progress.get(i)?)?;
                    Some((i, next.as_str()))
                })
                .collect(),
        }
    }

    /// Whether every line of the current group was seen (always true for a single line).
    fn step_complete(&self) -> bool {
        match self.steps.get(self.step) {
            Some(Expect::AnyOrder(group)) => self.progress.iter().sum::<usize>() == group.len(),
            Some(Expect::Interleaved(sequences)) => sequences
                .iter()
                .zip(&self.progress)
                .all(|(sequence, seen)| *seen == sequence.len()),
            _ => true,
        }
    }

    /// Takes one console line; returns true if it completed at least one expected line. One
    /// console line can complete several steps when their texts follow each other in it
    /// (`ESR_EL2 0x96000005: EC 0x25 ...` completes `ESR_EL2` then `EC 0x25`).
    pub fn feed(&mut self, line: &str) -> bool {
        let mut rest = line;
        let mut matched = false;
        loop {
            let found = self
                .candidates()
                .into_iter()
                .find_map(|(slot, text)| rest.find(text).map(|at| (slot, at + text.len())));
            let Some((slot, end)) = found else {
                return matched;
            };
            matched = true;
            rest = &rest[end..];
            if let Some(seen) = self.progress.get_mut(slot) {
                *seen += 1;
            }
            if !self.step_complete() {
                // A group goes on: it waits for its other lines.
                return true;
            }
            self.step += 1;
            self.enter_step();
        }
    }

    /// What to type now: the current step is an [`Expect::Type`].
    pub fn pending_input(&self) -> Option<&str> {
        match self.steps.get(self.step) {
            Some(Expect::Type(text)) => Some(text),
            _ => None,
        }
    }

    /// The pending input was typed: on to the next step.
    pub fn typed(&mut self) {
        if self.pending_input().is_some() {
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
        self.candidates()
            .into_iter()
            .map(|(_, text)| text.to_string())
            .collect()
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
    /// A line contained a forbidden text.
    Forbidden { line: String, text: String },
}

/// Feeds lines from `lines` to `matcher` until it is done, a line holds a forbidden text, the
/// sender side closes, or `deadline` passes. Every line received is appended to `log`. Input
/// steps are given to `keyboard` when their turn comes.
pub fn watch(
    lines: &Receiver<String>,
    matcher: &mut Matcher,
    deadline: Instant,
    log: &mut Vec<String>,
    keyboard: &mut dyn FnMut(&str),
) -> WatchEnd {
    loop {
        while let Some(text) = matcher.pending_input() {
            keyboard(text);
            matcher.typed();
        }
        if matcher.done() {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return WatchEnd::Deadline;
        }
        match lines.recv_timeout(left) {
            Ok(line) => {
                if let Some(text) = matcher.forbidden_in(&line) {
                    let text = text.to_string();
                    log.push(line.clone());
                    return WatchEnd::Forbidden { line, text };
                }
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
