//! The `xenabi` guest: calls Xen's hypercalls the way a guest written for Xen does, with valid
//! and invalid arguments, and prints one line `xenabi: CASE = RESULT` per case, so that the
//! same guest on Xen 4.17 and on Bulkhead can be compared line by line (the
//! `xen-abi-conformance` scenarios). RESULT is the call's return value in decimal (Xen errno
//! values are negative), followed by what the call wrote where that matters. It ends with
//! `done`, then shuts itself down with `SCHEDOP_shutdown(poweroff)`.
//!
//! Bad addresses: 0 and 0x10000000 (guest physical addresses with nothing behind them), and
//! 1 << 40 (outside the guest's own identity map: its stage 1 faults).
#![no_std]
#![no_main]

use core::ptr::{addr_of_mut, read_volatile, write_volatile};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use test_guests::fdt::Fdt;
use test_guests::runtime::cpu::virtual_timer;
use test_guests::runtime::gic::InterruptController;
use test_guests::runtime::stage1::require_normal;
use test_guests::runtime::xen::hypercall;
use test_guests::runtime::Guest;
use test_guests::say;

mod evtchn;
mod gnttab;

test_guests::entry!(main, secondary);

const MEMORY_OP: u64 = 12;
const XEN_VERSION: u64 = 17;
const CONSOLE_IO: u64 = 18;
const VCPU_OP: u64 = 24;
const SCHED_OP: u64 = 29;
const EVENT_CHANNEL_OP: u64 = 32;
const PHYSDEV_OP: u64 = 33;
const HVM_OP: u64 = 34;
const SYSCTL: u64 = 35;
const DOMCTL: u64 = 36;
const DOMID_SELF: u16 = 0x7ff0;
/// Nothing is mapped at this guest physical address.
const NO_RAM: u64 = 0x1000_0000;
/// Outside the guest's own identity map.
const NO_VA: u64 = 1 << 40;
const BAD: [u64; 3] = [0, NO_RAM, NO_VA];
const TIMER_PPI: u32 = 27;

/// Scratch pages in the guest's RAM for buffers the hypervisor reads and writes.
#[repr(C, align(4096))]
struct Pages([[u8; 4096]; 12]);
static mut PAGES: Pages = Pages([[0; 4096]; 12]);

/// The address of scratch page `index`.
fn page(index: usize) -> u64 {
    (addr_of_mut!(PAGES) as u64) + (index as u64) * 4096
}

fn poke(address: u64, bytes: &[u8]) {
    for (i, &b) in bytes.iter().enumerate() {
        // SAFETY: callers pass addresses inside `PAGES`; each page is touched by one vCPU
        // (`SENDER_PAGE` by vCPU 1, the others by vCPU 0).
        unsafe { write_volatile((address + i as u64) as *mut u8, b) };
    }
}

fn peek(address: u64, out: &mut [u8]) {
    for (i, b) in out.iter_mut().enumerate() {
        // SAFETY: as for `poke`; the hypervisor may have written the bytes.
        *b = unsafe { read_volatile((address + i as u64) as *const u8) };
    }
}

fn peek_u64(address: u64) -> u64 {
    let mut b = [0u8; 8];
    peek(address, &mut b);
    u64::from_le_bytes(b)
}

fn clear(address: u64, length: usize) {
    for i in 0..length as u64 {
        // SAFETY: as for `poke`.
        unsafe { write_volatile((address + i) as *mut u8, 0) };
    }
}

/// Makes a call whose pointers are scratch pages or bad addresses.
fn call(number: u64, args: &[u64]) -> i64 {
    let mut a = [0u64; 5];
    a[..args.len()].copy_from_slice(args);
    // SAFETY: every pointer argument of this guest is a scratch page (nothing else lives
    // there) or one of `BAD`, where nothing can be written.
    unsafe { hypercall(number, a) }
}

