//! The `shm` guest: finds its static shared-memory region in its own device tree
//! (`/reserved-memory`, a `xen,shared-memory-v1` child, as Xen describes it) and either writes
//! a pattern there (`shm.write`) or waits for the other partition's pattern and checks it.
//!
//! With `shm.exchange=owner` or `shm.exchange=borrower` and `shm.port=P` (a static event
//! channel of the config, port P at both ends) the two partitions instead move 1 MiB through
//! the region's first page in each direction, a page's worth per round, every byte checked:
//! a flag word in the page says whose turn it is, and an event on port P signals each
//! handoff, waited for in WFI on the upcall interrupt (a lost event hangs the guest, which
//! the scenario's deadline turns into a failure).
#![no_std]
#![no_main]

use core::ptr::addr_of_mut;

use test_guests::bootargs::{parse_number, value};
use test_guests::fdt::{read_cells, Fdt, FdtError, Node};
use test_guests::runtime::cpu::micros;
use test_guests::runtime::events::{EventPages, Events};
use test_guests::runtime::stage1::require_normal;
use test_guests::runtime::Guest;
use test_guests::say;

test_guests::entry!(main);

/// Words of the pattern after the ready word.
const WORDS: u64 = 511;
/// Written last, at the region's first word, once the pattern is in place.
const READY: u64 = 0x5348_4d5f_5245_4144;
/// How long the reader waits for the writer.
const WAIT_US: u64 = 5_000_000;

fn pattern(i: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x0123_4567_89ab_cdef
}

/// The first `xen,shared-memory-v1` node under `/reserved-memory`: (node, address, size, id).
fn find(guest: &Guest) -> Result<Option<(Node<'static>, u64, u64, &'static str)>, FdtError> {
    let tree = Fdt::new(guest.dtb)?;
    let Some(reserved) = tree.find("/reserved-memory")? else { return Ok(None) };
    for child in reserved.children() {
        let child = child?;
        if !child.is_compatible("xen,shared-memory-v1")? {
            continue;
        }
        let Some(reg) = child.property("reg")? else { continue };
        let (Ok(address), Ok(size)) = (read_cells(reg, 0, 2), read_cells(reg, 2, 2)) else { continue };
        let id = child.string_property("xen,id")?.unwrap_or("?");
        return Ok(Some((child, address, size, id)));
    }
    Ok(None)
}

fn main(guest: &'static Guest) -> ! {
    let (node, address, size, id) = match find(guest) {
        Ok(Some(found)) => found,
        Ok(None) => guest.fail(format_args!("no xen,shared-memory-v1 node under /reserved-memory")),
        Err(error) => guest.fail(format_args!("device tree: {error}")),
    };
    say!(guest, "{} id {id} at {address:#x} size {size:#x}", node.name());
    // Both partitions' stage 2 map the region Normal write-back: so must each one's stage 1,
    // or their views of it are not coherent. The guest uses its first page only.
    require_normal(guest, "the shared-memory region's first page", address, size.min(4096));
    match value(guest.bootargs, "shm.exchange") {
        Some("owner") => exchange(guest, address, size, true),
        Some("borrower") => exchange(guest, address, size, false),
        Some(other) => guest.fail(format_args!("shm.exchange={other}: owner or borrower")),
        None => {}
    }
    if size < (WORDS + 1) * 8 {
        guest.fail(format_args!("region too small"));
    }
    let word = |i: u64| (address + i * 8) as *mut u64;
    if guest.bootargs.split(' ').any(|a| a == "shm.write") {
        for i in 1..=WORDS {
            // SAFETY: the region is this partition's shared memory (its device tree says so),
            // Normal memory in its stage 1 (checked above), and `i` stays inside its first 4 KiB.
            unsafe { word(i).write_volatile(pattern(i)) };
        }
        // The pattern is visible to the other partition's CPUs before the ready word.
        barrier();
        // SAFETY: as above.
        unsafe { word(0).write_volatile(READY) };
        say!(guest, "wrote {WORDS} words");
    } else {
        let start = micros();
        // SAFETY: as for the writer.
        while unsafe { word(0).read_volatile() } != READY {
            if micros().saturating_sub(start) > WAIT_US {
                guest.fail(format_args!("no pattern after {} ms", WAIT_US / 1000));
            }
        }
        // The pattern is read after the ready word.
        barrier();
        let bad = (1..=WORDS)
            // SAFETY: as for the writer.
            .filter(|&i| unsafe { word(i).read_volatile() } != pattern(i))
            .count();
        if bad != 0 {
            guest.fail(format_args!("{bad} of {WORDS} words differ"));
        }
        // SAFETY: as for the writer.
        let last = unsafe { word(WORDS).read_volatile() };
        say!(guest, "read {WORDS} words, pattern ok, last {last:#x}");
    }
    say!(guest, "done");
    guest.psci.system_off()
}

/// Orders this CPU's accesses to the region before the barrier against those after it, as
/// the other partition's CPU observes them: the region is Normal memory, whose accesses,
/// unlike Device-nGnRnE ones, may be observed out of program order.
fn barrier() {
    // SAFETY: a barrier has no operands and touches no memory.
    unsafe { core::arch::asm!("dmb ish", options(nostack, preserves_flags)) };
}

