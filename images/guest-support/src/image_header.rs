//! The arm64 Image header (Linux `Documentation/arch/arm64/booting.rst`), as a macro: the guest
//! crate expands it next to its entry code, naming its own entry symbol.

/// Emits the 64-byte arm64 Image header into section `.text.head`, whose first instruction
/// branches to the `extern "C"` symbol `$entry`. The linker script must place `.text.head` first
/// and define `__image_size` (the image with its `.bss`, which loaders keep free).
#[macro_export]
macro_rules! arm64_image_header {
    ($entry:path) => {
        ::core::arch::global_asm!(
            r#"
    .section .text.head, "ax"
    .global _start
_start:
    b       {entry}
    .word   0
    .quad   0x80000                 /* text_offset */
    .quad   __image_size            /* image_size, .bss included */
    .quad   0xa                     /* flags: little-endian, 4 KiB pages, anywhere in RAM */
    .quad   0, 0, 0
    .ascii  "ARM\x64"
    .word   0
"#,
            entry = sym $entry,
        );
    };
}
