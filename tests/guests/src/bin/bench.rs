//! The `bench` guest: times, from inside a partition, what a hypervisor costs a guest, the
//! same way on any hypervisor with Xen's guest interfaces (PSCI over the device tree's
//! conduit, an SBSA UART and a GIC where the tree says). Each case takes [`SAMPLES`] samples
//! in virtual counter ticks after [`WARMUP`] untimed rounds, then prints its minimum, median
//! and maximum and every sample value with its count, in lines `cargo xtask bench` parses:
//!
//! - `bench.counter HZ`: the counter frequency;
//! - `bench.result CASE n=N min=A median=B max=C warmup=W` (W untimed rounds came first);
//! - `bench.hist CASE VALUE*COUNT ...` (several lines per case, values ascending);
//! - `bench.value CASE x0=0x...`: what a call returned (the first call; every call must agree);
//! - `bench.boot cntpct=N`: with `bench.mode=boot`, the physical counter when `main` starts,
//!   and nothing else;
//! - with `bench.mode=timer`, only the `counter` and `timer-irq` cases (no hypervisor call:
//!   it also runs on bare QEMU, the baseline of the direct-delivery row);
//! - `bench.done`.
//!
//! Cases: `counter` (two back-to-back counter reads: the bracket's own cost), `null-trap`
//! (PSCI_VERSION), `mmio-read` (the UART's flag register, which both hypervisors emulate),
//! `xen-version` (`hvc #0xea1`, x16 = 17, XENVER_version), `timer-irq` (the virtual timer
//! set [`TIMER_DELTA`] ticks ahead, the guest in WFI: counter at the wake-up minus the
//! compare value), then, when the device tree has a `/hypervisor` node (the partition has
//! `xen,enhanced`, so a grant table), `grant-map-unmap` (`GNTTABOP_map_grant_ref` of a grant
//! of its own page to itself over a page it gave back, then `GNTTABOP_unmap_grant_ref`) and
//! `grant-copy` (`GNTTABOP_copy` of that granted page, 4 KiB, into another of its pages).
//!
//! With `bench.start=MS`, nothing is measured before the guest's counter reaches MS
//! milliseconds, so that partitions started after this one are running by then.
//!
//! Every round, untimed ones included, also brackets its operation with two markers
//! (`hint #0x7f`, a NOP) for a QEMU plugin that counts this CPU's own instructions between
//! them (`runtime/timing.rs`); in `timer-irq` the pair spans every wake-up up to the one
//! with the timer's interrupt.
#![no_std]
#![no_main]

use core::ptr::{addr_of_mut, read_volatile, write_volatile};

use test_guests::bootargs;
use test_guests::fdt::Fdt;
use test_guests::psci::PSCI_VERSION;
use test_guests::runtime::cpu::{micros, virtual_timer};
use test_guests::runtime::gic::InterruptController;
use test_guests::runtime::stage1::{require_normal, GRANT_WINDOW, GRANT_WINDOW_SIZE};
use test_guests::runtime::{self, timing, Guest};
use test_guests::say;
use test_guests::stats;

test_guests::entry!(main);

/// Timed samples per case.
const SAMPLES: usize = 1000;
/// Untimed rounds before the samples (caches, translation and branch predictors warm up).
const WARMUP: usize = 16;
/// How far ahead the timer case sets its deadline, in ticks: well beyond Xen's default timer
/// slop (50 us, 3125 ticks at 62.5 MHz), which would otherwise delay a closer deadline.
const TIMER_DELTA: u64 = 10_000;
/// The EL1 virtual timer's PPI.
const TIMER_PPI: u32 = 27;
/// The UART flag register's offset (PL011 TRM 3.3.3, SBSA UART).
const UART_FR: usize = 0x18;
/// Xen's `__HYPERVISOR_xen_version` and its `XENVER_version` command.
const XEN_VERSION: u64 = 17;
const XENVER_VERSION: u64 = 0;

