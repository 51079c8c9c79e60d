//! The GICv3 virtual interface control of the calling CPU, through its ICH_*_EL2 system registers.

use aarch64_cpu::registers::{ICH_HCR_EL2, ICH_VTR_EL2};
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

use super::sysreg::{self, ICH_EISR_EL2, ICH_ELRSR_EL2};

/// Calls `$body` with `$register` bound to the accessor of the `$index`th register of the list, or yields
/// `$default` for an index past it. System registers are named in the instruction, so an index has to
/// become a `match`.
macro_rules! by_index {
    ($index:expr, $default:expr, [$($n:literal => $name:ident),+ $(,)?], |$register:ident| $body:expr) => {
        match $index {
            $($n => {
                let $register = &sysreg::$name;
                $body
            })+
            _ => $default,
        }
    };
}

macro_rules! list_register {
    ($index:expr, $default:expr, |$register:ident| $body:expr) => {
        by_index!($index, $default, [
            0 => ICH_LR0_EL2, 1 => ICH_LR1_EL2, 2 => ICH_LR2_EL2, 3 => ICH_LR3_EL2,
            4 => ICH_LR4_EL2, 5 => ICH_LR5_EL2, 6 => ICH_LR6_EL2, 7 => ICH_LR7_EL2,
            8 => ICH_LR8_EL2, 9 => ICH_LR9_EL2, 10 => ICH_LR10_EL2, 11 => ICH_LR11_EL2,
            12 => ICH_LR12_EL2, 13 => ICH_LR13_EL2, 14 => ICH_LR14_EL2, 15 => ICH_LR15_EL2,
        ], |$register| $body)
    };
}

/// The calling CPU's virtual interface control (ICH_*_EL2).
///
/// It remembers how many list registers and active-priority registers the CPU implements: accessing one
/// beyond those is UNDEFINED (an exception at EL2), so indexes past them are refused here instead.
#[derive(Clone, Copy, Debug)]
pub struct Gicv3HypInterface {
    list_registers: u8,
    active_priority_registers: u8,
}

impl Gicv3HypInterface {
    /// Reads the calling CPU's ICH_VTR_EL2 to learn its list register and active-priority register counts.
    /// (CPUs of one system have the same counts in practice; probing on each CPU does not rely on it.)
    pub fn probe() -> Self {
        let vtr = sysreg::ICH_VTR_EL2.extract();
        // PREbits + 1 preemption bits: 5 need ICH_AP<m>R0 only, 6 add R1, 7 use R0-R3 (IHI 0069,
        // ICH_AP1R<n>_EL2).
        let preemption_bits = vtr.read(ICH_VTR_EL2::PREbits) + 1;
        Self {
            list_registers: vtr.read(ICH_VTR_EL2::ListRegs) as u8 + 1,
            active_priority_registers: 1 << (preemption_bits.clamp(5, 7) - 5),
        }
    }

    /// Number of list registers (ICH_VTR_EL2.ListRegs + 1, at most 16).
    pub fn list_register_count(&self) -> usize {
        usize::from(self.list_registers)
    }

    /// Number of `ICH_AP0R<n>_EL2` and `ICH_AP1R<n>_EL2` registers (1, 2 or 4).
    pub fn active_priority_register_count(&self) -> usize {
        usize::from(self.active_priority_registers)
    }

    /// `ICH_LR<n>_EL2`; 0 (an invalid entry) for `n` at or beyond [`Self::list_register_count`].
    pub fn read_lr(&self, n: usize) -> u64 {
        if n >= self.list_register_count() {
            return 0;
        }
        list_register!(n, 0, |register| register.get())
    }

    /// Writes `ICH_LR<n>_EL2`; does nothing for `n` at or beyond [`Self::list_register_count`].
    pub fn write_lr(&self, n: usize, value: u64) {
        if n >= self.list_register_count() {
            return;
        }
        list_register!(n, (), |register| register.set(value));
    }

    /// ICH_HCR_EL2.
    pub fn hcr(&self) -> u64 {
        sysreg::ICH_HCR_EL2.get()
    }

