//! The image header, the primary and secondary entry points, the EL2 vector table and the guest
//! entry/exit paths.
//!
//! A loader enters `_start` like a Linux kernel (Documentation/arch/arm64/booting.rst): MMU off,
//! x0 = physical address of the device tree. Secondary CPUs enter `hyp_secondary_entry` through
//! the firmware's PSCI CPU_ON with their logical index as the context ID, or (released from a
//! firmware spin table, no argument guaranteed) `hyp_spin_table_entry`, which finds that index
//! from MPIDR_EL1 in [`HYP_CPU_AFFINITIES`].

use core::arch::global_asm;
use core::mem::{offset_of, size_of};
use core::sync::atomic::AtomicU64;

use super::GuestRegisters;

/// Bytes of stack for each physical CPU.
pub const STACK_SIZE: usize = 128 * 1024;
/// The most physical CPUs the hypervisor drives.
pub const MAX_PHYSICAL_CPUS: usize = 8;

#[repr(C, align(16))]
pub struct Stacks(pub [[u8; STACK_SIZE]; MAX_PHYSICAL_CPUS]);

/// The per-CPU stacks (in .bss, zeroed by the primary entry before use).
#[no_mangle]
pub static mut HYP_STACKS: Stacks = Stacks([[0; STACK_SIZE]; MAX_PHYSICAL_CPUS]);

/// MPIDR affinity of each logical CPU (boot CPU first), for `hyp_spin_table_entry`; unused
/// entries hold `NO_CPU`, which no MPIDR affinity (mask `MPIDR_AFFINITY_MASK`) equals. In .data
/// (not .bss, which the boot CPU zeroes) and read with the MMU off: see `spin_table`.
#[no_mangle]
pub static HYP_CPU_AFFINITIES: [AtomicU64; MAX_PHYSICAL_CPUS] =
    [const { AtomicU64::new(NO_CPU) }; MAX_PHYSICAL_CPUS];
/// An unused entry of [`HYP_CPU_AFFINITIES`].
pub const NO_CPU: u64 = u64::MAX;
/// The affinity fields of MPIDR_EL1 (Aff3 at 39:32, Aff2..Aff0 at 23:0), as `cpu::mpidr_affinity`.
pub const MPIDR_AFFINITY_MASK: u64 = 0xff_00ff_ffff;
const _: () = assert!(size_of::<AtomicU64>() == 8);

/// The kinds of exception entry, passed from the vector stubs to Rust.
pub mod exception_kind {
    pub const LOWER_SYNC: u64 = 0;
    pub const LOWER_IRQ: u64 = 1;
    pub const LOWER_FIQ: u64 = 2;
    pub const LOWER_SERROR: u64 = 3;
    pub const CURRENT_SYNC: u64 = 4;
    pub const CURRENT_IRQ: u64 = 5;
    pub const CURRENT_FIQ: u64 = 6;
    pub const CURRENT_SERROR: u64 = 7;
    pub const CURRENT_SP0: u64 = 8;
}

const FRAME_SIZE: usize = size_of::<GuestRegisters>();
const _: () = assert!(FRAME_SIZE.is_multiple_of(16));
const _: () = assert!(offset_of!(GuestRegisters, elr) == 31 * 8);
const _: () = assert!(offset_of!(GuestRegisters, spsr) == 32 * 8);