/// A NUL-terminated string of at most `max` bytes at `address`, as text ("?" if not UTF-8 or
/// not terminated).
fn string(address: u64, max: usize, out: &mut [u8; 1024]) -> &str {
    peek(address, &mut out[..max]);
    match out[..max].iter().position(|&b| b == 0) {
        Some(end) => core::str::from_utf8(&out[..end]).unwrap_or("?"),
        None => "(not terminated)",
    }
}

fn main(guest: &'static Guest) -> ! {
    say!(guest, "xen abi conformance");
    // The hypervisor reads and writes these buffers, the shared_info and vcpu_info placed
    // among them and the pages granted through them as Normal write-back memory: so must
    // this guest (the grant window is checked with the grant cases).
    require_normal(guest, "the scratch pages", page(0), core::mem::size_of::<Pages>() as u64);
    hypervisor_node(guest);
    xen_version(guest);
    console_io(guest);
    hvm_op(guest);
    memory_op(guest);
    gnttab::cases(guest);
    vcpu_op(guest);
    sched_op(guest);
    evtchn::cases(guest);
    // Last: on Xen it takes a RAM page out of the domain, which no later case may count.
    remove_from_physmap(guest, page(4) >> 12);
    others(guest);
    // After every case that needs vCPU 1 down: it sends the events the polls wait for.
    evtchn::timed_polls(guest);
    say!(guest, "done");
    let reason = page(0);
    poke(reason, &0u32.to_le_bytes());
    call(SCHED_OP, &[2, reason]);
    guest.fail(format_args!("SCHEDOP_shutdown returned"))
}

/// vCPU 1's one job: `EVTCHNOP_send` on [`SEND_PORT`] once the physical counter reaches
/// [`SEND_AT`] (0: nothing to do), then [`SENT`] counts it.
pub static SEND_AT: AtomicU64 = AtomicU64::new(0);
pub static SEND_PORT: AtomicU32 = AtomicU32::new(0);
pub static SENT: AtomicU32 = AtomicU32::new(0);
/// Set by vCPU 1 once it is up and waiting for work: the timed polls start after its start-up.
pub static READY: AtomicU32 = AtomicU32::new(0);
/// vCPU 1's scratch page: the other pages are vCPU 0's.
const SENDER_PAGE: usize = 11;

/// vCPU 1 (started by `evtchn::timed_polls`): sends an event when it is told to, at the time
/// it is told, while vCPU 0 waits in `SCHEDOP_poll`. It prints nothing.
fn secondary(_guest: &'static Guest, _slot: usize) -> ! {
    READY.store(1, Ordering::Release);
    loop {
        let at = SEND_AT.load(Ordering::Acquire);
        if at == 0 || test_guests::runtime::timing::physical_count() < at {
            core::hint::spin_loop();
            continue;
        }
        let buf = page(SENDER_PAGE);
        poke(buf, &SEND_PORT.load(Ordering::Acquire).to_le_bytes());
        call(EVENT_CHANNEL_OP, &[4, buf]);
        SEND_AT.store(0, Ordering::Release);
        SENT.fetch_add(1, Ordering::AcqRel);
    }
}

