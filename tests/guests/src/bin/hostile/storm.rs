//! The storm: every vCPU of the partition makes random operations until they have made
//! `hostile.storm=N` between them. Each operation is one of: an HVC or SMC with a random
//! function id and arguments, a Xen hypercall with wild pointers, a load or store of random
//! size at a random guest-physical address, an access of random size to a random register of
//! its emulated devices (virtual GIC distributor and redistributors, vPL011), an SGI with a
//! random ICC_SGI1R_EL1 value, a trapped system register (the EL1 physical timer's), a WFI
//! or WFE, or a PSCI CPU_ON, CPU_OFF, AFFINITY_INFO or CPU_SUSPEND of its own vCPUs. Every
//! operation must come back to the guest (an answer, an abort its own handler catches, a
//! wake-up): the hypervisor never stops, and the neighbour never notices.

use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use test_guests::config::Gic;
use test_guests::runtime::gic::InterruptController;
use test_guests::runtime::{cpu, probe_access, AccessSize, Guest};
use test_guests::say;

use super::Random;

/// The kinds of operation, in the order the summary reports them.
#[derive(Clone, Copy)]
enum Kind {
    Call,
    Hypercall,
    Memory,
    Device,
    Sgi,
    SystemRegister,
    Wait,
    Power,
}

const KINDS: usize = 8;
const NAMES: [&str; KINDS] = ["smccc calls", "xen hypercalls", "memory", "device", "sgis", "timer sysregs", "wfi/wfe", "psci cpu ops"];

/// Operations made so far, by every vCPU together.
static MADE: AtomicU64 = AtomicU64::new(0);
/// Operations by kind.
static BY_KIND: [AtomicU64; KINDS] = [const { AtomicU64::new(0) }; KINDS];
/// Accesses (memory and device) that came back as an abort.
static ABORTED: AtomicU64 = AtomicU64::new(0);
/// CPU_ON calls that started a vCPU.
static STARTED: AtomicU64 = AtomicU64::new(0);
/// The storm's size, set by the boot vCPU before any other starts.
static TARGET: AtomicU64 = AtomicU64::new(0);
/// Set once the storm is over: secondaries go to the race.
pub static OVER: AtomicBool = AtomicBool::new(false);
/// vCPUs that have reached the race's start line.
pub static AT_START: AtomicUsize = AtomicUsize::new(0);
/// The race's starting shot.
pub static GO: AtomicBool = AtomicBool::new(false);

/// Where the Xen hypercalls' "valid" pointers point: [`SCRATCH_SIZE`] bytes of the guest's
/// own RAM, with garbage, at the start of a window of [`SCRATCH_REACH`] bytes that holds none
/// of its code, data, stacks or device tree ([`scratch_window`]). The hypervisor writes
/// answers where such a pointer points, and a grant-table batch writes a status every
/// structure for as many structures as its count names (Xen's ABI, continued over several
/// traps): from a pointer into the image's own `.bss`, a count of a billion wrote a status
/// every 24 bytes over its statics, page tables and stacks up to the top of its RAM. So the
/// window is away from the image, and counts over it are kept within it ([`MOST_REQUESTS`]).
/// Set by the boot vCPU before any other starts.
static SCRATCH: AtomicU64 = AtomicU64::new(0);
const SCRATCH_SIZE: u64 = 4096;
const SCRATCH_REACH: u64 = 1 << 20;
/// The most structures a grant-table batch over the guest's own RAM may name, and the
/// largest of them (`gnttab_copy`, 40 bytes): all stay inside the window.
const MOST_REQUESTS: u64 = 4096;
const LARGEST_REQUEST: u64 = 40;
const _: () = assert!(SCRATCH_SIZE + MOST_REQUESTS * LARGEST_REQUEST <= SCRATCH_REACH);
/// The guest's own RAM at each end of a range that the window keeps clear of: its image,
/// stacks and tables at the start, its device tree at the top (as `hostile.fill` does).
const KEPT: u64 = 4 << 20;
/// Xen's grant_table_op(cmd, uop, count).
const HYPERVISOR_GRANT_TABLE_OP: u64 = 20;

