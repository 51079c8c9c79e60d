//! SGIs: GICv3 ICC_SGI*R_EL1 writes, GICv2 GICD_SGIR and the per-source pending registers.
#![forbid(unsafe_code)]

use super::access::{VcpuSet, VgicError};
use super::{GicVersion, Vgic, MAX_VCPUS, SGI_COUNT};

/// ICC_SGI1R_EL1 / ICC_SGI0R_EL1 / ICC_ASGI1R_EL1 fields (IHI 0069 ICC_SGI1R_EL1).
mod gicv3_sgi {
    pub const TARGET_LIST_MASK: u64 = 0xFFFF;
    pub const AFF1_SHIFT: u32 = 16;
    pub const INTID_SHIFT: u32 = 24;
    pub const AFF2_SHIFT: u32 = 32;
    /// Interrupt Routing Mode: 1 = every PE but the sender.
    pub const IRM: u64 = 1 << 40;
    /// Range Selector: TargetList bit n is Aff0 = RS * 16 + n.
    pub const RS_SHIFT: u32 = 44;
    pub const AFF3_SHIFT: u32 = 48;
}

/// GICD_SGIR fields (IHI 0048B GICD_SGIR).
mod gicv2_sgi {
    pub const INTID_MASK: u32 = 0xF;
    pub const TARGET_LIST_SHIFT: u32 = 16;
    pub const FILTER_SHIFT: u32 = 24;
    /// TargetListFilter values.
    pub const FILTER_LIST: u32 = 0;
    pub const FILTER_ALL_BUT_SELF: u32 = 1;
    pub const FILTER_SELF: u32 = 2;
}

impl Vgic {
    /// A trapped ICC_SGI1R_EL1 write by `sender`: pends SGI INTID [27:24] on each target (the
    /// TargetList [15:0] at Aff3.Aff2.Aff1 [55:48].[39:32].[23:16] with Aff0 = RS [47:44] * 16 +
    /// bit, or with IRM [40] every vCPU but the sender). Returns the targets that can now take it:
    /// the caller kicks those running elsewhere. Targets that do not exist are ignored.
    pub fn send_sgi_v3(&mut self, sender: usize, icc_sgi1r: u64) -> Result<VcpuSet, VgicError> {
        // With one security state, ICC_SGI1R_EL1 reaches SGIs of either group (IHI 0069
        // ICC_SGI1R_EL1, "Forwarding an SGI to a target PE", GICD_CTLR.DS == 1).
        self.send_sgi_v3_filtered(sender, icc_sgi1r, true)
    }

    /// A trapped ICC_SGI0R_EL1 or ICC_ASGI1R_EL1 write: like `send_sgi_v3`, but only targets
    /// whose SGI is in group 0 take it (with one security state, ASGI1R has no other group to
    /// reach; KVM treats it the same way).
    pub fn send_sgi_v3_group0(&mut self, sender: usize, value: u64) -> Result<VcpuSet, VgicError> {
        self.send_sgi_v3_filtered(sender, value, false)
    }

    fn send_sgi_v3_filtered(
        &mut self,
        sender: usize,
        value: u64,
        group1_allowed: bool,
    ) -> Result<VcpuSet, VgicError> {
        self.check_vcpu(sender)?;
        let sgi = ((value >> gicv3_sgi::INTID_SHIFT) & 0xF) as u32;
        let targets = if value & gicv3_sgi::IRM != 0 {
            let mut others = self.all_vcpus();
            others = VcpuSet::from_bits(others.bits() & !(1 << sender));
            others
        } else {
            self.sgi_target_list(value)
        };
        let mut kick = VcpuSet::EMPTY;
        for target in targets.iter() {
            let group1 = self
                .interrupt_state(target, sgi)
                .is_some_and(|state| state.group1);
            if group1 && !group1_allowed {
                continue;
            }
            if self.pend_sgi(target, sgi, sender) {
                kick.insert(target);
            }
        }
        Ok(kick)
    }

    /// The vCPUs an ICC_SGI*R_EL1 TargetList names. Ours all sit at Aff3.Aff2.Aff1 = 0.0.0.
    fn sgi_target_list(&self, value: u64) -> VcpuSet {
        let upper_affinity = (value >> gicv3_sgi::AFF1_SHIFT) & 0xFF
            | (value >> gicv3_sgi::AFF2_SHIFT) & 0xFF
            | (value >> gicv3_sgi::AFF3_SHIFT) & 0xFF;
        let mut targets = VcpuSet::EMPTY;
        if upper_affinity != 0 {
            return targets;
        }
        let range_base = ((value >> gicv3_sgi::RS_SHIFT) & 0xF) * 16;
        let list = value & gicv3_sgi::TARGET_LIST_MASK;
        for bit in 0..16 {
            let aff0 = range_base + bit;
            if list & (1 << bit) != 0 && aff0 < self.vcpu_count as u64 {
                targets.insert(aff0 as usize);
            }
        }
        targets
    }

