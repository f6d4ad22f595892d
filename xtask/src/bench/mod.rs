//! `cargo xtask bench`: boots the bench guest (`tests/guests/src/bin/bench.rs`) on Bulkhead's
//! release build and on Debian's Xen 4.17 in dom0less mode, under QEMU with `-icount
//! shift=0,sleep=off` (virtual time follows instructions, so runs repeat to the tick), and
//! compares them: a table on the terminal, `target/bench/results.json` and
//! `target/bench/latency.svg`. It also counts, with a QEMU plugin, the instructions a
//! null-pool CPU executes on the same paths with and without a saturated credit2 pool beside
//! it (issue 9). See `docs/bench.md`. Timings are reported, never asserted.

mod console;
mod isolation;
mod linux;
mod plot;
mod plugin;
mod protocol;
mod results;
mod rows;
mod stats;

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use qemu_tests::command::{self, Boot, ConsoleMode};
use qemu_tests::{PartitionConfig, Scenario};

use crate::build::{self, BuildError};
use crate::debian::{Debian, DebianError};
use crate::partitions::{self, placement, Inputs, PrepareError};
use crate::prereq::{self, PrereqError};
use crate::workspace::{self, Profile};
use console::{ConsoleError, End};
use plugin::{PluginError, Sample, Total};
use protocol::{GuestReport, ProtocolError};
use results::{Cell, Results, Row};

/// The command, as the results name it.
pub const COMMAND: &str = "cargo xtask bench";
/// QEMU options after the board's own: the CPU the Xen figures were measured on, two CPUs,
/// 1 GiB.
const MACHINE_OPTIONS: [&str; 6] = ["-cpu", "cortex-a57", "-smp", "2", "-m", "1G"];
/// Instruction-counted virtual time (1 ns per instruction, no sleeping), for every run that
/// reads the guest's clock.
pub(crate) const VIRTUAL_TIME: [&str; 2] = ["-icount", "shift=0,sleep=off"];
/// How long one boot may take on the host.
const DEADLINE: Duration = Duration::from_secs(900);

/// QEMU options after [`MACHINE_OPTIONS`] for the isolation configs: a third CPU, so that
/// the credit2 pool beside the null pool has two CPUs to balance between. No `-icount`: these
/// runs count instructions with the plugin, not time, and under `-icount` QEMU's plugin
/// counts on the timer path are not exact (see docs/bench.md).
const ISOLATION_OPTIONS: [&str; 2] = ["-smp", "3"];

/// A config the bench boots, the guests it waits for, and QEMU options of its own.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    name: &'static str,
    file: &'static str,
    guests: &'static [&'static str],
    options: &'static [&'static str],
}

const LATENCY: Config =
    Config { name: "latency", file: "tests/scenarios/bench/latency.dts", guests: &[rows::LATENCY_GUEST], options: &VIRTUAL_TIME };
/// QEMU options for the boot configs: virtual time, and 2 GiB of RAM for their 512 + 384 MiB
/// partitions (QEMU keeps the last `-m`).
const BOOT_OPTIONS: [&str; 4] = ["-icount", "shift=0,sleep=off", "-m", "2G"];
const BOOT: Config =
    Config { name: "boot", file: "tests/scenarios/bench/boot.dts", guests: &rows::BOOT_GUESTS, options: &BOOT_OPTIONS };
