/*
 * EL2 exception vectors (Arm ARM D1.10.2: VBAR_EL2 + 0x000/0x200/0x400/0x600 for
 * current EL with SP0, current EL with SPx, lower EL AArch64, lower EL AArch32).
 * Each entry saves x0..x3, tells the common path which vector it was and branches there;
 * the common path saves the rest of the trap frame and calls `handle_exception`.
 */

.macro vector kind
    .balign 0x80
    sub     sp, sp, #{frame_size}
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    mov     x1, #\kind
    b       exception_common
.endm

.section .text.vectors, "ax"
.balign 0x800
.global el2_vectors
el2_vectors:
    vector 0    /* current EL, SP0: synchronous */
    vector 1    /* current EL, SP0: IRQ */
    vector 2    /* current EL, SP0: FIQ */
    vector 3    /* current EL, SP0: SError */
    vector 4    /* current EL, SPx: synchronous */
    vector 5    /* current EL, SPx: IRQ */
    vector 6    /* current EL, SPx: FIQ */
    vector 7    /* current EL, SPx: SError */
    vector 8    /* lower EL, AArch64: synchronous */
    vector 9    /* lower EL, AArch64: IRQ */
    vector 10   /* lower EL, AArch64: FIQ */
    vector 11   /* lower EL, AArch64: SError */
    vector 12   /* lower EL, AArch32: synchronous */
    vector 13   /* lower EL, AArch32: IRQ */
    vector 14   /* lower EL, AArch32: FIQ */
    vector 15   /* lower EL, AArch32: SError */

exception_common:
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x30, x2, [sp, #240]
    str     x3, [sp, #256]
    mov     x0, sp
    bl      handle_exception

/* Restores the frame at sp and returns from the exception (also enters guests). */
.global exception_return
exception_return:
    ldp     x30, x2, [sp, #240]
    ldr     x3, [sp, #256]
    msr     elr_el2, x2
    msr     spsr_el2, x3
    ldp     x28, x29, [sp, #224]
    ldp     x26, x27, [sp, #208]
    ldp     x24, x25, [sp, #192]
    ldp     x22, x23, [sp, #176]
    ldp     x20, x21, [sp, #160]
    ldp     x18, x19, [sp, #144]
    ldp     x16, x17, [sp, #128]
    ldp     x14, x15, [sp, #112]
    ldp     x12, x13, [sp, #96]
    ldp     x10, x11, [sp, #80]
    ldp     x8, x9, [sp, #64]
    ldp     x6, x7, [sp, #48]
    ldp     x4, x5, [sp, #32]
    ldp     x2, x3, [sp, #16]
    ldp     x0, x1, [sp, #0]
    add     sp, sp, #{frame_size}
    eret
