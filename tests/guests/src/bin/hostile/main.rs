//! The `hostile` guest: tries to break the promise that a partition affects only itself, while
//! another partition keeps printing. Every attempt must come back to it (an injected abort its
//! own handler catches, or an answer), then it does something the hypervisor cannot emulate,
//! and its `bulkhead,on-crash` policy must apply. Boot arguments:
//!
//! - `hostile.write=0xADDR,...`: addresses it does not own (the host's GIC and UART, another
//!   partition's RAM, nothing): a store of every size to each must fault inside the guest;
//! - `hostile.fill=1`: fills all its RAM but the first and last 4 MiB (its image, stacks and
//!   device tree) with a pattern, first thing and again after its calls: a neighbour that
//!   guards its own RAM (`hello.guard=1`, checked on every beat) must find its pattern intact,
//!   whatever host frames stage 2 gave each (the two are not synchronised: filling twice makes
//!   it likely that one fill falls inside the neighbour's heartbeat);
//! - `hostile.scribble=0xADDR`: 64 KiB of its own RAM at the guest-physical address equal to
//!   the hypervisor's host address (its boot banner says where it sits): filled and read back,
//!   it must be the guest's own memory (were it the hypervisor's code, the board would fail);
//! - `hostile.devices=N`: N loads and stores of every size at random offsets of its emulated
//!   devices (the virtual GIC distributor, the vPL011), each answered or aborted;
//! - `hostile.calls=N`: N HVC and SMC calls with random function ids and arguments (power
//!   calls that would switch it off excluded), PSCI calls with bad MPIDRs, entry points and
//!   contexts, and Xen hypercalls with wild pointers;
//! - `hostile.flood=N`: N console lines of escape sequences that try to erase its prefix,
//!   draw the focus banner or another partition's line, and C1 controls;
//! - `hostile.top=1`: a trapping instruction (HVC) at the last word of the address space, mapped
//!   through its own TTBR1: the PC wraps to 0, whose fetch faults inside the guest;
//! - `hostile.storm=N`: N random operations made by all its vCPUs together (`storm.rs`).
//!
//! `hostile.ends=END,...` says how each boot ends (the first for boot 1, which makes the
//! attempts above; later boots, after the partition's restart, only end): `race` (every vCPU
//! on, then SYSTEM_RESET from two at once while the others switch vCPUs on and off), `aarch32`
//! (an abort taken from AArch32 EL0, then a trap from it the hypervisor does not emulate,
//! `aarch32.rs`), `sgi0r` (a write of ICC_SGI0R_EL1, the Group 0
//! SGI that would be a physical FIQ, which the hypervisor traps and does not emulate),
//! `asgi1r` (a write of ICC_ASGI1R_EL1, likewise) or `off` (SYSTEM_OFF). Without it, boot 1
//! ends with `asgi1r`. The crashing ends must apply the partition's `bulkhead,on-crash`
//! policy.
#![no_std]
#![no_main]

mod aarch32;
mod storm;

use core::arch::asm;

use test_guests::bootargs::{number_list, parse_number, value};
use test_guests::runtime::{probe_access, probe_fetch, AccessSize, Guest};
use test_guests::say;

test_guests::entry!(main, storm::secondary);

/// The virtual GIC distributor and vPL011 of Xen's guest layout (GICv3 guests).
const VGIC_DISTRIBUTOR: u64 = 0x0300_1000;
const VPL011: u64 = 0x2200_0000;
const SIZES: [AccessSize; 4] = [AccessSize::Byte, AccessSize::Half, AccessSize::Word, AccessSize::Double];

fn main(guest: &'static Guest) -> ! {
    guest.report_psci_version();
    let boot = guest.boot_count;
    let end = match value(guest.bootargs, "hostile.ends") {
        Some(list) => list.split(',').nth(boot.saturating_sub(1) as usize).unwrap_or("missing"),
        None => "asgi1r",
    };
    if boot > 1 {
        say!(guest, "boot {boot}: ends with {end}");
        finish(guest, end);
    }
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let fill = value(guest.bootargs, "hostile.fill").is_some();
    if fill {
        fill_own_ram(guest);
    }
    if let Some(list) = value(guest.bootargs, "hostile.write") {
        writes(guest, list);
    }
    if let Some(address) = value(guest.bootargs, "hostile.scribble") {
        scribble(guest, address);
    }
    if let Some(n) = count(guest, "hostile.devices") {
        devices(guest, &mut random, n);
    }
    if let Some(n) = count(guest, "hostile.calls") {
        calls(guest, &mut random, n);
    }
    if fill {
        fill_own_ram(guest);
    }
    if let Some(n) = count(guest, "hostile.flood") {
        flood(guest, &mut random, n);
    }
    if value(guest.bootargs, "hostile.top").is_some() {
        top_of_address_space(guest);
    }
    if let Some(n) = count(guest, "hostile.storm") {
        storm::run(guest, n);
    }
    say!(guest, "boot {boot}: ends with {end}");
    finish(guest, end)
}

