//! The arm64 Image header, the entry code and the EL1 vector table.
//!
//! The hypervisor enters the image like a Linux kernel (Documentation/arch/arm64/booting.rst):
//! EL1h, MMU off, interrupts masked, x0 = the device tree. The image is linked at its RAM base
//! (text_offset 0) and is not position-independent, so the entry code first checks, with
//! PC-relative and absolute addresses of `_start`, that it runs where it was linked.

use core::arch::global_asm;

/// Bytes of stack; everything runs on this one stack, exceptions included.
pub const STACK_SIZE: usize = 16 * 1024;

/// The stack, in .bss (so inside the header's image_size and zeroed by the entry code before
/// anything uses it).
#[repr(C, align(16))]
pub struct Stack([u8; STACK_SIZE]);

/// Only the entry code touches it, through `sp`.
#[no_mangle]
static mut STACK: Stack = Stack([0; STACK_SIZE]);

/// Size of the frame the IRQ vector saves: x0-x18, x29 (frame pointer), x30 (link register),
/// rounded up to keep sp 16-byte aligned.
const IRQ_FRAME_SIZE: usize = 176;

// The header: code0 branches over it, image_size includes .bss, flags = 0b0010 (little-endian,
// 4 KiB pages, placed near the start of RAM: the image is linked at its RAM base).
global_asm!(
    r#"
    .section .text.head, "ax"
    .global _start
_start:
    b       {primary}
    .word   0
    .quad   0                       /* text_offset */
    .quad   __image_size            /* image_size, .bss included */
    .quad   0x2                     /* flags */
    .quad   0, 0, 0
    .ascii  "ARM\x64"
    .word   0
"#,
    primary = sym primary_entry,
);

global_asm!(
    r#"
    .section .text.entry, "ax"
    .global {primary}
{primary}:
    msr     daifset, #0xf
    mov     x19, x0                 /* the device tree */
    /* The stack, PC-relatively: usable even when loaded at the wrong address. */
    adrp    x1, {stack}
    add     x1, x1, :lo12:{stack}
    add     sp, x1, #{stack_size}
    adr     x20, _start             /* where we run */
    ldr     x21, =_start            /* where we were linked */
    cmp     x20, x21
    b.ne    2f
    adrp    x1, {vectors}
    add     x1, x1, :lo12:{vectors}
    msr     vbar_el1, x1
    isb
    /* Zero .bss below the stack, then the stack area beneath sp is zero too: it is all one
     * region and nothing is on the stack yet. */
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
1:  cmp     x1, x2
    b.hs    3f
    str     xzr, [x1], #8
    b       1b
3:  mov     x0, x19
    bl      {main}
    b       {park}
2:  mov     x0, x20
    mov     x1, x21
    bl      {wrong_address}
    b       {park}
    .ltorg
"#,
    primary = sym primary_entry,
    stack = sym STACK,
    stack_size = const STACK_SIZE,
    vectors = sym vectors,
    main = sym crate::main,
    wrong_address = sym crate::exceptions::loaded_at_wrong_address,
    park = sym crate::exceptions::park,
);

// The vector table (Arm ARM D1.10.2): 16 entries of 0x80 bytes. The firmware runs at EL1 on
// SP_EL1 (EL1h); IRQs from there (entry 5) go to the interrupt handler and return. Anything else
// is unexpected: its vector number, ESR, ELR and FAR are reported and the domain parks.
global_asm!(
    r#"
    .section .text.vectors, "ax"
    .balign 0x800
    .global {vectors}
{vectors}:
    .set entry, 0
    .rept 16
    .balign 0x80
    .if entry == 5
    sub     sp, sp, #{frame}
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
    add     sp, sp, #{frame}
    eret
    .else
    /* The domain parks after this: restart on a fresh stack, in case sp itself is the fault. */
    adrp    x4, {stack}
    add     x4, x4, :lo12:{stack}
    add     sp, x4, #{stack_size}
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
    frame = const IRQ_FRAME_SIZE,
    stack = sym STACK,
    stack_size = const STACK_SIZE,
    irq = sym crate::exceptions::irq_handler,
    unexpected = sym crate::exceptions::unexpected_exception,
);

extern "C" {
    fn primary_entry() -> !;
    fn vectors();
}
