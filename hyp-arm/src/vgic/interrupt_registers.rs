//! The per-interrupt register arrays (IGROUPR..NSACR) shared by GICD and the GICR SGI frame.
#![forbid(unsafe_code)]

use super::access::{Widths, WriteOutcome};
use super::physical::{PhysicalGicEffects, PhysicalInterrupt};
use super::state::{Trigger, PRIORITY_MASK};
use super::{GicVersion, Vgic, PRIVATE_INTERRUPTS};

/// One of the register arrays at offsets 0x080..0xF00 of GICD and of GICR's SGI_base frame,
/// which IHI 0069 lays out identically (GICR_ISENABLER0 sits where GICD_ISENABLER0 does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InterruptRegister {
    /// IGROUPR<n>.
    Group,
    /// ISENABLER<n>.
    SetEnable,
    /// ICENABLER<n>.
    ClearEnable,
    /// ISPENDR<n>.
    SetPending,
    /// ICPENDR<n>.
    ClearPending,
    /// ISACTIVER<n>.
    SetActive,
    /// ICACTIVER<n>.
    ClearActive,
    /// IPRIORITYR<n>.
    Priority,
    /// ITARGETSR<n> (GICv2; RES0 under GICv3 affinity routing).
    Targets,
    /// ICFGR<n>.
    Config,
    /// IGRPMODR<n>: RAZ/WI without two security states.
    GroupModifier,
    /// NSACR<n>: RAZ/WI without two security states.
    NonSecureAccess,
}

/// Which frame an access came through, which decides the INTIDs it reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    Distributor,
    /// GICR SGI_base: only the SGIs and PPIs of its vCPU.
    Redistributor,
}

/// Offset ranges of the arrays: (first offset, end offset, register).
const LAYOUT: [(u32, u32, InterruptRegister); 12] = [
    (0x080, 0x100, InterruptRegister::Group),
    (0x100, 0x180, InterruptRegister::SetEnable),
    (0x180, 0x200, InterruptRegister::ClearEnable),
    (0x200, 0x280, InterruptRegister::SetPending),
    (0x280, 0x300, InterruptRegister::ClearPending),
    (0x300, 0x380, InterruptRegister::SetActive),
    (0x380, 0x400, InterruptRegister::ClearActive),
    (0x400, 0x800, InterruptRegister::Priority),
    (0x800, 0xC00, InterruptRegister::Targets),
    (0xC00, 0xD00, InterruptRegister::Config),
    (0xD00, 0xD80, InterruptRegister::GroupModifier),
    (0xE00, 0xF00, InterruptRegister::NonSecureAccess),
];

/// Every array starts and ends on a multiple of this, so the chunk an offset falls in names its
/// array.
const CHUNK: u32 = 0x80;
const CHUNKS: usize = 0x1000 / CHUNK as usize;

/// `LAYOUT` by chunk: (first offset of the array, register). Trapped distributor accesses are
/// the hottest emulation path; one table load replaces a search.
const ARRAY_OF_CHUNK: [Option<(u32, InterruptRegister)>; CHUNKS] = {
    let mut table = [None; CHUNKS];
    let mut index = 0;
    while index < LAYOUT.len() {
        let (start, end, register) = LAYOUT[index];
        assert!(start % CHUNK == 0 && end % CHUNK == 0);
        let mut chunk = start / CHUNK;
        while chunk < end / CHUNK {
            table[chunk as usize] = Some((start, register));
            chunk += 1;
        }
        index += 1;
    }
    table
};

impl InterruptRegister {
    /// The register array at `offset`, and the first INTID an access there covers.
    #[inline]
    pub(crate) fn decode(offset: u64) -> Option<(Self, u32)> {
        let offset = u32::try_from(offset).ok()?;
        let (start, register) = (*ARRAY_OF_CHUNK.get((offset / CHUNK) as usize)?)?;
        Some((
            register,
            (offset - start) * 8 / register.bits_per_interrupt(),
        ))
    }

    /// Field width: one bit for the set/clear and group arrays, two for ICFGR and NSACR, a byte
    /// for IPRIORITYR and ITARGETSR.
    pub(crate) fn bits_per_interrupt(self) -> u32 {
        match self {
            Self::Priority | Self::Targets => 8,
            Self::Config | Self::NonSecureAccess => 2,
            _ => 1,
        }
    }

    /// Byte access is allowed for the byte-per-interrupt arrays only.
    pub(crate) fn widths(self) -> Widths {
        match self {
            Self::Priority | Self::Targets => Widths::ByteOrWord,
            _ => Widths::Word,
        }
    }