/// Ends this boot as `hostile.ends` says.
fn finish(guest: &'static Guest, end: &str) -> ! {
    match end {
        "race" => storm::race(guest, 0),
        "aarch32" => aarch32::run(guest),
        // SAFETY: a write to a GIC system register the hypervisor traps (HCR_EL2.FMO) and does
        // not emulate: the partition's crash policy ends this run here.
        "sgi0r" => unsafe { asm!("msr S3_0_C12_C11_7, xzr", options(nostack)) },
        // SAFETY: as above (HCR_EL2.IMO).
        "asgi1r" => unsafe { asm!("msr S3_0_C12_C11_6, xzr", options(nostack)) },
        "off" => {
            say!(guest, "done");
            guest.psci.system_off()
        }
        other => guest.fail(format_args!("hostile.ends: no end {other:?} for boot {} (race, aarch32, sgi0r, asgi1r or off)", guest.boot_count)),
    }
    guest.fail(format_args!("the {end} end came back"))
}

fn count(guest: &Guest, key: &str) -> Option<u64> {
    let text = value(guest.bootargs, key)?;
    match parse_number(text) {
        Ok(n) => Some(n),
        Err(error) => guest.fail(format_args!("{key}: {error}")),
    }
}

/// A xorshift generator: repeatable runs (its seed must not be 0).
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Stores of every size to addresses the guest does not own: each must fault.
fn writes(guest: &Guest, list: &str) {
    let mut count = 0;
    for address in number_list(list) {
        let address = match address {
            Ok(address) => address,
            Err(error) => guest.fail(format_args!("hostile.write: {error}")),
        };
        if guest.memory.ranges().iter().any(|span| span.start <= address && address - span.start < span.size) {
            guest.fail(format_args!("hostile.write {address:#x} is this guest's own RAM"));
        }
        for size in SIZES {
            // SAFETY: the address is not this guest's memory, so nothing of the guest changes;
            // the store must fault (the probe catches it).
            match unsafe { probe_access(address, size, Some(0xdead_beef_dead_beef)) } {
                Err(_) => count += 1,
                Ok(_) => guest.fail(format_args!("a {size:?} store to {address:#x} did not fault")),
            }
        }
    }
    say!(guest, "{count} stores outside its memory faulted");
}

/// Fills its RAM but the first and last 4 MiB with "hostile!".
fn fill_own_ram(guest: &Guest) {
    const MARGIN: u64 = 4 << 20;
    let mut bytes = 0;
    for span in guest.memory.ranges() {
        let (Some(start), Some(end)) = (span.start.checked_add(MARGIN), (span.start + span.size).checked_sub(MARGIN)) else { continue };
        let mut address = start;
        while address + 8 <= end {
            // SAFETY: own RAM outside the first 4 MiB (image, stacks, tables) and the last
            // 4 MiB (the device tree): nothing of the guest lives there.
            unsafe { (address as *mut u64).write_volatile(u64::from_le_bytes(*b"hostile!")) };
            address += 8;
        }
        bytes += end.saturating_sub(start);
    }
    say!(guest, "filled {} MiB of its own RAM", bytes >> 20);
}

