//! The `evtchn` guest: two partitions, `evtchn.role=ping` and `evtchn.role=pong`, ping-pong
//! events over Xen event channels and count every one received. Per ABI (2-level, then FIFO
//! after `EVTCHNOP_init_control`) and per channel (one the guests make with
//! `alloc_unbound` and `bind_interdomain`, then the config's static one at
//! `evtchn.static=PORT`), ping sends `evtchn.rounds=N` events (1000 if not given) and waits
//! for each answer; pong answers each. An event is waited for with the upcall PPI 31 enabled
//! at the GIC, IRQs masked, in WFI: a lost event or upcall hangs the guest, which the
//! scenario's deadline turns into a failure. Each side prints what it received, then shuts
//! down with `SCHEDOP_shutdown(poweroff)`. Ping also prints the
//! average round trip in counter ticks (not checked: a figure, not a test).
//!
//! After the 2-level rounds on the channel they made, pong masks its end and waits for
//! `evtchn.polls=N` events (10 if not given) in `SCHEDOP_poll` instead: a masked port raises
//! no upcall, so only the hypervisor's poll wake-up (Xen's `evtchn_check_pollers`) ends
//! each wait; ping answers none of them, it only sends.
//!
//! With `evtchn.bench=1`, ping times each of [`BENCH_SAMPLES`] round trips on the 2-level
//! channel they made (after [`BENCH_WARMUP`] untimed ones) and prints them as the bench
//! guest does (`bench.counter`, `bench.result evtchn-round-trip ...`, `bench.hist ...`,
//! `bench.done`) for `cargo xtask bench`; nothing else runs.
//!
//! With `evtchn.restart=1` (and `evtchn.static=PORT`), ping's first boot plays the 2-level
//! rounds on both channels, then reboots (`SCHEDOP_shutdown(reboot)`) with its ports open;
//! pong waits until `EVTCHNOP_status` shows its end of their own channel closed by the peer
//! and the static channel bound again, then both play the static rounds once more (ping's
//! second boot). Nothing else runs.
#![no_std]
#![no_main]

use core::arch::asm;
use core::ptr::addr_of_mut;
use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};

use test_guests::bootargs::{parse_number, value};
use test_guests::runtime::gic::InterruptController;
use test_guests::runtime::stage1::require_normal;
use test_guests::runtime::xen::hypercall;
use test_guests::runtime::Guest;
use test_guests::say;

test_guests::entry!(main);

const MEMORY_OP: u64 = 12;
const VCPU_OP: u64 = 24;
const SCHED_OP: u64 = 29;
const EVENT_CHANNEL_OP: u64 = 32;
const DOMID_SELF: u16 = 0x7ff0;
const UPCALL_PPI: u32 = 31;
const ROUNDS: u64 = 1000;
const POLLS: u64 = 10;
/// Timed round trips in bench mode, after untimed ones (as the bench guest's cases).
const BENCH_SAMPLES: usize = 1000;
const BENCH_WARMUP: usize = 16;
/// The dynamic channel's port at ping: the lowest free port of a fresh table.
const PING_PORT: u32 = 1;
/// FIFO: the default priority's queue and the event word's bits.
const QUEUE: u32 = 7;
const PENDING: u32 = 1 << 31;
const MASKED: u32 = 1 << 30;
const LINKED: u32 = 1 << 29;
const LINK_MASK: u32 = (1 << 17) - 1;

/// Pages handed to the hypervisor: 0 arguments, 1 shared_info, 2 vcpu_info, 3 the FIFO
/// control block, 4 the FIFO event array.
#[repr(C, align(4096))]
struct Pages([[u8; 4096]; 5]);
static mut PAGES: Pages = Pages([[0; 4096]; 5]);

fn page(index: usize) -> u64 {
    (addr_of_mut!(PAGES) as u64) + (index as u64) * 4096
}

fn word(address: u64) -> &'static AtomicU32 {
    // SAFETY: callers pass aligned addresses inside `PAGES`, which the guest and the
    // hypervisor share only through atomic accesses.
    unsafe { AtomicU32::from_ptr(address as *mut u32) }
}

fn byte(address: u64) -> &'static AtomicU8 {
    // SAFETY: as for `word`.
    unsafe { AtomicU8::from_ptr(address as *mut u8) }
}

