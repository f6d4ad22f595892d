//! `event_channel_op` cases of the `xenabi` guest: every operation with valid and invalid
//! arguments (bad ports, wrong domain ids, wild pointers), first with the 2-level ABI, then
//! with FIFO after `EVTCHNOP_init_control`, then back to 2-level after `EVTCHNOP_reset`.
//! Channels are loopback channels (both ends in this domain), since the guest is alone.
//! Each line prints the call's return value and what it wrote, and where it matters the
//! pending and mask bits, the selector and the upcall flag the hypervisor left in guest
//! memory.
//!
//! It runs after `memory_op` mapped shared_info at scratch page 4 and `vcpu_op` registered
//! vCPU 0's vcpu_info at offset 64 of scratch page 3.

use test_guests::runtime::Guest;
use test_guests::say;

use core::sync::atomic::Ordering;

use test_guests::runtime::timing::{counter_frequency, physical_count};

use super::{call, clear, page, peek, peek_u64, poke, BAD, DOMID_SELF, EVENT_CHANNEL_OP, NO_RAM, SCHED_OP, READY, SEND_AT, SEND_PORT, SENT};

const BIND_INTERDOMAIN: u64 = 0;
const BIND_VIRQ: u64 = 1;
const BIND_PIRQ: u64 = 2;
const CLOSE: u64 = 3;
const SEND: u64 = 4;
const STATUS: u64 = 5;
const ALLOC_UNBOUND: u64 = 6;
const BIND_IPI: u64 = 7;
const BIND_VCPU: u64 = 8;
const UNMASK: u64 = 9;
const RESET: u64 = 10;
const INIT_CONTROL: u64 = 11;
const EXPAND_ARRAY: u64 = 12;
const SET_PRIORITY: u64 = 13;
const RESET_CONT: u64 = 14;

const VIRQ_TIMER: u32 = 0;
const VIRQ_DEBUG: u32 = 1;
const VIRQ_CONSOLE: u32 = 2;

/// A port past every domain's range.
const WILD_PORT: u32 = 100_000;

/// FIFO event word bits (`public/event_fifo.h`).
const PENDING: u32 = 1 << 31;
const MASKED: u32 = 1 << 30;
const LINKED: u32 = 1 << 29;

/// The argument structure's page, the FIFO control blocks' page and the event array's page.
const ARGS: usize = 10;
const CONTROL: usize = 8;
const ARRAY: usize = 9;

/// shared_info's 2-level bitmaps (their first words: ports 0 to 63) and vCPU 0's vcpu_info.
fn pending_word() -> u64 {
    peek_u64(page(4) + 0x30)
}
fn mask_word() -> u64 {
    peek_u64(page(4) + 0x230)
}
fn vcpu_info() -> u64 {
    page(3) + 64
}

/// Clears the 2-level pending and mask bits of ports 0 to 63, the selector and the upcall flag.
fn quiet() {
    poke(page(4) + 0x30, &0u64.to_le_bytes());
    poke(page(4) + 0x230, &0u64.to_le_bytes());
    poke(vcpu_info(), &[0]);
    poke(vcpu_info() + 8, &0u64.to_le_bytes());
}

/// The upcall flag and the selector, as one line's tail.
struct Upcall(u8, u64);
impl core::fmt::Display for Upcall {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "upcall {} selector {:#x}", self.0, self.1)
    }
}
fn upcall() -> Upcall {
    let mut flag = [0u8];
    peek(vcpu_info(), &mut flag);
    Upcall(flag[0], peek_u64(vcpu_info() + 8))
}