    /// Writes ICH_HCR_EL2.
    pub fn set_hcr(&self, value: u64) {
        sysreg::ICH_HCR_EL2.set(value);
    }

    /// Turns the virtual CPU interface on or off (ICH_HCR_EL2.En). Off, the guest sees no virtual interrupts.
    pub fn set_enabled(&self, enabled: bool) {
        sysreg::ICH_HCR_EL2.modify(ICH_HCR_EL2::En.val(u64::from(enabled)));
    }

    /// Asks for a maintenance interrupt while at most one list register holds a valid interrupt
    /// (ICH_HCR_EL2.UIE), so more can be queued.
    pub fn set_underflow_interrupt(&self, enabled: bool) {
        sysreg::ICH_HCR_EL2.modify(ICH_HCR_EL2::UIE.val(u64::from(enabled)));
    }

    /// ICH_MISR_EL2: why the maintenance interrupt is asserted.
    pub fn misr(&self) -> u64 {
        sysreg::ICH_MISR_EL2.get()
    }

    /// ICH_EISR_EL2: bit n set when list register n holds a deactivated interrupt that asked for an EOI
    /// maintenance interrupt.
    pub fn eisr(&self) -> u64 {
        ICH_EISR_EL2.read(sysreg::ICH_EISR_EL2::Status) & self.implemented_mask()
    }

    /// ICH_ELRSR_EL2: bit n set when list register n is free.
    pub fn elrsr(&self) -> u64 {
        ICH_ELRSR_EL2.read(sysreg::ICH_ELRSR_EL2::Status) & self.implemented_mask()
    }

    fn implemented_mask(&self) -> u64 {
        (1 << self.list_registers) - 1
    }

    /// ICH_VMCR_EL2: the guest's view of its CPU interface control (save on vCPU switch-out).
    pub fn vmcr(&self) -> u64 {
        sysreg::ICH_VMCR_EL2.get()
    }

    /// Writes ICH_VMCR_EL2 (restore on vCPU switch-in).
    pub fn set_vmcr(&self, value: u64) {
        sysreg::ICH_VMCR_EL2.set(value);
    }

    /// `ICH_AP0R<n>_EL2`; 0 for `n` at or beyond [`Self::active_priority_register_count`].
    pub fn ap0r(&self, n: usize) -> u64 {
        if n >= self.active_priority_register_count() {
            return 0;
        }
        by_index!(n, 0, [0 => ICH_AP0R0_EL2, 1 => ICH_AP0R1_EL2, 2 => ICH_AP0R2_EL2, 3 => ICH_AP0R3_EL2],
            |register| register.get())
    }

    /// Writes `ICH_AP0R<n>_EL2`; does nothing for `n` at or beyond [`Self::active_priority_register_count`].
    pub fn set_ap0r(&self, n: usize, value: u64) {
        if n >= self.active_priority_register_count() {
            return;
        }
        by_index!(n, (), [0 => ICH_AP0R0_EL2, 1 => ICH_AP0R1_EL2, 2 => ICH_AP0R2_EL2, 3 => ICH_AP0R3_EL2],
            |register| register.set(value));
    }

    /// `ICH_AP1R<n>_EL2`; 0 for `n` at or beyond [`Self::active_priority_register_count`].
    pub fn ap1r(&self, n: usize) -> u64 {
        if n >= self.active_priority_register_count() {
            return 0;
        }
        by_index!(n, 0, [0 => ICH_AP1R0_EL2, 1 => ICH_AP1R1_EL2, 2 => ICH_AP1R2_EL2, 3 => ICH_AP1R3_EL2],
            |register| register.get())
    }

    /// Writes `ICH_AP1R<n>_EL2`; does nothing for `n` at or beyond [`Self::active_priority_register_count`].
    pub fn set_ap1r(&self, n: usize, value: u64) {
        if n >= self.active_priority_register_count() {
            return;
        }
        by_index!(n, (), [0 => ICH_AP1R0_EL2, 1 => ICH_AP1R1_EL2, 2 => ICH_AP1R2_EL2, 3 => ICH_AP1R3_EL2],
            |register| register.set(value));
    }
}