    /// A GICv2 GICD_SGIR write by `sender`: TargetListFilter [25:24] (0: CPUTargetList [23:16],
    /// 1: all but self, 2: self, 3: reserved, ignored), SGIINTID [3:0]. Returns the vCPUs to
    /// kick.
    pub(crate) fn send_sgi_v2(&mut self, sender: usize, sgir: u32) -> VcpuSet {
        let sgi = sgir & gicv2_sgi::INTID_MASK;
        let all = self.all_vcpus().bits();
        let target_bits = match (sgir >> gicv2_sgi::FILTER_SHIFT) & 0b11 {
            gicv2_sgi::FILTER_LIST => (sgir >> gicv2_sgi::TARGET_LIST_SHIFT) as u8 & all,
            gicv2_sgi::FILTER_ALL_BUT_SELF => all & !(1 << sender),
            gicv2_sgi::FILTER_SELF => 1 << sender,
            _ => 0,
        };
        let mut kick = VcpuSet::EMPTY;
        for target in VcpuSet::from_bits(target_bits).iter() {
            if self.pend_sgi(target, sgi, sender) {
                kick.insert(target);
            }
        }
        kick
    }

    /// Makes SGI `sgi` from `source` pending on `target` (GICv2 per source, GICv3 one latch).
    /// Returns whether the target should be kicked.
    pub(crate) fn pend_sgi(&mut self, target: usize, sgi: u32, source: usize) -> bool {
        if target >= self.vcpu_count || source >= MAX_VCPUS || sgi as usize >= SGI_COUNT {
            return false;
        }
        if self.version == GicVersion::V2 {
            if let Some(sources) = self
                .vcpus
                .get_mut(target)
                .and_then(|vcpu| vcpu.sgi_sources.get_mut(sgi as usize))
            {
                *sources |= 1 << source;
            }
        } else if let Some(state) = self.interrupt_mut(target, sgi) {
            state.pending_latch = true;
        }
        let mut kick = VcpuSet::EMPTY;
        self.note_change(target, sgi, &mut kick);
        kick.contains(target)
    }

    /// GICD_SPENDSGIR / GICD_CPENDSGIR read: byte n is the pending sources of SGI first_sgi + n
    /// on the reading vCPU (IHI 0048B GICD_SPENDSGIRn).
    pub(crate) fn read_sgi_pending_sources(&self, vcpu: usize, first_sgi: u32, width: u8) -> u64 {
        (0..u32::from(width)).fold(0, |value, byte| {
            value | u64::from(self.sgi_pending_sources(vcpu, first_sgi + byte)) << (byte * 8)
        })
    }

    fn sgi_pending_sources(&self, vcpu: usize, sgi: u32) -> u8 {
        let latched = self
            .vcpus
            .get(vcpu)
            .and_then(|state| state.sgi_sources.get(sgi as usize))
            .copied()
            .unwrap_or(0);
        let queued = self
            .interrupt_state(vcpu, sgi)
            .filter(|state| state.pending_in_list_register())
            .and_then(|state| state.queued)
            .map_or(0, |queued| {
                1u8.checked_shl(u32::from(queued.source_vcpu)).unwrap_or(0)
            });
        latched | queued
    }

    /// GICD_SPENDSGIR (`set`) / GICD_CPENDSGIR write on the writing vCPU's SGIs. Source bits of
    /// vCPUs that do not exist are ignored.
    pub(crate) fn write_sgi_pending_sources(
        &mut self,
        vcpu: usize,
        first_sgi: u32,
        width: u8,
        value: u64,
        set: bool,
    ) -> VcpuSet {
        let all = self.all_vcpus().bits();
        let mut kick = VcpuSet::EMPTY;
        for byte in 0..u32::from(width) {
            let sgi = first_sgi + byte;
            let bits = (value >> (byte * 8)) as u8 & all;
            if bits == 0 || sgi as usize >= SGI_COUNT {
                continue;
            }
            if set {
                for source in VcpuSet::from_bits(bits).iter() {
                    if self.pend_sgi(vcpu, sgi, source) {
                        kick.insert(vcpu);
                    }
                }
                continue;
            }
            if let Some(sources) = self
                .vcpus
                .get_mut(vcpu)
                .and_then(|state| state.sgi_sources.get_mut(sgi as usize))
            {
                *sources &= !bits;
            }
            if let Some(state) = self.interrupt_mut(vcpu, sgi) {
                if let Some(queued) = state.queued {
                    let source_bit = 1u8.checked_shl(u32::from(queued.source_vcpu)).unwrap_or(0);
                    if queued.state.is_pending() && bits & source_bit != 0 {
                        state.requests.clear_pending = true;
                        kick.insert(vcpu);
                    }
                }
            }
        }
        kick
    }
}
