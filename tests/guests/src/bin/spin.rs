//! The `spin` guest: measures how much CPU its partition gets. It counts loop iterations
//! (each the same few instructions) between two moments of its own virtual time and reports
//! the count, so that partitions sharing a CPU can be compared: their counts stand in the
//! ratio of their CPU shares. Under QEMU `-icount`, virtual time follows the instructions all
//! CPUs execute, so the counts repeat from run to run.
//!
//! Boot arguments: `spin.from=MS` and `spin.to=MS` bound the counting window in milliseconds
//! of the guest's virtual counter (it starts near zero when the partition starts), and
//! `spin.until=MS` (optional) keeps it spinning after its report, so that a partition started a
//! little later still shares the CPU to the end of its own window; or `spin.work=N`: run N
//! iterations, saying `start` before and `finished` after; or `spin.tick=MS` with
//! `spin.until=MS`: say `tick N` every MS milliseconds until then (a partition that keeps
//! printing while the operator acts on others), with `spin.hang=MS` (optional): on its first
//! boot only, fall silent after MS milliseconds and spin for ever with interrupts masked (a
//! partition that stops showing life: its heartbeat deadline catches it); or `spin.crash`:
//! write `ICC_SGI0R_EL1`, a GICv3 register that traps to the hypervisor and that it does not
//! emulate, which applies the partition's crash policy; or `spin.watchdog=S`: create a Xen
//! watchdog (`SCHEDOP_watchdog`) of S seconds, say so, then spin for ever with IRQs masked
//! and nothing that traps, so that only the hypervisor's own timer can notice it expire (with
//! `spin.wait` as well: wait for ever in WFI instead, with no interrupt that could end it, so
//! that a scheduler parks the vCPU and gives its CPU to others).
#![no_std]
#![no_main]

use test_guests::bootargs::{parse_number, value};
use test_guests::runtime::cpu::micros;
use test_guests::runtime::Guest;
use test_guests::say;

test_guests::entry!(main);

/// Iterations between two reads of the counter.
const BATCH: u64 = 1024;

/// One batch of iterations the compiler cannot fold away.
#[inline(never)]
fn batch(mut state: u64) -> u64 {
    for _ in 0..BATCH {
        state = core::hint::black_box(state.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    state
}

fn number(guest: &Guest, key: &str) -> Option<u64> {
    let text = value(guest.bootargs, key)?;
    match parse_number(text) {
        Ok(n) => Some(n),
        Err(e) => guest.fail(format_args!("{key}={text}: {e}")),
    }
}

fn main(guest: &'static Guest) -> ! {
    let mut state = 1;
    if guest.bootargs.split(' ').any(|word| word == "spin.crash") {
        say!(guest, "boot {}: crashing", guest.boot_count);
        // SAFETY: a write of zero to ICC_SGI0R_EL1 (S3_0_C12_C11_7) has no effect on the
        // guest's memory; it traps to the hypervisor, which is the point.
        unsafe { core::arch::asm!("msr S3_0_C12_C11_7, xzr", options(nostack)) };
        guest.fail(format_args!("the unemulated register write came back"));
    }
    if let Some(seconds) = number(guest, "spin.watchdog") {
        watchdog(guest, seconds, state);
    }
    if let Some(tick) = number(guest, "spin.tick") {
        let until = number(guest, "spin.until").unwrap_or(0);
        let hang = number(guest, "spin.hang").filter(|_| guest.boot_count == 1);
        let mut next = tick.max(1);
        let mut count = 0u64;
        while micros() < until * 1000 {
            if hang.is_some_and(|hang| micros() >= hang * 1000) {
                say!(guest, "falling silent");
                // SAFETY: masking this CPU's own interrupts touches no memory; the guest then
                // spins for ever, which is the point.
                unsafe { core::arch::asm!("msr daifset, #0xf", options(nostack)) };
                loop {
                    state = batch(state);
                    core::hint::black_box(state);
                }
            }
            if micros() >= next * 1000 {
                count += 1;
                say!(guest, "tick {count}");
                next += tick.max(1);
            }
            state = batch(state);
        }
    } else if let Some(work) = number(guest, "spin.work") {
        say!(guest, "start");
        for _ in 0..work.div_ceil(BATCH) {
            state = batch(state);
        }
        say!(guest, "finished {work} iterations");
    } else {
        let (Some(from), Some(to)) = (number(guest, "spin.from"), number(guest, "spin.to")) else {
            guest.fail(format_args!("give spin.from= and spin.to= (ms), or spin.work="));
        };
        while micros() < from * 1000 {
            state = batch(state);
        }
        let mut count = 0u64;
        while micros() < to * 1000 {
            state = batch(state);
            count += BATCH;
        }
        say!(guest, "{count} iterations from {from} ms to {to} ms");
        let until = number(guest, "spin.until").unwrap_or(0);
        while micros() < until * 1000 {
            state = batch(state);
        }
    }
    core::hint::black_box(state);
    say!(guest, "done");
    guest.psci.system_off()
}

/// Creates a Xen watchdog of `seconds` and spins with IRQs masked, never trapping.
fn watchdog(guest: &Guest, seconds: u64, mut state: u64) -> ! {
    // `struct sched_watchdog`: id 0 (create), timeout in seconds.
    let mut request = [0u32; 2];
    request[1] = seconds as u32;
    // SAFETY: SCHEDOP_watchdog (6) reads the 8-byte request and writes nothing.
    let id = unsafe { test_guests::runtime::xen::hypercall(29, [6, request.as_mut_ptr() as u64, 0, 0, 0]) };
    if id <= 0 {
        guest.fail(format_args!("SCHEDOP_watchdog create = {id}"));
    }
    test_guests::runtime::cpu::mask_interrupts();
    if guest.bootargs.split(' ').any(|word| word == "spin.wait") {
        say!(guest, "watchdog {id} armed for {seconds} s; waiting for ever");
        loop {
            test_guests::runtime::cpu::wait_for_interrupt();
        }
    }
    say!(guest, "watchdog {id} armed for {seconds} s; spinning with interrupts masked");
    loop {
        state = batch(state);
    }
}
