//! Domains at run time: loading their images, starting them, stopping and restarting one domain
//! while the others run. Creating them at boot is in `setup`.

mod setup;

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};

use crate::arch::cpu;
use crate::console::Shown;
use crate::domain::boot_layout::BootLayout;
use crate::domain::plan::{DomainPlan, MAX_VCPUS_PER_DOMAIN};
use crate::hyp_log;
use crate::platform::MemoryRange;
use crate::sync::Mutex;
use crate::vcpu_power::VcpuPower;
use crate::vgic::{Vgic, VgicConfig};

use super::boot::machine;
use super::virtual_uart::EmulatedUart;
use super::{interrupts, scheduler};

pub use setup::{create_domains, ChannelRegions, Inputs};

/// Room for each domain's generated device tree.
const DEVICE_TREE_CAPACITY: usize = 64 * 1024;
/// RAM a restart clears between two looks at the scheduler, so that a higher-priority vCPU
/// sharing the CPU (the secure domain) waits little: a few ms, but up to about 120 ms under
/// QEMU's TCG where the pages held the guest's code (QEMU then invalidates translated code
/// page by page; a 16 MiB chunk of kernel text took 1.9 s).
const CLEAR_CHUNK: u64 = 1 << 20;

/// Where a domain is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum DomainState {
    /// Waiting for the domain it starts after to report ready.
    Waiting = 0,
    Running = 1,
    /// Being reset: its vCPUs stop at their next exit.
    Resetting = 2,
    /// Stopped for good (SYSTEM_OFF with `stop-domain`).
    Stopped = 3,
}

/// One running domain.
pub struct Domain {
    /// Its place in the machine's list of (created) domains; `VcpuId::domain` means this.
    pub index: usize,
    /// Its place in the plan (console tags, input focus, DOMAIN_INFO); differs from `index`
    /// when an earlier domain was refused at boot.
    pub plan_index: usize,
    pub plan: &'static DomainPlan,
    pub vcpu_count: usize,
    /// Its RAM as the domain sees it (IPA range).
    pub ram: MemoryRange,
    /// Where that RAM is in host physical memory.
    pub ram_physical: u64,
    pub vttbr: u64,
    pub vtcr: u64,
    kernel: MemoryRange,
    initrd: Option<MemoryRange>,
    layout: BootLayout,
    device_tree: &'static [u8],
    /// The domain's virtual GIC.
    pub vgic: &'static Mutex<Vgic>,
    pub vgic_config: VgicConfig,
    pub vcpus: [VcpuPower; MAX_VCPUS_PER_DOMAIN],
    state: AtomicU8,
    /// The domain called DOMAIN_READY (since its last start).
    ready: AtomicBool,
    /// Faults still worth a log line (a hostile guest must not flood the console).
    pub fault_log_budget: AtomicU32,
    /// Its console UART, when its console is `emulated-uart`.
    pub emulated_uart: Option<EmulatedUart>,
    /// During a restart: how much of its RAM is cleared already.
    cleared: AtomicU64,
}

