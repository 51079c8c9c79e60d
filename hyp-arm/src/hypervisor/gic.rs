//! The physical GIC as the hypervisor drives it: one driver front end per physical CPU (GICv3
//! redistributors and GICv2 banked registers are per CPU), how to reach each CPU with an SGI,
//! and which guest addresses are the emulated distributor and redistributors.

use core::fmt;

use hyp_arm_gic::gicv2::{Gicv2CpuInterface, Gicv2Distributor, Gicv2HypInterface};
use hyp_arm_gic::gicv3::{Gicv3Distributor, Gicv3HypInterface, Gicv3Redistributor};
use hyp_arm_gic::{Gic as CpuGic, Gicv2, Gicv3, IntId, PhysicalCpuTarget};

use crate::arch::cpu;
use crate::arch::entry::MAX_PHYSICAL_CPUS;
use crate::platform::{Gic as GicDescription, GicRegions, Gicv2FramePages, MemoryRange};
use crate::vgic::{DISTRIBUTOR_SIZE, REDISTRIBUTOR_STRIDE};

/// A trapped guest access that lands in an emulated GIC window.
#[derive(Clone, Copy, Debug)]
pub enum EmulatedRegion {
    Distributor { offset: u64 },
    Redistributor { offset: u64 },
}

/// Why the GIC cannot be used.
pub enum GicSetupError {
    NoRedistributor { affinity: u64 },
    Driver(hyp_arm_gic::GicError),
}

impl fmt::Display for GicSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GicSetupError::NoRedistributor { affinity } => {
                write!(
                    f,
                    "no GICv3 redistributor for the CPU with affinity {affinity:#x}"
                )
            }
            GicSetupError::Driver(error) => write!(f, "{error}"),
        }
    }
}

/// The machine's GIC: where it is, and each CPU's driver front end once that CPU set it up.
pub struct PhysicalGic {
    description: GicDescription,
    per_cpu: [spin::Once<CpuGic>; MAX_PHYSICAL_CPUS],
    targets: [spin::Once<PhysicalCpuTarget>; MAX_PHYSICAL_CPUS],
}

impl PhysicalGic {
    /// The GIC the device tree describes.
    ///
    /// # Safety
    /// Every region of `description` must be mapped as device memory in the EL2 map, and nothing
    /// but this value may drive the physical GIC.
    pub unsafe fn new(description: &GicDescription) -> Result<Self, GicSetupError> {
        Ok(Self {
            description: description.clone(),
            per_cpu: [const { spin::Once::new() }; MAX_PHYSICAL_CPUS],
            targets: [const { spin::Once::new() }; MAX_PHYSICAL_CPUS],
        })
    }

    /// The calling CPU's front end. Panics if this CPU never ran `init_this_cpu` (a boot-order bug).
    pub fn this_cpu(&self) -> &CpuGic {
        match self
            .per_cpu
            .get(cpu::cpu_index())
            .and_then(|slot| slot.get())
        {
            Some(gic) => gic,
            None => panic!("GIC used on CPU {} before its set-up", cpu::cpu_index()),
        }
    }

    /// Builds the calling CPU's front end. Every CPU calls this once, the boot CPU first.
    pub fn init_this_cpu(&self, affinity: u64) -> Result<(), GicSetupError> {
        let index = cpu::cpu_index();
        let gic = self.per_cpu[index].try_call_once(|| self.build_front_end(affinity))?;
        if index == 0 {
            gic.init_distributor().map_err(GicSetupError::Driver)?;
        }
        gic.init_cpu().map_err(GicSetupError::Driver)?;
        gic.set_virtual_cpu_interface_enabled(true);
        self.targets[index].call_once(|| gic.current_cpu_target());
        for intid in [
            super::interrupts::KICK_SGI,
            self.description.maintenance_intid,
        ] {
            if let Some(intid) = IntId::new(intid) {
                let _ = gic.set_priority(intid, HYPERVISOR_PRIORITY);
                let _ = gic.enable(intid);
            }
        }
        Ok(())
    }

