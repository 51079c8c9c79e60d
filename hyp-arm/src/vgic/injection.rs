//! Injection and list-register management: queue, fold back what the guest did, refill.
#![forbid(unsafe_code)]

use super::access::{VcpuSet, VgicError};
use super::intid_bitmap::set_bit_indices;
use super::list_register::{ListRegister, LrState};
use super::state::Queued;
use super::{Vgic, PRIVATE_INTERRUPTS, SGI_COUNT};

/// The most list registers managed per vCPU: ICH_VTR_EL2.ListRegs is 4 bits (IHI 0069
/// ICH_VTR_EL2). GICv2 allows up to 64 (GICH_VTR.ListRegs), but real parts have 4; any beyond
/// 16 are left empty.
pub const MAX_LIST_REGISTERS: usize = 16;

/// What `sync_and_fill` leaves for the caller to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FillOutcome {
    /// Interrupts still wait for a list register: set ICH_HCR_EL2.UIE / GICH_HCR.UIE, so that a
    /// maintenance interrupt fires once at most one list register is valid (IHI 0069
    /// ICH_HCR_EL2.UIE), and call `sync_and_fill` again then. Never set with fewer than two
    /// list registers in use, where the underflow condition would hold at once.
    pub underflow_interrupt_wanted: bool,
    /// Bit n is set when list register n holds an interrupt.
    pub used_list_registers: u16,
    /// Other vCPUs that received work (an interrupt withdrawn from this vCPU after its
    /// routing changed).
    pub kick: VcpuSet,
    /// With `VgicConfig::deactivate_hardware_by_maintenance`: hardware-mapped interrupts the
    /// guest completed since the last call, which the caller must deactivate physically.
    pub deactivate: heapless::Vec<u32, MAX_LIST_REGISTERS>,
}

/// Where a candidate interrupt stands when scanning a vCPU's work.
enum Candidate {
    /// No longer work for this vCPU: forget the work bit.
    Stale,
    /// Pending but not deliverable (disabled, group disabled): parked in the waiting set.
    Waiting,
    /// Wants a list register; the key sorts active ones first, then by priority, then INTID.
    Ready(u32),
}

impl Vgic {
    /// Queues `intid` for the guest: a physical interrupt the domain owns fired (hardware
    /// mapped: it will go in a list register with HW=1 and pINTID = `intid`), or a virtual one
    /// is raised (an SGI from `vcpu` to itself, a PPI of `vcpu`, a virtual SPI). `vcpu` selects
    /// the bank for SGIs and PPIs; SPIs go where the guest routed them. Returns the vCPUs to kick.
    pub fn inject(&mut self, vcpu: usize, intid: u32) -> Result<VcpuSet, VgicError> {
        self.check_vcpu(vcpu)?;
        if (intid as usize) < SGI_COUNT {
            let mut kick = VcpuSet::EMPTY;
            if self.pend_sgi(vcpu, intid, vcpu) {
                kick.insert(vcpu);
            }
            return Ok(kick);
        }
        let Some(state) = self.interrupt_mut(vcpu, intid) else {
            return Err(VgicError::NoSuchInterrupt { intid });
        };
        if !state.is_owned() {
            return Err(VgicError::NotOwned { intid });
        }
        // A hardware-mapped interrupt stays active physically until the guest deactivates the
        // one in its list register, so when it fires again that list register has completed,
        // even if this vCPU has not exited since to fold it back: latch the new occurrence
        // (the fold then releases the old list register and the fill queues this one).
        state.pending_latch = true;
        let mut kick = VcpuSet::EMPTY;
        self.note_change(vcpu, intid, &mut kick);
        Ok(kick)
    }