fn main(guest: &'static Guest) -> ! {
    if bootargs::value(guest.bootargs, "bench.mode") == Some("boot") {
        let count = timing::physical_count();
        say!(guest, "bench.boot cntpct={count}");
        say!(guest, "bench.done");
        guest.psci.system_off()
    }
    if let Some(text) = bootargs::value(guest.bootargs, "bench.start") {
        // Let the other partitions start before anything is measured.
        let Ok(ms) = bootargs::parse_number(text) else {
            guest.fail(format_args!("bench.start={text}: not a number of milliseconds"));
        };
        while micros() < ms.saturating_mul(1000) {
            core::hint::spin_loop();
        }
    }
    say!(guest, "bench.counter {}", timing::counter_frequency());
    let mut samples = [0u64; SAMPLES];
    measure(guest, "counter", &mut samples, timing::empty);
    if bootargs::value(guest.bootargs, "bench.mode") == Some("timer") {
        timer_case(guest, &mut samples);
        say!(guest, "bench.done");
        guest.psci.system_off()
    }
    let conduit = guest.psci.conduit();
    let mut first = None;
    measure(guest, "null-trap", &mut samples, || {
        let (ticks, x0) = timing::smccc_call(conduit, PSCI_VERSION);
        agree(guest, "null-trap", &mut first, x0);
        ticks
    });
    let Some(uart) = runtime::console_uart_base() else {
        guest.fail(format_args!("no console UART to time a read of"));
    };
    // SAFETY: the console UART's flag register: mapped as Device memory by the boot code,
    // and reading it changes nothing.
    measure(guest, "mmio-read", &mut samples, || unsafe { timing::mmio_read32(uart + UART_FR) }.0);
    let mut first = None;
    measure(guest, "xen-version", &mut samples, || {
        // SAFETY: XENVER_version takes no buffer (argument 1 is 0) and writes no memory.
        let (ticks, x0) = unsafe { timing::xen_hypercall(XEN_VERSION, XENVER_VERSION, 0) };
        agree(guest, "xen-version", &mut first, x0);
        ticks
    });
    timer_case(guest, &mut samples);
    // Last, so that the other cases' samples keep their place in a plugin's count.
    if matches!(Fdt::new(guest.dtb).and_then(|tree| tree.find("/hypervisor")), Ok(Some(_))) {
        grant_cases(guest, &mut samples);
    }
    say!(guest, "bench.done");
    guest.psci.system_off()
}

/// Fails the guest unless every call of a case returns what the first one did; prints the
/// first value.
fn agree(guest: &Guest, case: &str, first: &mut Option<u64>, x0: u64) {
    match *first {
        None => {
            say!(guest, "bench.value {case} x0={x0:#x}");
            *first = Some(x0);
        }
        Some(value) if value != x0 => {
            guest.fail(format_args!("{case} returned {x0:#x} after {value:#x}"))
        }
        Some(_) => {}
    }
}

/// Runs `sample` [`WARMUP`] times untimed, then fills `samples` and reports them.
fn measure(guest: &Guest, case: &str, samples: &mut [u64], mut sample: impl FnMut() -> u64) {
    for _ in 0..WARMUP {
        sample();
    }
    for slot in samples.iter_mut() {
        *slot = sample();
    }
    report(guest, case, samples);
}

/// The timer case: the deadline [`TIMER_DELTA`] ticks ahead, WFI until the GIC has the timer's
/// interrupt, latency = counter at that wake-up - compare value.
fn timer_case(guest: &Guest, samples: &mut [u64]) {
    let Some(gic) = guest.gic else {
        guest.fail(format_args!("the device tree describes no GIC"));
    };
    // SAFETY: the frames come from the guest's own device tree, which the boot code maps as
    // Device memory, and nothing else in this guest touches the GIC.
    let gic = unsafe { InterruptController::new(gic) };
    gic.enable_private(TIMER_PPI, 0xa0);
    measure(guest, "timer-irq", samples, || {
        let deadline = virtual_timer::count() + TIMER_DELTA;
        virtual_timer::arm(deadline, virtual_timer::ENABLE);
        // The instruction-counting sample spans every wake-up until the timer's interrupt.
        timing::mark();
        loop {
            let woke = timing::wait_for_interrupt_then_count();
            let Some((raw, intid)) = gic.acknowledge() else { continue };
            timing::mark();
            if intid != TIMER_PPI {
                guest.fail(format_args!("interrupt {intid} arrived, not the timer's {TIMER_PPI}"));
            }
            virtual_timer::arm(0, 0);
            gic.end(raw);
            if woke < deadline {
                guest.fail(format_args!("the timer interrupt was pending at {woke}, before its deadline {deadline}"));
            }
            return woke - deadline;
        }
    });
}

