//! Channels between partitions: binding, ping-pong with both ABIs, close and reset as the peer
//! sees them, access control, static channels.

use super::delivery::{consume_2l, FifoGuest, ARRAY, CONTROL};
use super::*;
use crate::portable::evtchn::abi::{stat, DOMID_SELF};

/// Partition 0 allocates a port for partition 1, which binds to it.
fn connect(w: &mut World) -> (u32, u32) {
    let a = w.alloc_unbound(0, DOMID_SELF, 2).unwrap();
    let b = w.bind_interdomain(1, 1, a).unwrap();
    (a, b)
}

#[test]
fn bind_interdomain_connects_both_ends_and_raises_the_local_port() {
    let mut w = World::new(2, 1);
    let (a, b) = connect(&mut w);
    let (sa, sb) = (w.status(0, a), w.status(1, b));
    assert_eq!(
        (sa.status, sa.dom, sa.port_or_virq),
        (stat::INTERDOMAIN, 2, b)
    );
    assert_eq!(
        (sb.status, sb.dom, sb.port_or_virq),
        (stat::INTERDOMAIN, 1, a)
    );
    assert_eq!(
        w.take_upcalls(1),
        Upcalls(1),
        "Xen raises the new local port"
    );
    assert_eq!(w.take_upcalls(0), Upcalls(0));
}

#[test]
fn bind_interdomain_errors() {
    let mut w = World::new(3, 1);
    let a = w.alloc_unbound(0, DOMID_SELF, 2).unwrap();
    assert_eq!(w.bind_interdomain(1, 9, a), Err(Errno::Esrch));
    assert_eq!(
        w.bind_interdomain(1, 1, 64),
        Err(Errno::Einval),
        "remote port not valid"
    );
    assert_eq!(
        w.bind_interdomain(1, 1, a + 1),
        Err(Errno::Einval),
        "remote port free"
    );
    assert_eq!(
        w.bind_interdomain(2, 1, a),
        Err(Errno::Einval),
        "waiting for domain 2, not 3"
    );
    assert_eq!(w.bind_interdomain(1, 1, a), Ok(1));
    assert_eq!(
        w.bind_interdomain(1, 1, a),
        Err(Errno::Einval),
        "already bound"
    );
    // A failed bind leaves no port behind.
    assert_eq!(w.status(2, 1).status, stat::CLOSED);
}

#[test]
fn loopback_channel_in_one_partition() {
    let mut w = World::new(1, 1);
    let a = w.alloc_unbound(0, DOMID_SELF, DOMID_SELF).unwrap();
    let b = w.bind_interdomain(0, DOMID_SELF, a).unwrap();
    w.take_upcalls(0);
    consume_2l(&mut w.mems[0], SHARED);
    assert_eq!(w.send(0, b), Ok(Route::Local));
    assert_eq!(consume_2l(&mut w.mems[0], SHARED), vec![a]);
    w.close(0, a).unwrap();
    let s = w.status(0, b);
    assert_eq!((s.status, s.dom), (stat::UNBOUND, 1));
}

#[test]
fn close_leaves_the_peer_unbound_waiting_for_the_closer() {
    let mut w = World::new(2, 1);
    let (a, b) = connect(&mut w);
    w.close(0, a).unwrap();
    assert_eq!(w.status(0, a).status, stat::CLOSED);
    let s = w.status(1, b);
    assert_eq!((s.status, s.dom), (stat::UNBOUND, 1));
    assert_eq!(w.send(1, b), Ok(Route::Dropped));
    // Partition 0 can bind to the port again.
    assert_eq!(w.bind_interdomain(0, 2, b), Ok(a));
    assert_eq!(w.status(1, b).status, stat::INTERDOMAIN);
}

#[test]
fn a_delivery_racing_a_close_is_dropped() {
    let mut w = World::new(2, 1);
    let (a, b) = connect(&mut w);
    let mut fx = Effects::default();
    let Ok(Route::Remote(delivery)) = w.tables[1].send(b, &mut w.mems[1], &mut fx) else {
        panic!()
    };
    // Partition 0 closes and rebinds its port elsewhere before the delivery lands.
    w.close(0, a).unwrap();
    w.take_upcalls(0);
    assert!(!w.tables[0].deliver(&delivery, &mut w.mems[0], &mut fx));
    assert_eq!(fx, Effects::default());
    assert!(!w.mems[0].bit(super::delivery::PENDING, a));
}

