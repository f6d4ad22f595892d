//! This CPU: its identity, caches, counter and idling.

use aarch64_cpu::registers::{CNTFRQ_EL0, CNTPCT_EL0, MPIDR_EL1, TPIDR_EL2};
use core::arch::asm;
use tock_registers::interfaces::{Readable, Writeable};

/// The logical index of this CPU (its position in the device tree's `/cpus`), kept in
/// TPIDR_EL2 since the entry code.
pub fn index() -> usize {
    TPIDR_EL2.get() as usize
}

/// Records this CPU's logical index (the boot CPU's: the entry code starts it at 0).
pub fn set_index(index: usize) {
    TPIDR_EL2.set(index as u64);
}

/// The affinity fields of MPIDR_EL1 (Aff3..Aff0), as PSCI and device trees name CPUs.
pub fn mpidr() -> u64 {
    MPIDR_EL1.get() & 0xff_00ff_ffff
}

/// Runs the data cache maintenance instruction `$op` `$count` times on the operand `$first`,
/// `$first + $step`, ...: 16 a loop iteration (2.1 instructions each, where a loop of one an
/// iteration took 4). The caller states why `$op` on those operands is sound.
macro_rules! dc_strided {
    ($op:literal, $first:expr, $step:expr, $count:expr) => {{
        let (mut operand, step, count): (u64, u64, u64) = ($first, $step, $count);
        let (iterations, rest) = (count / 16, count % 16);
        // SAFETY: the caller's contract for `$op` on these operands.
        unsafe {
            asm!(
                "cbz {n}, 2f",
                "1:",
                ".rept 16",
                concat!("dc ", $op, ", {a}"),
                "add {a}, {a}, {step}",
                ".endr",
                "subs {n}, {n}, #1",
                "b.ne 1b",
                "2:",
                a = inout(reg) operand,
                n = inout(reg) iterations => _,
                step = in(reg) step,
                options(nostack),
            );
        }
        for _ in 0..rest {
            // SAFETY: as above.
            unsafe { asm!(concat!("dc ", $op, ", {}"), in(reg) operand, options(nostack, preserves_flags)) };
            operand += step;
        }
    }};
}

/// Runs the data cache maintenance instruction `$op` (by virtual address) on every line
/// holding `$start..$start + $len`, then `DSB SY`. Cleaning writes dirty data back and changes
/// no memory contents; invalidating is only for lines whose data memory holds.
macro_rules! each_line {
    ($op:literal, $start:expr, $len:expr) => {{
        let (start, len): (u64, u64) = ($start, $len);
        let line = dcache_line();
        let first = start & !(line - 1);
        let lines = start.saturating_add(len).saturating_sub(first).div_ceil(line);
        dc_strided!($op, first, line, lines);
        // SAFETY: a barrier has no memory-safety effect.
        unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
    }};
}

/// Cleans the data cache lines holding `start..start + len` to the point of coherency, so
/// that an observer with its caches off sees the data (Arm ARM, DC CVAC).
pub fn clean_dcache_to_poc(start: u64, len: u64) {
    each_line!("cvac", start, len);
}

/// Cache lines `zero_to_poc` zeroes and cleans in one loop iteration when a `DC ZVA` block is
/// one line: the loop's own two instructions then cost 1/16 of an instruction a line.
const LINES_AN_ITERATION: u64 = 32;

/// DCZID_EL0: whether `DC ZVA` is permitted and the size of the block it zeroes.
fn dczid() -> super::zeroing::Dczid {
    let dczid: u64;
    // SAFETY: reading DCZID_EL0 has no side effects (aarch64-cpu has no accessor for it).
    unsafe { asm!("mrs {}, dczid_el0", out(reg) dczid, options(nomem, nostack, preserves_flags)) };
    super::zeroing::Dczid(dczid)
}

