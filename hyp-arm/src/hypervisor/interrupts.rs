//! Interrupts at run time: physical IRQs taken at EL2, virtual interrupts into list registers,
//! the guest's distributor/redistributor accesses, its SGIs, and kicks between physical CPUs.

use hyp_arm_gic::{Acknowledged, Gic as CpuGic, IntId, Trigger as PhysicalTrigger};

use crate::arch::cpu;
use crate::console::Shown;
use crate::hyp_log;
use crate::vgic::{
    InterruptSet, ListRegister, LrState, PhysicalGicEffects, PhysicalInterrupt, Trigger, VcpuSet,
    VgicAccessError, VgicError, MAX_LIST_REGISTERS,
};

use super::boot::machine;
use super::domain::Domain;
use super::exits::log_fault;
use super::gic::EmulatedRegion;
use super::scheduler::{self, VcpuId};
use super::virtual_uart;

/// The physical SGI one CPU sends another to make it leave the guest: to refill its list
/// registers, or to notice a reset or a stop. Physical SGIs are the hypervisor's alone; the
/// guest's SGIs are virtual.
pub const KICK_SGI: u32 = 0;

/// Takes every pending physical interrupt on this CPU (we arrive here on an IRQ exit, or from
/// the idle loop).
pub fn handle_physical_interrupts() {
    let machine = machine();
    let gic = machine.gic.this_cpu();
    let this_cpu = cpu::cpu_index();
    let virtual_timer = machine.platform.timer.virtual_timer;
    while let Some(acknowledged) = gic.acknowledge() {
        let intid = acknowledged.intid.raw();
        if intid == KICK_SGI {
            // The scheduling and refill after this exit do the work.
            gic.end_of_interrupt(acknowledged);
            gic.deactivate(acknowledged);
            continue;
        }
        if intid == machine.platform.timer.hyp_phys {
            // A descheduled vCPU's virtual timer expired: the scheduler sees it after this exit.
            cpu::set_hypervisor_timer(None);
            gic.end_of_interrupt(acknowledged);
            gic.deactivate(acknowledged);
            continue;
        }
        if Some(intid) == machine.console_input_intid {
            virtual_uart::receive_input();
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
        // The virtual timer belongs to the vCPU loaded here; an SPI to the domain owning it.
        let target = if intid == virtual_timer {
            scheduler::current()
        } else {
            machine
                .domains
                .iter()
                .position(|domain| domain.vgic_config.owned_spis.contains(intid))
                .map(|domain| VcpuId { domain, vcpu: 0 })
        };
        let injected = match target {
            Some(id) => {
                let domain = &machine.domains[id.domain];
                domain
                    .vgic
                    .lock()
                    .inject(id.vcpu, intid)
                    .map(|kicks| kick_vcpus(domain, kicks))
                    .map_err(|error| (Some(domain.name()), error))
            }
            None => Err((None, VgicError::NotOwned { intid })),
        };
        if let Err((owner, error)) = injected {
            gic.deactivate(acknowledged);
            if intid != virtual_timer {
                let _ = gic.disable(acknowledged.intid);
            }
            hyp_log!(
                "physical interrupt {} on CPU {} not delivered (domain {}: {}){}",
                intid,
                this_cpu,
                owner.unwrap_or("none"),
                Shown(&error),
                if intid != virtual_timer {
                    "; disabled"
                } else {
                    ""
                }
            );
        }
    }
}

/// The guest's ICC_SGI1R_EL1 (GICv3) write: virtual SGIs to other vCPUs of its domain.
pub fn send_guest_sgi(domain: &Domain, sender: usize, value: u64) {
    let result = domain.vgic.lock().send_sgi_v3(sender, value);
    match result {
        Ok(targets) => kick_vcpus(domain, targets),
        Err(error) => log_fault(
            domain,
            format_args!("vCPU {sender}: SGI request {value:#x} refused: {error}"),
        ),
    }
}

/// Emulates a guest access to the distributor or a redistributor. Returns the value read.
pub fn emulate_mmio(
    domain: &Domain,
    vcpu: usize,
    region: EmulatedRegion,
    width: u8,
    is_write: bool,
    value: u64,
) -> Result<u64, VgicAccessError> {
    let mut effects = PhysicalEffects::new(domain);
    let outcome = {
        let mut vgic = domain.vgic.lock();
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
                domain,
                format_args!(
                    "vCPU {vcpu} programmed {} interrupt(s) from {} that it does not own: ignored",
                    ignored.count, ignored.first_intid
                ),
            );
        }
        kick_vcpus(domain, outcome.kick);
    }
    Ok(read_value)
}

