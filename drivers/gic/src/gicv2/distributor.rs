//! The GICv2 distributor: global SPI configuration, the calling CPU's banked SGI/PPI bits, and SGIs.

use tock_registers::interfaces::{Readable, Writeable};

use super::registers::{GicdRegisters, GICD_CTLR, GICD_SGIR, GICD_TYPER};
use crate::banks::{fill_words, read_bit, write_bit, write_byte, write_trigger};
use crate::{GicError, IntId, Trigger, DEFAULT_PRIORITY};

/// The GICv2 distributor (GICD).
///
/// Several values may wrap the same distributor (one per CPU, say): every method is a set of single
/// register accesses, except `set_trigger`, which serialises its read-modify-write internally.
#[derive(Clone, Debug)]
pub struct Gicv2Distributor {
    registers: *const GicdRegisters,
}

// SAFETY: the value is only the address of the distributor, valid on every CPU (`new`'s contract).
unsafe impl Send for Gicv2Distributor {}

// SAFETY: concurrent use from several CPUs issues independent volatile register accesses, which the GIC
// serialises; the one read-modify-write (ICFGR) takes `banks::CONFIGURATION_LOCK`.
unsafe impl Sync for Gicv2Distributor {}

impl Gicv2Distributor {
    /// Wraps the distributor whose 4 KiB register frame starts at `base`. Touches no register.
    ///
    /// # Safety
    ///
    /// `base` is 4-byte aligned and is the address, in the current translation regime, of a GICv2
    /// distributor's register frame, mapped as Device memory for as long as the value (or a clone) is
    /// used. Nothing else accesses the distributor except through `Gicv2Distributor` values.
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

    /// Number of interrupt IDs the distributor handles, SGIs and PPIs included (GICD_TYPER.ITLinesNumber).
    pub fn typer_lines(&self) -> u32 {
        let lines = 32 * (self.registers().typer.read(GICD_TYPER::ITLinesNumber) + 1);
        // ITLinesNumber = 31 would claim 1024, but 1020-1023 are special IDs (IHI 0048B, GICD_TYPER).
        lines.min(IntId::SPECIAL_START)
    }

    /// True when the GIC implements the Security Extensions: then the secure firmware owns the
    /// interrupt groups and the Non-secure view has a single group enable.
    pub fn has_security_extensions(&self) -> bool {
        self.registers().typer.is_set(GICD_TYPER::SecurityExtn)
    }

    /// Puts every SPI in a known state: disabled, not pending, not active, level-triggered, priority
    /// [`DEFAULT_PRIORITY`], targeting the calling CPU; then enables the distributor. Run once, on one CPU,
    /// before any CPU interface is enabled.
    pub fn init(&self) {
        let registers = self.registers();
        let lines = self.typer_lines();
        let spis = IntId::PRIVATE_COUNT;
        registers.ctlr.set(0);
        fill_words(&registers.icenabler, spis, lines, u32::MAX);
        fill_words(&registers.icpendr, spis, lines, u32::MAX);
        fill_words(&registers.icactiver, spis, lines, u32::MAX);
        // ICFGR has two bits per interrupt: 0 is level-triggered.
        for register in registers.icfgr.iter().take(lines as usize / 16).skip(2) {
            register.set(0);
        }
        let target = self.cpu_interface_mask();
        for intid in (spis..lines).filter_map(IntId::new) {
            write_byte(&registers.ipriorityr, intid, DEFAULT_PRIORITY);
            write_byte(&registers.itargetsr, intid, target);
        }
        if self.has_security_extensions() {
            registers.ctlr.write(GICD_CTLR::Enable::SET);
        } else {
            // No Security Extensions (QEMU virt without secure=on): we own the groups. Every
            // interrupt goes in Group 1, as Non-secure firmware would leave it: QEMU forwards a
            // guest's deactivation of a hardware-mapped interrupt (GICH_LR.HW) to the distributor
            // only for Group 1 interrupts, and the virtual timer would otherwise stay active.
            fill_words(&registers.igroupr, spis, lines, u32::MAX);
            registers
                .ctlr
                .write(GICD_CTLR::Enable::SET + GICD_CTLR::EnableGrp1::SET);
        }
    }

    /// Puts the calling CPU's banked SGIs and PPIs in a known state: disabled, not pending or active,
    /// priority [`DEFAULT_PRIORITY`]. Run on every CPU. (Some GICs keep SGIs always enabled; IHI 0048B,
    /// GICD_ISENABLERn.)
    pub fn init_private(&self) {
        let registers = self.registers();
        let private = IntId::PRIVATE_COUNT;
        fill_words(&registers.icenabler, 0, private, u32::MAX);
        fill_words(&registers.icpendr, 0, private, u32::MAX);
        fill_words(&registers.icactiver, 0, private, u32::MAX);
        if !self.has_security_extensions() {
            // The banked SGIs and PPIs in Group 1 too (see `init`).
            fill_words(&registers.igroupr, 0, private, u32::MAX);
        }
        for intid in (0..private).filter_map(IntId::new) {
            write_byte(&registers.ipriorityr, intid, DEFAULT_PRIORITY);
        }
    }