/// Zeroes `start..start + len` and cleans it to the point of coherency, so that a guest with
/// its caches off reads zeros. The block-aligned body is zeroed with `DC ZVA` (Arm ARM,
/// DC ZVA), the unaligned head and tail with stores; when DCZID_EL0 prohibits `DC ZVA`, or
/// its block is smaller than a cache line, stores do it all. When the block is one cache
/// line (Cortex-A57, A72: 64 bytes) each block's `DC ZVA` is followed by its `DC CVAC`, 32
/// blocks a loop iteration: 98 instructions per 2 KiB, 3.06 a line (it was eight blocks an
/// iteration, 3.25 a line). A cache maintenance instruction by
/// address is ordered after an earlier store to the same line in program order (Arm ARM,
/// "Ordering and completion of data and instruction cache instructions"), and `DC ZVA` counts
/// as a store, so no barrier is needed between the two.
///
/// # Safety
/// `start..start + len` must be Normal memory (`DC ZVA` faults on Device memory) mapped
/// read-write at EL2 that nothing else uses meanwhile.
pub unsafe fn zero_to_poc(start: u64, len: u64) {
    let line = dcache_line();
    let plan = dczid()
        .block_bytes()
        .filter(|&block| block >= line)
        .and_then(|block| super::zeroing::cut(start, len, block).map(|cut| (block, cut)));
    let Some((block, cut)) = plan else {
        // SAFETY: the caller's contract.
        unsafe { core::ptr::write_bytes(start as *mut u8, 0, len as usize) };
        clean_dcache_to_poc(start, len);
        return;
    };
    for (address, size) in [cut.head, cut.tail] {
        if size != 0 {
            // SAFETY: head and tail lie inside the caller's range.
            unsafe { core::ptr::write_bytes(address as *mut u8, 0, size as usize) };
            clean_dcache_to_poc(address, size);
        }
    }
    let (mut address, blocks) = (cut.body.0, cut.body.1 / block);
    if block == line {
        let (iterations, rest) = (blocks / LINES_AN_ITERATION, blocks % LINES_AN_ITERATION);
        // SAFETY: the body lies inside the caller's range, block-aligned; `DC ZVA` and
        // `DC CVAC` write zeros there and clean them, touching nothing else.
        unsafe {
            asm!(
                "cbz {n}, 2f",
                "1:",
                ".rept {lines}",
                "dc zva, {a}", "dc cvac, {a}", "add {a}, {a}, {bs}",
                ".endr",
                "subs {n}, {n}, #1",
                "b.ne 1b",
                "2:",
                a = inout(reg) address,
                n = inout(reg) iterations => _,
                bs = in(reg) block,
                lines = const LINES_AN_ITERATION,
                options(nostack),
            );
        }
        for _ in 0..rest {
            // SAFETY: as above; `address` stays inside the body (fewer than
            // `LINES_AN_ITERATION` blocks remain).
            unsafe { asm!("dc zva, {a}", "dc cvac, {a}", a = in(reg) address, options(nostack, preserves_flags)) };
            address += block;
        }
    } else {
        let (eights, rest) = (blocks / 8, blocks % 8);
        // SAFETY: as above, with the cleaning done by line afterwards.
        unsafe {
            asm!(
                "cbz {n}, 2f",
                "1:",
                ".rept 8",
                "dc zva, {a}", "add {a}, {a}, {bs}",
                ".endr",
                "subs {n}, {n}, #1",
                "b.ne 1b",
                "2:",
                a = inout(reg) address,
                n = inout(reg) eights => _,
                bs = in(reg) block,
                options(nostack),
            );
        }
        for _ in 0..rest {
            // SAFETY: as above.
            unsafe { asm!("dc zva, {a}", a = in(reg) address, options(nostack, preserves_flags)) };
            address += block;
        }
        clean_dcache_to_poc(cut.body.0, cut.body.1);
    }
    // SAFETY: a barrier has no memory-safety effect.
    unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
}

/// Bytes the Non-cacheable zeroing loop writes with one instruction: four 16-byte SIMD
/// registers of zeros.
const UNCACHED_STORE: u64 = 64;