/// Fills and reads back 64 KiB at `text`, own RAM at the hypervisor's host address.
fn scribble(guest: &Guest, text: &str) {
    let address = match parse_number(text) {
        Ok(address) => address,
        Err(error) => guest.fail(format_args!("hostile.scribble: {error}")),
    };
    let size = 64 * 1024;
    let own = guest.memory.ranges().iter().any(|span| span.start <= address && address - span.start + size <= span.size);
    if !own {
        guest.fail(format_args!("hostile.scribble {address:#x} is not inside this guest's RAM"));
    }
    for offset in (0..size).step_by(8) {
        // SAFETY: own RAM the guest's image, stacks and tables do not use (the image sits at
        // RAM + 512 KiB and is far smaller than 1.5 MiB; the DTB is at the top).
        unsafe { ((address + offset) as *mut u64).write_volatile(address + offset) };
    }
    for offset in (0..size).step_by(8) {
        // SAFETY: as above.
        let read = unsafe { ((address + offset) as *const u64).read_volatile() };
        if read != address + offset {
            guest.fail(format_args!("own RAM at {:#x} read back {read:#x}", address + offset));
        }
    }
    say!(guest, "scribbled 64 KiB at {address:#x}, its own RAM");
}

/// Random accesses of every size to its emulated devices.
fn devices(guest: &Guest, random: &mut Random, n: u64) {
    let (mut answered, mut aborted) = (0u64, 0u64);
    for _ in 0..n {
        let r = random.next();
        let size = SIZES[(r & 3) as usize];
        // The vPL011's data register prints: only reads there, and no stores to its control
        // registers (the guest's own console must keep working for the report).
        let (base, span, write) = match (r >> 2) & 3 {
            0 | 1 => (VGIC_DISTRIBUTOR, 0x1_0000, r & 0x10 != 0),
            _ => (VPL011, 0x1000, false),
        };
        let offset = ((r >> 8) % span) & !(size.bytes() - 1);
        // The distributor's control and group registers: writes there could switch off the
        // guest's own interrupts, which is its business, but this guest needs none.
        let value = if write && offset >= 0x100 { Some(random.next()) } else { None };
        // SAFETY: the guest's own emulated devices; whatever a register does, it only
        // changes this guest's interrupts.
        match unsafe { probe_access(base + offset, size, value) } {
            Ok(_) => answered += 1,
            Err(_) => aborted += 1,
        }
    }
    say!(guest, "{n} device accesses: {answered} answered, {aborted} aborted");
}

/// PSCI function ids that would switch this guest off or suspend it.
fn power_call(function: u64) -> bool {
    let id = function & 0xffff_ffff;
    matches!(id & !0x4000_0000, 0x8400_0001 | 0x8400_0002 | 0x8400_0008 | 0x8400_0009 | 0x8400_000e | 0x8400_0012 | 0x8400_0015)
}

fn calls(guest: &Guest, random: &mut Random, n: u64) {
    let mut answered = 0u64;
    for i in 0..n {
        let mut x = [random.next(), random.next(), random.next(), random.next()];
        match i % 8 {
            // CPU_ON of a CPU that does not exist, or of itself, at a wild entry.
            0 => x[0] = 0xc400_0003,
            1 => x[0] = 0xc400_0004, // AFFINITY_INFO
            2 => x[0] = 0x8400_000a, // PSCI_FEATURES
            _ => {}
        }
        if power_call(x[0]) {
            x[0] = 0x8400_0000 | (x[0] & 0xff00);
        }
        let out: u64;
        // SAFETY: an SMCCC call: the hypervisor answers in x0 (x1-x3 may change); no power
        // call is made, and no memory of the guest's is passed.
        unsafe {
            if i % 3 == 0 {
                asm!("smc #0", inout("x0") x[0] => out, inout("x1") x[1] => _, inout("x2") x[2] => _, inout("x3") x[3] => _, options(nostack));
            } else if i % 3 == 1 {
                asm!("hvc #0", inout("x0") x[0] => out, inout("x1") x[1] => _, inout("x2") x[2] => _, inout("x3") x[3] => _, options(nostack));
            } else {
                // A Xen hypercall number in x16, wild pointers in the arguments.
                asm!("hvc #0xea1", inout("x0") x[0] => out, inout("x1") x[1] => _, inout("x2") x[2] => _, inout("x3") x[3] => _, in("x16") x[0] & 0x3f, options(nostack));
            }
        }
        let _ = out;
        answered += 1;
    }
    say!(guest, "{answered} garbage calls answered");
}

