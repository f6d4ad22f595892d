//! Channels between partitions: binding (both tables locked, lower partition index first),
//! delivery and the notices that make a peer's end go unbound (one table at a time).

use super::effects::{Delivery, Effects, PeerClosed, PeerReset};
use super::error::Errno;
use super::memory::EventMemory;
use super::table::{Binding, EventChannels};

/// The two tables `bind_interdomain` changes: the caller's and the remote's, or one table
/// when a partition binds to itself.
pub enum Pair<'a> {
    /// The caller is also the remote domain.
    Same(&'a mut EventChannels),
    /// The caller's table and the remote's, both locked (lower partition index first).
    Two {
        local: &'a mut EventChannels,
        remote: &'a mut EventChannels,
    },
}

impl Pair<'_> {
    /// The caller's table.
    pub fn local(&mut self) -> &mut EventChannels {
        match self {
            Pair::Same(t) => t,
            Pair::Two { local, .. } => local,
        }
    }

    /// The remote domain's table.
    pub fn remote(&mut self) -> &mut EventChannels {
        match self {
            Pair::Same(t) => t,
            Pair::Two { remote, .. } => remote,
        }
    }
}

/// Resolves a guest's domain id: `DOMID_SELF` or 1, 2, ... for the partitions in `/chosen`
/// order; anything else is -ESRCH.
pub fn resolve_domid(dom: u16, caller: usize, partitions: usize) -> Result<usize, Errno> {
    if dom == super::abi::DOMID_SELF {
        return Ok(caller);
    }
    let index = usize::from(dom).checked_sub(1).ok_or(Errno::Esrch)?;
    if index < partitions {
        Ok(index)
    } else {
        Err(Errno::Esrch)
    }
}

/// `EVTCHNOP_bind_interdomain`: binds `local_port` (0: the lowest free) of the caller to
/// `remote_port` of the remote table, which must be unbound and waiting for the caller. Raises
/// an event on the new local port, as Xen does in case the remote signalled before the bind.
pub fn bind_interdomain(
    tables: &mut Pair<'_>,
    local_port: u32,
    remote_port: u32,
    local_mem: &mut impl EventMemory,
    fx: &mut Effects,
) -> Result<u32, Errno> {
    let lport = tables.local().get_port(local_port, local_mem)?;
    let (local_partition, local_domid, local_epoch, local_peers) = {
        let l = tables.local();
        (l.partition, l.domid(), l.epoch, l.peers)
    };
    let remote = tables.remote();
    let channel = remote.channel(remote_port).ok_or(Errno::Einval)?;
    if channel.binding
        != (Binding::Unbound {
            remote_domid: local_domid,
        })
    {
        return Err(Errno::Einval);
    }
    let (remote_partition, remote_epoch) = (remote.partition, remote.epoch);
    if !local_peers.allows(remote_partition) || !remote.peers.allows(local_partition) {
        return Err(Errno::Eperm);
    }
    if let Some(c) = remote.channel_mut(remote_port) {
        c.binding = Binding::Interdomain {
            partition: local_partition,
            port: lport,
            epoch: local_epoch,
        };
    }
    let local = tables.local();
    let notify = local.channel(lport).map_or(0, |c| c.notify_vcpu);
    local.bind(
        lport,
        Binding::Interdomain {
            partition: remote_partition,
            port: remote_port,
            epoch: remote_epoch,
        },
        notify,
    );
    local.set_pending(notify, lport, local_mem, fx);
    Ok(lport)
}

impl EventChannels {
    /// Whether `port` is bound to the sender a delivery or notice names.
    fn bound_to(&self, port: u32, partition: usize, from_port: u32, epoch: u64) -> bool {
        self.channel(port).is_some_and(|c| {
            c.binding
                == Binding::Interdomain {
                    partition,
                    port: from_port,
                    epoch,
                }
        })
    }

    /// Delivers an interdomain send to this (the receiving) table. A port no longer bound to
    /// the sender (closed or rebound meanwhile) drops the event, as if it had been sent just
    /// before the change. Returns whether it was delivered.
    pub fn deliver(
        &mut self,
        delivery: &Delivery,
        mem: &mut impl EventMemory,
        fx: &mut Effects,
    ) -> bool {
        let (port, from, from_port) = (delivery.port, delivery.from_partition, delivery.from_port);
        if delivery.partition != self.partition
            || !self.bound_to(port, from, from_port, delivery.from_epoch)
        {
            return false;
        }
        let vcpu = self.channel(port).map_or(0, |c| c.notify_vcpu);
        self.set_pending(vcpu, port, mem, fx);
        true
    }

    /// The peer closed its end: this end goes unbound, waiting for the peer again (as Xen's
    /// close does), if it is still bound to that end.
    pub fn peer_closed(&mut self, notice: &PeerClosed) {
        let (port, from) = (notice.port, notice.from_partition);
        if notice.partition == self.partition
            && self.bound_to(port, from, notice.from_port, notice.from_epoch)
        {
            if let Some(c) = self.channel_mut(port) {
                c.binding = Binding::Unbound {
                    remote_domid: Self::domid_of(from),
                };
            }
        }
    }

    /// Every port of the peer closed: each end bound to it in that epoch or before goes
    /// unbound. Bounded by this table's ports.
    pub fn peer_reset(&mut self, notice: &PeerReset) {
        if notice.partition == self.partition {
            return;
        }
        let domid = Self::domid_of(notice.partition);
        for port in 1..self.valid {
            let Some(c) = self.channel_mut(port) else {
                break;
            };
            if let Binding::Interdomain {
                partition, epoch, ..
            } = c.binding
            {
                if partition == notice.partition && epoch <= notice.epoch {
                    c.binding = Binding::Unbound {
                        remote_domid: domid,
                    };
                }
            }
        }
    }
}
