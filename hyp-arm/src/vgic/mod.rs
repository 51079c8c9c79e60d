//! The virtual GIC: distributor/redistributor emulation and list-register management.
//!
//! A pure state machine that never touches the hardware. One `Vgic` serves one domain; the
//! caller (the trap handlers) holds it behind a lock and:
//! - forwards trapped GICD accesses to [`Vgic::distributor_read`] / [`Vgic::distributor_write`],
//!   and GICv3 GICR accesses (offset within the guest's whole redistributor region) to
//!   [`Vgic::redistributor_read`] / [`Vgic::redistributor_write`];
//! - forwards trapped ICC_SGI1R_EL1 writes to [`Vgic::send_sgi_v3`] (ICC_SGI0R_EL1 and
//!   ICC_ASGI1R_EL1 to [`Vgic::send_sgi_v3_group0`]);
//! - calls [`Vgic::inject`] when a physical interrupt the domain owns fires;
//! - calls [`Vgic::sync_and_fill`] with the vCPU's list registers on every exit, before
//!   re-entering the guest, and [`Vgic::has_pending`] to decide whether a WFI should wait.
//!
//! Writes and injections return the vCPUs that have new work (`VcpuSet`): the caller sends a
//! physical IPI to those running on another physical CPU, so that they exit and refill their list
//! registers. Physical side effects of guest writes on hardware-mapped interrupts (enable,
//! priority, trigger, routing, pending, active) are decided here and performed by the caller
//! through [`PhysicalGicEffects`].
//!
//! Guest input never panics: every offset, width and value is checked; bad accesses return a
//! `VgicAccessError` and leave the state unchanged, reserved registers read as zero.
#![forbid(unsafe_code)]

mod access;
mod config;
mod distributor;
mod injection;
mod interrupt_registers;
mod intid_bitmap;
mod list_register;
mod physical;
mod redistributor;
mod sgi;
mod state;

#[cfg(test)]
mod tests;

pub use access::{IgnoredInterrupts, VcpuSet, VgicAccessError, VgicError, WriteOutcome};
pub use config::{
    GicVersion, InterruptSet, VgicConfig, VgicConfigError, INTID_LIMIT, MAX_SPIS, MAX_VCPUS,
    PRIVATE_INTERRUPTS,
};
pub use distributor::DISTRIBUTOR_SIZE;
pub use injection::{FillOutcome, MAX_LIST_REGISTERS};
pub use list_register::{ListRegister, LrState};
pub use physical::{NoPhysicalEffects, PhysicalGicEffects, PhysicalInterrupt};
pub use redistributor::REDISTRIBUTOR_STRIDE;
pub use state::{InterruptState, ListRegisterRequests, Ownership, Queued, Trigger, PRIORITY_MASK};

use intid_bitmap::IntidBitmap;

/// The number of SGIs (INTIDs 0..=15).
const SGI_COUNT: usize = 16;

/// The virtual GIC of one domain.
#[derive(Clone, Debug)]
pub struct Vgic {
    version: GicVersion,
    vcpu_count: usize,
    nr_spis: u32,
    /// GICD_CTLR EnableGrp0 (bit 0) and EnableGrp1 (bit 1): the same bits in GICv2 and in the
    /// GICv3 single-security-state view (IHI 0069 GICD_CTLR, DS == 1).
    group_enables: u32,
    /// `VgicConfig::deactivate_hardware_by_maintenance`.
    deactivate_hardware_by_maintenance: bool,
    spis: [InterruptState; MAX_SPIS as usize],
    vcpus: [VcpuState; MAX_VCPUS],
}

/// Per-vCPU state: the banked SGIs and PPIs, the list register bookkeeping, the redistributor.
#[derive(Clone, Copy, Debug)]
struct VcpuState {
    banked: [InterruptState; PRIVATE_INTERRUPTS as usize],
    /// GICv2 SGIs: bit s of entry n is set while SGI n from vCPU s is pending and not in a list
    /// register (IHI 0048B GICD_SPENDSGIRn).
    sgi_sources: [u8; SGI_COUNT],
    /// The INTID each list register holds, as this vGIC last wrote it.
    list_registers: [Option<u16>; MAX_LIST_REGISTERS],
    /// Bit n is set when `list_registers[n]` holds an INTID.
    occupied_list_registers: u16,
    /// The INTIDs that may want a list register on this vCPU (pending or active, not queued).
    /// A superset: `sync_and_fill` drops stale ones as it scans.
    work: IntidBitmap,
    /// Pending interrupts that cannot be delivered yet (disabled, or their group disabled in
    /// GICD_CTLR), moved out of `work` by `sync_and_fill` so that exits which change nothing
    /// skip the list registers. Every change that can make one deliverable either goes through
    /// `note_change` (which marks it as work again) or is a GICD_CTLR write, which hands all of
    /// them back (`wake_waiting`).
    waiting: IntidBitmap,
    /// GICR_WAKER.ProcessorSleep, which resets to 1 (IHI 0069 GICR_WAKER).
    processor_sleep: bool,
}

