//! The guest domain at run time: its RAM and stage-2 map, its images and device tree, starting,
//! stopping and resetting its vCPUs.

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::entry::{self, MAX_PHYSICAL_CPUS};
use crate::arch::{cpu, GuestRegisters};
use crate::console::Shown;
use crate::domain::boot_layout::{plan_boot_layout, BootLayout};
use crate::domain::guest_dt::{build_guest_dt, GuestDtSpec};
use crate::hyp_log;
use crate::mm::carve::carve_highest;
use crate::mm::page_table::{
    Access, Geometry, MapError, MemoryKind, Regime, TablePool, TranslationTable,
};
use crate::platform::{
    BootModule, BootModuleKind, Device, GicRegions, GicVersion, MemoryRange, Platform,
};
use crate::vcpu_power::VcpuPower;
use crate::vgic::{GicVersion as VirtualGicVersion, InterruptSet, Vgic, VgicConfig, MAX_SPIS};

use super::board::BoardConfig;
use super::boot::{machine, page_round};
use super::gic::PhysicalGic;
use super::interrupts;

/// The guest's stage-2 VMID (one guest for now).
const GUEST_VMID: u64 = 1;
/// Room for the generated guest device tree.
const GUEST_DT_CAPACITY: usize = 64 * 1024;
/// SPSR for a vCPU's first instruction: EL1h with D, A, I and F masked (booting.rst).
const SPSR_EL1H_MASKED: u64 = 0x3c5;

/// Why the guest could not be created; each names what is missing or in conflict.
#[allow(
    clippy::large_enum_variant,
    reason = "built at most once, at boot, and reported at once"
)]
pub enum GuestError {
    NoKernel,
    NoRam(crate::mm::carve::CarveError),
    Stage2(MapError),
    Layout(crate::domain::boot_layout::BootLayoutError),
    DeviceTree(crate::domain::guest_dt::GuestDtError),
    Vgic(crate::vgic::VgicConfigError),
}

impl fmt::Display for GuestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuestError::NoKernel => write!(
                f,
                "no guest kernel: pass one as a boot module (QEMU: -device guest-loader,addr=...,kernel=IMAGE; \
                 U-Boot: a /chosen node with compatible \"multiboot,kernel\") or build one into the image \
                 (cargo xtask build --embed-kernel IMAGE)"
            ),
            GuestError::NoRam(error) => write!(f, "guest RAM: {error}"),
            GuestError::Stage2(error) => write!(f, "guest stage-2 map: {error}"),
            GuestError::Layout(error) => write!(f, "guest boot layout: {error}"),
            GuestError::DeviceTree(error) => write!(f, "guest device tree: {error}"),
            GuestError::Vgic(error) => write!(f, "guest virtual GIC: {error}"),
        }
    }
}

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

/// Whether the guest gets a device: everything the hypervisor does not keep for itself, except
/// PCI host bridges (their MSIs need an ITS and their DMA an SMMU, neither virtualized yet).
pub fn guest_owns_device(device: &Device) -> bool {
    device.enabled && !device.is_pci_host_bridge
}

fn boot_module<'dtb>(platform: &Platform<'dtb>, kind: BootModuleKind) -> Option<BootModule<'dtb>> {
    platform
        .boot_modules
        .iter()
        .find(|module| module.kind == kind)
        .copied()
}

/// Where the guest's images come from: the loader's boot modules if it passed a kernel, else the
/// guest built into the image.
fn guest_images<'dtb>(
    board: &BoardConfig,
    platform: &Platform<'dtb>,
) -> Option<(BootModule<'dtb>, Option<BootModule<'dtb>>, &'static str)> {
    if let Some(kernel) = boot_module(platform, BootModuleKind::Kernel) {
        return Some((
            kernel,
            boot_module(platform, BootModuleKind::Ramdisk),
            "boot modules",
        ));
    }
    let embedded = board.embedded_guest.as_ref()?;
    // The hypervisor image is identity-mapped, so these addresses are physical.
    let module = |kind, bytes: &[u8], bootargs| BootModule {
        kind,
        range: MemoryRange::new(bytes.as_ptr() as u64, bytes.len() as u64),
        bootargs,
    };
    Some((
        module(
            BootModuleKind::Kernel,
            embedded.kernel,
            Some(embedded.bootargs),
        ),
        embedded
            .initrd
            .map(|initrd| module(BootModuleKind::Ramdisk, initrd, None)),
        "built into the image",
    ))
}

