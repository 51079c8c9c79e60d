//! Interrupts at run time: physical IRQs taken at EL2, virtual interrupts into list registers,
//! the guest's distributor/redistributor accesses, its SGIs, and kicks between physical CPUs.

use hyp_arm_gic::{Acknowledged, Gic as CpuGic, IntId, Trigger as PhysicalTrigger};

use crate::arch::cpu;
use crate::console::Shown;
use crate::hyp_log;
use crate::vgic::{
    InterruptSet, ListRegister, LrState, PhysicalGicEffects, PhysicalInterrupt, Trigger, VcpuSet,
    VgicAccessError, MAX_LIST_REGISTERS,
};

use super::boot::machine;
use super::exits::log_fault;
use super::gic::EmulatedRegion;

/// The physical SGI one CPU sends another to make it leave the guest: to refill its list
/// registers, or to notice a reset or a stop. Physical SGIs are the hypervisor's alone; the
/// guest's SGIs are virtual.
pub const KICK_SGI: u32 = 0;

/// Takes every pending physical interrupt on this CPU (we arrive here on an IRQ exit).
pub fn handle_physical_interrupts() {
    let machine = machine();
    let gic = machine.gic.this_cpu();
    let guest = &machine.guest;
    let this_cpu = cpu::cpu_index();
    while let Some(acknowledged) = gic.acknowledge() {
        let intid = acknowledged.intid.raw();
        if intid == KICK_SGI {
            // The refill after this exit does the work.
            gic.end_of_interrupt(acknowledged);
            gic.deactivate(acknowledged);
            continue;
        }
        if intid == machine.gic.maintenance_intid() {
            // Level-triggered: it stays asserted until the refill after this exit changes the
            // list registers, so acknowledging more now would only take it again.
            gic.end_of_interrupt(acknowledged);
            gic.deactivate(acknowledged);
            break;
        }
        // Drop the priority now; the guest's EOI of the hardware-mapped virtual interrupt
        // deactivates the physical one.
        gic.end_of_interrupt(acknowledged);
        let injected = guest.vgic.lock().inject(this_cpu, intid);
        match injected {
            Ok(kicks) => kick_cpus(kicks, this_cpu),
            Err(error) => {
                gic.deactivate(acknowledged);
                let _ = gic.disable(acknowledged.intid);
                hyp_log!(
                    "physical interrupt {} on CPU {} belongs to no guest ({}): disabled",
                    intid,
                    this_cpu,
                    Shown(&error)
                );
            }
        }
    }
}

/// The guest's ICC_SGI1R_EL1 (GICv3) write: virtual SGIs to other vCPUs.
pub fn send_guest_sgi(sender: usize, value: u64) {
    let guest = &machine().guest;
    let result = guest.vgic.lock().send_sgi_v3(sender, value);
    match result {
        Ok(targets) => kick_cpus(targets, sender),
        Err(error) => log_fault(
            guest,
            format_args!("vCPU {sender}: SGI request {value:#x} refused: {error}"),
        ),
    }
}

/// Emulates a guest access to the distributor or a redistributor. Returns the value read.
pub fn emulate_mmio(
    vcpu: usize,
    region: EmulatedRegion,
    width: u8,
    is_write: bool,
    value: u64,
) -> Result<u64, VgicAccessError> {
    let guest = &machine().guest;
    let mut effects = PhysicalEffects::new(vcpu);
    let outcome = {
        let mut vgic = guest.vgic.lock();
        match (region, is_write) {
            (EmulatedRegion::Distributor { offset }, false) => vgic
                .distributor_read(vcpu, offset, width)
                .map(|v| (v, None)),
            (EmulatedRegion::Redistributor { offset }, false) => vgic
                .redistributor_read(vcpu, offset, width)
                .map(|v| (v, None)),
            (EmulatedRegion::Distributor { offset }, true) => vgic
                .distributor_write(vcpu, offset, width, value, &mut effects)
                .map(|outcome| (0, Some(outcome))),
            (EmulatedRegion::Redistributor { offset }, true) => vgic
                .redistributor_write(vcpu, offset, width, value, &mut effects)
                .map(|outcome| (0, Some(outcome))),
        }
    };
    let (read_value, write_outcome) = outcome?;
    if let Some(outcome) = write_outcome {
        if let Some(ignored) = outcome.ignored {
            log_fault(
                guest,
                format_args!(
                    "vCPU {vcpu} programmed {} interrupt(s) from {} that it does not own: ignored",
                    ignored.count, ignored.first_intid
                ),
            );
        }
        kick_cpus(outcome.kick, vcpu);
    }
    Ok(read_value)
}

