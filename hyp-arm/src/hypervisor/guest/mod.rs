//! The guest domain at run time: loading its images, starting, stopping and resetting its vCPUs.
//! Creating it at boot is in `setup`.

mod setup;

use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::entry::{self, MAX_PHYSICAL_CPUS};
use crate::arch::{cpu, GuestRegisters};
use crate::console::Shown;
use crate::domain::boot_layout::BootLayout;
use crate::hyp_log;
use crate::platform::MemoryRange;
use crate::vcpu_power::VcpuPower;
use crate::vgic::{Vgic, VgicConfig};

use super::boot::machine;
use super::interrupts;

/// Room for the generated guest device tree.
const GUEST_DT_CAPACITY: usize = 64 * 1024;
/// SPSR for a vCPU's first instruction: EL1h with D, A, I and F masked (booting.rst).
const SPSR_EL1H_MASKED: u64 = 0x3c5;

/// The guest domain.
pub struct Guest {
    pub name: &'static str,
    pub vcpu_count: usize,
    pub ram: MemoryRange,
    vttbr: u64,
    vtcr: u64,
    kernel: MemoryRange,
    initrd: Option<MemoryRange>,
    layout: BootLayout,
    device_tree_length: usize,
    /// The guest's virtual GIC (a static: it is large and must not travel through the stack).
    pub vgic: &'static spin::Mutex<Vgic>,
    pub(super) vgic_config: VgicConfig,
    pub vcpus: [VcpuPower; MAX_PHYSICAL_CPUS],
    /// A SYSTEM_RESET is in progress: vCPUs stop at their next exit.
    resetting: AtomicBool,
    /// Faults still worth a log line (a hostile guest must not flood the console).
    pub fault_log_budget: core::sync::atomic::AtomicU32,
}

static GUEST_VGIC: spin::Mutex<Vgic> = spin::Mutex::new(Vgic::unconfigured());

/// The generated device tree, copied into guest RAM at every (re)start.
static mut GUEST_DEVICE_TREE: [u8; GUEST_DT_CAPACITY] = [0; GUEST_DT_CAPACITY];

impl Guest {
    /// Loads the EL2 registers that make this CPU run this guest's vCPUs.
    pub fn configure_this_cpu(&self, vcpu: usize) {
        cpu::configure_guest_traps(self.vttbr, self.vtcr);
        cpu::set_guest_mpidr(vcpu);
    }

    /// Copies the kernel, initrd and device tree into guest RAM from their pristine copies, after
    /// clearing the RAM when `clear_ram` is set (always on a restart, so nothing of the previous
    /// run survives; at first boot when the board says RAM may hold the firmware's leftovers).
    pub fn load_images(&self, clear_ram: bool) {
        // SAFETY: guest RAM is identity-mapped at EL2 and no vCPU runs while images load (at boot,
        // or during a reset once every vCPU has stopped).
        unsafe {
            if clear_ram {
                cpu::zero_memory(self.ram.base as usize, self.ram.size as usize);
            }
            copy_physical(self.kernel, self.layout.kernel.base);
            if let (Some(source), Some(destination)) = (self.initrd, self.layout.initrd) {
                copy_physical(source, destination.base);
            }
            let tree = &*core::ptr::addr_of!(GUEST_DEVICE_TREE);
            core::ptr::copy_nonoverlapping(
                tree.as_ptr(),
                self.layout.dtb.base as *mut u8,
                self.device_tree_length,
            );
        }
        cpu::invalidate_instruction_cache();
        cpu::invalidate_guest_tlbs();
    }

    /// Posts the boot vCPU's start: kernel entry with x0 = the device tree (booting.rst).
    pub fn start_boot_vcpu(&self) {
        // Benchmarks read this to count the hypervisor's share of the boot (docs/BENCHMARKS.md).
        hyp_log!(
            "{}: starting vCPU 0 at {} us after power-on",
            self.name,
            cpu::counter_microseconds()
        );
        self.vcpus[0].request_on(self.layout.kernel.base, self.layout.dtb.base);
        if cpu::cpu_index() != 0 {
            interrupts::kick_cpu(0);
        }
    }