impl Guest {
    /// Carves the guest's RAM, builds its stage-2 map and device tree, and sets up its vGIC.
    #[allow(
        clippy::result_large_err,
        reason = "called once at boot; the error names a device-tree node"
    )]
    pub fn create(
        board: &BoardConfig,
        platform: &Platform<'static>,
        gic: &PhysicalGic,
        host_dtb_range: MemoryRange,
        vcpu_count: usize,
        tables: &mut TablePool,
    ) -> Result<Guest, GuestError> {
        let (kernel, initrd, source) = guest_images(board, platform).ok_or(GuestError::NoKernel)?;

        // RAM: identity-mapped (IPA = PA), so that the devices the guest owns can DMA into it
        // without an IOMMU; carved from the top, clear of everything the boot still needs.
        let (image_start, image_end) = entry::image_range();
        let mut in_use = heapless::Vec::<MemoryRange, 48>::new();
        let _ = in_use.push(MemoryRange::new(image_start, image_end - image_start));
        let _ = in_use.push(host_dtb_range);
        for module in &platform.boot_modules {
            let _ = in_use.push(module.range);
        }
        for reserved in &platform.reserved {
            let _ = in_use.push(*reserved);
        }
        let ram = carve_highest(&platform.memory, &in_use, board.guest_ram_size, 2 << 20)
            .map_err(GuestError::NoRam)?;

        // Stage-2: RAM, the guest's devices, and for GICv2 the virtual CPU interface where the
        // guest expects the CPU interface. The distributor (and GICv3 redistributors) stay
        // unmapped: every access traps and is emulated.
        let ipa_bits = cpu::physical_address_bits().min(40);
        let geometry = Geometry::stage2(ipa_bits).map_err(GuestError::Stage2)?;
        let mut stage2 =
            TranslationTable::new(Regime::Stage2, geometry, tables).map_err(GuestError::Stage2)?;
        stage2
            .map(
                ram.base,
                ram.base,
                ram.size,
                MemoryKind::Normal,
                Access::ReadWrite,
                tables,
            )
            .map_err(GuestError::Stage2)?;
        let mut owned_spis = InterruptSet::EMPTY;
        let mut device_count = 0;
        for device in platform.devices() {
            let device = match device {
                Ok(device) => device,
                Err(error) => {
                    hyp_log!(
                        "device tree: {}; that device is not given to the guest",
                        Shown(&error)
                    );
                    continue;
                }
            };
            if !guest_owns_device(&device) {
                continue;
            }
            device_count += 1;
            for region in &device.regs {
                if let Err(error) = map_device_region(&mut stage2, region, tables) {
                    hyp_log!(
                        "{}: not mapped into the guest: {}",
                        device.path.as_str(),
                        Shown(&error)
                    );
                }
            }
            for &spi in &device.spis {
                if owned_spis.insert(spi).is_err() {
                    hyp_log!(
                        "{}: interrupt {} cannot be passed through",
                        device.path.as_str(),
                        spi
                    );
                }
            }
        }
        if let GicRegions::V2 {
            cpu_interface,
            virtual_cpu_interface,
            ..
        } = &platform.gic.regions
        {
            // GICC_DIR sits at 0x1000, so the guest needs both 4 KiB pages of the GICV frame.
            stage2
                .map(
                    cpu_interface.base,
                    virtual_cpu_interface.base,
                    0x2000,
                    MemoryKind::Device,
                    Access::ReadWrite,
                    tables,
                )
                .map_err(GuestError::Stage2)?;
        }
        let vtcr = stage2_control(geometry);
        let vttbr = stage2.root_address() | (GUEST_VMID << 48);

        // Where the kernel, DTB and initrd go inside guest RAM.
        // SAFETY: the kernel module lies in host RAM, which the EL2 map covers, and it is never
        // written (it is the pristine copy every reboot starts from).
        let kernel_bytes = unsafe { physical_slice(kernel.range) };
        let layout = plan_boot_layout(
            ram,
            &kernel_bytes[..kernel_bytes.len().min(64)],
            kernel.range.size,
            initrd.map(|m| m.range.size),
            GUEST_DT_CAPACITY as u64,
        )
        .map_err(GuestError::Layout)?;

        // The guest's device tree.
        let bootargs = kernel.bootargs.or(platform.bootargs).unwrap_or("");
        let spec = GuestDtSpec {
            vcpus: vcpu_count as u32,
            memory: ram,
            initrd: layout.initrd,
            bootargs,
            owns_device: &guest_owns_device,
        };
        // SAFETY: only the boot CPU runs here, before any other CPU is started, and this is the
        // only place that writes the buffer.
        let buffer = unsafe { &mut *core::ptr::addr_of_mut!(GUEST_DEVICE_TREE) };
        let device_tree_length =
            build_guest_dt(platform, &spec, buffer).map_err(GuestError::DeviceTree)?;

        let vgic_config = VgicConfig {
            version: match platform.gic.version() {
                GicVersion::V2 => VirtualGicVersion::V2,
                GicVersion::V3 => VirtualGicVersion::V3,
            },
            vcpu_count,
            nr_spis: gic.spi_count().min(MAX_SPIS),
            owned_spis,
            virtual_spis: InterruptSet::EMPTY,
            deactivate_hardware_by_maintenance: board.gicv2_deactivate_by_maintenance
                && platform.gic.version() == GicVersion::V2,
            hardware_ppis: InterruptSet::from_intids(&[
                platform.timer.virtual_timer,
                platform.timer.nonsecure_phys,
            ])
            .map_err(GuestError::Vgic)?,
        };
        GUEST_VGIC
            .lock()
            .configure(&vgic_config)
            .map_err(GuestError::Vgic)?;

        hyp_log!(
            "guest: {} vCPUs, RAM {:#x}-{:#x}, kernel {:#x} ({} bytes, {}){}, {} devices, {} SPIs",
            vcpu_count,
            ram.base,
            ram.end(),
            kernel.range.base,
            kernel.range.size,
            source,
            if initrd.is_some() { ", initrd" } else { "" },
            device_count,
            owned_spis.iter().count()
        );
        if !bootargs.is_empty() {
            hyp_log!("guest: bootargs \"{}\"", bootargs);
        }

        Ok(Guest {
            name: "guest",
            vcpu_count,
            ram,
            vttbr,
            vtcr,
            kernel: kernel.range,
            initrd: initrd.map(|m| m.range),
            layout,
            device_tree_length,
            vgic: &GUEST_VGIC,
            vgic_config,
            vcpus: [const { VcpuPower::new() }; MAX_PHYSICAL_CPUS],
            resetting: AtomicBool::new(false),
            fault_log_budget: core::sync::atomic::AtomicU32::new(64),
        })
    }

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

