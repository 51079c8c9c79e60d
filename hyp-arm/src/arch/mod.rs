//! AArch64 hardware access: entry, vectors, EL2 system registers, context switch.