/// What the device tree says of the hypervisor.
fn hypervisor_node(guest: &Guest) {
    let Ok(fdt) = Fdt::new(guest.dtb) else { guest.fail(format_args!("device tree unreadable")) };
    let Ok(Some(node)) = fdt.find("/hypervisor") else {
        say!(guest, "dt hypervisor = absent");
        return;
    };
    let compatible = node.property("compatible").ok().flatten().unwrap_or(&[]);
    let mut names = compatible.split(|&b| b == 0).map(|s| core::str::from_utf8(s).unwrap_or("?"));
    say!(guest, "dt hypervisor compatible = {} {}", names.next().unwrap_or("-"), names.next().unwrap_or("-"));
    let reg = node.property("reg").ok().flatten().unwrap_or(&[]);
    let cell = |i: usize| reg.get(i * 4..i * 4 + 4).map_or(0, |c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    say!(guest, "dt hypervisor reg[0] = {:#x} {:#x}", (u64::from(cell(0)) << 32) | u64::from(cell(1)), (u64::from(cell(2)) << 32) | u64::from(cell(3)));
    let irq = node.property("interrupts").ok().flatten().unwrap_or(&[]);
    let icell = |i: usize| irq.get(i * 4..i * 4 + 4).map_or(0, |c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    say!(guest, "dt hypervisor interrupts = {} {} {:#x}", icell(0), icell(1), icell(2));
}

fn xen_version(guest: &Guest) {
    let buf = page(1);
    let mut text = [0u8; 1024];
    say!(guest, "xen_version version = {:#x}", call(XEN_VERSION, &[0, 0]));
    say!(guest, "xen_version version, upper bits set = {:#x}", call(XEN_VERSION, &[1 << 32, 0]));
    for (name, command, size) in [("extraversion", 1, 16), ("compile_info", 2, 144), ("changeset", 4, 64)] {
        clear(buf, 1024);
        let rc = call(XEN_VERSION, &[command, buf]);
        let terminated = string(buf, size, &mut text) != "(not terminated)";
        say!(guest, "xen_version {name} = {rc} terminated {terminated}");
    }
    clear(buf, 1024);
    let rc = call(XEN_VERSION, &[3, buf]);
    say!(guest, "xen_version capabilities = {rc} \"{}\"", string(buf, 1024, &mut text));
    let rc = call(XEN_VERSION, &[5, buf]);
    say!(guest, "xen_version platform_parameters = {rc} virt_start {:#x}", peek_u64(buf));
    for index in [0u32, 1] {
        poke(buf, &[0; 8]);
        poke(buf, &index.to_le_bytes());
        let rc = call(XEN_VERSION, &[6, buf]);
        say!(guest, "xen_version get_features submap {index} = {rc} bits {:#x}", peek_u64(buf) >> 32);
    }
    say!(guest, "xen_version pagesize = {}", call(XEN_VERSION, &[7, 0]));
    say!(guest, "xen_version pagesize, non-null argument = {}", call(XEN_VERSION, &[7, buf]));
    poke(buf, &[0xaa; 16]);
    let rc = call(XEN_VERSION, &[8, buf]);
    say!(guest, "xen_version guest_handle = {rc} first {:#x} second {:#x}", peek_u64(buf), peek_u64(buf + 8));
    clear(buf, 1024);
    let rc = call(XEN_VERSION, &[9, buf]);
    say!(guest, "xen_version commandline = {rc} \"{}\"", string(buf, 1024, &mut text));
    say!(guest, "xen_version build_id = {}", call(XEN_VERSION, &[10, 0]));
    say!(guest, "xen_version unknown command 99 = {}", call(XEN_VERSION, &[99, buf]));
    for (name, command) in [("extraversion", 1), ("compile_info", 2), ("capabilities", 3), ("get_features", 6), ("guest_handle", 8)] {
        for bad in BAD {
            say!(guest, "xen_version {name} at {bad:#x} = {}", call(XEN_VERSION, &[command, bad]));
        }
    }
    // A buffer across a page boundary.
    clear(buf, 8192);
    let across = page(2) - 7;
    let rc = call(XEN_VERSION, &[3, across]);
    say!(guest, "xen_version capabilities across pages = {rc} \"{}\"", string(across, 1024, &mut text));
}

fn console_io(guest: &Guest) {
    let buf = page(1);
    let text = b"console_io says hello\n";
    poke(buf, text);
    say!(guest, "console_io write = {}", call(CONSOLE_IO, &[0, text.len() as u64, buf]));
    say!(guest, "console_io write at {NO_RAM:#x} = {}", call(CONSOLE_IO, &[0, 8, NO_RAM]));
    say!(guest, "console_io read = {}", call(CONSOLE_IO, &[1, 16, buf]));
    say!(guest, "console_io unknown command 7 = {}", call(CONSOLE_IO, &[7, 16, buf]));
}

/// Writes a `struct xen_hvm_param` at `at`.
fn hvm_param(at: u64, domid: u16, index: u32, value: u64) {
    poke(at, &domid.to_le_bytes());
    poke(at + 2, &[0, 0]);
    poke(at + 4, &index.to_le_bytes());
    poke(at + 8, &value.to_le_bytes());
}

fn hvm_op(guest: &Guest) {
    let buf = page(1);
    for (name, index) in [("CALLBACK_IRQ", 0u32), ("STORE_PFN", 1), ("STORE_EVTCHN", 2), ("CONSOLE_PFN", 17), ("CONSOLE_EVTCHN", 18)] {
        hvm_param(buf, DOMID_SELF, index, 0x55);
        let rc = call(HVM_OP, &[1, buf]);
        say!(guest, "hvm_op get_param {name} = {rc} value {:#x}", peek_u64(buf + 8));
        hvm_param(buf, DOMID_SELF, index, 0x55);
        say!(guest, "hvm_op set_param {name} = {}", call(HVM_OP, &[0, buf]));
    }
    for (name, domid, index) in [("own domid 1", 1u16, 0u32), ("domid 2 (none)", 2, 0), ("domid 0 (none)", 0, 0), ("MONITOR_RING_PFN", DOMID_SELF, 28), ("index 39", DOMID_SELF, 39), ("index 1000", DOMID_SELF, 1000)] {
        hvm_param(buf, domid, index, 0x55);
        say!(guest, "hvm_op get_param {name} = {}", call(HVM_OP, &[1, buf]));
    }
    for bad in BAD {
        say!(guest, "hvm_op get_param at {bad:#x} = {}", call(HVM_OP, &[1, bad]));
    }
    say!(guest, "hvm_op unknown op 99 = {}", call(HVM_OP, &[99, buf]));
}

/// Writes a `struct xen_add_to_physmap` at `at`.
fn physmap(at: u64, domid: u16, size: u16, space: u32, idx: u64, gpfn: u64) {
    poke(at, &domid.to_le_bytes());
    poke(at + 2, &size.to_le_bytes());
    poke(at + 4, &space.to_le_bytes());
    poke(at + 8, &idx.to_le_bytes());
    poke(at + 16, &gpfn.to_le_bytes());
}

fn memory_op(guest: &Guest) {
    let buf = page(1);
    let shared = page(4);
    let gfn = shared >> 12;
    poke(shared, &[0x5a; 64]);
    physmap(buf, DOMID_SELF, 0, 0, 1, gfn);
    say!(guest, "memory_op add_to_physmap shared_info idx 1 = {}", call(MEMORY_OP, &[7, buf]));
    physmap(buf, 2, 0, 0, 0, gfn);
    say!(guest, "memory_op add_to_physmap shared_info domid 2 (none) = {}", call(MEMORY_OP, &[7, buf]));
    physmap(buf, DOMID_SELF, 0, 0, 0, u64::MAX);
    say!(guest, "memory_op add_to_physmap shared_info gfn INVALID = {}", call(MEMORY_OP, &[7, buf]));
    physmap(buf, DOMID_SELF, 0, 0, 0, gfn);
    let rc = call(MEMORY_OP, &[7, buf]);
    let mut contents = [0u8; 4096];
    peek(shared, &mut contents);
    // The wall clock's seconds and nanoseconds (0x434..0x440) depend on when the domain was
    // built; every other byte must be as a new domain gets it.
    let wall_clock = 0x434..0x440;
    let stable = |(offset, byte): &(usize, &u8)| **byte != 0 && !wall_clock.contains(offset);
    let nonzero = contents.iter().enumerate().filter(stable).count();
    say!(guest, "memory_op add_to_physmap shared_info = {rc} nonzero bytes {nonzero}");
    for (offset, &byte) in contents.iter().enumerate().filter(stable).take(4) {
        say!(guest, "memory_op shared_info byte {offset:#x} = {byte:#x}");
    }
    physmap(buf, 1, 0, 0, 0, gfn + 1);
    say!(guest, "memory_op add_to_physmap shared_info again = {}", call(MEMORY_OP, &[7, buf]));
    for (name, space) in [("gmfn", 2u32), ("gmfn_range", 3), ("gmfn_foreign", 4), ("dev_mmio", 5), ("space 99", 99)] {
        physmap(buf, DOMID_SELF, 1, space, 0, page(5) >> 12);
        say!(guest, "memory_op add_to_physmap {name} = {}", call(MEMORY_OP, &[7, buf]));
    }
    for bad in BAD {
        say!(guest, "memory_op add_to_physmap at {bad:#x} = {}", call(MEMORY_OP, &[7, bad]));
    }
    // A batch of two plain frames, then shared_info (already mapped), then bad arrays.
    let (idxs, gpfns, errs) = (page(6), page(6) + 1024, page(6) + 2048);
    // `struct xen_add_to_physmap_batch`: domid, space, size, foreign domid (u16 each), then
    // the idxs, gpfns and errs handles.
    let batch = |space: u16, count: u16, foreign: u16, idxs: u64, gpfns: u64, errs: u64| {
        poke(buf, &DOMID_SELF.to_le_bytes());
        poke(buf + 2, &space.to_le_bytes());
        poke(buf + 4, &count.to_le_bytes());
        poke(buf + 6, &foreign.to_le_bytes());
        poke(buf + 8, &idxs.to_le_bytes());
        poke(buf + 16, &gpfns.to_le_bytes());
        poke(buf + 24, &errs.to_le_bytes());
        poke(errs_of(errs), &[0x77; 8]);
        call(MEMORY_OP, &[23, buf])
    };
    fn errs_of(errs: u64) -> u64 {
        if (0x4000_0000..1 << 39).contains(&errs) { errs } else { page(7) }
    }
    for i in 0..2u64 {
        poke(idxs + i * 8, &0u64.to_le_bytes());
        poke(gpfns + i * 8, &((page(5) >> 12) + i).to_le_bytes());
    }
    let err = |i: u64| {
        let mut b = [0u8; 4];
        peek(errs + i * 4, &mut b);
        i32::from_le_bytes(b)
    };
    let rc = batch(2, 2, 0, idxs, gpfns, errs);
    say!(guest, "memory_op add_to_physmap_batch gmfn x2 = {rc} errs {} {}", err(0), err(1));
    let rc = batch(0, 1, 0, idxs, gpfns, errs);
    say!(guest, "memory_op add_to_physmap_batch shared_info again = {rc} errs {}", err(0));
    for (name, foreign) in [("DOMID_SELF", DOMID_SELF), ("own domid 1", 1), ("domid 9 (none)", 9)] {
        let rc = batch(4, 1, foreign, idxs, gpfns, errs);
        say!(guest, "memory_op add_to_physmap_batch gmfn_foreign from {name} = {rc} errs {}", err(0));
    }
    say!(guest, "memory_op add_to_physmap_batch gmfn_range = {}", batch(3, 1, 0, idxs, gpfns, errs));
    say!(guest, "memory_op add_to_physmap_batch size 0 = {}", batch(2, 0, 0, idxs, gpfns, errs));
    say!(guest, "memory_op add_to_physmap_batch idxs at {NO_RAM:#x} = {}", batch(2, 1, 0, NO_RAM, gpfns, errs));
    say!(guest, "memory_op add_to_physmap_batch errs at {NO_RAM:#x} = {}", batch(2, 1, 0, idxs, gpfns, NO_RAM));
    say!(guest, "memory_op add_to_physmap_batch at {NO_RAM:#x} = {}", call(MEMORY_OP, &[23, NO_RAM]));
    say!(guest, "memory_op unknown command 63 = {}", call(MEMORY_OP, &[63, buf]));
}

/// `XENMEM_remove_from_physmap` (15) of frame `gpfn` of domain `domid`.
fn remove(domid: u16, gpfn: u64) -> i64 {
    let buf = page(1);
    poke(buf, &domid.to_le_bytes());
    poke(buf + 2, &[0; 6]);
    poke(buf + 8, &gpfn.to_le_bytes());
    call(MEMORY_OP, &[15, buf])
}

/// Takes shared_info (at frame `shared`) away and maps it back at the same frame. Scratch
/// page 7, which nothing uses after this, is the RAM frame asked for.
fn remove_from_physmap(guest: &Guest, shared: u64) {
    say!(guest, "memory_op remove_from_physmap domid 9 (none) = {}", remove(9, shared));
    say!(guest, "memory_op remove_from_physmap gfn without RAM = {}", remove(DOMID_SELF, NO_RAM >> 12));
    say!(guest, "memory_op remove_from_physmap RAM gfn = {}", remove(DOMID_SELF, page(7) >> 12));
    say!(guest, "memory_op remove_from_physmap at {NO_RAM:#x} = {}", call(MEMORY_OP, &[15, NO_RAM]));
    say!(guest, "memory_op remove_from_physmap shared_info = {}", remove(DOMID_SELF, shared));
    say!(guest, "memory_op remove_from_physmap shared_info again = {}", remove(1, shared));
    physmap(page(1), DOMID_SELF, 0, 0, 0, shared);
    say!(guest, "memory_op add_to_physmap shared_info after removal = {}", call(MEMORY_OP, &[7, page(1)]));
}

/// Writes a `struct vcpu_register_vcpu_info` at `at`.
fn vcpu_info(at: u64, gfn: u64, offset: u32) {
    poke(at, &gfn.to_le_bytes());
    poke(at + 8, &offset.to_le_bytes());
    poke(at + 12, &0u32.to_le_bytes());
}

fn vcpu_op(guest: &Guest) {
    let buf = page(1);
    let info = page(3);
    clear(info, 4096);
    poke(info + 64, &[0x33; 48]);
    vcpu_info(buf, info >> 12, 64);
    let rc = call(VCPU_OP, &[10, 0, buf]);
    let mut bytes = [0u8; 48];
    peek(info + 64, &mut bytes);
    say!(guest, "vcpu_op register_vcpu_info vcpu 0 = {rc} pending {} selector {:#x} time nonzero {}", bytes[0], peek_u64(info + 72), bytes[16..].iter().filter(|&&b| b != 0).count());
    say!(guest, "vcpu_op register_vcpu_info vcpu 0 again = {}", call(VCPU_OP, &[10, 0, buf]));
    for (name, offset) in [("offset 4050", 4050u32), ("offset 4", 4)] {
        vcpu_info(buf, info >> 12, offset);
        say!(guest, "vcpu_op register_vcpu_info vcpu 1 {name} = {}", call(VCPU_OP, &[10, 1, buf]));
    }
    vcpu_info(buf, NO_RAM >> 12, 0);
    say!(guest, "vcpu_op register_vcpu_info vcpu 1 gfn without RAM = {}", call(VCPU_OP, &[10, 1, buf]));
    vcpu_info(buf, info >> 12, 128);
    say!(guest, "vcpu_op register_vcpu_info vcpu 2 (none) = {}", call(VCPU_OP, &[10, 2, buf]));
    for bad in BAD {
        say!(guest, "vcpu_op register_vcpu_info at {bad:#x} = {}", call(VCPU_OP, &[10, 1, bad]));
    }
    poke(buf, &(page(3) + 1024).to_le_bytes());
    say!(guest, "vcpu_op register_runstate_memory_area = {}", call(VCPU_OP, &[5, 0, buf]));
    say!(guest, "vcpu_op is_up = {}", call(VCPU_OP, &[3, 0, 0]));
    say!(guest, "vcpu_op get_runstate_info = {}", call(VCPU_OP, &[4, 0, buf]));
    say!(guest, "vcpu_op unknown command 99 = {}", call(VCPU_OP, &[99, 0, buf]));
}

fn sched_op(guest: &Guest) {
    let buf = page(1);
    say!(guest, "sched_op yield = {}", call(SCHED_OP, &[0, 0]));
    // Block until the virtual timer's interrupt is pending (interrupts stay masked here).
    if let Some(gic) = guest.gic {
        // SAFETY: the GIC frames come from the guest's device tree and nothing else here uses
        // the GIC.
        let gic = unsafe { InterruptController::new(gic) };
        test_guests::runtime::cpu::mask_interrupts();
        gic.enable_private(TIMER_PPI, 0xa0);
        let deadline = virtual_timer::count() + 100_000;
        virtual_timer::arm(deadline, virtual_timer::ENABLE);
        let rc = test_guests::runtime::xen::block();
        let woke_after_deadline = virtual_timer::count() >= deadline;
        virtual_timer::arm(0, 0);
        if let Some((raw, _)) = gic.acknowledge() {
            gic.end(raw);
        }
        say!(guest, "sched_op block = {rc} woken by the timer {woke_after_deadline}");
    }
    poke(buf, &200u32.to_le_bytes());
    let poll = page(2);
    poke(poll, &page(1).to_le_bytes());
    poke(poll + 8, &200u32.to_le_bytes());
    poke(poll + 16, &0u64.to_le_bytes());
    say!(guest, "sched_op poll 200 ports = {}", call(SCHED_OP, &[3, poll]));
    poke(poll, &NO_RAM.to_le_bytes());
    poke(poll + 8, &1u32.to_le_bytes());
    say!(guest, "sched_op poll ports at {NO_RAM:#x} = {}", call(SCHED_OP, &[3, poll]));
    say!(guest, "sched_op poll at {NO_RAM:#x} = {}", call(SCHED_OP, &[3, NO_RAM]));
    say!(guest, "sched_op shutdown at {NO_RAM:#x} = {}", call(SCHED_OP, &[2, NO_RAM]));
    poke(buf, &0u32.to_le_bytes());
    say!(guest, "sched_op shutdown_code = {}", call(SCHED_OP, &[5, buf]));
    for (name, domid) in [("own domid 1", 1u16), ("DOMID_SELF", DOMID_SELF), ("domid 9 (none)", 9)] {
        poke(buf, &domid.to_le_bytes());
        poke(buf + 2, &[0, 0]);
        poke(buf + 4, &0u32.to_le_bytes());
        say!(guest, "sched_op remote_shutdown {name} = {}", call(SCHED_OP, &[4, buf]));
    }
    let watchdog = |id: u32, timeout: u32| {
        poke(buf, &id.to_le_bytes());
        poke(buf + 4, &timeout.to_le_bytes());
        call(SCHED_OP, &[6, buf])
    };
    say!(guest, "sched_op watchdog create = {}", watchdog(0, 1000));
    say!(guest, "sched_op watchdog create second = {}", watchdog(0, 1000));
    say!(guest, "sched_op watchdog create third = {}", watchdog(0, 1000));
    say!(guest, "sched_op watchdog kick 1 = {}", watchdog(1, 2000));
    say!(guest, "sched_op watchdog destroy 1 = {}", watchdog(1, 0));
    say!(guest, "sched_op watchdog destroy 1 again = {}", watchdog(1, 0));
    say!(guest, "sched_op watchdog destroy 2 = {}", watchdog(2, 0));
    say!(guest, "sched_op watchdog id 3 = {}", watchdog(3, 10));
    say!(guest, "sched_op watchdog at {NO_RAM:#x} = {}", call(SCHED_OP, &[6, NO_RAM]));
    say!(guest, "sched_op pin_override = {}", call(SCHED_OP, &[7, buf]));
    say!(guest, "sched_op unknown command 99 = {}", call(SCHED_OP, &[99, buf]));
}

fn others(guest: &Guest) {
    let buf = page(1);
    say!(guest, "physdev_op unknown command 99 = {}", call(PHYSDEV_OP, &[99, buf]));
    say!(guest, "sysctl at 0 = {}", call(SYSCTL, &[0]));
    say!(guest, "domctl at 0 = {}", call(DOMCTL, &[0]));
    for number in [0u64, 6, 16, 19, 43, 64, 1000, u64::MAX] {
        say!(guest, "hypercall {number:#x} = {}", call(number, &[0, 0, 0]));
    }
}