/// The exchange's page: the flag word, the round, then the payload.
const FLAG: u64 = 0;
const ROUND: u64 = 4;
const PAYLOAD: u64 = 64;
const PAYLOAD_BYTES: u64 = 4096 - PAYLOAD;
/// Rounds that move at least 1 MiB each way.
const ROUNDS: u32 = (1u32 << 20).div_ceil(PAYLOAD_BYTES as u32);
/// Flag values: the owner filled the page, the borrower answered, the owner is done.
const FILLED: u32 = 1;
const ANSWERED: u32 = 2;
const DONE: u32 = 3;

static mut EVENT_PAGES: EventPages = EventPages([[0; 4096]; 3]);

/// The payload byte `i` of round `round`, from the owner or back from the borrower.
fn pattern_byte(round: u32, back: bool, i: u64) -> u8 {
    (i as u32).wrapping_mul(37).wrapping_add(round.wrapping_mul(11)).wrapping_add(u32::from(back) * 89) as u8
}

/// One side of the region's page, with the channel that signals its handoffs.
struct Exchange<'a> {
    guest: &'a Guest,
    page: u64,
    events: Events,
    port: u32,
}

impl Exchange<'_> {
    fn read32(&self, at: u64) -> u32 {
        // SAFETY: `at` is inside the region's first page, which this partition's device tree
        // gives it (Normal memory in its stage 1, checked in `main`), 4-byte aligned.
        unsafe { ((self.page + at) as *const u32).read_volatile() }
    }

    fn write32(&self, at: u64, value: u32) {
        // SAFETY: as for `read32`.
        unsafe { ((self.page + at) as *mut u32).write_volatile(value) }
    }

    fn fill(&self, round: u32, back: bool) {
        for i in 0..PAYLOAD_BYTES {
            // SAFETY: as for `read32`.
            unsafe { ((self.page + PAYLOAD + i) as *mut u8).write_volatile(pattern_byte(round, back, i)) };
        }
    }

    fn check(&self, round: u32, back: bool) {
        for i in 0..PAYLOAD_BYTES {
            // SAFETY: as for `read32`.
            let found = unsafe { ((self.page + PAYLOAD + i) as *const u8).read_volatile() };
            if found != pattern_byte(round, back, i) {
                self.guest.fail(format_args!("round {round}: payload byte {i} is {found:#x}"));
            }
        }
    }

    /// Sets the flag (after everything written before it) and signals the other side.
    fn hand_over(&self, flag: u32) {
        barrier();
        self.write32(FLAG, flag);
        let rc = self.events.send(self.port);
        if rc != 0 {
            self.guest.fail(format_args!("EVTCHNOP_send on port {} = {rc}", self.port));
        }
    }

    /// Waits, event by event, until the flag says `want`: the page is read again only after
    /// an event (one read early is taken at the next wait, which then finds the flag
    /// unchanged and sleeps again).
    fn wait_flag(&mut self, want: u32) {
        while self.read32(FLAG) != want {
            self.events.wait(self.port);
        }
        // What the other side wrote before the flag is read after it.
        barrier();
    }
}

/// The owner fills the page and waits for the answer, round after round; the borrower checks
/// each round and answers.
fn exchange(guest: &'static Guest, address: u64, size: u64, owner: bool) -> ! {
    if size < 4096 {
        guest.fail(format_args!("region of {size:#x} bytes: the exchange needs a page"));
    }
    let port = match value(guest.bootargs, "shm.port").map(parse_number) {
        Some(Ok(port)) if port > 0 && port < (1 << 17) => port as u32,
        Some(Ok(port)) => guest.fail(format_args!("shm.port={port}: a port from 1 to 131071")),
        Some(Err(error)) => guest.fail(format_args!("shm.port: {error}")),
        None => guest.fail(format_args!("no shm.port=P: give the static event channel's port")),
    };
    // SAFETY: the pages are handed to the hypervisor once, here, and used through `Events`.
    let pages = unsafe { &mut *addr_of_mut!(EVENT_PAGES) };
    let events = Events::new(guest.gic, pages).unwrap_or_else(|error| guest.fail(format_args!("{error}")));
    let mut side = Exchange { guest, page: address, events, port };
    if owner {
        side.write32(ROUND, 0);
        side.hand_over(0);
        for round in 0..ROUNDS {
            side.write32(ROUND, round);
            side.fill(round, false);
            side.hand_over(FILLED);
            side.wait_flag(ANSWERED);
            side.check(round, true);
        }
        side.hand_over(DONE);
    } else {
        // The owner's first event: the page's header is its own from then on.
        side.events.wait(port);
        for round in 0..ROUNDS {
            side.wait_flag(FILLED);
            if side.read32(ROUND) != round {
                guest.fail(format_args!("round {round}: the page says round {}", side.read32(ROUND)));
            }
            side.check(round, false);
            side.fill(round, true);
            side.hand_over(ANSWERED);
        }
        side.wait_flag(DONE);
    }
    say!(guest, "{ROUNDS} rounds: {} bytes each way, every byte checked", u64::from(ROUNDS) * PAYLOAD_BYTES);
    say!(guest, "each handoff signalled on port {port}: {} events received", side.events.received);
    say!(guest, "done");
    guest.psci.system_off()
}
