//! The Linux case (issue 12): Debian's arm64 kernel in one partition of 1 GiB with 2 vCPUs,
//! on Bulkhead and on Xen from the same config, and bare on the same QEMU, each up to the
//! first instruction of its init (`tests/linux/bench_init.rs`, which executes the plugin's
//! marker). Two figures: the instructions every CPU executed from QEMU's reset to that
//! marker (the plugin's `total=on` mode: the hypervisor's boot included), and the guest's
//! own clock at that moment (its virtual counter, which starts when its hypervisor starts
//! it, or at reset on bare Linux), each against bare Linux. See docs/bench.md.

use std::path::Path;

use super::plugin::Total;
use super::results::{Cell, Row};
use super::rows::report;
use super::{Booted, Config};

/// The guest's name in its report lines (`linux: bench.init ...`).
pub const GUEST: &str = "linux";
/// The kernel command line, the same on all three: the partition's `bootargs` in
/// [`CONFIG`]'s file and bare Linux's `-append`.
pub const BOOTARGS: &str = "console=ttyAMA0 nokaslr rdinit=/bin/bench_init";
/// Virtual time, and 2 GiB of RAM for the 1 GiB partition beside the hypervisor.
const OPTIONS: [&str; 4] = ["-icount", "shift=0,sleep=off", "-m", "2G"];
/// The partition, for Bulkhead and Xen.
pub const CONFIG: Config = Config { name: "linux", file: "tests/scenarios/bench/linux.dts", guests: &[GUEST], options: &OPTIONS };
/// Bare Linux's QEMU options after the machine's (which give it 1 GiB, as the partition
/// has): virtual time and the initramfs.
pub fn bare_options(initramfs: &Path) -> Vec<String> {
    let mut options: Vec<String> = super::VIRTUAL_TIME.iter().map(|s| s.to_string()).collect();
    options.extend(["-initrd".to_string(), initramfs.display().to_string()]);
    options
}

/// The instructions from reset to init's marker: the one `total=on` line of a run.
fn instructions(run: &Booted) -> Cell {
    let not = |why: String| Cell::NotMeasured { why };
    if let Err(why) = report(&run.reports, GUEST) {
        return not(why);
    }
    match &run.totals {
        Err(why) => not(why.clone()),
        Ok(totals) => match totals.as_slice() {
            [Total { instructions, .. }] => Cell::Value { value: *instructions },
            [] => not("the plugin saw no marker (did init run?)".into()),
            more => not(format!("the plugin saw {} markers; init executes one", more.len())),
        },
    }
}

/// The guest's virtual counter at init.
fn clock(run: &Booted) -> Cell {
    match report(&run.reports, GUEST) {
        Err(why) => Cell::NotMeasured { why },
        Ok(r) => r.init_count.map_or(Cell::NotMeasured { why: "init printed no `bench.init` line".into() }, |value| Cell::Value { value }),
    }
}

/// The two rows, each with bare Linux's figure.
pub fn rows(ours: &Booted, xen: &Booted, bare: &Booted) -> Vec<Row> {
    let value = |cell: Cell| cell.typical();
    vec![
        Row::new(
            "linux-init-instructions",
            "Debian Linux, 1 GiB, 2 vCPUs: reset to init's first instruction, all CPUs (plugin), hypervisor boot included",
            "instructions",
            instructions(ours),
            instructions(xen),
        )
        .against_bare(value(instructions(bare))),
        Row::new(
            "linux-init-clock",
            "the same by the guest's own clock: its virtual counter at init",
            "ticks",
            clock(ours),
            clock(xen),
        )
        .against_bare(value(clock(bare))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_boots_linux_with_the_bare_command_line() {
        let text = std::fs::read_to_string(crate::workspace::root().join(CONFIG.file)).unwrap();
        assert!(text.contains(&format!("bootargs = \"{BOOTARGS}\";")), "{} must use {BOOTARGS:?}", CONFIG.file);
        assert!(text.contains("cpus = <2>;") && text.contains("memory = <0x0 0x100000>;"), "2 vCPUs and 1 GiB");
    }

    #[test]
    fn one_marker_gives_the_instructions_and_other_counts_say_why_not() {
        let booted = |totals: Result<Vec<Total>, String>| {
            let lines = ["linux: bench.init cntvct=100", "linux: bench.done"];
            Booted { lines: Vec::new(), reports: super::super::protocol::parse(&lines).unwrap(), samples: Ok(Vec::new()), totals }
        };
        let one = booted(Ok(vec![Total { cpu: 1, instructions: 1_000 }]));
        assert_eq!(instructions(&one), Cell::Value { value: 1_000 });
        assert_eq!(clock(&one), Cell::Value { value: 100 });
        let two = booted(Ok(vec![Total { cpu: 1, instructions: 1 }, Total { cpu: 0, instructions: 2 }]));
        assert!(matches!(instructions(&two), Cell::NotMeasured { why } if why.contains("2 markers")));
        assert!(matches!(instructions(&booted(Ok(Vec::new()))), Cell::NotMeasured { .. }));
        let rows = rows(&one, &two, &one);
        assert_eq!(rows[0].bulkhead_over_bare, Some(1.0));
        assert_eq!(rows[0].xen_over_bare, None);
        assert_eq!(rows[1].bare, Some(100));
    }
}