    fn check(&self, intid: IntId) -> Result<(), GicError> {
        let lines = self.typer_lines();
        if intid.raw() < lines {
            Ok(())
        } else {
            Err(GicError::NotImplemented { intid, lines })
        }
    }

    /// Lets `intid` be signalled (for an SGI or PPI: on the calling CPU).
    pub fn enable(&self, intid: IntId) -> Result<(), GicError> {
        self.check(intid)?;
        write_bit(&self.registers().isenabler, intid);
        Ok(())
    }

    /// Stops `intid` being signalled (for an SGI or PPI: on the calling CPU).
    pub fn disable(&self, intid: IntId) -> Result<(), GicError> {
        self.check(intid)?;
        write_bit(&self.registers().icenabler, intid);
        Ok(())
    }

    /// Whether `intid` is enabled.
    pub fn is_enabled(&self, intid: IntId) -> Result<bool, GicError> {
        self.check(intid)?;
        Ok(read_bit(&self.registers().isenabler, intid))
    }

    /// Whether `intid` is active (an SGI or PPI: on the calling CPU).
    pub fn is_active(&self, intid: IntId) -> Result<bool, GicError> {
        self.check(intid)?;
        Ok(read_bit(&self.registers().isactiver, intid))
    }

    /// Sets `intid`'s priority (lower is more urgent; the GIC may ignore low-order bits).
    pub fn set_priority(&self, intid: IntId, priority: u8) -> Result<(), GicError> {
        self.check(intid)?;
        write_byte(&self.registers().ipriorityr, intid, priority);
        Ok(())
    }

    /// Sets which CPU interfaces an SPI goes to (bit n: interface n).
    pub fn set_target(&self, intid: IntId, cpu_mask: u8) -> Result<(), GicError> {
        self.check(intid)?;
        if intid.is_private() {
            return Err(GicError::NotShared(intid));
        }
        write_byte(&self.registers().itargetsr, intid, cpu_mask);
        Ok(())
    }

    /// Sets `intid`'s trigger. SGIs cannot change; whether a PPI can is IMPLEMENTATION DEFINED. Change it
    /// only while the interrupt is disabled (IHI 0048B, GICD_ICFGRn).
    pub fn set_trigger(&self, intid: IntId, trigger: Trigger) -> Result<(), GicError> {
        self.check(intid)?;
        if intid.is_sgi() {
            return Err(GicError::NotConfigurable(intid));
        }
        write_trigger(&self.registers().icfgr, intid, trigger);
        Ok(())
    }

    /// Makes `intid` pending. (An SGI's pending state is per source CPU and set through GICD_SPENDSGIR,
    /// which this does not cover.)
    pub fn set_pending(&self, intid: IntId) -> Result<(), GicError> {
        self.check(intid)?;
        write_bit(&self.registers().ispendr, intid);
        Ok(())
    }

    /// Clears `intid`'s pending state.
    pub fn clear_pending(&self, intid: IntId) -> Result<(), GicError> {
        self.check(intid)?;
        write_bit(&self.registers().icpendr, intid);
        Ok(())
    }

    /// Makes `intid` active.
    pub fn set_active(&self, intid: IntId) -> Result<(), GicError> {
        self.check(intid)?;
        write_bit(&self.registers().isactiver, intid);
        Ok(())
    }

    /// Clears `intid`'s active state.
    pub fn clear_active(&self, intid: IntId) -> Result<(), GicError> {
        self.check(intid)?;
        write_bit(&self.registers().icactiver, intid);
        Ok(())
    }

    /// Sends SGI `sgi` to the CPU interfaces in `target_cpu_mask` (bit n: interface n).
    ///
    /// Stores before the call are visible to the targets before the SGI arrives.
    pub fn send_sgi(&self, target_cpu_mask: u8, sgi: u8) -> Result<(), GicError> {
        if IntId::sgi(u32::from(sgi)).is_none() {
            return Err(GicError::InvalidSgi(sgi));
        }
        crate::barrier::dsb_ishst();
        self.registers().sgir.write(
            GICD_SGIR::TargetListFilter::TargetList
                + GICD_SGIR::CPUTargetList.val(u32::from(target_cpu_mask))
                + GICD_SGIR::SGIINTID.val(u32::from(sgi)),
        );
        Ok(())
    }

    /// The calling CPU's interface as a target mask (bit n: interface n), read from the banked, read-only
    /// GICD_ITARGETSR0-7. Zero on a uniprocessor GIC, where those registers read as zero.
    pub fn cpu_interface_mask(&self) -> u8 {
        // Every byte names the reader; some implementations leave a few of them zero, so take them all
        // (Linux's gic_get_cpumask does the same).
        self.registers().itargetsr[..IntId::PRIVATE_COUNT as usize]
            .iter()
            .fold(0, |mask, byte| mask | byte.get())
    }

    /// The calling CPU's interface number, 0..=7: what GICv2 SGI and SPI targets are made of. Reads 0 on
    /// a uniprocessor GIC.
    pub fn cpu_interface_number(&self) -> u8 {
        match self.cpu_interface_mask() {
            0 => 0,
            mask => mask.trailing_zeros() as u8,
        }
    }
}
