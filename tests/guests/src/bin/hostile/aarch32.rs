//! AArch32 EL0: the guest returns from EL1 into A32 code at EL0 (the CPU must implement
//! AArch32 at EL0, as Cortex-A57 and A72 do). A partition's EL1 is always AArch64 (the
//! hypervisor sets HCR_EL2.RW: an exception return to AArch32 EL1 is an illegal return that
//! stays at EL1), so AArch32 EL0 is all of AArch32 a guest can reach, and exceptions from it
//! reach EL2 through the lower-EL AArch64 vectors with AArch32 syndromes.
//!
//! Two steps, on its own vector table:
//! 1. the A32 code loads from a guest-physical address the partition does not have: the
//!    hypervisor injects a synchronous external abort, which the guest's own EL1 handler
//!    (lower EL, AArch32) must receive with the right syndrome and address, as on Xen;
//! 2. the A32 code reads CNTP_CTL with an MRC (EL0 access allowed by CNTKCTL_EL1.EL0PTEN,
//!    trapped to EL2 by CNTHCTL_EL2.EL1PCEN): a trapped AArch32 coprocessor access, which
//!    the hypervisor does not emulate, so the partition's crash policy must apply.

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicBool, Ordering};

use test_guests::esr::Esr;
use test_guests::runtime::Guest;
use test_guests::say;

/// The A32 code: `ldr r0, [r1]` then `b .` at offset 0 (Arm ARM F5.1.73, F5.1.18), and
/// `mrc p15, 0, r0, c14, c2, 1` (CNTP_CTL) then `b .` at offset 8 (F5.1.112).
#[repr(C, align(4096))]
struct Code([u32; 4]);

static A32_CODE: Code = Code([0xe591_0000, 0xeaff_fffe, 0xee1e_0f32, 0xeaff_fffe]);

/// The gigabyte whose stage-1 block is opened to EL0: Device memory in the guest's identity
/// map, mapped by nothing in its stage 2.
const TARGET: u64 = 0xc000_0000;
/// Stage-1 block descriptor AP\[1\] (bit 6): EL0 may read and write (Arm ARM D8.4.1).
const AP_EL0: u64 = 1 << 6;
/// SPSR for the return: AArch32 (M\[4\]), User mode (M\[3:0\] 0), A32 (T clear), A, I and F
/// masked.
const SPSR_AARCH32_USER: u64 = 0x10 | 0x1c0;
/// CNTKCTL_EL1.EL0PTEN: EL0 may access the physical timer (as far as EL1 is concerned).
const CNTKCTL_EL0PTEN: u64 = 1 << 9;

static GUEST: test_guests::once::Once<&'static Guest> = test_guests::once::Once::new();
/// Step 1's abort was received; a second exception at EL1 means step 2 came back.
static ABORTED: AtomicBool = AtomicBool::new(false);

global_asm!(
    r#"
.section .text.hostile_vectors, "ax"
.balign 0x800
hostile_aarch32_vectors:
    .rept 12
    .balign 0x80
    mrs     x0, esr_el1
    mrs     x1, elr_el1
    mrs     x2, far_el1
    b       hostile_unexpected
    .endr
    // Lower EL, AArch32, synchronous: on SP_EL1, the stack `drop_to_el0` left.
    .balign 0x80
    mrs     x0, esr_el1
    mrs     x1, far_el1
    b       hostile_aarch32_exception
    .rept 3
    .balign 0x80
    mrs     x0, esr_el1
    mrs     x1, elr_el1
    mrs     x2, far_el1
    b       hostile_unexpected
    .endr
"#
);

