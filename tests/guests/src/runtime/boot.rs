//! Boot code: the arm64 Image header, the drop from EL2, the identity map, the exception
//! vectors and the fault probe. With the PSCI call, the only assembly of the guests.
//!
//! The guests run with the EL1 MMU on. With it off every data access is Device memory,
//! where an unaligned access faults and exclusive loads and stores (the atomics the console
//! lock and the SMP guest use) need not work; Rust code freely makes unaligned accesses on
//! AArch64. So the entry code maps the whole 512 GiB a 39-bit address space reaches one to
//! one (4 KiB granule, lookup from level 1): 1 GiB blocks, except the lowest gigabyte, which a
//! level 2 table maps with 2 MiB blocks. The gigabyte holding the image, the gigabytes and
//! 2 MiB blocks the DTB may span and the 2 MiB blocks of Xen's grant-table window
//! ([`GRANT_WINDOW`], never executable) are Normal write-back inner shareable memory, all
//! else Device-nGnRnE. The grant window is Normal because the hypervisor reads and writes the
//! grant frames mapped there as Normal write-back memory, as Xen does and as Linux maps them;
//! two views of one location with different attributes are not coherent (Arm ARM,
//! "Mismatched memory attributes"; [`super::stage1`]). Every address is mapped, so a fault a
//! guest sees comes from the hypervisor's stage 2 or the bus, never from the guest's own
//! tables. (In Xen's guest memory map RAM starts at 1 GiB, so the lowest gigabyte holds the
//! emulated devices and the grant window only.)

use super::stage1::{GRANT_WINDOW, GRANT_WINDOW_SIZE};
use super::{BOOT_STACK_SIZE, SECONDARY_STACK_SIZE};
use crate::config::MAX_CPUS;

/// Largest DTB the boot protocol allows (Linux `Documentation/arch/arm64/booting.rst`).
pub const MAX_DTB_SIZE: usize = 2 << 20;
/// Addresses from here up are outside the identity map.
pub const IDENTITY_MAP_LIMIT: u64 = 1 << 39;

/// Image header flags: little endian, 4 KiB pages, placeable anywhere in RAM.
const IMAGE_FLAGS: u64 = 0b1010;
/// Where the Image sits above its 2 MiB-aligned RAM base.
const TEXT_OFFSET: u64 = 0x8_0000;
/// MAIR_EL1: attribute 0 Device-nGnRnE, attribute 1 Normal write-back, read/write-allocate.
const MAIR: u64 = 0xff << 8;
/// TCR_EL1: T0SZ = 25 (39-bit addresses), 4 KiB granule, non-cacheable table walks (the
/// table is written with the MMU off), TTBR1 walks disabled (EPD1). IPS is added at run time.
const TCR: u64 = 25 | (1 << 23);
/// SCTLR_EL1 RES1 bits (29, 28, 23, 22, 20, 11): little endian, MMU and caches off.
const SCTLR_MMU_OFF: u64 = 0x30d0_0800;
/// SCTLR_EL1 with M (MMU), C (data cache), SA (stack alignment check) and I (instruction cache).
const SCTLR_MMU_ON: u64 = SCTLR_MMU_OFF | 1 | (1 << 2) | (1 << 3) | (1 << 12);
/// Level 1 block: valid, AttrIndx 0, access flag, never executable (PXN, UXN).
const DEVICE_BLOCK: u64 = 1 | (1 << 10) | (1 << 53) | (1 << 54);
/// Level 1 block: valid, AttrIndx 1, inner shareable, access flag.
const NORMAL_BLOCK: u64 = 1 | (1 << 2) | (3 << 8) | (1 << 10);
/// Level 2 block of Normal memory that holds no code (the grant window, the DTB): as
/// [`NORMAL_BLOCK`], never executable (PXN, UXN).
const NORMAL_DATA_BLOCK: u64 = NORMAL_BLOCK | (1 << 53) | (1 << 54);
/// Level 1 table descriptor: valid, table.
const TABLE: u64 = 0b11;
/// The lowest gigabyte's 2 MiB blocks that hold the grant window: the first, and how many.
const WINDOW_FIRST_BLOCK: u64 = GRANT_WINDOW >> 21;
const WINDOW_BLOCKS: u64 = GRANT_WINDOW_SIZE.div_ceil(1 << 21);
const _: () = assert!(GRANT_WINDOW.is_multiple_of(1 << 21) && GRANT_WINDOW + GRANT_WINDOW_SIZE <= 1 << 30);
/// SPSR_EL2 for the drop to EL1: EL1h with D, A, I and F masked.
const SPSR_EL1H: u64 = 0x3c5;