/// One `event_channel_op` with the argument structure `bytes`; returns the result and the
/// structure as the hypervisor left it.
fn evtchn(cmd: u64, bytes: &[u8]) -> (i64, [u8; 24]) {
    let at = page(0);
    for (i, &b) in bytes.iter().enumerate() {
        byte(at + i as u64).store(b, Ordering::Relaxed);
    }
    // SAFETY: the argument page belongs to this call only.
    let rc = unsafe { hypercall(EVENT_CHANNEL_OP, [cmd, at, 0, 0, 0]) };
    let mut out = [0u8; 24];
    for (i, b) in out.iter_mut().enumerate() {
        *b = byte(at + i as u64).load(Ordering::Relaxed);
    }
    (rc, out)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn send(guest: &Guest, port: u32) {
    let (rc, _) = evtchn(4, &port.to_le_bytes());
    if rc != 0 {
        guest.fail(format_args!("send on port {port} = {rc}"));
    }
}

/// How events are found: the 2-level bitmap in shared_info, or the FIFO queue.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Abi {
    TwoLevel,
    Fifo,
}

struct Receiver {
    gic: InterruptController,
    abi: Abi,
}

impl Receiver {
    /// Takes port `port`'s event if it is pending.
    fn take(&self, port: u32) -> bool {
        match self.abi {
            Abi::TwoLevel => {
                let pending = word(page(1) + 0x30 + 4 * u64::from(port / 32));
                let bit = 1 << (port % 32);
                pending.fetch_and(!bit, Ordering::AcqRel) & bit != 0
            }
            Abi::Fifo => {
                let ready = word(page(3));
                if ready.load(Ordering::Acquire) & (1 << QUEUE) == 0 {
                    return false;
                }
                let head = word(page(3) + 8 + 4 * u64::from(QUEUE)).load(Ordering::Acquire) & LINK_MASK;
                if head == 0 {
                    return false;
                }
                let event = word(page(4) + 4 * u64::from(head));
                // Unlink the head (Linux's `clear_linked`), then clear the queue's ready bit
                // if it was the last one.
                let mut old = event.load(Ordering::Acquire);
                loop {
                    match event.compare_exchange(old, old & !(LINKED | LINK_MASK), Ordering::AcqRel, Ordering::Acquire) {
                        Ok(_) => break,
                        Err(found) => old = found,
                    }
                }
                if old & LINK_MASK == 0 {
                    ready.fetch_and(!(1 << QUEUE), Ordering::AcqRel);
                } else {
                    word(page(3) + 8 + 4 * u64::from(QUEUE)).store(old & LINK_MASK, Ordering::Release);
                }
                head == port && old & MASKED == 0 && event.fetch_and(!PENDING, Ordering::AcqRel) & PENDING != 0
            }
        }
    }

    /// Waits for port `port`'s event: clears the upcall flag, looks, and sleeps until the
    /// upcall if there is none.
    fn wait(&self, port: u32) {
        loop {
            byte(page(2)).store(0, Ordering::Release);
            if self.abi == Abi::TwoLevel {
                word(page(2) + 8).store(0, Ordering::Release);
                word(page(2) + 12).store(0, Ordering::Release);
            }
            if self.take(port) {
                return;
            }
            if let Some((raw, _)) = self.gic.acknowledge() {
                self.gic.end(raw);
                continue;
            }
            if byte(page(2)).load(Ordering::Acquire) == 0 {
                // SAFETY: waits for an interrupt; IRQs stay masked.
                unsafe { asm!("wfi", options(nomem, nostack, preserves_flags)) };
            }
        }
    }
}

/// The virtual counter, read after an ISB (Arm ARM D12.1.2).
fn counter() -> u64 {
    let value: u64;
    // SAFETY: reading the virtual counter has no side effects.
    unsafe { asm!("isb", "mrs {}, cntvct_el0", out(reg) value, options(nomem, nostack, preserves_flags)) };
    value
}

/// One ping-pong over `port`: ping sends first and waits for each answer; pong first says
/// hello (its peer may not be looking yet), then answers. Returns the events received.
fn rounds(guest: &Guest, rx: &Receiver, ping: bool, port: u32, rounds: u64) -> u64 {
    let mut received = 0;
    if ping {
        rx.wait(port);
        let start = counter();
        for _ in 0..rounds {
            send(guest, port);
            rx.wait(port);
            received += 1;
        }
        let ticks = counter().wrapping_sub(start);
        say!(guest, "round trip on port {port}: {} ticks on average", ticks / rounds.max(1));
    } else {
        send(guest, port);
        for _ in 0..rounds {
            rx.wait(port);
            received += 1;
            send(guest, port);
        }
    }
    received
}