/// The same without the boot-time scrub, by each hypervisor's explicit choice.
const BOOT_NO_SCRUB: Config = Config {
    name: "boot-noscrub",
    file: "tests/scenarios/bench/boot-noscrub.dts",
    guests: &rows::BOOT_GUESTS,
    options: &BOOT_OPTIONS,
};
/// Two `evtchn` guests on the two CPUs, ping timing round trips over their channel.
const EVENT_CHANNEL: Config = Config {
    name: "evtchn",
    file: "tests/scenarios/bench/evtchn.dts",
    guests: &[rows::EVENT_CHANNEL_GUEST],
    options: &VIRTUAL_TIME,
};
/// The same in two `null` pools of one CPU each: booted on Bulkhead only.
const EVENT_CHANNEL_NULL: Config = Config {
    name: "evtchn-null",
    file: "tests/scenarios/bench/evtchn-null.dts",
    guests: &[rows::EVENT_CHANNEL_GUEST],
    options: &VIRTUAL_TIME,
};
/// The bench guest alone in a null pool, and the same beside a saturated credit2 pool:
/// booted on Bulkhead only, with the instruction-counting plugin.
const ISOLATION_BASELINE: Config = Config {
    name: "isolation-baseline",
    file: "tests/scenarios/bench/isolation-baseline.dts",
    guests: &[rows::LATENCY_GUEST],
    options: &ISOLATION_OPTIONS,
};
const ISOLATION_SATURATED: Config = Config {
    name: "isolation-saturated",
    file: "tests/scenarios/bench/isolation-saturated.dts",
    guests: &[rows::LATENCY_GUEST],
    options: &ISOLATION_OPTIONS,
};

/// The bench guest's timer case alone in a null pool with direct interrupt delivery: booted
/// on Bulkhead only, against the same guest on bare QEMU.
const DIRECT: Config =
    Config { name: "direct", file: "tests/scenarios/bench/direct.dts", guests: &[rows::LATENCY_GUEST], options: &VIRTUAL_TIME };

/// Why the bench could not run or is incomplete.
#[derive(Debug)]
pub enum BenchError {
    Build(BuildError),
    Prereq(PrereqError),
    Plugin(PluginError),
    Xen(DebianError),
    Linux(crate::linux::LinuxError),
    Io { path: PathBuf, source: std::io::Error },
    Prepare { run: String, error: PrepareError },
    Command(command::CommandError),
    Console { run: String, error: ConsoleError },
    Protocol { run: String, error: ProtocolError },
    Plot { path: PathBuf, why: String },
    /// Everything ran, but some cells could not be measured.
    Incomplete(Vec<String>),
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Build(e) => write!(f, "{e}"),
            BenchError::Prereq(e) => write!(f, "{e}"),
            BenchError::Plugin(e) => write!(f, "{e}"),
            BenchError::Xen(e) => write!(f, "fetching Xen: {e}"),
            BenchError::Linux(e) => write!(f, "the Linux case: {e}"),
            BenchError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            BenchError::Prepare { run, error } => write!(f, "bench run `{run}`: {error}"),
            BenchError::Command(e) => write!(f, "{e}"),
            BenchError::Console { run, error } => write!(f, "bench run `{run}`: {error}"),
            BenchError::Protocol { run, error } => write!(f, "bench run `{run}`: {error}"),
            BenchError::Plot { path, why } => write!(f, "drawing {}: {why}", path.display()),
            BenchError::Incomplete(problems) => {
                write!(f, "the bench ran, but {} results are missing (see target/bench/logs/):", problems.len())?;
                problems.iter().try_for_each(|p| write!(f, "\n  {p}"))
            }
        }
    }
}

impl std::error::Error for BenchError {}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BenchError + '_ {
    move |source| BenchError::Io { path: path.to_path_buf(), source }
}

/// One QEMU boot: its name, QEMU arguments, the guests to wait for, and where the
/// instruction-counting plugin writes, if it is loaded (in its `total=on` mode if `totals`).
struct Run {
    name: String,
    args: Vec<String>,
    guests: &'static [&'static str],
    plugin_log: Option<PathBuf>,
    totals: bool,
}

/// What a run printed: its console lines, the guests' reports, and the plugin's samples or
/// totals (or why there are none; empty without the plugin or in the other mode).
struct Booted {
    lines: Vec<String>,
    reports: BTreeMap<String, GuestReport>,
    samples: Result<Vec<Sample>, String>,
    totals: Result<Vec<Total>, String>,
}

/// How a run loads the instruction-counting plugin: its shared object, the directory its
/// log goes to, and whether in `total=on` mode.
#[derive(Clone, Copy)]
struct Counting<'a> {
    library: &'a Path,
    logs: &'a Path,
    totals: bool,
}