/// Before re-entering vCPU `id`: fold the list registers back into its vGIC and refill them
/// with the highest-priority pending interrupts; ask for the underflow maintenance interrupt if
/// more are waiting than fit.
pub fn refill_list_registers(id: VcpuId) {
    let machine = machine();
    let Some(domain) = machine.domains.get(id.domain) else {
        return;
    };
    let mut vgic = domain.vgic.lock();
    if !vgic.needs_sync(id.vcpu) {
        return;
    }
    let gic = machine.gic.this_cpu();
    let count = gic.list_register_count().min(MAX_LIST_REGISTERS);
    // The raw values are kept to write back only what changed; copying decoded arrays instead
    // cost hundreds of instructions per exit (a strict-alignment memcpy).
    let mut raw_before = [0u64; MAX_LIST_REGISTERS];
    let mut list_registers = [ListRegister::INVALID; MAX_LIST_REGISTERS];
    for index in 0..count {
        raw_before[index] = read_raw_list_register(gic, index);
        list_registers[index] = decode_list_register(gic, raw_before[index]);
    }
    let outcome = vgic.sync_and_fill(id.vcpu, &mut list_registers[..count]);
    drop(vgic);
    match outcome {
        Ok(outcome) => {
            for index in 0..count {
                let raw = encode_list_register(gic, &list_registers[index]);
                if raw != raw_before[index] {
                    write_raw_list_register(gic, index, raw);
                }
            }
            gic.set_underflow_interrupt(outcome.underflow_interrupt_wanted);
            // Work the fold handed to other vCPUs (an interrupt the guest rerouted away from
            // this one): without a kick they would see it only at their next exit.
            kick_vcpus(domain, outcome.kick);
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
            "{}: vCPU {}: list registers not refilled: {}",
            domain.name(),
            id.vcpu,
            Shown(&error)
        ),
    }
}

/// A vCPU's virtual CPU interface while another vCPU runs on its physical CPU: list registers,
/// active priorities, control registers, and which of its hardware-mapped private interrupts
/// (the virtual timer) were active physically.
#[derive(Clone, Copy, Debug)]
pub struct InterfaceState {
    list_registers: [u64; MAX_LIST_REGISTERS],
    active_priorities: [u64; 8],
    machine_control: u64,
    hyp_control: u64,
    active_private: u32,
}

impl InterfaceState {
    pub const EMPTY: InterfaceState = InterfaceState {
        list_registers: [0; MAX_LIST_REGISTERS],
        active_priorities: [0; 8],
        machine_control: 0,
        hyp_control: 0,
        active_private: 0,
    };
}

/// Saves this CPU's virtual CPU interface for the loaded vCPU of `domain` and clears it, along
/// with the physical active state of its hardware-mapped private interrupts, so that the next
/// vCPU's own timer can fire.
pub fn save_virtual_cpu_interface(domain: &Domain) -> InterfaceState {
    let gic = machine().gic.this_cpu();
    let mut state = InterfaceState::EMPTY;
    let count = gic.list_register_count().min(MAX_LIST_REGISTERS);
    match gic {
        CpuGic::V2(v2) => {
            for index in 0..count {
                state.list_registers[index] = u64::from(v2.hyp_interface.read_lr(index));
                v2.hyp_interface.write_lr(index, 0);
            }
            state.active_priorities[0] = u64::from(v2.hyp_interface.apr());
            state.machine_control = u64::from(v2.hyp_interface.vmcr());
            state.hyp_control = u64::from(v2.hyp_interface.hcr());
            v2.hyp_interface.set_apr(0);
        }
        CpuGic::V3(v3) => {
            for index in 0..count {
                state.list_registers[index] = v3.hyp_interface.read_lr(index);
                v3.hyp_interface.write_lr(index, 0);
            }
            for n in 0..v3.hyp_interface.active_priority_register_count().min(4) {
                state.active_priorities[n] = v3.hyp_interface.ap0r(n);
                state.active_priorities[4 + n] = v3.hyp_interface.ap1r(n);
                v3.hyp_interface.set_ap0r(n, 0);
                v3.hyp_interface.set_ap1r(n, 0);
            }
            state.machine_control = v3.hyp_interface.vmcr();
            state.hyp_control = v3.hyp_interface.hcr();
        }
    }
    gic.set_underflow_interrupt(false);
    for intid in domain.vgic_config.hardware_ppis.iter() {
        let Some(interrupt) = IntId::new(intid) else {
            continue;
        };
        if !gic.is_active(interrupt).unwrap_or(false) {
            continue;
        }
        let _ = gic.clear_active(interrupt);
        // Active for a list register the guest will complete: restored with it. Active with no
        // list register (the guest disabled the virtual interrupt while the hypervisor held it,
        // as Linux does to its timer on the way down) nobody would ever complete: dropped, or
        // the CPU's next vCPU could never take its own timer.
        let in_list_register = state.list_registers[..count].iter().any(|&raw| {
            let entry = match gic {
                CpuGic::V2(_) => ListRegister::decode_v2(raw as u32),
                CpuGic::V3(_) => ListRegister::decode_v3(raw),
            };
            entry.state != LrState::Invalid && entry.physical_intid == Some(intid)
        });
        if in_list_register {
            state.active_private |= 1 << (intid % 32);
        }
    }
    state
}