    /// Called on every exit of `vcpu` before re-entering it, with its list registers as read
    /// from the hardware, as many as are implemented (ICH_VTR_EL2.ListRegs or
    /// GICH_VTR.ListRegs, plus one). Folds back what the guest did (an LR gone Invalid
    /// completed its interrupt; Pending to Active is an acknowledge), applies changes other
    /// vCPUs made, then fills free list registers with the highest-priority deliverable
    /// interrupts, evicting lower-priority pending ones if needed. The caller writes
    /// `list_registers` back to the hardware, with the maintenance interrupt enabled
    /// (ICH_HCR_EL2.En / GICH_HCR.En): a GICv2 SGI pending from several sources asks for an EOI
    /// maintenance interrupt (`ListRegister::eoi_maintenance`) to deliver the next source.
    pub fn sync_and_fill(
        &mut self,
        vcpu: usize,
        list_registers: &mut [ListRegister],
    ) -> Result<FillOutcome, VgicError> {
        self.check_vcpu(vcpu)?;
        let count = list_registers.len().min(MAX_LIST_REGISTERS);
        let mut outcome = FillOutcome::default();
        self.fold_list_registers(vcpu, &list_registers[..count], &mut outcome);
        self.reconcile_queued(vcpu, &mut outcome.kick);
        let left_over = self.fill(vcpu, count, &mut outcome.kick);
        for (slot, list_register) in list_registers.iter_mut().enumerate() {
            *list_register = self.list_register_content(vcpu, slot);
            if slot < count && list_register.state != LrState::Invalid {
                outcome.used_list_registers |= 1 << slot;
            }
        }
        outcome.underflow_interrupt_wanted =
            left_over && outcome.used_list_registers.count_ones() >= 2;
        outcome.kick = VcpuSet::from_bits(outcome.kick.bits() & !(1 << vcpu));
        Ok(outcome)
    }

    /// Whether `sync_and_fill` has anything to do for `vcpu`: a list register it filled (whose
    /// state the guest may have changed) or an interrupt marked as work. When neither holds,
    /// the list registers are all empty and stay so, and the underflow interrupt is off (it is
    /// only asked for with two list registers in use), so the caller may skip reading them: the
    /// common exit (a hypercall, an emulated register) then costs no list-register traffic.
    pub fn needs_sync(&self, vcpu: usize) -> bool {
        let Some(vcpu_state) = self.vcpus.get(vcpu).filter(|_| vcpu < self.vcpu_count) else {
            return false;
        };
        vcpu_state.occupied_list_registers != 0 || !vcpu_state.work.is_empty()
    }

    /// Whether `vcpu` has an interrupt it could take now: pending in a list register, or
    /// pending, enabled and routed to it in the vGIC. (The guest's priority mask lives in the
    /// virtual CPU interface and is not considered.)
    pub fn has_pending(&self, vcpu: usize) -> bool {
        let Some(vcpu_state) = self.vcpus.get(vcpu).filter(|_| vcpu < self.vcpu_count) else {
            return false;
        };
        if vcpu_state.occupied_list_registers == 0 && vcpu_state.work.is_empty() {
            // The common case for a vCPU that waits: asked on every exit of its CPU's others.
            return false;
        }
        let queued_pending = self.occupied_slots(vcpu).any(|slot| {
            self.slot(vcpu, slot)
                .and_then(|intid| self.interrupt_state(vcpu, intid))
                .is_some_and(|state| state.pending_in_list_register())
        });
        queued_pending
            || vcpu_state.work.iter().any(|intid| {
                self.interrupt_state(vcpu, intid)
                    .is_some_and(|state| state.queued.is_none())
                    && self.has_pending_latch(vcpu, intid)
                    && self.is_deliverable(vcpu, intid, vcpu)
            })
    }

    /// Takes the list register states the guest left.
    fn fold_list_registers(
        &mut self,
        vcpu: usize,
        list_registers: &[ListRegister],
        outcome: &mut FillOutcome,
    ) {
        for slot in self.occupied_slots(vcpu) {
            let Some(intid) = self.slot(vcpu, slot) else {
                continue;
            };
            let Some(queued) = self.queued_in(vcpu, slot, intid) else {
                continue;
            };
            match list_registers
                .get(slot)
                .map(|list_register| list_register.state)
            {
                Some(LrState::Invalid) => {
                    let hardware = self
                        .interrupt_state(vcpu, intid)
                        .is_some_and(|state| state.is_hardware());
                    if hardware && self.deactivate_hardware_by_maintenance {
                        // At most one per list register, so the vector cannot overflow.
                        let _ = outcome.deactivate.push(intid);
                    }
                    self.release(vcpu, slot, intid, LrState::Invalid, &mut outcome.kick);
                }
                Some(state) => self.set_queued_state(vcpu, intid, state),
                // The caller no longer passes this list register: take the interrupt back.
                None => self.release(vcpu, slot, intid, queued.state, &mut outcome.kick),
            }
        }
    }

