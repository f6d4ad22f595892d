//! Delivery into guest memory, checked bit by bit, with guest-side consumers written as Linux
//! consumes the 2-level bitmaps and the FIFO queues.

use super::*;
use crate::portable::evtchn::abi::{fifo, shared_info, vcpu_info, virq, DOMID_SELF};

pub const PENDING: u64 = SHARED + shared_info::EVTCHN_PENDING;
pub const MASK: u64 = SHARED + shared_info::EVTCHN_MASK;
/// Test addresses of FIFO pages: vCPU n's control block in page 1 at n * 128, array pages
/// from page 2.
pub const CONTROL: u64 = SHARED + 0x1000;
pub const ARRAY: u64 = SHARED + 0x2000;

/// Linux's 2-level consumer: takes the upcall flag and the selector, then every pending and
/// unmasked port of the selected words, clearing each pending bit.
pub fn consume_2l(mem: &mut FakeMemory, info: u64) -> Vec<u32> {
    let mut ports = Vec::new();
    mem.set_bit(info + vcpu_info::UPCALL_PENDING, 0, false);
    let sel = u64::from(mem.word(info + 8)) | u64::from(mem.word(info + 12)) << 32;
    mem.set(info + 8, 0);
    mem.set(info + 12, 0);
    for word in (0..64).filter(|w| sel & (1 << w) != 0) {
        for bit in 0..64 {
            let port = word * 64 + bit;
            if mem.bit(PENDING, port) && !mem.bit(MASK, port) {
                mem.set_bit(PENDING, port, false);
                ports.push(port);
            }
        }
    }
    ports
}

/// Linux's FIFO consumer for one vCPU: every READY queue, highest priority first, following
/// the links and unlinking each word with compare-exchange.
pub struct FifoGuest {
    pub control: u64,
    pub heads: [u32; fifo::QUEUES],
}

impl FifoGuest {
    pub fn new(control: u64) -> Self {
        FifoGuest {
            control,
            heads: [0; fifo::QUEUES],
        }
    }

    pub fn word(port: u32) -> u64 {
        ARRAY + 4 * u64::from(port)
    }

    pub fn consume(&mut self, mem: &mut FakeMemory, info: u64) -> Vec<u32> {
        mem.set_bit(info, 0, false);
        let mut ports = Vec::new();
        // Bounded: each step unlinks one word.
        for _ in 0..10_000 {
            let ready = mem.word(self.control);
            if ready == 0 {
                return ports;
            }
            let q = ready.trailing_zeros() as usize;
            let mut head = self.heads[q];
            if head == 0 {
                head = mem.word(self.control + fifo::CONTROL_HEAD + 4 * q as u64);
            }
            let port = head;
            let word = Self::word(port);
            let w = mem.word(word);
            let next = w & fifo::LINK_MASK;
            mem.set(word, w & !(1 << fifo::LINKED | fifo::LINK_MASK));
            if next == 0 {
                mem.set_bit(self.control, q as u32, false);
            }
            if w & 1 << fifo::PENDING != 0 && w & 1 << fifo::MASKED == 0 {
                mem.set_bit(word, fifo::PENDING, false);
                ports.push(port);
            }
            self.heads[q] = next;
        }
        panic!("FIFO queues never emptied");
    }
}

fn one(vcpus: u16) -> World {
    World::new(1, vcpus)
}

