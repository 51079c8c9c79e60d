//! Which vCPU each physical CPU runs.
//!
//! Every vCPU has a fixed physical CPU (the plan's `vcpus`). A CPU hosting one vCPU (pinned
//! scheduling) just runs it: the guest's WFI is not even trapped. A CPU hosting several (shared
//! scheduling) runs the highest-priority runnable one: a vCPU is runnable unless it waits in
//! WFI with nothing to take; it becomes runnable again when an interrupt is queued for it (the
//! injector kicks this CPU) or its virtual timer expires (the EL2 timer, CNTHP, is armed for the
//! earliest such deadline). On a switch the outgoing vCPU's registers, EL1 state, FP/SIMD
//! registers, virtual timer and virtual CPU interface are saved and the incoming one's loaded;
//! each domain has its own VMID, so no TLB maintenance is needed.
//!
//! Each CPU's schedule is touched only by that CPU (others kick it), so its lock never spins.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::arch::context::El1Context;
use crate::arch::entry::{self, MAX_PHYSICAL_CPUS};
use crate::arch::{cpu, GuestRegisters};
use crate::sync::Mutex;

use super::boot::machine;
use super::domain::Domain;
use super::interrupts::{self, InterfaceState};

/// The most vCPUs one physical CPU hosts.
const MAX_HOSTED: usize = crate::domain::plan::MAX_DOMAINS;
/// SPSR for a vCPU's first instruction: EL1h with D, A, I and F masked (booting.rst).
const SPSR_EL1H_MASKED: u64 = 0x3c5;

/// A vCPU: its domain's index and its index in that domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuId {
    pub domain: usize,
    pub vcpu: usize,
}

impl VcpuId {
    fn encode(self) -> usize {
        self.domain * 64 + self.vcpu + 1
    }

    fn decode(value: usize) -> Option<VcpuId> {
        let value = value.checked_sub(1)?;
        Some(VcpuId {
            domain: value / 64,
            vcpu: value % 64,
        })
    }
}

/// A vCPU hosted by this CPU, with its state while another one runs.
struct HostedVcpu {
    id: VcpuId,
    priority: u8,
    /// In WFI with nothing to take (only when vCPUs share the CPU).
    blocked: bool,
    /// `registers`, `el1` and `interface` hold its state (it ran, and another vCPU runs now).
    saved: bool,
    registers: GuestRegisters,
    el1: El1Context,
    interface: InterfaceState,
}

struct CpuSchedule {
    /// By priority, highest first.
    hosted: heapless::Vec<HostedVcpu, MAX_HOSTED>,
    /// Index in `hosted` of the vCPU loaded on the CPU.
    loaded: Option<usize>,
}

static SCHEDULES: [Mutex<CpuSchedule>; MAX_PHYSICAL_CPUS] = [const {
    Mutex::new(CpuSchedule {
        hosted: heapless::Vec::new(),
        loaded: None,
    })
}; MAX_PHYSICAL_CPUS];

/// The vCPU loaded on each CPU (encoded; 0 = none), readable without the schedule's lock.
static CURRENT: [AtomicUsize; MAX_PHYSICAL_CPUS] =
    [const { AtomicUsize::new(0) }; MAX_PHYSICAL_CPUS];

/// The vCPU loaded on this CPU: the one whose exit is being handled.
#[inline]
pub fn current() -> Option<VcpuId> {
    VcpuId::decode(CURRENT[cpu::cpu_index()].load(Ordering::Relaxed))
}

/// The domain and vCPU index of the vCPU whose exit is being handled.
#[inline]
pub fn current_vcpu() -> Option<(&'static Domain, usize)> {
    let id = current()?;
    machine()
        .domains
        .get(id.domain)
        .map(|domain| (domain, id.vcpu))
}

fn set_current(id: Option<VcpuId>) {
    CURRENT[cpu::cpu_index()].store(id.map_or(0, VcpuId::encode), Ordering::Relaxed);
}

/// Lists the vCPUs this CPU hosts and sets its traps: WFI traps only when vCPUs share it.
pub fn configure_this_cpu(index: usize) {
    let mut schedule = SCHEDULES[index].lock();
    for domain in machine().domains.iter() {
        for vcpu in 0..domain.vcpu_count {
            if domain.physical_cpu_of(vcpu) != index {
                continue;
            }
            let hosted = HostedVcpu {
                id: VcpuId {
                    domain: domain.index,
                    vcpu,
                },
                priority: domain.plan.priority,
                blocked: false,
                saved: false,
                registers: GuestRegisters::default(),
                el1: El1Context::reset(),
                interface: InterfaceState::EMPTY,
            };
            let position = schedule
                .hosted
                .iter()
                .position(|other| other.priority < hosted.priority)
                .unwrap_or(schedule.hosted.len());
            // The plan's validation bounds vCPUs per CPU by MAX_HOSTED.
            let _ = schedule.hosted.insert(position, hosted);
        }
    }
    cpu::configure_guest_traps(schedule.hosted.len() > 1);
}