/// `event_channel_op(cmd, args)` with the structure `fields` (24 bytes at most) in the
/// argument page; returns the result and the structure as the hypervisor left it.
fn op(cmd: u64, fields: &[u8]) -> (i64, [u8; 24]) {
    let at = page(ARGS);
    clear(at, 24);
    poke(at, fields);
    let rc = call(EVENT_CHANNEL_OP, &[cmd, at]);
    let mut out = [0u8; 24];
    peek(at, &mut out);
    (rc, out)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Two u32 fields, as most structures are.
fn pair(a: u32, b: u32) -> [u8; 8] {
    let mut s = [0u8; 8];
    s[..4].copy_from_slice(&a.to_le_bytes());
    s[4..].copy_from_slice(&b.to_le_bytes());
    s
}

/// `alloc_unbound`: (result, port).
fn alloc_unbound(dom: u16, remote_dom: u16) -> (i64, u32) {
    let mut s = [0u8; 8];
    s[..2].copy_from_slice(&dom.to_le_bytes());
    s[2..4].copy_from_slice(&remote_dom.to_le_bytes());
    let (rc, out) = op(ALLOC_UNBOUND, &s);
    (rc, u32_at(&out, 4))
}

/// `bind_interdomain`: (result, local port).
fn bind_interdomain(remote_dom: u16, remote_port: u32) -> (i64, u32) {
    let mut s = [0u8; 12];
    s[..2].copy_from_slice(&remote_dom.to_le_bytes());
    s[4..8].copy_from_slice(&remote_port.to_le_bytes());
    let (rc, out) = op(BIND_INTERDOMAIN, &s);
    (rc, u32_at(&out, 8))
}

/// `bind_virq`: (result, port).
fn bind_virq(virq: u32, vcpu: u32) -> (i64, u32) {
    let (rc, out) = op(BIND_VIRQ, &pair(virq, vcpu));
    (rc, u32_at(&out, 8))
}

/// `bind_ipi`: (result, port).
fn bind_ipi(vcpu: u32) -> (i64, u32) {
    let (rc, out) = op(BIND_IPI, &vcpu.to_le_bytes());
    (rc, u32_at(&out, 4))
}

fn port_op(cmd: u64, port: u32) -> i64 {
    op(cmd, &port.to_le_bytes()).0
}

fn reset(dom: u16) -> i64 {
    op(RESET, &dom.to_le_bytes()).0
}

/// `status` as one line's tail: result, state, vCPU, and the union's two fields.
struct Status(i64, [u8; 24]);
impl core::fmt::Display for Status {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let b = &self.1;
        write!(f, "{} state {} vcpu {} dom {} port {}", self.0, u32_at(b, 8), u32_at(b, 12), u16_at(b, 16), u32_at(b, 20))
    }
}
fn status(dom: u16, port: u32) -> Status {
    let mut s = [0u8; 8];
    s[..2].copy_from_slice(&dom.to_le_bytes());
    s[4..].copy_from_slice(&port.to_le_bytes());
    let (rc, out) = op(STATUS, &s);
    Status(rc, out)
}

/// The cases, in order.
pub fn cases(guest: &Guest) {
    two_level(guest);
    fifo(guest);
    after_reset(guest);
    pointers(guest);
}