/// Loads a vCPU's saved virtual CPU interface onto this CPU.
pub fn restore_virtual_cpu_interface(domain: &Domain, state: &InterfaceState) {
    let gic = machine().gic.this_cpu();
    let count = gic.list_register_count().min(MAX_LIST_REGISTERS);
    for intid in domain.vgic_config.hardware_ppis.iter() {
        if state.active_private & (1 << (intid % 32)) != 0 {
            if let Some(interrupt) = IntId::new(intid) {
                let _ = gic.set_active(interrupt);
            }
        }
    }
    match gic {
        CpuGic::V2(v2) => {
            v2.hyp_interface.set_vmcr(state.machine_control as u32);
            v2.hyp_interface.set_apr(state.active_priorities[0] as u32);
            for index in 0..count {
                v2.hyp_interface
                    .write_lr(index, state.list_registers[index] as u32);
            }
            v2.hyp_interface.set_hcr(state.hyp_control as u32);
        }
        CpuGic::V3(v3) => {
            v3.hyp_interface.set_vmcr(state.machine_control);
            for n in 0..v3.hyp_interface.active_priority_register_count().min(4) {
                v3.hyp_interface.set_ap0r(n, state.active_priorities[n]);
                v3.hyp_interface.set_ap1r(n, state.active_priorities[4 + n]);
            }
            for index in 0..count {
                v3.hyp_interface
                    .write_lr(index, state.list_registers[index]);
            }
            v3.hyp_interface.set_hcr(state.hyp_control);
        }
    }
}

/// A saved vCPU is being stopped without running again: deactivate the physical interrupts its
/// saved list registers still hold (its private ones were already released when it was saved).
pub fn discard_saved_interface(domain: &Domain, state: &InterfaceState) {
    let gic = machine().gic.this_cpu();
    for &raw in state.list_registers.iter() {
        let entry = match gic {
            CpuGic::V2(_) => ListRegister::decode_v2(raw as u32),
            CpuGic::V3(_) => ListRegister::decode_v3(raw),
        };
        let Some(physical) = entry.physical_intid else {
            continue;
        };
        if entry.state != LrState::Invalid && domain.vgic_config.owned_spis.contains(physical) {
            if let Some(intid) = IntId::new(physical) {
                let _ = gic.clear_active(intid);
            }
        }
    }
}

