//! The runtime layer (`runtime`) on a fake machine: the partitions' tables behind their
//! locks, fake memories, and a record of every upcall, poll wake-up, lost event and static
//! channel not bound again.

use std::sync::Mutex as StdMutex;

use dom0less_config::plan::EventChannel;
use locks::Mutex;

use super::super::args::Call;
use super::super::runtime::{self, Machine};
use super::*;
use crate::portable::xen::Answer;

/// A partition's fake memory, locked for each access (as the real one is atomic per word).
struct Mem<'a>(&'a StdMutex<FakeMemory>);

impl EventMemory for Mem<'_> {
    fn load(&mut self, address: u64) -> Result<u32, MemoryError> {
        self.0.lock().unwrap().load(address)
    }
    fn store(&mut self, address: u64, value: u32) -> Result<(), MemoryError> {
        self.0.lock().unwrap().store(address, value)
    }
    fn fetch_or(&mut self, address: u64, bits: u32) -> Result<u32, MemoryError> {
        self.0.lock().unwrap().fetch_or(address, bits)
    }
    fn fetch_and(&mut self, address: u64, bits: u32) -> Result<u32, MemoryError> {
        self.0.lock().unwrap().fetch_and(address, bits)
    }
    fn compare_exchange(&mut self, address: u64, current: u32, new: u32) -> Result<u32, MemoryError> {
        self.0.lock().unwrap().compare_exchange(address, current, new)
    }
    fn is_ram_page(&mut self, page: u64) -> bool {
        self.0.lock().unwrap().is_ram_page(page)
    }
}

#[derive(Default)]
struct Record {
    upcalls: Vec<(usize, usize)>,
    woken: Vec<(usize, Option<u32>)>,
    lost: Vec<usize>,
    not_bound: Vec<(usize, u32)>,
    syncs: usize,
}

struct Fake {
    tables: Vec<Mutex<EventChannels>>,
    mems: Vec<StdMutex<FakeMemory>>,
    statics: Vec<Vec<EventChannel>>,
    record: StdMutex<Record>,
}

impl Fake {
    /// `n` partitions of two vCPUs, with shared_info registered, and their static channels.
    fn new(n: usize, statics: Vec<Vec<EventChannel>>) -> Self {
        let world = World::new(n, 2);
        Fake {
            tables: world.tables.into_iter().map(Mutex::new).collect(),
            mems: (0..n).map(|_| StdMutex::new(FakeMemory::new())).collect(),
            statics,
            record: StdMutex::new(Record::default()),
        }
    }

    fn op(&self, caller: usize, call: Call) -> Result<Answer, Errno> {
        runtime::op(self, caller, call)
    }

    fn port(&self, caller: usize, call: Call) -> u32 {
        match self.op(caller, call) {
            Ok(Answer::Port(port)) => port,
            other => panic!("{call:?} by {caller}: {other:?}"),
        }
    }

    fn status(&self, caller: usize, port: u32) -> Status {
        match self.op(caller, Call::Status { dom: abi::DOMID_SELF, port }) {
            Ok(Answer::Status(status)) => status,
            other => panic!("status of {caller}'s port {port}: {other:?}"),
        }
    }

    fn pending(&self, partition: usize, port: u32) -> bool {
        self.mems[partition].lock().unwrap().bit(SHARED + 0x30, port)
    }

    fn take(&self) -> Record {
        core::mem::take(&mut *self.record.lock().unwrap())
    }
}

impl Machine for Fake {
    type Memory<'a> = Mem<'a>;

    fn count(&self) -> usize {
        self.tables.len()
    }
    fn table(&self, partition: usize) -> Option<&Mutex<EventChannels>> {
        self.tables.get(partition)
    }
    fn memory(&self, partition: usize) -> Option<Mem<'_>> {
        self.mems.get(partition).map(Mem)
    }
    fn sync(&self, _partition: usize, table: &mut EventChannels) {
        // A restarted table forgets shared_info; the guest's page is still there.
        let _ = table.set_shared_info(Some(SHARED));
        self.record.lock().unwrap().syncs += 1;
    }
    fn raise(&self, partition: usize, vcpu: usize) {
        self.record.lock().unwrap().upcalls.push((partition, vcpu));
    }
    fn wake_pollers(&self, partition: usize, port: Option<u32>) {
        self.record.lock().unwrap().woken.push((partition, port));
    }
    fn lost(&self, partition: usize, _fault: MemoryError) {
        self.record.lock().unwrap().lost.push(partition);
    }
    fn static_channels(&self, partition: usize) -> &[EventChannel] {
        self.statics.get(partition).map_or(&[], Vec::as_slice)
    }
    fn not_bound_again(&self, partition: usize, port: u32, _error: StaticChannelError) {
        self.record.lock().unwrap().not_bound.push((partition, port));
    }
}

fn channel(port: u32, remote_partition: usize, remote_port: u32) -> EventChannel {
    EventChannel { port, remote_partition, remote_port }
}

