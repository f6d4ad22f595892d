//! What an event-channel operation asks the runtime to do: raise the upcall on vCPUs, report a
//! guest memory fault, tell a peer partition that ports closed.

use super::memory::MemoryError;

/// vCPUs of one partition, one bit each (a partition has at most 128).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Upcalls(pub u128);

impl Upcalls {
    /// Adds a vCPU; indexes past 127 are ignored (no partition has them).
    pub fn insert(&mut self, vcpu: u16) {
        if vcpu < 128 {
            self.0 |= 1 << vcpu;
        }
    }

    /// Whether a vCPU is in the set.
    pub const fn contains(self, vcpu: u16) -> bool {
        vcpu < 128 && self.0 & (1 << vcpu) != 0
    }

    /// The vCPUs, lowest first: one step per vCPU in the set, not per possible vCPU (a
    /// send's two calls walked all 128 bits, about 3,400 instructions a send).
    pub fn iter(self) -> impl Iterator<Item = u16> {
        let mut rest = self.0;
        core::iter::from_fn(move || {
            if rest == 0 {
                return None;
            }
            // At most 127: `rest` is a nonzero u128.
            let lowest = rest.trailing_zeros();
            rest &= rest.wrapping_sub(1);
            u16::try_from(lowest).ok()
        })
    }
}

/// The consequences of one operation on one partition's table.
///
/// For each vCPU in `upcalls` the runtime raises the event-channel upcall PPI 31 through the
/// vGIC and kicks (or wakes) the vCPU, as for any other virtual interrupt. A `fault` means a
/// write into that partition's memory failed: the event is lost and the runtime logs it (the
/// partition registered an address it does not own).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// vCPUs whose `evtchn_upcall_pending` went from 0 to 1.
    pub upcalls: Upcalls,
    /// Which ports went from not pending to pending: the runtime wakes the partition's vCPUs
    /// blocked in `SCHEDOP_poll` for them (Xen's `evtchn_check_pollers`), which then return.
    pub newly_pending: NewlyPending,
    /// The first guest-memory failure, if any.
    pub fault: Option<MemoryError>,
}

/// The ports one operation made pending, for the pollers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NewlyPending {
    /// None.
    #[default]
    None,
    /// This one.
    Port(u32),
    /// More than one: every poller of the partition is woken (each looks at its ports again).
    Several,
}

impl Effects {
    /// Records that `port` went from not pending to pending.
    pub fn became_pending(&mut self, port: u32) {
        self.newly_pending = match self.newly_pending {
            NewlyPending::None => NewlyPending::Port(port),
            NewlyPending::Port(p) if p == port => NewlyPending::Port(p),
            _ => NewlyPending::Several,
        };
    }

    /// Records a failure (the first one is kept).
    pub fn fault(&mut self, error: MemoryError) {
        self.fault.get_or_insert(error);
    }
}

/// One interdomain port was closed: its peer's end must go unbound
/// ([`super::EventChannels::peer_closed`], under the peer's lock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerClosed {
    /// The peer partition and its port.
    pub partition: usize,
    pub port: u32,
    /// The partition that closed, its port and its epoch.
    pub from_partition: usize,
    pub from_port: u32,
    pub from_epoch: u64,
}

/// Every port of a partition was closed (reset, stop, restart): each other partition's ends
/// bound to it in an earlier epoch go unbound ([`super::EventChannels::peer_reset`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerReset {
    /// The partition whose ports closed.
    pub partition: usize,
    /// Bindings made while its epoch was at most this are gone.
    pub epoch: u64,
}

/// An interdomain send to deliver under the receiver's lock ([`super::EventChannels::deliver`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The receiving partition and its port.
    pub partition: usize,
    pub port: u32,
    /// The sender, its port and its epoch: the receiver's port must still be bound to them.
    pub from_partition: usize,
    pub from_port: u32,
    pub from_epoch: u64,
}

/// Where a `send` went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Delivered in the sender's own partition (IPI, loopback): see the effects.
    Local,
    /// To another partition: the runtime takes the receiver's lock and calls `deliver`.
    Remote(Delivery),
    /// The port is unbound: Xen drops the event and answers 0.
    Dropped,
}