/// Called after every exit, before the guest runs again: stop the vCPU if its domain is
/// stopping, switch to a higher-priority runnable vCPU sharing the CPU, and put pending virtual
/// interrupts into the list registers of whichever vCPU will run.
pub fn before_guest_entry(registers: &mut GuestRegisters) {
    let Some(mut id) = current() else {
        idle();
    };
    if machine()
        .domains
        .get(id.domain)
        .is_none_or(Domain::is_stopping)
    {
        stop_current_vcpu();
    }
    let this_cpu = cpu::cpu_index();
    {
        let mut schedule = SCHEDULES[this_cpu].lock();
        if schedule.hosted.len() > 1 {
            schedule.stop_unloaded_vcpus_of_stopping_domains();
            match schedule.pick() {
                Some(next) if Some(next) != schedule.loaded => {
                    schedule.save_loaded(registers);
                    *registers = schedule.load(next);
                }
                Some(_) => {}
                None => {
                    // The loaded vCPU waits and nothing else can run.
                    schedule.save_loaded(registers);
                    drop(schedule);
                    idle();
                }
            }
            schedule.arm_wake_up_timer();
            // The vCPU loaded now, perhaps another one.
            match current() {
                Some(loaded) => id = loaded,
                None => return,
            }
        }
    }
    interrupts::refill_list_registers(id);
}

/// The loaded vCPU executed WFI (trapped only when vCPUs share this CPU): unless it has an
/// interrupt to take, it blocks and the CPU goes to another vCPU at `before_guest_entry`.
pub fn wait_for_interrupt() {
    let Some(id) = current() else { return };
    // Fold the list registers first: what the guest acknowledged is no longer pending.
    interrupts::refill_list_registers(id);
    let domain = &machine().domains[id.domain];
    if cpu::virtual_timer_fired() || domain.vgic.lock().has_pending(id.vcpu) {
        return;
    }
    let mut schedule = SCHEDULES[cpu::cpu_index()].lock();
    if let Some(loaded) = schedule.loaded {
        schedule.hosted[loaded].blocked = true;
    }
}

/// YIELD: lets a runnable vCPU of the same priority go first (the next pick prefers others).
pub fn yield_current() {
    // With strict priorities and no equal-priority sharing in any plan yet, there is nothing to
    // rotate: a higher-priority vCPU would already run. Kept as a call so guests can use it.
}

/// Runs whatever this CPU should run next; never returns (each guest entry starts from a
/// fresh stack). With nothing runnable the CPU sleeps in WFI until a kick, an interrupt for one
/// of its vCPUs, or the EL2 timer for a vCPU's virtual timer. Pending interrupts are taken
/// (masked, by polling) before each check, so a kick after the check leaves an interrupt
/// pending and WFI returns at once: no wake-up is lost.
pub fn idle() -> ! {
    let this_cpu = cpu::cpu_index();
    set_current(None);
    loop {
        interrupts::handle_physical_interrupts();
        {
            let mut schedule = SCHEDULES[this_cpu].lock();
            schedule.loaded = None;
            schedule.stop_unloaded_vcpus_of_stopping_domains();
            if let Some(next) = schedule.pick() {
                let registers = schedule.load(next);
                schedule.arm_wake_up_timer();
                let id = schedule.hosted[next].id;
                drop(schedule);
                interrupts::refill_list_registers(id);
                // SAFETY: `registers` is a complete guest context and the stack top is this
                // CPU's own; nothing on the current stack is needed after this call.
                unsafe { entry::hyp_enter_guest(&registers, entry::stack_top(this_cpu)) }
            }
            schedule.arm_wake_up_timer();
        }
        // Background work (a domain's restart) goes on while nothing here is runnable; the
        // CPU sleeps only when there is none.
        if !continue_background_work(this_cpu) {
            cpu::wait_for_interrupt();
        }
    }
}

/// One step of the restarts this CPU carries out (of domains whose vCPU 0 it hosts). Returns
/// whether more remains.
fn continue_background_work(this_cpu: usize) -> bool {
    let mut more = false;
    for domain in machine()
        .domains
        .iter()
        .filter(|domain| domain.physical_cpu_of(0) == this_cpu)
    {
        more |= domain.continue_reset();
    }
    more
}

/// Stops the loaded vCPU (PSCI CPU_OFF, or its domain stopping) and runs whatever is next.
pub fn stop_current_vcpu() -> ! {
    release_current_vcpu();
    idle()
}

/// Releases what the loaded vCPU holds on this CPU, marks it off and unloads it.
pub fn release_current_vcpu() {
    let Some((domain, vcpu)) = current_vcpu() else {
        return;
    };
    interrupts::reset_virtual_cpu_interface(domain);
    cpu::reset_guest_el1_state();
    domain.vcpus[vcpu].set_off();
    let mut schedule = SCHEDULES[cpu::cpu_index()].lock();
    if let Some(loaded) = schedule.loaded.take() {
        schedule.hosted[loaded].saved = false;
        schedule.hosted[loaded].blocked = false;
    }
    set_current(None);
}

