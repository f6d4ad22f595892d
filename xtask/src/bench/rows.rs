//! Turns what the guests and the hypervisors printed into the results table's rows.

use std::collections::BTreeMap;

use super::protocol::GuestReport;
use super::results::{describe_return, Cell, Row};
use super::stats;

/// The latency cases the bench guest times, in its order: name and what it measures.
pub const LATENCY_CASES: [(&str, &str); 7] = [
    ("counter", "bracket alone: two counter reads"),
    ("null-trap", "null trap: PSCI_VERSION over HVC"),
    ("mmio-read", "trapped MMIO read: UART flag register"),
    ("xen-version", "xen_version hypercall (hvc #0xea1)"),
    ("timer-irq", "virtual timer IRQ, guest in WFI: wake - deadline"),
    ("grant-map-unmap", "grant map + unmap: map_grant_ref then unmap_grant_ref, one page"),
    ("grant-copy", "grant copy: GNTTABOP_copy of 4 KiB from a grant"),
];

/// The event-channel round trip: the row's name, what it measures, and the case the `evtchn`
/// guest (ping, in `evtchn.bench=1` mode) reports.
pub const EVENT_CHANNEL: (&str, &str) = ("event-channel", "event channel round trip between two partitions on two CPUs");
pub const EVENT_CHANNEL_CASE: &str = "evtchn-round-trip";
/// The same with each partition alone in a `null` pool (Bulkhead only).
pub const EVENT_CHANNEL_NULL: (&str, &str) = ("event-channel-null", "event channel round trip, each partition alone in a null pool");
/// The guest that times the round trips.
pub const EVENT_CHANNEL_GUEST: &str = "ping";

/// Interfaces both hypervisors have that the bench guest does not time yet: name and what
/// would be measured.
pub const NOT_IMPLEMENTED: [(&str, &str); 0] = [];

/// The name of the latency guest and of the two boot guests in the configs.
pub const LATENCY_GUEST: &str = "bench";
/// The bench guest's timer case.
pub const TIMER_CASE: &str = "timer-irq";
/// The timer case with direct interrupt delivery (`tests/scenarios/bench/direct.dts`).
pub const TIMER_DIRECT: (&str, &str) =
    ("timer-irq-direct", "virtual timer IRQ, guest in WFI, direct delivery (alone in a null pool, no exit)");
/// The same guest on bare QEMU, no hypervisor.
pub const TIMER_BARE: (&str, &str) = ("timer-irq-bare", "the same on bare QEMU, no hypervisor (the guest at EL1)");
/// The bench guest's name on bare QEMU in its timer mode.
pub const BARE_TIMER_GUEST: &str = "bare-timer";

/// The direct row's description with its ratio to bare QEMU, when both were measured.
pub fn direct_what(what: &str, direct: &Cell, bare: &Cell) -> String {
    match (direct, bare) {
        (Cell::Measured { summary: d, .. }, Cell::Measured { summary: b, .. }) if b.median > 0 => {
            format!("{what}; {:.2}x bare QEMU's median", d.median as f64 / b.median as f64)
        }
        _ => what.to_string(),
    }
}
pub const BOOT_GUESTS: [&str; 2] = ["boot1", "boot2"];

/// A guest's report, or why there is none usable.
pub type Report<'a> = Result<&'a GuestReport, String>;

/// The report of guest `name` among `guests`, unless it is missing, failed or unfinished.
pub fn report<'a>(guests: &'a BTreeMap<String, GuestReport>, name: &str) -> Report<'a> {
    let report = guests.get(name).ok_or(format!("guest `{name}` printed no report"))?;
    if let Some(failure) = report.failures.first() {
        return Err(format!("guest `{name}` failed: {failure}"));
    }
    if !report.done {
        return Err(format!("guest `{name}` did not finish"));
    }
    Ok(report)
}

/// One hypervisor's cell for a latency case.
pub fn latency_cell(report: &Report<'_>, case: &str) -> Cell {
    let report = match report {
        Ok(report) => report,
        Err(why) => return Cell::NotMeasured { why: why.clone() },
    };
    let Some(found) = report.cases.iter().find(|c| c.name == case) else {
        return Cell::NotMeasured { why: format!("no result for `{case}`") };
    };
    let Some(summary) = stats::summarize(&found.histogram) else {
        return Cell::NotMeasured { why: format!("the histogram of `{case}` is empty or out of order") };
    };
    if [summary.count, summary.min, summary.median, summary.max] != found.claimed {
        return Cell::NotMeasured {
            why: format!("`{case}`: the guest's n/min/median/max {:?} disagree with its histogram", found.claimed),
        };
    }
    Cell::Measured {
        summary,
        histogram: found.histogram.clone(),
        returned: report.values.get(case).map(|&x0| describe_return(case, x0)),
    }
}

