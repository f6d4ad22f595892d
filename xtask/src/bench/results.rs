//! The bench's results: one row per case with Bulkhead's and Xen's numbers, printed as a
//! Markdown table and written as JSON.

use serde::Serialize;

use super::isolation::IsolationRow;
use super::stats::{self, Summary};

/// What `cargo xtask bench` measured, as written to `target/bench/results.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Results {
    /// The command that produced them.
    pub command: String,
    /// The QEMU machine both hypervisors ran on.
    pub machine: String,
    /// The guests' counter frequency (CNTFRQ_EL0).
    pub counter_hz: u64,
    pub rows: Vec<Row>,
    /// The machine of the isolation runs (`machine` with three CPUs).
    pub isolation_machine: String,
    /// Bulkhead's null-pool CPU alone and beside a saturated credit2 pool.
    pub isolation: Vec<IsolationRow>,
}

/// One case.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The case's short name (`null-trap`).
    pub case: String,
    /// What it measures.
    pub what: String,
    /// `ticks` of the guest's virtual counter, or `bytes`.
    pub unit: String,
    pub bulkhead: Cell,
    pub xen: Cell,
    /// Bulkhead's median (or value) over Xen's.
    pub ratio: Option<f64>,
    /// The same measured with no hypervisor (bare Linux on the same QEMU), for rows that
    /// compare both hypervisors with it; the ratios are each hypervisor's value over it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bare: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bulkhead_over_bare: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xen_over_bare: Option<f64>,
}

/// One hypervisor's result for a case.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Cell {
    /// A distribution of samples.
    Measured {
        summary: Summary,
        /// `(value, count)`, values ascending.
        histogram: Vec<(u64, u64)>,
        /// What the call returned, read for a person (`4.17`, `-ENOSYS`).
        #[serde(skip_serializing_if = "Option::is_none")]
        returned: Option<String>,
    },
    /// One number.
    Value { value: u64 },
    /// Not measured, and why.
    NotMeasured { why: String },
}

impl Cell {
    /// The number a ratio compares: the median of a distribution, or the value.
    pub fn typical(&self) -> Option<u64> {
        match self {
            Cell::Measured { summary, .. } => Some(summary.median),
            Cell::Value { value } => Some(*value),
            Cell::NotMeasured { .. } => None,
        }
    }

    /// The table text: `median (min-max)` and what a call returned, a value, or why not.
    pub fn text(&self) -> String {
        match self {
            Cell::Measured { summary, returned, .. } => {
                let mut text = format!("{} ({}-{})", summary.median, summary.min, summary.max);
                if let Some(returned) = returned {
                    text.push_str(&format!(", returns {returned}"));
                }
                text
            }
            Cell::Value { value } => thousands(*value),
            Cell::NotMeasured { .. } => "not measured".into(),
        }
    }
}

impl Row {
    /// A row whose ratio is computed from the two cells.
    pub fn new(case: &str, what: &str, unit: &str, bulkhead: Cell, xen: Cell) -> Self {
        let ratio = match (bulkhead.typical(), xen.typical()) {
            (Some(ours), Some(theirs)) => stats::ratio(ours, theirs),
            _ => None,
        };
        Row {
            case: case.into(),
            what: what.into(),
            unit: unit.into(),
            bulkhead,
            xen,
            ratio,
            bare: None,
            bulkhead_over_bare: None,
            xen_over_bare: None,
        }
    }