#[test]
fn two_level_ipi_sets_pending_selector_and_upcall() {
    let mut w = one(2);
    let port = w.tables[0].bind_ipi(0, &mut w.mems[0]).unwrap();
    for port in 2..=70 {
        assert_eq!(w.tables[0].bind_ipi(0, &mut w.mems[0]), Ok(port));
    }
    assert_eq!(w.send(0, port), Ok(Route::Local));
    assert!(w.mems[0].bit(PENDING, port));
    assert_eq!(
        w.mems[0].word(SHARED + 8),
        1,
        "selector bit 0 covers ports 0..63"
    );
    assert_eq!(w.mems[0].word(SHARED), 1, "evtchn_upcall_pending");
    assert_eq!(w.take_upcalls(0), Upcalls(1));
    // A second event on a pending port changes nothing; on another port no new upcall.
    w.send(0, port).unwrap();
    w.send(0, 70).unwrap();
    assert_eq!(w.take_upcalls(0), Upcalls(0));
    assert!(w.mems[0].bit(PENDING, 70));
    assert_eq!(
        w.mems[0].word(SHARED + 8),
        0b11,
        "selector bit 1 covers 64..127"
    );
    assert_eq!(consume_2l(&mut w.mems[0], SHARED), vec![port, 70]);
    // Every other word of the page is untouched.
    let written: Vec<u64> = w.mems[0]
        .words
        .iter()
        .filter(|(_, v)| **v != 0)
        .map(|(a, _)| *a)
        .collect();
    assert!(written.is_empty(), "left over: {written:x?}");
    w.send(0, port).unwrap();
    assert_eq!(
        w.take_upcalls(0),
        Upcalls(1),
        "after the guest consumed, a new upcall"
    );
}

#[test]
fn two_level_masked_event_waits_for_unmask() {
    let mut w = one(2);
    let info1 = RAM + 0x3000;
    w.tables[0].set_vcpu_info(1, info1).unwrap();
    let port = w.tables[0].bind_ipi(1, &mut w.mems[0]).unwrap();
    w.mems[0].set_bit(MASK, port, true);
    w.send(0, port).unwrap();
    assert!(w.mems[0].bit(PENDING, port));
    assert_eq!(w.mems[0].word(info1 + 8), 0, "masked: no selector");
    assert_eq!(w.take_upcalls(0), Upcalls(0));
    w.unmask(0, port).unwrap();
    assert!(!w.mems[0].bit(MASK, port));
    assert_eq!(w.mems[0].word(info1 + 8), 1);
    assert_eq!(w.mems[0].word(info1), 1);
    assert_eq!(w.take_upcalls(0), Upcalls(0b10), "vCPU 1");
    // Unmasking an unmasked port does nothing more.
    consume_2l(&mut w.mems[0], info1);
    w.unmask(0, port).unwrap();
    assert_eq!(w.take_upcalls(0), Upcalls(0));
}

#[test]
fn two_level_vcpu_without_vcpu_info_gets_pending_but_no_upcall() {
    let mut w = one(2);
    let port = w.tables[0].bind_ipi(1, &mut w.mems[0]).unwrap();
    w.send(0, port).unwrap();
    assert!(w.mems[0].bit(PENDING, port));
    assert_eq!(w.take_upcalls(0), Upcalls(0));
    assert_eq!(w.tables[0].set_vcpu_info(1, RAM + 4), Err(Errno::Einval));
    assert_eq!(w.tables[0].set_vcpu_info(2, RAM), Err(Errno::Enoent));
}

#[test]
fn closing_clears_the_pending_bit() {
    let mut w = one(1);
    let port = w.tables[0].bind_ipi(0, &mut w.mems[0]).unwrap();
    w.send(0, port).unwrap();
    w.close(0, port).unwrap();
    assert!(!w.mems[0].bit(PENDING, port));
}

#[test]
fn virqs_are_raised_for_their_vcpu() {
    let mut w = one(2);
    w.tables[0].set_vcpu_info(1, RAM + 0x3000).unwrap();
    let debug1 = w.tables[0]
        .bind_virq(virq::DEBUG, 1, &mut w.mems[0])
        .unwrap();
    let console = w.tables[0]
        .bind_virq(virq::CONSOLE, 0, &mut w.mems[0])
        .unwrap();
    w.tables[0].bind_vcpu(console, 1).unwrap();
    let mut fx = Effects::default();
    w.tables[0].raise_virq(virq::DEBUG, 0, &mut w.mems[0], &mut fx);
    assert_eq!(fx, Effects::default(), "not bound on vCPU 0");
    w.tables[0].raise_virq(virq::DEBUG, 1, &mut w.mems[0], &mut fx);
    assert_eq!(fx.upcalls, Upcalls(0b10));
    assert!(w.mems[0].bit(PENDING, debug1));
    w.tables[0].raise_virq(virq::CONSOLE, 0, &mut w.mems[0], &mut fx);
    assert!(
        w.mems[0].bit(PENDING, console),
        "global VIRQ goes to the vCPU bound with bind_vcpu"
    );
    w.tables[0].raise_virq(99, 0, &mut w.mems[0], &mut fx);
}