    /// Applies other vCPUs' requests to queued interrupts, withdraws pending ones that can no
    /// longer be delivered here, and merges new pending state into queued ones: a second list
    /// register with the same vINTID is not allowed (IHI 0069 ICH_LR<n>_EL2), so an active
    /// interrupt pending again becomes PendingActive in its own list register.
    fn reconcile_queued(&mut self, vcpu: usize, kick: &mut VcpuSet) {
        for slot in self.occupied_slots(vcpu) {
            let Some(intid) = self.slot(vcpu, slot) else {
                continue;
            };
            let Some(queued) = self.queued_in(vcpu, slot, intid) else {
                continue;
            };
            let deliverable = self.is_deliverable(vcpu, intid, vcpu);
            let gicv2_sgi = self.is_gicv2_sgi(intid);
            let Some(state) = self.interrupt_mut(vcpu, intid) else {
                continue;
            };
            let hardware = state.is_hardware();
            let requests = core::mem::take(&mut state.requests);
            let mut lr_state = queued.state;
            if requests.clear_pending {
                lr_state = lr_state.with_pending(false);
            }
            if requests.clear_active {
                lr_state = lr_state.with_active(false);
            }
            if requests.set_active {
                lr_state = lr_state.with_active(true);
            }
            if hardware && lr_state == LrState::PendingActive {
                // The pending state of a hardware interrupt lives in the physical GIC: never
                // pending and active in one HW list register (KVM follows the same rule).
                lr_state = LrState::Active;
            }
            if lr_state == LrState::Pending && !deliverable {
                self.release(vcpu, slot, intid, LrState::Pending, kick);
                continue;
            }
            if deliverable && !hardware && self.take_pending_for(vcpu, intid, queued, gicv2_sgi) {
                lr_state = lr_state.with_pending(true);
            }
            if lr_state == LrState::Invalid {
                self.release(vcpu, slot, intid, LrState::Invalid, kick);
            } else {
                self.set_queued_state(vcpu, intid, lr_state);
            }
        }
    }

    /// Consumes new pending state of a queued interrupt, to merge into its list register: the
    /// latch, or for a GICv2 SGI the same source as the one in the list register.
    fn take_pending_for(
        &mut self,
        vcpu: usize,
        intid: u32,
        queued: Queued,
        gicv2_sgi: bool,
    ) -> bool {
        if gicv2_sgi {
            let source_bit = 1u8.checked_shl(u32::from(queued.source_vcpu)).unwrap_or(0);
            return self.sgi_sources_mut(vcpu, intid).is_some_and(|sources| {
                let had = *sources & source_bit != 0;
                *sources &= !source_bit;
                had
            });
        }
        self.interrupt_mut(vcpu, intid)
            .is_some_and(|state| core::mem::take(&mut state.pending_latch))
    }

    /// Puts the best candidates into free list registers among the first `count`, evicting
    /// lower-priority pending ones. Returns whether interrupts are left waiting.
    fn fill(&mut self, vcpu: usize, count: usize, kick: &mut VcpuSet) -> bool {
        let mut best = [(u32::MAX, 0u32); MAX_LIST_REGISTERS];
        let mut best_len = 0;
        let mut total = 0;
        let Some(words) = self
            .vcpus
            .get(vcpu)
            .map(|state| state.work.non_empty_words())
        else {
            return false;
        };
        for word_index in set_bit_indices(words) {
            // Read each word when its turn comes: handling one INTID may clear others (never set
            // new ones).
            let bits = self
                .vcpus
                .get(vcpu)
                .map_or(0, |state| state.work.word(word_index));
            for intid in set_bit_indices(bits).map(|bit| word_index * 32 + bit) {
                match self.candidate(vcpu, intid) {
                    Candidate::Stale => self.clear_work(vcpu, intid),
                    Candidate::Waiting => self.park_work(vcpu, intid),
                    Candidate::Ready(key) => {
                        total += 1;
                        insert_sorted(&mut best[..count], &mut best_len, (key, intid));
                    }
                }
            }
        }
        let mut left_over = total > best_len;
        for &(key, intid) in &best[..best_len] {
            let active = key >> 24 == 0;
            let priority = (key >> 16) as u8;
            let slot = match (0..count).find(|&slot| self.slot(vcpu, slot).is_none()) {
                Some(free) => free,
                None => match self.eviction_victim(vcpu, count, priority, active) {
                    Some((victim, victim_intid)) => {
                        self.release(vcpu, victim, victim_intid, LrState::Pending, kick);
                        left_over = true;
                        victim
                    }
                    None => {
                        left_over = true;
                        continue;
                    }
                },
            };
            self.place(vcpu, slot, intid);
        }
        left_over
    }

