//! A partition's health as pure decisions: what a crash leads to under its restart limit
//! (restart after a growing back-off, or hold it stopped), and deadlines in counter ticks.
//! `vm::health` applies them on the CPUs' own timers.

use dom0less_config::limits::{DEFAULT_RESTART_BACKOFF_MS, MAX_RESTART_BACKOFF_MS};

/// What follows a crash under the `restart` policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterCrash {
    /// Restart once `after_ms` milliseconds have passed (0: at once); `restart` is this
    /// restart's number in the current row (1 for the first).
    Restart { restart: u32, after_ms: u64 },
    /// The restart limit is reached: the partition stays stopped until the operator starts it.
    Hold { restarts: u32 },
}

/// Decides what a crash leads to, given the crash restarts in a row before it, the
/// partition's `bulkhead,restart-limit` and its first back-off (`bulkhead,restart-backoff-ms`).
/// Without a limit every crash restarts at once (the restart-100 behaviour); with one, crash
/// restart k waits [`backoff_ms`]`(first, k)` and the crash after the limit holds it.
pub fn after_crash(restarts_before: u32, limit: Option<u32>, first_backoff_ms: Option<u32>) -> AfterCrash {
    let restart = restarts_before.saturating_add(1);
    match limit {
        None => AfterCrash::Restart { restart, after_ms: 0 },
        Some(limit) if restarts_before >= limit => AfterCrash::Hold { restarts: restarts_before },
        Some(_) => AfterCrash::Restart {
            restart,
            after_ms: backoff_ms(first_backoff_ms.unwrap_or(DEFAULT_RESTART_BACKOFF_MS), restart),
        },
    }
}

/// The back-off before crash restart `restart` (1 for the first in a row): `first_ms`
/// doubled for each restart before it, at most [`MAX_RESTART_BACKOFF_MS`] (one minute).
pub fn backoff_ms(first_ms: u32, restart: u32) -> u64 {
    let doublings = restart.saturating_sub(1);
    let cap = u64::from(MAX_RESTART_BACKOFF_MS);
    // `first_ms` fits 32 bits: 31 doublings or fewer cannot overflow 64 bits.
    match doublings {
        0..=31 => u64::from(first_ms).checked_shl(doublings).unwrap_or(cap).min(cap),
        _ => cap,
    }
}

/// `ms` milliseconds in counter ticks at `frequency` ticks a second (saturating).
pub fn ms_to_ticks(ms: u64, frequency: u64) -> u64 {
    let ticks = u128::from(ms).saturating_mul(u128::from(frequency)).checked_div(1000).unwrap_or(0);
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// Counter ticks in whole milliseconds at `frequency` ticks a second (0 for a zero frequency).
pub fn ticks_to_ms(ticks: u64, frequency: u64) -> u64 {
    let ms = u128::from(ticks).saturating_mul(1000).checked_div(u128::from(frequency)).unwrap_or(0);
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// The counter value `ms` milliseconds after `now`, never past `u64::MAX - 1` (`u64::MAX`
/// stands for "no deadline").
pub fn deadline_after(now: u64, ms: u64, frequency: u64) -> u64 {
    now.saturating_add(ms_to_ticks(ms, frequency)).min(u64::MAX.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_first_and_stops_at_a_minute() {
        let delays: Vec<u64> = (1..=6).map(|k| backoff_ms(100, k)).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200]);
        assert_eq!(backoff_ms(100, 11), 60_000, "102,400 ms is capped at one minute");
        assert_eq!(backoff_ms(60_000, 1), 60_000);
        assert_eq!(backoff_ms(u32::MAX, 2), 60_000, "no overflow for the largest u32");
        assert_eq!(backoff_ms(1, 200), 60_000, "no overflow for a shift past 63");
        assert_eq!(backoff_ms(1, u32::MAX), 60_000);
        assert_eq!(backoff_ms(250, 0), 250, "restart 0 (never asked) counts as the first");
    }

    #[test]
    fn without_a_limit_every_crash_restarts_at_once() {
        for before in [0, 1, 99, u32::MAX] {
            assert_eq!(after_crash(before, None, None), AfterCrash::Restart { restart: before.saturating_add(1), after_ms: 0 });
        }
    }

    #[test]
    fn under_a_limit_restarts_back_off_then_hold() {
        let decisions: Vec<AfterCrash> = (0..4).map(|before| after_crash(before, Some(3), Some(500))).collect();
        assert_eq!(
            decisions,
            [
                AfterCrash::Restart { restart: 1, after_ms: 500 },
                AfterCrash::Restart { restart: 2, after_ms: 1000 },
                AfterCrash::Restart { restart: 3, after_ms: 2000 },
                AfterCrash::Hold { restarts: 3 },
            ]
        );
        assert_eq!(after_crash(7, Some(3), Some(500)), AfterCrash::Hold { restarts: 7 });
        // A limit without a back-off of its own gets the documented default.
        assert_eq!(after_crash(0, Some(1), None), AfterCrash::Restart { restart: 1, after_ms: u64::from(DEFAULT_RESTART_BACKOFF_MS) });
        assert_eq!(after_crash(1, Some(1), None), AfterCrash::Hold { restarts: 1 });
    }

    #[test]
    fn deadlines_saturate_and_never_mean_none() {
        assert_eq!(ms_to_ticks(1000, 62_500_000), 62_500_000);
        assert_eq!(ms_to_ticks(u64::MAX, u64::MAX), u64::MAX);
        assert_eq!(deadline_after(10, 2, 1000), 12);
        assert_eq!(deadline_after(u64::MAX - 5, 1000, 1000), u64::MAX - 1);
        assert_eq!(ticks_to_ms(62_500_000, 62_500_000), 1000);
        assert_eq!(ticks_to_ms(5, 0), 0);
        assert_eq!(ticks_to_ms(u64::MAX, 1), u64::MAX);
    }
}
