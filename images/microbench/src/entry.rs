//! The arm64 Image header (from `hyp-arm-guest-support`), the entry points of both CPUs, their
//! stacks and the EL1 vector table.
//!
//! Everything here addresses memory PC-relatively (`adr`, `adrp`), so the image runs wherever the
//! loader puts it.

use core::arch::global_asm;

/// Bytes of stack per CPU.
pub const STACK_SIZE: usize = 16 * 1024;

hyp_arm_guest_support::arm64_image_header!(primary_entry);

global_asm!(
    r#"
    .section .text.entry, "ax"
    .global {primary}
{primary}:
    mov     x19, x0                 /* the device tree */
    adrp    x1, {stacks}
    add     x1, x1, :lo12:{stacks}
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

    /* PSCI CPU_ON entry: x0 = context id = the top of this CPU's stack. */
    .global {secondary}
{secondary}:
    mov     sp, x0
    adrp    x1, {vectors}
    add     x1, x1, :lo12:{vectors}
    msr     vbar_el1, x1
    isb
    bl      {secondary_main}
4:  wfi
    b       4b
"#,
    primary = sym primary_entry,
    secondary = sym secondary_entry,
    stacks = sym STACKS,
    stack_size = const STACK_SIZE,
    vectors = sym vectors,
    main = sym crate::main,
    secondary_main = sym crate::secondary_main,
);

// The vector table (Arm ARM D1.10.2): 16 entries of 0x80 bytes. The benchmark runs on SP_EL1
// with interrupts as its only expected exceptions; anything else is reported and ends the run.
global_asm!(
    r#"
    .section .text.vectors, "ax"
    .balign 0x800
    .global {vectors}
{vectors}:
    .set entry, 0
    .rept 16
    .balign 0x80
    .if entry == 5                  /* current EL with SP_ELx, IRQ */
    sub     sp, sp, #176
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x29, [sp, #144]
    str     x30, [sp, #160]
    bl      {irq}
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x29, [sp, #144]
    ldr     x30, [sp, #160]
    add     sp, sp, #176
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
    irq = sym crate::irq_handler,
    unexpected = sym crate::unexpected_exception,
);

extern "C" {
    fn primary_entry() -> !;
    fn vectors();
    /// Where a CPU started with PSCI CPU_ON begins; its context id is the top of its stack.
    pub fn secondary_entry() -> !;
}

/// Both CPUs' stacks, CPU 0's first. Only the entry code touches them, through `sp`.
#[no_mangle]
static mut STACKS: [[u8; STACK_SIZE]; 2] = [[0; STACK_SIZE]; 2];

/// The top of CPU 1's stack, to pass as its CPU_ON context id.
pub fn secondary_stack_top() -> u64 {
    // `&raw const` makes no reference, so this does not race with the CPU using the stack;
    // the address is formed PC-relatively.
    let base = &raw const STACKS;
    base as u64 + 2 * STACK_SIZE as u64
}