const MEMORY_OP: u64 = 12;
const GRANT_TABLE_OP: u64 = 20;
const DECREASE_RESERVATION: u64 = 1;
const ADD_TO_PHYSMAP: u64 = 7;
const SPACE_GRANT_TABLE: u32 = 1;
const GNTTABOP_COPY: u64 = 5;
const DOMID_SELF: u16 = 0x7ff0;
/// The guest's own domain id: it is the only domain, the first one (1) on both hypervisors.
const OWN_DOMID: u16 = 1;
const GREF: u32 = 8;
/// `GTF_permit_access`, `GNTMAP_host_map`, `GNTCOPY_source_gref`.
const PERMIT: u32 = 1;
const HOST_MAP: u32 = 1 << 1;
const SOURCE_GREF: u16 = 1;
/// Offsets in the request page: the map request, the unmap request, the copy request, the
/// add_to_physmap and reservation arguments, and the reservation's extent list.
const MAP_AT: u64 = 0;
const UNMAP_AT: u64 = 64;
const COPY_AT: u64 = 128;
const PHYSMAP_AT: u64 = 256;
const RESERVATION_AT: u64 = 512;
const EXTENTS_AT: u64 = 1024;

/// Page 0: requests; 1: the granted page; 2: where the grant is mapped (given back first);
/// 3: the copy's destination.
#[repr(C, align(4096))]
struct GrantPages([[u8; 4096]; 4]);
static mut GRANT_PAGES: GrantPages = GrantPages([[0; 4096]; 4]);

fn grant_page(index: u64) -> u64 {
    (addr_of_mut!(GRANT_PAGES) as u64) + index * 4096
}

fn put(at: u64, bytes: &[u8]) {
    for (i, &b) in bytes.iter().enumerate() {
        // SAFETY: `at` is inside the grant pages (or the guest's own grant-table frame), which
        // the hypervisor reads only during the calls below.
        unsafe { write_volatile((at + i as u64) as *mut u8, b) };
    }
}

fn get16(at: u64) -> i16 {
    // SAFETY: as for `put`.
    unsafe { read_volatile(at as *const i16) }
}