/// FIFO with vCPU 0's control block and one array page.
fn fifo_world(vcpus: u16) -> World {
    let mut w = one(vcpus);
    let mut fx = Effects::default();
    w.tables[0]
        .init_control(CONTROL >> 12, 0, 0, &mut w.mems[0])
        .unwrap();
    w.tables[0]
        .expand_array(ARRAY >> 12, &mut w.mems[0], &mut fx)
        .unwrap();
    assert_eq!(fx, Effects::default());
    w
}

#[test]
fn fifo_links_events_per_priority_queue() {
    let mut w = fifo_world(1);
    let ports: Vec<u32> = (0..4)
        .map(|_| w.tables[0].bind_ipi(0, &mut w.mems[0]).unwrap())
        .collect();
    let [a, b, c, d] = ports[..] else {
        unreachable!()
    };
    w.tables[0].set_priority(c, 3).unwrap();
    w.tables[0].set_priority(d, 15).unwrap();
    w.send(0, a).unwrap();
    let word = |w: &World, p| w.mems[0].word(FifoGuest::word(p));
    assert_eq!(word(&w, a), 1 << fifo::PENDING | 1 << fifo::LINKED);
    assert_eq!(
        w.mems[0].word(CONTROL + 8 + 4 * 7),
        a,
        "HEAD of the default queue"
    );
    assert_eq!(w.mems[0].word(CONTROL), 1 << 7, "READY bit of priority 7");
    assert_eq!(w.take_upcalls(0), Upcalls(1));
    w.send(0, b).unwrap();
    assert_eq!(
        word(&w, a),
        1 << fifo::PENDING | 1 << fifo::LINKED | b,
        "a links to b"
    );
    assert_eq!(word(&w, b), 1 << fifo::PENDING | 1 << fifo::LINKED);
    assert_eq!(w.take_upcalls(0), Upcalls(0), "queue was not empty");
    w.send(0, c).unwrap();
    w.send(0, d).unwrap();
    assert_eq!(w.mems[0].word(CONTROL + 8 + 4 * 3), c);
    assert_eq!(w.mems[0].word(CONTROL + 8 + 4 * 15), d);
    assert_eq!(w.mems[0].word(CONTROL), 1 << 3 | 1 << 7 | 1 << 15);
    assert_eq!(w.take_upcalls(0), Upcalls(0), "upcall flag still set");
    // A pending, linked port is not linked twice.
    w.send(0, a).unwrap();
    assert_eq!(word(&w, a) & fifo::LINK_MASK, b);
    let mut guest = FifoGuest::new(CONTROL);
    assert_eq!(
        guest.consume(&mut w.mems[0], SHARED),
        vec![c, a, b, d],
        "priority order"
    );
    for p in [a, b, c, d] {
        assert_eq!(word(&w, p), 0);
    }
    // The queue is empty again: the next event is a new HEAD and raises the upcall.
    w.send(0, b).unwrap();
    assert_eq!(w.mems[0].word(CONTROL + 8 + 4 * 7), b);
    assert_eq!(w.take_upcalls(0), Upcalls(1));
    assert_eq!(guest.consume(&mut w.mems[0], SHARED), vec![b]);
}

#[test]
fn fifo_tail_consumed_by_the_guest_starts_a_new_queue() {
    let mut w = fifo_world(1);
    let a = w.tables[0].bind_ipi(0, &mut w.mems[0]).unwrap();
    let b = w.tables[0].bind_ipi(0, &mut w.mems[0]).unwrap();
    w.send(0, a).unwrap();
    let mut guest = FifoGuest::new(CONTROL);
    assert_eq!(guest.consume(&mut w.mems[0], SHARED), vec![a]);
    // The hypervisor's tail is still a, but a is unlinked: b must become the HEAD.
    w.send(0, b).unwrap();
    assert_eq!(w.mems[0].word(CONTROL + 8 + 4 * 7), b);
    assert_eq!(w.mems[0].word(FifoGuest::word(a)), 0, "a not relinked");
    assert_eq!(guest.consume(&mut w.mems[0], SHARED), vec![b]);
}

