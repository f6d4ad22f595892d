//! Partitions that restart, crash or attack beside `hello`, whose beat must go on: the
//! `reset` guest restarting itself, a partition crashing and restarted 99 times, and the
//! `hostile` guest's storm of traps. Their checks read the beat's figures from the console.

use crate::scenario::{Check, Expect, PartitionConfig, Scenario};

use super::partitions::{hello, hello_beating, restarting, says, started, stopped, ALL_STOPPED};
use super::{boot_lines, ICOUNT, POWER_OFF};

/// The `reset` guest's lines: boots 1 to 3, restarted by the hypervisor in between.
fn reset(name: &str) -> Vec<String> {
    let mut lines = vec![started(name)];
    for boot in 1..=3 {
        if boot > 1 {
            lines.push(restarting(name, boot));
        }
        lines.push(says(name, &format!("boot {boot} of 3")));
        if boot < 3 {
            lines.push(says(name, "system reset"));
        }
    }
    lines.extend([says(name, "done"), stopped(name)]);
    lines
}

/// The heartbeat period (`hello.period`) of the scenarios that check it against a bound.
/// `hello` waits for each beat in WFI, so that its QEMU thread sleeps rather than competes
/// with the neighbour's for the host (spinning, it saw gaps of 160 to 175 ms beside the
/// storm on a loaded host).
const HEARTBEAT_MS: u64 = 50;

/// The `reset` guest's lines when it crashes on each boot but the last, restarted by its
/// on-crash policy.
fn crashing(name: &str, boots: u32) -> Vec<String> {
    let mut lines = vec![started(name)];
    for boot in 1..=boots {
        if boot > 1 {
            lines.push(restarting(name, boot));
        }
        lines.push(says(name, &format!("boot {boot} of {boots}")));
        if boot < boots {
            lines.push(says(name, "crash"));
            lines.push(format!("bulkhead: partition \"{name}\" crashed; restarting it (on-crash = restart)"));
        }
    }
    lines.extend([says(name, "no earlier secret survived its reset"), says(name, "done"), stopped(name)]);
    lines
}

/// `reset` crashes and is restarted 99 times beside `hello`'s heartbeat; the 100th boot
/// prints its count, and no boot finds the secret of the one before. The second and the last
/// boot hold for 300 ms, while the harness types `mem` on the hypervisor console: the
/// heap's free bytes must be the same after the first restart as after the 99th. (Boot 1 is
/// not the reference: the heap had 1296 bytes less free then than after any restart, in two
/// runs out of three; what the first restart gives back is not found yet.)
///
/// Under `-icount`, so that `hello`'s counter measures what the board did, not the host's
/// load: without it, on a host with two cores shared with another QEMU and builds, `hello`
/// saw gaps of 103 and 131 ms between beats with nothing of the restarts at fault (in
/// `virt-gicv3-hostile` a gap of 106 ms came with `hello` alone on the board). Its gaps are
/// bounded by [`within_icount_turns`]; 50,046 to 52,230 us was measured (the 99 restarts,
/// 16 MiB scrubbed and reloaded each, take less than one period of virtual time).
pub(crate) fn restart_100() -> Scenario {
    let mem = || [Expect::Type("mem\r".to_string()), Expect::line(HEAP_FREE)];
    let mut expect = boot_lines("QEMU virt", "v3", 4);
    expect.extend([Expect::line(started("reset")), Expect::line(says("reset", "boot 2 of 100")), Expect::line(says("reset", "holding for"))]);
    expect.extend(mem());
    expect.extend([Expect::line(says("reset", "boot 100 of 100")), Expect::line(says("reset", "holding for"))]);
    expect.extend(mem());
    expect.extend([
        Expect::line(says("reset", "no earlier secret survived its reset")),
        Expect::line(stopped("reset")),
        Expect::line(ALL_STOPPED),
        Expect::line(POWER_OFF),
    ]);
    Scenario {
        gic: Some(3),
        expect,
        pending: false,
        partitions: Some(PartitionConfig { file: "tests/scenarios/virt-gicv3-restart-100.dts".into(), valid: true }),
        checks: vec![
            Check { what: "every one of reset's 100 boots, in order", check: reset_crashed_99_times },
            Check { what: "hello's heartbeat ran whole and undisturbed (by virtual time)", check: hello_beat_through_the_restarts },
            Check { what: "the hypervisor's heap had as much free after the 99th restart as after the first", check: heap_same_after_restarts },
        ],
        qemu_args: ICOUNT.iter().map(|s| s.to_string()).collect(),
        deadline: std::time::Duration::from_secs(120),
        ..Scenario::new("virt-gicv3-restart-100", "virt")
    }
}

