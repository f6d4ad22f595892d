//! The isolation rows (issue 9): what the null-pool CPU executes on each case's path, counted
//! by the plugin, with the bench guest alone (the baseline) and beside a saturated credit2
//! pool, and whether the two agree within [`TOLERANCE`].

use serde::Serialize;

use super::plugin::Sample;
use super::results::Cell;
use super::rows::{Report, LATENCY_CASES};

/// The `spin` partitions of `isolation-saturated.dts`.
pub const NEIGHBOURS: [&str; 3] = ["spin1", "spin2", "spin3"];

/// The cases compared, and what the instructions counted for one sample are.
pub const CASES: [(&str, &str); 4] = [
    ("null-trap", "null trap: PSCI_VERSION over HVC, trap to return"),
    ("mmio-read", "trapped MMIO read: UART flag register"),
    ("xen-version", "xen_version hypercall (hvc #0xea1)"),
    ("timer-irq", "virtual timer IRQ, guest in WFI: WFI to the timer's acknowledge"),
];
use super::stats;

/// How far the saturated median may stray from the baseline's and still be "unchanged".
pub const TOLERANCE: f64 = 0.05;

/// One case, baseline against saturated.
#[derive(Clone, Debug, Serialize)]
pub struct IsolationRow {
    pub case: String,
    pub what: String,
    /// Always `instructions`: executed by the marked CPU between the sample's two markers.
    pub unit: String,
    pub baseline: Cell,
    pub saturated: Cell,
    /// The saturated median over the baseline's.
    pub ratio: Option<f64>,
    /// `within 5%`, `not within 5%`, or `not measured`.
    pub verdict: String,
    /// Xen is not measured here; why.
    pub xen: Cell,
}

/// A case's samples as a histogram (`(value, count)`, values ascending), or why there are none.
pub type Histogram = Result<Vec<(u64, u64)>, String>;

/// What the plugin counted in one run, split by the guest's cases.
pub struct Counted {
    /// QEMU's index of the CPU the markers came from.
    pub cpu: Option<u32>,
    /// Per case, in the guest's order.
    pub cases: Vec<(String, Histogram)>,
}

/// Splits the plugin's samples of one run into the guest's cases, in the guest's order: each
/// case made `warmup` marked rounds, then `n` samples. Every sample must come from one CPU.
pub fn split(report: &Report<'_>, samples: &[Sample]) -> Counted {
    let fail = |why: String| Counted {
        cpu: None,
        cases: LATENCY_CASES.iter().map(|(case, _)| (case.to_string(), Err(why.clone()))).collect(),
    };
    let report = match report {
        Ok(report) => report,
        Err(why) => return fail(why.clone()),
    };
    let cpu = samples.first().map(|s| s.cpu);
    if let Some(other) = samples.iter().find(|s| Some(s.cpu) != cpu) {
        return fail(format!("markers on CPU {} and CPU {}: the bench guest must have one CPU", cpu.unwrap_or(0), other.cpu));
    }
    let expected: u64 = report.cases.iter().map(|c| c.warmup + c.claimed[0]).sum();
    if expected != samples.len() as u64 {
        return fail(format!("the plugin counted {} samples, the guest made {expected}", samples.len()));
    }
    let mut rest = samples;
    let mut cases = Vec::new();
    for case in &report.cases {
        let (warmup, count) = (case.warmup as usize, case.claimed[0] as usize);
        let (mine, after) = rest.split_at(warmup + count);
        rest = after;
        let mut values: Vec<u64> = mine[warmup..].iter().map(|s| s.instructions).collect();
        values.sort_unstable();
        let mut histogram: Vec<(u64, u64)> = Vec::new();
        for value in values {
            match histogram.last_mut() {
                Some((last, count)) if *last == value => *count += 1,
                _ => histogram.push((value, 1)),
            }
        }
        cases.push((case.name.clone(), Ok(histogram)));
    }
    Counted { cpu, cases }
}

/// A case's cell in one run.
fn cell(counted: &Counted, case: &str) -> Cell {
    match counted.cases.iter().find(|(name, _)| name == case) {
        None => Cell::NotMeasured { why: format!("no result for `{case}`") },
        Some((_, Err(why))) => Cell::NotMeasured { why: why.clone() },
        Some((_, Ok(histogram))) => match stats::summarize(histogram) {
            Some(summary) => Cell::Measured { summary, histogram: histogram.clone(), returned: None },
            None => Cell::NotMeasured { why: format!("no samples for `{case}`") },
        },
    }
}

/// The verdict for a ratio, said plainly.
pub fn verdict(ratio: Option<f64>) -> String {
    match ratio {
        // The margin absorbs rounding: 0.95 and 1.05 themselves are within.
        Some(r) if (r - 1.0).abs() <= TOLERANCE + 1e-9 => "within 5%".into(),
        Some(r) => format!("not within 5% ({:+.1}%)", (r - 1.0) * 100.0),
        None => "not measured".into(),
    }
}

