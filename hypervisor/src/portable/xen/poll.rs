//! Which vCPUs of a partition wait in `SCHEDOP_poll`, for which ports and until when, and
//! which of them an event woke: Xen's `poll_mask`, `poll_evtchn` and `poll_timer`. A vCPU
//! polling is woken only by one of its own ports becoming pending, masked or not (the upcall
//! is not involved, so a masked port wakes it too); while it is still looking at its ports any
//! port of the partition wakes it, as Xen's does before it knows them. Its timeout, an
//! absolute system time, is a counter value here ([`system_time_to_counter`]).

use core::sync::atomic::{AtomicU64, Ordering};

use crate::portable::vgic::MAX_VCPUS;

/// Words of a vCPU's port set: ports 0 to 1023 (`EVTCHN_2L_NR_CHANNELS` on a 64-bit guest,
/// and a dom0less domU's `max_evtchn_port`). A poll naming a port past them waits for any
/// port, as Xen's multi-port poll does.
pub const PORT_WORDS: usize = 16;

/// The ports one poll waits for, one bit each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortSet {
    words: [u64; PORT_WORDS],
    /// A port past the words was named: any port wakes the poll.
    any: bool,
}

impl PortSet {
    /// No port.
    pub const EMPTY: Self = Self { words: [0; PORT_WORDS], any: false };

    /// Adds `port`.
    pub fn insert(&mut self, port: u32) {
        match self.words.get_mut((port / 64) as usize) {
            Some(word) => *word |= 1 << (port % 64),
            None => self.any = true,
        }
    }

    /// Whether `port` wakes a poll waiting for this set.
    pub fn contains(&self, port: u32) -> bool {
        self.any || self.words.get((port / 64) as usize).is_some_and(|word| word & (1 << (port % 64)) != 0)
    }
}

