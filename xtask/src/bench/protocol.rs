//! Reads the bench guest's report lines (see `tests/guests/src/bin/bench.rs`) from a
//! console log, whichever hypervisor prefixed them: `(bench) bench: bench.result ...` on
//! Bulkhead, `(XEN) DOM1: bench: bench.result ...` on Xen. The guest's name is the word
//! before `: bench.`.

use std::collections::BTreeMap;
use std::fmt;

/// What one guest reported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestReport {
    /// `bench.counter`: the counter frequency in Hz.
    pub frequency: Option<u64>,
    /// Cases in the order their `bench.result` lines came.
    pub cases: Vec<CaseReport>,
    /// `bench.value CASE x0=...`: what a case's call returned.
    pub values: BTreeMap<String, u64>,
    /// `bench.boot cntpct=N`.
    pub boot_count: Option<u64>,
    /// `bench.init cntvct=N`: the Linux bench's init read its virtual counter.
    pub init_count: Option<u64>,
    /// `bench.done` was seen.
    pub done: bool,
    /// `FAIL ...` lines.
    pub failures: Vec<String>,
}

/// One case's numbers as the guest printed them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseReport {
    pub name: String,
    /// From `bench.result`: sample count, minimum, median, maximum.
    pub claimed: [u64; 4],
    /// From the `bench.hist` lines: `(value, count)` in the order printed.
    pub histogram: Vec<(u64, u64)>,
    /// From `bench.result`'s `warmup=`: the untimed rounds before the samples (0 if absent).
    pub warmup: u64,
}

/// A report line that does not read as the protocol says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError {
    pub line: String,
    pub problem: &'static str,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bench guest line {:?}: {} (does the guest binary match this xtask?)",
            self.line, self.problem
        )
    }
}

impl std::error::Error for ProtocolError {}

/// The guest name and what follows `: bench.` (or `: FAIL `) in a console line, if it is a
/// report line.
fn split(line: &str) -> Option<(&str, &str, bool)> {
    let (at, failed) = match (line.find(": bench."), line.find(": FAIL ")) {
        (Some(at), _) => (at, false),
        (None, Some(at)) => (at, true),
        (None, None) => return None,
    };
    let name = line[..at].split_whitespace().next_back()?;
    let rest = if failed { &line[at + 7..] } else { &line[at + 8..] };
    Some((name, rest, failed))
}

