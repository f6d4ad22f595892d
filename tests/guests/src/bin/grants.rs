//! The `grants` guest: two partitions share a page through Xen grant tables, with no control
//! domain. `grants.role=granter` (domain 1) grants one page of its RAM to domain 2 as grant
//! reference 8; `grants.role=mapper` (domain 2) maps it with `GNTTABOP_map_grant_ref` and
//! both move 1 MiB through it in each direction, a page's worth per round, every byte checked,
//! a flag word in the page handing it over and an event on the config's static channel
//! (`grants.port=P` at both ends) signalling each handoff, waited for in WFI on the upcall.
//!
//! Then the granter restarts (PSCI SYSTEM_RESET) while the page is mapped. The mapper, which
//! stops touching the page once told, watches the grant with `GNTTABOP_copy`: it must see the
//! grant refused while the granter's memory is scrubbed and reloaded, its own handle unknown
//! afterwards (the hypervisor removed the mapping before the restart), and the new boot's page
//! free of what the old boot wrote. The granter's second boot grants the page again, the
//! mapper maps it, checks the new boot's pattern, says goodbye through it and unmaps it; the
//! granter ends its access once the hypervisor shows the entry no longer in use, and only
//! then shuts down (were it to shut down at the goodbye, its shutdown would remove the
//! mapping under the mapper's own unmap, which then found its handle gone).
#![no_std]
#![no_main]

use core::ptr::{addr_of_mut, read_volatile, write_volatile};

use test_guests::bootargs::{parse_number, value};
use test_guests::runtime::events::{EventPages, Events};
use test_guests::runtime::stage1::{require_normal, GRANT_WINDOW as WINDOW, GRANT_WINDOW_SIZE};
use test_guests::runtime::xen::hypercall;
use test_guests::runtime::Guest;
use test_guests::say;

test_guests::entry!(main);

const MEMORY_OP: u64 = 12;
const GRANT_TABLE_OP: u64 = 20;
const SCHED_OP: u64 = 29;
const ADD_TO_PHYSMAP: u64 = 7;
const SPACE_GRANT_TABLE: u32 = 1;
const DOMID_SELF: u16 = 0x7ff0;
const MAP: u64 = 0;
const UNMAP: u64 = 1;
const COPY: u64 = 5;
/// `GTF_permit_access`, `GNTMAP_host_map`, `GNTCOPY_source_gref`.
const PERMIT: u16 = 1;
/// `GTF_reading` and `GTF_writing`: the hypervisor's marks on an entry while it is mapped.
const IN_USE: u32 = (1 << 3) | (1 << 4);
const HOST_MAP: u32 = 1 << 1;
const SOURCE_GREF: u16 = 1;
const GRANTER: u16 = 1;
const MAPPER: u16 = 2;
const GREF: u32 = 8;
/// The page's layout: the flag word, the round, then the payload.
const FLAG: u64 = 0;
const ROUND: u64 = 4;
const BOOT: u64 = 8;
const PAYLOAD: u64 = 64;
const PAYLOAD_BYTES: u64 = 4096 - PAYLOAD;
/// Rounds that move at least 1 MiB each way.
const ROUNDS: u32 = (1u32 << 20).div_ceil(PAYLOAD_BYTES as u32);
/// Flag values: the granter filled the page, the mapper answered, the granter is about to
/// restart, the mapper said goodbye (second boot), the mapper let go of the old page.
const FILLED: u32 = 1;
const ANSWERED: u32 = 2;
const RESTARTING: u32 = 3;
const GOODBYE: u32 = 4;
/// The mapper's last touch of the old boot's page: it will not read it again.
const LET_GO: u32 = 5;
/// Polls before a wait is declared hung (each is a few instructions and a yield).
const PATIENCE: u64 = 50_000_000;

/// Page 0: the granted page (granter) or where it is mapped (mapper, given back first is not
/// needed: the hypervisor displaces the page that is there). Page 1: requests. Page 2: copies.
#[repr(C, align(4096))]
struct Pages([[u8; 4096]; 3]);
static mut PAGES: Pages = Pages([[0; 4096]; 3]);

fn page(index: u64) -> u64 {
    (addr_of_mut!(PAGES) as u64) + index * 4096
}

fn call(number: u64, args: &[u64]) -> i64 {
    let mut a = [0u64; 5];
    a[..args.len()].copy_from_slice(args);
    // SAFETY: every pointer argument is one of this guest's pages.
    unsafe { hypercall(number, a) }
}