#[test]
fn reset_and_stop_leave_every_peer_unbound() {
    let mut w = World::new(3, 1);
    let (a, b) = connect(&mut w);
    let c = w.alloc_unbound(2, DOMID_SELF, 1).unwrap();
    let d = w.bind_interdomain(0, 3, c).unwrap();
    w.reset(0);
    assert_eq!(
        (w.status(1, b).status, w.status(1, b).dom),
        (stat::UNBOUND, 1)
    );
    assert_eq!(
        (w.status(2, c).status, w.status(2, c).dom),
        (stat::UNBOUND, 1)
    );
    // New bindings after the reset are not undone by a stale notice.
    let e = w.bind_interdomain(0, 2, b).unwrap();
    assert_eq!(w.status(1, b).status, stat::INTERDOMAIN);
    let stale = PeerReset {
        partition: 0,
        epoch: 1,
    };
    w.tables[1].peer_reset(&stale);
    assert_eq!(w.status(1, b).status, stat::INTERDOMAIN);
    w.stop(0);
    assert_eq!(w.status(1, b).status, stat::UNBOUND);
    assert_eq!(w.status(0, e).status, stat::CLOSED);
    let _ = (a, d);
}

#[test]
fn peers_restrict_who_may_connect() {
    let mut w = World::new(3, 1);
    w.tables[0].set_peers(Peers(1 << 1));
    assert_eq!(w.alloc_unbound(0, DOMID_SELF, 3), Err(Errno::Eperm));
    assert_eq!(
        w.alloc_unbound(0, DOMID_SELF, DOMID_SELF),
        Ok(1),
        "itself always"
    );
    let a = w.alloc_unbound(0, DOMID_SELF, 2).unwrap();
    assert_eq!(w.bind_interdomain(1, 1, a), Ok(1));
    // Partition 2 offers a port to partition 1; partition 0 is not in its own list of peers.
    let c = w.alloc_unbound(2, DOMID_SELF, 1).unwrap();
    assert_eq!(w.bind_interdomain(0, 3, c), Err(Errno::Eperm));
    // The remote's list counts too.
    w.tables[2].set_peers(Peers(0));
    let c = w.alloc_unbound(2, DOMID_SELF, 2);
    assert_eq!(c, Err(Errno::Eperm));
}

/// 1000 round trips between two partitions; every event arrives exactly once.
fn ping_pong(fifo: bool) {
    let mut w = World::new(2, 1);
    if fifo {
        for p in 0..2 {
            let mut fx = Effects::default();
            w.tables[p]
                .init_control(CONTROL >> 12, 0, 0, &mut w.mems[p])
                .unwrap();
            w.tables[p]
                .expand_array(ARRAY >> 12, &mut w.mems[p], &mut fx)
                .unwrap();
        }
    }
    let (a, b) = connect(&mut w);
    let mut guests = [FifoGuest::new(CONTROL), FifoGuest::new(CONTROL)];
    let mut consume = |w: &mut World, p: usize| {
        if fifo {
            guests[p].consume(&mut w.mems[p], SHARED)
        } else {
            consume_2l(&mut w.mems[p], SHARED)
        }
    };
    // The bind raised b once.
    assert_eq!(w.take_upcalls(1), Upcalls(1));
    assert_eq!(consume(&mut w, 1), vec![b]);
    for round in 0..1000 {
        assert!(matches!(w.send(0, a), Ok(Route::Remote(_))));
        assert_eq!(w.take_upcalls(1), Upcalls(1), "round {round}: ping raised");
        assert_eq!(consume(&mut w, 1), vec![b], "round {round}");
        w.send(1, b).unwrap();
        assert_eq!(w.take_upcalls(0), Upcalls(1), "round {round}: pong raised");
        assert_eq!(consume(&mut w, 0), vec![a], "round {round}");
    }
}

#[test]
fn ping_pong_two_level() {
    ping_pong(false);
}

