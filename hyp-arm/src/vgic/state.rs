//! Per-interrupt virtual state: what the guest programmed, where the interrupt is in its life.
#![forbid(unsafe_code)]

use super::list_register::LrState;

/// The priority bits the vGIC implements: five, 32 levels, the unimplemented low bits RAZ/WI
/// (IHI 0069, "Interrupt prioritization"). Five is what a GICv2 list register can carry
/// (GICH_LRn.Priority [27:23]), so the order the guest programs is the order it gets.
pub const PRIORITY_MASK: u8 = 0xF8;

/// Edge or level, from GICD_ICFGR<n>.Int_config[1] (IHI 0069 GICD_ICFGR<n>).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Level,
    Edge,
}

/// Who the interrupt belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// An SPI of another domain or of the hypervisor: the guest reads zero and its writes are
    /// ignored.
    NotOwned,
    /// Exists only in the vGIC (SGIs, emulated devices, PPIs without a physical counterpart).
    Virtual,
    /// Backed by the physical interrupt with the same INTID: injected with HW=1 so the guest's
    /// deactivation deactivates it, and its configuration is forwarded to the physical GIC.
    Hardware,
}

/// Where an interrupt handed to a vCPU's list register sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Queued {
    /// The vCPU whose list register holds it.
    pub vcpu: u8,
    /// The list register's index.
    pub list_register: u8,
    /// Its state there, as last written or read back.
    pub state: LrState,
    /// GICv2 SGIs: the sender in that list register.
    pub source_vcpu: u8,
}

/// Changes the guest asked for (through another vCPU's MMIO) on an interrupt held in a list
/// register; the owning vCPU applies them when it next syncs, since only it can touch its LRs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListRegisterRequests {
    pub clear_pending: bool,
    pub clear_active: bool,
    pub set_active: bool,
}

/// The virtual state of one interrupt (one per SPI, one per SGI/PPI per vCPU).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterruptState {
    pub ownership: Ownership,
    /// GICD_ISENABLER: may be forwarded to a vCPU.
    pub enabled: bool,
    /// Pending and not yet in a list register (software or edge pend, or a physical firing).
    /// GICv2 SGIs keep their pending state per source instead (`Vgic` holds those bits).
    pub pending_latch: bool,
    /// Active and not in a list register (only through GICD_ISACTIVER).
    pub active: bool,
    /// GICD_IGROUPR: group 1 (Linux's choice on GICv3) or group 0 (GICv2's reset value).
    pub group1: bool,
    pub trigger: Trigger,
    /// GICD_IPRIORITYR, lowest value first; only the bits in `PRIORITY_MASK`.
    pub priority: u8,
    /// The routing as the guest wrote it: GICv3 GICD_IROUTER Aff2.Aff1.Aff0 (bits [23:0]),
    /// GICv2 GICD_ITARGETSR CPU mask (bits [7:0]). Unused for SGIs and PPIs.
    pub route: u32,
    /// The vCPU `route` selects, if any (SPIs only).
    pub target_vcpu: Option<u8>,
    /// Set while a list register holds the interrupt.
    pub queued: Option<Queued>,
    pub requests: ListRegisterRequests,
}

impl InterruptState {
    /// The reset state of an interrupt the domain does not own.
    pub const NOT_OWNED: Self = Self {
        ownership: Ownership::NotOwned,
        enabled: false,
        pending_latch: false,
        active: false,
        group1: false,
        trigger: Trigger::Level,
        priority: 0,
        route: 0,
        target_vcpu: None,
        queued: None,
        requests: ListRegisterRequests {
            clear_pending: false,
            clear_active: false,
            set_active: false,
        },
    };

    /// The reset state of an owned interrupt: disabled, idle, priority 0, level-triggered
    /// (SGIs are always edge), routed to vCPU 0.
    pub const fn reset(ownership: Ownership, group1: bool, trigger: Trigger, route: u32) -> Self {
        Self {
            ownership,
            group1,
            trigger,
            route,
            target_vcpu: Some(0),
            ..Self::NOT_OWNED
        }
    }

    pub const fn is_owned(&self) -> bool {
        !matches!(self.ownership, Ownership::NotOwned)
    }

    pub const fn is_hardware(&self) -> bool {
        matches!(self.ownership, Ownership::Hardware)
    }

    /// The list register state, `Invalid` when not queued.
    pub fn list_register_state(&self) -> LrState {
        self.queued.map_or(LrState::Invalid, |queued| queued.state)
    }

    /// Pending in a list register, counting a requested clear as done (what the guest reads).
    pub fn pending_in_list_register(&self) -> bool {
        self.list_register_state().is_pending() && !self.requests.clear_pending
    }

    /// Active in a list register, counting requested changes as done (what the guest reads).
    pub fn active_in_list_register(&self) -> bool {
        self.queued.is_some()
            && (self.requests.set_active
                || (self.list_register_state().is_active() && !self.requests.clear_active))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_state_is_idle_and_routed_to_vcpu_zero() {
        let state = InterruptState::reset(Ownership::Hardware, true, Trigger::Level, 1);
        assert!(state.is_owned() && state.is_hardware());
        assert!(!state.enabled && !state.pending_latch && !state.active);
        assert_eq!(state.target_vcpu, Some(0));
        assert_eq!(state.list_register_state(), LrState::Invalid);
        assert!(!InterruptState::NOT_OWNED.is_owned());
    }
}