/// Xen's system time (nanoseconds) as a value of the physical counter running at `frequency`
/// Hz, converted as Xen on Arm converts it (`ns_to_ticks`: through the frequency in whole kHz,
/// rounding down), saturating. Xen counts its system time from the counter value at its own
/// boot; Bulkhead from the counter's zero, so a guest finds it exactly from CNTPCT_EL0.
pub fn system_time_to_counter(ns: u64, frequency: u64) -> u64 {
    let per_second = u128::from(frequency / 1000) * 1000;
    let ticks = u128::from(ns).saturating_mul(per_second) / 1_000_000_000;
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// The polling and woken vCPUs of one partition, one bit each, with each polling vCPU's
/// ports and deadline (vCPUs past [`MAX_VCPUS`], which no partition has, never poll: they
/// wait as for `SCHEDOP_block`).
#[derive(Debug)]
pub struct Pollers {
    polling: AtomicU64,
    woken: AtomicU64,
    /// Per vCPU: its ports, one bit each (all set while it looks at them: any port).
    ports: [[AtomicU64; PORT_WORDS]; MAX_VCPUS],
    /// Per vCPU: when its poll times out (counter ticks); `u64::MAX`: never.
    deadlines: [AtomicU64; MAX_VCPUS],
}

impl Default for Pollers {
    fn default() -> Self {
        Self::new()
    }
}

const fn bit(vcpu: usize) -> u64 {
    if vcpu < MAX_VCPUS {
        1 << vcpu
    } else {
        0
    }
}

impl Pollers {
    /// Nobody polls.
    pub const fn new() -> Self {
        Self {
            polling: AtomicU64::new(0),
            woken: AtomicU64::new(0),
            ports: [const { [const { AtomicU64::new(0) }; PORT_WORDS] }; MAX_VCPUS],
            deadlines: [const { AtomicU64::new(u64::MAX) }; MAX_VCPUS],
        }
    }

    /// vCPU `vcpu` starts polling. Called before it looks at its ports: an event raised after
    /// that look finds it here (the event sets the port pending under the table's lock, which
    /// the look takes too, and reads this set after). Until [`Pollers::wait`], any port of
    /// the partition wakes it.
    pub fn begin(&self, vcpu: usize) {
        let Some(ports) = self.ports.get(vcpu) else { return };
        for word in ports {
            word.store(u64::MAX, Ordering::SeqCst);
        }
        if let Some(deadline) = self.deadlines.get(vcpu) {
            deadline.store(u64::MAX, Ordering::SeqCst);
        }
        self.woken.fetch_and(!bit(vcpu), Ordering::SeqCst);
        self.polling.fetch_or(bit(vcpu), Ordering::SeqCst);
    }

    /// vCPU `vcpu` looked at its ports and found none pending: from now on only `ports` wake
    /// it, and it waits until the counter reaches `deadline` at most (`u64::MAX`: no timeout).
    pub fn wait(&self, vcpu: usize, ports: &PortSet, deadline: u64) {
        if let Some(at) = self.deadlines.get(vcpu) {
            at.store(deadline, Ordering::SeqCst);
        }
        if ports.any {
            return;
        }
        if let Some(words) = self.ports.get(vcpu) {
            for (word, &bits) in words.iter().zip(&ports.words) {
                word.store(bits, Ordering::SeqCst);
            }
        }
    }

    /// vCPU `vcpu` returns from its poll without waiting (a port was pending, the timeout had
    /// passed, or an error).
    pub fn cancel(&self, vcpu: usize) {
        self.polling.fetch_and(!bit(vcpu), Ordering::SeqCst);
        if let Some(deadline) = self.deadlines.get(vcpu) {
            deadline.store(u64::MAX, Ordering::SeqCst);
        }
    }

    /// Whether vCPU `vcpu` waits for `port` (or for any port, while it looks).
    fn waits_for(&self, vcpu: usize, port: u32) -> bool {
        let Some(words) = self.ports.get(vcpu) else { return false };
        match words.get((port / 64) as usize) {
            Some(word) => word.load(Ordering::SeqCst) & (1 << (port % 64)) != 0,
            // Past the set: only a vCPU waiting for any port (all words set) takes it.
            None => words.iter().all(|w| w.load(Ordering::SeqCst) == u64::MAX),
        }
    }

    /// Port `port` of the partition became pending (`None`: some ports, which ones unknown):
    /// every polling vCPU waiting for it stops polling and is marked woken. Returns them (one
    /// bit each) for the caller to wake.
    pub fn wake(&self, port: Option<u32>) -> u64 {
        let polling = self.polling.load(Ordering::SeqCst);
        if polling == 0 {
            return 0;
        }
        let mut woken = 0;
        for vcpu in (0..MAX_VCPUS).filter(|&v| polling & bit(v) != 0) {
            let wanted = port.is_none_or(|port| self.waits_for(vcpu, port));
            // Claimed once: a cancel or another waker may have taken it meanwhile.
            if wanted && self.polling.fetch_and(!bit(vcpu), Ordering::SeqCst) & bit(vcpu) != 0 {
                woken |= bit(vcpu);
            }
        }
        if woken != 0 {
            self.woken.fetch_or(woken, Ordering::SeqCst);
        }
        woken
    }

    /// Whether an event woke vCPU `vcpu` since it began polling; forgets it. The CPU about to
    /// park the vCPU asks, so that a wake-up that came before the park is not lost.
    pub fn take_woken(&self, vcpu: usize) -> bool {
        self.woken.fetch_and(!bit(vcpu), Ordering::SeqCst) & bit(vcpu) != 0
    }

    /// When vCPU `vcpu`'s poll times out (counter ticks), if it polls with a timeout: the CPU
    /// that makes it wait arms its timer for this too.
    pub fn deadline(&self, vcpu: usize) -> Option<u64> {
        if self.polling.load(Ordering::Relaxed) & bit(vcpu) == 0 {
            return None;
        }
        self.deadlines.get(vcpu).map(|d| d.load(Ordering::SeqCst)).filter(|&d| d != u64::MAX)
    }

    /// vCPU `vcpu` runs its guest again (after an exit): whatever woke it (one of its ports,
    /// its timeout, an interrupt), its poll is over, as Xen ends a poll when the vCPU is
    /// unblocked. One load when it was not polling.
    #[inline]
    pub fn ran(&self, vcpu: usize) {
        if (self.polling.load(Ordering::Relaxed) | self.woken.load(Ordering::Relaxed)) & bit(vcpu) != 0 {
            self.cancel(vcpu);
            self.woken.fetch_and(!bit(vcpu), Ordering::SeqCst);
        }
    }

    /// Forgets every poll (the partition stops or restarts).
    pub fn reset(&self) {
        self.polling.store(0, Ordering::SeqCst);
        self.woken.store(0, Ordering::SeqCst);
        for deadline in &self.deadlines {
            deadline.store(u64::MAX, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{system_time_to_counter, PortSet, Pollers};

    fn set(ports: &[u32]) -> PortSet {
        let mut s = PortSet::EMPTY;
        ports.iter().for_each(|&p| s.insert(p));
        s
    }

    #[test]
    fn a_poll_looking_at_its_ports_is_woken_by_any_port() {
        let p = Pollers::new();
        assert_eq!(p.wake(Some(5)), 0, "nobody polls");
        p.begin(0);
        p.begin(3);
        assert_eq!(p.wake(Some(7)), 0b1001, "both still look at their ports");
        assert_eq!(p.wake(Some(7)), 0, "already woken");
        assert!(p.take_woken(3));
        assert!(!p.take_woken(3), "taken once");
        assert!(!p.take_woken(1), "never polled");
        // A new poll forgets an old wake-up.
        p.begin(0);
        assert!(!p.take_woken(0));
    }

    #[test]
    fn a_one_port_poll_wakes_only_for_its_port() {
        let p = Pollers::new();
        p.begin(1);
        p.wait(1, &set(&[9]), u64::MAX);
        assert_eq!(p.wake(Some(8)), 0, "another port of the partition");
        assert_eq!(p.wake(Some(73)), 0);
        assert_eq!(p.wake(Some(5000)), 0, "a port past the set");
        assert!(!p.take_woken(1));
        assert_eq!(p.wake(Some(9)), 0b10);
        assert!(p.take_woken(1));
    }

    #[test]
    fn a_multi_port_poll_wakes_for_any_of_its_ports_and_only_those() {
        let p = Pollers::new();
        p.begin(0);
        p.wait(0, &set(&[3, 64, 1023]), u64::MAX);
        p.begin(2);
        p.wait(2, &set(&[4]), u64::MAX);
        assert_eq!(p.wake(Some(4)), 0b100);
        assert_eq!(p.wake(Some(65)), 0);
        assert_eq!(p.wake(Some(1023)), 0b1);
        // Unknown ports (several at once) wake every poller.
        p.begin(0);
        p.wait(0, &set(&[3]), u64::MAX);
        p.begin(5);
        p.wait(5, &set(&[6]), u64::MAX);
        assert_eq!(p.wake(None), 0b100001);
        // A port past the set's words makes the poll wait for any port, as Xen's multi-port
        // poll does.
        p.begin(4);
        p.wait(4, &set(&[3, 4000]), u64::MAX);
        assert_eq!(p.wake(Some(17)), 0b10000);
    }

    #[test]
    fn a_cancelled_or_finished_poll_is_not_woken_and_a_reset_forgets_all() {
        let p = Pollers::new();
        p.begin(1);
        p.cancel(1);
        assert_eq!(p.wake(None), 0);
        p.begin(2);
        p.wait(2, &set(&[1]), 500);
        assert_eq!(p.deadline(2), Some(500));
        // The vCPU ran again (an interrupt, its timeout): the poll is over.
        p.ran(2);
        assert_eq!(p.deadline(2), None);
        assert_eq!(p.wake(Some(1)), 0);
        p.begin(2);
        p.wait(2, &set(&[1]), 500);
        p.reset();
        assert_eq!(p.wake(None), 0);
        assert!(!p.take_woken(2));
        assert_eq!(p.deadline(2), None);
        // vCPUs past the vGIC's limit never count as polling.
        p.begin(64);
        p.wait(64, &set(&[1]), 5);
        assert_eq!(p.wake(None), 0);
        assert_eq!(p.deadline(64), None);
    }

    #[test]
    fn a_deadline_counts_only_while_polling_with_a_timeout() {
        let p = Pollers::new();
        assert_eq!(p.deadline(0), None);
        p.begin(0);
        assert_eq!(p.deadline(0), None, "looking at its ports: no timeout yet");
        p.wait(0, &set(&[2]), u64::MAX);
        assert_eq!(p.deadline(0), None, "timeout 0: none");
        p.begin(0);
        p.wait(0, &set(&[2]), 1234);
        assert_eq!(p.deadline(0), Some(1234));
        assert_eq!(p.wake(Some(2)), 1);
        assert_eq!(p.deadline(0), None, "woken: its timeout no longer counts");
    }

    #[test]
    fn system_time_converts_as_xen_does() {
        // 62.5 MHz: 16 ns a tick.
        assert_eq!(system_time_to_counter(16_000, 62_500_000), 1000);
        assert_eq!(system_time_to_counter(15, 62_500_000), 0, "rounded down");
        // Through whole kHz: 19.2001 MHz counts as 19.2 MHz.
        assert_eq!(system_time_to_counter(1_000_000_000, 19_200_100), 19_200_000);
        assert_eq!(system_time_to_counter(u64::MAX, 62_500_000), u64::MAX / 16, "no overflow on the way");
        assert_eq!(system_time_to_counter(u64::MAX, 4_000_000_000), u64::MAX, "saturates");
        assert_eq!(system_time_to_counter(u64::MAX, 0), 0);
    }
}
