//! The event channels on a machine of partitions: each `event_channel_op` run on the
//! partitions' tables with the lock order of this module's parent, its effects acted on with
//! no table lock held, and a partition's ports closed and its static channels bound again
//! around a restart. `vm::evtchn` gives it the real partitions ([`Machine`]); the host tests
//! give it a fake one.
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use dom0less_config::plan::EventChannel;
use locks::{Mutex, MutexGuard};

use super::args::Call;
use super::{bind_channel, bind_interdomain, resolve_domid, Delivery, Effects, Errno, EventChannels, EventMemory, MemoryError, NewlyPending, Pair, PeerClosed, PeerReset, Route, StaticChannelError};
use crate::portable::xen::Answer;

/// What the runtime needs of the machine. Partitions are named by index (domain id - 1).
pub trait Machine {
    /// A partition's memory as its table reaches it.
    type Memory<'a>: EventMemory
    where
        Self: 'a;
    /// How many partitions there are.
    fn count(&self) -> usize;
    /// Partition `partition`'s table, behind its lock; `None` for no such partition.
    fn table(&self, partition: usize) -> Option<&Mutex<EventChannels>>;
    /// Partition `partition`'s memory.
    fn memory(&self, partition: usize) -> Option<Self::Memory<'_>>;
    /// Brings the table's view of shared_info and the registered vcpu_info up to date
    /// (called with the table locked, before the table touches guest memory).
    fn sync(&self, partition: usize, table: &mut EventChannels);
    /// Raises the upcall on vCPU `vcpu` of `partition` (no table lock held).
    fn raise(&self, partition: usize, vcpu: usize);
    /// Port `port` of `partition` became pending (`None`: several did): wake its vCPUs in
    /// `SCHEDOP_poll` that wait for it.
    fn wake_pollers(&self, partition: usize, port: Option<u32>);
    /// An event for `partition` was lost: its memory refused the write.
    fn lost(&self, partition: usize, fault: MemoryError);
    /// The static channels of `partition` (from its config).
    fn static_channels(&self, partition: usize) -> &[EventChannel];
    /// A static channel of `partition` could not be bound again.
    fn not_bound_again(&self, partition: usize, port: u32, error: StaticChannelError);
}

/// The tables of partitions `a` and `b` (distinct), locked lower index first; returned as
/// (a's, b's).
fn lock_two<M: Machine>(m: &M, a: usize, b: usize) -> Option<(MutexGuard<'_, EventChannels>, MutexGuard<'_, EventChannels>)> {
    let (ta, tb) = (m.table(a)?, m.table(b)?);
    Some(if a < b {
        let first = ta.lock();
        (first, tb.lock())
    } else {
        let first = tb.lock();
        (ta.lock(), first)
    })
}

/// Raises `fx`'s upcalls on `partition`, wakes its pollers if a port became pending, reports
/// a fault. No table lock is held.
fn act<M: Machine>(m: &M, partition: usize, fx: &Effects) {
    for vcpu in fx.upcalls.iter() {
        m.raise(partition, usize::from(vcpu));
    }
    match fx.newly_pending {
        NewlyPending::None => {}
        NewlyPending::Port(port) => m.wake_pollers(partition, Some(port)),
        NewlyPending::Several => m.wake_pollers(partition, None),
    }
    if let Some(fault) = fx.fault {
        m.lost(partition, fault);
    }
}

/// Delivers an interdomain send under the receiver's lock alone, then acts on it.
fn deliver<M: Machine>(m: &M, delivery: &Delivery) {
    let q = delivery.partition;
    let (Some(table), Some(mut mem)) = (m.table(q), m.memory(q)) else { return };
    let mut fx = Effects::default();
    {
        let mut table = table.lock();
        m.sync(q, &mut table);
        table.deliver(delivery, &mut mem, &mut fx);
    }
    act(m, q, &fx);
}

/// Runs one `event_channel_op` of partition `caller`.
pub fn op<M: Machine>(m: &M, caller: usize, call: Call) -> Result<Answer, Errno> {
    let count = m.count();
    let own = m.table(caller).ok_or(Errno::Esrch)?;
    let mut mem = m.memory(caller).ok_or(Errno::Esrch)?;
    let mut fx = Effects::default();
    let answer = match call {
        Call::BindInterdomain { remote_dom, remote_port } => {
            let remote = resolve_domid(remote_dom, caller, count)?;
            let port = if remote == caller {
                let mut table = own.lock();
                m.sync(caller, &mut table);
                bind_interdomain(&mut Pair::Same(&mut table), 0, remote_port, &mut mem, &mut fx)?
            } else {
                let (mut local, mut other) = lock_two(m, caller, remote).ok_or(Errno::Esrch)?;
                m.sync(caller, &mut local);
                bind_interdomain(&mut Pair::Two { local: &mut local, remote: &mut other }, 0, remote_port, &mut mem, &mut fx)?
            };
            Answer::Port(port)
        }
        Call::Send { port } => {
            let route = {
                let mut table = own.lock();
                m.sync(caller, &mut table);
                table.send(port, &mut mem, &mut fx)?
            };
            if let Route::Remote(delivery) = route {
                deliver(m, &delivery);
            }
            Answer::Done
        }
        Call::Close { port } => {
            let notice = {
                let mut table = own.lock();
                m.sync(caller, &mut table);
                table.close(port, &mut mem, &mut fx)?
            };
            if let Some(notice) = notice {
                peer_closed(m, &notice);
            }
            Answer::Done
        }
        Call::Reset { dom } => {
            EventChannels::reset_target(dom, caller, count)?;
            let notice = {
                let mut table = own.lock();
                m.sync(caller, &mut table);
                table.reset(&mut mem, &mut fx)
            };
            peer_reset(m, &notice);
            Answer::Done
        }
        Call::ResetCont { dom } => {
            // Xen checks the domain as for a reset, then finds no reset in progress.
            EventChannels::reset_target(dom, caller, count)?;
            return Err(Errno::Ebusy);
        }
        Call::Status { dom, port } => {
            let target = resolve_domid(dom, caller, count)?;
            let table = m.table(target).ok_or(Errno::Esrch)?;
            let status = table.lock().status(caller, port)?;
            Answer::Status(status)
        }
        other => {
            let mut table = own.lock();
            m.sync(caller, &mut table);
            local(&mut table, caller, count, other, &mut mem, &mut fx)?
        }
    };
    act(m, caller, &fx);
    Ok(answer)
}