fn two_level(guest: &Guest) {
    quiet();
    // alloc_unbound: the port is found before the domain may be refused.
    let (rc, a) = alloc_unbound(DOMID_SELF, DOMID_SELF);
    say!(guest, "event_channel_op alloc_unbound DOMID_SELF for DOMID_SELF = {rc} port {a}");
    let (rc, b) = alloc_unbound(1, 1);
    say!(guest, "event_channel_op alloc_unbound own domid 1 for 1 = {rc} port {b}");
    let (rc, c) = alloc_unbound(DOMID_SELF, 9);
    say!(guest, "event_channel_op alloc_unbound for domid 9 (none) = {rc} port {c}");
    for (name, dom) in [("domid 9 (none)", 9u16), ("domid 0 (none)", 0), ("DOMID_IO", 0x7ff1)] {
        say!(guest, "event_channel_op alloc_unbound in {name} = {}", alloc_unbound(dom, DOMID_SELF).0);
    }
    say!(guest, "event_channel_op status unbound port {a} = {}", status(DOMID_SELF, a));
    say!(guest, "event_channel_op status unbound port {c} = {}", status(1, c));
    say!(guest, "event_channel_op status port 0 = {}", status(DOMID_SELF, 0));
    say!(guest, "event_channel_op status port 1023 = {}", status(DOMID_SELF, 1023));
    say!(guest, "event_channel_op status port {WILD_PORT} = {}", status(DOMID_SELF, WILD_PORT));
    say!(guest, "event_channel_op status in domid 9 (none) = {}", status(9, a));

    // bind_interdomain: loopback channels. Binding raises an event on the new port.
    quiet();
    let (rc, d) = bind_interdomain(DOMID_SELF, a);
    say!(guest, "event_channel_op bind_interdomain DOMID_SELF port {a} = {rc} port {d} pending {:#x} {}", pending_word(), upcall());
    let (rc, e) = bind_interdomain(1, b);
    say!(guest, "event_channel_op bind_interdomain own domid 1 port {b} = {rc} port {e}");
    for (name, dom, port) in [("bound port again", DOMID_SELF, a), ("port of domid 9", DOMID_SELF, c), ("port 0", DOMID_SELF, 0), ("port 1023", DOMID_SELF, 1023), ("wild port", DOMID_SELF, WILD_PORT), ("domid 9 (none)", 9, b), ("domid 0 (none)", 0, b)] {
        say!(guest, "event_channel_op bind_interdomain {name} = {}", bind_interdomain(dom, port).0);
    }
    say!(guest, "event_channel_op status interdomain port {a} = {}", status(DOMID_SELF, a));
    say!(guest, "event_channel_op status interdomain port {d} = {}", status(DOMID_SELF, d));

    // send: the peer end becomes pending; a masked port is pending without an upcall until
    // unmask.
    quiet();
    let rc = port_op(SEND, a);
    say!(guest, "event_channel_op send port {a} = {rc} pending {:#x} {}", pending_word(), upcall());
    quiet();
    poke(page(4) + 0x230, &(1u64 << a).to_le_bytes());
    let rc = port_op(SEND, d);
    say!(guest, "event_channel_op send port {d} to masked {a} = {rc} pending {:#x} mask {:#x} {}", pending_word(), mask_word(), upcall());
    let rc = port_op(UNMASK, a);
    say!(guest, "event_channel_op unmask port {a} = {rc} pending {:#x} mask {:#x} {}", pending_word(), mask_word(), upcall());
    quiet();
    say!(guest, "event_channel_op send unbound port {c} = {} pending {:#x}", port_op(SEND, c), pending_word());
    for (name, port) in [("port 0", 0u32), ("free port 40", 40), ("port 1023", 1023), ("wild port", WILD_PORT)] {
        say!(guest, "event_channel_op send {name} = {}", port_op(SEND, port));
    }
    say!(guest, "event_channel_op send, upper command bits set = {}", call(EVENT_CHANNEL_OP, &[(1 << 32) | SEND, page(ARGS)]));
    for (name, port) in [("free port 40", 40u32), ("wild port", WILD_PORT)] {
        say!(guest, "event_channel_op unmask {name} = {}", port_op(UNMASK, port));
    }

    // bind_virq and bind_ipi.
    let (rc, timer) = bind_virq(VIRQ_TIMER, 0);
    say!(guest, "event_channel_op bind_virq TIMER vcpu 0 = {rc} port {timer}");
    say!(guest, "event_channel_op bind_virq TIMER vcpu 0 again = {}", bind_virq(VIRQ_TIMER, 0).0);
    let (rc, debug) = bind_virq(VIRQ_DEBUG, 1);
    say!(guest, "event_channel_op bind_virq DEBUG vcpu 1 = {rc} port {debug}");
    say!(guest, "event_channel_op bind_virq CONSOLE vcpu 1 = {}", bind_virq(VIRQ_CONSOLE, 1).0);
    let (rc, console) = bind_virq(VIRQ_CONSOLE, 0);
    say!(guest, "event_channel_op bind_virq CONSOLE vcpu 0 = {rc} port {console}");
    say!(guest, "event_channel_op bind_virq TIMER vcpu 2 (none) = {}", bind_virq(VIRQ_TIMER, 2).0);
    say!(guest, "event_channel_op bind_virq 24 = {}", bind_virq(24, 0).0);
    say!(guest, "event_channel_op bind_virq 0xffffffff = {}", bind_virq(u32::MAX, 0).0);
    say!(guest, "event_channel_op status virq port {timer} = {}", status(DOMID_SELF, timer));
    let (rc, ipi0) = bind_ipi(0);
    say!(guest, "event_channel_op bind_ipi vcpu 0 = {rc} port {ipi0}");
    let (rc, ipi1) = bind_ipi(1);
    say!(guest, "event_channel_op bind_ipi vcpu 1 = {rc} port {ipi1}");
    say!(guest, "event_channel_op bind_ipi vcpu 2 (none) = {}", bind_ipi(2).0);
    say!(guest, "event_channel_op status ipi port {ipi1} = {}", status(DOMID_SELF, ipi1));
    quiet();
    say!(guest, "event_channel_op send ipi port {ipi0} = {} pending {:#x} {}", port_op(SEND, ipi0), pending_word(), upcall());
    quiet();
    say!(guest, "event_channel_op send virq port {timer} = {} pending {:#x}", port_op(SEND, timer), pending_word());

    // bind_vcpu: unbound, interdomain and global VIRQ ports move; IPI and per-vCPU VIRQ ports
    // do not.
    for (name, port, vcpu) in [("unbound", c, 1u32), ("interdomain", d, 1), ("virq CONSOLE", console, 1), ("virq TIMER", timer, 1), ("ipi", ipi0, 1), ("unbound to vcpu 2 (none)", c, 2), ("wild port", WILD_PORT, 0), ("free port 40", 40, 0)] {
        say!(guest, "event_channel_op bind_vcpu {name} = {}", op(BIND_VCPU, &pair(port, vcpu)).0);
    }
    say!(guest, "event_channel_op status after bind_vcpu port {d} = {}", status(DOMID_SELF, d));
    quiet();
    say!(guest, "event_channel_op send to vcpu 1 port {a} = {} pending {:#x} {}", port_op(SEND, a), pending_word(), upcall());

    // FIFO-only operations under the 2-level ABI, and the one Bulkhead does not offer.
    say!(guest, "event_channel_op expand_array under 2-level = {}", op(EXPAND_ARRAY, &(page(ARRAY) >> 12).to_le_bytes()).0);
    say!(guest, "event_channel_op set_priority under 2-level = {}", op(SET_PRIORITY, &pair(a, 3)).0);
    say!(guest, "event_channel_op bind_pirq = {}", op(BIND_PIRQ, &pair(1, 0)).0);

    // close: the peer end of a loopback channel goes back to unbound.
    say!(guest, "event_channel_op close port {a} = {}", port_op(CLOSE, a));
    say!(guest, "event_channel_op status peer port {d} after close = {}", status(DOMID_SELF, d));
    say!(guest, "event_channel_op status closed port {a} = {}", status(DOMID_SELF, a));
    for (name, port) in [("closed port again", a), ("port 0", 0u32), ("free port 40", 40), ("wild port", WILD_PORT)] {
        say!(guest, "event_channel_op close {name} = {}", port_op(CLOSE, port));
    }
    for (name, port) in [("ipi", ipi1), ("virq", debug), ("unbound", c)] {
        say!(guest, "event_channel_op close {name} port {port} = {}", port_op(CLOSE, port));
    }
    let (rc, again) = alloc_unbound(DOMID_SELF, DOMID_SELF);
    say!(guest, "event_channel_op alloc_unbound after close = {rc} port {again}");
    quiet();
}