#[test]
fn ping_pong_fifo() {
    ping_pong(true);
}

use dom0less_config::plan::EventChannel;

fn lists(channels: &[(usize, u32, usize, u32)]) -> Vec<Vec<EventChannel>> {
    let mut lists = vec![Vec::new(), Vec::new()];
    for &(p, port, remote, remote_port) in channels {
        lists[p].push(EventChannel {
            port,
            remote_partition: remote,
            remote_port,
        });
    }
    lists
}

fn bind(
    channels: &[(usize, u32, usize, u32)],
    tables: &mut [EventChannels],
) -> Result<(), StaticChannelError> {
    let lists = lists(channels);
    crate::portable::evtchn::statics::bind_lists(lists.iter().map(Vec::as_slice), tables)
}

fn tables() -> Vec<EventChannels> {
    (0..2)
        .map(|i| EventChannels::new(i, 1, abi::DEFAULT_MAX_PORT))
        .collect()
}

#[test]
fn static_channels_are_bound_before_start() {
    let mut tables = tables();
    bind(&[(0, 10, 1, 20), (1, 20, 0, 10)], &mut tables).unwrap();
    let s = tables[0].status(0, 10).unwrap();
    assert_eq!(
        (s.status, s.dom, s.port_or_virq),
        (stat::INTERDOMAIN, 2, 20)
    );
    let s = tables[1].status(1, 20).unwrap();
    assert_eq!(
        (s.status, s.dom, s.port_or_virq),
        (stat::INTERDOMAIN, 1, 10)
    );
    // The guests' own allocations start at 1.
    assert_eq!(tables[0].alloc_unbound(0, 2, &mut NoMemory), Ok(1));
}

#[test]
fn static_channel_errors_name_partition_and_port() {
    let mut t = tables();
    let err = bind(&[(0, 5000, 1, 20), (1, 20, 0, 5000)], &mut t).unwrap_err();
    assert_eq!(
        err,
        StaticChannelError::Port {
            partition: 0,
            port: 5000,
            errno: Errno::Enospc,
            max_port: 1023
        }
    );
    assert!(err.to_string().contains("port 5000 of partition 0"));
    let err = bind(&[(0, 0, 1, 7), (1, 7, 0, 0)], &mut tables()).unwrap_err();
    assert!(matches!(
        err,
        StaticChannelError::Port {
            port: 0,
            errno: Errno::Ebusy,
            ..
        }
    ));
    let err = bind(
        &[(0, 3, 1, 7), (1, 7, 0, 3), (0, 3, 1, 8), (1, 8, 0, 3)],
        &mut tables(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        StaticChannelError::Port {
            partition: 0,
            port: 3,
            errno: Errno::Ebusy,
            ..
        }
    ));
    let err = bind(&[(0, 3, 5, 7)], &mut tables()).unwrap_err();
    assert_eq!(
        err,
        StaticChannelError::NoSuchPartition {
            partition: 0,
            remote: 5
        }
    );
}

#[test]
fn a_restarted_partition_gets_its_static_channels_back() {
    let mut w = World::new(2, 1);
    bind(&[(0, 10, 1, 20), (1, 20, 0, 10)], &mut w.tables).unwrap();
    w.stop(0);
    w.tables[0].set_shared_info(Some(SHARED)).unwrap();
    let s = w.status(1, 20);
    assert_eq!((s.status, s.dom), (stat::UNBOUND, 1), "the peer waits for the restarted partition");
    let (local, remote) = two(&mut w.tables, 0, 1);
    crate::portable::evtchn::statics::bind_channel(Pair::Two { local, remote }, 10, 20).unwrap();
    assert_eq!(w.status(0, 10).status, stat::INTERDOMAIN);
    assert!(matches!(w.send(1, 20), Ok(Route::Remote(_))));
    assert_eq!(w.take_upcalls(0), Upcalls(1));
}

#[test]
fn peers_come_from_the_plan() {
    assert_eq!(Peers::from_plan(None), Peers::ALL);
    assert_eq!(Peers::from_plan(Some(&[0, 2, 99])), Peers(0b101));
    assert!(!Peers::from_plan(Some(&[])).allows(0));
}