    /// True while a reset is stopping the vCPUs.
    pub fn is_resetting(&self) -> bool {
        self.resetting.load(Ordering::Acquire)
    }

    /// PSCI SYSTEM_RESET from vCPU `caller`: stop every vCPU, reload pristine images into cleared
    /// RAM, reset the virtual GIC, and boot again from vCPU 0.
    pub fn reset(&self, caller: usize) -> ! {
        if self.resetting.swap(true, Ordering::AcqRel) {
            // Another vCPU is already resetting the guest: just stop.
            stop_vcpu(self, caller);
        }
        hyp_log!(
            "{}: SYSTEM_RESET from vCPU {}: restarting the guest",
            self.name,
            caller
        );
        for (index, vcpu) in self.vcpus.iter().enumerate().take(self.vcpu_count) {
            if index != caller {
                vcpu.cancel_pending();
                interrupts::kick_cpu(index);
            }
        }
        clean_up_this_vcpu(self, caller);
        while (0..self.vcpu_count).any(|index| index != caller && !self.vcpus[index].is_off()) {
            core::hint::spin_loop();
        }
        interrupts::disable_owned_spis(&self.vgic_config.owned_spis);
        if let Err(error) = self.vgic.lock().configure(&self.vgic_config) {
            hyp_log!("{}: virtual GIC reset failed: {}", self.name, Shown(&error));
        }
        self.load_images(true);
        self.resetting.store(false, Ordering::Release);
        self.start_boot_vcpu();
        run_vcpus_on_this_cpu(caller)
    }
}

/// Copies a range of host physical memory to `destination`.
///
/// # Safety
/// Both ranges must be RAM covered by the EL2 map and must not overlap.
unsafe fn copy_physical(source: MemoryRange, destination: u64) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        cpu::copy_memory(
            destination as usize,
            source.base as usize,
            source.size as usize,
        )
    };
}

/// Waits for this CPU's vCPU to be started (boot, PSCI CPU_ON, reset) and runs it. Never returns:
/// each guest entry starts from a fresh stack.
///
/// The CPU sleeps in WFI; whoever posts a start request kicks it with the kick SGI. Pending
/// interrupts are taken (masked, by polling) before each check, so a kick that arrives after the
/// check leaves an interrupt pending and WFI returns at once: no wake-up is lost.
pub fn run_vcpus_on_this_cpu(index: usize) -> ! {
    let guest = &machine().guest;
    loop {
        interrupts::handle_physical_interrupts();
        if index < guest.vcpu_count && !guest.is_resetting() {
            if let Some(request) = guest.vcpus[index].take_start_request() {
                enter_vcpu(index, request.entry_point, request.context);
            }
        }
        cpu::wait_for_interrupt();
    }
}

fn enter_vcpu(index: usize, entry_point: u64, context: u64) -> ! {
    cpu::reset_guest_el1_state();
    interrupts::reset_virtual_cpu_interface();
    let mut registers = GuestRegisters::default();
    registers.x[0] = context;
    registers.elr = entry_point;
    registers.spsr = SPSR_EL1H_MASKED;
    interrupts::refill_list_registers(index);
    // SAFETY: `registers` is a complete guest context and the stack top is this CPU's own.
    unsafe { entry::hyp_enter_guest(&registers, entry::stack_top(index)) }
}

/// Stops this CPU's vCPU (PSCI CPU_OFF, or a reset) and waits for it to be started again.
pub fn stop_vcpu(guest: &Guest, index: usize) -> ! {
    clean_up_this_vcpu(guest, index);
    run_vcpus_on_this_cpu(index)
}

/// Releases what the vCPU on this CPU holds in the physical GIC and marks it off.
fn clean_up_this_vcpu(guest: &Guest, index: usize) {
    interrupts::reset_virtual_cpu_interface();
    cpu::reset_guest_el1_state();
    guest.vcpus[index].set_off();
}

/// Called after every exit, before the guest runs again: honour a pending reset, then put
/// pending virtual interrupts into the list registers.
pub fn before_guest_entry() {
    let index = cpu::cpu_index();
    let guest = &machine().guest;
    if guest.is_resetting() {
        stop_vcpu(guest, index);
    }
    interrupts::refill_list_registers(index);
}
