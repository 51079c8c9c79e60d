//! Creating the guest domain at boot: where its images come from, its RAM, its stage-2 map,
//! its device tree and its virtual GIC.

use core::fmt;
use core::sync::atomic::AtomicBool;

use crate::arch::{cpu, entry};
use crate::console::Shown;
use crate::domain::boot_layout::plan_boot_layout;
use crate::domain::guest_dt::{build_guest_dt, GuestDtSpec};
use crate::hyp_log;
use crate::mm::carve::carve_highest;
use crate::mm::page_table::{
    Access, Geometry, MapError, MemoryKind, Regime, TablePool, TranslationTable, PAGE_SIZE,
};
use crate::platform::{
    BootModule, BootModuleKind, Device, GicRegions, GicVersion, MemoryRange, Platform,
    MAX_BOOT_MODULES, MAX_RESERVED_RANGES,
};
use crate::vcpu_power::VcpuPower;
use crate::vgic::{GicVersion as VirtualGicVersion, InterruptSet, VgicConfig, MAX_SPIS};

use super::super::board::BoardConfig;
use super::super::boot::page_round;
use super::super::gic::PhysicalGic;
use super::Guest;
use crate::arch::entry::MAX_PHYSICAL_CPUS;

/// The guest's stage-2 VMID (one guest for now).
const GUEST_VMID: u64 = 1;

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
        let mut in_use =
            heapless::Vec::<MemoryRange, { MAX_RESERVED_RANGES + MAX_BOOT_MODULES + 2 }>::new();
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
            .map_identity(
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
            super::GUEST_DT_CAPACITY as u64,
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
        let buffer = unsafe { &mut *core::ptr::addr_of_mut!(super::GUEST_DEVICE_TREE) };
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
        super::GUEST_VGIC
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
            vgic: &super::GUEST_VGIC,
            vgic_config,
            vcpus: [const { VcpuPower::new() }; MAX_PHYSICAL_CPUS],
            resetting: AtomicBool::new(false),
            fault_log_budget: core::sync::atomic::AtomicU32::new(64),
        })
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

/// Bytes of host physical memory.
///
/// # Safety
/// `range` must be RAM covered by the EL2 map and not written while the slice lives.
unsafe fn physical_slice(range: MemoryRange) -> &'static [u8] {
    // SAFETY: guaranteed by the caller.
    unsafe { core::slice::from_raw_parts(range.base as *const u8, range.size as usize) }
}