/// The plugin's QEMU options for run `name` and where its log goes.
fn counting_args(counting: Counting<'_>, name: &str) -> (Vec<String>, PathBuf) {
    let log = counting.logs.join(format!("{name}.plugin.log"));
    let args = if counting.totals { plugin::total_args(counting.library, &log) } else { plugin::qemu_args(counting.library, &log) };
    (args, log)
}

/// QEMU arguments for `kernel` with `dtb` and more arguments.
fn qemu_args(kernel: &Path, dtb: Option<&Path>, bootargs: Option<&str>, extra: &[String]) -> Result<Vec<String>, BenchError> {
    let mut all: Vec<String> = MACHINE_OPTIONS.iter().map(|s| s.to_string()).collect();
    all.extend_from_slice(extra);
    let boot = Boot { board: &boards::VIRT, gic: Some(3), kernel, dtb, bootargs, extra: &all };
    command::qemu_args(&boot, ConsoleMode::Captured).map_err(BenchError::Command)
}

/// Builds a config's boot for one hypervisor (`target/scenarios/bench-NAME-HYPERVISOR/`),
/// with the instruction-counting plugin if given (its log goes to `logs/NAME.plugin.log`)
/// and the Linux guest's directory for a config that names its files.
fn plan(
    config: Config,
    hypervisor: &str,
    image: &Path,
    guests: &Path,
    plugin: Option<Counting<'_>>,
    linux: Option<&Path>,
) -> Result<Run, BenchError> {
    let name = format!("bench-{}-{hypervisor}", config.name);
    let options: Vec<String> = MACHINE_OPTIONS.iter().chain(config.options).map(|s| s.to_string()).collect();
    let scenario = Scenario {
        gic: Some(3),
        qemu_args: options,
        partitions: Some(PartitionConfig { file: config.file.into(), valid: true }),
        ..Scenario::new(&name, "virt")
    };
    let inputs = Inputs { image, guests, board_dtb: None, linux };
    let prepared = partitions::prepare(&scenario, &inputs).map_err(|error| BenchError::Prepare { run: name.clone(), error })?;
    let mut extra: Vec<String> = config.options.iter().map(|s| s.to_string()).collect();
    extra.extend(prepared.qemu_args);
    let plugin_log = plugin.map(|counting| {
        let (args, log) = counting_args(counting, &name);
        extra.extend(args);
        log
    });
    let args = qemu_args(image, Some(&prepared.dtb), None, &extra)?;
    Ok(Run { name, args, guests: config.guests, plugin_log, totals: plugin.is_some_and(|c| c.totals) })
}

/// Boots a run and reads its guests' reports.
fn boot(run: &Run, logs: &Path) -> Result<Booted, BenchError> {
    let log = logs.join(format!("{}.log", run.name));
    if let Some(plugin_log) = &run.plugin_log {
        // QEMU would add to an old log: start from none.
        match fs::remove_file(plugin_log) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(plugin_log)(e)),
            _ => {}
        }
    }
    let (lines, end) = console::boot(&run.args, run.guests, DEADLINE, &log)
        .map_err(|error| BenchError::Console { run: run.name.clone(), error })?;
    match end {
        End::GuestsFinished => println!("xtask: bench: {} finished ({})", run.name, log.display()),
        End::Exited(status) => println!("xtask: bench: {}: QEMU ended early ({status}); see {}", run.name, log.display()),
        End::Deadline(limit) => println!("xtask: bench: {}: stopped after {}s; see {}", run.name, limit.as_secs(), log.display()),
    }
    let reports = protocol::parse(&lines).map_err(|error| BenchError::Protocol { run: run.name.clone(), error })?;
    let text = match &run.plugin_log {
        None => Ok(String::new()),
        Some(path) => fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display())),
    };
    let path = run.plugin_log.as_ref().map_or(String::new(), |p| p.display().to_string());
    let (samples, totals) = if run.totals {
        (Ok(Vec::new()), text.and_then(|text| plugin::parse_totals(&text).map_err(|e| format!("{path}: {e}"))))
    } else {
        (text.and_then(|text| plugin::parse(&text).map_err(|e| format!("{path}: {e}"))), Ok(Vec::new()))
    };
    Ok(Booted { lines, reports, samples, totals })
}