/// Zeroes `start..start + len` through a Normal Non-cacheable mapping, so the zeros go to
/// memory as they are written and need no clean: one `ST1` of four zeroed SIMD registers with
/// post-increment a 64-byte line, 32 a loop iteration (1.06 instructions a line). `DC ZVA`
/// would zero a line as well, but it takes its address in a register and has no
/// post-increment, so each line would cost it and an `ADD` (2.06 a line). The unaligned head
/// and tail take plain stores. The routine saves and restores the four SIMD registers it
/// uses (they may hold a guest's values: the world switch leaves them in the CPU), and needs
/// FP/SIMD untrapped at EL2 (`guest::untrap_fp_simd`, at each CPU's boot). Ends with
/// `DSB SY`, so the zeros have reached memory when it returns.
///
/// # Safety
/// `start..start + len` must be mapped Normal Non-cacheable read-write at EL2, with no line of
/// it in any cache, and nothing else may use it meanwhile.
pub unsafe fn zero_uncached(start: u64, len: u64) {
    match super::zeroing::cut(start, len, UNCACHED_STORE) {
        None => {
            // SAFETY: the caller's contract.
            unsafe { core::ptr::write_bytes(start as *mut u8, 0, len as usize) };
        }
        Some(cut) => {
            for (address, size) in [cut.head, cut.tail] {
                // SAFETY: head and tail lie inside the caller's range.
                unsafe { core::ptr::write_bytes(address as *mut u8, 0, size as usize) };
            }
            // SAFETY: the body lies inside the caller's range, 64-byte aligned; the routine
            // writes zeros there and preserves every register but its scratch x0 to x2.
            unsafe { bulkhead_zero_uncached(cut.body.0, cut.body.1 / UNCACHED_STORE) };
        }
    }
    // SAFETY: a barrier has no memory-safety effect.
    unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
}

unsafe extern "C" {
    /// Writes `blocks` times 64 zero bytes from `address` (64-byte aligned) on; saves and
    /// restores q0 to q3; clobbers x0 to x2 and the flags (a call clobbers them anyway).
    fn bulkhead_zero_uncached(address: u64, blocks: u64);
}

core::arch::global_asm!(
    ".arch_extension fp",
    ".arch_extension simd",
    ".global bulkhead_zero_uncached",
    "bulkhead_zero_uncached:",
    "    cbz x1, 4f",
    "    stp q0, q1, [sp, #-64]!",
    "    stp q2, q3, [sp, #32]",
    "    movi v0.2d, #0",
    "    movi v1.2d, #0",
    "    movi v2.2d, #0",
    "    movi v3.2d, #0",
    "    lsr x2, x1, #5",
    "    and x1, x1, #31",
    "    cbz x2, 2f",
    "1:",
    "    .rept 32",
    "    st1 {{v0.2d, v1.2d, v2.2d, v3.2d}}, [x0], #64",
    "    .endr",
    "    subs x2, x2, #1",
    "    b.ne 1b",
    "2:",
    "    cbz x1, 3f",
    "    st1 {{v0.2d, v1.2d, v2.2d, v3.2d}}, [x0], #64",
    "    sub x1, x1, #1",
    "    b 2b",
    "3:",
    "    ldp q2, q3, [sp, #32]",
    "    ldp q0, q1, [sp], #64",
    "4:",
    "    ret",
);

/// Cleans and invalidates every line of this CPU's data and unified caches up to the Level of
/// Coherence, by set and way (`DC CISW` over each level's sets and ways, Arm ARM,
/// "Data cache maintenance by set/way"): dirty lines are written back to memory, and no line
/// of any address is left in them. Only for the boot CPU before the others start: set/way
/// maintenance reaches this CPU's caches and the levels it shares, not another CPU's private
/// ones, and a line another CPU allocates meanwhile survives it. Uses CSSELR_EL1, which no
/// guest has used yet at that point.
pub fn clean_invalidate_dcache_all() {
    use super::set_way::{Clidr, Geometry};
    let (clidr, mmfr2): (u64, u64);
    // SAFETY: reading ID registers has no side effects (aarch64-cpu has no CLIDR_EL1 accessor).
    unsafe {
        asm!("mrs {}, clidr_el1", out(reg) clidr, options(nomem, nostack, preserves_flags));
        asm!("mrs {}, id_aa64mmfr2_el1", out(reg) mmfr2, options(nomem, nostack, preserves_flags));
    }
    let ccidx = (mmfr2 >> 20) & 0xf != 0;
    for level in Clidr(clidr).data_levels() {
        let ccsidr: u64;
        // SAFETY: selecting a cache level for CCSIDR_EL1 and reading it change no memory; the
        // ISB makes the read see the selection.
        unsafe {
            asm!("msr csselr_el1, {}", "isb", "mrs {}, ccsidr_el1", in(reg) u64::from(level - 1) << 1, out(reg) ccsidr, options(nostack, preserves_flags));
        }
        let geometry = Geometry::decode(ccsidr, ccidx);
        // Consecutive sets of one way differ by one line in the operand.
        let step = 1u64 << geometry.line_shift;
        for way in 0..geometry.ways {
            // Clean and invalidate writes dirty data back before discarding it, so no memory
            // contents change.
            dc_strided!("cisw", geometry.operand(level, 0, way), step, u64::from(geometry.sets));
        }
    }
    // SAFETY: barriers have no memory-safety effect.
    unsafe { asm!("dsb sy", "isb", options(nostack, preserves_flags)) };
}