    fn build_front_end(&self, affinity: u64) -> Result<CpuGic, GicSetupError> {
        match &self.description.regions {
            GicRegions::V2 {
                distributor,
                cpu_interface,
                hyp_interface,
                ..
            } => {
                // SAFETY: `new`'s caller guarantees the GICD frame is mapped device memory driven
                // only through this value.
                let distributor = unsafe { Gicv2Distributor::new(distributor.base as usize) };
                // The 8 KiB window with GICC_DIR at +0x1000, also in a 64 KiB-aliased frame.
                let window = Gicv2FramePages::of(*cpu_interface)
                    .map_or(cpu_interface.base, |pages| pages.contiguous_window());
                // SAFETY: likewise for the GICC frame: the EL2 map covers the whole frame, so the
                // 8 KiB window inside it is mapped.
                let cpu_interface = unsafe { Gicv2CpuInterface::new(window as usize) };
                // SAFETY: likewise for the GICH frame.
                let hyp_interface = unsafe { Gicv2HypInterface::new(hyp_interface.base as usize) };
                Ok(CpuGic::V2(Gicv2 {
                    distributor,
                    cpu_interface,
                    hyp_interface,
                }))
            }
            GicRegions::V3 {
                distributor,
                redistributors,
                ..
            } => {
                let redistributor = redistributors
                    .iter()
                    .find_map(|region| {
                        // SAFETY: `new`'s caller guarantees the redistributor regions are mapped
                        // device memory driven only through this value.
                        unsafe {
                            Gicv3Redistributor::find(
                                region.base as usize,
                                region.size as usize,
                                affinity,
                            )
                        }
                    })
                    .ok_or(GicSetupError::NoRedistributor { affinity })?;
                // SAFETY: likewise for the GICD frame.
                let distributor = unsafe { Gicv3Distributor::new(distributor.base as usize) };
                Ok(CpuGic::V3(Gicv3 {
                    distributor,
                    redistributor,
                    hyp_interface: Gicv3HypInterface::probe(),
                }))
            }
        }
    }

    /// How to reach logical CPU `index` with an SGI or an SPI route, once it set up its GIC.
    pub fn target_of(&self, index: usize) -> Option<PhysicalCpuTarget> {
        self.targets.get(index).and_then(|slot| slot.get()).copied()
    }

    /// The PPI of the maintenance interrupt.
    pub fn maintenance_intid(&self) -> u32 {
        self.description.maintenance_intid
    }

    /// How many SPIs the distributor implements (from GICD_TYPER), read on the calling CPU.
    pub fn spi_count(&self) -> u32 {
        let lines = match self.this_cpu() {
            CpuGic::V2(v2) => v2.distributor.typer_lines(),
            CpuGic::V3(v3) => v3.distributor.typer_lines(),
        };
        lines.saturating_sub(32)
    }

    /// Which emulated window, if any, the guest IPA `ipa` falls in. The guest sees the distributor
    /// at the host's address and, on GICv3, `vcpu_count` redistributors from the host's first
    /// redistributor address.
    pub fn emulated_region(&self, ipa: u64, vcpu_count: usize) -> Option<EmulatedRegion> {
        let (distributor, redistributors) = match &self.description.regions {
            GicRegions::V2 { distributor, .. } => (distributor, None),
            GicRegions::V3 {
                distributor,
                redistributors,
                ..
            } => (distributor, redistributors.first()),
        };
        let window = MemoryRange::new(distributor.base, DISTRIBUTOR_SIZE);
        if window.contains(ipa) {
            return Some(EmulatedRegion::Distributor {
                offset: ipa - window.base,
            });
        }
        let redistributor_base = redistributors?.base;
        let window = MemoryRange::new(redistributor_base, REDISTRIBUTOR_STRIDE * vcpu_count as u64);
        window.contains(ipa).then(|| EmulatedRegion::Redistributor {
            offset: ipa - window.base,
        })
    }
}

/// Priority of the hypervisor's own interrupts (kicks, maintenance): above every guest interrupt.
const HYPERVISOR_PRIORITY: u8 = 0x40;