/// Boots the runs two at a time (at most two QEMUs at once).
fn boot_all(runs: &[Run], logs: &Path) -> Vec<Result<Booted, BenchError>> {
    let mut booted = Vec::new();
    for pair in runs.chunks(2) {
        thread::scope(|scope| {
            let handles: Vec<_> = pair.iter().map(|run| scope.spawn(move || boot(run, logs))).collect();
            for handle in handles {
                booted.push(handle.join().unwrap_or_else(|_| Err(BenchError::Incomplete(vec!["a boot thread panicked".into()]))));
            }
        });
    }
    booted
}

/// File size and the arm64 header's `image_size` (the bytes it occupies once loaded).
fn image_sizes(image: &Path) -> Result<(Cell, Cell), BenchError> {
    let bytes = fs::read(image).map_err(io(image))?;
    let loaded = placement::image_size(&bytes).map_or(
        Cell::NotMeasured { why: format!("{} has no arm64 Image header", image.display()) },
        |value| Cell::Value { value },
    );
    Ok((Cell::Value { value: bytes.len() as u64 }, loaded))
}

/// Runs the bench; see the module documentation.
pub fn bench() -> Result<(), BenchError> {
    let ours = build::build(Profile::Release).map_err(BenchError::Build)?;
    let guests = build::guests(Profile::Release).map_err(BenchError::Build)?;
    prereq::ensure_qemu().map_err(BenchError::Prereq)?;
    prereq::ensure_dtc().map_err(BenchError::Prereq)?;
    let xen = Debian::new().xen_image().map_err(BenchError::Xen)?;
    let out = workspace::target_dir().join("bench");
    let logs = out.join("logs");
    fs::create_dir_all(&logs).map_err(io(&logs))?;
    let counter = plugin::build(&out).map_err(BenchError::Plugin)?;

    let mut runs = Vec::new();
    for config in [LATENCY, BOOT, BOOT_NO_SCRUB] {
        runs.push(plan(config, "bulkhead", &ours, &guests, None, None)?);
        runs.push(plan(config, "xen", &xen, &guests, None, None)?);
    }
    // The boot guest alone on QEMU, no hypervisor: what the guest's own start costs.
    let bench_guest = guests.join("bench.bin");
    let time: Vec<String> = VIRTUAL_TIME.iter().map(|s| s.to_string()).collect();
    let bare = qemu_args(&bench_guest, None, Some("guest.name=bare bench.mode=boot"), &time)?;
    // Without -dtb QEMU gives the guest EL1 and PSCI over HVC when EL2 is off.
    let bare: Vec<String> = bare.into_iter().map(|a| a.replace(",virtualization=on", "")).collect();
    runs.push(Run { name: "bench-boot-bare".into(), args: bare, guests: &["bare"], plugin_log: None, totals: false });
    let pairs = Counting { library: &counter, logs: &logs, totals: false };
    for config in [ISOLATION_BASELINE, ISOLATION_SATURATED] {
        runs.push(plan(config, "bulkhead", &ours, &guests, Some(pairs), None)?);
    }
    runs.push(plan(EVENT_CHANNEL, "bulkhead", &ours, &guests, None, None)?);
    runs.push(plan(EVENT_CHANNEL, "xen", &xen, &guests, None, None)?);
    runs.push(plan(EVENT_CHANNEL_NULL, "bulkhead", &ours, &guests, None, None)?);
    // Linux to init on both, and bare on the same QEMU, the plugin counting every CPU.
    let linux = crate::linux::guest(&mut Debian::new()).map_err(BenchError::Linux)?;
    let totals = Counting { library: &counter, logs: &logs, totals: true };
    runs.push(plan(linux::CONFIG, "bulkhead", &ours, &guests, Some(totals), Some(&linux.dir))?);
    runs.push(plan(linux::CONFIG, "xen", &xen, &guests, Some(totals), Some(&linux.dir))?);
    let bare_name = "bench-linux-bare";
    let (plugin_args, bare_log) = counting_args(totals, bare_name);
    let mut options = linux::bare_options(&linux.bench_initramfs());
    options.extend(plugin_args);
    let args = qemu_args(&linux.kernel(), None, Some(linux::BOOTARGS), &options)?;
    runs.push(Run { name: bare_name.into(), args, guests: &[linux::GUEST], plugin_log: Some(bare_log), totals: true });
    runs.push(plan(DIRECT, "bulkhead", &ours, &guests, None, None)?);
    // The timer case on bare QEMU, no hypervisor: what direct delivery is compared with.
    let bare_timer = qemu_args(&bench_guest, None, Some(&format!("guest.name={} bench.mode=timer", rows::BARE_TIMER_GUEST)), &time)?;
    let bare_timer: Vec<String> = bare_timer.into_iter().map(|a| a.replace(",virtualization=on", "")).collect();
    runs.push(Run { name: "bench-timer-bare".into(), args: bare_timer, guests: &[rows::BARE_TIMER_GUEST], plugin_log: None, totals: false });
    println!("xtask: bench: {} QEMU boots, two at a time, under -icount", runs.len());
    let mut booted = boot_all(&runs, &logs).into_iter();
    let mut next = || booted.next().unwrap_or_else(|| Err(BenchError::Incomplete(vec!["a boot is missing".into()])));
    let (latency_ours, latency_xen, boot_ours, boot_xen) = (next()?, next()?, next()?, next()?);
    let (unscrubbed_ours, unscrubbed_xen, bare) = (next()?, next()?, next()?);
    let (alone, saturated) = (next()?, next()?);
    let (evtchn_ours, evtchn_xen, evtchn_null) = (next()?, next()?, next()?);
    let (linux_ours, linux_xen, linux_bare) = (next()?, next()?, next()?);
    let (direct, timer_bare) = (next()?, next()?);

    let ours_report = rows::report(&latency_ours.reports, rows::LATENCY_GUEST);
    let xen_report = rows::report(&latency_xen.reports, rows::LATENCY_GUEST);
    let counter_hz = [&ours_report, &xen_report].iter().find_map(|r| r.as_ref().ok()?.frequency).unwrap_or(0);
    let evtchn = (rows::report(&evtchn_ours.reports, rows::EVENT_CHANNEL_GUEST), rows::report(&evtchn_xen.reports, rows::EVENT_CHANNEL_GUEST));
    let mut table = rows::latency_rows(&ours_report, &xen_report, (&evtchn.0, &evtchn.1));
    let (name, what) = rows::EVENT_CHANNEL_NULL;
    let null_pools = rows::latency_cell(&rows::report(&evtchn_null.reports, rows::EVENT_CHANNEL_GUEST), rows::EVENT_CHANNEL_CASE);
    let no_null = Cell::NotMeasured { why: "Debian's Xen 4.17 has no null scheduler".into() };
    table.insert(rows::LATENCY_CASES.len() + 1, Row::new(name, what, "ticks", null_pools, no_null));
    let direct_cell = rows::latency_cell(&rows::report(&direct.reports, rows::LATENCY_GUEST), rows::TIMER_CASE);
    let bare_cell = rows::latency_cell(&rows::report(&timer_bare.reports, rows::BARE_TIMER_GUEST), rows::TIMER_CASE);
    let no_direct = Cell::NotMeasured { why: "Xen 4.17 has no direct interrupt delivery".into() };
    let no_hypervisor = Cell::NotMeasured { why: "bare QEMU: no hypervisor".into() };
    let (name, what) = rows::TIMER_DIRECT;
    table.insert(rows::LATENCY_CASES.len() + 2, Row::new(name, &rows::direct_what(what, &direct_cell, &bare_cell), "ticks", direct_cell, no_direct));
    let (name, what) = rows::TIMER_BARE;
    table.insert(rows::LATENCY_CASES.len() + 3, Row::new(name, what, "ticks", bare_cell, no_hypervisor));
    let bare_boot = rows::report(&bare.reports, "bare").ok().and_then(|r| r.boot_count);
    let floor = bare_boot.map_or(String::new(), |t| format!("; the guest alone on QEMU: {}", results::thousands(t)));
    let boots = [("boot", "", &boot_ours, &boot_xen), ("boot-noscrub", ", boot scrub off", &unscrubbed_ours, &unscrubbed_xen)];
    for (case, how, ours_boot, xen_boot) in boots {
        for (last, which) in [(false, "first"), (true, "last")] {
            let what = format!("reset to the {which} of 2 partitions' main (512 + 384 MiB{how}; physical counter{floor})");
            let (ours_cell, xen_cell) = (rows::boot_cell(&ours_boot.reports, last), rows::boot_cell(&xen_boot.reports, last));
            let (ours_insns, xen_insns) = (rows::in_instructions(&ours_cell, counter_hz), rows::in_instructions(&xen_cell, counter_hz));
            table.push(Row::new(&format!("{case}-{which}"), &what, "ticks", ours_cell, xen_cell));
            table.push(Row::new(&format!("{case}-{which}-instructions"), "the same in instructions (1 ns each under -icount shift=0)", "instructions", ours_insns, xen_insns));
        }
    }
    table.extend(linux::rows(&linux_ours, &linux_xen, &linux_bare));
    let (ours_file, ours_loaded) = image_sizes(&ours)?;
    let (xen_file, xen_loaded) = image_sizes(&xen)?;
    table.push(Row::new("image-file", "image file size", "bytes", ours_file, xen_file));
    table.push(Row::new("image-loaded", "image in memory (header image_size, bss included)", "bytes", ours_loaded, xen_loaded));
    let memory = rows::bulkhead_memory(&latency_ours.lines);
    let missing = || Cell::NotMeasured { why: "no `hypervisor: START..END` boot line".into() };
    let xen_ram = || Cell::NotMeasured { why: "Xen allocates from the pool domains use at run time; see docs/bench.md".into() };
    let ours_ram = memory.map_or_else(missing, |m| Cell::Value { value: m.total() });
    table.push(Row::new("host-ram", "host RAM the hypervisor keeps for itself at boot", "bytes", ours_ram, xen_ram()));
    let fixed = memory.map_or_else(missing, |m| Cell::Value { value: m.fixed });
    table.push(Row::new("host-ram-fixed", "of which fixed: the image in memory (code, data, the CPUs' stacks, the boot heap)", "bytes", fixed, xen_ram()));
    let partitions = memory.map_or(0, |m| m.partitions);
    let per_partition = memory.and_then(|m| m.per_partition()).map_or_else(
        || Cell::NotMeasured { why: "no `bulkhead: partition` boot line".into() },
        |value| Cell::Value { value },
    );
    let plural = if partitions == 1 { "" } else { "s" };
    let what = format!("of which per partition, kept at boot: heap carved from host RAM, stage-2 tables and first grant frame from the page pool ({partitions} partition{plural}, xen,enhanced)");
    table.push(Row::new("host-ram-per-partition", &what, "bytes", per_partition, xen_ram()));
    let growth = memory.and_then(|m| m.growth_cap_per_partition()).map_or_else(
        || Cell::NotMeasured { why: "no `run-time host RAM` boot line".into() },
        |value| Cell::Value { value },
    );
    let what = format!("per partition, grown at run time from the page pool at most (its cap: stage-2 tables for run-time mappings, grant frames, maptrack, page states; {partitions} partition{plural})");
    table.push(Row::new("host-ram-growth-cap", &what, "bytes", growth, xen_ram()));

    let counted = |run: &Booted| {
        let report = rows::report(&run.reports, rows::LATENCY_GUEST);
        match &run.samples {
            Ok(samples) => isolation::split(&report, samples),
            Err(why) => isolation::split(&Err(why.clone()), &[]),
        }
    };
    // The neighbours must all be running before the samples: each says `start` first.
    let first_result = saturated.lines.iter().position(|l| l.contains(": bench.result")).unwrap_or(saturated.lines.len());
    let late: Vec<&str> = isolation::NEIGHBOURS
        .iter()
        .copied()
        .filter(|name| !saturated.lines[..first_result].iter().any(|l| l.contains(&format!("{name}: start"))))
        .collect();
    let (alone, saturated) = if late.is_empty() {
        (counted(&alone), counted(&saturated))
    } else {
        let why = format!("{} had not started when the samples began", late.join(", "));
        (counted(&alone), isolation::split(&Err(why), &[]))
    };
    let isolation_rows = isolation::rows(&alone, &saturated);

    let base = format!("{} -machine virt,virtualization=on,gic-version=3 {}", command::QEMU, MACHINE_OPTIONS.join(" "));
    let machine = format!("{base} {}", VIRTUAL_TIME.join(" "));
    let isolation_machine = format!("{base} {}", ISOLATION_OPTIONS.join(" "));
    let results = Results { command: COMMAND.into(), machine, counter_hz, rows: table, isolation_machine, isolation: isolation_rows };
    println!("\n$ {COMMAND}\n{}\n{}", results.machine, results::table(&results));
    let cpu = [alone.cpu, saturated.cpu].into_iter().flatten().next().map_or("?".into(), |c| c.to_string());
    println!(
        "\nIsolation: the bench guest alone in a null pool (QEMU CPU {cpu}), then beside a saturated credit2 pool\n\
         of two CPUs: the instructions that CPU executed per sample (QEMU plugin), median (min-max)\n{}\n{}",
        results.isolation_machine,
        isolation::table(&results.isolation)
    );
    let json = out.join("results.json");
    let text = serde_json::to_string_pretty(&results).map_err(|e| BenchError::Io { path: json.clone(), source: e.into() })?;
    fs::write(&json, text + "\n").map_err(io(&json))?;
    let svg = out.join("latency.svg");
    let histogram = |cell: &Cell| match cell {
        Cell::Measured { histogram, .. } => Some(histogram.clone()),
        _ => None,
    };
    type Histogram = Option<Vec<(u64, u64)>>;
    let series: Vec<(String, Histogram, Histogram)> = results
        .rows
        .iter()
        .filter(|row| [rows::EVENT_CHANNEL.0, rows::EVENT_CHANNEL_NULL.0].contains(&row.case.as_str()) || rows::LATENCY_CASES.iter().any(|(case, _)| *case == row.case))
        .map(|row| (row.what.clone(), histogram(&row.bulkhead), histogram(&row.xen)))
        .collect();
    let panels: Vec<plot::Panel<'_>> = series
        .iter()
        .map(|(title, ours, xen)| plot::Panel { title, bulkhead: ours.as_deref(), xen: xen.as_deref() })
        .collect();
    plot::draw(&svg, &panels).map_err(|why| BenchError::Plot { path: svg.clone(), why })?;
    println!("xtask: bench: wrote {} and {}", json.display(), svg.display());

    let problems: Vec<String> = results
        .rows
        .iter()
        .flat_map(|row| [("Bulkhead", &row.bulkhead), ("Xen", &row.xen)].map(|(who, cell)| (row, who, cell)))
        .filter_map(|(row, who, cell)| match cell {
            Cell::NotMeasured { why }
                if !(who == "Xen"
                    && (row.case.starts_with("host-ram") || matches!(row.case.as_str(), "grant" | "event-channel-null" | "timer-irq-direct" | "timer-irq-bare"))) =>
            {
                Some(format!("{} on {who}: {why}", row.case))
            }
            _ => None,
        })
        .chain(results.isolation.iter().flat_map(|row| {
            [("baseline", &row.baseline), ("saturated", &row.saturated)].into_iter().filter_map(move |(run, cell)| match cell {
                Cell::NotMeasured { why } => Some(format!("{} ({run}, instructions): {why}", row.case)),
                _ => None,
            })
        }))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(BenchError::Incomplete(problems))
    }
}