    fn candidate(&self, vcpu: usize, intid: u32) -> Candidate {
        let Some(state) = self.interrupt_state(vcpu, intid) else {
            return Candidate::Stale;
        };
        if state.queued.is_some()
            || (intid >= PRIVATE_INTERRUPTS && self.target(vcpu, intid) != Some(vcpu))
        {
            return Candidate::Stale;
        }
        let latched = self.has_pending_latch(vcpu, intid);
        if !latched && !state.active {
            return Candidate::Stale;
        }
        if !state.active && !self.is_deliverable(vcpu, intid, vcpu) {
            return Candidate::Waiting;
        }
        // Active interrupts first: the guest must see them to deactivate them.
        let rank = u32::from(!state.active);
        Candidate::Ready(rank << 24 | u32::from(state.priority) << 16 | intid)
    }

    /// The queued, pending-only list register with the lowest priority below `priority` (any
    /// pending-only one for an active candidate).
    fn eviction_victim(
        &self,
        vcpu: usize,
        count: usize,
        priority: u8,
        for_active: bool,
    ) -> Option<(usize, u32)> {
        (0..count)
            .filter_map(|slot| {
                let intid = self.slot(vcpu, slot)?;
                let state = self.interrupt_state(vcpu, intid)?;
                (state.list_register_state() == LrState::Pending
                    && (for_active || state.priority > priority))
                    .then_some((state.priority, slot, intid))
            })
            .max_by_key(|&(victim_priority, slot, _)| (victim_priority, slot))
            .map(|(_, slot, intid)| (slot, intid))
    }

    /// Hands `intid` to list register `slot`: its pending half (if deliverable) and its active
    /// half move from the vGIC into the list register.
    fn place(&mut self, vcpu: usize, slot: usize, intid: u32) {
        let pending = self.has_pending_latch(vcpu, intid) && self.is_deliverable(vcpu, intid, vcpu);
        let gicv2_sgi = self.is_gicv2_sgi(intid);
        let mut source_vcpu = 0;
        if pending && gicv2_sgi {
            if let Some(sources) = self.sgi_sources_mut(vcpu, intid) {
                // One source per list register (GICH_LRn.CPUID); the others wait for this one's
                // EOI maintenance interrupt.
                source_vcpu = sources.trailing_zeros() as u8;
                *sources &= sources.wrapping_sub(1);
            }
        }
        let Some(state) = self.interrupt_mut(vcpu, intid) else {
            return;
        };
        let active = core::mem::take(&mut state.active);
        // A hardware interrupt is never pending and active in one list register.
        let take_pending = pending && !(active && state.is_hardware());
        if take_pending && !gicv2_sgi {
            state.pending_latch = false;
        }
        state.queued = Some(Queued {
            vcpu: vcpu as u8,
            list_register: slot as u8,
            state: LrState::from_parts(take_pending, active),
            source_vcpu,
        });
        self.set_slot(vcpu, slot, Some(intid as u16));
        self.clear_work(vcpu, intid);
    }

    /// Frees list register `slot`, giving whatever of `remaining` the interrupt still has back
    /// to the vGIC (a withdrawn pending state, an active state the caller dropped).
    fn release(
        &mut self,
        vcpu: usize,
        slot: usize,
        intid: u32,
        remaining: LrState,
        kick: &mut VcpuSet,
    ) {
        self.set_slot(vcpu, slot, None);
        let gicv2_sgi = self.is_gicv2_sgi(intid);
        let Some(state) = self.interrupt_mut(vcpu, intid) else {
            return;
        };
        let Some(queued) = state.queued.take() else {
            return;
        };
        state.requests = Default::default();
        state.active |= remaining.is_active();
        if remaining.is_pending() {
            if gicv2_sgi {
                let source_bit = 1u8.checked_shl(u32::from(queued.source_vcpu)).unwrap_or(0);
                if let Some(sources) = self.sgi_sources_mut(vcpu, intid) {
                    *sources |= source_bit;
                }
            } else {
                state.pending_latch = true;
            }
        }
        self.note_change(vcpu, intid, kick);
    }

