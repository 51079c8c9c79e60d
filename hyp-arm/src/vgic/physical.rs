//! Physical side effects on hardware-mapped interrupts: the vGIC decides, the caller acts.
#![forbid(unsafe_code)]

use super::state::Trigger;

/// A physical interrupt the guest owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhysicalInterrupt {
    /// A PPI, banked per physical CPU: the copy of the physical CPU that runs `vcpu`.
    Private { vcpu: usize, intid: u32 },
    /// An SPI.
    Shared { intid: u32 },
}

impl PhysicalInterrupt {
    /// The physical interrupt behind `intid` in the bank of `vcpu`.
    pub(crate) fn new(bank_vcpu: usize, intid: u32) -> Self {
        if intid < super::PRIVATE_INTERRUPTS {
            Self::Private {
                vcpu: bank_vcpu,
                intid,
            }
        } else {
            Self::Shared { intid }
        }
    }

    pub fn intid(self) -> u32 {
        match self {
            Self::Private { intid, .. } | Self::Shared { intid } => intid,
        }
    }
}

/// What the physical GIC must do when the guest programs an interrupt it owns (hardware-mapped:
/// `VgicConfig::owned_spis` and `hardware_ppis`). The caller implements it over the GIC driver;
/// each call names an interrupt the domain owns, never another.
///
/// A priority is not among them: a guest's GICD_IPRIORITYR write changes only the virtual
/// priority (the list register's), which alone decides delivery inside the guest. Physically
/// every guest interrupt keeps the one priority the GIC driver gives it at start-up, below the
/// hypervisor's own, so a guest cannot reorder what the hypervisor acknowledges first, and the
/// write costs no physical distributor access.
pub trait PhysicalGicEffects {
    /// GICD_ISENABLER / GICD_ICENABLER.
    fn set_enabled(&mut self, interrupt: PhysicalInterrupt, enabled: bool);
    /// GICD_ICFGR (SPIs only: hardware PPIs keep their physical configuration).
    fn set_trigger(&mut self, interrupt: PhysicalInterrupt, trigger: Trigger);
    /// Route the SPI to the physical CPU that runs `vcpu`.
    fn route_spi(&mut self, intid: u32, vcpu: usize);
    /// GICD_ISPENDR / GICD_ICPENDR.
    fn set_pending(&mut self, interrupt: PhysicalInterrupt, pending: bool);
    /// GICD_ISACTIVER / GICD_ICACTIVER; also a deactivation when the guest withdraws an
    /// interrupt the hypervisor acknowledged but the guest never saw.
    fn set_active(&mut self, interrupt: PhysicalInterrupt, active: bool);
}

/// Effects that do nothing, for a domain with no hardware-mapped interrupts.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPhysicalEffects;

impl PhysicalGicEffects for NoPhysicalEffects {
    fn set_enabled(&mut self, _interrupt: PhysicalInterrupt, _enabled: bool) {}
    fn set_trigger(&mut self, _interrupt: PhysicalInterrupt, _trigger: Trigger) {}
    fn route_spi(&mut self, _intid: u32, _vcpu: usize) {}
    fn set_pending(&mut self, _interrupt: PhysicalInterrupt, _pending: bool) {}
    fn set_active(&mut self, _interrupt: PhysicalInterrupt, _active: bool) {}
}
