//! Direct interrupt delivery (`bulkhead,irq-delivery = "direct"`): a partition alone on its
//! CPU takes its virtual timer's interrupts and its own SGIs without an exit, its SGIs reach
//! no other CPU, and the hypervisor still restarts it by its heartbeat and stops and starts it
//! from the console while it spins with every interrupt masked, and also when it first claims
//! the most urgent active priority in `ICC_AP1R0_EL1`, which holds off the hypervisor's own
//! interrupts on its CPU (the hypervisor then forces it out from another CPU).

use std::time::Duration;

use crate::scenario::{Check, Expect, PartitionConfig, Scenario};

use super::{boot_lines, POWER_OFF};
use super::partitions::{hello_beating, isolation, restarting, says, started, stopped, ALL_STOPPED};

/// Timer interrupts the `direct` guest takes on each boot (its `ROUNDS`).
const ROUNDS: u64 = 1000;
/// Its CPU.
const DIRECT_CPU: usize = 1;
/// `hello`'s CPU, whose timer interrupts the hypervisor takes and injects.
const HELLO_CPU: usize = 2;
/// The CPU of `claim`, the same guest claiming active priority 0.
const CLAIM_CPU: usize = 3;
/// `hello`'s beats (50 ms apart): it outlives the operator's steps, and its own end
/// switches the board off.
const BEATS: u64 = 300;
/// `hello`'s beats by the time the operator asks (the direct guest's two boots take a
/// second and more): its CPU took at least that many interrupts.
const BEATS_BY_THEN: u64 = 10;

/// The lines of the `direct` guest named `name` on one boot; `claim`: it claims priority 0.
fn guest_boot(name: &str, claim: bool) -> Vec<String> {
    let mut lines = vec![
        says(name, &format!("{ROUNDS} timer interrupts taken")),
        says(name, "SGIs 1 to 15 to itself taken; none to other CPUs and no SGI 0 arrived"),
    ];
    if claim {
        lines.push(says(name, "claimed active priority 0 in ICC_AP1R0_EL1"));
    }
    lines.push(says(name, "falling silent with every interrupt masked"));
    lines
}

/// The `direct` partition's lines on one boot.
fn direct_boot() -> Vec<String> {
    guest_boot("direct", false)
}

/// The `claim` partition's lines on one boot.
fn claim_boot() -> Vec<String> {
    guest_boot("claim", true)
}

/// The hypervisor's line when it forces vCPU 0 of `name` off `cpu` through its stage 2.
fn forced(name: &str, cpu: usize) -> String {
    format!("bulkhead: partition \"{name}\" vcpu 0 has not left cpu {cpu} ")
}

/// A partition's first boot, its heartbeat restart (forced off `forced_cpu` if given) and
/// its second boot.
fn two_boots(name: &str, boot: &[String], forced_cpu: Option<usize>) -> Vec<String> {
    let mut lines = vec![started(name)];
    lines.extend_from_slice(boot);
    lines.extend([
        format!("bulkhead: partition \"{name}\" wrote nothing to its console for 1000 ms (bulkhead,heartbeat-ms = <1000>); applying its crash policy"),
        format!("bulkhead: partition \"{name}\" crashed; restarting it (on-crash = restart)"),
    ]);
    lines.extend(forced_cpu.map(|cpu| forced(name, cpu)));
    lines.push(restarting(name, 2));
    lines.extend_from_slice(boot);
    lines
}

fn typed(text: &str) -> Expect {
    Expect::Type(format!("{text}\r"))
}

