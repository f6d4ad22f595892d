//! Hypervisor console scenarios: the harness types commands on QEMU's serial input while
//! `spin` partitions keep printing, and checks the answers and their effects.

use std::time::Duration;

use crate::defmt::DECODED;
use crate::scenario::{Check, Expect, Hypervisor, PartitionConfig, Scenario};

use super::partitions::{restarting, says, started, stopped, ALL_STOPPED, SENT_BY_TRANSMIT_INTERRUPT};
use super::{boot_lines, POWER_OFF};

fn scenario(name: &str, file: &str, steps: Vec<Expect>) -> Scenario {
    let mut expect = boot_lines("QEMU virt", "v3", 4);
    expect.extend(steps);
    expect.extend([Expect::line(ALL_STOPPED), Expect::line(POWER_OFF)]);
    Scenario {
        gic: Some(3),
        expect,
        deadline: Duration::from_secs(90),
        partitions: Some(PartitionConfig { file: file.into(), valid: true }),
        checks: vec![SENT_BY_TRANSMIT_INTERRUPT],
        ..Scenario::new(name, "virt")
    }
}

fn typed(text: &str) -> Expect {
    Expect::Type(format!("{text}\r"))
}

fn line(text: &str) -> Expect {
    Expect::line(text)
}

/// `list`, `restart`, `stop`, `start`, `pools`, `mem`, `irq`, `log`, `focus` and the hints,
/// with three partitions running.
fn console() -> Scenario {
    let done = |name: &str| vec![says(name, "done"), stopped(name)];
    scenario(
        "virt-gicv3-console",
        "tests/scenarios/virt-console.dts",
        vec![
            Expect::AnyOrder(vec![started("alpha"), started("beta"), started("gamma")]),
            line(&says("alpha", "tick 2")),
            typed("list"),
            line("bulkhead: 3 partitions:"),
            line("bulkhead:   1 alpha: running, 1 vcpu, pool Pool-0 (credit2), 16 MiB, up "),
            line(", 0 restarts"),
            line("bulkhead:     vcpu 0: "),
            line("bulkhead:   2 beta: running, 1 vcpu, pool Pool-0 (credit2), 16 MiB, up "),
            line("bulkhead:   3 gamma: running, 1 vcpu, pool Pool-0 (credit2), 16 MiB, up "),
            typed("restart beta"),
            line("bulkhead: operator: restarting partition \"beta\""),
            line(&restarting("beta", 2)),
            // The others keep printing while beta boots again.
            Expect::Interleaved(vec![vec![says("alpha", "tick")], vec![says("beta", "tick 1")]]),
            typed("stop gamma"),
            line("bulkhead: operator: stopping partition \"gamma\""),
            line(&stopped("gamma")),
            line(&says("alpha", "tick")),
            typed("start gamma"),
            line("bulkhead: operator: starting partition \"gamma\""),
            line(&says("gamma", "tick 1")),
            typed("list"),
            line("bulkhead:   2 beta: running"),
            line(", 1 restart"),
            line("bulkhead:   3 gamma: running"),
            typed("pools"),
            line("bulkhead:   Pool-0 (credit2): cpus [0, 1, 2, 3], partitions alpha, beta, gamma"),
            typed("mem"),
            line("bulkhead: host RAM 2048 MiB: hypervisor "),
            line("bulkhead:   partition \"alpha\": 16 MiB"),
            line("bulkhead:   free or firmware: "),
            line("bulkhead: hypervisor heap: "),
            typed("irq"),
            line("bulkhead: interrupts taken: cpu 0 "),
            line("bulkhead: console: "),
            line("bulkhead:   partition \"alpha\": "),
            typed("log"),
            line("bulkhead: recent messages:"),
            line("  bulkhead: operator: starting partition \"gamma\""),
            typed("bogus"),
            line("bulkhead: unknown command \"bogus\"; type help for the list"),
            typed("stop"),
            line("bulkhead: stop needs a partition name: stop NAME (list shows them)"),
            typed("stop nobody"),
            line("bulkhead: no partition \"nobody\"; the partitions are alpha, beta, gamma"),
            typed("help"),
            line("bulkhead: commands:"),
            typed("focus alpha"),
            line("*** Serial input to alpha"),
            Expect::Interleaved(vec![done("alpha"), done("beta"), done("gamma")]),
        ],
    )
}

/// `bulkhead,console-control = "read-only"`: `stop` is refused, `list` answers.
fn read_only() -> Scenario {
    scenario(
        "virt-gicv3-console-read-only",
        "tests/scenarios/virt-console-read-only.dts",
        vec![
            line(&started("solo")),
            line(&says("solo", "tick 1")),
            typed("stop solo"),
            line("bulkhead: the console is read-only (bulkhead,console-control = \"read-only\"): stop solo refused"),
            typed("list"),
            line("bulkhead:   1 solo: running"),
            line(&says("solo", "done")),
            line(&stopped("solo")),
        ],
    )
}

/// `steady`'s tick lines, `n` of them one after the other: at 200 ms a tick, what passes
/// between two other lines.
fn ticks(n: usize) -> Vec<Expect> {
    (0..n).map(|_| line(&says("steady", "tick"))).collect()
}

