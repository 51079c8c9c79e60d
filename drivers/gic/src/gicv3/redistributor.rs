//! A GICv3 redistributor: one CPU's SGIs and PPIs, and its power state towards the GIC.

use core::slice;

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

use super::registers::{GicrRegisters, GICR_CTLR, GICR_TYPER, GICR_WAKER};
use crate::banks::{fill_words, read_bit, wait_until, write_bit, write_byte, write_trigger};
use crate::{Affinity, GicError, IntId, Trigger, DEFAULT_PRIORITY};

/// Frame stride of a GICv3 redistributor (RD_base + SGI_base), and of a GICv4 one with virtual LPIs
/// (two more frames: VLPI_base and a reserved one).
const STRIDE: usize = 0x2_0000;
const STRIDE_WITH_VLPIS: usize = 0x4_0000;

/// One CPU's redistributor (GICR): its SGIs and PPIs. Find it with [`Self::find`].
#[derive(Clone, Debug)]
pub struct Gicv3Redistributor {
    registers: *const GicrRegisters,
}

// SAFETY: the value is only the address of the redistributor, valid on every CPU (`find`'s contract).
unsafe impl Send for Gicv3Redistributor {}

// SAFETY: every method is a set of volatile register accesses, which the GIC serialises; the ICFGR1
// read-modify-write takes `banks::CONFIGURATION_LOCK`.
unsafe impl Sync for Gicv3Redistributor {}

impl Gicv3Redistributor {
    /// Finds the redistributor of the CPU with affinity `mpidr` (an MPIDR_EL1 value) in the redistributor
    /// region `region_base..region_base + region_size`, by reading each frame's GICR_TYPER until the one
    /// marked Last (IHI 0069, GICR_TYPER.Last). `None` if no redistributor there serves that CPU.
    ///
    /// # Safety
    ///
    /// `region_base` is 64 KiB aligned and `region_base..region_base + region_size` is, in the current
    /// translation regime, a GICv3 redistributor region (as a device tree's `reg` entry names it), mapped
    /// as Device memory for as long as the returned value (or a clone) is used. Nothing else accesses the
    /// redistributors except through `Gicv3Redistributor` values.
    pub unsafe fn find(region_base: usize, region_size: usize, mpidr: u64) -> Option<Self> {
        let wanted = Affinity::from_mpidr(mpidr);
        let mut offset = 0;
        while region_size.checked_sub(offset)? >= size_of::<GicrRegisters>() {
            let frame = Self {
                registers: (region_base + offset) as *const GicrRegisters,
            };
            let typer = frame.registers().rd.typer.extract();
            if Affinity::from_packed(typer.read(GICR_TYPER::Affinity_Value) as u32) == wanted {
                return Some(frame);
            }
            if typer.is_set(GICR_TYPER::Last) {
                return None;
            }
            offset += if typer.is_set(GICR_TYPER::VLPIS) {
                STRIDE_WITH_VLPIS
            } else {
                STRIDE
            };
        }
        None
    }

    fn registers(&self) -> &GicrRegisters {
        // SAFETY: `find` only builds values for frames inside the region its caller guarantees to be mapped
        // and aligned for the value's lifetime; the register types access it through `UnsafeCell` with
        // volatile reads and writes.
        unsafe { &*self.registers }
    }

    /// The affinity of the CPU this redistributor serves (GICR_TYPER.Affinity_Value).
    pub fn affinity(&self) -> Affinity {
        Affinity::from_packed(self.registers().rd.typer.read(GICR_TYPER::Affinity_Value) as u32)
    }

    /// Marks the CPU awake so the redistributor forwards its interrupts, and waits until the interface
    /// to the CPU is up (IHI 0069, GICR_WAKER). With two Security states the firmware has done this
    /// already, and the register ignores Non-secure writes.
    pub fn wake(&self) -> Result<(), GicError> {
        let waker = &self.registers().rd.waker;
        waker.modify(GICR_WAKER::ProcessorSleep::CLEAR);
        wait_until("GICR_WAKER.ChildrenAsleep to clear", || {
            !waker.is_set(GICR_WAKER::ChildrenAsleep)
        })
    }

    fn wait_for_register_write(&self) -> Result<(), GicError> {
        wait_until("GICR_CTLR.RWP to clear", || {
            !self.registers().rd.ctlr.is_set(GICR_CTLR::RWP)
        })
    }