/// The operations that only touch the caller's table.
fn local(table: &mut EventChannels, caller: usize, count: usize, call: Call, mem: &mut impl EventMemory, fx: &mut Effects) -> Result<Answer, Errno> {
    Ok(match call {
        Call::AllocUnbound { dom, remote_dom } => {
            if resolve_domid(dom, caller, count)? != caller {
                return Err(Errno::Eperm);
            }
            Answer::Port(table.alloc_unbound(caller, remote_dom, mem)?)
        }
        Call::BindVirq { virq, vcpu } => Answer::Port(table.bind_virq(virq, vcpu, mem)?),
        Call::BindIpi { vcpu } => Answer::Port(table.bind_ipi(vcpu, mem)?),
        Call::BindVcpu { port, vcpu } => {
            table.bind_vcpu(port, vcpu)?;
            Answer::Done
        }
        Call::Unmask { port } => {
            table.unmask(port, mem, fx)?;
            Answer::Done
        }
        Call::InitControl { control_gfn, offset, vcpu } => Answer::LinkBits(table.init_control(control_gfn, offset, vcpu, mem)?),
        Call::ExpandArray { array_gfn } => {
            table.expand_array(array_gfn, mem, fx)?;
            Answer::Done
        }
        Call::SetPriority { port, priority } => {
            table.set_priority(port, priority)?;
            Answer::Done
        }
        // `op` runs these with the locks they need.
        Call::BindInterdomain { .. } | Call::Send { .. } | Call::Close { .. } | Call::Reset { .. } | Call::ResetCont { .. } | Call::Status { .. } => {
            return Err(Errno::Enosys)
        }
    })
}

/// Applies a close notice to the peer's table.
fn peer_closed<M: Machine>(m: &M, notice: &PeerClosed) {
    if let Some(table) = m.table(notice.partition) {
        table.lock().peer_closed(notice);
    }
}

/// Applies a reset notice to every other partition's table, one lock at a time.
fn peer_reset<M: Machine>(m: &M, notice: &PeerReset) {
    for q in (0..m.count()).filter(|&q| q != notice.partition) {
        if let Some(table) = m.table(q) {
            table.lock().peer_reset(notice);
        }
    }
}

/// Whether port `port` of `partition` is pending, for `SCHEDOP_poll` (-EINVAL: no port in
/// use).
pub fn port_pending<M: Machine>(m: &M, partition: usize, port: u32) -> Result<bool, Errno> {
    let table = m.table(partition).ok_or(Errno::Einval)?;
    let mut mem = m.memory(partition).ok_or(Errno::Einval)?;
    let mut table = table.lock();
    m.sync(partition, &mut table);
    table.is_pending(port, &mut mem)
}

/// Closes every port of `partition` (it stopped or is about to start again): its peers' ends
/// go unbound, waiting for it, as after Xen's close.
pub fn close_all<M: Machine>(m: &M, partition: usize) {
    let Some(table) = m.table(partition) else { return };
    let notice = table.lock().stop();
    peer_reset(m, &notice);
}

/// Binds the static channels of `partition` again (its ports are closed): each under both
/// tables' locks, lower index first; one listed from both ends of the same partition once,
/// from its lower port. A channel that cannot be bound is reported and the others still are.
pub fn rebind_static<M: Machine>(m: &M, partition: usize) {
    for channel in m.static_channels(partition) {
        let remote = channel.remote_partition;
        let bound = if remote == partition {
            if channel.port > channel.remote_port {
                continue;
            }
            let Some(table) = m.table(partition) else { return };
            let mut table = table.lock();
            bind_channel(Pair::Same(&mut table), channel.port, channel.remote_port)
        } else {
            let Some((mut local, mut other)) = lock_two(m, partition, remote) else { continue };
            bind_channel(Pair::Two { local: &mut local, remote: &mut other }, channel.port, channel.remote_port)
        };
        if let Err(error) = bound {
            m.not_bound_again(partition, channel.port, error);
        }
    }
}