fn main(guest: &'static Guest) -> ! {
    let ping = match value(guest.bootargs, "evtchn.role") {
        Some("ping") => true,
        Some("pong") => false,
        other => guest.fail(format_args!("evtchn.role={other:?}: ping or pong")),
    };
    let count = match value(guest.bootargs, "evtchn.rounds").map(parse_number) {
        None => ROUNDS,
        Some(Ok(n)) => n,
        Some(Err(error)) => guest.fail(format_args!("evtchn.rounds: {error}")),
    };
    let static_port = match value(guest.bootargs, "evtchn.static").map(parse_number) {
        None => None,
        Some(Ok(n)) => Some(n as u32),
        Some(Err(error)) => guest.fail(format_args!("evtchn.static: {error}")),
    };
    let Some(gic) = guest.gic else { guest.fail(format_args!("no GIC")) };
    // SAFETY: the guest's own GIC, used only by this driver on this vCPU.
    let gic = unsafe { InterruptController::new(gic) };
    gic.enable_private(UPCALL_PPI, 0x80);

    // The hypervisor maps shared_info and reads and writes the vcpu_info and the FIFO pages
    // as Normal write-back memory: so must this guest.
    require_normal(guest, "the event pages", page(0), core::mem::size_of::<Pages>() as u64);
    // shared_info at page 1 (`XENMEM_add_to_physmap`, XENMAPSPACE_shared_info).
    let args = page(0);
    // `struct xen_add_to_physmap`: domid, size, space (u16, u16, u32), idx, gpfn (u64).
    word(args).store(u32::from(DOMID_SELF), Ordering::Relaxed);
    word(args + 4).store(0, Ordering::Relaxed);
    word(args + 8).store(0, Ordering::Relaxed);
    word(args + 12).store(0, Ordering::Relaxed);
    word(args + 16).store((page(1) >> 12) as u32, Ordering::Relaxed);
    word(args + 20).store((page(1) >> 44) as u32, Ordering::Relaxed);
    // SAFETY: page 0 holds the arguments; page 1 is given up to shared_info.
    let rc = unsafe { hypercall(MEMORY_OP, [7, args, 0, 0, 0]) };
    if rc != 0 {
        guest.fail(format_args!("add_to_physmap shared_info = {rc}"));
    }
    // vCPU 0's vcpu_info at page 2 (`VCPUOP_register_vcpu_info`).
    word(args).store((page(2) >> 12) as u32, Ordering::Relaxed);
    word(args + 4).store((page(2) >> 44) as u32, Ordering::Relaxed);
    word(args + 8).store(0, Ordering::Relaxed);
    word(args + 12).store(0, Ordering::Relaxed);
    // SAFETY: page 2 is given up to the vcpu_info.
    let rc = unsafe { hypercall(VCPU_OP, [10, 0, args, 0, 0]) };
    if rc != 0 {
        guest.fail(format_args!("register_vcpu_info = {rc}"));
    }

    let polls = match value(guest.bootargs, "evtchn.polls").map(parse_number) {
        None => POLLS,
        Some(Ok(n)) => n,
        Some(Err(error)) => guest.fail(format_args!("evtchn.polls: {error}")),
    };
    let bench = value(guest.bootargs, "evtchn.bench") == Some("1");
    let mut rx = Receiver { gic, abi: Abi::TwoLevel };
    if bench {
        let port = connect(guest, &rx, ping, Abi::TwoLevel);
        round_trips(guest, &rx, ping, port);
        shutdown(0);
    }
    if value(guest.bootargs, "evtchn.restart") == Some("1") {
        let Some(static_port) = static_port else { guest.fail(format_args!("evtchn.restart=1 needs evtchn.static=PORT")) };
        restart_rounds(guest, &rx, ping, static_port, count);
    }
    for abi in [Abi::TwoLevel, Abi::Fifo] {
        let name = if abi == Abi::TwoLevel { "2-level" } else { "fifo" };
        if abi == Abi::Fifo {
            fifo(guest);
            rx.abi = Abi::Fifo;
        }
        // The guests' own channel.
        let port = connect(guest, &rx, ping, abi);
        let received = rounds(guest, &rx, ping, port, count);
        say!(guest, "{name} interdomain port {port}: received {received} of {count}");
        if abi == Abi::TwoLevel {
            poll_rounds(guest, &rx, ping, port, polls);
        }
        if let Some(port) = static_port {
            let received = rounds(guest, &rx, ping, port, count);
            say!(guest, "{name} static port {port}: received {received} of {count}");
        }
    }
    say!(guest, "done");
    shutdown(0);
}

/// `SCHEDOP_shutdown` with `reason`: 0 poweroff, 1 reboot.
fn shutdown(reason_code: u32) -> ! {
    let reason = page(0);
    word(reason).store(reason_code, Ordering::Relaxed);
    // SAFETY: the reason is in the argument page.
    unsafe { hypercall(SCHED_OP, [2, reason, 0, 0, 0]) };
    loop {
        core::hint::spin_loop();
    }
}