#[test]
fn an_interdomain_send_reaches_the_peer_and_raises_its_upcall() {
    let m = Fake::new(2, vec![]);
    let a = m.port(0, Call::AllocUnbound { dom: abi::DOMID_SELF, remote_dom: 2 });
    let b = m.port(1, Call::BindInterdomain { remote_dom: 1, remote_port: a });
    let bound = m.take();
    // Binding raises an event on the binder's new port (Xen does).
    assert!(m.pending(1, b));
    assert_eq!(bound.upcalls, [(1, 0)]);
    assert_eq!(bound.woken, [(1, Some(b))], "a port became pending: its pollers are woken");
    assert_eq!(m.op(0, Call::Send { port: a }), Ok(Answer::Done));
    let sent = m.take();
    assert_eq!(sent.upcalls, [], "the peer's upcall is still pending from the bind");
    assert_eq!(sent.woken, [], "port {b} was pending already");
    // Clear the peer's pending bit and upcall flag: the next send raises both again.
    m.mems[1].lock().unwrap().set_bit(SHARED + 0x30, b, false);
    m.mems[1].lock().unwrap().set(SHARED, 0);
    m.mems[1].lock().unwrap().set(SHARED + 8, 0);
    assert_eq!(m.op(0, Call::Send { port: a }), Ok(Answer::Done));
    assert!(m.pending(1, b));
    let sent = m.take();
    assert_eq!((sent.upcalls, sent.woken), (vec![(1, 0)], vec![(1, Some(b))]));
    assert_eq!(m.status(0, a).status, abi::stat::INTERDOMAIN);
}

#[test]
fn a_masked_port_wakes_pollers_without_an_upcall() {
    let m = Fake::new(1, vec![]);
    let a = m.port(0, Call::AllocUnbound { dom: abi::DOMID_SELF, remote_dom: abi::DOMID_SELF });
    let b = m.port(0, Call::BindInterdomain { remote_dom: abi::DOMID_SELF, remote_port: a });
    m.mems[0].lock().unwrap().set(SHARED, 0);
    m.mems[0].lock().unwrap().set(SHARED + 8, 0);
    m.mems[0].lock().unwrap().set_bit(SHARED + 0x230, a, true);
    m.take();
    assert_eq!(runtime::port_pending(&m, 0, a), Ok(false));
    assert_eq!(m.op(0, Call::Send { port: b }), Ok(Answer::Done));
    let sent = m.take();
    assert_eq!(sent.upcalls, [], "masked: no upcall");
    assert_eq!(sent.woken, [(0, Some(a))], "but the pollers of that port wake");
    assert_eq!(runtime::port_pending(&m, 0, a), Ok(true));
    assert_eq!(runtime::port_pending(&m, 0, 40), Err(Errno::Einval), "a free port");
    assert_eq!(runtime::port_pending(&m, 3, a), Err(Errno::Einval), "no such partition");
}

#[test]
fn domain_checks_of_reset_status_and_alloc_unbound() {
    let m = Fake::new(2, vec![]);
    assert_eq!(m.op(0, Call::ResetCont { dom: abi::DOMID_SELF }), Err(Errno::Ebusy));
    assert_eq!(m.op(0, Call::ResetCont { dom: 2 }), Err(Errno::Eperm));
    assert_eq!(m.op(0, Call::ResetCont { dom: 9 }), Err(Errno::Esrch));
    assert_eq!(m.op(0, Call::Reset { dom: 2 }), Err(Errno::Eperm));
    assert_eq!(m.op(0, Call::AllocUnbound { dom: 2, remote_dom: 1 }), Err(Errno::Eperm));
    let a = m.port(1, Call::AllocUnbound { dom: abi::DOMID_SELF, remote_dom: 1 });
    assert_eq!(m.op(0, Call::Status { dom: 2, port: a }), Err(Errno::Eperm));
    assert_eq!(m.op(0, Call::Status { dom: 9, port: a }), Err(Errno::Esrch));
    assert_eq!(m.op(0, Call::BindInterdomain { remote_dom: 9, remote_port: a }), Err(Errno::Esrch));
    assert_eq!(m.op(7, Call::Send { port: 1 }), Err(Errno::Esrch), "no such caller");
}