/// The start of the line `mem` prints about the hypervisor's heap.
const HEAP_FREE: &str = "bulkhead: hypervisor heap: ";
/// `hello.beats` in `virt-gicv3-restart-100.dts`.
const RESTART_BEATS: u64 = 400;

/// `lines` appear in the console in this order (others may come between).
fn in_order(console: &[String], lines: &[String]) -> Result<(), String> {
    let mut at = 0;
    for line in lines {
        match console[at..].iter().position(|l| l.contains(line.as_str())) {
            Some(found) => at += found + 1,
            None => return Err(format!("no line {line:?} after line {at} of the console")),
        }
    }
    Ok(())
}

fn reset_crashed_99_times(console: &[String]) -> Result<(), String> {
    in_order(console, &crashing("reset", 100))
}

fn hello_beat_through_the_restarts(console: &[String]) -> Result<(), String> {
    in_order(console, &hello_beating("hello", 64, RESTART_BEATS, HEARTBEAT_MS))?;
    within_icount_turns(console)
}

/// The two heap lines `mem` printed give the same number of free bytes, both read while
/// `hello` still ran (a partition that stops gives memory back).
fn heap_same_after_restarts(console: &[String]) -> Result<(), String> {
    let free: Vec<&str> = console.iter().filter_map(|l| l.strip_prefix(HEAP_FREE)?.strip_suffix(" bytes free")).collect();
    let last_heap = console.iter().rposition(|l| l.starts_with(HEAP_FREE));
    let hello_stopped = console.iter().position(|l| *l == stopped("hello"));
    if let (Some(heap), Some(stop)) = (last_heap, hello_stopped) {
        if stop < heap {
            return Err(format!("`hello` stopped before the second `mem`, so the two were read in different states: raise hello.beats above {RESTART_BEATS}"));
        }
    }
    match free[..] {
        [before, after] if before == after => Ok(()),
        [before, after] => Err(format!("the heap had {before} bytes free at boot 2 and {after} at boot 100: restarts do not give back what they take")),
        _ => Err(format!("expected two `{HEAP_FREE}N bytes free` lines, found {}", free.len())),
    }
}

