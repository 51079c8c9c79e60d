//! The GICv2 virtual interface control registers (GICH): list registers and the virtual CPU interface state.

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

use super::registers::{GichRegisters, GICH_HCR, GICH_VTR};

/// The GICv2 virtual interface control block (GICH), banked per CPU like the CPU interface.
///
/// The calling CPU's block is reached at `base`; other CPUs' blocks (at `base + 0x200 * n` in some
/// implementations) are not used.
#[derive(Clone, Debug)]
pub struct Gicv2HypInterface {
    registers: *const GichRegisters,
}

// SAFETY: the value is only the address of the banked block, valid on every CPU (`new`'s contract).
unsafe impl Send for Gicv2HypInterface {}

// SAFETY: each CPU reaches its own banked copy; every method is a single register access on it.
unsafe impl Sync for Gicv2HypInterface {}

impl Gicv2HypInterface {
    /// Wraps the virtual interface control block whose registers start at `base`. Touches no register.
    ///
    /// # Safety
    ///
    /// `base` is 4-byte aligned and is the address, in the current translation regime, of a GICv2 GICH
    /// block (at least 0x200 bytes), mapped as Device memory for as long as the value (or a clone) is used.
    /// Nothing else accesses it except through `Gicv2HypInterface` values.
    pub const unsafe fn new(base: usize) -> Self {
        Self {
            registers: base as *const GichRegisters,
        }
    }

    fn registers(&self) -> &GichRegisters {
        // SAFETY: `new`'s caller guarantees a mapped, aligned GICH block for the value's lifetime; the
        // register types access it through `UnsafeCell` with volatile reads and writes.
        unsafe { &*self.registers }
    }

    /// Number of list registers (GICH_VTR.ListRegs + 1, at most 64).
    pub fn list_register_count(&self) -> usize {
        self.registers().vtr.read(GICH_VTR::ListRegs) as usize + 1
    }

    /// List register `n`; 0 (an invalid entry) for `n` at or beyond [`Self::list_register_count`].
    pub fn read_lr(&self, n: usize) -> u32 {
        if n >= self.list_register_count() {
            return 0;
        }
        self.registers().lr.get(n).map_or(0, Readable::get)
    }

    /// Writes list register `n`; does nothing for `n` at or beyond [`Self::list_register_count`].
    pub fn write_lr(&self, n: usize, value: u32) {
        if n >= self.list_register_count() {
            return;
        }
        if let Some(register) = self.registers().lr.get(n) {
            register.set(value);
        }
    }

    /// GICH_HCR.
    pub fn hcr(&self) -> u32 {
        self.registers().hcr.get()
    }

    /// Writes GICH_HCR.
    pub fn set_hcr(&self, value: u32) {
        self.registers().hcr.set(value);
    }

    /// Turns the virtual CPU interface on or off (GICH_HCR.En). Off, the guest sees no virtual interrupts.
    pub fn set_enabled(&self, enabled: bool) {
        self.registers()
            .hcr
            .modify(GICH_HCR::En.val(u32::from(enabled)));
    }

    /// Asks for a maintenance interrupt while at most one list register holds a valid interrupt
    /// (GICH_HCR.UIE), so more can be queued.
    pub fn set_underflow_interrupt(&self, enabled: bool) {
        self.registers()
            .hcr
            .modify(GICH_HCR::UIE.val(u32::from(enabled)));
    }

    /// GICH_MISR: why the maintenance interrupt is asserted.
    pub fn misr(&self) -> u32 {
        self.registers().misr.get()
    }

    /// GICH_EISR0/1 as one bitmap: bit n set when list register n holds an interrupt the guest has
    /// deactivated and that asked for an EOI maintenance interrupt.
    pub fn eisr(&self) -> u64 {
        let [low, high] = &self.registers().eisr;
        self.only_implemented(u64::from(high.get()) << 32 | u64::from(low.get()))
    }

    /// GICH_ELRSR0/1 as one bitmap: bit n set when list register n is free.
    pub fn elrsr(&self) -> u64 {
        let [low, high] = &self.registers().elrsr;
        self.only_implemented(u64::from(high.get()) << 32 | u64::from(low.get()))
    }

    fn only_implemented(&self, bitmap: u64) -> u64 {
        bitmap & (u64::MAX >> (64 - self.list_register_count()))
    }

    /// GICH_VMCR: the guest's view of its CPU interface control (save on vCPU switch-out).
    pub fn vmcr(&self) -> u32 {
        self.registers().vmcr.get()
    }

    /// Writes GICH_VMCR (restore on vCPU switch-in).
    pub fn set_vmcr(&self, value: u32) {
        self.registers().vmcr.set(value);
    }

    /// GICH_APR: the guest's active priorities.
    pub fn apr(&self) -> u32 {
        self.registers().apr.get()
    }

    /// Writes GICH_APR.
    pub fn set_apr(&self, value: u32) {
        self.registers().apr.set(value);
    }
}
