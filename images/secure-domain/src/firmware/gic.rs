//! The secure domain's side of its (virtual) GIC: enable one PPI on this CPU, unmask priorities,
//! enable group 1, then acknowledge and end interrupts. GICv2 (Arm IHI 0048B) through the
//! memory-mapped CPU interface, GICv3 (Arm IHI 0069H) through a redistributor and the ICC system
//! registers. Under hyp-arm the distributor and redistributors are emulated and the CPU
//! interface is the virtual one; on bare QEMU they are the real ones.

use core::arch::asm;
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use aarch64_cpu::registers::MPIDR_EL1;
use hyp_arm_secure_domain::platform::{AddressRange, GicLayout};
use tock_registers::interfaces::{Readable, Writeable};

use crate::gic_registers::{
    CpuInterfaceRegisters, Distributor, Redistributor, CPU_INTERFACE_ENABLE, DISTRIBUTOR_ENABLE_V2,
    DISTRIBUTOR_ENABLE_V3, DISTRIBUTOR_REGISTER_WRITE_PENDING, TYPE_LAST, TYPE_VIRTUAL_LPIS,
    WAKER_CHILDREN_ASLEEP, WAKER_PROCESSOR_SLEEP,
};

/// The INTID in an acknowledge value (GICv2 IAR bits [9:0]; the GICv3 INTIDs used here are
/// below 1024 too, as the domain enables no LPIs).
pub const INTID_MASK: u32 = 0x3ff;
/// Priority of the domain's interrupts (lower is more urgent).
pub const PRIORITY: u32 = 0x80;
/// Priority mask that lets every priority but the lowest through.
const PRIORITY_MASK: u32 = 0xff;
/// Polls of a GIC status bit before giving up.
const POLL_LIMIT: u32 = 1_000_000;
/// GICR frame stride without and with virtual LPIs (RD + SGI, plus VLPI + reserved).
const REDISTRIBUTOR_STRIDE: u64 = 0x2_0000;
const REDISTRIBUTOR_STRIDE_VIRTUAL_LPIS: u64 = 0x4_0000;

// What the interrupt handler needs: the version (0 until `enable_private_interrupt` is done)
// and, for GICv2, the CPU interface.
static VERSION: AtomicU8 = AtomicU8::new(0);
static CPU_INTERFACE: AtomicUsize = AtomicUsize::new(0);

/// Why the GIC could not be set up.
#[derive(Clone, Copy, Debug)]
pub enum GicError {
    /// No redistributor in the region has this CPU's affinity.
    NoRedistributor { affinity: u64 },
    /// A status bit did not clear.
    Stuck { what: &'static str },
}

impl core::fmt::Display for GicError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoRedistributor { affinity } => write!(
                formatter,
                "no GICv3 redistributor in the device tree's region has this CPU's affinity {affinity:#x}"
            ),
            Self::Stuck { what } => write!(formatter, "the GIC's {what} did not clear"),
        }
    }
}

/// Sets up the GIC described by `layout` and enables the private interrupt `intid` (a PPI) on
/// this CPU at the domain's priority.
///
/// # Safety
///
/// `layout` must be the domain's GIC as its device tree gives it, mapped as Device memory for
/// the rest of the program, and nothing else in the domain may program the GIC.
pub unsafe fn enable_private_interrupt(layout: GicLayout, intid: u32) -> Result<(), GicError> {
    let bit = 1u32 << intid;
    let priority_word = (intid / 4) as usize;
    let priority_shift = (intid % 4) * 8;
    let with_priority = |word: u32| (word & !(0xff << priority_shift)) | PRIORITY << priority_shift;
    match layout {
        GicLayout::V2 {
            distributor,
            cpu_interface,
        } => {
            // SAFETY: the caller's frames, mapped, ours alone.
            let distributor = unsafe { frame::<Distributor>(distributor) };
            // SAFETY: as above.
            let interface = unsafe { frame::<CpuInterfaceRegisters>(cpu_interface) };
            let priority = &distributor.priority[priority_word];
            priority.set(with_priority(priority.get()));
            // GICD_ISENABLER0 is banked per CPU (PPIs and SGIs).
            distributor.set_enable[0].set(bit);
            distributor.control.set(DISTRIBUTOR_ENABLE_V2);
            interface.priority_mask.set(PRIORITY_MASK);
            interface.binary_point.set(0);
            interface.control.set(CPU_INTERFACE_ENABLE);
            CPU_INTERFACE.store(core::ptr::from_ref(interface) as usize, Ordering::Relaxed);
            VERSION.store(2, Ordering::Release);
        }
        GicLayout::V3 {
            distributor,
            redistributors,
        } => {
            // SAFETY: the caller's frame, mapped, ours alone.
            let distributor = unsafe { frame::<Distributor>(distributor) };
            distributor.control.set(DISTRIBUTOR_ENABLE_V3);
            poll_clear(
                || distributor.control.get() & DISTRIBUTOR_REGISTER_WRITE_PENDING != 0,
                "GICD_CTLR.RWP",
            )?;
            // SAFETY: the caller's region, mapped, ours alone.
            let redistributor = unsafe { own_redistributor(redistributors) }?;
            redistributor
                .waker
                .set(redistributor.waker.get() & !WAKER_PROCESSOR_SLEEP);
            poll_clear(
                || redistributor.waker.get() & WAKER_CHILDREN_ASLEEP != 0,
                "GICR_WAKER.ChildrenAsleep",
            )?;
            redistributor.group.set(redistributor.group.get() | bit);
            let priority = &redistributor.priority[priority_word];
            priority.set(with_priority(priority.get()));
            redistributor.set_enable.set(bit);
            // SAFETY: turns on the system-register interface of this CPU's (virtual) GIC, lets
            // every priority through and enables group 1: only the interrupt enabled above can
            // then be signalled, and the vector table is in place. No memory is touched.
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
                    mask = in(reg) u64::from(PRIORITY_MASK),
                    one = in(reg) 1u64,
                    options(nostack),
                );
            }
            VERSION.store(3, Ordering::Release);
        }
    }
    Ok(())
}

