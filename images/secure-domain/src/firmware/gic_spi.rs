//! Enabling one shared peripheral interrupt (SPI) for this CPU at the distributor: priority,
//! target (GICv2 GICD_ITARGETSR, Arm IHI 0048B 4.3.12; GICv3 GICD_IROUTER, IHI 0069H 12.9.22),
//! group (as the timer's: left at its reset group on GICv2, group 1 on GICv3), then the enable.
//! Used for a channel's doorbell, which hyp-arm raises as a virtual SPI.

use aarch64_cpu::registers::MPIDR_EL1;
use hyp_arm_secure_domain::platform::GicLayout;
use tock_registers::interfaces::{Readable, Writeable};

use crate::gic::{frame, PRIORITY};
use crate::gic_registers::{Distributor, TYPE_INTERRUPT_LINES};

/// SPIs are INTIDs 32 and up.
const FIRST_SPI: u32 = 32;
/// INTIDs 1020-1023 are special.
const FIRST_SPECIAL_INTID: u32 = 1020;
/// GICD_ITARGETSR's value for CPU interface 0, used when ITARGETSR0 reads as zero (which a
/// uniprocessor GICv2 may do, IHI 0048B 4.3.12).
const CPU_INTERFACE_0: u32 = 0x01;

/// Why an SPI cannot be enabled.
#[derive(Clone, Copy, Debug)]
pub enum SpiError {
    /// The INTID is not an SPI this distributor implements.
    NotImplemented { intid: u32, lines: u32 },
}

impl core::fmt::Display for SpiError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotImplemented { intid, lines } => write!(
                formatter,
                "INTID {intid} is not an SPI of the GIC distributor, which has INTIDs 32-{}",
                lines - 1
            ),
        }
    }
}

/// Routes SPI `intid` to this CPU at the domain's priority and enables it.
///
/// # Safety
///
/// `layout` must be the GIC that `gic::enable_private_interrupt` set up (its distributor mapped
/// as Device memory for the rest of the program), and nothing else may program the distributor
/// meanwhile.
pub unsafe fn enable_shared_interrupt(layout: GicLayout, intid: u32) -> Result<(), SpiError> {
    let [distributor_range, _] = layout.regions();
    // SAFETY: the caller's distributor frame, mapped, ours alone.
    let distributor = unsafe { frame::<Distributor>(distributor_range) };
    let lines = (32 * ((distributor.type_register.get() & TYPE_INTERRUPT_LINES) + 1))
        .min(FIRST_SPECIAL_INTID);
    if !(FIRST_SPI..lines).contains(&intid) {
        return Err(SpiError::NotImplemented { intid, lines });
    }
    // `intid` < 1020, so every index below is inside its register array.
    let word = (intid / 4) as usize;
    let shift = (intid % 4) * 8;
    let priority = &distributor.priority[word];
    priority.set((priority.get() & !(0xff << shift)) | PRIORITY << shift);
    let bit = 1u32 << (intid % 32);
    match layout {
        GicLayout::V2 { .. } => {
            // ITARGETSR0-7 read as this CPU interface's own bit (IHI 0048B 4.3.12).
            let own = match distributor.targets[0].get() & 0xff {
                0 => CPU_INTERFACE_0,
                mask => mask,
            };
            let targets = &distributor.targets[word];
            targets.set((targets.get() & !(0xff << shift)) | own << shift);
        }
        GicLayout::V3 { .. } => {
            let group = &distributor.group[(intid / 32) as usize];
            group.set(group.get() | bit);
            // GICD_IROUTER: Aff3 in bits [39:32], Aff2.Aff1.Aff0 in [23:0], IRM (bit 31) clear:
            // this CPU only.
            let mpidr = MPIDR_EL1.get();
            let affinity = (mpidr & 0xff_ffff) | (mpidr >> 32 & 0xff) << 32;
            distributor.router[intid as usize].set(affinity);
        }
    }
    distributor.set_enable[(intid / 32) as usize].set(bit);
    Ok(())
}
