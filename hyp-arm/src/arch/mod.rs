//! AArch64 hardware access: the entry path, EL2 system registers, the MMU, caches and TLBs, calls
//! into firmware. Everything `unsafe` about the CPU itself lives here, behind small safe functions.

pub mod context;
pub mod cpu;
pub mod entry;
pub mod mmu;
pub mod smc;
pub mod spin_table;

/// A guest's general-purpose registers, ELR_EL2 and SPSR_EL2 as saved on exit. The layout is shared
/// with the assembly in `entry` (checked at compile time there).
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default)]
pub struct GuestRegisters {
    pub x: [u64; 31],
    pub elr: u64,
    pub spsr: u64,
    _padding: u64,
}

impl GuestRegisters {
    /// Register `index` as an instruction operand sees it: 31 is XZR/WZR in loads and stores.
    pub fn get(&self, index: u8) -> u64 {
        self.x.get(usize::from(index)).copied().unwrap_or(0)
    }

    /// Writes register `index`; writes to XZR are dropped.
    pub fn set(&mut self, index: u8, value: u64) {
        if let Some(slot) = self.x.get_mut(usize::from(index)) {
            *slot = value;
        }
    }
}