    /// The list register content for `slot`, from the vGIC's bookkeeping.
    fn list_register_content(&self, vcpu: usize, slot: usize) -> ListRegister {
        let Some(intid) = self.slot(vcpu, slot) else {
            return ListRegister::INVALID;
        };
        let Some(state) = self.interrupt_state(vcpu, intid) else {
            return ListRegister::INVALID;
        };
        let Some(queued) = state.queued else {
            return ListRegister::INVALID;
        };
        let gicv2_sgi = self.is_gicv2_sgi(intid);
        // More sources of this GICv2 SGI wait: exit when the guest deactivates this one.
        let more_sources = gicv2_sgi
            && self
                .vcpus
                .get(vcpu)
                .and_then(|vcpu_state| vcpu_state.sgi_sources.get(intid as usize))
                .is_some_and(|&sources| sources != 0);
        let by_maintenance = state.is_hardware() && self.deactivate_hardware_by_maintenance;
        ListRegister {
            virtual_intid: intid,
            physical_intid: (state.is_hardware() && !by_maintenance).then_some(intid),
            priority: state.priority,
            state: queued.state,
            group1: state.group1,
            source_vcpu: if gicv2_sgi { queued.source_vcpu } else { 0 },
            eoi_maintenance: more_sources || by_maintenance,
        }
    }

    /// The list registers of `vcpu` that hold an interrupt, as they are now (the caller may
    /// free them as it goes).
    fn occupied_slots(&self, vcpu: usize) -> impl Iterator<Item = usize> {
        let occupied = self
            .vcpus
            .get(vcpu)
            .map_or(0, |state| state.occupied_list_registers);
        set_bit_indices(u32::from(occupied)).map(|slot| slot as usize)
    }

    /// Records what list register `slot` of `vcpu` holds.
    fn set_slot(&mut self, vcpu: usize, slot: usize, intid: Option<u16>) {
        let Some(state) = self.vcpus.get_mut(vcpu) else {
            return;
        };
        if let Some(entry) = state.list_registers.get_mut(slot) {
            *entry = intid;
            let bit = 1 << slot;
            if intid.is_some() {
                state.occupied_list_registers |= bit;
            } else {
                state.occupied_list_registers &= !bit;
            }
        }
    }

    /// The INTID list register `slot` of `vcpu` holds.
    fn slot(&self, vcpu: usize, slot: usize) -> Option<u32> {
        let intid = (*self.vcpus.get(vcpu)?.list_registers.get(slot)?)?;
        Some(u32::from(intid))
    }

    /// The interrupt's queue record, if it really is in `slot` of `vcpu`; otherwise the slot is
    /// inconsistent and is cleared (defensive: it cannot happen).
    fn queued_in(&mut self, vcpu: usize, slot: usize, intid: u32) -> Option<Queued> {
        let queued = self
            .interrupt_state(vcpu, intid)
            .and_then(|state| state.queued)
            .filter(|queued| {
                usize::from(queued.vcpu) == vcpu && usize::from(queued.list_register) == slot
            });
        if queued.is_none() {
            self.set_slot(vcpu, slot, None);
        }
        queued
    }

    fn set_queued_state(&mut self, vcpu: usize, intid: u32, lr_state: LrState) {
        if let Some(queued) = self
            .interrupt_mut(vcpu, intid)
            .and_then(|state| state.queued.as_mut())
        {
            queued.state = lr_state;
        }
    }

    fn sgi_sources_mut(&mut self, vcpu: usize, intid: u32) -> Option<&mut u8> {
        if !self.is_gicv2_sgi(intid) {
            return None;
        }
        self.vcpus
            .get_mut(vcpu)?
            .sgi_sources
            .get_mut(intid as usize)
    }

    /// Moves `intid` from `vcpu`'s work to its waiting set: it stays pending but costs the
    /// exits nothing until a change makes it deliverable.
    fn park_work(&mut self, vcpu: usize, intid: u32) {
        if let Some(state) = self.vcpus.get_mut(vcpu) {
            state.work.remove(intid);
            state.waiting.insert(intid);
        }
    }

    fn clear_work(&mut self, vcpu: usize, intid: u32) {
        if let Some(state) = self.vcpus.get_mut(vcpu) {
            state.work.remove(intid);
        }
    }
}

/// Inserts `entry` into the sorted prefix `best[..*len]`, keeping the `best.len()` smallest.
fn insert_sorted(best: &mut [(u32, u32)], len: &mut usize, entry: (u32, u32)) {
    let position = best[..*len].partition_point(|existing| existing.0 < entry.0);
    if position >= best.len() {
        return;
    }
    let last = (*len).min(best.len() - 1);
    best.copy_within(position..last, position + 1);
    best[position] = entry;
    *len = (*len + 1).min(best.len());
}