core::arch::global_asm!(
    r#"
.section .text.head, "ax"
.global _start
_start:
    b       primary_entry           // code0
    .word   0                       // code1
    .quad   {text_offset}           // text_offset
    .quad   __image_size            // image_size
    .quad   {flags}                 // flags
    .quad   0                       // res2
    .quad   0                       // res3
    .quad   0                       // res4
    .word   0x644d5241              // magic "ARM\x64"
    .word   0                       // res5

primary_entry:
    mov     x19, x0
    bl      enter_el1
    // Linked for one address: stop if loaded elsewhere, as absolute pointers would be wrong.
    adr     x1, _start
    ldr     x2, =_start
    cmp     x1, x2
    b.ne    park
    mov     x0, x19
    bl      build_identity_map
    bl      enable_mmu
    adrp    x0, __bss_start
    add     x0, x0, :lo12:__bss_start
    adrp    x1, __bss_end
    add     x1, x1, :lo12:__bss_end
1:  cmp     x0, x1
    b.hs    2f
    stp     xzr, xzr, [x0], #16
    b       1b
2:  adrp    x0, boot_stack_top
    add     x0, x0, :lo12:boot_stack_top
    mov     sp, x0
    mov     x0, x19
    bl      test_guest_primary
    b       park

// PSCI CPU_ON enters here with x0 = the context id: the CPU's slot.
.global test_guest_secondary_entry
test_guest_secondary_entry:
    mov     x19, x0
    bl      enter_el1
    bl      enable_mmu
    cmp     x19, #{max_cpus}
    b.hs    park
    adrp    x1, secondary_stacks
    add     x1, x1, :lo12:secondary_stacks
    add     x2, x19, #1
    mov     x3, #{secondary_stack_size}
    madd    x1, x2, x3, x1
    mov     sp, x1
    mov     x0, x19
    bl      test_guest_secondary
park:
    wfe
    b       park

// At EL2 (QEMU virt with virtualization=on, no hypervisor): run on at EL1 instead.
enter_el1:
    mrs     x9, CurrentEL
    ubfx    x9, x9, #2, #2
    cmp     x9, #2
    b.ne    1f
    mov     x9, #(1 << 31)          // HCR_EL2.RW: EL1 is AArch64
    msr     hcr_el2, x9
    mrs     x9, cnthctl_el2
    orr     x9, x9, #3              // EL1PCTEN, EL1PCEN: EL1 may use the physical timer
    msr     cnthctl_el2, x9
    msr     cntvoff_el2, xzr
    ldr     x9, ={sctlr_mmu_off}
    msr     sctlr_el1, x9
    mov     x9, #{spsr_el1h}
    msr     spsr_el2, x9
    msr     elr_el2, x30
    isb
    eret
1:  ret

// x0 = DTB address. Fills the level 1 table and the lowest gigabyte's level 2 table, see the
// module documentation.
build_identity_map:
    adrp    x1, identity_map
    adr     x2, _start
    lsr     x2, x2, #30
    lsr     x3, x0, #30
    add     x4, x0, #{max_dtb_pages}, lsl #12
    sub     x4, x4, #1
    lsr     x4, x4, #30
    ldr     x5, ={device_block}
    ldr     x6, ={normal_block}
    mov     x7, #1                  // entry 0 is the level 2 table below
1:  cmp     x7, x2
    ccmp    x7, x3, #4, ne
    ccmp    x7, x4, #4, ne
    csel    x8, x6, x5, eq
    orr     x8, x8, x7, lsl #30
    str     x8, [x1, x7, lsl #3]
    add     x7, x7, #1
    cmp     x7, #512
    b.lo    1b
    adrp    x9, identity_map_low
    orr     x8, x9, #{table}
    str     x8, [x1]
    // 2 MiB block x7 is Normal if x7 - WINDOW_FIRST_BLOCK < WINDOW_BLOCKS (the grant window)
    // or x7 - (the DTB's first block) <= (its last block - its first), both unsigned.
    ldr     x6, ={normal_data_block}
    lsr     x3, x0, #21
    add     x4, x0, #{max_dtb_pages}, lsl #12
    sub     x4, x4, #1
    lsr     x4, x4, #21
    sub     x4, x4, x3
    mov     x7, #0
2:  sub     x10, x7, #{window_first_block}
    cmp     x10, #{window_blocks}
    sub     x11, x7, x3
    ccmp    x11, x4, #4, hs
    csel    x8, x6, x5, ls
    orr     x8, x8, x7, lsl #21
    str     x8, [x9, x7, lsl #3]
    add     x7, x7, #1
    cmp     x7, #512
    b.lo    2b
    dsb     sy
    ret

enable_mmu:
    adrp    x9, exception_vectors
    add     x9, x9, :lo12:exception_vectors
    msr     vbar_el1, x9
    ldr     x9, ={mair}
    msr     mair_el1, x9
    mrs     x9, id_aa64mmfr0_el1
    and     x9, x9, #0xf            // PARange, capped at 40 bits for IPS
    mov     x10, #2
    cmp     x9, x10
    csel    x9, x9, x10, lo
    ldr     x10, ={tcr}
    orr     x10, x10, x9, lsl #32
    msr     tcr_el1, x10
    adrp    x9, identity_map
    msr     ttbr0_el1, x9
    isb
    tlbi    vmalle1
    ic      iallu
    dsb     nsh
    isb
    ldr     x9, ={sctlr_mmu_on}
    msr     sctlr_el1, x9
    isb
    ret

// The probes: x0 = address (x4 = the value to store). Each returns x0 = the value read,
// x1 = ESR_EL1 of the fault (0: none), x2 = FAR_EL1. A fault of an access between
// probes_start and probes_end resumes at the next instruction (the vector below).
.macro probe name, access
.global \name
\name:
    mov     x1, #0
    mov     x2, #0
    \access
    ret
.endm

probes_start:
    probe test_guest_probe_read, "ldr x0, [x0]"
    probe test_guest_probe_read32, "ldr w0, [x0]"
    probe test_guest_probe_read16, "ldrh w0, [x0]"
    probe test_guest_probe_read8, "ldrb w0, [x0]"
    probe test_guest_probe_write64, "str x4, [x0]"
    probe test_guest_probe_write32, "str w4, [x0]"
    probe test_guest_probe_write16, "strh w4, [x0]"
    probe test_guest_probe_write8, "strb w4, [x0]"
probes_end:

// x0 = address to branch to. Returns x1 = ESR_EL1 of the fault (0: none), x2 = FAR_EL1; a
// fetch that does not fault runs whatever is there, so callers only probe addresses that
// must fault. The vector below returns here when x30 names probe_fetch_resume.
.global test_guest_probe_fetch
test_guest_probe_fetch:
    mov     x5, x30
    mov     x1, #0
    mov     x2, #0
    blr     x0
probe_fetch_resume:
    mov     x30, x5
    ret

// SCHEDOP_block (hypercall 29, command 1): returns x0 = the result. Clobbers x1-x17 (the
// hypercall's) and x30; see the IRQ vector below for the interrupt taken on its return.
.global test_guest_xen_block
test_guest_xen_block:
    mov     x16, #29
    mov     x0, #1
    mov     x1, #0
    hvc     #0xea1
xen_block_resume:
    ret

.macro unexpected_vector kind
    .balign 0x80
    mov     x0, #\kind
    b       unexpected_exception
.endm

.section .text.vectors, "ax"
.balign 0x800
exception_vectors:
    unexpected_vector 0
    unexpected_vector 1
    unexpected_vector 2
    unexpected_vector 3
    // Synchronous, current EL with SP_ELx: a fault of a probe's access resumes after it, and
    // an instruction abort of the fetch probe (x30 names its return point) returns there.
    .balign 0x80
    mrs     x1, elr_el1
    adr     x2, probes_start
    cmp     x1, x2
    b.lo    1f
    adr     x2, probes_end
    cmp     x1, x2
    b.hs    1f
    add     x3, x1, #4
    mrs     x1, esr_el1
    mrs     x2, far_el1
    msr     elr_el1, x3
    eret
1:  adr     x3, probe_fetch_resume
    cmp     x30, x3
    b.ne    2f
    mrs     x1, esr_el1
    lsr     x4, x1, #26
    cmp     x4, #0x21
    b.ne    2f
    mrs     x2, far_el1
    msr     elr_el1, x3
    eret
2:  mov     x0, #4
    b       unexpected_exception
    // IRQ, current EL with SP_ELx: Xen's SCHEDOP_block unmasks IRQs in the caller's PSTATE,
    // so the interrupt that ended the block is taken on return from the `hvc` of
    // test_guest_xen_block. Mask IRQs again at that point and resume: the interrupt stays
    // pending for the caller to acknowledge at the GIC.
    .balign 0x80
    mrs     x9, elr_el1
    adr     x10, xen_block_resume
    cmp     x9, x10
    b.ne    1f
    mrs     x9, spsr_el1
    orr     x9, x9, #0x80
    msr     spsr_el1, x9
    eret
1:  mov     x0, #5
    b       unexpected_exception
    unexpected_vector 6
    unexpected_vector 7
    unexpected_vector 8
    unexpected_vector 9
    unexpected_vector 10
    unexpected_vector 11
    unexpected_vector 12
    unexpected_vector 13
    unexpected_vector 14
    unexpected_vector 15

unexpected_exception:
    mrs     x1, esr_el1
    mrs     x2, elr_el1
    mrs     x3, far_el1
    bl      test_guest_unexpected_exception
    b       park

.section .identity_map, "aw", %nobits
.balign 4096
identity_map:
    .space  4096
identity_map_low:
    .space  4096

.section .stacks, "aw", %nobits
.balign 16
boot_stack:
    .space  {boot_stack_size}
boot_stack_top:
secondary_stacks:
    .space  {secondary_stacks_size}
"#,
    text_offset = const TEXT_OFFSET,
    flags = const IMAGE_FLAGS,
    max_cpus = const MAX_CPUS,
    secondary_stack_size = const SECONDARY_STACK_SIZE,
    sctlr_mmu_off = const SCTLR_MMU_OFF,
    sctlr_mmu_on = const SCTLR_MMU_ON,
    spsr_el1h = const SPSR_EL1H,
    max_dtb_pages = const MAX_DTB_SIZE >> 12,
    device_block = const DEVICE_BLOCK,
    normal_block = const NORMAL_BLOCK,
    normal_data_block = const NORMAL_DATA_BLOCK,
    table = const TABLE,
    window_first_block = const WINDOW_FIRST_BLOCK,
    window_blocks = const WINDOW_BLOCKS,
    mair = const MAIR,
    tcr = const TCR,
    boot_stack_size = const BOOT_STACK_SIZE,
    secondary_stacks_size = const SECONDARY_STACK_SIZE * MAX_CPUS,
);
