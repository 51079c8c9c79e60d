//! The memory barriers the GIC sequences need (Arm ARM B2.3), as no-ops when built for the host.

/// DSB SY: every earlier memory access, including the system register access before it, has completed.
pub(crate) fn dsb_sy() {
    #[cfg(target_arch = "aarch64")]
    aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::SY);
}

/// DSB ISHST: earlier stores are visible to the other CPUs before what follows (used before an SGI, so
/// that the receiver sees the data the SGI announces).
pub(crate) fn dsb_ishst() {
    #[cfg(target_arch = "aarch64")]
    aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::ISHST);
}

/// ISB: a system register write takes effect before the next instruction.
pub(crate) fn isb() {
    #[cfg(target_arch = "aarch64")]
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}