/// Before re-entering the guest: fold the list registers back into the vGIC and refill them with
/// the highest-priority pending interrupts; ask for the underflow maintenance interrupt if more
/// are waiting than fit.
pub fn refill_list_registers(vcpu: usize) {
    let machine = machine();
    let gic = machine.gic.this_cpu();
    let mut vgic = machine.guest.vgic.lock();
    if !vgic.needs_sync(vcpu) {
        return;
    }
    let count = gic.list_register_count().min(MAX_LIST_REGISTERS);
    let mut list_registers = [ListRegister::INVALID; MAX_LIST_REGISTERS];
    for (index, entry) in list_registers.iter_mut().enumerate().take(count) {
        *entry = read_list_register(gic, index);
    }
    let before = list_registers;
    let outcome = vgic.sync_and_fill(vcpu, &mut list_registers[..count]);
    drop(vgic);
    match outcome {
        Ok(outcome) => {
            for index in 0..count {
                if list_registers[index] != before[index] {
                    write_list_register(gic, index, &list_registers[index]);
                }
            }
            gic.set_underflow_interrupt(outcome.underflow_interrupt_wanted);
            // Work the fold handed to other vCPUs (an interrupt the guest rerouted away from
            // this one): without a kick they would see it only at their next exit.
            kick_cpus(outcome.kick, vcpu);
            for intid in outcome
                .deactivate
                .iter()
                .filter_map(|&intid| IntId::new(intid))
            {
                gic.deactivate(Acknowledged {
                    intid,
                    raw: intid.raw(),
                });
            }
        }
        Err(error) => hyp_log!(
            "vCPU {}: list registers not refilled: {}",
            vcpu,
            Shown(&error)
        ),
    }
}

/// Clears this CPU's virtual CPU interface before a vCPU (re)starts: the guest's physical
/// interrupts still in list registers (with the hardware bit, or deactivated by maintenance) are
/// deactivated physically (nobody else would), then every list register, active priority and the
/// virtual machine control register are zeroed.
pub fn reset_virtual_cpu_interface() {
    let machine = machine();
    let gic = machine.gic.this_cpu();
    let config = &machine.guest.vgic_config;
    let count = gic.list_register_count().min(MAX_LIST_REGISTERS);
    for index in 0..count {
        let entry = read_list_register(gic, index);
        let physical = entry.physical_intid.unwrap_or(entry.virtual_intid);
        let owned = config.owned_spis.contains(physical) || config.hardware_ppis.contains(physical);
        if entry.state != LrState::Invalid && owned {
            if let Some(intid) = IntId::new(physical) {
                let _ = gic.clear_active(intid);
            }
        }
        write_list_register(gic, index, &ListRegister::INVALID);
    }
    match gic {
        CpuGic::V2(v2) => {
            v2.hyp_interface.set_apr(0);
            v2.hyp_interface.set_vmcr(0);
        }
        CpuGic::V3(v3) => {
            for n in 0..v3.hyp_interface.active_priority_register_count() {
                v3.hyp_interface.set_ap0r(n, 0);
                v3.hyp_interface.set_ap1r(n, 0);
            }
            v3.hyp_interface.set_vmcr(0);
        }
    }
    gic.set_underflow_interrupt(false);
}

fn read_list_register(gic: &CpuGic, index: usize) -> ListRegister {
    match gic {
        CpuGic::V2(v2) => ListRegister::decode_v2(v2.hyp_interface.read_lr(index)),
        CpuGic::V3(v3) => ListRegister::decode_v3(v3.hyp_interface.read_lr(index)),
    }
}