/// Marks off the vCPUs of stopping domains that this CPU hosts but has not loaded.
pub fn stop_unloaded_vcpus_of_stopping_domains() {
    SCHEDULES[cpu::cpu_index()]
        .lock()
        .stop_unloaded_vcpus_of_stopping_domains();
}

impl CpuSchedule {
    /// The hosted vCPU that should run now: the highest-priority runnable one, the loaded one
    /// winning ties.
    fn pick(&mut self) -> Option<usize> {
        let now = cpu::counter_ticks();
        let domains = &machine().domains;
        let mut best: Option<usize> = None;
        for index in 0..self.hosted.len() {
            let is_loaded = self.loaded == Some(index);
            let hosted = &mut self.hosted[index];
            let domain = &domains[hosted.id.domain];
            let runnable = if is_loaded {
                !hosted.blocked
            } else if hosted.saved {
                if hosted.blocked {
                    let woken = hosted.el1.timer_deadline().is_some_and(|d| d <= now)
                        || domain.vgic.lock().has_pending(hosted.id.vcpu);
                    hosted.blocked = !woken;
                }
                !hosted.blocked && !domain.is_stopping()
            } else {
                !domain.is_stopping() && domain.vcpus[hosted.id.vcpu].has_start_request()
            };
            if !runnable {
                continue;
            }
            let priority = hosted.priority;
            let better = best.is_none_or(|best: usize| {
                let best_priority = self.hosted[best].priority;
                priority > best_priority || (priority == best_priority && is_loaded)
            });
            if better {
                best = Some(index);
            }
        }
        best
    }

    /// Saves the loaded vCPU (whose exit frame is `registers`) and unloads it.
    fn save_loaded(&mut self, registers: &GuestRegisters) {
        let Some(loaded) = self.loaded.take() else {
            return;
        };
        let domain = &machine().domains[self.hosted[loaded].id.domain];
        let hosted = &mut self.hosted[loaded];
        hosted.registers = *registers;
        hosted.el1.save();
        hosted.interface = interrupts::save_virtual_cpu_interface(domain);
        hosted.saved = true;
        set_current(None);
    }

    /// Loads hosted vCPU `index` onto this CPU and returns the registers to enter it with.
    fn load(&mut self, index: usize) -> GuestRegisters {
        let hosted = &mut self.hosted[index];
        let domain = &machine().domains[hosted.id.domain];
        cpu::set_stage2(domain.vttbr, domain.vtcr);
        cpu::set_guest_mpidr(hosted.id.vcpu);
        let registers = if hosted.saved {
            hosted.el1.restore();
            interrupts::restore_virtual_cpu_interface(domain, &hosted.interface);
            hosted.saved = false;
            hosted.registers
        } else {
            // A fresh start: nothing of the previous occupant (another domain's FP registers,
            // timer, list registers) may leak into it.
            El1Context::reset().restore();
            interrupts::reset_virtual_cpu_interface(domain);
            let mut registers = GuestRegisters::default();
            if let Some(request) = domain.vcpus[hosted.id.vcpu].take_start_request() {
                registers.x[0] = request.context;
                registers.elr = request.entry_point;
            }
            registers.spsr = SPSR_EL1H_MASKED;
            registers
        };
        hosted.blocked = false;
        self.loaded = Some(index);
        set_current(Some(hosted.id));
        registers
    }

    /// Arms the EL2 timer for the earliest virtual-timer deadline of a blocked, unloaded vCPU,
    /// or stops it.
    fn arm_wake_up_timer(&self) {
        if self.hosted.len() < 2 {
            return;
        }
        let now = cpu::counter_ticks();
        let deadline = self
            .hosted
            .iter()
            .filter(|hosted| hosted.saved && hosted.blocked)
            .filter_map(|hosted| hosted.el1.timer_deadline())
            .filter(|&deadline| deadline > now)
            .min();
        cpu::set_hypervisor_timer(deadline);
    }

    fn stop_unloaded_vcpus_of_stopping_domains(&mut self) {
        let domains = &machine().domains;
        for index in 0..self.hosted.len() {
            if self.loaded == Some(index) {
                continue;
            }
            let hosted = &mut self.hosted[index];
            let domain = &domains[hosted.id.domain];
            if domain.is_stopping() && !domain.vcpus[hosted.id.vcpu].is_off() {
                if hosted.saved {
                    interrupts::discard_saved_interface(domain, &hosted.interface);
                }
                hosted.saved = false;
                hosted.blocked = false;
                domain.vcpus[hosted.id.vcpu].cancel_pending();
                domain.vcpus[hosted.id.vcpu].set_off();
            }
        }
    }
}