impl VcpuState {
    const RESET: Self = Self {
        banked: [InterruptState::NOT_OWNED; PRIVATE_INTERRUPTS as usize],
        sgi_sources: [0; SGI_COUNT],
        list_registers: [None; MAX_LIST_REGISTERS],
        occupied_list_registers: 0,
        work: IntidBitmap::EMPTY,
        waiting: IntidBitmap::EMPTY,
        processor_sleep: true,
    };
}

impl Vgic {
    /// A vGIC with no vCPUs, for a `static`; every call fails until `configure`.
    pub const fn unconfigured() -> Self {
        Self {
            version: GicVersion::V3,
            vcpu_count: 0,
            nr_spis: 0,
            group_enables: 0,
            deactivate_hardware_by_maintenance: false,
            spis: [InterruptState::NOT_OWNED; MAX_SPIS as usize],
            vcpus: [VcpuState::RESET; MAX_VCPUS],
        }
    }

    /// A vGIC in its reset state for `config`. It is about 27 KiB: in the hypervisor, prefer
    /// `configure` on a `static` to building one on a small stack.
    pub fn new(config: &VgicConfig) -> Result<Self, VgicConfigError> {
        let mut vgic = Self::unconfigured();
        vgic.configure(config)?;
        Ok(vgic)
    }

    /// Resets every interrupt and vCPU to the reset state `config` describes.
    pub fn configure(&mut self, config: &VgicConfig) -> Result<(), VgicConfigError> {
        config.validate()?;
        self.version = config.version;
        self.vcpu_count = config.vcpu_count;
        self.nr_spis = config.nr_spis;
        self.group_enables = 0;
        self.deactivate_hardware_by_maintenance = config.deactivate_hardware_by_maintenance;
        // Linux puts every interrupt in group 1 on GICv3; GICv2 resets everything to group 0,
        // which Linux keeps (IHI 0048B GICD_IGROUPR<n> reset value).
        let group1 = config.version == GicVersion::V3;
        // Route SPIs to vCPU 0 until the guest says otherwise: GICv3 affinity 0.0.0.0, GICv2
        // target mask 0b1.
        let route = match config.version {
            GicVersion::V2 => 1,
            GicVersion::V3 => 0,
        };
        for (index, spi) in self.spis.iter_mut().enumerate() {
            let intid = PRIVATE_INTERRUPTS + index as u32;
            let ownership = if config.owned_spis.contains(intid) {
                Ownership::Hardware
            } else if config.virtual_spis.contains(intid) {
                Ownership::Virtual
            } else {
                Ownership::NotOwned
            };
            *spi = match ownership {
                Ownership::NotOwned => InterruptState::NOT_OWNED,
                _ => InterruptState::reset(ownership, group1, Trigger::Level, route),
            };
        }
        for (vcpu_index, vcpu) in self.vcpus.iter_mut().enumerate() {
            *vcpu = VcpuState::RESET;
            for (intid, state) in vcpu.banked.iter_mut().enumerate() {
                let intid = intid as u32;
                let hardware = config.hardware_ppis.contains(intid);
                let ownership = if hardware {
                    Ownership::Hardware
                } else {
                    Ownership::Virtual
                };
                // SGIs are always edge-triggered (IHI 0069 GICD_ICFGR<n>: SGI Int_config is
                // RAO/WI); PPIs reset to level, which is what the timers are.
                let trigger = if (intid as usize) < SGI_COUNT {
                    Trigger::Edge
                } else {
                    Trigger::Level
                };
                *state = InterruptState::reset(ownership, group1, trigger, 0);
                state.target_vcpu = Some(vcpu_index as u8);
            }
        }
        Ok(())
    }

    pub fn version(&self) -> GicVersion {
        self.version
    }

    pub fn vcpu_count(&self) -> usize {
        self.vcpu_count
    }

    pub fn nr_spis(&self) -> u32 {
        self.nr_spis
    }

    /// The state of `intid` as `vcpu` sees it (its own bank for SGIs and PPIs), for diagnostics.
    pub fn interrupt_state(&self, vcpu: usize, intid: u32) -> Option<&InterruptState> {
        if vcpu >= self.vcpu_count {
            return None;
        }
        if intid < PRIVATE_INTERRUPTS {
            self.vcpus.get(vcpu)?.banked.get(intid as usize)
        } else if self.implements(intid) {
            self.spis.get((intid - PRIVATE_INTERRUPTS) as usize)
        } else {
            None
        }
    }