/// The latency rows, the event-channel row (from the `ping` guest's reports of its own run),
/// then the not-implemented ones.
pub fn latency_rows(bulkhead: &Report<'_>, xen: &Report<'_>, evtchn: (&Report<'_>, &Report<'_>)) -> Vec<Row> {
    let mut rows: Vec<Row> = LATENCY_CASES
        .iter()
        .map(|&(case, what)| Row::new(case, what, "ticks", latency_cell(bulkhead, case), latency_cell(xen, case)))
        .collect();
    let (name, what) = EVENT_CHANNEL;
    rows.push(Row::new(name, what, "ticks", latency_cell(evtchn.0, EVENT_CHANNEL_CASE), latency_cell(evtchn.1, EVENT_CHANNEL_CASE)));
    for (case, what) in NOT_IMPLEMENTED {
        // Both hypervisors implement them; the bench guest does not exercise them yet.
        let missing = || Cell::NotMeasured { why: "the bench guest has no case for it yet".into() };
        rows.push(Row::new(case, what, "ticks", missing(), missing()));
    }
    rows
}

/// The physical counter at the first (`last` false) or last partition's `main`.
pub fn boot_cell(guests: &BTreeMap<String, GuestReport>, last: bool) -> Cell {
    let mut counts = Vec::new();
    for name in BOOT_GUESTS {
        match report(guests, name).map(|r| r.boot_count) {
            Ok(Some(count)) => counts.push(count),
            Ok(None) => return Cell::NotMeasured { why: format!("guest `{name}` printed no boot line") },
            Err(why) => return Cell::NotMeasured { why },
        }
    }
    let value = if last { counts.iter().max() } else { counts.iter().min() };
    value.map_or(Cell::NotMeasured { why: "no boot guests".into() }, |&value| Cell::Value { value })
}

/// A boot cell in instructions: under `-icount shift=0` one instruction is 1 ns of virtual
/// time, so a tick of a `counter_hz` counter is 10^9 / `counter_hz` instructions (16 at
/// 62.5 MHz). Not measured without the frequency or when it is not a whole number of
/// instructions.
pub fn in_instructions(ticks: &Cell, counter_hz: u64) -> Cell {
    let per_tick = (counter_hz != 0 && 1_000_000_000 % counter_hz == 0).then(|| 1_000_000_000 / counter_hz);
    match (ticks, per_tick) {
        (Cell::Value { value }, Some(per_tick)) => Cell::Value { value: value.saturating_mul(per_tick) },
        (Cell::Value { .. }, None) => {
            Cell::NotMeasured { why: format!("a {counter_hz} Hz counter's tick is not a whole number of nanoseconds") }
        }
        (other, _) => other.clone(),
    }
}

/// The hypervisor's own memory, in bytes, from its boot lines: its image
/// (`  hypervisor: 0x40200000..0x40a00000 (8192 KiB) at EL2`), the fixed part; what it carved
/// from host RAM for the partitions' heap beyond what the image's heap and the unused CPUs'
/// stacks hold (`bulkhead: heap: ... KiB of host RAM carved at ...`); and each partition's
/// pages from the page pool, held at boot and the most it may grow to
/// (`bulkhead: partition "NAME": run-time host RAM: 12 KiB held at boot (...), up to 2280 KiB
/// as it grows (...)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    /// The image in memory.
    pub fixed: u64,
    /// Host RAM kept for the partitions at boot (heap carved, pool pages held).
    pub for_partitions: u64,
    /// The most the partitions' pool pages may grow to at run time (their caps).
    pub growth_cap: u64,
    /// How many partitions it was carved for (`bulkhead: partition "NAME": ...` lines).
    pub partitions: u64,
}

impl Memory {
    pub fn total(&self) -> u64 {
        self.fixed.saturating_add(self.for_partitions)
    }

    /// The part kept for the partitions at boot, per partition (rounded down).
    pub fn per_partition(&self) -> Option<u64> {
        self.for_partitions.checked_div(self.partitions)
    }

    /// The most a partition's pool pages may grow to, per partition (rounded down).
    pub fn growth_cap_per_partition(&self) -> Option<u64> {
        self.growth_cap.checked_div(self.partitions)
    }
}