/// The guests' own channel for `abi`: ping allocates a port for domain 2, pong binds to it
/// (trying until ping has allocated it). Returns this side's port.
fn connect(guest: &Guest, rx: &Receiver, ping: bool, abi: Abi) -> u32 {
    if ping {
        let mut alloc = [0u8; 8];
        alloc[..2].copy_from_slice(&DOMID_SELF.to_le_bytes());
        alloc[2..4].copy_from_slice(&2u16.to_le_bytes());
        let (rc, out) = evtchn(6, &alloc);
        let port = u32_at(&out, 4);
        if rc != 0 || port != PING_PORT + u32::from(abi == Abi::Fifo) {
            guest.fail(format_args!("alloc_unbound = {rc} port {port}"));
        }
        return port;
    }
    let remote_port = PING_PORT + u32::from(abi == Abi::Fifo);
    let mut bind = [0u8; 12];
    bind[..2].copy_from_slice(&1u16.to_le_bytes());
    bind[4..8].copy_from_slice(&remote_port.to_le_bytes());
    let mut tries = 0u64;
    loop {
        let (rc, out) = evtchn(0, &bind);
        if rc == 0 {
            let port = u32_at(&out, 8);
            // Xen raises an event on the new port: not one of ping's.
            rx.wait(port);
            return port;
        }
        tries += 1;
        if tries > 100_000_000 {
            guest.fail(format_args!("bind_interdomain to ping's port {remote_port} = {rc}"));
        }
        // SAFETY: SCHEDOP_yield takes no buffer.
        unsafe { hypercall(SCHED_OP, [0, 0, 0, 0, 0]) };
    }
}

/// The 2-level pending and mask words of `port` in shared_info, and its bit.
fn bitmaps(port: u32) -> (&'static AtomicU32, &'static AtomicU32, u32) {
    let offset = 4 * u64::from(port / 32);
    (word(page(1) + 0x30 + offset), word(page(1) + 0x230 + offset), 1 << (port % 32))
}

/// Pong masks `port` and takes `polls` events in `SCHEDOP_poll`; ping sends them, one each
/// time pong has taken the last (it reads pong's acknowledgements on the same channel, in
/// the usual way: pong unmasks to answer).
fn poll_rounds(guest: &Guest, rx: &Receiver, ping: bool, port: u32, polls: u64) {
    if ping {
        let rx_port = port;
        let (pending, _, bit) = bitmaps(rx_port);
        for _ in 0..polls {
            send(guest, port);
            // Pong's answer: wait for it with the same poll (ping's port is not masked, but
            // poll ends on it as well).
            while pending.fetch_and(!bit, Ordering::AcqRel) & bit == 0 {
                poll(guest, port);
            }
        }
        say!(guest, "2-level poll port {port}: sent {polls}");
        return;
    }
    let (pending, mask, bit) = bitmaps(port);
    mask.fetch_or(bit, Ordering::AcqRel);
    // No upcall left over from the rounds before: only the poll's wake-up may end a wait.
    byte(page(2)).store(0, Ordering::Release);
    word(page(2) + 8).store(0, Ordering::Release);
    word(page(2) + 12).store(0, Ordering::Release);
    while let Some((raw, _)) = rx.gic.acknowledge() {
        rx.gic.end(raw);
    }
    let mut woken = 0;
    for _ in 0..polls {
        // Nothing but the poll wake-up ends this: the port is masked, IRQs are masked.
        while pending.fetch_and(!bit, Ordering::AcqRel) & bit == 0 {
            poll(guest, port);
        }
        woken += 1;
        send(guest, port);
    }
    mask.fetch_and(!bit, Ordering::AcqRel);
    say!(guest, "2-level poll port {port} masked: woken {woken} of {polls}");
}

/// `SCHEDOP_poll` on one port, no timeout.
fn poll(guest: &Guest, port: u32) {
    let ports = page(0) + 256;
    word(ports).store(port, Ordering::Relaxed);
    let request = page(0) + 128;
    for (i, value) in [ports as u32, (ports >> 32) as u32, 1, 0, 0, 0].into_iter().enumerate() {
        word(request + 4 * i as u64).store(value, Ordering::Relaxed);
    }
    // SAFETY: the request and the port list are in the argument page, read only.
    let rc = unsafe { hypercall(SCHED_OP, [3, request, 0, 0, 0]) };
    if rc != 0 {
        guest.fail(format_args!("SCHEDOP_poll on port {port} = {rc}"));
    }
}