/// `hostile` tries everything a guest can to reach past its partition while `hello` keeps a
/// heartbeat: every attempt comes back to it, a storm of a million random operations from
/// its three vCPUs ends in a SYSTEM_RESET race, and each later boot crashes in another way
/// into its crash policy (restart), until the last switches itself off.
pub(crate) fn hostile_beside_hello() -> Scenario {
    let name = "hostile";
    // The banner says where the hypervisor sits: the address `hostile.scribble` names.
    let mut expect = boot_lines("QEMU virt", "v3", 4);
    expect.insert(3, Expect::line("hypervisor: 0x40200000.."));
    let crashed = format!("bulkhead: partition \"{name}\" crashed; restarting it (on-crash = restart)");
    let hostile = vec![
        started(name),
        says(name, "psci 1.1"),
        says(name, "filled 56 MiB of its own RAM"),
        says(name, "20 stores outside its memory faulted"),
        says(name, "scribbled 64 KiB at 0x40200000, its own RAM"),
        says(name, "2000 device accesses: "),
        says(name, "3000 garbage calls answered"),
        says(name, "filled 56 MiB of its own RAM"),
        says(name, "300 lines of escape sequences written"),
        says(name, "hvc at 0xfffffffffffffffc returned to 0, which faulted"),
        says(name, &format!("storm: {HOSTILE_STORM} operations on 3 vcpus")),
        says(name, "boot 1: ends with race"),
        says(name, "race: 3 of 3 vcpus at the start"),
        restarting(name, 2),
        says(name, "boot 2: ends with aarch32"),
        says(name, "aarch32: el0 loads from 0xc0000000, which this partition does not have"),
        says(name, "aarch32: the el0 load took an abort at 0xc0000000, caught at el1"),
        says(name, "aarch32: el0 reads CNTP_CTL with an mrc, which traps to the hypervisor"),
        // EC 0x03: an MCR or MRC to CP15 trapped from AArch32.
        format!("bulkhead: partition \"{name}\" vcpu 0: unhandled trap Other(3)"),
        crashed.clone(),
        restarting(name, 3),
        says(name, "boot 3: ends with sgi0r"),
        format!("bulkhead: partition \"{name}\" vcpu 0: unhandled trap SystemRegister"),
        crashed.clone(),
        restarting(name, 4),
        says(name, "boot 4: ends with asgi1r"),
        format!("bulkhead: partition \"{name}\" vcpu 0: unhandled trap SystemRegister"),
        crashed,
        restarting(name, 5),
        says(name, "boot 5: ends with off"),
        says(name, "done"),
        stopped(name),
    ];
    // `hello` checks its RAM after its heartbeat: nothing `hostile` wrote reached it.
    let mut guarded = hello_beating("hello", 64, HOSTILE_BEATS, HEARTBEAT_MS);
    let done = guarded.len() - 2;
    guarded.insert(done, says("hello", "its RAM is intact (56 MiB checked)"));
    expect.extend([
        Expect::Interleaved(vec![hostile, guarded]),
        Expect::line(ALL_STOPPED),
        Expect::line(POWER_OFF),
    ]);
    Scenario {
        gic: Some(3),
        expect,
        pending: false,
        partitions: Some(PartitionConfig { file: "tests/scenarios/virt-gicv3-hostile.dts".into(), valid: true }),
        // No escape sequence or C1 control may reach the terminal raw, and nothing may fail.
        forbidden: vec!["FAIL".to_string(), "FATAL".to_string(), "\u{1b}".to_string(), "\u{9b}".to_string()],
        checks: vec![
            Check { what: "hello's heartbeat kept its period but for the host's stalls", check: within_host_stalls },
            Check { what: "hello's heartbeat lasted until the hostile partition's storm was over", check: heartbeat_outlasted_the_storm },
        ],
        deadline: std::time::Duration::from_secs(150),
        ..Scenario::new("virt-gicv3-hostile", "virt")
    }
}

/// The hostile guest's `hostile.storm` and hello's `hello.beats` in `virt-gicv3-hostile.dts`.
const HOSTILE_STORM: u64 = 1_000_000;
const HOSTILE_BEATS: u64 = 1800;

/// The line that sums up `hello`'s heartbeat.
fn heartbeat_line(console: &[String]) -> Result<&String, String> {
    console
        .iter()
        .find(|l| l.starts_with("(hello) hello: ") && l.contains(" ms, longest gap "))
        .ok_or_else(|| String::from("`hello` reported no longest gap"))
}

/// The period (in milliseconds) and the longest gap between two beats (in microseconds)
/// `hello` reported.
fn longest_gap(console: &[String]) -> Result<(u64, u64), String> {
    let line = heartbeat_line(console)?;
    let number = |after: &str, unit: &str| line.split(after).nth(1)?.split(unit).next()?.parse::<u64>().ok();
    number(" beats every ", " ms")
        .zip(number("longest gap ", " us"))
        .ok_or_else(|| format!("`hello`'s heartbeat line gives no period and longest gap: {line:?}"))
}

/// The longest QEMU's `-icount` round robin may keep `hello`'s CPU from running while it has
/// work: it runs the CPUs in turn in one thread, each turn at most a quarter (four CPUs) of
/// the time to the next timer deadline, which its round-robin kick keeps within 100 ms; so a
/// lock another CPU holds when its turn ends can hold `hello` up that long. QEMU's, not the
/// board's.
const ICOUNT_TURN_MS: u64 = 25;

/// Under `-icount` (virtual time is instructions, 1 ns each, and no host load stretches it),
/// hello's beats were never further apart than its period and one of QEMU's turns
/// ([`ICOUNT_TURN_MS`]): anything the hypervisor does on `hello`'s CPU or in its way for
/// longer fails the check.
fn within_icount_turns(console: &[String]) -> Result<(), String> {
    gap_within(console, ICOUNT_TURN_MS, " by virtual time", &format!("QEMU's {ICOUNT_TURN_MS} ms turn")).map(|_| ())
}

