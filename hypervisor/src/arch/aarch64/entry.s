/*
 * Entry points of the hypervisor image, at EL2 with the MMU off.
 *
 * The image starts with the arm64 Linux Image header (Linux's
 * Documentation/arch/arm64/booting.rst), so QEMU's `-kernel`, U-Boot's `booti` and the
 * Raspberry Pi firmware all load it as a kernel and enter it with x0 = DTB.
 */

.macro adr_l, reg, sym
    adrp \reg, \sym
    add  \reg, \reg, :lo12:\sym
.endm

.section .text.head, "ax"
.global _start
_start:
    b       primary_entry           /* code0 */
    .word   0                       /* code1 */
    .quad   0                       /* text_offset: load 2 MiB aligned, anywhere */
    .quad   __image_size            /* image_size, including .bss, stacks and heap */
    .quad   0xa                     /* flags: little endian, 4 KiB pages, anywhere in RAM */
    .quad   0                       /* res2 */
    .quad   0                       /* res3 */
    .quad   0                       /* res4 */
    .ascii  "ARM\x64"               /* magic */
    .word   0                       /* res5 */

.section .text.entry, "ax"

/* The boot CPU. x0 = physical address of the device tree. */
primary_entry:
    msr     daifset, #0xf
    mov     x19, x0

    mrs     x1, CurrentEL
    cmp     x1, #(2 << 2)
    b.ne    wrong_el

    /*
     * Apply R_AARCH64_RELATIVE relocations: *(base + offset) = base + addend, for offsets in
     * the loaded data [__text_end, __image_end). Code is never relocated; a relocation below
     * that belongs to a section that is not loaded but is linked at 0 too (defmt's `.defmt`,
     * whose timestamp marker holds a pointer), and applying it would write over this code.
     */
    adr_l   x1, __image_start
    adr_l   x2, __rela_start
    adr_l   x3, __rela_end
    adr_l   x7, __text_end
    sub     x7, x7, x1
    adr_l   x8, __image_end
    sub     x8, x8, x1
1:  cmp     x2, x3
    b.hs    2f
    ldp     x4, x5, [x2], #16
    ldr     x6, [x2], #8
    cmp     x5, #1027               /* R_AARCH64_RELATIVE */
    b.ne    bad_relocation
    cmp     x4, x7
    b.lo    1b
    cmp     x4, x8
    b.hs    1b
    add     x6, x6, x1
    str     x6, [x1, x4]
    b       1b

    /* Zero .bss. Plain stores: with the MMU off memory is Device, where DC ZVA faults. */
2:  adr_l   x2, __bss_start
    adr_l   x3, __bss_end
    mov     x4, xzr
    bl      fill_words

    /*
     * Paint every stack and fault stack (guard pages too: they are not mapped yet) with
     * one word, so that how deep each has been can be read later (entry.rs, stack_use).
     */
    adr_l   x2, __stacks_start
    adr_l   x3, __stacks_end
    movz    x4, #{paint_0}
    movk    x4, #{paint_1}, lsl #16
    movk    x4, #{paint_2}, lsl #32
    movk    x4, #{paint_3}, lsl #48
    bl      fill_words

    /* CPU 0's stack is the first one. */
    adr_l   x1, STACKS
    movz    x2, #{stack_slot_low}
    movk    x2, #{stack_slot_high}, lsl #16
    add     sp, x1, x2
    msr     tpidr_el2, xzr

    adr_l   x1, el2_vectors
    msr     vbar_el2, x1
    isb

    mov     x0, x19
    bl      primary_main
    b       park

/*
 * A secondary CPU, started by PSCI CPU_ON or released from a spin table. The boot CPU
 * filled SECONDARY_BOOT (and cleaned it to the point of coherency) before starting it.
 * The MMU goes on before the first stack access, so that no line this CPU writes with
 * the MMU off can later be hidden by a stale cache line.
 */
.global secondary_entry
secondary_entry:
    msr     daifset, #0xf
    adr_l   x9, SECONDARY_BOOT
    ldp     x1, x2, [x9, #0]        /* mair_el2, tcr_el2 */
    ldp     x3, x4, [x9, #16]       /* ttbr0_el2, sctlr_el2 */
    ldp     x5, x6, [x9, #32]       /* stack top, cpu index */
    msr     mair_el2, x1
    msr     tcr_el2, x2
    msr     ttbr0_el2, x3
    isb
    tlbi    alle2
    dsb     nsh
    isb
    msr     sctlr_el2, x4
    isb
    mov     sp, x5
    msr     tpidr_el2, x6
    adr_l   x1, el2_vectors
    msr     vbar_el2, x1
    isb
    mov     x0, x6
    bl      secondary_main
    b       park

/*
 * Writes x4 to every word of [x2, x3), both 16-byte aligned, with plain stores: 256 bytes a
 * loop iteration (1.1 instructions per 16 bytes; the 800 KiB of stacks took 205 K
 * instructions 16 bytes at a time), then 16 bytes at a time. Uses no stack; clobbers x2
 * and x5.
 */
fill_words:
    sub     x5, x3, x2
    lsr     x5, x5, #8
    cbz     x5, 2f
1:
    .irp    offset, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240
    stp     x4, x4, [x2, #\offset]
    .endr
    stp     x4, x4, [x2], #256
    subs    x5, x5, #1
    b.ne    1b
2:  cmp     x2, x3
    b.hs    3f
    stp     x4, x4, [x2], #16
    b       2b
3:  ret

wrong_el:
bad_relocation:
park:
    wfe
    b       park