    /// The writes that try to put an interrupt to use, reported when it is not the domain's.
    fn activates(self) -> bool {
        matches!(self, Self::SetEnable | Self::SetPending | Self::SetActive)
    }

    /// The set/clear arrays, where a 0 bit leaves the interrupt alone.
    fn is_set_or_clear(self) -> bool {
        matches!(
            self,
            Self::SetEnable
                | Self::ClearEnable
                | Self::SetPending
                | Self::ClearPending
                | Self::SetActive
                | Self::ClearActive
        )
    }
}

/// One access to a register array, after width checks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ArrayAccess {
    pub frame: Frame,
    pub register: InterruptRegister,
    pub first_intid: u32,
    pub width: u8,
    /// The vCPU performing the access (GICv2 ITARGETSR0..7 read its own bit).
    pub accessing_vcpu: usize,
    /// The vCPU whose SGIs and PPIs the access reaches: the accessing vCPU for GICD, the
    /// redistributor's for GICR.
    pub bank_vcpu: usize,
}

impl ArrayAccess {
    /// The INTIDs covered, each with its field's bit position.
    #[inline]
    fn fields(&self) -> impl Iterator<Item = (u32, u32)> {
        let bits = self.register.bits_per_interrupt();
        let count = u32::from(self.width) * 8 / bits;
        let first_intid = self.first_intid;
        (0..count).map(move |index| (first_intid + index, index * bits))
    }

    fn field_mask(&self) -> u64 {
        (1 << self.register.bits_per_interrupt()) - 1
    }
}

impl Vgic {
    /// Whether an access through `frame` reaches `intid` at all. Under GICv3 affinity routing
    /// (ARE always 1 here) the GICD copies of the SGI/PPI registers are RES0 (IHI 0069
    /// GICD_ISENABLER<n> and friends, "When affinity routing is enabled"), and the GICR frame
    /// holds only INTIDs 0..=31.
    fn reaches(&self, frame: Frame, intid: u32) -> bool {
        match (frame, self.version) {
            (Frame::Redistributor, _) => intid < PRIVATE_INTERRUPTS,
            (Frame::Distributor, GicVersion::V2) => self.implements(intid),
            (Frame::Distributor, GicVersion::V3) => {
                intid >= PRIVATE_INTERRUPTS && self.implements(intid)
            }
        }
    }

    pub(crate) fn read_interrupt_array(&self, access: &ArrayAccess) -> u64 {
        access.fields().fold(0, |value, (intid, shift)| {
            value | (u64::from(self.read_field(access, intid)) << shift)
        })
    }

    fn read_field(&self, access: &ArrayAccess, intid: u32) -> u32 {
        if !self.reaches(access.frame, intid) {
            return 0;
        }
        let Some(state) = self.interrupt_state(access.bank_vcpu, intid) else {
            return 0;
        };
        if !state.is_owned() {
            return 0;
        }
        match access.register {
            InterruptRegister::Group => u32::from(state.group1),
            InterruptRegister::SetEnable | InterruptRegister::ClearEnable => {
                u32::from(state.enabled)
            }
            InterruptRegister::SetPending | InterruptRegister::ClearPending => {
                u32::from(self.is_pending(access.bank_vcpu, intid))
            }
            InterruptRegister::SetActive | InterruptRegister::ClearActive => {
                u32::from(state.active || state.active_in_list_register())
            }
            InterruptRegister::Priority => u32::from(state.priority),
            InterruptRegister::Targets => match self.version {
                // ITARGETSR0..7 read as the reading CPU's own bit (IHI 0048B GICD_ITARGETSRn);
                // Linux learns its CPU interface number this way (gic_get_cpumask).
                GicVersion::V2 if intid < PRIVATE_INTERRUPTS => 1 << access.accessing_vcpu,
                GicVersion::V2 => state.route & 0xFF,
                GicVersion::V3 => 0,
            },
            // Int_config[1]: 1 for edge; SGIs are always edge (IHI 0069 GICD_ICFGR<n>).
            InterruptRegister::Config => match state.trigger {
                Trigger::Edge => 0b10,
                Trigger::Level => 0b00,
            },
            InterruptRegister::GroupModifier | InterruptRegister::NonSecureAccess => 0,
        }
    }

    pub(crate) fn write_interrupt_array(
        &mut self,
        access: &ArrayAccess,
        value: u64,
        physical: &mut impl PhysicalGicEffects,
    ) -> WriteOutcome {
        if access.register == InterruptRegister::Priority {
            return self.write_priorities(access, value);
        }
        let mut outcome = WriteOutcome::default();
        for (intid, shift) in access.fields() {
            let field = ((value >> shift) & access.field_mask()) as u32;
            self.write_field(access, intid, field, physical, &mut outcome);
        }
        outcome
    }

