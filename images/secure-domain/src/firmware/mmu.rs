//! Turning on the stage-1 MMU and the caches at EL1 with the identity map built by `main`.

use core::arch::asm;

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    ReadWriteable, Readable, Writeable, ID_AA64MMFR0_EL1, MAIR_EL1, SCTLR_EL1, TCR_EL1, TTBR0_EL1,
};
use hyp_arm_secure_domain::platform::AddressRange;
use hyp_arm_secure_domain::translation::{MAIR_VALUE, VIRTUAL_ADDRESS_BITS};

/// Enables translation through the tables at `root` with data and instruction caches on.
///
/// Everything the program wrote so far (.bss, the stack, the tables) went to memory with the
/// caches off; lines for the image's footprint that an earlier owner of the RAM left in the
/// caches would hide those writes once the caches are on, so they are invalidated first (as
/// Linux does for its early page tables).
///
/// # Safety
///
/// `root` must be a complete identity map (RAM with the image, its stack and tables as Normal
/// memory, every device used afterwards as Device memory), `image` the image's footprint, and
/// the MMU must be off.
pub unsafe fn enable(root: u64, image: AddressRange) {
    MAIR_EL1.set(MAIR_VALUE);
    let physical_address_size = ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange);
    TCR_EL1.write(
        TCR_EL1::T0SZ.val(u64::from(64 - VIRTUAL_ADDRESS_BITS))
            + TCR_EL1::TG0::KiB_4
            + TCR_EL1::SH0::Inner
            + TCR_EL1::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::EPD1::DisableTTBR1Walks
            + TCR_EL1::IPS.val(physical_address_size.min(0b101)),
    );
    TTBR0_EL1.set_baddr(root);
    invalidate_data_cache(image);
    // SAFETY: invalidates this CPU's EL1 TLB entries and instruction cache, which only the MMU
    // and caches being enabled below consult; no memory is written.
    unsafe {
        asm!(
            "tlbi vmalle1",
            "ic iallu",
            "dsb nsh",
            "isb",
            options(nostack)
        );
    }
    SCTLR_EL1.modify(
        SCTLR_EL1::M::Enable
            + SCTLR_EL1::C::Cacheable
            + SCTLR_EL1::I::Cacheable
            + SCTLR_EL1::A::Disable
            + SCTLR_EL1::SA::Enable
            + SCTLR_EL1::WXN::Disable,
    );
    barrier::isb(barrier::SY);
}

/// Invalidates the data cache lines of `range` to the point of coherency (`dc ivac`).
fn invalidate_data_cache(range: AddressRange) {
    let cache_type: u64;
    // SAFETY: reads CTR_EL0, which has no side effects.
    unsafe { asm!("mrs {}, ctr_el0", out(reg) cache_type, options(nomem, nostack)) };
    // CTR_EL0.DminLine [19:16]: log2 of the smallest data cache line, in 4-byte words.
    let line = 4u64 << ((cache_type >> 16) & 0xf);
    let end = range.end().unwrap_or(u64::MAX);
    let mut address = range.base & !(line - 1);
    while address < end {
        // SAFETY: invalidating lines of the image's own footprint, which with the caches off
        // hold nothing newer than memory; no other agent uses this RAM.
        unsafe { asm!("dc ivac, {}", in(reg) address, options(nostack)) };
        address += line;
    }
    barrier::dsb(barrier::SY);
}
