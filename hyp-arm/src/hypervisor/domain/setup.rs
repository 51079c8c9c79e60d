//! Creating the domains at boot from the board's plan: where each one's images come from, its
//! RAM, its stage-2 map, its device tree and its virtual GIC. A domain that cannot be created is
//! reported and left out; the others still start.

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU8};

use crate::arch::{cpu, entry};
use crate::console::Shown;
use crate::domain::boot_layout::plan_boot_layout;
use crate::domain::guest_dt::{build_guest_dt, GuestDtSpec, VirtualDevice};
use crate::domain::ownership::DeviceOwners;
use crate::domain::plan::{
    DomainConsole, DomainPlan, KernelSource, SystemPlan, MAX_CHANNELS, MAX_DOMAINS,
    MAX_VIRTUAL_DEVICES,
};
use crate::hyp_log;
use crate::mm::carve::carve_highest;
use crate::mm::page_table::{
    Access, Geometry, MapError, MemoryKind, Regime, TablePool, TranslationTable, PAGE_SIZE,
};
use crate::platform::{
    BootModuleKind, GicRegions, GicVersion, Gicv2FramePages, MemoryRange, Platform,
    GICV2_PAGE_SIZE, MAX_BOOT_MODULES, MAX_RESERVED_RANGES,
};
use crate::sync::Mutex;
use crate::vcpu_power::VcpuPower;
use crate::vgic::{GicVersion as VirtualGicVersion, InterruptSet, Vgic, VgicConfig, MAX_SPIS};

use super::super::board::BoardConfig;
use super::super::boot::page_round;
use super::super::gic::PhysicalGic;
use super::super::virtual_uart::EmulatedUart;
use super::{Domain, DomainState, DEVICE_TREE_CAPACITY};

/// Why a domain could not be created; each names what is missing or in conflict.
#[allow(
    clippy::large_enum_variant,
    reason = "built at most once per domain, at boot, and reported at once"
)]
pub enum DomainError {
    Refused(crate::domain::ownership::DomainRefusal),
    NoKernel,
    NoRam(crate::mm::carve::CarveError),
    FixedRamUnavailable {
        base: u64,
        size: u64,
    },
    Stage2(MapError),
    Layout(crate::domain::boot_layout::BootLayoutError),
    DeviceTree(crate::domain::guest_dt::GuestDtError),
    Vgic(crate::vgic::VgicConfigError),
    /// The GICv2 virtual CPU interface frame cannot hold the guest's 8 KiB CPU interface.
    VirtualCpuInterfaceTooSmall(MemoryRange),
}

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainError::Refused(refusal) => write!(f, "{refusal}"),
            DomainError::NoKernel => write!(
                f,
                "no kernel: pass one as a boot module (QEMU: -device guest-loader,addr=...,kernel=IMAGE; \
                 U-Boot: a /chosen node with compatible \"multiboot,kernel\") or build one into the image \
                 (cargo xtask build --embed-kernel IMAGE)"
            ),
            DomainError::NoRam(error) => write!(f, "RAM: {error}"),
            DomainError::FixedRamUnavailable { base, size } => write!(
                f,
                "its fixed RAM {base:#x}+{size:#x} is not free host RAM"
            ),
            DomainError::Stage2(error) => write!(f, "stage-2 map: {error}"),
            DomainError::Layout(error) => write!(f, "boot layout: {error}"),
            DomainError::DeviceTree(error) => write!(f, "device tree: {error}"),
            DomainError::Vgic(error) => write!(f, "virtual GIC: {error}"),
            DomainError::VirtualCpuInterfaceTooSmall(frame) => write!(
                f,
                "the GIC's virtual CPU interface (GICV) {:#x}+{:#x} is smaller than the 8 KiB a \
                 guest's CPU interface needs (GICV_DIR at +0x1000)",
                frame.base, frame.size
            ),
        }
    }
}

/// Each domain's virtual GIC (statics: they are large and must not travel through the stack).
static VGICS: [Mutex<Vgic>; MAX_DOMAINS] =
    [const { Mutex::new(Vgic::unconfigured()) }; MAX_DOMAINS];