/// Timer interrupts through the first two boots of two direct partitions (one of them
/// claiming priority 0, taken back by force), beside `hello` and `isolation`; then the
/// operator's `irq`, and `stop` and `start` of each.
fn direct() -> Scenario {
    let mut expect = boot_lines("QEMU virt", "v3", 4);
    let mut hello = hello_beating("hello", 16, BEATS, 50);
    let hello_end = hello.split_off(hello.len() - 3);
    expect.push(Expect::Interleaved(vec![
        two_boots("direct", &direct_boot(), None),
        two_boots("claim", &claim_boot(), Some(CLAIM_CPU)),
        hello,
        isolation("isolation", &[0x1_0000_0000]),
    ]));
    expect.extend([
        typed("irq"),
        Expect::line("bulkhead: interrupts taken: cpu 0 "),
        Expect::line("bulkhead: guest exits: cpu 0 "),
        typed("stop direct"),
        Expect::line("bulkhead: operator: stopping partition \"direct\""),
        Expect::line(stopped("direct")),
        typed("start direct"),
        Expect::line("bulkhead: operator: starting partition \"direct\""),
    ]);
    expect.extend(direct_boot().into_iter().map(Expect::Line));
    expect.extend([typed("stop direct"), Expect::line(stopped("direct"))]);
    expect.extend([
        typed("stop claim"),
        Expect::line("bulkhead: operator: stopping partition \"claim\""),
        Expect::line(forced("claim", CLAIM_CPU)),
        Expect::line(stopped("claim")),
        typed("start claim"),
        Expect::line("bulkhead: operator: starting partition \"claim\""),
    ]);
    expect.extend(claim_boot().into_iter().map(Expect::Line));
    expect.extend([typed("stop claim"), Expect::line(forced("claim", CLAIM_CPU)), Expect::line(stopped("claim"))]);
    expect.extend(hello_end.into_iter().map(Expect::Line));
    expect.extend([Expect::line(ALL_STOPPED), Expect::line(POWER_OFF)]);
    let mut s = Scenario {
        gic: Some(3),
        expect,
        deadline: Duration::from_secs(120),
        partitions: Some(PartitionConfig { file: "tests/scenarios/virt-direct.dts".into(), valid: true }),
        checks: vec![Check { what: "the direct partition's interrupts took no exit", check: no_exits }],
        ..Scenario::new("virt-gicv3-direct", "virt")
    };
    // A stray SGI on another CPU, or one of the guest's on the hypervisor's side; a vCPU that
    // not even a withdrawn stage 2 brought out.
    s.forbidden.extend([
        "unexpected interrupt".to_string(),
        "unexpected Group 0 interrupt".to_string(),
        "even with its stage 2 withdrawn".to_string(),
        "has not left cpu 3 after".to_string(),
    ]);
    s
}

/// The per-CPU figures of the console line that starts with `prefix` (`cpu N VALUE ...`).
fn per_cpu(console: &[String], prefix: &str) -> Result<Vec<u64>, String> {
    let line = console.iter().find_map(|l| l.split_once(prefix).map(|(_, rest)| rest)).ok_or(format!("no line {prefix:?}"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .chunks(3)
        .map(|w| match w {
            ["cpu", _, value] => value.parse().map_err(|_| format!("{prefix:?}: {value:?} is not a number")),
            _ => Err(format!("{prefix:?}: unexpected {w:?}")),
        })
        .collect()
}

/// Each boot of the `direct` guest before the operator's `irq` took [`ROUNDS`] timer
/// interrupts and 15 SGIs on its CPU, each of which would be an interrupt the hypervisor
/// takes (and an exit) with virtual delivery: the hypervisor took only a few there per boot
/// (its heartbeat timer, kicks), and fewer exits than the guest took interrupts (its exits
/// are its traps: GIC set-up, SGI writes, console bytes), while `hello`'s CPU counted each of
/// its beats so far.
fn no_exits(console: &[String]) -> Result<(), String> {
    let asked = console.iter().position(|l| l.contains("bulkhead: interrupts taken: ")).ok_or("no `irq` answer")?;
    let boots = console[..asked].iter().filter(|l| l.contains(&direct_boot()[0])).count() as u64;
    let taken = per_cpu(console, "bulkhead: interrupts taken: ")?;
    let exits = per_cpu(console, "bulkhead: guest exits: ")?;
    let (direct, hello) = (taken.get(DIRECT_CPU).copied(), taken.get(HELLO_CPU).copied());
    let direct_exits = exits.get(DIRECT_CPU).copied();
    let (most_taken, most_exits) = (5 * boots, boots * ROUNDS);
    match (direct, hello, direct_exits) {
        (Some(d), Some(h), Some(e)) if boots > 0 && d <= most_taken && h >= BEATS_BY_THEN && e < most_exits => Ok(()),
        _ => Err(format!(
            "after {boots} boots of {ROUNDS} timer interrupts: interrupts the hypervisor took on cpu {DIRECT_CPU} (direct) {direct:?}, \
             on cpu {HELLO_CPU} (hello) {hello:?}; exits on cpu {DIRECT_CPU}: {direct_exits:?}; want at most {most_taken}, at least {BEATS_BY_THEN}, \
             and fewer than {most_exits}"
        )),
    }
}

/// The direct-delivery scenarios.
pub fn all() -> Vec<Scenario> {
    vec![direct()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_figures_are_read_per_cpu() {
        let console = vec![
            says("direct", "1000 timer interrupts taken"),
            says("direct", "1000 timer interrupts taken"),
            "bulkhead: interrupts taken: cpu 0 12 cpu 1 3 cpu 2 140 cpu 3 0".to_string(),
            "bulkhead: guest exits: cpu 0 40 cpu 1 700 cpu 2 300 cpu 3 0".to_string(),
        ];
        assert_eq!(per_cpu(&console, "bulkhead: interrupts taken: "), Ok(vec![12, 3, 140, 0]));
        assert_eq!(no_exits(&console), Ok(()));
        let mut virtual_delivery = console.clone();
        virtual_delivery[2] = "bulkhead: interrupts taken: cpu 0 12 cpu 1 2003 cpu 2 140 cpu 3 0".to_string();
        assert!(no_exits(&virtual_delivery).is_err());
    }
}
