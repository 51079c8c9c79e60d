//! The arm64 Image header, the entry point, the stack and the EL1 vector table.
//!
//! Synchronous exceptions are the guest's instrument: a probe that the hypervisor refuses comes
//! back as a data abort, which [`crate::fault::synchronous_exception`] records before execution
//! resumes after the faulting instruction. Every other vector is unexpected and reported.

use core::arch::global_asm;

/// Bytes of stack.
const STACK_SIZE: usize = 32 * 1024;

hyp_arm_guest_support::arm64_image_header!(primary_entry);

global_asm!(
    r#"
    .section .text.entry, "ax"
    .global {primary}
{primary}:
    mov     x19, x0                 /* the device tree */
    adrp    x1, {stack}
    add     x1, x1, :lo12:{stack}
    add     sp, x1, #{stack_size}
    adrp    x1, {vectors}
    add     x1, x1, :lo12:{vectors}
    msr     vbar_el1, x1
    isb
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
1:  cmp     x1, x2
    b.hs    2f
    str     xzr, [x1], #8
    b       1b
2:  mov     x0, x19
    bl      {main}
3:  wfi
    b       3b
"#,
    primary = sym primary_entry,
    stack = sym STACK,
    stack_size = const STACK_SIZE,
    vectors = sym vectors,
    main = sym crate::main,
);

// The vector table (Arm ARM D1.10.2): 16 entries of 0x80 bytes. The guest runs on SP_EL1 with
// IRQs masked, so entry 4 (current EL with SP_ELx, synchronous) is the one that matters: it saves
// the registers a call may change, lets Rust decide where to resume (ELR_EL1) and returns.
global_asm!(
    r#"
    .section .text.vectors, "ax"
    .balign 0x800
    .global {vectors}
{vectors}:
    .set entry, 0
    .rept 16
    .balign 0x80
    .if entry == 4
    sub     sp, sp, #160
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x30, [sp, #144]
    mrs     x0, esr_el1
    mrs     x1, elr_el1
    mrs     x2, far_el1
    bl      {synchronous}
    msr     elr_el1, x0
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x30, [sp, #144]
    add     sp, sp, #160
    eret
    .else
    mov     x0, #entry
    mrs     x1, esr_el1
    mrs     x2, elr_el1
    mrs     x3, far_el1
    b       {unexpected}
    .endif
    .set entry, entry + 1
    .endr
"#,
    vectors = sym vectors,
    synchronous = sym crate::fault::synchronous_exception,
    unexpected = sym crate::fault::unexpected_exception,
);

extern "C" {
    fn primary_entry() -> !;
    fn vectors();
}

/// The stack. Only the entry code touches it, through `sp`.
#[no_mangle]
static mut STACK: [u8; STACK_SIZE] = [0; STACK_SIZE];