fn write32(at: u64, value: u32) {
    // SAFETY: `at` is inside this guest's pages (or the page mapped from the grant).
    unsafe { write_volatile(at as *mut u32, value) }
}

fn read32(at: u64) -> u32 {
    // SAFETY: as for `write32`.
    unsafe { read_volatile(at as *const u32) }
}

fn put(at: u64, bytes: &[u8]) {
    for (i, &b) in bytes.iter().enumerate() {
        // SAFETY: as for `write32`.
        unsafe { write_volatile((at + i as u64) as *mut u8, b) };
    }
}

fn byte(at: u64) -> u8 {
    // SAFETY: as for `write32`.
    unsafe { read_volatile(at as *const u8) }
}

fn barrier() {
    // SAFETY: a barrier has no operands.
    unsafe { core::arch::asm!("dmb ish", options(nostack)) };
}

/// The payload byte `i` of round `round` in direction `back` (mapper to granter) of `boot`.
fn pattern(boot: u32, round: u32, back: bool, i: u64) -> u8 {
    (i as u32).wrapping_mul(31).wrapping_add(round.wrapping_mul(7)).wrapping_add(boot * 101).wrapping_add(u32::from(back) * 53) as u8
}

fn fill(at: u64, boot: u32, round: u32, back: bool) {
    for i in 0..PAYLOAD_BYTES {
        // SAFETY: as for `write32`.
        unsafe { write_volatile((at + PAYLOAD + i) as *mut u8, pattern(boot, round, back, i)) };
    }
}

fn check(guest: &Guest, at: u64, boot: u32, round: u32, back: bool) {
    for i in 0..PAYLOAD_BYTES {
        let found = byte(at + PAYLOAD + i);
        if found != pattern(boot, round, back, i) {
            guest.fail(format_args!("round {round}: payload byte {i} is {found:#x}"));
        }
    }
}

/// Waits until the flag word at `at` says `want`.
fn wait_flag(guest: &Guest, at: u64, want: u32) {
    for _ in 0..PATIENCE {
        barrier();
        if read32(at + FLAG) == want {
            barrier();
            return;
        }
        // SCHEDOP_yield: the other partition may share this CPU.
        call(SCHED_OP, &[0, 0]);
    }
    guest.fail(format_args!("waited too long for flag {want} (it is {})", read32(at + FLAG)));
}

static mut EVENT_PAGES: EventPages = EventPages([[0; 4096]; 3]);

/// The handoffs of the first boot's exchange: the flag word, then an event on the port.
struct Signal {
    events: Events,
    port: u32,
}

impl Signal {
    fn new(guest: &Guest) -> Signal {
        let port = match value(guest.bootargs, "grants.port").map(parse_number) {
            Some(Ok(port)) if port > 0 && port < (1 << 17) => port as u32,
            Some(Ok(port)) => guest.fail(format_args!("grants.port={port}: a port from 1 to 131071")),
            Some(Err(error)) => guest.fail(format_args!("grants.port: {error}")),
            None => guest.fail(format_args!("no grants.port=P: give the static event channel's port")),
        };
        // SAFETY: the pages are handed to the hypervisor once per boot, here.
        let pages = unsafe { &mut *addr_of_mut!(EVENT_PAGES) };
        let events = Events::new(guest.gic, pages).unwrap_or_else(|error| guest.fail(format_args!("{error}")));
        Signal { events, port }
    }

    /// Writes `flag` after everything before it and signals the other side.
    fn hand_over(&self, guest: &Guest, at: u64, flag: u32) {
        barrier();
        write32(at + FLAG, flag);
        let rc = self.events.send(self.port);
        if rc != 0 {
            guest.fail(format_args!("EVTCHNOP_send on port {} = {rc}", self.port));
        }
    }

    /// Waits, event by event, until the flag word says `want` (an event read early is taken
    /// at the next wait, which then finds the flag unchanged and sleeps again).
    fn wait_flag(&mut self, at: u64, want: u32) {
        loop {
            barrier();
            if read32(at + FLAG) == want {
                barrier();
                return;
            }
            self.events.wait(self.port);
        }
    }
}

fn main(guest: &'static Guest) -> ! {
    match value(guest.bootargs, "grants.role") {
        Some("granter") => granter(guest),
        Some("mapper") => mapper(guest),
        other => guest.fail(format_args!("grants.role={other:?}: granter or mapper")),
    }
}