/// Writes `struct evtchn_init_control`.
fn init_control(gfn: u64, offset: u32, vcpu: u32) -> (i64, u8) {
    let mut s = [0u8; 24];
    s[..8].copy_from_slice(&gfn.to_le_bytes());
    s[8..12].copy_from_slice(&offset.to_le_bytes());
    s[12..16].copy_from_slice(&vcpu.to_le_bytes());
    let (rc, out) = op(INIT_CONTROL, &s);
    (rc, out[16])
}

/// FIFO: the event word of `port`, and vCPU 0's control block (ready bits, a queue's head).
fn event_word(port: u32) -> u32 {
    let mut b = [0u8; 4];
    peek(page(ARRAY) + 4 * u64::from(port), &mut b);
    u32::from_le_bytes(b)
}
fn ready() -> u32 {
    let mut b = [0u8; 4];
    peek(page(CONTROL), &mut b);
    u32::from_le_bytes(b)
}
fn head(priority: u32) -> u32 {
    let mut b = [0u8; 4];
    peek(page(CONTROL) + 8 + 4 * u64::from(priority), &mut b);
    u32::from_le_bytes(b)
}

fn fifo(guest: &Guest) {
    // Start from an empty table: reset, as a guest that switches ABI late must.
    say!(guest, "event_channel_op reset DOMID_SELF = {}", reset(DOMID_SELF));
    say!(guest, "event_channel_op reset domid 9 (none) = {}", reset(9));
    clear(page(CONTROL), 4096);
    clear(page(ARRAY), 4096);
    let control = page(CONTROL) >> 12;
    for (name, gfn, offset, vcpu) in [("gfn without RAM", NO_RAM >> 12, 0u32, 0u32), ("offset 4", control, 4, 0), ("offset 4032", control, 4032, 0), ("vcpu 2 (none)", control, 0, 2)] {
        say!(guest, "event_channel_op init_control {name} = {}", init_control(gfn, offset, vcpu).0);
    }
    let (rc, link_bits) = init_control(control, 0, 0);
    say!(guest, "event_channel_op init_control vcpu 0 = {rc} link_bits {link_bits}");
    say!(guest, "event_channel_op init_control vcpu 0 again = {}", init_control(control, 0, 0).0);
    let (rc, link_bits) = init_control(control, 2048, 1);
    say!(guest, "event_channel_op init_control vcpu 1 offset 2048 = {rc} link_bits {link_bits}");
    say!(guest, "event_channel_op expand_array gfn without RAM = {}", op(EXPAND_ARRAY, &(NO_RAM >> 12).to_le_bytes()).0);
    let (rc, a) = alloc_unbound(DOMID_SELF, DOMID_SELF);
    say!(guest, "event_channel_op alloc_unbound before expand_array = {rc} port {a}");
    say!(guest, "event_channel_op expand_array = {}", op(EXPAND_ARRAY, &(page(ARRAY) >> 12).to_le_bytes()).0);
    let (rc, a) = alloc_unbound(DOMID_SELF, DOMID_SELF);
    say!(guest, "event_channel_op alloc_unbound under fifo = {rc} port {a} word {:#x}", event_word(a));
    let (rc, b) = bind_interdomain(DOMID_SELF, a);
    say!(guest, "event_channel_op bind_interdomain under fifo = {rc} port {b} word {:#x} ready {:#x} head {}", event_word(b), ready(), head(7));
    for (name, port, priority) in [("priority 3", a, 3u32), ("priority 15", b, 15), ("priority 16", a, 16), ("wild port", WILD_PORT, 3), ("free port 40", 40, 3)] {
        say!(guest, "event_channel_op set_priority {name} = {}", op(SET_PRIORITY, &pair(port, priority)).0);
    }
    let rc = port_op(SEND, b);
    say!(guest, "event_channel_op send under fifo port {b} = {rc} word {:#x} ready {:#x} head3 {}", event_word(a), ready(), head(3));
    // A masked port: pending without being linked, until unmask.
    poke(page(ARRAY) + 4 * u64::from(b), &MASKED.to_le_bytes());
    let rc = port_op(SEND, a);
    let masked = event_word(b);
    let rc2 = port_op(UNMASK, b);
    let word = event_word(b);
    say!(guest, "event_channel_op send under fifo to masked port {b} = {rc} word {masked:#x}");
    say!(guest, "event_channel_op unmask under fifo = {rc2} word {word:#x} pending {} linked {}", word & PENDING != 0, word & LINKED != 0);
    say!(guest, "event_channel_op status under fifo port {b} = {}", status(DOMID_SELF, b));
    say!(guest, "event_channel_op close under fifo port {a} = {}", port_op(CLOSE, a));
}