#[test]
fn fifo_masked_event_links_on_unmask() {
    let mut w = fifo_world(1);
    let a = w.tables[0].bind_ipi(0, &mut w.mems[0]).unwrap();
    w.mems[0].set_bit(FifoGuest::word(a), fifo::MASKED, true);
    w.send(0, a).unwrap();
    assert_eq!(
        w.mems[0].word(FifoGuest::word(a)),
        1 << fifo::PENDING | 1 << fifo::MASKED
    );
    assert_eq!(w.take_upcalls(0), Upcalls(0));
    w.unmask(0, a).unwrap();
    assert_eq!(
        w.mems[0].word(FifoGuest::word(a)),
        1 << fifo::PENDING | 1 << fifo::LINKED
    );
    assert_eq!(w.take_upcalls(0), Upcalls(1));
}

#[test]
fn fifo_busy_tail_is_linked_and_busy_cleared() {
    let mut w = fifo_world(1);
    let a = w.tables[0].bind_ipi(0, &mut w.mems[0]).unwrap();
    let b = w.tables[0].bind_ipi(0, &mut w.mems[0]).unwrap();
    w.send(0, a).unwrap();
    // The guest masks a meanwhile: the link still goes in and BUSY is not left set.
    w.mems[0].set_bit(FifoGuest::word(a), fifo::MASKED, true);
    w.send(0, b).unwrap();
    let wa = w.mems[0].word(FifoGuest::word(a));
    assert_eq!(wa & fifo::LINK_MASK, b);
    assert_eq!(wa & 1 << fifo::BUSY, 0);
}

#[test]
fn fifo_events_without_their_page_are_raised_when_it_arrives() {
    let mut w = one(1);
    w.tables[0]
        .init_control(CONTROL >> 12, 0, 0, &mut w.mems[0])
        .unwrap();
    let a = w.tables[0].bind_ipi(0, &mut w.mems[0]).unwrap();
    w.send(0, a).unwrap();
    assert_eq!(w.take_upcalls(0), Upcalls(0));
    let mut fx = Effects::default();
    w.tables[0]
        .expand_array(ARRAY >> 12, &mut w.mems[0], &mut fx)
        .unwrap();
    assert_eq!(fx.upcalls, Upcalls(1));
    assert_eq!(
        w.mems[0].word(FifoGuest::word(a)),
        1 << fifo::PENDING | 1 << fifo::LINKED
    );
}

#[test]
fn switching_to_fifo_keeps_two_level_pending_events() {
    let mut w = one(1);
    let a = w.tables[0].bind_ipi(0, &mut w.mems[0]).unwrap();
    w.send(0, a).unwrap();
    w.take_upcalls(0);
    w.mems[0].set(SHARED, 0);
    let mut fx = Effects::default();
    w.tables[0]
        .init_control(CONTROL >> 12, 0, 0, &mut w.mems[0])
        .unwrap();
    w.tables[0]
        .expand_array(ARRAY >> 12, &mut w.mems[0], &mut fx)
        .unwrap();
    assert_eq!(fx.upcalls, Upcalls(1));
    assert_eq!(w.mems[0].word(CONTROL + 8 + 4 * 7), a);
}

#[test]
fn fifo_events_for_a_vcpu_without_control_block_are_dropped() {
    let mut w = fifo_world(2);
    w.tables[0].set_vcpu_info(1, RAM + 0x3000).unwrap();
    let a = w.tables[0].bind_ipi(1, &mut w.mems[0]).unwrap();
    w.send(0, a).unwrap();
    assert_eq!(w.mems[0].word(FifoGuest::word(a)), 0);
    assert_eq!(w.take_upcalls(0), Upcalls(0));
}

