/*
 * EL2 exception vectors (Arm ARM, "Exception vectors": VBAR_EL2 + 0x000/0x200/0x400/0x600 for
 * current EL with SP0, current EL with SPx, lower EL AArch64, lower EL AArch32).
 *
 * Exceptions at EL2 are the hypervisor's own faults, every one fatal: each entry moves to
 * this CPU's fault stack (good even when SP_EL2 ran into the guard page below its stack,
 * where the old stack would fault again for ever), saves x0..x3, tells the common path which
 * vector it was and branches there; the common path saves the rest of the trap frame and
 * calls `handle_exception` (the fatal report). The entry needs two scratch registers before
 * it has a stack: TPIDR_EL1 holds x0 and TPIDRRO_EL0 the faulting SP meanwhile (a guest's
 * values, lost anyway: the board stops).
 *
 * Exceptions from a guest end `bulkhead_vcpu_run`: the entry saves the guest's registers
 * into the `GuestRegisters` that `bulkhead_vcpu_run` was given, restores the hypervisor's
 * callee-saved registers and returns the vector's index to its caller. While a guest runs,
 * SP_EL2 points at the frame `bulkhead_vcpu_run` pushed: [sp] holds the GuestRegisters
 * address, above it the hypervisor's x19..x30.
 */

.macro vector kind
    .balign 0x80
    msr     tpidr_el1, x0
    mov     x0, sp
    msr     tpidrro_el0, x0
    mrs     x0, tpidr_el2                   /* this CPU's index */
    and     x0, x0, #({max_cpus} - 1)
    add     x0, x0, #1
    lsl     x0, x0, #{fault_stack_shift}    /* the top of its fault stack slot, less the base */
    mov     sp, x0
    adrp    x0, FAULT_STACKS
    add     x0, x0, :lo12:FAULT_STACKS
    add     sp, sp, x0
    mrs     x0, tpidr_el1
    sub     sp, sp, #{frame_size}
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    mov     x1, #\kind
    b       exception_common
.endm

.macro guest_vector kind
    .balign 0x80
    stp     x0, x1, [sp, #-16]!
    mov     x1, #\kind
    b       guest_exit
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
    guest_vector 8    /* lower EL, AArch64: synchronous */
    guest_vector 9    /* lower EL, AArch64: IRQ */
    guest_vector 10   /* lower EL, AArch64: FIQ */
    guest_vector 11   /* lower EL, AArch64: SError */
    guest_vector 12   /* lower EL, AArch32: synchronous */
    guest_vector 13   /* lower EL, AArch32: IRQ */
    guest_vector 14   /* lower EL, AArch32: FIQ */
    guest_vector 15   /* lower EL, AArch32: SError */

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
    /* handle_exception does not return; park if it ever does. */
1:  wfe
    b       1b

/*
 * A guest exit: x1 = vector index, the guest's x0 and x1 at [sp], the GuestRegisters
 * address at [sp + 16].
 */
guest_exit:
    ldr     x0, [sp, #16]
    stp     x2, x3, [x0, #16]
    stp     x4, x5, [x0, #32]
    stp     x6, x7, [x0, #48]
    stp     x8, x9, [x0, #64]
    stp     x10, x11, [x0, #80]
    stp     x12, x13, [x0, #96]
    stp     x14, x15, [x0, #112]
    stp     x16, x17, [x0, #128]
    stp     x18, x19, [x0, #144]
    stp     x20, x21, [x0, #160]
    stp     x22, x23, [x0, #176]
    stp     x24, x25, [x0, #192]
    stp     x26, x27, [x0, #208]
    stp     x28, x29, [x0, #224]
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x30, x2, [x0, #240]
    str     x3, [x0, #256]
    ldp     x2, x3, [sp], #16
    stp     x2, x3, [x0, #0]
    mov     x0, x1
    /* Drop the GuestRegisters slot, then the hypervisor's callee-saved registers. */
    add     sp, sp, #16
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    add     sp, sp, #96
    ret

/*
 * u64 bulkhead_vcpu_run(GuestRegisters *regs): enters the guest with `regs` and returns the
 * index of the vector its next exception from the guest came through, with `regs` updated.
 */
.global bulkhead_vcpu_run
bulkhead_vcpu_run:
    sub     sp, sp, #96
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     x0, xzr, [sp, #-16]!
    ldp     x2, x3, [x0, #248]
    msr     elr_el2, x2
    msr     spsr_el2, x3
    ldp     x2, x3, [x0, #16]
    ldp     x4, x5, [x0, #32]
    ldp     x6, x7, [x0, #48]
    ldp     x8, x9, [x0, #64]
    ldp     x10, x11, [x0, #80]
    ldp     x12, x13, [x0, #96]
    ldp     x14, x15, [x0, #112]
    ldp     x16, x17, [x0, #128]
    ldp     x18, x19, [x0, #144]
    ldp     x20, x21, [x0, #160]
    ldp     x22, x23, [x0, #176]
    ldp     x24, x25, [x0, #192]
    ldp     x26, x27, [x0, #208]
    ldp     x28, x29, [x0, #224]
    ldr     x30, [x0, #240]
    ldp     x0, x1, [x0, #0]
    eret