fn after_reset(guest: &Guest) {
    say!(guest, "event_channel_op reset own domid 1 = {}", reset(1));
    say!(guest, "event_channel_op reset_cont = {}", op(RESET_CONT, &DOMID_SELF.to_le_bytes()).0);
    say!(guest, "event_channel_op expand_array after reset = {}", op(EXPAND_ARRAY, &(page(ARRAY) >> 12).to_le_bytes()).0);
    quiet();
    let (rc, a) = alloc_unbound(DOMID_SELF, DOMID_SELF);
    let (rc2, b) = bind_interdomain(DOMID_SELF, a);
    say!(guest, "event_channel_op 2-level again = {rc} {rc2} ports {a} {b} pending {:#x} {}", pending_word(), upcall());
    say!(guest, "event_channel_op reset = {}", reset(DOMID_SELF));
    quiet();
    // SCHEDOP_poll returns at once when a polled port is pending, masked or not.
    let (_, a) = alloc_unbound(DOMID_SELF, DOMID_SELF);
    let (_, b) = bind_interdomain(DOMID_SELF, a);
    quiet();
    poke(page(4) + 0x230, &(1u64 << a).to_le_bytes());
    port_op(SEND, b);
    let ports = page(ARGS) + 64;
    poke(ports, &a.to_le_bytes());
    let poll = page(ARGS) + 128;
    poke(poll, &ports.to_le_bytes());
    poke(poll + 8, &1u32.to_le_bytes());
    poke(poll + 16, &0u64.to_le_bytes());
    say!(guest, "sched_op poll masked pending port {a} = {} pending {:#x}", call(SCHED_OP, &[3, poll]), pending_word());
    for (name, port) in [("free port 40", 40u32), ("port 1000", 1000), ("port 4095", 4095), ("wild port", WILD_PORT)] {
        // A free port is not pending: the poll would wait; put a pending one after it.
        poke(ports, &port.to_le_bytes());
        poke(ports + 4, &a.to_le_bytes());
        poke(poll + 8, &2u32.to_le_bytes());
        say!(guest, "sched_op poll {name} then the pending port = {}", call(SCHED_OP, &[3, poll]));
    }
    say!(guest, "event_channel_op reset again = {}", reset(DOMID_SELF));
    quiet();
}