#[test]
fn a_port_still_linked_is_busy_until_the_guest_unlinks_it() {
    let mut w = fifo_world(1);
    let a = w.tables[0].bind_ipi(0, &mut w.mems[0]).unwrap();
    w.send(0, a).unwrap();
    w.close(0, a).unwrap();
    assert_eq!(
        w.mems[0].word(FifoGuest::word(a)),
        1 << fifo::LINKED,
        "close clears PENDING only"
    );
    assert_eq!(
        w.tables[0].bind_ipi(0, &mut w.mems[0]),
        Ok(a + 1),
        "linked port skipped"
    );
    let mut guest = FifoGuest::new(CONTROL);
    assert_eq!(
        guest.consume(&mut w.mems[0], SHARED),
        Vec::<u32>::new(),
        "not pending: ignored"
    );
    assert_eq!(w.alloc_unbound(0, DOMID_SELF, 1), Ok(a));
}

#[test]
fn a_memory_failure_is_reported_not_a_panic() {
    let mut w = one(1);
    let a = w.tables[0].bind_ipi(0, &mut w.mems[0]).unwrap();
    w.mems[0].broken.insert(PENDING);
    let mut fx = Effects::default();
    assert_eq!(
        w.tables[0].send(a, &mut w.mems[0], &mut fx),
        Ok(Route::Local)
    );
    assert_eq!(fx.fault, Some(MemoryError::Unmapped { address: PENDING }));
    w.mems[0].broken.insert(MASK);
    assert_eq!(
        w.tables[0].unmask(a, &mut w.mems[0], &mut fx),
        Err(Errno::Efault)
    );
    // shared_info must be page-aligned.
    assert!(w.tables[0].set_shared_info(Some(RAM + 4)).is_err());
}

#[test]
fn newly_pending_ports_are_reported_for_pollers() {
    let mut w = one(1);
    let a = w.tables[0].bind_ipi(0, &mut w.mems[0]).unwrap();
    assert_eq!(w.tables[0].is_pending(a, &mut w.mems[0]), Ok(false));
    let mut fx = Effects::default();
    w.tables[0].send(a, &mut w.mems[0], &mut fx).unwrap();
    assert_eq!(fx.newly_pending, NewlyPending::Port(a));
    assert_eq!(w.tables[0].is_pending(a, &mut w.mems[0]), Ok(true));
    let mut fx = Effects::default();
    w.tables[0].send(a, &mut w.mems[0], &mut fx).unwrap();
    assert_eq!(fx.newly_pending, NewlyPending::None, "already pending");
    // Two ports in one operation's effects: the pollers cannot be told one port.
    let mut fx = Effects::default();
    fx.became_pending(a);
    fx.became_pending(a);
    assert_eq!(fx.newly_pending, NewlyPending::Port(a));
    fx.became_pending(a + 1);
    assert_eq!(fx.newly_pending, NewlyPending::Several);
    assert_eq!(w.tables[0].is_pending(a + 1, &mut w.mems[0]), Err(Errno::Einval), "free port");
    assert_eq!(w.tables[0].is_pending(4000, &mut w.mems[0]), Err(Errno::Einval));
    // The same in FIFO.
    let mut w = fifo_world(1);
    let a = w.tables[0].bind_ipi(0, &mut w.mems[0]).unwrap();
    let mut fx = Effects::default();
    w.tables[0].send(a, &mut w.mems[0], &mut fx).unwrap();
    assert_eq!(fx.newly_pending, NewlyPending::Port(a));
    assert_eq!(w.tables[0].is_pending(a, &mut w.mems[0]), Ok(true));
}

#[test]
fn upcall_sets_list_their_vcpus_lowest_first() {
    assert_eq!(Upcalls(0).iter().count(), 0);
    let mut some = Upcalls::default();
    for v in [127, 0, 5, 64, 200] {
        some.insert(v);
    }
    assert_eq!(some.iter().collect::<Vec<_>>(), vec![0, 5, 64, 127], "200 is past any partition");
    let all = Upcalls(u128::MAX);
    assert_eq!(all.iter().collect::<Vec<_>>(), (0..128).collect::<Vec<u16>>());
    assert!(all.iter().all(|v| all.contains(v)));
}