/// This CPU's interface to the GIC, for the interrupt handler.
#[derive(Clone, Copy)]
pub enum CpuInterface {
    Memory(&'static CpuInterfaceRegisters),
    SystemRegisters,
}

impl CpuInterface {
    /// The interface `enable_private_interrupt` set up, if it has.
    pub fn current() -> Option<Self> {
        match VERSION.load(Ordering::Acquire) {
            2 => {
                let address = CPU_INTERFACE.load(Ordering::Relaxed);
                // SAFETY: `enable_private_interrupt` stored the address of the mapped GICC
                // frame its caller handed over for good before storing the version.
                Some(Self::Memory(unsafe {
                    &*(address as *const CpuInterfaceRegisters)
                }))
            }
            3 => Some(Self::SystemRegisters),
            _ => None,
        }
    }

    /// Acknowledges the highest-priority pending interrupt; the caller ends it with
    /// [`CpuInterface::end_of_interrupt`] unless it is special (1020-1023).
    pub fn acknowledge(self) -> u32 {
        match self {
            Self::Memory(registers) => registers.acknowledge.get(),
            Self::SystemRegisters => {
                let value: u64;
                // SAFETY: reading ICC_IAR1_EL1 acknowledges an interrupt, which the caller
                // handles and ends; no memory is touched.
                unsafe { asm!("mrs {}, icc_iar1_el1", out(reg) value, options(nomem, nostack)) };
                value as u32
            }
        }
    }

    /// Priority drop and deactivation of an acknowledged interrupt (EOImode 0).
    pub fn end_of_interrupt(self, acknowledged: u32) {
        match self {
            Self::Memory(registers) => registers.end_of_interrupt.set(acknowledged),
            // SAFETY: ends the interrupt `acknowledge` returned; no memory is touched.
            Self::SystemRegisters => unsafe {
                asm!("msr icc_eoir1_el1, {}", in(reg) u64::from(acknowledged), options(nomem, nostack));
            },
        }
    }
}

/// A register frame at `range`'s base.
///
/// # Safety
///
/// `range` must hold a mapped frame of type `T`, used only through the returned reference.
pub unsafe fn frame<T>(range: AddressRange) -> &'static T {
    // SAFETY: the caller's guarantee; the register types make every access volatile.
    unsafe { &*(range.base as usize as *const T) }
}

/// The redistributor in `region` whose GICR_TYPER affinity is this CPU's.
///
/// # Safety
///
/// `region` must be the GICv3 redistributor region, mapped as Device memory.
unsafe fn own_redistributor(region: AddressRange) -> Result<&'static Redistributor, GicError> {
    let mpidr = MPIDR_EL1.get();
    // GICR_TYPER[63:32] = Aff3.Aff2.Aff1.Aff0 (IHI 0069H 12.11.35).
    let affinity = (mpidr & 0xff_ffff) | (mpidr >> 32 & 0xff) << 24;
    let end = region.end().unwrap_or(u64::MAX);
    let mut base = region.base;
    while base.saturating_add(REDISTRIBUTOR_STRIDE) <= end {
        // SAFETY: `base` is a redistributor inside the caller's region: the first, or the one
        // after a redistributor whose Last bit was clear, and the whole frame pair fits.
        let redistributor =
            unsafe { frame::<Redistributor>(AddressRange::new(base, REDISTRIBUTOR_STRIDE)) };
        let type_register = redistributor.type_register.get();
        if type_register >> 32 == affinity {
            return Ok(redistributor);
        }
        if type_register & TYPE_LAST != 0 {
            break;
        }
        base += if type_register & TYPE_VIRTUAL_LPIS != 0 {
            REDISTRIBUTOR_STRIDE_VIRTUAL_LPIS
        } else {
            REDISTRIBUTOR_STRIDE
        };
    }
    Err(GicError::NoRedistributor { affinity })
}

/// Waits until `busy` is false, or reports `what` as stuck.
fn poll_clear(busy: impl Fn() -> bool, what: &'static str) -> Result<(), GicError> {
    for _ in 0..POLL_LIMIT {
        if !busy() {
            return Ok(());
        }
        core::hint::spin_loop();
    }
    Err(GicError::Stuck { what })
}