fn write_list_register(gic: &CpuGic, index: usize, entry: &ListRegister) {
    match gic {
        CpuGic::V2(v2) => v2.hyp_interface.write_lr(index, entry.encode_v2()),
        CpuGic::V3(v3) => v3.hyp_interface.write_lr(index, entry.encode_v3()),
    }
}

/// Kicks every CPU in `targets` except `this_cpu` (which refills on its own way out).
fn kick_cpus(targets: VcpuSet, this_cpu: usize) {
    for target in targets.iter().filter(|&t| t != this_cpu) {
        kick_cpu(target);
    }
}

/// Makes physical CPU `index` (which runs vCPU `index`) take an exit soon.
pub fn kick_cpu(index: usize) {
    let machine = machine();
    if let Some(target) = machine.gic.target_of(index) {
        let _ = machine.gic.this_cpu().send_sgi(target, KICK_SGI as u8);
    }
}

/// Kicks every other CPU (used when stopping after a panic).
pub fn kick_all_other_cpus() {
    let this_cpu = cpu::cpu_index();
    let Some(machine) = super::boot::try_machine() else {
        return;
    };
    for index in (0..machine.cpu_affinities.len()).filter(|&i| i != this_cpu) {
        kick_cpu(index);
    }
}

/// Disables the physical SPIs a guest owned, before it restarts (it enables them again itself).
pub fn disable_owned_spis(owned: &InterruptSet) {
    let gic = machine().gic.this_cpu();
    for intid in owned.iter().filter_map(IntId::new) {
        let _ = gic.disable(intid);
    }
}

/// Carries out the vGIC's decisions on the physical GIC for the interrupts the guest owns.
pub struct PhysicalEffects {
    vcpu: usize,
}

impl PhysicalEffects {
    pub fn new(vcpu: usize) -> Self {
        Self { vcpu }
    }

    /// The physical GIC front end of the CPU whose bank holds `interrupt`. Private interrupts can
    /// only be reached on their own CPU on GICv2: a write to another vCPU's bank is dropped there.
    fn front_end(&self, interrupt: PhysicalInterrupt) -> Option<(&'static CpuGic, IntId)> {
        let intid = IntId::new(interrupt.intid())?;
        match interrupt {
            PhysicalInterrupt::Private { vcpu, .. } if vcpu != self.vcpu => None,
            _ => Some((machine().gic.this_cpu(), intid)),
        }
    }
}

impl PhysicalGicEffects for PhysicalEffects {
    fn set_enabled(&mut self, interrupt: PhysicalInterrupt, enabled: bool) {
        if let Some((gic, intid)) = self.front_end(interrupt) {
            let _ = if enabled {
                gic.enable(intid)
            } else {
                gic.disable(intid)
            };
        }
    }

    fn set_priority(&mut self, interrupt: PhysicalInterrupt, priority: u8) {
        // Keep every guest interrupt below the hypervisor's own.
        if let Some((gic, intid)) = self.front_end(interrupt) {
            let _ = gic.set_priority(intid, 0x80 | (priority >> 1));
        }
    }

    fn set_trigger(&mut self, interrupt: PhysicalInterrupt, trigger: Trigger) {
        if let Some((gic, intid)) = self.front_end(interrupt) {
            let trigger = match trigger {
                Trigger::Edge => PhysicalTrigger::Edge,
                Trigger::Level => PhysicalTrigger::Level,
            };
            let _ = gic.set_trigger(intid, trigger);
        }
    }

    fn route_spi(&mut self, intid: u32, vcpu: usize) {
        let machine = machine();
        if let (Some(intid), Some(target)) = (IntId::new(intid), machine.gic.target_of(vcpu)) {
            let _ = machine.gic.this_cpu().route(intid, target);
        }
    }

    fn set_pending(&mut self, interrupt: PhysicalInterrupt, pending: bool) {
        if let Some((gic, intid)) = self.front_end(interrupt) {
            let _ = if pending {
                gic.set_pending(intid)
            } else {
                gic.clear_pending(intid)
            };
        }
    }

    fn set_active(&mut self, interrupt: PhysicalInterrupt, active: bool) {
        if let Some((gic, intid)) = self.front_end(interrupt) {
            let _ = if active {
                gic.set_active(intid)
            } else {
                gic.clear_active(intid)
            };
        }
    }
}