/// Wild argument pointers for each operation.
fn pointers(guest: &Guest) {
    for (name, cmd) in [("alloc_unbound", ALLOC_UNBOUND), ("bind_interdomain", BIND_INTERDOMAIN), ("send", SEND), ("status", STATUS), ("init_control", INIT_CONTROL)] {
        for bad in BAD {
            say!(guest, "event_channel_op {name} at {bad:#x} = {}", call(EVENT_CHANNEL_OP, &[cmd, bad]));
        }
    }
    // A structure whose answer would cross into nothing: the last bytes of a mapped page
    // before an unmapped one cannot be found in this guest, so the structure straddles two
    // scratch pages instead and must work.
    let across = page(ARGS) + 4096 - 10;
    clear(across, 24);
    poke(across, &DOMID_SELF.to_le_bytes());
    poke(across + 2, &DOMID_SELF.to_le_bytes());
    let rc = call(EVENT_CHANNEL_OP, &[ALLOC_UNBOUND, across]);
    let mut port = [0u8; 4];
    peek(across + 4, &mut port);
    say!(guest, "event_channel_op alloc_unbound across pages = {rc} port {}", u32::from_le_bytes(port));
    say!(guest, "event_channel_op reset at the end = {}", reset(DOMID_SELF));
    quiet();
    say!(guest, "event_channel_op unknown command 99 = {}", call(EVENT_CHANNEL_OP, &[99, page(ARGS)]));
}

/// `SCHEDOP_poll` on `ports` with the timeout `timeout` gives for the counter value the call
/// starts at (system time in ns; 0: none); returns the result and the counter ticks it took.
/// The deadline is computed from the same counter value the time taken is measured from.
fn poll_ports(ports: &[u32], timeout: impl FnOnce(u64) -> u64) -> (i64, u64) {
    let list = page(ARGS) + 64;
    for (i, port) in ports.iter().enumerate() {
        poke(list + 4 * i as u64, &port.to_le_bytes());
    }
    let poll = page(ARGS) + 128;
    poke(poll, &list.to_le_bytes());
    poke(poll + 8, &(ports.len() as u32).to_le_bytes());
    let start = physical_count();
    poke(poll + 16, &timeout(start).to_le_bytes());
    let rc = call(SCHED_OP, &[3, poll]);
    (rc, physical_count().saturating_sub(start))
}

/// A timeout of Xen's system time `ms` milliseconds after counter value `count`, as a guest
/// finds it on Arm: the physical counter in ns. (Xen counts from the counter at its own boot,
/// Bulkhead from zero; under QEMU both start near zero, so a deadline is late at most by how
/// long Xen took to start.)
fn after_ms(count: u64, ms: u64) -> u64 {
    let ns = u128::from(count) * 1_000_000_000 / u128::from(counter_frequency().max(1));
    u64::try_from(ns).unwrap_or(u64::MAX).saturating_add(ms * 1_000_000)
}