/// The virtual GIC distributor, redistributors and vPL011 of Xen's guest layout (GICv3).
const VGIC_DISTRIBUTOR: u64 = 0x0300_1000;
const VGIC_REDISTRIBUTORS: u64 = 0x0302_0000;
const VGIC_REDISTRIBUTOR_REGION: u64 = 0x0100_0000;
const VGIC_REDISTRIBUTOR_STRIDE: u64 = 0x2_0000;
const VPL011: u64 = 0x2200_0000;
/// The stage-1 identity map reaches 512 GiB; the partition's IPA space is as large.
const IPA_SPACE: u64 = 1 << 39;
const SIZES: [AccessSize; 4] = [AccessSize::Byte, AccessSize::Half, AccessSize::Word, AccessSize::Double];

/// PSCI function ids (DEN0022 5.1): the 32-bit ids; bit 30 set is the SMC64 variant.
const CPU_SUSPEND: u64 = 0x8400_0001;
const CPU_OFF: u64 = 0x8400_0002;
const CPU_ON: u64 = 0xc400_0003;
const AFFINITY_INFO: u64 = 0xc400_0004;
const SYSTEM_RESET: u64 = 0x8400_0009;
/// Xen's sched_op hypercall: its commands block, shut down or arm a watchdog, so the storm
/// makes only SCHEDOP_yield (command 0) of it; `hostile.calls` and the `xenabi` guest make
/// the others.
const HYPERVISOR_SCHED_OP: u64 = 29;
/// Xen's console_io: the count is kept small (a wild count over valid memory would print
/// the guest's whole RAM, which is allowed but only slow).
const HYPERVISOR_CONSOLE_IO: u64 = 18;

/// Runs the boot vCPU's part: starts the others, storms until `target` operations were made
/// by all, and prints what they were.
pub fn run(guest: &'static Guest, target: u64) {
    match scratch_window(guest) {
        Some(base) => SCRATCH.store(base, Ordering::Release),
        None => guest.fail(format_args!("storm: no RAM range of {} MiB for its scratch window", (2 * KEPT + SCRATCH_REACH) >> 20)),
    }
    TARGET.store(target, Ordering::Release);
    let cpus = guest.cpus.mpidrs();
    for (index, &mpidr) in cpus.iter().enumerate().skip(1) {
        if let Err(error) = guest.psci.cpu_on(mpidr, index) {
            guest.fail(format_args!("cpu_on vcpu {index} (mpidr {mpidr:#x}): {error}"));
        }
    }
    let start = cpu::micros();
    storm(guest, 0);
    OVER.store(true, Ordering::Release);
    let took = cpu::micros().wrapping_sub(start) / 1000;
    // The other vCPUs finish the operation they were making (a console write among them)
    // before the summary, which starts on a line of its own: a console_io hypercall may
    // have left garbage without a newline.
    cpu::wait_until(20_000, || false);
    guest.console_write(b"\n");
    let made = MADE.load(Ordering::Acquire).min(target);
    say!(guest, "storm: {made} operations on {} vcpus in {took} ms", cpus.len());
    for (name, count) in NAMES.iter().zip(&BY_KIND) {
        say!(guest, "storm:   {name}: {}", count.load(Ordering::Relaxed));
    }
    say!(
        guest,
        "storm:   {} accesses aborted, {} vcpus started by cpu_on",
        ABORTED.load(Ordering::Relaxed),
        STARTED.load(Ordering::Relaxed)
    );
}

/// A secondary vCPU's part: storms while the storm lasts (it may be switched off and on
/// again meanwhile), then races.
pub fn secondary(guest: &'static Guest, index: usize) -> ! {
    if !OVER.load(Ordering::Acquire) {
        storm(guest, index);
    }
    race(guest, index)
}