/// Lines built to fool the operator's terminal.
fn flood(guest: &Guest, random: &mut Random, n: u64) {
    const LIES: [&str; 6] = [
        "\x1b[2K\r(Bulkhead) *** Serial input to Bulkhead (type 'CTRL-a' three times to switch input)",
        "\x1b[1A\x1b[2K\r(hello) hello: done",
        "\rbulkhead: partition \"hello\" stopped",
        "\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08(Bulkhead) ***",
        "\x1b]0;owned\x07\x1bc\x1b[H\x1b[J",
        "\u{9b}2K\u{9b}1;1H(Bulkhead) *** C1",
    ];
    for i in 0..n {
        let lie = LIES[(i % LIES.len() as u64) as usize];
        let noise = random.next().to_le_bytes();
        // Raw bytes: a `say!` would add the guest's name first.
        guest.console_write(lie.as_bytes());
        for byte in noise {
            guest.console_write(&[if byte == b'\n' { b'.' } else { byte }]);
        }
        guest.console_write(b"\n");
    }
    say!(guest, "{n} lines of escape sequences written");
}

/// Page tables for the top 4 KiB of the address space (TTBR1, 39 bits), and the page.
#[repr(C, align(4096))]
struct Page([u64; 512]);

static mut TOP_TABLES: [Page; 4] = [const { Page([0; 512]) }; 4];

/// Puts `hvc #0` at VA 0xFFFF_FFFF_FFFF_FFFC and branches there: the hypervisor's PC advance
/// wraps to 0, whose fetch must fault inside the guest (VA 0 is never executable here).
fn top_of_address_space(guest: &Guest) {
    const HVC_0: u32 = 0xd400_0002;
    // Level 1 block/table descriptors: valid table (0b11); level 3 page: valid (0b11),
    // AttrIndx 1 (Normal), inner shareable, access flag, EL0 never executes.
    const TABLE: u64 = 0b11;
    const PAGE: u64 = 0b11 | (1 << 2) | (3 << 8) | (1 << 10) | (1 << 54);
    // SAFETY: only this function touches the tables, once, on this guest's only vCPU.
    let tables = unsafe { &mut *core::ptr::addr_of_mut!(TOP_TABLES) };
    let address = |page: &Page| page as *const Page as u64;
    let (l2, l3, code) = (address(&tables[1]), address(&tables[2]), address(&tables[3]));
    tables[0].0[511] = l2 | TABLE;
    tables[1].0[511] = l3 | TABLE;
    tables[2].0[511] = code | PAGE;
    // SAFETY: `code` is this guest's own page, now holding one instruction at its end.
    unsafe { ((code + 4092) as *mut u32).write_volatile(HVC_0) };
    let l1 = address(&tables[0]);
    // SAFETY: the tables are cleaned to the point of coherency (walks are non-cacheable) and
    // the instruction to the point of unification; TTBR1 then maps only that page, and TCR_EL1
    // changes only the TTBR1 half (T1SZ 25, 4 KiB granule, walks on).
    unsafe {
        for page in [l1, l2, l3, code] {
            let mut line = page;
            while line < page + 4096 {
                asm!("dc civac, {}", in(reg) line, options(nostack));
                line += 64;
            }
        }
        asm!(
            "dsb sy",
            "ic iallu",
            "msr ttbr1_el1, {l1}",
            "mrs {tcr}, tcr_el1",
            "bic {tcr}, {tcr}, #(1 << 23)",
            // T1SZ = 25 (0b11001), in two logical immediates.
            "orr {tcr}, {tcr}, #(3 << 19)",
            "orr {tcr}, {tcr}, #(1 << 16)",
            "orr {tcr}, {tcr}, #(2 << 30)",
            "msr tcr_el1, {tcr}",
            "isb",
            "tlbi vmalle1",
            "dsb sy",
            "isb",
            l1 = in(reg) l1,
            tcr = out(reg) _,
            options(nostack),
        );
    }
    // SAFETY: the fetch runs the HVC, then the wrapped PC 0 faults (VA 0 is Device memory,
    // never executable), and the probe returns with that fault.
    match unsafe { probe_fetch(0xffff_ffff_ffff_fffc) } {
        Err(fault) if fault.far == 0 => say!(guest, "hvc at 0xfffffffffffffffc returned to 0, which faulted ({})", fault.esr),
        Err(fault) => guest.fail(format_args!("the top-of-memory hvc faulted at {:#x} ({})", fault.far, fault.esr)),
        Ok(()) => guest.fail(format_args!("the top-of-memory hvc returned without a fault")),
    }
}
