//! Statistics of a latency distribution given as a histogram: `(value, count)` pairs in
//! ascending order of value, as the bench guest prints them.

use serde::Serialize;

/// Minimum, lower median, maximum and the 99th percentile of a distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// How many samples.
    pub count: u64,
    pub min: u64,
    /// The sample at index `(count - 1) / 2` once sorted (the guest's definition too).
    pub median: u64,
    /// The sample at index `(count - 1) * 99 / 100` once sorted.
    pub p99: u64,
    pub max: u64,
}

/// The sample at `index` (from 0) of the sorted samples a histogram describes.
fn sample_at(histogram: &[(u64, u64)], index: u64) -> Option<u64> {
    let mut seen = 0u64;
    for &(value, count) in histogram {
        seen = seen.checked_add(count)?;
        if index < seen {
            return Some(value);
        }
    }
    None
}

/// The summary of a histogram; `None` when it holds no samples or its values are not in
/// strictly ascending order.
pub fn summarize(histogram: &[(u64, u64)]) -> Option<Summary> {
    let ascending = histogram.windows(2).all(|pair| pair[0].0 < pair[1].0);
    let count = histogram
        .iter()
        .try_fold(0u64, |total, &(_, count)| total.checked_add(count))?;
    if !ascending || count == 0 {
        return None;
    }
    Some(Summary {
        count,
        min: sample_at(histogram, 0)?,
        median: sample_at(histogram, (count - 1) / 2)?,
        p99: sample_at(histogram, (count - 1) * 99 / 100)?,
        max: sample_at(histogram, count - 1)?,
    })
}

/// `ours / xen`, or `None` when Xen's value is 0.
pub fn ratio(ours: u64, xen: u64) -> Option<f64> {
    (xen != 0).then(|| ours as f64 / xen as f64)
}

/// The fraction of samples at or below each value: the points of a cumulative distribution.
pub fn cumulative(histogram: &[(u64, u64)]) -> Vec<(u64, f64)> {
    let total: u64 = histogram.iter().map(|&(_, count)| count).sum();
    let mut seen = 0u64;
    histogram
        .iter()
        .map(|&(value, count)| {
            seen += count;
            (value, seen as f64 / total.max(1) as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_index_the_sorted_samples() {
        let histogram = [(29, 500), (30, 500)];
        assert_eq!(
            summarize(&histogram),
            Some(Summary { count: 1000, min: 29, median: 29, p99: 30, max: 30 })
        );
        let one = [(271, 1)];
        assert_eq!(
            summarize(&one),
            Some(Summary { count: 1, min: 271, median: 271, p99: 271, max: 271 })
        );
        // 100 samples: the median is the 50th (index 49), the 99th percentile index 98.
        let tail = [(1, 49), (2, 1), (3, 48), (9, 1), (10, 1)];
        assert_eq!(
            summarize(&tail),
            Some(Summary { count: 100, min: 1, median: 2, p99: 9, max: 10 })
        );
    }

    #[test]
    fn empty_unsorted_and_overflowing_histograms_have_no_summary() {
        assert_eq!(summarize(&[]), None);
        assert_eq!(summarize(&[(5, 0)]), None);
        assert_eq!(summarize(&[(30, 1), (29, 1)]), None);
        assert_eq!(summarize(&[(30, 1), (30, 1)]), None);
        assert_eq!(summarize(&[(1, u64::MAX), (2, 1)]), None);
    }

    #[test]
    fn ratios_and_cumulative_fractions() {
        assert_eq!(ratio(58, 29), Some(2.0));
        assert_eq!(ratio(1, 0), None);
        assert_eq!(cumulative(&[(1, 1), (2, 3)]), [(1, 0.25), (2, 1.0)]);
        assert!(cumulative(&[]).is_empty());
    }
}