/// Asks vCPU 1 to send on `port` `ms` milliseconds from now.
fn send_later(port: u32, ms: u64) {
    SEND_PORT.store(port, Ordering::Release);
    SEND_AT.store(physical_count() + ms * counter_frequency() / 1000, Ordering::Release);
}

/// Waits until vCPU 1 has sent `count` events in all.
fn wait_sent(count: u32) -> bool {
    test_guests::runtime::cpu::wait_until(1_000_000, || SENT.load(Ordering::Acquire) >= count)
}

/// Whether 2-level port `port` (below 64) is pending.
fn pending(port: u32) -> bool {
    pending_word() & (1 << port) != 0
}

/// Clears 2-level port `port`'s pending bit.
fn clear_pending(port: u32) {
    poke(page(4) + 0x30, &(pending_word() & !(1 << port)).to_le_bytes());
}

/// `SCHEDOP_poll`'s timeout and whom an event wakes: a timeout already past returns at once,
/// one in the near future wakes the vCPU then; a one-port poll is not woken by another port
/// of the partition becoming pending (vCPU 1 sends on it meanwhile), a poll is woken by any of
/// its own ports. The ports are masked, so no upcall (an interrupt, which would end any poll)
/// is involved: only the poll's own wake-up and its timer can end it.
pub fn timed_polls(guest: &'static test_guests::runtime::Guest) {
    let mpidrs = guest.cpus.mpidrs();
    let started = mpidrs.get(1).map(|&mpidr| guest.psci.cpu_on(mpidr, 1));
    // Up, and then quiet for 10 ms more: its start is over before the first poll.
    let up = matches!(started, Some(Ok(()))) && test_guests::runtime::cpu::wait_until(1_000_000, || READY.load(Ordering::Acquire) == 1);
    let settle = physical_count() + 10 * counter_frequency() / 1000;
    while physical_count() < settle {
        core::hint::spin_loop();
    }
    say!(guest, "psci cpu_on vcpu 1 = {}", if up { "ok" } else { "failed" });
    let (_, a) = alloc_unbound(DOMID_SELF, DOMID_SELF);
    let _ = bind_interdomain(DOMID_SELF, a);
    let (_, c) = alloc_unbound(DOMID_SELF, DOMID_SELF);
    let (_, d) = bind_interdomain(DOMID_SELF, c);
    quiet();
    poke(page(4) + 0x230, &((1u64 << a) | (1u64 << c)).to_le_bytes());
    let ms = counter_frequency() / 1000;
    let (rc, _) = poll_ports(&[a], |_| 1);
    say!(guest, "sched_op poll timeout already past = {rc} pending {:#x}", pending_word());
    let (rc, took) = poll_ports(&[a], |start| after_ms(start, 20));
    say!(guest, "sched_op poll port {a}, timeout in 20 ms = {rc} woken by the timeout {}", took >= 20 * ms);
    // Port c becomes pending 5 ms in: not a's poll's port.
    send_later(d, 5);
    let (rc, took) = poll_ports(&[a], |start| after_ms(start, 30));
    let sent = wait_sent(1);
    say!(guest, "sched_op poll port {a}, port {c} pending meanwhile = {rc} woken by the timeout {} sent {sent} port {c} pending {}", took >= 30 * ms, pending(c));
    // The same event for a poll of a and c: c's event ends it.
    clear_pending(c);
    send_later(d, 5);
    let (rc, took) = poll_ports(&[a, c], |start| after_ms(start, 1000));
    let sent = wait_sent(2);
    say!(guest, "sched_op poll ports {a} {c}, port {c} pending meanwhile = {rc} woken before the timeout {} sent {sent} port {c} pending {}", took < 500 * ms, pending(c));
    clear_pending(c);
    send_later(d, 5);
    let (rc, took) = poll_ports(&[c], |start| after_ms(start, 1000));
    let sent = wait_sent(3);
    say!(guest, "sched_op poll port {c}, pending meanwhile = {rc} woken before the timeout {} sent {sent} port {c} pending {}", took < 500 * ms, pending(c));
    say!(guest, "event_channel_op reset after the polls = {}", reset(DOMID_SELF));
    quiet();
}