/// Each domain's generated device tree, copied into its RAM at every (re)start.
static mut DEVICE_TREES: [[u8; DEVICE_TREE_CAPACITY]; MAX_DOMAINS] =
    [[0; DEVICE_TREE_CAPACITY]; MAX_DOMAINS];

/// Host memory no domain may get.
type InUse = heapless::Vec<
    MemoryRange,
    { MAX_RESERVED_RANGES + MAX_BOOT_MODULES + 2 + MAX_DOMAINS + MAX_CHANNELS },
>;

/// What boot hands to domain creation.
pub struct Inputs<'a> {
    pub board: &'a BoardConfig,
    pub platform: &'a Platform<'static>,
    pub gic: &'a PhysicalGic,
    pub host_dtb: MemoryRange,
    pub physical_cpus: usize,
}

/// Where each channel's ring region is in host memory, by plan order (`None`: no room).
pub type ChannelRegions = [Option<MemoryRange>; MAX_CHANNELS];

/// Creates every domain of the plan that passes the boot-time checks. Domains that fail are
/// reported by name and left out; a domain waiting for one that was left out starts at once.
/// Also carves each channel's ring region, which its backend maps.
pub fn create_domains(
    inputs: &Inputs,
    tables: &mut TablePool,
) -> (heapless::Vec<Domain, MAX_DOMAINS>, ChannelRegions) {
    let plan: &'static SystemPlan = inputs.board.plan;
    let owners = DeviceOwners::resolve(plan, inputs.platform, inputs.physical_cpus);
    let (image_start, image_end) = entry::image_range();
    let mut in_use = InUse::new();
    let _ = in_use.push(MemoryRange::new(image_start, image_end - image_start));
    let _ = in_use.push(inputs.host_dtb);
    for module in &inputs.platform.boot_modules {
        let _ = in_use.push(module.range);
    }
    for reserved in &inputs.platform.reserved {
        let _ = in_use.push(*reserved);
    }
    let mut channel_regions: ChannelRegions = [None; MAX_CHANNELS];
    for (slot, channel) in channel_regions.iter_mut().zip(plan.channels) {
        match carve_highest(&inputs.platform.memory, &in_use, channel.size, PAGE_SIZE) {
            Ok(region) => {
                let _ = in_use.push(region);
                // SAFETY: freshly carved host RAM, mapped at EL2, used by nothing else yet.
                unsafe { cpu::zero_memory(region.base as usize, region.size as usize) };
                *slot = Some(region);
            }
            Err(error) => hyp_log!("channel {}: no ring: {}", channel.name, Shown(&error)),
        }
    }
    let mut domains = heapless::Vec::new();
    for (index, domain_plan) in plan.domains.iter().enumerate().take(MAX_DOMAINS) {
        let created = match owners.refusal(index) {
            Some(refusal) => Err(DomainError::Refused(refusal.clone())),
            None => create(
                inputs,
                &owners,
                Indices {
                    position: domains.len(),
                    plan: index,
                },
                domain_plan,
                &mut in_use,
                &channel_regions,
                tables,
            ),
        };
        match created {
            Ok(domain) => {
                let _ = domains.push(domain);
            }
            Err(error) => hyp_log!(
                "domain {}: not started: {}",
                domain_plan.name,
                Shown(&error)
            ),
        }
    }
    // Waiting for a domain that does not exist would be forever.
    for domain in domains.iter() {
        let awaited = domain.plan.starts_after;
        if awaited.is_some_and(|name| !domains.iter().any(|other| other.name() == name)) {
            domain.set_state(DomainState::Running);
        }
    }
    (domains, channel_regions)
}

/// Where a domain stands: among the created domains, and in the plan.
struct Indices {
    position: usize,
    plan: usize,
}