/// Bench mode: ping times each round trip, pong answers them all.
fn round_trips(guest: &Guest, rx: &Receiver, ping: bool, port: u32) {
    let total = BENCH_WARMUP + BENCH_SAMPLES;
    if !ping {
        send(guest, port);
        for _ in 0..total {
            rx.wait(port);
            send(guest, port);
        }
        return;
    }
    rx.wait(port);
    let mut samples = [0u64; BENCH_SAMPLES];
    for round in 0..total {
        let start = counter();
        test_guests::runtime::timing::mark();
        send(guest, port);
        rx.wait(port);
        test_guests::runtime::timing::mark();
        let ticks = counter().wrapping_sub(start);
        if let Some(slot) = round.checked_sub(BENCH_WARMUP).and_then(|i| samples.get_mut(i)) {
            *slot = ticks;
        }
    }
    samples.sort_unstable();
    say!(guest, "bench.counter {}", test_guests::runtime::timing::counter_frequency());
    test_guests::stats::report("evtchn-round-trip", &samples, BENCH_WARMUP, |line| guest.say(line));
    say!(guest, "bench.done");
}

/// Switches to FIFO: vCPU 0's control block at page 3, the first event array page at page 4.
fn fifo(guest: &Guest) {
    let mut init = [0u8; 24];
    init[..8].copy_from_slice(&(page(3) >> 12).to_le_bytes());
    let (rc, out) = evtchn(11, &init);
    if rc != 0 {
        guest.fail(format_args!("init_control = {rc}"));
    }
    let _link_bits = out[16];
    let (rc, _) = evtchn(12, &(page(4) >> 12).to_le_bytes());
    if rc != 0 {
        guest.fail(format_args!("expand_array = {rc}"));
    }
}

/// `EVTCHNOP_status` of this domain's `port`: (result, state, remote domain, remote port).
fn status(port: u32) -> (i64, u32, u16, u32) {
    let mut request = [0u8; 24];
    request[..2].copy_from_slice(&DOMID_SELF.to_le_bytes());
    request[4..8].copy_from_slice(&port.to_le_bytes());
    let (rc, out) = evtchn(5, &request);
    (rc, u32_at(&out, 8), u16::from_le_bytes([out[16], out[17]]), u32_at(&out, 20))
}

/// Yields until `port`'s status is `state` (1 unbound, 2 interdomain); fails after many tries.
fn await_status(guest: &Guest, port: u32, state: u32) -> (u16, u32) {
    for _ in 0..100_000_000u64 {
        let (rc, now, dom, remote) = status(port);
        if rc != 0 {
            guest.fail(format_args!("status of port {port} = {rc}"));
        }
        if now == state {
            return (dom, remote);
        }
        // SAFETY: SCHEDOP_yield takes no buffer.
        unsafe { hypercall(SCHED_OP, [0, 0, 0, 0, 0]) };
    }
    guest.fail(format_args!("port {port} never reached state {state}"))
}

/// The restart mode (module documentation).
fn restart_rounds(guest: &Guest, rx: &Receiver, ping: bool, static_port: u32, count: u64) -> ! {
    if ping && guest.boot_count > 1 {
        let (rc, state, dom, remote) = status(static_port);
        say!(guest, "boot {}: static port {static_port} = {rc} state {state} dom {dom} port {remote}", guest.boot_count);
        let received = rounds(guest, rx, ping, static_port, count);
        say!(guest, "boot {}: static port {static_port}: received {received} of {count}", guest.boot_count);
        say!(guest, "done");
        shutdown(0);
    }
    let port = connect(guest, rx, ping, Abi::TwoLevel);
    let received = rounds(guest, rx, ping, port, count);
    say!(guest, "interdomain port {port}: received {received} of {count}");
    let received = rounds(guest, rx, ping, static_port, count);
    say!(guest, "static port {static_port}: received {received} of {count}");
    if ping {
        say!(guest, "rebooting with ports {port} and {static_port} open");
        shutdown(1);
    }
    // Ping's restart closes both ends at once; the static one is bound again before it runs.
    let (dom, _) = await_status(guest, port, 1);
    say!(guest, "peer closed: port {port} unbound, for domain {dom}");
    let (dom, remote) = await_status(guest, static_port, 2);
    say!(guest, "static port {static_port} bound again to domain {dom} port {remote}");
    let received = rounds(guest, rx, ping, static_port, count);
    say!(guest, "after the restart: static port {static_port}: received {received} of {count}");
    say!(guest, "done");
    shutdown(0);
}