/// `hello`'s longest gap between beats was at most its period and `margin_ms` (`margin` says
/// what that is, `clock` which clock measured the gap); returns the period in milliseconds.
fn gap_within(console: &[String], margin_ms: u64, clock: &str, margin: &str) -> Result<u64, String> {
    let (period_ms, gap) = longest_gap(console)?;
    let allowed = (period_ms + margin_ms) * 1000;
    if gap > allowed {
        return Err(format!(
            "`hello`'s longest gap between beats was {gap} us{clock}, more than its {period_ms} ms period and {margin} ({allowed} us): something held its CPU (its `late beat` lines say where the time went)"
        ));
    }
    Ok(period_ms)
}

/// The longest a QEMU without `-icount` was seen to stop `hello`'s CPU on a host with two
/// cores shared with another QEMU and builds, with nothing of the board at fault: 207 ms
/// (woken 157 ms after its deadline; and 106 ms with `hello` alone on the board, the hostile
/// partition stopped), rounded up; the same run under `-icount` never saw more than 55.3 ms.
/// `hello`'s counter follows the host's clock there, so a stalled QEMU thread looks like a
/// late beat.
const HOST_STALL_MS: u64 = 300;

/// Without `-icount` (`virt-gicv3-hostile`, whose storm wants its vCPUs truly in parallel):
/// hello's beats were never further apart than a period and the host's longest stall
/// ([`HOST_STALL_MS`]), and at most one in a hundred was more than two periods after the one
/// before (a stall of the host is a rare episode; a hypervisor that holds `hello` up for its
/// neighbour does it again and again). What the board itself costs `hello` is measured under
/// `-icount` by `virt-gicv3-restart-100`, and for this scenario in its file's comment.
fn within_host_stalls(console: &[String]) -> Result<(), String> {
    let period_ms = gap_within(console, HOST_STALL_MS, "", &format!("the {HOST_STALL_MS} ms a loaded host was seen to stall QEMU"))?;
    let (beats, late) = late_beats(console)?;
    if late * 100 > beats {
        return Err(format!(
            "{late} of `hello`'s {beats} beats came more than twice its {period_ms} ms period after the one before, more than one in a hundred: its CPU was held up again and again (its `late beat` lines say where the time went)"
        ));
    }
    Ok(())
}

/// How many beats `hello` gave and how many came more than two periods after the one before.
fn late_beats(console: &[String]) -> Result<(u64, u64), String> {
    let line = heartbeat_line(console)?;
    let number = |after: &str, before: &str| line.split(after).nth(1)?.split(before).next()?.parse::<u64>().ok();
    let beats = line.strip_prefix("(hello) hello: ").and_then(|rest| rest.split(' ').next()?.parse::<u64>().ok());
    beats
        .zip(number(" us, ", " gaps over "))
        .ok_or_else(|| format!("`hello`'s heartbeat line gives no count of beats and late ones: {line:?}"))
}

/// hello's last beat came after the hostile storm's summary: the heartbeat covered it.
fn heartbeat_outlasted_the_storm(console: &[String]) -> Result<(), String> {
    let storm = console.iter().position(|l| l.contains("hostile: storm: ")).ok_or("`hostile` printed no storm summary")?;
    let last = format!("(hello) hello: beat {HOSTILE_BEATS}");
    let beat = console.iter().position(|l| *l == last).ok_or_else(|| format!("no line {last:?}"))?;
    if beat < storm {
        return Err(format!("`hello`'s last beat came before the storm ended: raise hello.beats above {HOSTILE_BEATS}"));
    }
    Ok(())
}

/// `reset` restarts itself twice beside `hello`, which runs undisturbed.
pub(crate) fn reset_beside_hello() -> Scenario {
    reset_and_hello("virt-gicv3-reset", None)
}

/// The same with the boot scrub off: RAM is write-back at EL2 from the start, the first
/// loads skip the zeroing and clean what they copy, and each restart still zeroes what the
/// last boot left (the `reset` guest finds no secret of an earlier boot).
pub(crate) fn reset_beside_hello_without_boot_scrub() -> Scenario {
    reset_and_hello("virt-gicv3-reset-noscrub", Some("bulkhead: boot scrub off"))
}