#[test]
fn a_close_leaves_the_peer_unbound_and_a_reset_closes_every_channel() {
    let m = Fake::new(3, vec![]);
    let a = m.port(0, Call::AllocUnbound { dom: abi::DOMID_SELF, remote_dom: 2 });
    let b = m.port(1, Call::BindInterdomain { remote_dom: 1, remote_port: a });
    let c = m.port(0, Call::AllocUnbound { dom: abi::DOMID_SELF, remote_dom: 3 });
    let d = m.port(2, Call::BindInterdomain { remote_dom: 1, remote_port: c });
    assert_eq!(m.op(1, Call::Close { port: b }), Ok(Answer::Done));
    let status = m.status(0, a);
    assert_eq!((status.status, status.dom), (abi::stat::UNBOUND, 2));
    // Partition 0 resets: partition 2's end goes unbound, waiting for it.
    assert_eq!(m.op(0, Call::Reset { dom: abi::DOMID_SELF }), Ok(Answer::Done));
    assert_eq!(m.status(2, d).status, abi::stat::UNBOUND);
    assert_eq!(m.status(0, c).status, abi::stat::CLOSED);
    // Its port can be bound again from partition 2's side once partition 0 offers one.
    let e = m.port(0, Call::AllocUnbound { dom: abi::DOMID_SELF, remote_dom: 3 });
    assert_eq!(m.op(2, Call::Close { port: d }), Ok(Answer::Done));
    let f = m.port(2, Call::BindInterdomain { remote_dom: 1, remote_port: e });
    assert_eq!(m.status(0, e).port_or_virq, f);
}

#[test]
fn a_restart_closes_the_ports_for_the_peers_and_binds_the_static_channel_again() {
    // Static channel: partition 0 port 10 <-> partition 1 port 12; a loopback one in
    // partition 1 (ports 20 and 21, listed from both ends).
    let statics = vec![vec![channel(10, 1, 12)], vec![channel(12, 0, 10), channel(20, 1, 21), channel(21, 1, 20)]];
    let m = Fake::new(2, statics);
    for p in 0..2 {
        runtime::close_all(&m, p);
        runtime::rebind_static(&m, p);
    }
    // Partition 1's restart found partition 0's end waiting for it and took it as it was.
    assert_eq!(m.take().not_bound, []);
    assert_eq!(m.status(1, 12).status, abi::stat::INTERDOMAIN);
    assert_eq!(m.status(1, 20).port_or_virq, 21);
    // A dynamic channel too.
    let a = m.port(0, Call::AllocUnbound { dom: abi::DOMID_SELF, remote_dom: 2 });
    let b = m.port(1, Call::BindInterdomain { remote_dom: 1, remote_port: a });
    // Partition 0 restarts: closed first...
    runtime::close_all(&m, 0);
    assert_eq!(m.status(1, 12).status, abi::stat::UNBOUND);
    assert_eq!(m.status(1, b).status, abi::stat::UNBOUND);
    // ...a send on the peer's unbound end is dropped, not an error (as Xen)...
    m.mems[0].lock().unwrap().words.clear();
    assert_eq!(m.op(1, Call::Send { port: 12 }), Ok(Answer::Done));
    assert!(!m.pending(0, 10));
    // ...then its static channel is bound again and an event sent on it waits, pending.
    runtime::rebind_static(&m, 0);
    assert_eq!(m.take().not_bound, []);
    let status = m.status(1, 12);
    assert_eq!((status.status, status.dom, status.port_or_virq), (abi::stat::INTERDOMAIN, 1, 10));
    assert_eq!(m.op(1, Call::Send { port: 12 }), Ok(Answer::Done));
    assert!(m.pending(0, 10));
    assert_eq!(m.take().upcalls, [(0, 0)]);
    // The dynamic channel stays closed on partition 0's side until someone binds it.
    assert_eq!(m.status(0, a).status, abi::stat::CLOSED);
}

#[test]
fn a_static_channel_that_cannot_be_bound_again_is_reported_and_the_others_still_are() {
    let statics = vec![vec![channel(10, 1, 1), channel(11, 1, 13)], vec![channel(1, 0, 10), channel(13, 0, 11)]];
    let m = Fake::new(2, statics);
    runtime::rebind_static(&m, 0);
    runtime::close_all(&m, 0);
    // While partition 0 is down, partition 1 reuses its port 1 for something else.
    assert_eq!(m.op(1, Call::Close { port: 1 }), Ok(Answer::Done));
    let ipi = m.port(1, Call::BindIpi { vcpu: 0 });
    assert_eq!(ipi, 1, "the lowest free port");
    runtime::rebind_static(&m, 0);
    assert_eq!(m.take().not_bound, [(0, 10)]);
    assert_eq!(m.status(1, 13).status, abi::stat::INTERDOMAIN);
    assert_eq!(m.status(1, 1).status, abi::stat::IPI);
}

#[test]
fn an_event_the_receiver_cannot_take_is_reported_lost() {
    let m = Fake::new(2, vec![]);
    let a = m.port(0, Call::AllocUnbound { dom: abi::DOMID_SELF, remote_dom: 2 });
    let b = m.port(1, Call::BindInterdomain { remote_dom: 1, remote_port: a });
    m.take();
    // The receiver's pending word is out of reach.
    let word = SHARED + 0x30 + 4 * u64::from(b / 32);
    m.mems[1].lock().unwrap().set_bit(SHARED + 0x30, b, false);
    m.mems[1].lock().unwrap().broken.insert(word);
    assert_eq!(m.op(0, Call::Send { port: a }), Ok(Answer::Done), "the sender is not blamed");
    assert_eq!(m.take().lost, [1]);
}
