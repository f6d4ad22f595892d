//! A limit on how many lines of reports one partition's faults may print: a guest that takes
//! a hundred thousand aborts must not flood the console the other partitions share. Within a
//! window of time a few reports are printed; the rest are counted, and the next report printed
//! says how many were left out.

/// Reports printed per window.
pub const REPORTS_PER_WINDOW: u32 = 5;

/// What to do with one report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Print it; `dropped` reports were left out since the last one printed.
    Print { dropped: u64 },
    /// Leave it out (it is counted).
    Drop,
}

/// The limit's state for one partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportLimit {
    window_start: u64,
    printed: u32,
    dropped: u64,
}

impl ReportLimit {
    /// A limit with nothing printed yet.
    pub const fn new() -> Self {
        Self { window_start: 0, printed: 0, dropped: 0 }
    }

    /// Decides for a report at time `now`, where a window lasts `window` units of the same
    /// clock (counter ticks). A clock that goes backwards (a restarted counter) opens a window.
    pub fn admit(&mut self, now: u64, window: u64) -> Admit {
        let elapsed = now.wrapping_sub(self.window_start);
        if now < self.window_start || elapsed >= window {
            self.window_start = now;
            self.printed = 0;
        }
        if self.printed >= REPORTS_PER_WINDOW {
            self.dropped = self.dropped.saturating_add(1);
            return Admit::Drop;
        }
        self.printed = self.printed.saturating_add(1);
        Admit::Print { dropped: core::mem::take(&mut self.dropped) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_cut_to_a_few_lines_a_window_and_counted() {
        let mut limit = ReportLimit::new();
        let window = 1_000;
        for _ in 0..REPORTS_PER_WINDOW {
            assert_eq!(limit.admit(10, window), Admit::Print { dropped: 0 });
        }
        for t in 0..100_000 {
            assert_eq!(limit.admit(11 + t % 900, window), Admit::Drop);
        }
        // The next window prints again and says how many were left out.
        assert_eq!(limit.admit(1_010, window), Admit::Print { dropped: 100_000 });
        assert_eq!(limit.admit(1_011, window), Admit::Print { dropped: 0 });
    }

    #[test]
    fn a_counter_that_goes_back_opens_a_window() {
        let mut limit = ReportLimit::new();
        for _ in 0..=REPORTS_PER_WINDOW {
            let _ = limit.admit(5_000, 100);
        }
        assert_eq!(limit.admit(5_050, 100), Admit::Drop);
        assert_eq!(limit.admit(10, 100), Admit::Print { dropped: 2 });
    }
}
