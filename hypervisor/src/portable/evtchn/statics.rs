//! Static event channels from the configuration (`xen,evtchn` nodes), bound before the
//! partitions start, as Xen 4.18's dom0less does: the second end is allocated unbound at its
//! port, then the first end binds to it at its own port.

use alloc::vec::Vec;

use dom0less_config::plan::{EventChannel, PartitionPlan};

use super::effects::Effects;
use super::error::{Errno, StaticChannelError};
use super::interdomain::{bind_interdomain, Pair};
use super::memory::NoMemory;
use super::abi;
use super::table::{Binding, EventChannels, Peers};

/// One table per partition of the plan, with its vCPU count, Xen's default port range for a
/// dom0less DomU and the plan's `bulkhead,evtchn-peers`, and every static channel bound.
pub fn build_tables(plan: &PartitionPlan) -> Result<Vec<EventChannels>, StaticChannelError> {
    let mut tables: Vec<EventChannels> = plan
        .partitions
        .iter()
        .enumerate()
        .map(|(index, p)| {
            let vcpus = u16::try_from(p.vcpu_count).unwrap_or(u16::MAX);
            let mut table = EventChannels::new(index, vcpus, abi::DEFAULT_MAX_PORT);
            table.set_peers(Peers::from_plan(p.evtchn_peers.as_deref()));
            table
        })
        .collect();
    bind_static(plan, &mut tables)?;
    Ok(tables)
}

/// Binds every static channel of the plan; `tables` holds one table per partition, in plan
/// order. Each channel appears in both partitions' lists and is bound once.
pub fn bind_static(
    plan: &PartitionPlan,
    tables: &mut [EventChannels],
) -> Result<(), StaticChannelError> {
    bind_lists(
        plan.partitions.iter().map(|p| p.event_channels.as_slice()),
        tables,
    )
}

/// [`bind_static`] on each partition's list of channels.
pub fn bind_lists<'a>(
    lists: impl Iterator<Item = &'a [EventChannel]>,
    tables: &mut [EventChannels],
) -> Result<(), StaticChannelError> {
    for (index, channels) in lists.enumerate() {
        for channel in channels {
            let remote = channel.remote_partition;
            if (index, channel.port) > (remote, channel.remote_port) {
                continue;
            }
            bind_one(tables, index, channel.port, remote, channel.remote_port)?;
        }
    }
    Ok(())
}

/// Binds one static channel: `port` of partition `local` to `remote_port` of `remote`, with
/// every table at hand (before the partitions start).
pub fn bind_one(
    tables: &mut [EventChannels],
    local: usize,
    port: u32,
    remote: usize,
    remote_port: u32,
) -> Result<(), StaticChannelError> {
    let count = tables.len();
    for index in [local, remote] {
        if index >= count {
            return Err(StaticChannelError::NoSuchPartition { partition: local, remote: index });
        }
    }
    let pair = if local == remote {
        Pair::Same(&mut tables[local])
    } else if local < remote {
        let (low, high) = tables.split_at_mut(remote);
        Pair::Two { local: &mut low[local], remote: &mut high[0] }
    } else {
        let (low, high) = tables.split_at_mut(local);
        Pair::Two { local: &mut high[0], remote: &mut low[remote] }
    };
    bind_channel(pair, port, remote_port)
}

/// Binds one static channel between two locked tables (lower partition index first). The
/// remote port is claimed if it is free, or taken as it is if it is already waiting for the
/// local partition: that is its state after the local partition restarted, so the runtime
/// calls this for a restarted partition's channels too.
pub fn bind_channel(mut tables: Pair<'_>, port: u32, remote_port: u32) -> Result<(), StaticChannelError> {
    let error = |table: &EventChannels, port, errno| StaticChannelError::Port {
        partition: table.partition,
        port,
        errno,
        max_port: table.max_port,
    };
    let local_domid = tables.local().domid();
    let r = tables.remote();
    let waiting = r.binding(remote_port) == Some(Binding::Unbound { remote_domid: local_domid });
    if !waiting {
        let claimed = port_zero(remote_port).and_then(|()| r.allocate_port(remote_port, &mut NoMemory));
        claimed.map_err(|e| error(r, remote_port, e))?;
        r.bind(remote_port, Binding::Unbound { remote_domid: local_domid }, 0);
    }
    let bound = port_zero(port).and_then(|()| {
        bind_interdomain(&mut tables, port, remote_port, &mut NoMemory, &mut Effects::default())
    });
    bound.map(|_| ()).map_err(|e| error(tables.local(), port, e))
}

/// Port 0 is reserved: a static channel cannot use it (binding it would pick a free port).
fn port_zero(port: u32) -> Result<(), Errno> {
    if port == 0 {
        Err(Errno::Ebusy)
    } else {
        Ok(())
    }
}
