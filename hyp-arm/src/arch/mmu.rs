//! The EL2 stage-1 MMU: turning it on with the identity map built by the boot code, on the
//! primary CPU and then on each secondary with the same tables.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::*;
use core::arch::asm;

use crate::mm::page_table::{Geometry, MAIR_EL2_VALUE};

/// The translation registers every CPU loads before enabling its MMU.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct El2Translation {
    pub mair: u64,
    pub tcr: u64,
    pub ttbr0: u64,
}

impl El2Translation {
    /// Registers for an identity map rooted at `root` with `geometry`.
    pub fn new(root: u64, geometry: Geometry) -> Self {
        let tcr = TCR_EL2::T0SZ.val(geometry.txsz())
            + TCR_EL2::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL2::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL2::SH0::Inner
            + TCR_EL2::TG0::KiB_4
            + TCR_EL2::PS.val(super::cpu::physical_address_range_field());
        // Bits 31 and 23 of TCR_EL2 are RES1 in the non-VHE layout.
        Self {
            mair: MAIR_EL2_VALUE,
            tcr: tcr.value | (1 << 31) | (1 << 23),
            ttbr0: root,
        }
    }
}

/// Enables the EL2 MMU and caches with `translation`. The map must be an identity map of this code.
pub fn enable(translation: &El2Translation) {
    MAIR_EL2.set(translation.mair);
    TCR_EL2.set(translation.tcr);
    TTBR0_EL2.set(translation.ttbr0);
    barrier::isb(barrier::SY);
    // SAFETY: discards any stale EL2 translations (there are none with the MMU off, but the loader
    // may have run with its own).
    unsafe { asm!("tlbi alle2", "dsb nsh", "isb", options(nostack)) };
    SCTLR_EL2.modify(
        SCTLR_EL2::M::Enable
            + SCTLR_EL2::C::Cacheable
            + SCTLR_EL2::I::Cacheable
            + SCTLR_EL2::SA::Enable,
    );
    barrier::isb(barrier::SY);
}
