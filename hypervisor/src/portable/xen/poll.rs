//! Which vCPUs of a partition wait in `SCHEDOP_poll`, and which of them an event woke: Xen's
//! `poll_mask` and `evtchn_check_pollers`. A port of the partition that becomes pending, masked
//! or not, wakes every vCPU polling (the guest then checks its ports again, as after any
//! return from poll); the upcall is not involved, so a masked port wakes a poller too.

use core::sync::atomic::{AtomicU64, Ordering};

/// The polling and woken vCPUs of one partition, one bit each (vCPUs 64 and up, which no
/// partition has, never poll: they wait as for `SCHEDOP_block`).
#[derive(Debug, Default)]
pub struct Pollers {
    polling: AtomicU64,
    woken: AtomicU64,
}

const fn bit(vcpu: usize) -> u64 {
    if vcpu < 64 {
        1 << vcpu
    } else {
        0
    }
}

impl Pollers {
    /// Nobody polls.
    pub const fn new() -> Self {
        Self { polling: AtomicU64::new(0), woken: AtomicU64::new(0) }
    }

    /// vCPU `vcpu` starts polling. Called before it looks at its ports: an event raised after
    /// that look finds it here (the event sets the port pending under the table's lock, which
    /// the look takes too, and reads this set after).
    pub fn begin(&self, vcpu: usize) {
        self.woken.fetch_and(!bit(vcpu), Ordering::SeqCst);
        self.polling.fetch_or(bit(vcpu), Ordering::SeqCst);
    }

    /// vCPU `vcpu` returns from its poll without waiting (a port was pending, or an error).
    pub fn cancel(&self, vcpu: usize) {
        self.polling.fetch_and(!bit(vcpu), Ordering::SeqCst);
    }

    /// A port of the partition became pending: every polling vCPU stops polling and is marked
    /// woken. Returns them (one bit each) for the caller to wake.
    pub fn wake_all(&self) -> u64 {
        if self.polling.load(Ordering::SeqCst) == 0 {
            return 0;
        }
        let woken = self.polling.swap(0, Ordering::SeqCst);
        self.woken.fetch_or(woken, Ordering::SeqCst);
        woken
    }

    /// Whether an event woke vCPU `vcpu` since it began polling; forgets it. The CPU about to
    /// park the vCPU asks, so that a wake-up that came before the park is not lost.
    pub fn take_woken(&self, vcpu: usize) -> bool {
        self.woken.fetch_and(!bit(vcpu), Ordering::SeqCst) & bit(vcpu) != 0
    }

    /// Forgets every poll (the partition stops or restarts).
    pub fn reset(&self) {
        self.polling.store(0, Ordering::SeqCst);
        self.woken.store(0, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::Pollers;

    #[test]
    fn an_event_wakes_each_poller_once_and_nobody_else() {
        let p = Pollers::new();
        assert_eq!(p.wake_all(), 0, "nobody polls");
        p.begin(0);
        p.begin(3);
        assert_eq!(p.wake_all(), 0b1001);
        assert_eq!(p.wake_all(), 0, "already woken");
        assert!(p.take_woken(3));
        assert!(!p.take_woken(3), "taken once");
        assert!(!p.take_woken(1), "never polled");
        // A new poll forgets an old wake-up.
        p.begin(0);
        assert!(!p.take_woken(0));
    }

    #[test]
    fn a_cancelled_poll_is_not_woken_and_a_reset_forgets_all() {
        let p = Pollers::new();
        p.begin(1);
        p.cancel(1);
        assert_eq!(p.wake_all(), 0);
        p.begin(2);
        p.reset();
        assert_eq!(p.wake_all(), 0);
        assert!(!p.take_woken(2));
        // vCPUs past 63 never count as polling.
        p.begin(64);
        assert_eq!(p.wake_all(), 0);
    }
}