/// A partition that crashes at every boot is restarted `bulkhead,restart-limit` times, each
/// after a back-off twice the one before (1 s, then 2 s: `steady` ticks at least 4 and 8
/// times meanwhile, and `list` shows the wait), then held stopped; `list` says why while the
/// other partition keeps printing.
fn restart_limit() -> Scenario {
    let mut steps = vec![
        line(&says("crasher", "boot 1: crashing")),
        line("bulkhead: partition \"crasher\" crashed; restarting it in 1000 ms (on-crash = restart; back-off before crash restart 1 of at most 2)"),
    ];
    steps.extend(ticks(4));
    steps.extend([
        line(&format!("{} after a back-off of 1000 ms", restarting("crasher", 2))),
        line(&says("crasher", "boot 2: crashing")),
        line("bulkhead: partition \"crasher\" crashed; restarting it in 2000 ms (on-crash = restart; back-off before crash restart 2 of at most 2)"),
        typed("list"),
        line("bulkhead:   1 crasher: waiting to restart, 1 vcpu, pool Pool-0 (credit2), 16 MiB, restart in "),
        line(" (back-off 2.000s before crash restart 2 of at most 2), 1 restart, last crash: vcpu 0: unhandled trap SystemRegister"),
    ]);
    steps.extend(ticks(8));
    steps.extend([
        line(&format!("{} after a back-off of 2000 ms", restarting("crasher", 3))),
        line(&says("crasher", "boot 3: crashing")),
        line("bulkhead: partition \"crasher\" crashed after 2 crash restarts in a row (restart-limit 2); it stays stopped until the operator starts it"),
        line(&stopped("crasher")),
        typed("list"),
        line("bulkhead:   1 crasher: stopped, 1 vcpu, pool Pool-0 (credit2), 16 MiB, 2 restarts, last crash: vcpu 0: unhandled trap SystemRegister"),
        line(", held stopped: restart-limit 2 reached"),
        line("bulkhead:   2 steady: running"),
        line(&says("steady", "tick")),
        line(&says("steady", "done")),
        line(&stopped("steady")),
    ]);
    scenario("virt-gicv3-restart-limit", "tests/scenarios/virt-restart-limit.dts", steps)
}

/// `bulkhead,heartbeat-ms`: a partition that falls silent with its interrupts masked has its
/// crash policy applied within its heartbeat (restart: its second boot prints again), while
/// one that prints often enough under the same deadline is left alone.
fn heartbeat() -> Scenario {
    let mut s = scenario(
        "virt-gicv3-heartbeat",
        "tests/scenarios/virt-heartbeat.dts",
        vec![
            line(&says("quiet", "tick 3")),
            line(&says("quiet", "falling silent")),
            line("bulkhead: partition \"quiet\" wrote nothing to its console for 500 ms (bulkhead,heartbeat-ms = <500>); applying its crash policy"),
            line("bulkhead: partition \"quiet\" crashed; restarting it (on-crash = restart)"),
            line(&restarting("quiet", 2)),
            line(&says("quiet", "tick 5")),
            typed("list"),
            line("bulkhead:   1 quiet: running"),
            line(", heartbeat 500ms, 1 restart, last crash: no console output for 500 ms (heartbeat)"),
            Expect::Interleaved(vec![vec![says("quiet", "done"), stopped("quiet")], vec![says("steady", "done"), stopped("steady")]]),
        ],
    );
    s.forbidden.push(String::from("\"steady\" wrote nothing"));
    s
}

/// The hypervisor built with its `defmt` feature runs the heartbeat scenario: its log lines
/// come as defmt frames, which the harness decodes with the ELF's symbols before matching
/// (the same lines as the text build's, after `[defmt T] `), while the partitions' output
/// stays text.
fn defmt_heartbeat() -> Scenario {
    let mut s = heartbeat();
    s.name = String::from("virt-gicv3-defmt-heartbeat");
    s.hypervisor = Hypervisor::BulkheadDefmt;
    s.forbidden.push(String::from("undecodable defmt frame"));
    s.checks.push(Check { what: "the hypervisor's lines came as defmt frames, the partitions' as text", check: decoded_frames });
    s
}

fn decoded_frames(console: &[String]) -> Result<(), String> {
    let decoded = |text: &str| console.iter().any(|l| l.starts_with(DECODED) && l.contains(text));
    for text in ["bulkhead: partition \"quiet\" started", "bulkhead: partition \"quiet\" wrote nothing to its console", "bulkhead: all partitions stopped"] {
        if !decoded(text) {
            return Err(format!("no decoded defmt line with {text:?}"));
        }
    }
    match console.iter().find(|l| l.contains("(quiet) quiet: tick")) {
        Some(line) if !line.starts_with(DECODED) => Ok(()),
        other => Err(format!("the partition's output should stay text; found {other:?}")),
    }
}

/// Every console scenario.
pub fn all() -> Vec<Scenario> {
    vec![console(), read_only(), restart_limit(), heartbeat(), defmt_heartbeat()]
}
