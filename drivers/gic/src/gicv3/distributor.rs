//! The GICv3 distributor: SPI configuration and routing, with affinity routing on.

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

use super::registers::{GicdRegisters, GICD_CTLR, GICD_IROUTER, GICD_TYPER};
use crate::banks::{fill_words, read_bit, wait_until, write_bit, write_byte, write_trigger};
use crate::{Affinity, GicError, IntId, Trigger, DEFAULT_PRIORITY};

/// The GICv3 distributor (GICD), for SPIs. SGIs and PPIs are in each CPU's [`super::Gicv3Redistributor`];
/// the methods here refuse them.
///
/// Several values may wrap the same distributor (one per CPU, say): every method is a set of single
/// register accesses, except `set_trigger`, which serialises its read-modify-write internally.
#[derive(Clone, Debug)]
pub struct Gicv3Distributor {
    registers: *const GicdRegisters,
}

// SAFETY: the value is only the address of the distributor, valid on every CPU (`new`'s contract).
unsafe impl Send for Gicv3Distributor {}

// SAFETY: concurrent use from several CPUs issues independent volatile register accesses, which the GIC
// serialises; the one read-modify-write (ICFGR) takes `banks::CONFIGURATION_LOCK`.
unsafe impl Sync for Gicv3Distributor {}

impl Gicv3Distributor {
    /// Wraps the distributor whose 64 KiB register frame starts at `base`. Touches no register.
    ///
    /// # Safety
    ///
    /// `base` is 8-byte aligned and is the address, in the current translation regime, of a GICv3
    /// distributor's 64 KiB frame, mapped as Device memory for as long as the value (or a clone) is used.
    /// Nothing else accesses the distributor except through `Gicv3Distributor` values.
    pub const unsafe fn new(base: usize) -> Self {
        Self {
            registers: base as *const GicdRegisters,
        }
    }

    fn registers(&self) -> &GicdRegisters {
        // SAFETY: `new`'s caller guarantees a mapped, aligned distributor frame for the value's lifetime;
        // the register types access it through `UnsafeCell` with volatile reads and writes.
        unsafe { &*self.registers }
    }

    /// Number of interrupt IDs below the first unimplemented SPI (GICD_TYPER.ITLinesNumber), SGIs and
    /// PPIs included.
    pub fn typer_lines(&self) -> u32 {
        let lines = 32 * (self.registers().typer.read(GICD_TYPER::ITLinesNumber) + 1);
        lines.min(IntId::SPECIAL_START)
    }

    fn wait_for_register_write(&self) -> Result<(), GicError> {
        wait_until("GICD_CTLR.RWP to clear", || {
            !self.registers().ctlr.is_set(GICD_CTLR::RWP)
        })
    }

    /// Puts every SPI in a known state (Non-secure Group 1, disabled, not pending or active,
    /// level-triggered, priority [`DEFAULT_PRIORITY`], routed to `route_to`) and enables the distributor
    /// with affinity routing. Run once, on one CPU, before any CPU interface is enabled.
    ///
    /// In Non-secure state with two Security states, the group registers are Secure-only and writes to
    /// them are ignored: the firmware has already put Non-secure interrupts in Group 1.
    pub fn init(&self, route_to: Affinity) -> Result<(), GicError> {
        let registers = self.registers();
        let lines = self.typer_lines();
        let spis = IntId::PRIVATE_COUNT;
        registers.ctlr.set(0);
        self.wait_for_register_write()?;
        fill_words(&registers.igroupr, spis, lines, u32::MAX);
        fill_words(&registers.igrpmodr, spis, lines, 0);
        fill_words(&registers.icenabler, spis, lines, u32::MAX);
        fill_words(&registers.icpendr, spis, lines, u32::MAX);
        fill_words(&registers.icactiver, spis, lines, u32::MAX);
        for register in registers.icfgr.iter().take(lines as usize / 16).skip(2) {
            register.set(0);
        }
        for intid in (spis..lines).filter_map(IntId::new) {
            write_byte(&registers.ipriorityr, intid, DEFAULT_PRIORITY);
            self.write_route(intid, route_to);
        }
        self.wait_for_register_write()?;
        // Affinity routing goes on while the group is still disabled, and the group is enabled only once
        // that write has taken effect (the order Arm's Trusted Firmware uses; IHI 0069, GICD_CTLR.ARE_NS).
        registers.ctlr.write(GICD_CTLR::ARE_NS::SET);
        self.wait_for_register_write()?;
        registers.ctlr.modify(GICD_CTLR::EnableGrp1NS::SET);
        self.wait_for_register_write()
    }