/// Makes operations until every vCPU together has made the target.
fn storm(guest: &'static Guest, index: usize) {
    let mut random = Random(0x9e37_79b9_7f4a_7c15 ^ (index as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ cpu::micros());
    let target = TARGET.load(Ordering::Acquire);
    while MADE.fetch_add(1, Ordering::AcqRel) < target {
        let r = random.next();
        let kind = match r % 64 {
            0..=11 => Kind::Call,
            12..=19 => Kind::Hypercall,
            20..=35 => Kind::Memory,
            36..=47 => Kind::Device,
            48..=51 => Kind::Sgi,
            52..=55 => Kind::SystemRegister,
            56..=60 => Kind::Wait,
            _ => Kind::Power,
        };
        BY_KIND[kind as usize].fetch_add(1, Ordering::Relaxed);
        match kind {
            Kind::Call => call(&mut random),
            Kind::Hypercall => hypercall(guest, &mut random),
            Kind::Memory => memory(guest, &mut random),
            Kind::Device => device(&mut random),
            Kind::Sgi => sgi(&mut random),
            Kind::SystemRegister => timer_register(&mut random),
            Kind::Wait => wait(&mut random, index),
            Kind::Power => power(guest, &mut random, index),
        }
    }
}

/// An SMCCC call over `hvc #imm` or `smc #0`; returns x0.
fn smccc(smc: bool, hvc_immediate_one: bool, x: [u64; 4]) -> u64 {
    let out: u64;
    // SAFETY: an SMCCC call: the hypervisor answers in x0 and may change x1-x17 (declared);
    // no call that switches the guest off, resets it or starts a vCPU at a wild address is
    // made (the callers filter them), and no memory of the guest is passed.
    unsafe {
        if smc {
            asm!("smc #0", inout("x0") x[0] => out, inout("x1") x[1] => _, inout("x2") x[2] => _,
                inout("x3") x[3] => _, out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _,
                out("x9") _, out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _,
                out("x15") _, out("x16") _, out("x17") _, options(nostack));
        } else if hvc_immediate_one {
            asm!("hvc #1", inout("x0") x[0] => out, inout("x1") x[1] => _, inout("x2") x[2] => _,
                inout("x3") x[3] => _, out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _,
                out("x9") _, out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _,
                out("x15") _, out("x16") _, out("x17") _, options(nostack));
        } else {
            asm!("hvc #0", inout("x0") x[0] => out, inout("x1") x[1] => _, inout("x2") x[2] => _,
                inout("x3") x[3] => _, out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _,
                out("x9") _, out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _,
                out("x15") _, out("x16") _, out("x17") _, options(nostack));
        }
    }
    out
}

/// Whether a function id would switch the partition off, reset it, take a vCPU off or start
/// one (the storm makes those only through [`power`], with entries it controls).
fn power_changing(function: u64) -> bool {
    let id = function & 0xffff_ffff & !0x4000_0000;
    matches!(id, 0x8400_0002 | 0x8400_0003 | 0x8400_0008 | 0x8400_0009 | 0x8400_000e | 0x8400_0012 | 0x8400_0015)
}

/// A random SMCCC call: a wholly random id, or one of the standard service ranges (PSCI,
/// SMCCC architecture calls) with random arguments.
fn call(random: &mut Random) {
    let r = random.next();
    let function = match r % 4 {
        0 => random.next(),
        1 => 0x8400_0000 | (r >> 8) & 0x1f | if r & (1 << 40) != 0 { 0x4000_0000 } else { 0 },
        2 => 0x8000_0000 | (r >> 8) & 0xffff,
        _ => (r >> 8) & 0xffff_ffff,
    };
    let function = if power_changing(function) { 0x8400_0000 } else { function };
    let x = [function, random.next(), random.next(), random.next()];
    smccc(r & (1 << 45) != 0, r & (3 << 46) == 0, x);
}

/// The scratch window's base: the middle of the first RAM range with room for it between
/// the [`KEPT`] ends, page-aligned.
fn scratch_window(guest: &Guest) -> Option<u64> {
    guest.memory.ranges().iter().find_map(|span| {
        let base = span.start.checked_add(span.size / 2)? & !0xfff;
        let end = span.start.checked_add(span.size)?.checked_sub(KEPT)?;
        (base >= span.start.checked_add(KEPT)? && base.checked_add(SCRATCH_REACH)? <= end).then_some(base)
    })
}

/// Whether `address` is in the guest's own RAM.
fn own(guest: &Guest, address: u64) -> bool {
    guest.memory.ranges().iter().any(|span| address.wrapping_sub(span.start) < span.size)
}

/// A pointer for a hypercall argument: wild, null, in the scratch words (valid, garbage),
/// straddling the end of its RAM (where its device tree ends long before), or in its
/// emulated devices. A wild pointer that falls in its own RAM (about one random IPA in
/// 8,000) points into the scratch words instead: the hypervisor may write there.
fn pointer(guest: &Guest, random: &mut Random) -> u64 {
    let r = random.next();
    let scratch = SCRATCH.load(Ordering::Acquire);
    let wild = match r % 6 {
        0 => random.next(),
        1 => 0,
        2 => return scratch + (r >> 8) % SCRATCH_SIZE,
        3 => return guest.memory.ranges().first().map_or(0, |span| span.start + span.size - 1 - (r >> 8) % 8),
        4 => VGIC_DISTRIBUTOR + (r >> 8) % 0x1_0000,
        _ => (r >> 8) % IPA_SPACE,
    };
    if own(guest, wild) { scratch + wild % SCRATCH_SIZE } else { wild }
}

/// A Xen hypercall (`hvc #0xea1`, number in x16) with a random number and command, wild
/// pointers, and garbage in the scratch words the valid pointers name.
fn hypercall(guest: &Guest, random: &mut Random) {
    let scratch = SCRATCH.load(Ordering::Acquire);
    for offset in (0..SCRATCH_SIZE).step_by(61 * 8) {
        // SAFETY: an aligned word of the scratch window, own RAM nothing of the guest lives
        // in (`scratch_window`), written only atomically by the guest's vCPUs.
        unsafe { AtomicU64::from_ptr((scratch + offset) as *mut u64) }.store(random.next(), Ordering::Relaxed);
    }
    let r = random.next();
    let number = if r & 0xf == 0 { random.next() } else { (r >> 4) % 48 };
    let command = if r & (1 << 12) != 0 { random.next() } else { (r >> 13) % 16 };
    let mut x = [command, pointer(guest, random), pointer(guest, random), pointer(guest, random), random.next()];
    match number {
        HYPERVISOR_SCHED_OP => x[0] = 0,
        HYPERVISOR_CONSOLE_IO => x[1] = (r >> 20) % 64,
        // A batch over its own RAM stays inside the scratch window; over anything else its
        // count stays wild (the first structure faults).
        HYPERVISOR_GRANT_TABLE_OP if own(guest, x[1]) => x[2] %= MOST_REQUESTS + 1,
        _ => {}
    }
    // SAFETY: Xen's hypercall ABI: the answer in x0, x1-x5 and x16 may change (declared). The
    // calls that would stop, block or reset the guest are filtered above; what the valid
    // pointers let the hypervisor write is inside the scratch window, read by nothing.
    unsafe {
        asm!("hvc #0xea1", inout("x0") x[0] => _, inout("x1") x[1] => _, inout("x2") x[2] => _,
            inout("x3") x[3] => _, inout("x4") x[4] => _, out("x5") _, inout("x16") number => _,
            options(nostack));
    }
}

/// A load, or a store outside its own RAM, of random size at a random guest-physical
/// address: almost all of them are outside the partition and must come back as aborts.
fn memory(guest: &Guest, random: &mut Random) {
    let r = random.next();
    let size = SIZES[(r & 3) as usize];
    let address = ((r >> 8) % IPA_SPACE) & !(size.bytes() - 1);
    let store = r & 4 != 0 && !own(guest, address);
    // SAFETY: a load anywhere only returns a value (own RAM, or an abort); a store is made
    // only outside the guest's RAM, where nothing of the guest lives: its devices at worst,
    // which only this guest uses.
    if unsafe { probe_access(address, size, store.then(|| random.next())) }.is_err() {
        ABORTED.fetch_add(1, Ordering::Relaxed);
    }
}

/// An access of random size at a random offset of one of its emulated devices. The vPL011's
/// data register is only read (a store prints).
fn device(random: &mut Random) {
    let r = random.next();
    let size = SIZES[(r & 3) as usize];
    let (base, span) = match (r >> 2) % 4 {
        0 => (VGIC_DISTRIBUTOR, 0x1_0000),
        1 | 2 => (VGIC_REDISTRIBUTORS, VGIC_REDISTRIBUTOR_REGION),
        _ => (VPL011, 0x1000),
    };
    let offset = ((r >> 8) % span) & !(size.bytes() - 1);
    // Not stored: the vPL011's data register (it prints) and GICD_CTLR (a distributor one
    // vCPU switches off while another waits in WFI leaves that one waiting for good).
    let store = r & (1 << 4) != 0 && !(base == VPL011 && offset < 4) && !(base == VGIC_DISTRIBUTOR && offset < 4);
    // SAFETY: the guest's own emulated devices: whatever a register does, it changes only
    // this guest's interrupts and UART, on which the storm does not rely (a WFI is always
    // woken by the guest's own timer, which reaches the hypervisor whatever the vGIC says).
    if unsafe { probe_access(base + offset, size, store.then(|| random.next())) }.is_err() {
        ABORTED.fetch_add(1, Ordering::Relaxed);
    }
}

/// A GICv3 SGI (ICC_SGI1R_EL1, trapped) with random targets, INTID, affinity and IRM.
fn sgi(random: &mut Random) {
    let value = random.next();
    // SAFETY: a trapped write the hypervisor emulates: it only makes SGIs pending on this
    // partition's vCPUs.
    unsafe { asm!("msr S3_0_C12_C11_5, {}", in(reg) value, options(nostack)) };
}

/// A read or write of the EL1 physical timer (CNTP_CTL, CNTP_CVAL, CNTP_TVAL), which the
/// hypervisor traps and answers as a timer that never fires.
fn timer_register(random: &mut Random) {
    let r = random.next();
    let value = random.next();
    // SAFETY: trapped accesses with no effect on the guest's memory.
    unsafe {
        match r % 6 {
            0 => asm!("mrs {}, cntp_ctl_el0", out(reg) _, options(nostack)),
            1 => asm!("mrs {}, cntp_cval_el0", out(reg) _, options(nostack)),
            2 => asm!("mrs {}, cntp_tval_el0", out(reg) _, options(nostack)),
            3 => asm!("msr cntp_ctl_el0, {}", in(reg) value, options(nostack)),
            4 => asm!("msr cntp_cval_el0, {}", in(reg) value, options(nostack)),
            _ => asm!("msr cntp_tval_el0, {}", in(reg) value, options(nostack)),
        }
    }
}

/// A WFI, a WFE, or an SEV that ends other vCPUs' WFEs. Before a WFI the vCPU enables its
/// virtual timer's PPI again (the storm's random register writes may have switched it off,
/// and a WFI with no interrupt that can reach the vCPU waits for ever, on Bulkhead as on
/// hardware) and arms the timer a few microseconds ahead; after it, it acknowledges and ends
/// what is pending.
fn wait(random: &mut Random, index: usize) {
    use test_guests::runtime::cpu::virtual_timer;
    const TIMER_PPI: u32 = 27;
    let r = random.next();
    match r % 4 {
        0 | 1 => {
            let redistributor = VGIC_REDISTRIBUTORS + index as u64 * VGIC_REDISTRIBUTOR_STRIDE;
            // SAFETY: the guest's own virtual GIC frames, this vCPU's redistributor.
            let gic = unsafe { InterruptController::new(Gic::V3 { distributor: VGIC_DISTRIBUTOR, redistributor }) };
            gic.enable_private(TIMER_PPI, 0x80);
            // 0 to 63 ticks ahead (about a microsecond at 62.5 MHz), some already due.
            virtual_timer::arm(virtual_timer::count().wrapping_add((r >> 8) % 64), virtual_timer::ENABLE);
            cpu::wait_for_interrupt();
            for _ in 0..4 {
                let Some((raw, _)) = gic.acknowledge() else { break };
                gic.end(raw);
            }
        }
        // SAFETY: WFE and SEV only wait or signal events.
        2 => unsafe { asm!("sevl", "wfe", options(nomem, nostack, preserves_flags)) },
        // SAFETY: as above.
        _ => unsafe { asm!("sev", options(nomem, nostack, preserves_flags)) },
    }
}

/// PSCI on its own vCPUs: CPU_ON of a random vCPU at the guest's secondary entry (or at an
/// unaligned entry, or of an MPIDR it does not have), AFFINITY_INFO, CPU_SUSPEND, and, on a
/// secondary vCPU, CPU_OFF of itself (another vCPU may switch it on again).
fn power(guest: &'static Guest, random: &mut Random, index: usize) {
    let cpus = guest.cpus.mpidrs();
    let r = random.next();
    let target = (r >> 8) as usize % cpus.len();
    let mpidr = cpus[target];
    match r % 8 {
        0 | 1 => {
            if guest.psci.cpu_on(mpidr, target).is_ok() {
                STARTED.fetch_add(1, Ordering::Relaxed);
            }
        }
        2 => {
            // Unaligned entries are refused; so are MPIDRs the partition does not have.
            let entry = random.next() | 1;
            let _ = smccc(true, false, [CPU_ON, mpidr, entry, random.next()]);
            let _ = smccc(false, false, [CPU_ON, random.next() | 0x100, random.next() & !3, 0]);
        }
        3 | 4 => {
            let _ = smccc(r & (1 << 50) != 0, false, [AFFINITY_INFO, if r & 1 << 51 != 0 { mpidr } else { random.next() }, random.next() % 5, 0]);
        }
        5 => {
            let _ = smccc(false, false, [CPU_SUSPEND, random.next(), random.next(), random.next()]);
        }
        _ if index != 0 => {
            // Off; started again by another vCPU's CPU_ON (at the storm's secondary entry).
            let _ = smccc(r & 1 != 0, false, [CPU_OFF, 0, 0, 0]);
            guest.fail(format_args!("vcpu {index}: cpu_off returned"))
        }
        _ => {
            let _ = smccc(false, false, [AFFINITY_INFO, mpidr, 0, 0]);
        }
    }
}

/// The race at the storm's end: every vCPU on, then at one signal vCPUs 0 and 1 ask for
/// SYSTEM_RESET while the others switch vCPUs on and off: the partition must restart once,
/// into its next boot, with none of this run's requests leaking into it.
pub fn race(guest: &'static Guest, index: usize) -> ! {
    let cpus = guest.cpus.mpidrs();
    AT_START.fetch_add(1, Ordering::AcqRel);
    if index == 0 {
        // Every secondary on (some may be off after their own CPU_OFF), at the start line
        // within a second, then the shot.
        let all = cpu::wait_until(1_000_000, || {
            for (i, &mpidr) in cpus.iter().enumerate().skip(1) {
                let _ = guest.psci.cpu_on(mpidr, i);
            }
            AT_START.load(Ordering::Acquire) == cpus.len()
        });
        say!(guest, "race: {} of {} vcpus at the start{}", AT_START.load(Ordering::Acquire), cpus.len(), if all { "" } else { " (the others are late)" });
        GO.store(true, Ordering::Release);
    }
    while !GO.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    let mut random = Random(0x2545_f491_4f6c_dd1d ^ index as u64);
    if index <= 1 {
        let _ = smccc(index == 1, false, [SYSTEM_RESET, 0, 0, 0]);
        guest.fail(format_args!("vcpu {index}: system_reset returned"))
    }
    loop {
        let r = random.next();
        let target = (r >> 8) as usize % cpus.len();
        if r & 1 == 0 {
            let _ = guest.psci.cpu_on(cpus[target], target);
        } else {
            let _ = smccc(false, false, [CPU_OFF, 0, 0, 0]);
        }
    }
}