#[allow(
    clippy::result_large_err,
    reason = "called once per domain at boot; the error names a device-tree node"
)]
fn create(
    inputs: &Inputs,
    owners: &DeviceOwners,
    indices: Indices,
    plan: &'static DomainPlan,
    in_use: &mut InUse,
    channel_regions: &ChannelRegions,
    tables: &mut TablePool,
) -> Result<Domain, DomainError> {
    // Ownership, VMIDs, device-tree buffers and vGICs go by plan index (unique per domain).
    let index = indices.plan;
    let platform = inputs.platform;
    let (kernel, initrd, bootargs, source) = images(inputs.board, platform, plan)?;
    let vcpu_count = plan.vcpu_count_on(inputs.physical_cpus);

    // RAM: carved from the top of free host RAM (or at the plan's fixed address), clear of
    // everything the boot still needs and of the other domains.
    let size = plan.memory.size;
    let physical = match plan.memory.physical {
        Some(base) => {
            let wanted = MemoryRange::new(base, size);
            let inside_ram = platform
                .memory
                .iter()
                .any(|range| range.base <= base && wanted.end() <= range.end());
            if !inside_ram || in_use.iter().any(|used| used.overlaps(&wanted)) {
                return Err(DomainError::FixedRamUnavailable { base, size });
            }
            wanted
        }
        None => {
            carve_highest(&platform.memory, in_use, size, 2 << 20).map_err(DomainError::NoRam)?
        }
    };
    let _ = in_use.push(physical);
    let ram = MemoryRange::new(plan.memory.ipa.unwrap_or(physical.base), size);

    // Stage-2: RAM, the domain's devices, and for GICv2 the virtual CPU interface where it
    // expects the CPU interface. The distributor (and GICv3 redistributors) stay unmapped:
    // every access traps and is emulated.
    let ipa_bits = cpu::physical_address_bits().min(40);
    let geometry = Geometry::stage2(ipa_bits).map_err(DomainError::Stage2)?;
    let mut stage2 =
        TranslationTable::new(Regime::Stage2, geometry, tables).map_err(DomainError::Stage2)?;
    stage2
        .map(
            ram.base,
            physical.base,
            size,
            MemoryKind::Normal,
            Access::ReadWrite,
            tables,
        )
        .map_err(DomainError::Stage2)?;
    let mut owned_spis = InterruptSet::EMPTY;
    let mut virtual_spis = InterruptSet::EMPTY;
    let mut emulated_uart = None;
    let mut device_count = 0;
    let console_path = platform.console.as_ref().map(|uart| uart.path.as_str());
    for device in platform.devices().flatten() {
        if owners.owner_of(&device) != Some(index) {
            continue;
        }
        device_count += 1;
        let is_console = Some(device.path.as_str()) == console_path;
        if is_console && plan.console == DomainConsole::EmulatedUart {
            // Left unmapped: every access traps to the emulated UART; its interrupt is virtual.
            if let (Some(window), Some(&intid)) = (device.regs.first(), device.spis.first()) {
                emulated_uart = Some(EmulatedUart::new(
                    MemoryRange::new(window.base, PAGE_SIZE),
                    intid,
                ));
                let _ = virtual_spis.insert(intid);
            }
            continue;
        }
        for region in &device.regs {
            if let Err(error) = map_device_region(&mut stage2, region, tables) {
                hyp_log!(
                    "{}: {} not mapped: {}",
                    plan.name,
                    device.path.as_str(),
                    Shown(&error)
                );
            }
        }
        for &spi in &device.spis {
            if owned_spis.insert(spi).is_err() {
                hyp_log!(
                    "{}: {}: interrupt {} cannot be passed through",
                    plan.name,
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
        // The guest's 8 KiB CPU interface (GICC_DIR at +0x1000) at the GICC address: one 4 KiB
        // mapping per GICV page, so that a 64 KiB-aliased GICV (ZynqMP) is stitched together.
        let pages = Gicv2FramePages::of(*virtual_cpu_interface).ok_or(
            DomainError::VirtualCpuInterfaceTooSmall(*virtual_cpu_interface),
        )?;
        for (ipa, page) in pages.guest_mappings(cpu_interface.base) {
            stage2
                .map(
                    ipa,
                    page,
                    GICV2_PAGE_SIZE,
                    MemoryKind::Device,
                    Access::ReadWrite,
                    tables,
                )
                .map_err(DomainError::Stage2)?;
        }
    }
    // Channels: the frontend's virtio-mmio frame stays unmapped (emulated), the backend maps
    // the ring; both get their interrupt as a virtual SPI and a node in their device tree.
    let mut virtual_devices =
        heapless::Vec::<VirtualDevice, { MAX_CHANNELS + MAX_VIRTUAL_DEVICES }>::new();
    let system = inputs.board.plan;
    for (channel, region) in system.channels.iter().zip(channel_regions) {
        if channel.frontend == plan.name {
            let _ = virtual_spis.insert(channel.frontend_interrupt);
            let _ = virtual_devices.push(VirtualDevice {
                name: "virtio_mmio",
                compatible: "virtio,mmio",
                reg: MemoryRange::new(channel.frontend_address, 0x200),
                interrupt: channel.frontend_interrupt,
                dma_coherent: true,
            });
        }
        if let (true, Some(region)) = (channel.backend == plan.name, region) {
            stage2
                .map(
                    channel.backend_address,
                    region.base,
                    region.size,
                    MemoryKind::Normal,
                    Access::ReadWrite,
                    tables,
                )
                .map_err(DomainError::Stage2)?;
            let _ = virtual_spis.insert(channel.backend_interrupt);
            let _ = virtual_devices.push(VirtualDevice {
                name: "channel",
                compatible: "hyp-arm,channel-ring",
                reg: MemoryRange::new(channel.backend_address, region.size),
                interrupt: channel.backend_interrupt,
                dma_coherent: false,
            });
        }
    }
    // Board-emulated devices: their windows stay unmapped (every access traps to the board's
    // model), their interrupt is virtual, and the guest's tree describes them.
    for device in super::super::board_devices::devices_of(plan.name) {
        let _ = virtual_spis.insert(device.plan.interrupt);
        let _ = virtual_devices.push(VirtualDevice {
            name: device.plan.name,
            compatible: device.plan.compatible,
            reg: MemoryRange::new(device.plan.address, device.plan.size),
            interrupt: device.plan.interrupt,
            dma_coherent: false,
        });
    }

    let vmid = index as u64 + 1;
    let vttbr = stage2.root_address() | (vmid << 48);
    let vtcr = stage2_control(geometry);

    // Where the kernel, DTB and initrd go inside the domain's RAM.
    // SAFETY: the kernel lies in host RAM (a boot module or the hypervisor image), which the
    // EL2 map covers, and it is never written (it is the pristine copy every restart uses).
    let header = unsafe {
        core::slice::from_raw_parts(kernel.base as *const u8, kernel.size.min(64) as usize)
    };
    let layout = plan_boot_layout(
        ram,
        header,
        kernel.size,
        initrd.map(|range| range.size),
        DEVICE_TREE_CAPACITY as u64,
    )
    .map_err(DomainError::Layout)?;

    let owns_device = |device: &crate::platform::Device| owners.owner_of(device) == Some(index);
    let spec = GuestDtSpec {
        vcpus: vcpu_count as u32,
        memory: ram,
        initrd: layout.initrd,
        bootargs,
        owns_device: &owns_device,
        virtual_devices: &virtual_devices,
    };
    // SAFETY: only the boot CPU runs here, before any other CPU starts, and each domain index
    // is created once, so this is the only reference to this buffer.
    let buffer = unsafe { &mut (*core::ptr::addr_of_mut!(DEVICE_TREES))[index] };
    let device_tree_length =
        build_guest_dt(platform, &spec, buffer).map_err(DomainError::DeviceTree)?;
    let buffer: &'static [u8] = buffer;
    let device_tree = &buffer[..device_tree_length];

    let vgic_config = VgicConfig {
        version: match platform.gic.version() {
            GicVersion::V2 => VirtualGicVersion::V2,
            GicVersion::V3 => VirtualGicVersion::V3,
        },
        vcpu_count,
        nr_spis: inputs.gic.spi_count().min(MAX_SPIS),
        owned_spis,
        virtual_spis,
        deactivate_hardware_by_maintenance: inputs.board.gicv2_deactivate_by_maintenance
            && platform.gic.version() == GicVersion::V2,
        hardware_ppis: InterruptSet::from_intids(&[platform.timer.virtual_timer])
            .map_err(DomainError::Vgic)?,
    };
    VGICS[index]
        .lock()
        .configure(&vgic_config)
        .map_err(DomainError::Vgic)?;

    hyp_log!(
        "{}: {} vCPUs, RAM {:#x}-{:#x} at host {:#x}, kernel {} bytes ({}){}, {} devices, {} SPIs",
        plan.name,
        vcpu_count,
        ram.base,
        ram.end(),
        physical.base,
        kernel.size,
        source,
        if initrd.is_some() { ", initrd" } else { "" },
        device_count,
        owned_spis.iter().count()
    );
    if !bootargs.is_empty() {
        hyp_log!("{}: bootargs \"{}\"", plan.name, bootargs);
    }

    let waits = plan.starts_after.is_some();
    Ok(Domain {
        index: indices.position,
        plan_index: index,
        plan,
        vcpu_count,
        ram,
        ram_physical: physical.base,
        vttbr,
        vtcr,
        kernel,
        initrd,
        layout,
        device_tree,
        vgic: &VGICS[index],
        vgic_config,
        vcpus: [const { VcpuPower::new() }; crate::domain::plan::MAX_VCPUS_PER_DOMAIN],
        state: AtomicU8::new(if waits {
            DomainState::Waiting as u8
        } else {
            DomainState::Running as u8
        }),
        ready: AtomicBool::new(false),
        fault_log_budget: AtomicU32::new(64),
        emulated_uart,
        cleared: core::sync::atomic::AtomicU64::new(0),
    })
}

/// The domain's kernel, initrd, command line and where they came from.
#[allow(
    clippy::result_large_err,
    reason = "called once per domain at boot; the error names a device-tree node"
)]
fn images(
    board: &BoardConfig,
    platform: &Platform<'static>,
    plan: &DomainPlan,
) -> Result<(MemoryRange, Option<MemoryRange>, &'static str, &'static str), DomainError> {
    let slice_range = |bytes: &[u8]| MemoryRange::new(bytes.as_ptr() as u64, bytes.len() as u64);
    let (kernel, initrd, module_bootargs, source) = match plan.kernel {
        KernelSource::Embedded { kernel, initrd } => (
            slice_range(kernel),
            initrd.map(slice_range),
            None,
            "built into the image",
        ),
        KernelSource::BootModules => {
            let module = |kind| {
                platform
                    .boot_modules
                    .iter()
                    .find(|module| module.kind == kind)
            };
            match (
                module(BootModuleKind::Kernel),
                board.embedded_guest.as_ref(),
            ) {
                (Some(kernel), _) => (
                    kernel.range,
                    module(BootModuleKind::Ramdisk).map(|m| m.range),
                    kernel.bootargs,
                    "boot modules",
                ),
                (None, Some(embedded)) => (
                    slice_range(embedded.kernel),
                    embedded.initrd.map(slice_range),
                    Some(embedded.bootargs),
                    "built into the image",
                ),
                (None, None) => return Err(DomainError::NoKernel),
            }
        }
    };
    let bootargs = plan
        .bootargs
        .or(module_bootargs)
        .or(platform.bootargs)
        .unwrap_or("");
    Ok((kernel, initrd, bootargs, source))
}

/// Maps a device region 1:1. Small devices may share a page (QEMU packs four virtio-mmio
/// transports into each 4 KiB): pages another device of the same domain already mapped are fine.
fn map_device_region(
    stage2: &mut TranslationTable,
    region: &MemoryRange,
    tables: &mut TablePool,
) -> Result<(), MapError> {
    let (base, size) = page_round(region);
    match stage2.map_identity(base, size, MemoryKind::Device, Access::ReadWrite, tables) {
        Err(MapError::AlreadyMapped { .. }) => {
            for page in (base..base + size).step_by(PAGE_SIZE as usize) {
                if stage2.translate(page, tables).is_none() {
                    stage2.map_identity(
                        page,
                        PAGE_SIZE,
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