    /// Puts the CPU's SGIs and PPIs in a known state: Non-secure Group 1, disabled, not pending or active,
    /// priority [`DEFAULT_PRIORITY`]. Enable the ones wanted individually afterwards.
    pub fn init_sgi_ppi(&self) -> Result<(), GicError> {
        let sgi = &self.registers().sgi;
        let private = IntId::PRIVATE_COUNT;
        sgi.igroupr0.set(u32::MAX);
        sgi.igrpmodr0.set(0);
        fill_words(slice::from_ref(&sgi.icenabler0), 0, private, u32::MAX);
        fill_words(slice::from_ref(&sgi.icpendr0), 0, private, u32::MAX);
        fill_words(slice::from_ref(&sgi.icactiver0), 0, private, u32::MAX);
        for intid in (0..private).filter_map(IntId::new) {
            write_byte(&sgi.ipriorityr, intid, DEFAULT_PRIORITY);
        }
        self.wait_for_register_write()
    }

    fn check(intid: IntId) -> Result<(), GicError> {
        if intid.is_private() {
            Ok(())
        } else {
            Err(GicError::NotPrivate(intid))
        }
    }

    /// Lets SGI or PPI `intid` be signalled to this redistributor's CPU.
    pub fn enable(&self, intid: IntId) -> Result<(), GicError> {
        Self::check(intid)?;
        write_bit(slice::from_ref(&self.registers().sgi.isenabler0), intid);
        Ok(())
    }

    /// Stops SGI or PPI `intid` being signalled, and waits until the redistributor guarantees it
    /// (GICR_CTLR.RWP tracks ICENABLER0 writes).
    pub fn disable(&self, intid: IntId) -> Result<(), GicError> {
        Self::check(intid)?;
        write_bit(slice::from_ref(&self.registers().sgi.icenabler0), intid);
        self.wait_for_register_write()
    }

    /// Whether SGI or PPI `intid` is enabled.
    pub fn is_enabled(&self, intid: IntId) -> Result<bool, GicError> {
        Self::check(intid)?;
        Ok(read_bit(
            slice::from_ref(&self.registers().sgi.isenabler0),
            intid,
        ))
    }

    /// Whether SGI or PPI `intid` is active.
    pub fn is_active(&self, intid: IntId) -> Result<bool, GicError> {
        Self::check(intid)?;
        Ok(read_bit(
            slice::from_ref(&self.registers().sgi.isactiver0),
            intid,
        ))
    }

    /// Sets SGI or PPI `intid`'s priority.
    pub fn set_priority(&self, intid: IntId, priority: u8) -> Result<(), GicError> {
        Self::check(intid)?;
        write_byte(&self.registers().sgi.ipriorityr, intid, priority);
        Ok(())
    }

    /// Sets PPI `intid`'s trigger (whether it can change is IMPLEMENTATION DEFINED; SGIs cannot). Change it
    /// only while the interrupt is disabled.
    pub fn set_trigger(&self, intid: IntId, trigger: Trigger) -> Result<(), GicError> {
        Self::check(intid)?;
        if intid.is_sgi() {
            return Err(GicError::NotConfigurable(intid));
        }
        write_trigger(&self.registers().sgi.icfgr, intid, trigger);
        Ok(())
    }

    /// Makes SGI or PPI `intid` pending.
    pub fn set_pending(&self, intid: IntId) -> Result<(), GicError> {
        Self::check(intid)?;
        write_bit(slice::from_ref(&self.registers().sgi.ispendr0), intid);
        Ok(())
    }

    /// Clears SGI or PPI `intid`'s pending state.
    pub fn clear_pending(&self, intid: IntId) -> Result<(), GicError> {
        Self::check(intid)?;
        write_bit(slice::from_ref(&self.registers().sgi.icpendr0), intid);
        Ok(())
    }

    /// Makes SGI or PPI `intid` active.
    pub fn set_active(&self, intid: IntId) -> Result<(), GicError> {
        Self::check(intid)?;
        write_bit(slice::from_ref(&self.registers().sgi.isactiver0), intid);
        Ok(())
    }

    /// Clears SGI or PPI `intid`'s active state.
    pub fn clear_active(&self, intid: IntId) -> Result<(), GicError> {
        Self::check(intid)?;
        write_bit(slice::from_ref(&self.registers().sgi.icactiver0), intid);
        Ok(())
    }
}
