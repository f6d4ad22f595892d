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
//! emulate, which applies the partition's crash policy.
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