/// The value of `key=` among space-separated words.
fn field(words: &[&str], key: &str) -> Option<u64> {
    let text = words.iter().find_map(|w| w.strip_prefix(key)?.strip_prefix('='))?;
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Reads every guest's report lines from a console log; other lines are ignored.
pub fn parse<S: AsRef<str>>(lines: &[S]) -> Result<BTreeMap<String, GuestReport>, ProtocolError> {
    let mut guests: BTreeMap<String, GuestReport> = BTreeMap::new();
    for line in lines.iter().map(AsRef::as_ref) {
        let Some((name, rest, failed)) = split(line) else { continue };
        let report = guests.entry(name.to_string()).or_default();
        if failed {
            report.failures.push(rest.to_string());
            continue;
        }
        let bad = |problem| ProtocolError { line: line.to_string(), problem };
        let words: Vec<&str> = rest.split_whitespace().collect();
        match words.as_slice() {
            ["counter", hz] => {
                report.frequency = Some(hz.parse().map_err(|_| bad("the frequency is not a number"))?)
            }
            ["result", case, fields @ ..] => {
                let value = |key| field(fields, key).ok_or(bad("a result needs n, min, median and max"));
                let claimed = [value("n")?, value("min")?, value("median")?, value("max")?];
                let warmup = field(fields, "warmup").unwrap_or(0);
                report.cases.push(CaseReport { name: case.to_string(), claimed, histogram: Vec::new(), warmup });
            }
            ["hist", case, runs @ ..] => {
                let entry = report
                    .cases
                    .iter_mut()
                    .rfind(|c| c.name == *case)
                    .ok_or(bad("a histogram line before its case's result line"))?;
                for run in runs {
                    let (value, count) = run.split_once('*').ok_or(bad("a run is VALUE*COUNT"))?;
                    let number = |text: &str| text.parse::<u64>().map_err(|_| bad("a run is VALUE*COUNT"));
                    entry.histogram.push((number(value)?, number(count)?));
                }
            }
            ["value", case, fields @ ..] => {
                let x0 = field(fields, "x0").ok_or(bad("a value line needs x0=0x..."))?;
                report.values.insert(case.to_string(), x0);
            }
            ["boot", fields @ ..] => {
                report.boot_count = Some(field(fields, "cntpct").ok_or(bad("a boot line needs cntpct=N"))?)
            }
            ["init", fields @ ..] => {
                report.init_count = Some(field(fields, "cntvct").ok_or(bad("an init line needs cntvct=N"))?)
            }
            ["done"] => report.done = true,
            _ => return Err(bad("unknown report line")),
        }
    }
    Ok(guests)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BULKHEAD: &[&str] = &[
        "bulkhead: cpu 0 online (mpidr 0x0)",
        "(bench) bench: bench.counter 62500000",
        "(bench) bench: bench.result null-trap n=1000 min=29 median=29 max=30 warmup=16",
        "(bench) bench: bench.hist null-trap 29*500 30*400",
        "(bench) bench: bench.hist null-trap 31*100",
        "(bench) bench: bench.value xen-version x0=0xffffffffffffffda",
        "(bench) bench: bench.done",
    ];

    #[test]
    fn bulkhead_lines_are_read() {
        let guests = parse(BULKHEAD).unwrap();
        let bench = &guests["bench"];
        assert_eq!(bench.frequency, Some(62_500_000));
        assert_eq!(bench.cases.len(), 1);
        assert_eq!(bench.cases[0].claimed, [1000, 29, 29, 30]);
        assert_eq!(bench.cases[0].histogram, [(29, 500), (30, 400), (31, 100)]);
        assert_eq!(bench.cases[0].warmup, 16);
        assert_eq!(bench.values["xen-version"], (-38i64) as u64);
        assert!(bench.done && bench.failures.is_empty());
    }

    #[test]
    fn xen_lines_and_two_guests_are_told_apart() {
        let lines = [
            "(XEN) DOM1: boot1: bench.boot cntpct=123",
            "(XEN) DOM2: boot2: bench.boot cntpct=0x10",
            "(XEN) DOM2: boot2: bench.done",
            "(XEN) DOM1: boot1: FAIL unexpected exception: synchronous",
            "(XEN) DOM3: linux: bench.init cntvct=57830994",
        ];
        let guests = parse(&lines).unwrap();
        assert_eq!(guests["linux"].init_count, Some(57_830_994));
        assert_eq!(guests["boot1"].boot_count, Some(123));
        assert_eq!(guests["boot2"].boot_count, Some(16));
        assert!(guests["boot2"].done && !guests["boot1"].done);
        assert_eq!(guests["boot1"].failures, ["unexpected exception: synchronous"]);
    }

    #[test]
    fn malformed_report_lines_are_errors_naming_the_line() {
        let cases: [(&str, &str); 6] = [
            ("linux: bench.init cntvct=x", "an init line needs cntvct=N"),
            ("bench: bench.result x n=1 min=2", "a result needs n, min, median and max"),
            ("bench: bench.hist x 1*1", "a histogram line before its case's result line"),
            ("bench: bench.counter fast", "the frequency is not a number"),
            ("bench: bench.boot", "a boot line needs cntpct=N"),
            ("bench: bench.frobnicate", "unknown report line"),
        ];
        for (line, problem) in cases {
            assert_eq!(parse(&[line]), Err(ProtocolError { line: line.into(), problem }), "{line}");
        }
        let histogram = ["b: bench.result x n=1 min=1 median=1 max=1", "b: bench.hist x 1x1"];
        assert_eq!(parse(&histogram).unwrap_err().problem, "a run is VALUE*COUNT");
        assert!(parse(&["no report here", "(XEN) Freed 348kB init memory."]).unwrap().is_empty());
    }
}