pub fn bulkhead_memory<S: AsRef<str>>(lines: &[S]) -> Option<Memory> {
    let kib = |text: &str| text.trim().parse::<u64>().ok()?.checked_mul(1024);
    let kib_after = |prefix: &str, marker: &str| {
        lines.iter().find_map(|line| {
            let rest = line.as_ref().trim().strip_prefix(prefix)?;
            let before = &rest[..rest.find(marker)?];
            kib(before.rsplit(' ').next()?)
        })
    };
    let heap = kib_after("bulkhead: heap: ", " KiB of host RAM carved").unwrap_or(0);
    // (held at boot, cap) from each partition's run-time line.
    let pool = lines.iter().filter_map(|line| {
        let rest = line.as_ref().split_once(": run-time host RAM: ")?.1;
        let (held, rest) = rest.split_once(" KiB held at boot")?;
        let cap = rest.split_once("up to ")?.1.split_once(" KiB")?.0;
        Some((kib(held)?, kib(cap)?))
    });
    let (held, cap) = pool.fold((0u64, 0u64), |(h, c), (held, cap)| (h.saturating_add(held), c.saturating_add(cap)));
    let partitions = lines.iter().filter(|l| l.as_ref().trim().starts_with("bulkhead: partition \"") && l.as_ref().contains(" vcpu")).count() as u64;
    let fixed = image_memory(lines)?;
    Some(Memory { fixed, for_partitions: heap.checked_add(held)?, growth_cap: cap, partitions })
}