/// The isolation rows, one per case of [`CASES`].
pub fn rows(baseline: &Counted, saturated: &Counted) -> Vec<IsolationRow> {
    CASES
        .iter()
        .map(|&(case, what)| {
            let (baseline, saturated) = (cell(baseline, case), cell(saturated, case));
            let ratio = match (baseline.typical(), saturated.typical()) {
                (Some(base), Some(loaded)) => stats::ratio(loaded, base),
                _ => None,
            };
            IsolationRow {
                case: case.into(),
                what: what.into(),
                unit: "instructions".into(),
                baseline,
                saturated,
                ratio,
                verdict: verdict(ratio),
                xen: Cell::NotMeasured { why: "Debian's Xen 4.17 is built without the null scheduler; see docs/bench.md".into() },
            }
        })
        .collect()
}

/// The isolation rows as a Markdown table.
pub fn table(rows: &[IsolationRow]) -> String {
    let mut text = String::from("| Case (instructions on the null-pool CPU) | Baseline | Saturated | Saturated / baseline | Verdict | Xen 4.17 |\n");
    text.push_str("|------|----------|-----------|----------------------|---------|----------|\n");
    for row in rows {
        let ratio = row.ratio.map_or("-".to_string(), |r| format!("{r:.3}"));
        text.push_str(&format!(
            "| {} | {} | {} | {ratio} | {} | {} |\n",
            row.what,
            row.baseline.text(),
            row.saturated.text(),
            row.verdict,
            row.xen.text()
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::protocol::parse;
    use crate::bench::rows::report;

    const LINES: &[&str] = &[
        "(bench) bench: bench.result null-trap n=3 min=9 median=9 max=9 warmup=1",
        "(bench) bench: bench.hist null-trap 9*3",
        "(bench) bench: bench.result timer-irq n=2 min=9 median=9 max=9 warmup=1",
        "(bench) bench: bench.hist timer-irq 9*2",
        "(bench) bench: bench.done",
    ];

    fn samples(counts: &[u64]) -> Vec<Sample> {
        counts.iter().map(|&instructions| Sample { cpu: 1, instructions }).collect()
    }

    #[test]
    fn samples_split_by_case_without_the_warmup() {
        let guests = parse(LINES).unwrap();
        let counted = split(&report(&guests, "bench"), &samples(&[999, 250, 240, 250, 999, 700, 710]));
        assert_eq!(counted.cpu, Some(1));
        assert_eq!(counted.cases[0], ("null-trap".into(), Ok(vec![(240, 1), (250, 2)])));
        assert_eq!(counted.cases[1], ("timer-irq".into(), Ok(vec![(700, 1), (710, 1)])));
    }

    #[test]
    fn a_count_mismatch_or_a_second_cpu_measures_nothing() {
        let guests = parse(LINES).unwrap();
        let short = split(&report(&guests, "bench"), &samples(&[1, 2, 3]));
        assert!(matches!(&short.cases[0].1, Err(why) if why.contains("counted 3 samples, the guest made 7")));
        let mut two = samples(&[1; 7]);
        two[3].cpu = 0;
        let split_two = split(&report(&guests, "bench"), &two);
        assert!(matches!(&split_two.cases[0].1, Err(why) if why.contains("CPU 1 and CPU 0")));
    }

    #[test]
    fn rows_compare_medians_and_say_the_verdict() {
        let guests = parse(LINES).unwrap();
        let base = split(&report(&guests, "bench"), &samples(&[0, 200, 200, 200, 0, 700, 700]));
        let loaded = split(&report(&guests, "bench"), &samples(&[0, 200, 209, 209, 0, 770, 770]));
        let rows = rows(&base, &loaded);
        let trap = rows.iter().find(|r| r.case == "null-trap").unwrap();
        assert_eq!(trap.ratio, Some(1.045));
        assert_eq!(trap.verdict, "within 5%");
        let timer = rows.iter().find(|r| r.case == "timer-irq").unwrap();
        assert_eq!(timer.verdict, "not within 5% (+10.0%)");
        let mmio = rows.iter().find(|r| r.case == "mmio-read").unwrap();
        assert_eq!(mmio.verdict, "not measured");
        let text = table(&rows);
        assert!(text.contains("| null trap: PSCI_VERSION over HVC, trap to return | 200 (200-200) | 209 (200-209) | 1.045 | within 5% | not measured |"), "{text}");
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict(Some(1.0)), "within 5%");
        assert_eq!(verdict(Some(0.95)), "within 5%");
        assert_eq!(verdict(Some(0.9)), "not within 5% (-10.0%)");
        assert_eq!(verdict(None), "not measured");
    }
}