    fn interrupt_mut(&mut self, vcpu: usize, intid: u32) -> Option<&mut InterruptState> {
        if vcpu >= self.vcpu_count {
            return None;
        }
        if intid < PRIVATE_INTERRUPTS {
            self.vcpus.get_mut(vcpu)?.banked.get_mut(intid as usize)
        } else if self.implements(intid) {
            self.spis.get_mut((intid - PRIVATE_INTERRUPTS) as usize)
        } else {
            None
        }
    }

    /// Whether the guest distributor has this INTID (SPIs end at 32 + nr_spis, and before 1020).
    fn implements(&self, intid: u32) -> bool {
        intid < PRIVATE_INTERRUPTS + self.nr_spis && intid < INTID_LIMIT
    }

    fn check_vcpu(&self, vcpu: usize) -> Result<(), VgicError> {
        if vcpu < self.vcpu_count {
            Ok(())
        } else {
            Err(VgicError::InvalidVcpu { vcpu })
        }
    }

    /// The vCPUs that exist, as a set.
    fn all_vcpus(&self) -> VcpuSet {
        let mut all = VcpuSet::EMPTY;
        (0..self.vcpu_count).for_each(|vcpu| all.insert(vcpu));
        all
    }

    fn group_enabled(&self, group1: bool) -> bool {
        self.group_enables & (1 << u32::from(group1)) != 0
    }

    fn is_gicv2_sgi(&self, intid: u32) -> bool {
        self.version == GicVersion::V2 && (intid as usize) < SGI_COUNT
    }

    /// Pending and not in a list register: the latch, or for GICv2 SGIs any pending source.
    fn has_pending_latch(&self, bank_vcpu: usize, intid: u32) -> bool {
        if self.is_gicv2_sgi(intid) {
            return self.vcpus.get(bank_vcpu).is_some_and(|vcpu| {
                vcpu.sgi_sources
                    .get(intid as usize)
                    .is_some_and(|&sources| sources != 0)
            });
        }
        self.interrupt_state(bank_vcpu, intid)
            .is_some_and(|state| state.pending_latch)
    }

    /// The pending state the guest reads: latched, or pending in a list register.
    fn is_pending(&self, bank_vcpu: usize, intid: u32) -> bool {
        self.has_pending_latch(bank_vcpu, intid)
            || self
                .interrupt_state(bank_vcpu, intid)
                .is_some_and(|state| state.pending_in_list_register())
    }

    /// The vCPU an interrupt is forwarded to: the bank's own for SGIs and PPIs, the routed one
    /// for SPIs.
    fn target(&self, bank_vcpu: usize, intid: u32) -> Option<usize> {
        if intid < PRIVATE_INTERRUPTS {
            return Some(bank_vcpu);
        }
        let target = usize::from(self.interrupt_state(bank_vcpu, intid)?.target_vcpu?);
        (target < self.vcpu_count).then_some(target)
    }

    /// Whether a pending `intid` may be signalled to `vcpu`: enabled (GICD_ISENABLER<n>), its
    /// group enabled (GICD_CTLR), and routed to that vCPU (GICD_IROUTER<n> or ITARGETSR<n>).
    fn is_deliverable(&self, bank_vcpu: usize, intid: u32, vcpu: usize) -> bool {
        self.interrupt_state(bank_vcpu, intid)
            .is_some_and(|state| state.enabled && self.group_enabled(state.group1))
            && self.target(bank_vcpu, intid) == Some(vcpu)
    }

    fn mark_work(&mut self, vcpu: usize, intid: u32) {
        if let Some(state) = self.vcpus.get_mut(vcpu) {
            state.work.insert(intid);
            state.waiting.remove(intid);
        }
    }

    /// GICD_CTLR changed: every interrupt waiting for a group enable becomes work again.
    fn wake_waiting(&mut self) {
        for state in &mut self.vcpus {
            state.waiting.move_all_into(&mut state.work);
        }
    }

    /// After a change to `intid`: record it as work for its target, and add to `kick` the vCPU
    /// that must act (the target, or the vCPU whose list register holds the interrupt).
    fn note_change(&mut self, bank_vcpu: usize, intid: u32, kick: &mut VcpuSet) {
        let Some(state) = self.interrupt_state(bank_vcpu, intid) else {
            return;
        };
        if let Some(queued) = state.queued {
            // The list register's owner merges new pending state, applies requests and evicts a
            // pending interrupt that can no longer be delivered.
            kick.insert(usize::from(queued.vcpu));
            return;
        }
        let active = state.active;
        if !active && !self.has_pending_latch(bank_vcpu, intid) {
            return;
        }
        let Some(target) = self.target(bank_vcpu, intid) else {
            return;
        };
        self.mark_work(target, intid);
        if active || self.is_deliverable(bank_vcpu, intid, target) {
            kick.insert(target);
        }
    }
}
