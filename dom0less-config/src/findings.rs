//! Bounded lists of errors and warnings: repeats are dropped and, past a cap, findings are
//! only counted, so a fault repeated throughout a hostile tree cannot fill the heap.

use alloc::vec::Vec;

use crate::error::{ConfigError, Warning};

/// Most errors one validation lists; the others are counted in [`ConfigError::MoreErrors`].
pub const MAX_ERRORS: usize = 32;
/// Most warnings one validation lists; the others are counted in [`Warning::MoreWarnings`].
pub const MAX_WARNINGS: usize = 32;

/// Findings of one kind, at most `limit` distinct ones kept.
pub(crate) struct Findings<T> {
    items: Vec<T>,
    limit: usize,
    omitted: usize,
}

impl<T: PartialEq> Findings<T> {
    fn new(limit: usize) -> Self {
        Self {
            items: Vec::new(),
            limit,
            omitted: 0,
        }
    }

    /// Adds a finding unless an equal one is listed; past the cap it is only counted.
    pub(crate) fn push(&mut self, item: T) {
        if self.items.contains(&item) {
            return;
        }
        if self.items.len() >= self.limit {
            self.omitted = self.omitted.saturating_add(1);
        } else {
            self.items.push(item);
        }
    }

    /// As [`Findings::push`], for loops over pairs, whose findings can outnumber the input:
    /// past the cap the finding is counted without being built (or compared).
    pub(crate) fn push_with(&mut self, make: impl FnOnce() -> T) {
        if self.items.len() >= self.limit {
            self.omitted = self.omitted.saturating_add(1);
        } else {
            self.push(make());
        }
    }

    /// Whether nothing was found.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The listed findings, then one naming how many were left out, if any were.
    fn finish(mut self, more: impl FnOnce(usize) -> T) -> Vec<T> {
        if self.omitted > 0 {
            self.items.push(more(self.omitted));
        }
        self.items
    }
}

/// Errors found by one validation.
pub(crate) type Errors = Findings<ConfigError>;
/// Warnings found by one validation.
pub(crate) type Warnings = Findings<Warning>;

impl Errors {
    /// An empty list capped at [`MAX_ERRORS`].
    pub(crate) fn errors() -> Self {
        Self::new(MAX_ERRORS)
    }

    /// The errors, ending with [`ConfigError::MoreErrors`] when some were left out.
    pub(crate) fn into_vec(self) -> Vec<ConfigError> {
        self.finish(|omitted| ConfigError::MoreErrors { omitted })
    }
}

impl Warnings {
    /// An empty list capped at [`MAX_WARNINGS`].
    pub(crate) fn warnings() -> Self {
        Self::new(MAX_WARNINGS)
    }

    /// The warnings, ending with [`Warning::MoreWarnings`] when some were left out.
    pub(crate) fn into_vec(self) -> Vec<Warning> {
        self.finish(|omitted| Warning::MoreWarnings { omitted })
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::String;

    use super::*;

    fn error(n: usize) -> ConfigError {
        ConfigError::EmptyPool {
            pool: alloc::format!("/chosen/pool{n}"),
        }
    }

    #[test]
    fn repeats_are_dropped_and_the_rest_counted() {
        let mut errors = Errors::errors();
        for _ in 0..1000 {
            errors.push(error(0));
        }
        for n in 1..MAX_ERRORS + 10 {
            errors.push(error(n));
        }
        let list = errors.into_vec();
        assert_eq!(list.len(), MAX_ERRORS + 1);
        assert_eq!(list[0], error(0));
        assert_eq!(list[MAX_ERRORS], ConfigError::MoreErrors { omitted: 10 });
    }

    #[test]
    fn short_lists_are_unchanged() {
        let mut warnings = Warnings::warnings();
        warnings.push(Warning::Dom0Ignored {
            node: String::from("/chosen/module"),
        });
        assert_eq!(warnings.into_vec().len(), 1);
    }
}