fn granter(guest: &'static Guest) -> ! {
    let boot = guest.boot_count;
    let mut signal = Signal::new(guest);
    let shared = page(0);
    // The hypervisor reads the entries and reads and writes the granted page as Normal
    // write-back memory: so must this guest.
    require_normal(guest, "the grant-table window", WINDOW, GRANT_WINDOW_SIZE);
    require_normal(guest, "the granted page", shared, 4096);
    let request = page(1);
    put(request, &[0; 24]);
    put(request, &DOMID_SELF.to_le_bytes());
    put(request + 4, &SPACE_GRANT_TABLE.to_le_bytes());
    put(request + 16, &(WINDOW >> 12).to_le_bytes());
    let rc = call(MEMORY_OP, &[ADD_TO_PHYSMAP, request]);
    if rc != 0 {
        guest.fail(format_args!("add_to_physmap of grant frame 0: {rc}"));
    }
    if read32(shared + BOOT) != 0 {
        guest.fail(format_args!("boot {boot}: the shared page kept an earlier boot's mark"));
    }
    write32(shared + BOOT, boot);
    fill(shared, boot, 0, false);
    // The entry: frame first, then flags and domain id.
    write32(WINDOW + u64::from(GREF) * 8 + 4, (shared >> 12) as u32);
    barrier();
    write32(WINDOW + u64::from(GREF) * 8, u32::from(PERMIT) | u32::from(MAPPER) << 16);
    say!(guest, "boot {boot}: page granted to domain {MAPPER} as ref {GREF}");
    if boot == 1 {
        for round in 0..ROUNDS {
            write32(shared + ROUND, round);
            fill(shared, boot, round, false);
            barrier();
            signal.hand_over(guest, shared, FILLED);
            signal.wait_flag(shared, ANSWERED);
            check(guest, shared, boot, round, true);
        }
        say!(guest, "{ROUNDS} rounds: {} bytes each way, every byte checked", u64::from(ROUNDS) * PAYLOAD_BYTES);
        say!(guest, "each handoff signalled on port {}: {} events received", signal.port, signal.events.received);
        signal.hand_over(guest, shared, RESTARTING);
        // The mapper keeps the page mapped but stops reading it: once this boot ends, an
        // access there would fault in the mapper.
        signal.wait_flag(shared, LET_GO);
        say!(guest, "restarting with the page mapped");
        guest.psci.system_reset()
    }
    // The second boot: the mapper maps the page again, says goodbye in it and unmaps it.
    wait_flag(guest, shared, GOODBYE);
    say!(guest, "boot {boot}: the mapper said goodbye");
    end_access(guest);
    say!(guest, "boot {boot}: the mapper unmapped the page, access ended");
    shutdown(guest)
}

/// Ends the mapper's access to grant `GREF` as a Xen granter does before it reuses or frees
/// the page: waits until the hypervisor has cleared `GTF_reading` and `GTF_writing` (the
/// mapper's unmap), then revokes the entry. Shutting down instead while the page was still
/// mapped would remove the mapping under the mapper, whose own unmap, racing it, would then
/// find its handle gone.
fn end_access(guest: &Guest) {
    let entry = WINDOW + u64::from(GREF) * 8;
    for _ in 0..PATIENCE {
        barrier();
        if read32(entry) & IN_USE == 0 {
            // Flags and domain id: no domain may map it from now on.
            write32(entry, 0);
            barrier();
            return;
        }
        call(SCHED_OP, &[0, 0]);
    }
    guest.fail(format_args!("grant {GREF} stayed in use (flags {:#x}) after the mapper's goodbye: its unmap never cleared GTF_reading/GTF_writing", read32(entry) & 0xffff))
}

fn map(guest: &Guest, at: u64) -> (i16, u32) {
    let request = page(1);
    put(request, &[0; 32]);
    put(request, &at.to_le_bytes());
    put(request + 8, &HOST_MAP.to_le_bytes());
    put(request + 12, &GREF.to_le_bytes());
    put(request + 16, &GRANTER.to_le_bytes());
    let rc = call(GRANT_TABLE_OP, &[MAP, request, 1]);
    if rc != 0 {
        guest.fail(format_args!("map_grant_ref: {rc}"));
    }
    let status = i16::from_le_bytes([byte(request + 18), byte(request + 19)]);
    let handle = u32::from_le_bytes([byte(request + 20), byte(request + 21), byte(request + 22), byte(request + 23)]);
    (status, handle)
}

