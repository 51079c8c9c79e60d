//! The little of the GIC the benchmark drives: enabling two interrupts per CPU, acknowledging
//! and ending them, and sending an SGI. GICv2 (Arm IHI 0048B) through its memory-mapped CPU
//! interface, GICv3 (Arm IHI 0069H) through the ICC system registers.

use core::arch::asm;
use core::ptr::{read_volatile, write_volatile};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicVersion {
    V2,
    V3,
}

// Distributor (both versions).
const GICD_CTLR: u64 = 0x000;
/// Read-only; the benchmark reads it as its trapped distributor access.
pub const GICD_TYPER: u64 = 0x004;
const GICD_ISENABLER: u64 = 0x100;
/// Priority bytes; the benchmark writes those of SPIs 32-35, which it never enables.
pub const GICD_IPRIORITYR: u64 = 0x400;
const GICD_ITARGETSR: u64 = 0x800;
const GICD_SGIR: u64 = 0xf00;
const GICD_CTLR_RWP: u32 = 1 << 31;
/// GICv3 with affinity routing: ARE_NS | EnableGrp1A | EnableGrp1 (as Linux writes it; with
/// one security state the same bits are ARE, EnableGrp1 and EnableGrp0).
const GICD_CTLR_V3: u32 = 1 << 4 | 1 << 1 | 1;

// GICv2 CPU interface.
const GICC_CTLR: u64 = 0x00;
const GICC_PMR: u64 = 0x04;
const GICC_IAR: u64 = 0x0c;
const GICC_EOIR: u64 = 0x10;

// GICv3 redistributor: the RD frame, then the SGI frame 64 KiB above it.
const GICR_TYPER: u64 = 0x08;
const GICR_WAKER: u64 = 0x14;
const GICR_SGI_FRAME: u64 = 0x1_0000;
const GICR_IGROUPR0: u64 = GICR_SGI_FRAME + 0x080;
const GICR_ISENABLER0: u64 = GICR_SGI_FRAME + 0x100;
const GICR_IPRIORITYR: u64 = GICR_SGI_FRAME + 0x400;
const GICR_TYPER_VLPIS: u64 = 1 << 1;
const GICR_TYPER_LAST: u64 = 1 << 4;
const GICR_WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const GICR_WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;

/// Interrupt IDs at or above this are special (1020-1023: spurious and friends).
pub const FIRST_SPECIAL_INTID: u32 = 1020;
/// Priority of the benchmark's interrupts (lower is more urgent; anything below the mask).
const PRIORITY: u8 = 0x80;

/// One GIC, by its version and the physical addresses of its frames.
#[derive(Clone, Copy)]
pub struct Gic {
    version: GicVersion,
    distributor: u64,
    /// GICv2: the CPU interface; GICv3: the first redistributor.
    cpu_side: u64,
}

impl Gic {
    /// # Safety
    ///
    /// `distributor` and `cpu_side` must be the GIC's distributor and its CPU interface (GICv2)
    /// or redistributor region (GICv3), reachable with the MMU off, and nothing else may
    /// program the GIC in ways that conflict with this driver.
    pub unsafe fn new(version: GicVersion, distributor: u64, cpu_side: u64) -> Gic {
        Gic {
            version,
            distributor,
            cpu_side,
        }
    }

    pub fn version(&self) -> GicVersion {
        self.version
    }

    pub fn distributor_read(&self, offset: u64) -> u32 {
        // SAFETY: the distributor is this GIC's (`new`); reads of its registers have no side
        // effects beyond those of the registers the caller names.
        unsafe { read_volatile((self.distributor + offset) as *const u32) }
    }

    pub fn distributor_write(&self, offset: u64, value: u32) {
        // SAFETY: as in `distributor_read`.
        unsafe { write_volatile((self.distributor + offset) as *mut u32, value) }
    }

    /// Enables the distributor (once, on the boot CPU).
    pub fn init_distributor(&self) {
        match self.version {
            GicVersion::V2 => self.distributor_write(GICD_CTLR, 1),
            GicVersion::V3 => {
                self.distributor_write(GICD_CTLR, GICD_CTLR_V3);
                while self.distributor_read(GICD_CTLR) & GICD_CTLR_RWP != 0 {}
            }
        }
    }