/// Maps a device region 1:1. Small devices may share a page (QEMU packs four virtio-mmio
/// transports into each 4 KiB): pages another device of the same guest already mapped are fine.
fn map_device_region(
    stage2: &mut TranslationTable,
    region: &MemoryRange,
    tables: &mut TablePool,
) -> Result<(), MapError> {
    let (base, size) = page_round(region);
    match stage2.map(
        base,
        base,
        size,
        MemoryKind::Device,
        Access::ReadWrite,
        tables,
    ) {
        Err(MapError::AlreadyMapped { .. }) => {
            for page in (base..base + size).step_by(crate::mm::page_table::PAGE_SIZE as usize) {
                if stage2.translate(page, tables).is_none() {
                    stage2.map(
                        page,
                        page,
                        crate::mm::page_table::PAGE_SIZE,
                        MemoryKind::Device,
                        Access::ReadWrite,
                        tables,
                    )?;
                }
            }
            Ok(())
        }
        result => result,
    }
}

/// VTCR_EL2 for `geometry`: 4 KiB granule, inner-shareable write-back walks, PS from the CPU.
fn stage2_control(geometry: Geometry) -> u64 {
    use aarch64_cpu::registers::VTCR_EL2;
    let value = VTCR_EL2::T0SZ.val(geometry.txsz())
        + VTCR_EL2::SL0.val(geometry.vtcr_sl0())
        + VTCR_EL2::IRGN0::NormalWBRAWA
        + VTCR_EL2::ORGN0::NormalWBRAWA
        + VTCR_EL2::SH0::Inner
        + VTCR_EL2::TG0::Granule4KB
        + VTCR_EL2::PS.val(cpu::physical_address_range_field());
    // Bit 31 is RES1.
    value.value | (1 << 31)
}

/// Bytes of host physical memory.
///
/// # Safety
/// `range` must be RAM covered by the EL2 map and not written while the slice lives.
unsafe fn physical_slice(range: MemoryRange) -> &'static [u8] {
    // SAFETY: guaranteed by the caller.
    unsafe { core::slice::from_raw_parts(range.base as *const u8, range.size as usize) }
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
pub fn before_guest_entry(_registers: &mut GuestRegisters) {
    let index = cpu::cpu_index();
    let guest = &machine().guest;
    if guest.is_resetting() {
        stop_vcpu(guest, index);
    }
    interrupts::refill_list_registers(index);
}