/// Grant table map+unmap and copy: the guest grants its page 1 to itself as reference
/// [`GREF`] and maps it over its page 2, which it gives back first (both hypervisors then map
/// the grant where no RAM is), or copies it into page 3. Every call's answer and status is
/// checked; the copy's bytes once at the end.
fn grant_cases(guest: &Guest, samples: &mut [u64]) {
    let requests = grant_page(0);
    // The hypervisor reads the entries and the pages as Normal write-back memory: so must
    // this guest.
    require_normal(guest, "the grant-table window", GRANT_WINDOW, GRANT_WINDOW_SIZE);
    require_normal(guest, "the grant pages", grant_page(0), 4 * 4096);
    // Grant frame 0 at the window (`XENMEM_add_to_physmap`, XENMAPSPACE_grant_table).
    let physmap = requests + PHYSMAP_AT;
    put(physmap, &[0; 24]);
    put(physmap, &DOMID_SELF.to_le_bytes());
    put(physmap + 4, &SPACE_GRANT_TABLE.to_le_bytes());
    put(physmap + 16, &(GRANT_WINDOW >> 12).to_le_bytes());
    // SAFETY: the arguments are in the request page; the frame goes to the window, which
    // holds nothing of the guest's.
    let (_, rc) = unsafe { timing::xen_hypercall(MEMORY_OP, ADD_TO_PHYSMAP, physmap) };
    if rc != 0 {
        guest.fail(format_args!("add_to_physmap of grant frame 0 at {GRANT_WINDOW:#x} = {}", rc as i64));
    }
    // Page 2 given back (`XENMEM_decrease_reservation`, one extent of one page).
    let reservation = requests + RESERVATION_AT;
    put(requests + EXTENTS_AT, &(grant_page(2) >> 12).to_le_bytes());
    put(reservation, &[0; 32]);
    put(reservation, &(requests + EXTENTS_AT).to_le_bytes());
    put(reservation + 8, &1u64.to_le_bytes());
    put(reservation + 24, &DOMID_SELF.to_le_bytes());
    // SAFETY: page 2 is never touched again by the guest.
    let (_, done) = unsafe { timing::xen_hypercall(MEMORY_OP, DECREASE_RESERVATION, reservation) };
    if done != 1 {
        guest.fail(format_args!("decrease_reservation of page {:#x} = {}, not 1 extent", grant_page(2), done as i64));
    }
    // The granted page's pattern, then the entry: frame first, then flags and domain id.
    for i in 0..4096u64 {
        put(grant_page(1) + i, &[(i as u8).wrapping_mul(7).wrapping_add(3)]);
    }
    let entry = GRANT_WINDOW + u64::from(GREF) * 8;
    put(entry + 4, &((grant_page(1) >> 12) as u32).to_le_bytes());
    // SAFETY: a barrier has no operands.
    unsafe { core::arch::asm!("dmb ish", options(nostack)) };
    put(entry, &(PERMIT | u32::from(OWN_DOMID) << 16).to_le_bytes());

    // `gnttab_map_grant_ref`: host_addr, flags, ref, dom; `gnttab_unmap_grant_ref`: host_addr,
    // dev_bus_addr, handle (filled between the calls).
    let (map, unmap) = (requests + MAP_AT, requests + UNMAP_AT);
    put(map, &[0; 32]);
    put(map, &grant_page(2).to_le_bytes());
    put(map + 8, &HOST_MAP.to_le_bytes());
    put(map + 12, &GREF.to_le_bytes());
    put(map + 16, &OWN_DOMID.to_le_bytes());
    put(unmap, &[0; 24]);
    put(unmap, &grant_page(2).to_le_bytes());
    measure(guest, "grant-map-unmap", samples, || {
        // SAFETY: both requests are in the request page; the map's page 2 is not used.
        let (ticks, mapped, unmapped) = unsafe { timing::xen_grant_map_unmap(map, unmap) };
        let (map_status, unmap_status) = (get16(map + 18), get16(unmap + 20));
        if mapped != 0 || unmapped != 0 || map_status != 0 || unmap_status != 0 {
            guest.fail(format_args!(
                "grant map = {} (status {map_status}), unmap = {} (status {unmap_status})",
                mapped as i64, unmapped as i64
            ));
        }
        ticks
    });

    // `gnttab_copy`: source (ref, domid, offset), dest (gmfn, domid, offset), len, flags.
    let copy = requests + COPY_AT;
    put(copy, &[0; 40]);
    put(copy, &u64::from(GREF).to_le_bytes());
    put(copy + 8, &OWN_DOMID.to_le_bytes());
    put(copy + 16, &(grant_page(3) >> 12).to_le_bytes());
    put(copy + 24, &DOMID_SELF.to_le_bytes());
    put(copy + 32, &4096u16.to_le_bytes());
    put(copy + 34, &SOURCE_GREF.to_le_bytes());
    measure(guest, "grant-copy", samples, || {
        // SAFETY: the request is in the request page; the copy writes page 3 only.
        let (ticks, rc) = unsafe { timing::xen_hypercall3(GRANT_TABLE_OP, GNTTABOP_COPY, copy, 1) };
        let status = get16(copy + 36);
        if rc != 0 || status != 0 {
            guest.fail(format_args!("grant copy = {} (status {status})", rc as i64));
        }
        ticks
    });
    for i in 0..4096u64 {
        // SAFETY: page 3 is the guest's, written by the copies that are over.
        let found = unsafe { read_volatile((grant_page(3) + i) as *const u8) };
        if found != (i as u8).wrapping_mul(7).wrapping_add(3) {
            guest.fail(format_args!("grant copy: byte {i} of the destination is {found:#x}"));
        }
    }
}

/// Prints a case's summary and histogram lines.
fn report(guest: &Guest, case: &str, samples: &mut [u64]) {
    samples.sort_unstable();
    stats::report(case, samples, WARMUP, |line| guest.say(line));
}