    fn check(&self, intid: IntId) -> Result<(), GicError> {
        if intid.is_private() {
            return Err(GicError::NotShared(intid));
        }
        let lines = self.typer_lines();
        if intid.raw() < lines {
            Ok(())
        } else {
            Err(GicError::NotImplemented { intid, lines })
        }
    }

    /// Lets SPI `intid` be signalled.
    pub fn enable(&self, intid: IntId) -> Result<(), GicError> {
        self.check(intid)?;
        write_bit(&self.registers().isenabler, intid);
        Ok(())
    }

    /// Stops SPI `intid` being signalled, and waits until the distributor guarantees it (GICD_CTLR.RWP
    /// tracks ICENABLER writes for SPIs).
    pub fn disable(&self, intid: IntId) -> Result<(), GicError> {
        self.check(intid)?;
        write_bit(&self.registers().icenabler, intid);
        self.wait_for_register_write()
    }

    /// Whether SPI `intid` is enabled.
    pub fn is_enabled(&self, intid: IntId) -> Result<bool, GicError> {
        self.check(intid)?;
        Ok(read_bit(&self.registers().isenabler, intid))
    }

    /// Whether SPI `intid` is active.
    pub fn is_active(&self, intid: IntId) -> Result<bool, GicError> {
        self.check(intid)?;
        Ok(read_bit(&self.registers().isactiver, intid))
    }

    /// Sets SPI `intid`'s priority (lower is more urgent; the GIC may ignore low-order bits).
    pub fn set_priority(&self, intid: IntId, priority: u8) -> Result<(), GicError> {
        self.check(intid)?;
        write_byte(&self.registers().ipriorityr, intid, priority);
        Ok(())
    }

    /// Sets SPI `intid`'s trigger. Change it only while the interrupt is disabled (IHI 0069, `GICD_ICFGR<n>`).
    pub fn set_trigger(&self, intid: IntId, trigger: Trigger) -> Result<(), GicError> {
        self.check(intid)?;
        write_trigger(&self.registers().icfgr, intid, trigger);
        Ok(())
    }

    /// Makes SPI `intid` pending.
    pub fn set_pending(&self, intid: IntId) -> Result<(), GicError> {
        self.check(intid)?;
        write_bit(&self.registers().ispendr, intid);
        Ok(())
    }

    /// Clears SPI `intid`'s pending state.
    pub fn clear_pending(&self, intid: IntId) -> Result<(), GicError> {
        self.check(intid)?;
        write_bit(&self.registers().icpendr, intid);
        Ok(())
    }

    /// Makes SPI `intid` active.
    pub fn set_active(&self, intid: IntId) -> Result<(), GicError> {
        self.check(intid)?;
        write_bit(&self.registers().isactiver, intid);
        Ok(())
    }

    /// Clears SPI `intid`'s active state.
    pub fn clear_active(&self, intid: IntId) -> Result<(), GicError> {
        self.check(intid)?;
        write_bit(&self.registers().icactiver, intid);
        Ok(())
    }

    /// Routes SPI `intid` to the one CPU with affinity `target` (`GICD_IROUTER<n>`, Interrupt_Routing_Mode 0).
    pub fn route(&self, intid: IntId, target: Affinity) -> Result<(), GicError> {
        self.check(intid)?;
        self.write_route(intid, target);
        Ok(())
    }

    fn write_route(&self, intid: IntId, target: Affinity) {
        // IROUTER<n> exists for SPIs only: the array starts at n = 32.
        let index = intid.index().checked_sub(IntId::PRIVATE_COUNT as usize);
        if let Some(register) = index.and_then(|index| self.registers().irouter.get(index)) {
            register.write(
                GICD_IROUTER::Interrupt_Routing_Mode::CLEAR
                    + GICD_IROUTER::Aff3.val(u64::from(target.aff3))
                    + GICD_IROUTER::Aff2.val(u64::from(target.aff2))
                    + GICD_IROUTER::Aff1.val(u64::from(target.aff1))
                    + GICD_IROUTER::Aff0.val(u64::from(target.aff0)),
            );
        }
    }
}