    /// IPRIORITYR, the array Linux writes most (on every interrupt it sets up), on a path of
    /// its own: what `write_field` does for a priority byte, without its general dispatch. A
    /// priority decides neither whether an interrupt is work nor where it goes, so only one
    /// that sits in a list register needs its vCPU to rewrite it.
    /// The physical GIC is not touched (`PhysicalGicEffects` says why).
    fn write_priorities(&mut self, access: &ArrayAccess, value: u64) -> WriteOutcome {
        let mut outcome = WriteOutcome::default();
        for (intid, shift) in access.fields() {
            if !self.reaches(access.frame, intid) {
                continue;
            }
            let priority = (value >> shift) as u8 & PRIORITY_MASK;
            let Some(state) = self.interrupt_mut(access.bank_vcpu, intid) else {
                continue;
            };
            if !state.is_owned() {
                continue;
            }
            state.priority = priority;
            if let Some(queued) = state.queued {
                outcome.kick.insert(usize::from(queued.vcpu));
            }
        }
        outcome
    }

    fn write_field(
        &mut self,
        access: &ArrayAccess,
        intid: u32,
        field: u32,
        physical: &mut impl PhysicalGicEffects,
        outcome: &mut WriteOutcome,
    ) {
        let set = field != 0;
        if !self.reaches(access.frame, intid) || (access.register.is_set_or_clear() && !set) {
            return;
        }
        let bank_vcpu = access.bank_vcpu;
        let Some(state) = self.interrupt_state(bank_vcpu, intid) else {
            return;
        };
        if !state.is_owned() {
            if access.register.activates() && set {
                outcome.note_ignored(intid);
            }
            return;
        }
        let hardware = state
            .is_hardware()
            .then_some(PhysicalInterrupt::new(bank_vcpu, intid));
        match access.register {
            InterruptRegister::Group => self.update(bank_vcpu, intid, |state| state.group1 = set),
            InterruptRegister::SetEnable | InterruptRegister::ClearEnable => {
                let enable = access.register == InterruptRegister::SetEnable;
                self.update(bank_vcpu, intid, |state| state.enabled = enable);
                if let Some(interrupt) = hardware {
                    physical.set_enabled(interrupt, enable);
                }
            }
            InterruptRegister::SetPending => self.guest_set_pending(bank_vcpu, intid, physical),
            InterruptRegister::ClearPending => self.guest_clear_pending(bank_vcpu, intid, physical),
            InterruptRegister::SetActive | InterruptRegister::ClearActive => {
                let activate = access.register == InterruptRegister::SetActive;
                self.guest_set_active(bank_vcpu, intid, activate, physical);
            }
            // `write_priorities` has the array to itself.
            InterruptRegister::Priority => return,
            InterruptRegister::Targets => {
                // Writable for GICv2 SPIs only; ITARGETSR0..7 are read-only (IHI 0048B).
                if self.version == GicVersion::V2 && intid >= PRIVATE_INTERRUPTS {
                    let mask = field & u32::from(self.all_vcpus().bits());
                    let target = (mask != 0).then_some(mask.trailing_zeros() as u8);
                    self.set_route(intid, mask, target, physical);
                }
            }
            InterruptRegister::Config => self.guest_set_config(bank_vcpu, intid, field, physical),
            InterruptRegister::GroupModifier | InterruptRegister::NonSecureAccess => return,
        }
        self.note_change(bank_vcpu, intid, &mut outcome.kick);
    }

    /// Applies `change` to an interrupt known to exist.
    fn update(
        &mut self,
        bank_vcpu: usize,
        intid: u32,
        change: impl FnOnce(&mut super::InterruptState),
    ) {
        if let Some(state) = self.interrupt_mut(bank_vcpu, intid) {
            change(state);
        }
    }

    /// ISPENDR. GICv2 SGI bits ignore writes (IHI 0048B GICD_ISPENDRn: SGIs are pended through
    /// GICD_SPENDSGIRn). A hardware interrupt is pended at the physical distributor: it then fires
    /// at EL2 and comes back through `inject`, so the physical GIC stays the one truth.
    fn guest_set_pending(
        &mut self,
        bank_vcpu: usize,
        intid: u32,
        physical: &mut impl PhysicalGicEffects,
    ) {
        if self.is_gicv2_sgi(intid) {
            return;
        }
        let Some(state) = self.interrupt_mut(bank_vcpu, intid) else {
            return;
        };
        if state.is_hardware() {
            physical.set_pending(PhysicalInterrupt::new(bank_vcpu, intid), true);
        } else {
            state.pending_latch = true;
        }
    }

