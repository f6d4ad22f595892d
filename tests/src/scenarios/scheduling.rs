//! Scheduler scenarios: `spin` partitions sharing CPUs in credit2 and fixed-priority pools,
//! under QEMU `-icount` (virtual time follows instructions, so shares repeat run to run).

use crate::scenario::{Check, Expect, PartitionConfig, Scenario};

use super::partitions::{says, started, stopped, ALL_STOPPED};
use super::{boot_lines, ICOUNT, POWER_OFF};

fn scenario(name: &str, file: &str, expect: Vec<Expect>, checks: Vec<Check>) -> Scenario {
    let mut lines = boot_lines("QEMU virt", "v3", 4);
    lines.extend(expect);
    lines.extend([Expect::line(ALL_STOPPED), Expect::line(POWER_OFF)]);
    Scenario {
        gic: Some(3),
        qemu_args: ICOUNT.iter().map(|s| s.to_string()).collect(),
        expect: lines,
        partitions: Some(PartitionConfig { file: file.into(), valid: true }),
        checks,
        ..Scenario::new(name, "virt")
    }
}

/// The index of the first console line containing `text`.
fn position(console: &[String], text: &str) -> Result<usize, String> {
    console.iter().position(|l| l.contains(text)).ok_or_else(|| format!("no line contains {text:?}"))
}

/// `low` prints nothing before `high` has stopped.
fn low_waits_for_high(console: &[String]) -> Result<(), String> {
    let high_stopped = position(console, &stopped("high"))?;
    let low_first = position(console, "(low) ")?;
    if low_first < high_stopped {
        return Err(format!("`low` printed {:?} before `high` stopped", console[low_first]));
    }
    Ok(())
}

/// In a fixed-priority pool of one CPU, the priority-200 partition runs to its end before the
/// priority-10 one starts.
fn fixed_priority() -> Scenario {
    scenario(
        "virt-fixed-priority",
        "tests/scenarios/virt-fixed-priority.dts",
        vec![
            // `high` may print its first line before the boot CPU has loaded and started `low`.
            Expect::AnyOrder(vec![started("high"), started("low"), says("high", "start")]),
            Expect::line(says("high", "finished 20000000 iterations")),
            Expect::line(stopped("high")),
            Expect::line(says("low", "start")),
            Expect::line(says("low", "finished 1000000 iterations")),
            Expect::line(stopped("low")),
        ],
        vec![Check { what: "the priority-10 partition waits for the priority-200 one", check: low_waits_for_high }],
    )
}

/// The iteration count `spin` partition `name` reported for its window.
fn count(console: &[String], name: &str) -> Result<f64, String> {
    let prefix = format!("({name}) {name}: ");
    console
        .iter()
        .find_map(|l| l.strip_prefix(&prefix)?.strip_suffix(" iterations from 200 ms to 1200 ms").map(str::to_string))
        .ok_or_else(|| format!("`{name}` reported no count"))?
        .parse::<f64>()
        .map_err(|e| format!("`{name}`'s count: {e}"))
}

/// `heavy` (weight 512) counts twice what `light` (256) counts, within 2%.
fn weights_one_to_two(console: &[String]) -> Result<(), String> {
    let (light, heavy) = (count(console, "light")?, count(console, "heavy")?);
    let ratio = heavy / light;
    if (ratio - 2.0).abs() > 0.04 {
        return Err(format!("heavy/light = {heavy}/{light} = {ratio:.4}, not 2 within 2%"));
    }
    Ok(())
}

/// `capped` (25%) gets at most 25.5% of what the two count together.
fn cap_holds(console: &[String]) -> Result<(), String> {
    let (capped, free) = (count(console, "capped")?, count(console, "free")?);
    let share = capped / (capped + free);
    if !(0.2..=0.255).contains(&share) {
        return Err(format!("capped got {capped} of {} iterations: {:.2}%, not 20..25.5%", capped + free, share * 100.0));
    }
    Ok(())
}

/// The lines of two `spin` partitions counting over the same window.
fn two_counting(a: &str, b: &str) -> Vec<Expect> {
    // The counts themselves are read by the scenario's check.
    let lines = |name: &str| vec![started(name), says(name, "done"), stopped(name)];
    vec![Expect::Interleaved(vec![lines(a), lines(b)])]
}

/// Two partitions with weights 256 and 512 on one CPU of a credit2 pool.
fn credit2_weights() -> Scenario {
    scenario(
        "virt-credit2-weights",
        "tests/scenarios/virt-credit2-weights.dts",
        two_counting("light", "heavy"),
        vec![Check { what: "weights 256 and 512 share a CPU 1:2", check: weights_one_to_two }],
    )
}

/// A partition capped at 25% beside an uncapped one on one CPU of a credit2 pool.
fn credit2_cap() -> Scenario {
    scenario(
        "virt-credit2-cap",
        "tests/scenarios/virt-credit2-cap.dts",
        two_counting("capped", "free"),
        vec![Check { what: "a 25% cap holds beside an uncapped partition", check: cap_holds }],
    )
}

/// Every scheduler scenario.
pub fn all() -> Vec<Scenario> {
    vec![fixed_priority(), credit2_weights(), credit2_cap()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn console(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn the_weight_check_reads_both_counts() {
        let good = console(&["(light) light: 1000 iterations from 200 ms to 1200 ms", "(heavy) heavy: 2030 iterations from 200 ms to 1200 ms"]);
        assert_eq!(weights_one_to_two(&good), Ok(()));
        let bad = console(&["(light) light: 1000 iterations from 200 ms to 1200 ms", "(heavy) heavy: 1500 iterations from 200 ms to 1200 ms"]);
        assert!(weights_one_to_two(&bad).unwrap_err().contains("1.5000"));
        assert!(weights_one_to_two(&good[..1]).unwrap_err().contains("heavy"));
    }

    #[test]
    fn the_cap_check_bounds_the_share() {
        let good = console(&["(capped) capped: 250 iterations from 200 ms to 1200 ms", "(free) free: 750 iterations from 200 ms to 1200 ms"]);
        assert_eq!(cap_holds(&good), Ok(()));
        let over = console(&["(capped) capped: 300 iterations from 200 ms to 1200 ms", "(free) free: 700 iterations from 200 ms to 1200 ms"]);
        assert!(cap_holds(&over).is_err());
    }

    #[test]
    fn the_priority_check_wants_low_after_high_stopped() {
        let good = console(&["(high) high: start", &stopped("high"), "(low) low: start"]);
        assert_eq!(low_waits_for_high(&good), Ok(()));
        let bad = console(&["(low) low: start", &stopped("high")]);
        assert!(low_waits_for_high(&bad).is_err());
    }
}