/// `reset` and `hello` from `tests/scenarios/NAME.dts`; `notice`, a line the hypervisor
/// prints once the config is read.
fn reset_and_hello(name: &str, notice: Option<&str>) -> Scenario {
    let mut expect = boot_lines("QEMU virt", "v3", 4);
    expect.extend(notice.map(Expect::line));
    expect.extend([
        Expect::Interleaved(vec![reset("reset"), hello("hello", 64)]),
        Expect::line(ALL_STOPPED),
        Expect::line(POWER_OFF),
    ]);
    Scenario {
        gic: Some(3),
        expect,
        pending: false,
        partitions: Some(PartitionConfig {
            file: format!("tests/scenarios/{name}.dts").into(),
            valid: true,
        }),
        ..Scenario::new(name, "virt")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn console(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn under_icount_the_heartbeat_gap_is_within_a_period_and_a_turn() {
        let good = console(&["(hello) hello: 400 beats every 50 ms, longest gap 75000 us, 0 gaps over 100 ms"]);
        assert_eq!(within_icount_turns(&good), Ok(()));
        let late = console(&["(hello) hello: 400 beats every 50 ms, longest gap 75001 us, 0 gaps over 100 ms"]);
        assert!(within_icount_turns(&late).unwrap_err().contains("75001 us by virtual time, more than its 50 ms period and QEMU's 25 ms turn (75000 us)"));
        let shorter = console(&["(hello) hello: 6000 beats every 10 ms, longest gap 35001 us, 3 gaps over 20 ms"]);
        assert!(within_icount_turns(&shorter).is_err());
        assert!(within_icount_turns(&console(&["(hello) hello: done"])).unwrap_err().contains("no longest gap"));
    }

    #[test]
    fn without_icount_the_heartbeat_allows_the_host_stalls_but_not_many_late_beats() {
        let stalled = console(&["(hello) hello: 1800 beats every 50 ms, longest gap 181078 us, 3 gaps over 100 ms"]);
        assert_eq!(within_host_stalls(&stalled), Ok(()));
        let edge = console(&["(hello) hello: 1800 beats every 50 ms, longest gap 350000 us, 18 gaps over 100 ms"]);
        assert_eq!(within_host_stalls(&edge), Ok(()));
        let held = console(&["(hello) hello: 1800 beats every 50 ms, longest gap 350001 us, 1 gaps over 100 ms"]);
        assert!(within_host_stalls(&held).unwrap_err().contains("350001 us, more than its 50 ms period and the 300 ms"));
        let often = console(&["(hello) hello: 1800 beats every 50 ms, longest gap 120000 us, 19 gaps over 100 ms"]);
        assert!(within_host_stalls(&often).unwrap_err().contains("19 of `hello`'s 1800 beats"));
        assert!(within_host_stalls(&console(&["(hello) hello: done"])).unwrap_err().contains("no longest gap"));
    }

    #[test]
    fn the_heartbeat_must_outlast_the_storm() {
        let storm = "(hostile) hostile: storm: 1000000 operations on 3 vcpus in 5 ms";
        let last = format!("(hello) hello: beat {HOSTILE_BEATS}");
        assert_eq!(heartbeat_outlasted_the_storm(&console(&[storm, &last])), Ok(()));
        assert!(heartbeat_outlasted_the_storm(&console(&[&last, storm])).unwrap_err().contains("raise hello.beats"));
    }

    #[test]
    fn the_heap_check_compares_the_two_mem_lines() {
        let heap = |n: u32| format!("{HEAP_FREE}{n} bytes free");
        assert_eq!(heap_same_after_restarts(&console(&[&heap(4096), "x", &heap(4096)])), Ok(()));
        assert!(heap_same_after_restarts(&console(&[&heap(4096), &heap(4000)])).unwrap_err().contains("4096 bytes free at boot 2 and 4000"));
        assert!(heap_same_after_restarts(&console(&[&heap(4096)])).unwrap_err().contains("found 1"));
    }

    #[test]
    fn in_order_finds_lines_in_order_only() {
        let lines = console(&["a 1", "b 2", "c 3"]);
        assert_eq!(in_order(&lines, &["a".to_string(), "c".to_string()]), Ok(()));
        assert!(in_order(&lines, &["c".to_string(), "a".to_string()]).is_err());
    }

    #[test]
    fn reset_counts_three_boots_with_two_restarts() {
        let lines = reset("reset");
        let restarts: Vec<_> = lines.iter().filter(|l| l.contains("restarting")).collect();
        assert_eq!(restarts, [&restarting("reset", 2), &restarting("reset", 3)]);
        assert_eq!(lines.last(), Some(&stopped("reset")));
    }
}