global_asm!(
    r#"
.section .text.head, "ax"
.global _start
_start:
    /* arm64 Image header: code0/code1, text_offset, image_size, flags (little endian, 4 KiB
     * pages, 2 MiB-aligned base close to the start of RAM), reserved, magic, reserved. */
    b       hyp_primary_entry
    .long   0
    .quad   __hyp_text_offset
    .quad   __hyp_image_size
    .quad   0x2
    .quad   0
    .quad   0
    .quad   0
    .ascii  "ARM\x64"
    .long   0

hyp_primary_entry:
    msr     daifset, #0xf
    mov     x19, x0
    /* Zero .bss (it holds the stacks, so before any call). */
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
1:  cmp     x1, x2
    b.hs    2f
    stp     xzr, xzr, [x1], #16
    b       1b
2:  adrp    x1, HYP_STACKS
    add     x1, x1, :lo12:HYP_STACKS
    mov     x2, #{stack_size}
    add     sp, x1, x2
    mov     x0, x19
    mrs     x1, CurrentEL
    lsr     x1, x1, #2
    bl      hyp_board_entry
3:  wfe
    b       3b

.global hyp_secondary_entry
hyp_secondary_entry:
    msr     daifset, #0xf
    /* x0 = logical CPU index, checked by the primary before it started us. */
    adrp    x1, HYP_STACKS
    add     x1, x1, :lo12:HYP_STACKS
    mov     x2, #{stack_size}
    madd    x1, x0, x2, x1
    add     sp, x1, x2
    bl      hyp_secondary_main
4:  wfe
    b       4b

/* A CPU released from a firmware spin table: MMU off, x0 undefined. Its logical index is its
 * position in HYP_CPU_AFFINITIES (from 1: the boot CPU never comes here); a CPU not listed (more
 * CPUs than hyp-arm drives) parks. */
.global hyp_spin_table_entry
hyp_spin_table_entry:
    msr     daifset, #0xf
    mrs     x1, mpidr_el1
    mov     x2, #{affinity_low}
    movk    x2, #{affinity_3}, lsl #32
    and     x1, x1, x2
    adrp    x2, HYP_CPU_AFFINITIES
    add     x2, x2, :lo12:HYP_CPU_AFFINITIES
    mov     x0, #1
6:  cmp     x0, #{max_cpus}
    b.hs    7f
    ldr     x3, [x2, x0, lsl #3]
    cmp     x3, x1
    b.eq    hyp_secondary_entry
    add     x0, x0, #1
    b       6b
7:  wfe
    b       7b

/* Guest exit: save x0-x30, ELR_EL2 and SPSR_EL2 into a GuestRegisters frame on this CPU's stack,
 * call hyp_handle_exception(frame, kind), restore the (possibly changed) frame and return. */
.macro EXCEPTION_STUB kind
    .balign 0x80
    sub     sp, sp, #{frame_size}
    stp     x0, x1, [sp, #0]
    mov     x0, #\kind
    b       hyp_exception_common
.endm

.section .text.vectors, "ax"
.balign 0x800
.global hyp_vectors
hyp_vectors:
    EXCEPTION_STUB {current_sp0}
    EXCEPTION_STUB {current_sp0}
    EXCEPTION_STUB {current_sp0}
    EXCEPTION_STUB {current_sp0}
    EXCEPTION_STUB {current_sync}
    EXCEPTION_STUB {current_irq}
    EXCEPTION_STUB {current_fiq}
    EXCEPTION_STUB {current_serror}
    EXCEPTION_STUB {lower_sync}
    EXCEPTION_STUB {lower_irq}
    EXCEPTION_STUB {lower_fiq}
    EXCEPTION_STUB {lower_serror}
    /* AArch32 lower ELs: the guest's EL1 is AArch64 (HCR_EL2.RW), but its EL0 may not be. */
    EXCEPTION_STUB {lower_sync}
    EXCEPTION_STUB {lower_irq}
    EXCEPTION_STUB {lower_fiq}
    EXCEPTION_STUB {lower_serror}

hyp_exception_common:
    stp     x2, x3, [sp, #16]
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
    mrs     x1, elr_el2
    mrs     x2, spsr_el2
    stp     x30, x1, [sp, #240]
    str     x2, [sp, #256]
    mov     x1, x0
    mov     x0, sp
    bl      hyp_handle_exception

.global hyp_guest_restore
hyp_guest_restore:
    ldr     x2, [sp, #256]
    ldp     x30, x1, [sp, #240]
    msr     spsr_el2, x2
    msr     elr_el2, x1
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

/* hyp_enter_guest(frame: *const GuestRegisters, stack_top: usize) -> !
 * Resets this CPU's stack, copies the frame to its top and enters the guest through the restore
 * path. The frame lives on the same stack, at or below the destination and possibly overlapping
 * it, so the copy runs from the end downwards (like memmove). */
.global hyp_enter_guest
hyp_enter_guest:
    add     x0, x0, #{frame_size}
    mov     x2, x1
    mov     x3, #({frame_size} / 16)
5:  ldp     x4, x5, [x0, #-16]!
    stp     x4, x5, [x2, #-16]!
    subs    x3, x3, #1
    b.ne    5b
    mov     sp, x1
    sub     sp, sp, #{frame_size}
    b       hyp_guest_restore
"#,
    stack_size = const STACK_SIZE,
    affinity_low = const MPIDR_AFFINITY_MASK & 0xff_ffff,
    affinity_3 = const MPIDR_AFFINITY_MASK >> 32,
    max_cpus = const MAX_PHYSICAL_CPUS,
    frame_size = const FRAME_SIZE,
    current_sp0 = const exception_kind::CURRENT_SP0,
    current_sync = const exception_kind::CURRENT_SYNC,
    current_irq = const exception_kind::CURRENT_IRQ,
    current_fiq = const exception_kind::CURRENT_FIQ,
    current_serror = const exception_kind::CURRENT_SERROR,
    lower_sync = const exception_kind::LOWER_SYNC,
    lower_irq = const exception_kind::LOWER_IRQ,
    lower_fiq = const exception_kind::LOWER_FIQ,
    lower_serror = const exception_kind::LOWER_SERROR,
);

extern "C" {
    /// The EL2 vector table (2 KiB aligned).
    pub static hyp_vectors: u8;
    /// The secondary CPUs' entry point, handed to the firmware's PSCI CPU_ON.
    pub fn hyp_secondary_entry();
    /// The entry written to a spin-table CPU's release address (no argument needed).
    pub fn hyp_spin_table_entry();
    /// Enters the guest with `frame` on a fresh stack ending at `stack_top`; never returns (the
    /// next guest exit arrives at the vectors).
    pub fn hyp_enter_guest(frame: *const GuestRegisters, stack_top: usize) -> !;
    /// Start and end of the image in memory (from the linker script).
    pub static __hyp_start: u8;
    pub static __hyp_end: u8;
}

/// The top of the stack of physical CPU `cpu`.
pub fn stack_top(cpu: usize) -> usize {
    let base = core::ptr::addr_of!(HYP_STACKS) as usize;
    base + (cpu.min(MAX_PHYSICAL_CPUS - 1) + 1) * STACK_SIZE
}

/// The physical range the hypervisor image occupies, .bss included.
pub fn image_range() -> (u64, u64) {
    (
        core::ptr::addr_of!(__hyp_start) as u64,
        core::ptr::addr_of!(__hyp_end) as u64,
    )
}