    /// Sets up this CPU's side of the GIC and enables the private interrupts `intids` (SGIs and
    /// PPIs, below 32) on it. `mpidr` is this CPU's affinity. Returns false if no GICv3
    /// redistributor belongs to it.
    pub fn init_cpu(&self, mpidr: u64, intids: &[u32]) -> bool {
        match self.version {
            GicVersion::V2 => {
                let mut enable = 0;
                for &intid in intids {
                    self.distributor_byte_write(GICD_IPRIORITYR + u64::from(intid), PRIORITY);
                    enable |= 1 << intid;
                }
                self.distributor_write(GICD_ISENABLER, enable);
                self.cpu_interface_write(GICC_PMR, 0xff);
                self.cpu_interface_write(GICC_CTLR, 1);
                true
            }
            GicVersion::V3 => {
                let Some(redistributor) = self.redistributor(mpidr) else {
                    return false;
                };
                let read = |offset| {
                    // SAFETY: a register of this CPU's redistributor, found in the GIC's region.
                    unsafe { read_volatile((redistributor + offset) as *const u32) }
                };
                let write = |offset, value| {
                    // SAFETY: as for `read`.
                    unsafe { write_volatile((redistributor + offset) as *mut u32, value) }
                };
                write(GICR_WAKER, read(GICR_WAKER) & !GICR_WAKER_PROCESSOR_SLEEP);
                while read(GICR_WAKER) & GICR_WAKER_CHILDREN_ASLEEP != 0 {}
                write(GICR_IGROUPR0, u32::MAX);
                let mut enable = 0;
                for &intid in intids {
                    let word = GICR_IPRIORITYR + u64::from(intid & !3);
                    let shift = (intid & 3) * 8;
                    let priorities = read(word) & !(0xff << shift);
                    write(word, priorities | u32::from(PRIORITY) << shift);
                    enable |= 1 << intid;
                }
                write(GICR_ISENABLER0, enable);
                // SAFETY: enabling the system-register interface and group 1 interrupts at
                // this CPU's interface, with every priority unmasked, only lets the interrupts
                // enabled above through; memory is untouched.
                unsafe {
                    asm!(
                        "mrs {sre}, icc_sre_el1",
                        "orr {sre}, {sre}, #1",
                        "msr icc_sre_el1, {sre}",
                        "isb",
                        "msr icc_pmr_el1, {mask}",
                        "msr icc_bpr1_el1, xzr",
                        "msr icc_igrpen1_el1, {one}",
                        "isb",
                        sre = out(reg) _,
                        mask = in(reg) 0xffu64,
                        one = in(reg) 1u64,
                        options(nostack),
                    );
                }
                true
            }
        }
    }

    /// Acknowledges the highest-priority pending interrupt; pass the result to
    /// `end_of_interrupt`. Its low 10 bits are the interrupt ID.
    pub fn acknowledge(&self) -> u32 {
        match self.version {
            GicVersion::V2 => self.cpu_interface_read(GICC_IAR),
            GicVersion::V3 => {
                let iar: u64;
                // SAFETY: reading ICC_IAR1_EL1 acknowledges an interrupt, which the caller
                // handles; no memory is touched.
                unsafe { asm!("mrs {}, icc_iar1_el1", out(reg) iar, options(nostack)) };
                iar as u32
            }
        }
    }

    pub fn end_of_interrupt(&self, acknowledged: u32) {
        match self.version {
            GicVersion::V2 => self.cpu_interface_write(GICC_EOIR, acknowledged),
            // SAFETY: ends the interrupt `acknowledge` returned; no memory is touched.
            GicVersion::V3 => unsafe {
                asm!("msr icc_eoir1_el1, {}", in(reg) u64::from(acknowledged), options(nostack));
            },
        }
    }

    /// This CPU's bit in GICv2 target lists (GICD_ITARGETSR0 reads as it on every CPU).
    pub fn cpu_target_mask(&self) -> u8 {
        self.distributor_read(GICD_ITARGETSR) as u8
    }

    /// Sends SGI `intid` to one CPU: by affinity (`mpidr`) on GICv3, by target-list bit
    /// (`target_mask`, from `cpu_target_mask` on that CPU) on GICv2.
    pub fn send_sgi(&self, intid: u32, mpidr: u64, target_mask: u8) {
        match self.version {
            GicVersion::V2 => {
                self.distributor_write(GICD_SGIR, u32::from(target_mask) << 16 | intid);
            }
            GicVersion::V3 => {
                let affinity1 = (mpidr >> 8) & 0xff;
                let affinity2 = (mpidr >> 16) & 0xff;
                let affinity3 = (mpidr >> 32) & 0xff;
                let value = u64::from(intid) << 24
                    | affinity3 << 48
                    | affinity2 << 32
                    | affinity1 << 16
                    | 1 << (mpidr & 0xf);
                // SAFETY: ICC_SGI1R_EL1 only raises an interrupt; no memory is touched.
                unsafe {
                    asm!("msr icc_sgi1r_el1, {}", "isb", in(reg) value, options(nostack));
                }
            }
        }
    }

    /// The GICv3 redistributor whose GICR_TYPER affinity is `mpidr`'s.
    fn redistributor(&self, mpidr: u64) -> Option<u64> {
        let affinity = (mpidr & 0xff_ffff) | ((mpidr >> 32) & 0xff) << 24;
        let mut frame = self.cpu_side;
        for _ in 0..256 {
            // SAFETY: `frame` is a redistributor in the region `new` was given: the first one,
            // or the next after one whose GICR_TYPER.Last is clear.
            let typer = unsafe { read_volatile((frame + GICR_TYPER) as *const u64) };
            if typer >> 32 == affinity {
                return Some(frame);
            }
            if typer & GICR_TYPER_LAST != 0 {
                return None;
            }
            frame += if typer & GICR_TYPER_VLPIS != 0 {
                0x4_0000
            } else {
                0x2_0000
            };
        }
        None
    }

    fn distributor_byte_write(&self, offset: u64, value: u8) {
        // SAFETY: as in `distributor_read`; GICD_IPRIORITYR is byte-accessible.
        unsafe { write_volatile((self.distributor + offset) as *mut u8, value) }
    }

    fn cpu_interface_read(&self, offset: u64) -> u32 {
        // SAFETY: on GICv2 `cpu_side` is this GIC's CPU interface (`new`).
        unsafe { read_volatile((self.cpu_side + offset) as *const u32) }
    }

    fn cpu_interface_write(&self, offset: u64, value: u32) {
        // SAFETY: as in `cpu_interface_read`.
        unsafe { write_volatile((self.cpu_side + offset) as *mut u32, value) }
    }
}