fn unmap(guest: &Guest, at: u64, handle: u32) -> i16 {
    let request = page(1);
    put(request, &[0; 24]);
    put(request, &at.to_le_bytes());
    put(request + 16, &handle.to_le_bytes());
    let rc = call(GRANT_TABLE_OP, &[UNMAP, request, 1]);
    if rc != 0 {
        guest.fail(format_args!("unmap_grant_ref: {rc}"));
    }
    i16::from_le_bytes([byte(request + 20), byte(request + 21)])
}

/// Copies the first 16 bytes of the granted page into page 2; returns the copy's status.
fn peek_grant(guest: &Guest) -> i16 {
    let request = page(1);
    put(request, &[0; 40]);
    put(request, &u64::from(GREF).to_le_bytes());
    put(request + 8, &GRANTER.to_le_bytes());
    put(request + 16, &(page(2) >> 12).to_le_bytes());
    put(request + 24, &DOMID_SELF.to_le_bytes());
    put(request + 32, &16u16.to_le_bytes());
    put(request + 34, &SOURCE_GREF.to_le_bytes());
    let rc = call(GRANT_TABLE_OP, &[COPY, request, 1]);
    if rc != 0 {
        guest.fail(format_args!("copy: {rc}"));
    }
    i16::from_le_bytes([byte(request + 36), byte(request + 37)])
}

/// Maps the grant at `at` once the granter has made it.
fn map_when_granted(guest: &Guest, at: u64) -> u32 {
    for _ in 0..PATIENCE {
        match map(guest, at) {
            (0, handle) => return handle,
            // Not granted yet (GNTST_general_error): the granter is still starting.
            (-1, _) => {
                call(SCHED_OP, &[0, 0]);
            }
            (status, _) => guest.fail(format_args!("map_grant_ref status {status}")),
        }
    }
    guest.fail(format_args!("the grant never came"))
}

fn mapper(guest: &'static Guest) -> ! {
    let at = page(0);
    // The granter's page appears here as Normal write-back memory (the granter's own view).
    require_normal(guest, "the page the grant is mapped at", at, 4096);
    let mut signal = Signal::new(guest);
    let handle = map_when_granted(guest, at);
    say!(guest, "mapped the granter's page");
    for round in 0..ROUNDS {
        signal.wait_flag(at, FILLED);
        if read32(at + ROUND) != round {
            guest.fail(format_args!("round {round}: the page says round {}", read32(at + ROUND)));
        }
        check(guest, at, 1, round, false);
        fill(at, 1, round, true);
        signal.hand_over(guest, at, ANSWERED);
    }
    say!(guest, "{ROUNDS} rounds: {} bytes each way, every byte checked", u64::from(ROUNDS) * PAYLOAD_BYTES);
    say!(guest, "each handoff signalled on port {}: {} events received", signal.port, signal.events.received);
    signal.wait_flag(at, RESTARTING);
    signal.hand_over(guest, at, LET_GO);
    // From here the page is not touched: the granter's restart removes it from this stage 2.
    let mut refused = false;
    let mut next_boot = false;
    for _ in 0..PATIENCE {
        match peek_grant(guest) {
            0 => {
                let mut b = [0u8; 4];
                for (i, slot) in b.iter_mut().enumerate() {
                    *slot = byte(page(2) + BOOT + i as u64);
                }
                if u32::from_le_bytes(b) == 2 {
                    next_boot = true;
                    break;
                }
            }
            _ => refused = true,
        }
        call(SCHED_OP, &[0, 0]);
    }
    if !next_boot {
        guest.fail(format_args!("the granter's second boot never granted its page"));
    }
    say!(guest, "the grant was refused while the granter restarted: {refused}");
    let status = unmap(guest, at, handle);
    say!(guest, "unmap of the old handle = status {status}");
    let handle = map_when_granted(guest, at);
    if read32(at + ROUND) != 0 || read32(at + FLAG) != 0 {
        guest.fail(format_args!("the new boot's page holds the old boot's round or flag"));
    }
    check(guest, at, 2, 0, false);
    say!(guest, "mapped again: the new boot's page, nothing of the old one");
    write32(at + FLAG, GOODBYE);
    barrier();
    let status = unmap(guest, at, handle);
    say!(guest, "unmap = status {status}");
    shutdown(guest)
}

fn shutdown(guest: &Guest) -> ! {
    say!(guest, "done");
    let reason = page(1);
    put(reason, &0u32.to_le_bytes());
    call(SCHED_OP, &[2, reason]);
    guest.fail(format_args!("SCHEDOP_shutdown returned"))
}