/// Installs the vector table, opens `TARGET`'s gigabyte to EL0 in the identity map, and
/// returns to AArch32 EL0 at step 1. Does not come back.
pub fn run(guest: &'static Guest) -> ! {
    let _ = GUEST.set(guest);
    // SAFETY: TTBR0_EL1 holds the guest's level 1 identity map (its boot code built it in
    // its own RAM, a 1 GiB block descriptor in every entry but 0); entry 3 describes `TARGET`'s
    // gigabyte, which the guest never uses. Setting AP[1] there lets EL0 reach it (the block
    // stays Device memory, never executable); the entry is cleaned to the point of coherency
    // (walks are non-cacheable) and the TLB invalidated before the return.
    unsafe {
        let table: u64;
        asm!("mrs {}, ttbr0_el1", out(reg) table, options(nomem, nostack, preserves_flags));
        let entry = ((table & 0x0000_ffff_ffff_f000) + 8 * (TARGET >> 30)) as *mut u64;
        entry.write_volatile(entry.read_volatile() | AP_EL0);
        asm!(
            "adrp {vectors}, hostile_aarch32_vectors",
            "add {vectors}, {vectors}, :lo12:hostile_aarch32_vectors",
            "msr vbar_el1, {vectors}",
            "dc civac, {entry}",
            "dsb sy",
            "tlbi vmalle1",
            "dsb sy",
            "isb",
            entry = in(reg) entry,
            vectors = out(reg) _,
            options(nostack),
        );
    }
    say!(guest, "aarch32: el0 loads from {TARGET:#x}, which this partition does not have");
    enter_el0(0)
}

/// Returns to AArch32 EL0 at `offset` bytes into the A32 code, with r1 = `TARGET`.
fn enter_el0(offset: u64) -> ! {
    let code = A32_CODE.0.as_ptr() as u64 + offset;
    // SAFETY: the return goes to the guest's own read-only A32 code at EL0 with every
    // interrupt masked; whatever it does comes back to this guest's vector table or ends
    // the partition's run (the EL1 stack pointer, left as it is, serves the vectors).
    unsafe {
        asm!(
            "msr elr_el1, {code}",
            "msr spsr_el1, {spsr}",
            "mov x1, {target}",
            "eret",
            code = in(reg) code,
            spsr = in(reg) SPSR_AARCH32_USER,
            target = in(reg) TARGET,
            options(noreturn, nostack),
        )
    }
}

/// Step 1's abort, taken at EL1 from AArch32 EL0; then step 2.
#[unsafe(no_mangle)]
extern "C" fn hostile_aarch32_exception(esr: u64, far: u64) -> ! {
    let Some(&guest) = GUEST.get() else { test_guests::runtime::park() };
    let esr = Esr(esr);
    if ABORTED.swap(true, Ordering::AcqRel) {
        guest.fail(format_args!("aarch32: the trapped CNTP_CTL read from el0 came back to el1 ({esr})"));
    }
    // EC 0x24 (data abort from a lower EL), DFSC 0x10 (synchronous external abort).
    if esr.0 >> 26 != 0x24 || esr.0 & 0x3f != 0x10 || far != TARGET {
        guest.fail(format_args!("aarch32: the el0 load from {TARGET:#x} came back as {esr}, FAR {far:#x}"));
    }
    say!(guest, "aarch32: the el0 load took an abort at {far:#x}, caught at el1 ({esr})");
    say!(guest, "aarch32: el0 reads CNTP_CTL with an mrc, which traps to the hypervisor");
    // SAFETY: CNTKCTL_EL1 only decides which timer registers EL0 may reach.
    unsafe {
        asm!("mrs {t}, cntkctl_el1", "orr {t}, {t}, {bit}", "msr cntkctl_el1, {t}", "isb",
            t = out(reg) _, bit = in(reg) CNTKCTL_EL0PTEN, options(nostack))
    };
    enter_el0(8)
}

/// Any other exception while the guest's own vectors are installed.
#[unsafe(no_mangle)]
extern "C" fn hostile_unexpected(esr: u64, elr: u64, far: u64) -> ! {
    let Some(&guest) = GUEST.get() else { test_guests::runtime::park() };
    guest.fail(format_args!("aarch32: unexpected exception ({}), ELR {elr:#x}, FAR {far:#x}", Esr(esr)))
}