/// Clears this CPU's virtual CPU interface before a vCPU of `domain` (re)starts: the domain's
/// physical interrupts still in list registers (with the hardware bit, or deactivated by
/// maintenance) are deactivated physically (nobody else would), then every list register,
/// active priority and the virtual machine control register are zeroed.
pub fn reset_virtual_cpu_interface(domain: &Domain) {
    let machine = machine();
    let gic = machine.gic.this_cpu();
    let config = &domain.vgic_config;
    let count = gic.list_register_count().min(MAX_LIST_REGISTERS);
    for index in 0..count {
        let entry = decode_list_register(gic, read_raw_list_register(gic, index));
        let physical = entry.physical_intid.unwrap_or(entry.virtual_intid);
        let owned = config.owned_spis.contains(physical) || config.hardware_ppis.contains(physical);
        if entry.state != LrState::Invalid && owned {
            if let Some(intid) = IntId::new(physical) {
                let _ = gic.clear_active(intid);
            }
        }
        write_raw_list_register(
            gic,
            index,
            encode_list_register(gic, &ListRegister::INVALID),
        );
    }
    // Also what the hypervisor acknowledged for the vCPU but never got into a list register (a
    // disabled virtual timer): it belongs to this CPU's next vCPU now.
    for intid in config.hardware_ppis.iter().filter_map(IntId::new) {
        let _ = gic.clear_active(intid);
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

/// List register `index` as the hardware holds it (GICH_LRn zero-extended on GICv2).
fn read_raw_list_register(gic: &CpuGic, index: usize) -> u64 {
    match gic {
        CpuGic::V2(v2) => u64::from(v2.hyp_interface.read_lr(index)),
        CpuGic::V3(v3) => v3.hyp_interface.read_lr(index),
    }
}

fn write_raw_list_register(gic: &CpuGic, index: usize, raw: u64) {
    match gic {
        CpuGic::V2(v2) => v2.hyp_interface.write_lr(index, raw as u32),
        CpuGic::V3(v3) => v3.hyp_interface.write_lr(index, raw),
    }
}

fn decode_list_register(gic: &CpuGic, raw: u64) -> ListRegister {
    match gic {
        CpuGic::V2(_) => ListRegister::decode_v2(raw as u32),
        CpuGic::V3(_) => ListRegister::decode_v3(raw),
    }
}

fn encode_list_register(gic: &CpuGic, entry: &ListRegister) -> u64 {
    match gic {
        CpuGic::V2(_) => u64::from(entry.encode_v2()),
        CpuGic::V3(_) => entry.encode_v3(),
    }
}

/// Kicks the physical CPUs of `domain`'s vCPUs in `targets`, except this CPU (which schedules
/// and refills on its own way out).
pub fn kick_vcpus(domain: &Domain, targets: VcpuSet) {
    if targets.is_empty() {
        return;
    }
    let this_cpu = cpu::cpu_index();
    for vcpu in targets.iter() {
        let physical = domain.physical_cpu_of(vcpu);
        if physical != this_cpu {
            kick_physical_cpu(physical);
        }
    }
}

/// Makes physical CPU `index` take an exit (or leave WFI) soon; nothing for this CPU itself.
pub fn kick_physical_cpu(index: usize) {
    let machine = machine();
    if index == cpu::cpu_index() {
        return;
    }
    if let Some(target) = machine.gic.target_of(index) {
        let _ = machine.gic.this_cpu().send_sgi(target, KICK_SGI as u8);
    }
}

/// Kicks every other CPU (used when stopping after a panic).
pub fn kick_all_other_cpus() {
    let Some(machine) = super::boot::try_machine() else {
        return;
    };
    for index in 0..machine.cpu_affinities.len() {
        kick_physical_cpu(index);
    }
}

/// Disables the physical SPIs a guest owned, before it restarts (it enables them again itself).
pub fn disable_owned_spis(owned: &InterruptSet) {
    let gic = machine().gic.this_cpu();
    for intid in owned.iter().filter_map(IntId::new) {
        let _ = gic.disable(intid);
    }
}

/// Carries out the vGIC's decisions on the physical GIC for the SPIs a domain owns. Private
/// interrupts are never changed physically: the hardware-mapped ones (the virtual timer) belong
/// to the physical CPU, which domains may share, so the hypervisor keeps them enabled and the
/// domain's virtual enable and priority decide delivery.
pub struct PhysicalEffects<'a> {
    domain: &'a Domain,
}

impl<'a> PhysicalEffects<'a> {
    pub fn new(domain: &'a Domain) -> Self {
        Self { domain }
    }

    /// The calling CPU's front end for a shared interrupt; `None` for private ones.
    fn front_end(&self, interrupt: PhysicalInterrupt) -> Option<(&'static CpuGic, IntId)> {
        match interrupt {
            PhysicalInterrupt::Private { .. } => None,
            _ => Some((machine().gic.this_cpu(), IntId::new(interrupt.intid())?)),
        }
    }
}

impl PhysicalGicEffects for PhysicalEffects<'_> {
    fn set_enabled(&mut self, interrupt: PhysicalInterrupt, enabled: bool) {
        if let Some((gic, intid)) = self.front_end(interrupt) {
            let _ = if enabled {
                gic.enable(intid)
            } else {
                gic.disable(intid)
            };
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
        let physical = self.domain.physical_cpu_of(vcpu);
        if let (Some(intid), Some(target)) = (IntId::new(intid), machine.gic.target_of(physical)) {
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
