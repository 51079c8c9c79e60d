//! The GICv2 CPU interface: acknowledge, priority drop and deactivation of physical interrupts.

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

use super::registers::{GiccRegisters, GICC_CTLR, GICC_IAR, GICC_PMR};
use crate::{Acknowledged, IntId};

/// The GICv2 CPU interface (GICC). Its registers are banked: the same address reaches the calling CPU's
/// own interface, so one value serves every CPU.
#[derive(Clone, Debug)]
pub struct Gicv2CpuInterface {
    registers: *const GiccRegisters,
}

// SAFETY: the value is only the address of the banked CPU interface, valid on every CPU (`new`'s contract).
unsafe impl Send for Gicv2CpuInterface {}

// SAFETY: each CPU reaches its own banked copy, and every method is a single register access or a
// sequence of them on that copy.
unsafe impl Sync for Gicv2CpuInterface {}

impl Gicv2CpuInterface {
    /// Wraps the CPU interface whose 8 KiB register frame starts at `base`. Touches no register.
    ///
    /// # Safety
    ///
    /// `base` is 4-byte aligned and is the address, in the current translation regime, of a GICv2 CPU
    /// interface's 8 KiB register frame (GICC_DIR is at 0x1000), mapped as Device memory for as long as
    /// the value (or a clone) is used. Nothing else accesses it except through `Gicv2CpuInterface` values.
    pub const unsafe fn new(base: usize) -> Self {
        Self {
            registers: base as *const GiccRegisters,
        }
    }

    fn registers(&self) -> &GiccRegisters {
        // SAFETY: `new`'s caller guarantees a mapped, aligned CPU interface frame for the value's lifetime;
        // the register types access it through `UnsafeCell` with volatile reads and writes.
        unsafe { &*self.registers }
    }

    /// Enables the calling CPU's interface with every priority unmasked and EOImode = 1.
    ///
    /// With EOImode = 1 a GICC_EOIR write only drops the running priority and a GICC_DIR write
    /// deactivates (IHI 0048B 3.2.1 and 5.4): the hypervisor drops priority at once, and a hardware-mapped
    /// interrupt stays active until the guest deactivates its virtual twin through the list register.
    ///
    /// `security_extensions` is the distributor's GICD_TYPER.SecurityExtn: without them this
    /// interface sees both groups, and the hypervisor (which puts everything in Group 1) enables
    /// Group 1 and lets GICC_IAR acknowledge it (AckCtl).
    pub fn init(&self, security_extensions: bool) {
        let registers = self.registers();
        registers.pmr.write(GICC_PMR::Priority.val(0xff));
        // modify, not write: the firmware's IRQ/FIQ bypass-disable bits stay as they are.
        let mut enables = GICC_CTLR::Enable::SET + GICC_CTLR::EOImodeNS::SET;
        if !security_extensions {
            enables += GICC_CTLR::EnableGrp1::SET + GICC_CTLR::AckCtl::SET;
        }
        registers.ctlr.modify(enables);
    }

    /// Takes the highest-priority pending interrupt, making it active. `None` if nothing was pending
    /// (spurious ID 1023) or the ID is otherwise special.
    pub fn acknowledge(&self) -> Option<Acknowledged> {
        let iar = self.registers().iar.extract();
        let intid = IntId::new(iar.read(GICC_IAR::InterruptID))?;
        Some(Acknowledged {
            intid,
            raw: iar.get(),
        })
    }

    /// Drops the running priority back to what it was before `acknowledged` (with EOImode = 1 the
    /// interrupt stays active).
    pub fn end_of_interrupt(&self, acknowledged: Acknowledged) {
        self.registers().eoir.set(acknowledged.raw);
    }

    /// Deactivates an interrupt whose priority was dropped.
    pub fn deactivate(&self, acknowledged: Acknowledged) {
        self.registers().dir.set(acknowledged.raw);
    }
}