fn image_memory<S: AsRef<str>>(lines: &[S]) -> Option<u64> {
    lines.iter().find_map(|line| {
        let range = line.as_ref().trim().strip_prefix("hypervisor: ")?.split_whitespace().next()?;
        let (start, end) = range.split_once("..")?;
        let number = |text: &str| u64::from_str_radix(text.strip_prefix("0x")?, 16).ok();
        number(end)?.checked_sub(number(start)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::protocol::parse;

    const LINES: &[&str] = &[
        "  hypervisor: 0x40200000..0x40a00000 (8192 KiB) at EL2",
        "(bench) bench: bench.result null-trap n=4 min=5 median=5 max=6",
        "(bench) bench: bench.hist null-trap 5*3 6*1",
        "(bench) bench: bench.result mmio-read n=4 min=1 median=1 max=1",
        "(bench) bench: bench.hist mmio-read 1*3 2*1",
        "(bench) bench: bench.value xen-version x0=0xffffffffffffffda",
        "(bench) bench: bench.result xen-version n=1 min=9 median=9 max=9",
        "(bench) bench: bench.hist xen-version 9*1",
        "(bench) bench: bench.done",
    ];

    #[test]
    fn cells_come_from_histograms_checked_against_the_guest() {
        let guests = parse(LINES).unwrap();
        let ours = report(&guests, LATENCY_GUEST);
        assert!(matches!(latency_cell(&ours, "null-trap"), Cell::Measured { summary, .. } if summary.median == 5));
        assert!(matches!(latency_cell(&ours, "mmio-read"), Cell::NotMeasured { why } if why.contains("disagree")));
        assert!(matches!(latency_cell(&ours, "timer-irq"), Cell::NotMeasured { why } if why.contains("no result")));
        assert!(matches!(latency_cell(&ours, "xen-version"), Cell::Measured { returned: Some(r), .. } if r == "-ENOSYS"));
        let evtchn = parse(&["(ping) ping: bench.result evtchn-round-trip n=2 min=300 median=300 max=310", "(ping) ping: bench.hist evtchn-round-trip 300*1 310*1", "(ping) ping: bench.done"]).unwrap();
        let ping = report(&evtchn, EVENT_CHANNEL_GUEST);
        let rows = latency_rows(&ours, &Err("Xen did not boot".into()), (&ping, &Err("Xen did not boot".into())));
        assert_eq!(rows.len(), LATENCY_CASES.len() + 1 + NOT_IMPLEMENTED.len());
        let event_channel = &rows[LATENCY_CASES.len()];
        assert_eq!(event_channel.case, EVENT_CHANNEL.0);
        assert!(matches!(&event_channel.bulkhead, Cell::Measured { summary, .. } if summary.median == 300));
        assert_eq!(rows[1].xen, Cell::NotMeasured { why: "Xen did not boot".into() });
        // A case the guest printed nothing for (here the grant cases) reads "not measured".
        let copy = rows.iter().find(|r| r.case == "grant-copy").expect("the grant-copy row");
        assert!(matches!(&copy.bulkhead, Cell::NotMeasured { why } if why.contains("no result")));
    }

    #[test]
    fn failed_or_unfinished_guests_give_no_report() {
        let failed = parse(&["(XEN) DOM1: bench: FAIL panic at x"]).unwrap();
        assert_eq!(report(&failed, "bench").unwrap_err(), "guest `bench` failed: panic at x");
        let unfinished = parse(&["bench: bench.counter 1"]).unwrap();
        assert_eq!(report(&unfinished, "bench").unwrap_err(), "guest `bench` did not finish");
        assert!(report(&unfinished, "other").is_err());
    }

    #[test]
    fn boot_cells_take_the_first_and_last_partition() {
        let lines = [
            "(XEN) DOM2: boot2: bench.boot cntpct=900",
            "(XEN) DOM1: boot1: bench.boot cntpct=700",
            "(XEN) DOM1: boot1: bench.done",
            "(XEN) DOM2: boot2: bench.done",
        ];
        let guests = parse(&lines).unwrap();
        assert_eq!(boot_cell(&guests, false), Cell::Value { value: 700 });
        assert_eq!(boot_cell(&guests, true), Cell::Value { value: 900 });
        let one = parse(&lines[1..3]).unwrap();
        assert!(matches!(boot_cell(&one, true), Cell::NotMeasured { .. }));
    }

    #[test]
    fn boot_ticks_become_instructions_at_16_a_tick() {
        assert_eq!(in_instructions(&Cell::Value { value: 1_000 }, 62_500_000), Cell::Value { value: 16_000 });
        assert!(matches!(in_instructions(&Cell::Value { value: 1 }, 0), Cell::NotMeasured { .. }));
        assert!(matches!(in_instructions(&Cell::Value { value: 1 }, 24_000_000 * 7), Cell::NotMeasured { .. }));
        let missing = Cell::NotMeasured { why: "no boot line".into() };
        assert_eq!(in_instructions(&missing, 62_500_000), missing);
    }

    #[test]
    fn bulkhead_memory_is_read_from_its_boot_lines() {
        let image_only = bulkhead_memory(LINES).unwrap();
        assert_eq!(image_only, Memory { fixed: 0x80_0000, for_partitions: 0, growth_cap: 0, partitions: 0 });
        assert_eq!(image_only.per_partition(), None);
        assert_eq!(bulkhead_memory(&["hypervisor: nonsense"]), None);
        let carved = [
            LINES[0],
            "bulkhead: partition \"bench\": 1 vcpu on cpu [1], 64 MiB of RAM at 0x40000000 (host 0x40800000), console (vpl011)",
            "bulkhead: partition \"other\": 2 vcpus on cpu [0, 1], 64 MiB of RAM at 0x40000000 (host 0x44800000), no console",
            "bulkhead: heap: 900 KiB needed for 2 partitions, 500 KiB free in the image's heap and the unused CPUs' stacks, 448 KiB of host RAM carved at 0x40000000",
            "bulkhead: partition \"bench\": run-time host RAM: 16 KiB held at boot (8 KiB of stage-2 tables, 8 KiB of grant table), up to 2000 KiB as it grows (600 KiB of stage-2 tables)",
            "bulkhead: partition \"other\": run-time host RAM: 8 KiB held at boot (8 KiB of stage-2 tables, 0 KiB of grant table), up to 600 KiB as it grows (536 KiB of stage-2 tables)",
        ];
        let memory = bulkhead_memory(&carved).unwrap();
        assert_eq!(memory, Memory { fixed: 0x80_0000, for_partitions: (448 + 24) * 1024, growth_cap: 2600 * 1024, partitions: 2 });
        assert_eq!(memory.total(), 0x80_0000 + (448 + 24) * 1024);
        assert_eq!(memory.per_partition(), Some((448 + 24) * 512));
        assert_eq!(memory.growth_cap_per_partition(), Some(1300 * 1024));
        let nothing_carved = [LINES[0], "bulkhead: heap: 400 KiB needed for 1 partitions, 900 KiB free in the image's heap and the unused CPUs' stacks: nothing carved from host RAM"];
        assert_eq!(bulkhead_memory(&nothing_carved).unwrap().for_partitions, 0);
        assert_eq!(bulkhead_memory::<&str>(&[]), None);
    }
}