impl Domain {
    pub fn name(&self) -> &'static str {
        self.plan.name
    }

    /// The physical CPU vCPU `vcpu` runs on.
    pub fn physical_cpu_of(&self, vcpu: usize) -> usize {
        self.plan.vcpu_pcpus.get(vcpu).copied().unwrap_or(0)
    }

    pub fn state(&self) -> DomainState {
        match self.state.load(Ordering::Acquire) {
            0 => DomainState::Waiting,
            1 => DomainState::Running,
            2 => DomainState::Resetting,
            _ => DomainState::Stopped,
        }
    }

    fn set_state(&self, state: DomainState) {
        self.state.store(state as u8, Ordering::Release);
    }

    /// Whether the domain's vCPUs must stop at their next exit.
    pub fn is_stopping(&self) -> bool {
        matches!(self.state(), DomainState::Resetting | DomainState::Stopped)
    }

    /// Host physical address of guest-physical `ipa` inside the domain's RAM.
    fn physical(&self, ipa: u64) -> u64 {
        ipa - self.ram.base + self.ram_physical
    }

    /// Copies the kernel, initrd and device tree into the domain's RAM from their pristine
    /// copies, after clearing the RAM when `clear_ram` is set (always on a restart, so nothing of
    /// the previous run survives).
    pub fn load_images(&self, clear_ram: bool) {
        // SAFETY: the domain's RAM is mapped at EL2 (host RAM is identity-mapped) and none of its
        // vCPUs runs while images load (at boot, or during a reset once every vCPU stopped); the
        // pristine copies lie outside every domain's RAM.
        unsafe {
            if clear_ram {
                cpu::zero_memory(self.ram_physical as usize, self.ram.size as usize);
            }
            cpu::copy_memory(
                self.physical(self.layout.kernel.base) as usize,
                self.kernel.base as usize,
                self.kernel.size as usize,
            );
            if let (Some(source), Some(destination)) = (self.initrd, self.layout.initrd) {
                cpu::copy_memory(
                    self.physical(destination.base) as usize,
                    source.base as usize,
                    source.size as usize,
                );
            }
            core::ptr::copy_nonoverlapping(
                self.device_tree.as_ptr(),
                self.physical(self.layout.dtb.base) as *mut u8,
                self.device_tree.len(),
            );
        }
        cpu::invalidate_instruction_cache();
        cpu::invalidate_guest_tlbs();
    }

    /// Starts the domain: posts vCPU 0's start (kernel entry with x0 = its device tree,
    /// booting.rst) and kicks its physical CPU.
    pub fn start(&self) {
        self.ready.store(false, Ordering::Release);
        self.set_state(DomainState::Running);
        // Benchmarks read this to count the hypervisor's share of the boot (docs/BENCHMARKS.md).
        hyp_log!(
            "{}: starting vCPU 0 at {} us after power-on",
            self.name(),
            cpu::counter_microseconds()
        );
        self.vcpus[0].request_on(self.layout.kernel.base, self.layout.dtb.base);
        interrupts::kick_physical_cpu(self.physical_cpu_of(0));
    }

    /// DOMAIN_READY: the domain finished its start-up; start those waiting for it.
    pub fn report_ready(&self) {
        if self.ready.swap(true, Ordering::AcqRel) {
            return;
        }
        hyp_log!("{}: ready", self.name());
        start_domains_waiting_for(self.index);
    }

    /// PSCI SYSTEM_RESET from vCPU `caller` (running on this CPU): stop every vCPU of this
    /// domain, then restart it from pristine images in cleared RAM with a reset virtual GIC.
    /// The restart itself is background work of the CPU of its vCPU 0 ([`Domain::continue_reset`]),
    /// done when nothing else there is runnable, so the other domains keep running throughout.
    pub fn reset(&self, caller: usize) -> ! {
        if self
            .state
            .compare_exchange(
                DomainState::Running as u8,
                DomainState::Resetting as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            // Another vCPU is already resetting (or stopping) the domain: just stop.
            scheduler::stop_current_vcpu();
        }
        hyp_log!(
            "{}: SYSTEM_RESET from vCPU {}: restarting the domain",
            self.name(),
            caller
        );
        self.cleared.store(0, Ordering::Release);
        self.stop_vcpus(caller);
        interrupts::kick_physical_cpu(self.physical_cpu_of(0));
        scheduler::idle()
    }

    /// A step of a pending restart, on the CPU of vCPU 0 when it has nothing to run: once every
    /// vCPU is off, clear the next chunk of RAM; after the last, reload and start. Returns
    /// whether work remains.
    pub fn continue_reset(&self) -> bool {
        if self.state() != DomainState::Resetting {
            return false;
        }
        if (0..self.vcpu_count).any(|index| !self.vcpus[index].is_off()) {
            // Kicked already; they stop at their next exit.
            return true;
        }
        let cleared = self.cleared.load(Ordering::Acquire);
        if cleared < self.ram.size {
            let length = CLEAR_CHUNK.min(self.ram.size - cleared);
            // SAFETY: the domain's RAM is mapped at EL2 and none of its vCPUs runs (all are
            // off and it is Resetting, so none is started).
            unsafe { cpu::zero_memory((self.ram_physical + cleared) as usize, length as usize) };
            self.cleared.store(cleared + length, Ordering::Release);
            return true;
        }
        interrupts::disable_owned_spis(&self.vgic_config.owned_spis);
        if let Err(error) = self.vgic.lock().configure(&self.vgic_config) {
            hyp_log!(
                "{}: virtual GIC reset failed: {}",
                self.name(),
                Shown(&error)
            );
        }
        let _ = crate::console::flush_domain(self.plan_index);
        if let Some(uart) = &self.emulated_uart {
            uart.reset();
        }
        super::channels::reset_frontend(self);
        super::board_devices::reset_domain(self);
        self.load_images(false);
        self.start();
        false
    }

    /// PSCI SYSTEM_OFF with `stop-domain`: stop every vCPU of this domain for good.
    pub fn stop(&self, caller: usize) -> ! {
        if self
            .state
            .compare_exchange(
                DomainState::Running as u8,
                DomainState::Stopped as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
        {
            hyp_log!(
                "{}: SYSTEM_OFF from vCPU {}: domain stopped, the others keep running",
                self.name(),
                caller
            );
            self.stop_vcpus(caller);
            while (0..self.vcpu_count).any(|index| !self.vcpus[index].is_off()) {
                core::hint::spin_loop();
            }
            interrupts::disable_owned_spis(&self.vgic_config.owned_spis);
            let _ = crate::console::flush_domain(self.plan_index);
            start_domains_waiting_for(self.index);
        }
        scheduler::stop_current_vcpu()
    }

    /// Releases this CPU's vCPU `caller` and asks every other vCPU of the (stopping) domain to
    /// stop: each does at its next exit, or at once where it is not loaded.
    fn stop_vcpus(&self, caller: usize) {
        for (index, vcpu) in self.vcpus.iter().enumerate().take(self.vcpu_count) {
            if index != caller {
                vcpu.cancel_pending();
                interrupts::kick_physical_cpu(self.physical_cpu_of(index));
            }
        }
        scheduler::release_current_vcpu();
        // vCPUs of this domain sharing this CPU are not loaded: stop them here.
        scheduler::stop_unloaded_vcpus_of_stopping_domains();
    }

    /// Boot-time start: domains that wait for another start when it reports ready.
    pub fn start_at_boot(&self) {
        if self.state() == DomainState::Running {
            self.start();
        }
    }
}

/// Starts every domain waiting for domain `index` (it reported ready, or stopped).
fn start_domains_waiting_for(index: usize) {
    let machine = machine();
    let name = machine.domains[index].name();
    for domain in &machine.domains {
        if domain.plan.starts_after == Some(name)
            && domain
                .state
                .compare_exchange(
                    DomainState::Waiting as u8,
                    DomainState::Running as u8,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
        {
            domain.start();
        }
    }
}
