//! Summaries of the bench guest's timing samples: minimum, median and maximum, and the sorted
//! samples as runs of equal values, which the bench's histogram lines print.

/// Minimum, median and maximum of a set of samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// How many samples.
    pub count: usize,
    /// The smallest sample.
    pub min: u64,
    /// The lower median: the sample at index `(count - 1) / 2` once sorted, so always a
    /// sample itself (the host side computes it the same way).
    pub median: u64,
    /// The largest sample.
    pub max: u64,
}

/// The summary of samples sorted in ascending order; `None` for no samples.
pub fn summarize(sorted: &[u64]) -> Option<Summary> {
    Some(Summary {
        count: sorted.len(),
        min: *sorted.first()?,
        median: *sorted.get((sorted.len() - 1) / 2)?,
        max: *sorted.last()?,
    })
}

/// The runs of equal values of sorted samples, as `(value, count)` in ascending order.
pub fn runs(sorted: &[u64]) -> Runs<'_> {
    Runs { rest: sorted }
}

/// Iterator of [`runs`].
#[derive(Clone, Debug)]
pub struct Runs<'a> {
    rest: &'a [u64],
}

impl Iterator for Runs<'_> {
    type Item = (u64, usize);

    fn next(&mut self) -> Option<(u64, usize)> {
        let value = *self.rest.first()?;
        let count = self.rest.iter().take_while(|&&v| v == value).count();
        self.rest = &self.rest[count..];
        Some((value, count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_lower_middle_sample() {
        assert_eq!(
            summarize(&[3, 5, 8, 9]),
            Some(Summary { count: 4, min: 3, median: 5, max: 9 })
        );
        assert_eq!(
            summarize(&[7]),
            Some(Summary { count: 1, min: 7, median: 7, max: 7 })
        );
        assert_eq!(summarize(&[1, 2, 2]).map(|s| s.median), Some(2));
        assert_eq!(summarize(&[]), None);
    }

    #[test]
    fn runs_group_equal_values_in_order() {
        let sorted = [29, 29, 29, 30, 41, 41];
        let collected: Vec<(u64, usize)> = runs(&sorted).collect();
        assert_eq!(collected, [(29, 3), (30, 1), (41, 2)]);
        assert_eq!(runs(&[]).count(), 0);
        assert_eq!(runs(&[u64::MAX]).collect::<Vec<_>>(), [(u64::MAX, 1)]);
    }
}