/// Invalidates the data cache lines holding `start..start + len` (DC IVAC), so that the
/// next access reads memory. Only for memory whose up-to-date contents are in memory.
pub fn invalidate_dcache_to_poc(start: u64, len: u64) {
    // The caller guarantees memory already holds the right data for these lines, so
    // discarding cached copies loses nothing.
    each_line!("ivac", start, len);
}

/// Makes instructions written to memory visible to instruction fetches on every CPU: the
/// caller has cleaned the data cache over them to the point of coherency (which includes the
/// point of unification); this invalidates every instruction cache to the point of
/// unification, Inner Shareable (Arm ARM, IC IALLUIS), as needed before a guest
/// runs code its memory held before (a restarted partition, whatever its VMID tags).
pub fn invalidate_icache() {
    // SAFETY: invalidating instruction caches changes no memory contents; the barriers have
    // no memory-safety effect.
    unsafe { asm!("dsb ish", "ic ialluis", "dsb ish", "isb", options(nostack, preserves_flags)) };
}

/// The smallest data cache line in the system, from CTR_EL0.DminLine.
fn dcache_line() -> u64 {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects (aarch64-cpu has no accessor for it).
    unsafe { asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
    4 << ((ctr >> 16) & 0xf)
}

/// The physical counter (CNTPCT_EL0).
pub fn counter() -> u64 {
    CNTPCT_EL0.get()
}

/// The counter's frequency in Hz (CNTFRQ_EL0).
pub fn counter_frequency() -> u64 {
    CNTFRQ_EL0.get()
}

/// Nanoseconds since the counter started, from CNTPCT_EL0 and CNTFRQ_EL0.
pub fn now_ns() -> u64 {
    let freq = CNTFRQ_EL0.get().max(1);
    let ticks = CNTPCT_EL0.get();
    ((ticks as u128 * 1_000_000_000) / freq as u128) as u64
}

/// Waits for an event (or any interrupt), then returns.
pub fn wait_for_event() {
    // SAFETY: WFE only pauses this CPU.
    unsafe { asm!("wfe", options(nostack, preserves_flags)) };
}

/// Waits for an interrupt to be pending (taken or not: this CPU runs with them masked).
pub fn wait_for_interrupt() {
    // SAFETY: WFI only pauses this CPU.
    unsafe { asm!("dsb sy", "wfi", options(nostack, preserves_flags)) };
}

/// Wakes every CPU waiting in WFE.
pub fn send_event() {
    // SAFETY: SEV only signals an event; DSB first makes earlier stores visible.
    unsafe { asm!("dsb sy", "sev", options(nostack, preserves_flags)) };
}

/// Stops this CPU for good.
pub fn park() -> ! {
    loop {
        // SAFETY: masking interrupts and waiting only affects this CPU.
        unsafe { asm!("msr daifset, #0xf", "wfi", options(nostack, preserves_flags)) };
    }
}

/// Waits until every memory access this CPU made before it is complete (`DSB SY`): writes
/// through the Non-cacheable map have then reached memory, before a range's attributes change.
pub fn complete_accesses() {
    // SAFETY: a barrier has no memory-safety effect.
    unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
}
