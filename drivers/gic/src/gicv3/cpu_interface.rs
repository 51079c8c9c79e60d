//! The calling CPU's GICv3 CPU interface (system registers): acknowledge, priority drop, deactivation, SGIs.

use aarch64_cpu::registers::ICC_SRE_EL2;
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

use super::sysreg::{
    self, ICC_CTLR_EL1, ICC_DIR_EL1, ICC_EOIR1_EL1, ICC_IAR1_EL1, ICC_IGRPEN1_EL1, ICC_PMR_EL1,
    ICC_SGI1R_EL1,
};
use crate::barrier::{dsb_ishst, dsb_sy, isb};
use crate::{Acknowledged, Affinity, GicError, IntId};

/// Where an SGI goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SgiTarget {
    /// The CPUs of cluster `aff3.aff2.aff1` whose Aff0 is `16 * range_selector + n` for each bit n of
    /// `target_list`. A `range_selector` above 0 needs ICC_CTLR_EL1.RSS.
    List {
        aff3: u8,
        aff2: u8,
        aff1: u8,
        range_selector: u8,
        target_list: u16,
    },
    /// Every CPU that takes part in interrupt distribution, except the calling one.
    AllOtherCpus,
}

impl SgiTarget {
    /// The one CPU with affinity `affinity`.
    pub const fn cpu(affinity: Affinity) -> Self {
        Self::List {
            aff3: affinity.aff3,
            aff2: affinity.aff2,
            aff1: affinity.aff1,
            range_selector: affinity.aff0 / 16,
            target_list: 1 << (affinity.aff0 % 16),
        }
    }
}

/// Sets up the calling CPU's interface at EL2: system register access on (and allowed to EL1, so guests
/// can use their virtual interface through system registers), every priority unmasked, EOImode = 1,
/// Group 1 enabled.
///
/// EOImode = 1 splits priority drop (ICC_EOIR1_EL1) from deactivation (ICC_DIR_EL1): the hypervisor drops
/// priority at once, and a hardware-mapped interrupt stays active until the guest deactivates its
/// virtual twin through the list register (IHI 0069, ICC_CTLR_EL1.EOImode and `ICH_LR<n>_EL2.HW`).
pub fn init() {
    // IHI 0069, ICC_SRE_EL2: SRE enables the system register interface at EL2; Enable lets EL1 accesses
    // to ICC_SRE_EL1 through. Without SRE the other ICC registers are not reachable, hence the ISB.
    sysreg::ICC_SRE_EL2.modify(ICC_SRE_EL2::SRE::SET + ICC_SRE_EL2::ENABLE::SET);
    isb();
    ICC_PMR_EL1.write(sysreg::ICC_PMR_EL1::Priority.val(0xff));
    ICC_CTLR_EL1.modify(sysreg::ICC_CTLR_EL1::EOImode::SET);
    ICC_IGRPEN1_EL1.write(sysreg::ICC_IGRPEN1_EL1::Enable::SET);
    isb();
}

/// Takes the highest-priority pending Group 1 interrupt, making it active. `None` if nothing was pending
/// (special IDs 1020-1023).
///
/// LPIs and extended SPI/PPI ranges are never enabled by this crate. Should such an ID arrive anyway, it
/// is completed at once (so it cannot hold off lower priorities) and `None` returned.
pub fn acknowledge() -> Option<Acknowledged> {
    let raw = ICC_IAR1_EL1.read(sysreg::ICC_IAR1_EL1::INTID) as u32;
    // As Linux's gic_read_iar: the acknowledge completes before anything that depends on it.
    dsb_sy();
    if let Some(intid) = IntId::new(raw) {
        return Some(Acknowledged { intid, raw });
    }
    if !(IntId::SPECIAL_START..1024).contains(&raw) {
        ICC_EOIR1_EL1.set(u64::from(raw));
        ICC_DIR_EL1.set(u64::from(raw));
        isb();
    }
    None
}

/// Drops the running priority back to what it was before `acknowledged`; the interrupt stays active.
pub fn end_of_interrupt(acknowledged: Acknowledged) {
    ICC_EOIR1_EL1.write(sysreg::ICC_EOIR1_EL1::INTID.val(u64::from(acknowledged.raw)));
    isb();
}

/// Deactivates an interrupt whose priority was dropped.
pub fn deactivate(acknowledged: Acknowledged) {
    ICC_DIR_EL1.write(sysreg::ICC_DIR_EL1::INTID.val(u64::from(acknowledged.raw)));
    isb();
}

/// The ICC_SGI1R_EL1 value that sends SGI `sgi` to `target`.
pub fn sgi1r_value(sgi: u8, target: SgiTarget) -> Result<u64, GicError> {
    use sysreg::ICC_SGI1R_EL1 as SGI1R;
    if IntId::sgi(u32::from(sgi)).is_none() {
        return Err(GicError::InvalidSgi(sgi));
    }
    let intid = SGI1R::INTID.val(u64::from(sgi));
    let value = match target {
        SgiTarget::List {
            aff3,
            aff2,
            aff1,
            range_selector,
            target_list,
        } => {
            if range_selector > 15 {
                return Err(GicError::RangeSelector(range_selector));
            }
            intid
                + SGI1R::IRM::ListedCpus
                + SGI1R::Aff3.val(u64::from(aff3))
                + SGI1R::Aff2.val(u64::from(aff2))
                + SGI1R::Aff1.val(u64::from(aff1))
                + SGI1R::RS.val(u64::from(range_selector))
                + SGI1R::TargetList.val(u64::from(target_list))
        }
        SgiTarget::AllOtherCpus => intid + SGI1R::IRM::AllOtherCpus,
    };
    Ok(value.value)
}

/// Sends SGI `sgi` to `target`. Stores before the call are visible to the targets before the SGI arrives.
///
/// A target with a range selector above 0 is refused unless the GIC supports range selection.
pub fn send_sgi(sgi: u8, target: SgiTarget) -> Result<(), GicError> {
    let value = sgi1r_value(sgi, target)?;
    if let SgiTarget::List {
        range_selector: range_selector @ 1..,
        ..
    } = target
    {
        if !has_range_selector_support() {
            return Err(GicError::RangeSelector(range_selector));
        }
    }
    // As Linux's gic_ipi_send_mask: DSB so the receiver sees the data the SGI announces, ISB so the SGI is
    // issued before what follows.
    dsb_ishst();
    ICC_SGI1R_EL1.set(value);
    isb();
    Ok(())
}

/// Whether SGIs can target Aff0 values 16 and above (ICC_CTLR_EL1.RSS).
pub fn has_range_selector_support() -> bool {
    ICC_CTLR_EL1.is_set(sysreg::ICC_CTLR_EL1::RSS)
}