    /// The row compared with the same figure measured with no hypervisor, if there is one.
    pub fn against_bare(mut self, bare: Option<u64>) -> Self {
        let over = |cell: &Cell| Some(cell.typical()? as f64 / bare.filter(|&b| b > 0)? as f64);
        self.bulkhead_over_bare = over(&self.bulkhead);
        self.xen_over_bare = over(&self.xen);
        self.bare = bare;
        self
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut text = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

/// What `x0` after a call means: Xen's version for `xen-version` (`major << 16 | minor`),
/// `-ENOSYS` and other small negative values as errors, else hexadecimal.
pub fn describe_return(case: &str, x0: u64) -> String {
    let signed = x0 as i64;
    match signed {
        -38 => "-ENOSYS".into(),
        -4095..=-1 => format!("{signed}"),
        _ if case == "xen-version" => format!("{}.{}", x0 >> 16, x0 & 0xffff),
        _ => format!("{x0:#x}"),
    }
}

/// The results as a Markdown table: case, Bulkhead, Xen, ratio.
pub fn table(results: &Results) -> String {
    let mut text = String::from("| Case | Unit | Bulkhead | Xen 4.17 | Bulkhead / Xen |\n");
    text.push_str("|------|------|----------|----------|----------------|\n");
    for row in &results.rows {
        let ratio = row.ratio.map_or("-".to_string(), |r| format!("{r:.2}"));
        let with_bare = |cell: &Cell, over: Option<f64>| match over {
            Some(over) => format!("{} ({over:.3}x bare)", cell.text()),
            None => cell.text(),
        };
        let what = match row.bare {
            Some(bare) => format!("{}; bare: {}", row.what, thousands(bare)),
            None => row.what.clone(),
        };
        text.push_str(&format!(
            "| {what} | {} | {} | {} | {ratio} |\n",
            row.unit,
            with_bare(&row.bulkhead, row.bulkhead_over_bare),
            with_bare(&row.xen, row.xen_over_bare)
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(histogram: Vec<(u64, u64)>, returned: Option<&str>) -> Cell {
        Cell::Measured {
            summary: stats::summarize(&histogram).unwrap(),
            histogram,
            returned: returned.map(String::from),
        }
    }

    fn sample() -> Results {
        Results {
            command: "cargo xtask bench".into(),
            machine: "virt".into(),
            counter_hz: 62_500_000,
            rows: vec![
                Row::new("null-trap", "null trap", "ticks", measured(vec![(58, 1000)], None), measured(vec![(29, 500), (30, 500)], None)),
                Row::new(
                    "xen-version",
                    "xen_version",
                    "ticks",
                    measured(vec![(12, 1000)], Some("-ENOSYS")),
                    measured(vec![(26, 1000)], Some("4.17")),
                ),
                Row::new("event-channel", "event channel", "ticks", Cell::NotMeasured { why: "no case".into() }, Cell::NotMeasured { why: "no case".into() }),
                Row::new("image", "image size", "bytes", Cell::Value { value: 350_152 }, Cell::Value { value: 983_048 }),
                Row::new("linux", "to init", "instructions", Cell::Value { value: 1_100 }, Cell::Value { value: 2_000 })
                    .against_bare(Some(1_000)),
            ],
            isolation_machine: "virt, 3 CPUs".into(),
            isolation: Vec::new(),
        }
    }

    #[test]
    fn the_table_shows_medians_ranges_returns_and_ratios() {
        let text = table(&sample());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 7);
        assert_eq!(lines[2], "| null trap | ticks | 58 (58-58) | 29 (29-30) | 2.00 |");
        assert_eq!(lines[3], "| xen_version | ticks | 12 (12-12), returns -ENOSYS | 26 (26-26), returns 4.17 | 0.46 |");
        assert_eq!(lines[4], "| event channel | ticks | not measured | not measured | - |");
        assert_eq!(lines[5], "| image size | bytes | 350,152 | 983,048 | 0.36 |");
        assert_eq!(lines[6], "| to init; bare: 1,000 | instructions | 1,100 (1.100x bare) | 2,000 (2.000x bare) | 0.55 |");
    }

    #[test]
    fn json_carries_status_summary_and_histogram() {
        let json: serde_json::Value = serde_json::to_value(sample()).unwrap();
        let row = &json["rows"][0];
        assert_eq!(row["case"], "null-trap");
        assert_eq!(row["bulkhead"]["status"], "measured");
        assert_eq!(row["xen"]["summary"]["median"], 29);
        assert_eq!(row["xen"]["histogram"][1], serde_json::json!([30, 500]));
        assert_eq!(row["ratio"], 2.0);
        assert!(row["bulkhead"].get("returned").is_none());
        assert_eq!(json["rows"][1]["bulkhead"]["returned"], "-ENOSYS");
        assert_eq!(json["rows"][2]["bulkhead"]["status"], "not-measured");
        assert_eq!(json["rows"][2]["xen"]["why"], "no case");
        assert_eq!(json["rows"][3]["xen"]["value"], 983_048);
        assert_eq!(json["counter_hz"], 62_500_000);
        assert!(json["rows"][0].get("bare").is_none());
        assert_eq!(json["rows"][4]["bare"], 1_000);
        assert_eq!(json["rows"][4]["bulkhead_over_bare"], 1.1);
        assert_eq!(json["rows"][4]["xen_over_bare"], 2.0);
    }

    #[test]
    fn returns_and_numbers_read_for_a_person() {
        assert_eq!(describe_return("xen-version", 0x4_0011), "4.17");
        assert_eq!(describe_return("xen-version", (-38i64) as u64), "-ENOSYS");
        assert_eq!(describe_return("null-trap", 0x1_0001), "0x10001");
        assert_eq!(describe_return("null-trap", u64::MAX), "-1");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_168_000_000), "1,168,000,000");
    }
}
