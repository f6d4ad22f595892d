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

/// Runs per histogram line: short enough for Xen's 128-byte console line buffer.
pub const RUNS_PER_LINE: usize = 6;

/// Hands `line` the report lines `cargo xtask bench` reads for one case, from samples sorted
/// in ascending order: `bench.result CASE n=N min=A median=B max=C warmup=W`, then
/// `bench.hist CASE VALUE*COUNT ...` lines of at most [`RUNS_PER_LINE`] runs. Nothing for no
/// samples.
pub fn report(case: &str, sorted: &[u64], warmup: usize, mut line: impl FnMut(core::fmt::Arguments<'_>)) {
    let Some(Summary { count, min, median, max }) = summarize(sorted) else {
        return;
    };
    line(format_args!("bench.result {case} n={count} min={min} median={median} max={max} warmup={warmup}"));
    let mut chunk = [(0, 0); RUNS_PER_LINE];
    let mut filled = 0;
    for run in runs(sorted) {
        chunk[filled] = run;
        filled += 1;
        if filled == RUNS_PER_LINE {
            line(format_args!("bench.hist {case} {}", RunList(&chunk)));
            filled = 0;
        }
    }
    if filled > 0 {
        line(format_args!("bench.hist {case} {}", RunList(&chunk[..filled])));
    }
}

/// Runs printed as `VALUE*COUNT` separated by spaces.
struct RunList<'a>(&'a [(u64, usize)]);

impl core::fmt::Display for RunList<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (index, (value, count)) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{value}*{count}")?;
        }
        Ok(())
    }
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
    fn report_lines_are_the_summary_then_the_runs_six_a_line() {
        let sorted: Vec<u64> = (1..=8).chain([8, 9]).collect();
        let mut lines = Vec::new();
        report("rt", &sorted, 16, |args| lines.push(args.to_string()));
        assert_eq!(
            lines,
            [
                "bench.result rt n=10 min=1 median=5 max=9 warmup=16",
                "bench.hist rt 1*1 2*1 3*1 4*1 5*1 6*1",
                "bench.hist rt 7*1 8*2 9*1",
            ]
        );
        let mut none = 0;
        report("rt", &[], 16, |_| none += 1);
        assert_eq!(none, 0);
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