    /// ICPENDR. A hardware interrupt waiting in the latch was acknowledged at EL2 and is active
    /// physically: withdrawing it means deactivating it, as no guest EOI will. One already in a
    /// list register stays there: the guest's CPU interface has it.
    fn guest_clear_pending(
        &mut self,
        bank_vcpu: usize,
        intid: u32,
        physical: &mut impl PhysicalGicEffects,
    ) {
        if self.is_gicv2_sgi(intid) {
            return;
        }
        let Some(state) = self.interrupt_mut(bank_vcpu, intid) else {
            return;
        };
        let latched = core::mem::replace(&mut state.pending_latch, false);
        if state.is_hardware() {
            let interrupt = PhysicalInterrupt::new(bank_vcpu, intid);
            physical.set_pending(interrupt, false);
            if latched {
                physical.set_active(interrupt, false);
            }
        } else if state.list_register_state().is_pending() {
            state.requests.clear_pending = true;
        }
    }

    /// ISACTIVER / ICACTIVER.
    fn guest_set_active(
        &mut self,
        bank_vcpu: usize,
        intid: u32,
        activate: bool,
        physical: &mut impl PhysicalGicEffects,
    ) {
        let Some(state) = self.interrupt_mut(bank_vcpu, intid) else {
            return;
        };
        if state.is_hardware() {
            physical.set_active(PhysicalInterrupt::new(bank_vcpu, intid), activate);
        }
        if state.queued.is_some() {
            state.requests.set_active = activate;
            state.requests.clear_active = !activate;
        } else {
            state.active = activate;
        }
    }

    /// ICFGR: SGIs are always edge; hardware PPIs keep the physical configuration (the timers
    /// are level), which the spec allows (IHI 0069 GICR_ICFGR1: PPI configuration is
    /// IMPLEMENTATION DEFINED) and Linux tolerates.
    fn guest_set_config(
        &mut self,
        bank_vcpu: usize,
        intid: u32,
        field: u32,
        physical: &mut impl PhysicalGicEffects,
    ) {
        if (intid as usize) < super::SGI_COUNT {
            return;
        }
        let Some(state) = self.interrupt_mut(bank_vcpu, intid) else {
            return;
        };
        if state.is_hardware() && intid < PRIVATE_INTERRUPTS {
            return;
        }
        let trigger = if field & 0b10 != 0 {
            Trigger::Edge
        } else {
            Trigger::Level
        };
        state.trigger = trigger;
        if state.is_hardware() {
            physical.set_trigger(PhysicalInterrupt::new(bank_vcpu, intid), trigger);
        }
    }

    /// Records an SPI's routing (GICv2 target mask or GICv3 affinity) and the vCPU it selects,
    /// and routes the physical SPI there.
    pub(crate) fn set_route(
        &mut self,
        intid: u32,
        route: u32,
        target: Option<u8>,
        physical: &mut impl PhysicalGicEffects,
    ) {
        let Some(state) = self.interrupt_mut(0, intid) else {
            return;
        };
        state.route = route;
        state.target_vcpu = target;
        if let (true, Some(vcpu)) = (state.is_hardware(), target) {
            physical.route_spi(intid, usize::from(vcpu));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chunk table agrees with a search of `LAYOUT` at every offset of the frame.
    #[test]
    fn decode_matches_the_layout_everywhere() {
        for offset in 0..0x1100u32 {
            let searched = LAYOUT
                .iter()
                .find(|(start, end, _)| (*start..*end).contains(&offset))
                .map(|&(start, _, register)| {
                    (
                        register,
                        (offset - start) * 8 / register.bits_per_interrupt(),
                    )
                });
            assert_eq!(
                InterruptRegister::decode(u64::from(offset)),
                searched,
                "{offset:#x}"
            );
        }
    }

    #[test]
    fn decode_finds_first_intid() {
        assert_eq!(
            InterruptRegister::decode(0x104),
            Some((InterruptRegister::SetEnable, 32))
        );
        assert_eq!(
            InterruptRegister::decode(0x41F),
            Some((InterruptRegister::Priority, 31))
        );
        assert_eq!(
            InterruptRegister::decode(0xC08),
            Some((InterruptRegister::Config, 32))
        );
        assert_eq!(
            InterruptRegister::decode(0x7FB),
            Some((InterruptRegister::Priority, 1019))
        );
        assert_eq!(InterruptRegister::decode(0xD80), None);
        assert_eq!(InterruptRegister::decode(0x07F), None);
        assert_eq!(InterruptRegister::decode(0x1_0000_0080), None);
        assert_eq!(InterruptRegister::decode(0xF00), None);
        assert_eq!(InterruptRegister::decode(u64::MAX), None);
    }
}
