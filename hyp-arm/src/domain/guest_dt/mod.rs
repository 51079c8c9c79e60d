//! Builds a guest's device tree from the host's: the host tree copied node by node, minus what
//! the guest must not see, with CPUs, memory, PSCI, /chosen and the GIC regenerated.
//!
//! Rules, in the order they are checked for each node:
//! - root level: `/cpus` (vCPUs 0..n, PSCI), the first memory node (the guest's RAM; other memory
//!   nodes dropped), `/chosen` (bootargs, initrd, seeds, `stdout-path` when its target is kept),
//!   `/aliases` (entries whose target is kept) and the PSCI node (PSCI 1.0 over HVC) are
//!   regenerated; `/reserved-memory` and overlay symbol tables are dropped. A host without PSCI or
//!   /chosen still gets them, after its other nodes.
//! - the GIC keeps its host addresses, but only the frames a guest sees (GICv2: distributor and
//!   an 8 KiB CPU interface, behind which the hypervisor maps GICV; GICv3: distributor and one
//!   redistributor region for the vCPUs), without the maintenance interrupt or child nodes (ITS,
//!   GICv2m: they serve PCI MSIs, and guests get no PCI yet).
//! - a device (see [`Device`]) the guest owns is copied with its subtree; one it does not own is
//!   dropped with its subtree (and owning a device inside it is an error). A device whose node is
//!   malformed cannot be owned and is dropped. PCI host bridges cannot be owned yet (that needs
//!   ITS and SMMU support).
//! - a bus without `reg` (QEMU's platform bus, an SoC's `/soc`) is kept, holding only the
//!   children these rules keep.
//! - anything else (fixed clocks, the timer, PMU, firmware nodes) is copied as is, except PSCI
//!   nodes below the root, which are dropped (the regenerated `/psci` replaces them).
//!
//! Phandles are kept, so references between copied nodes still resolve; references into dropped
//! nodes (say, a GPIO line of a device the guest does not own) dangle, which Linux tolerates.
#![forbid(unsafe_code)]

mod nodes;
#[cfg(test)]
mod tests;

use core::fmt;

use fdt::node::FdtNode;

use super::fdt_writer::{FdtWriter, FdtWriterError};
use crate::platform::devices::device_from_visit;
use crate::platform::tree::{self, NodePath};
use crate::platform::walk::{self, Bus, Visit, MAX_BUS_DEPTH};
use crate::platform::{Device, GicRegions, MemoryRange, Platform, PlatformError, PSCI_COMPATIBLES};

/// Bytes of one GICv3 redistributor (RD_base + SGI_base frames, GICv3 12.10).
pub const GICV3_REDISTRIBUTOR_SIZE: u64 = 0x2_0000;
/// Size of the GICv2 CPU interface a guest sees: the GICV frame, including GICV_DIR at 0x1000.
pub const GICV2_GUEST_CPU_INTERFACE_SIZE: u64 = 0x2000;
/// A GICv2 distributor targets at most 8 CPU interfaces (GICv2 4.3.12, GICD_ITARGETSR).
pub const GICV2_MAX_VCPUS: u32 = 8;
/// Guest MPIDRs are 0..n in Aff0; keeping Aff0 < 16 lets a GICv3 SGI reach every vCPU with one
/// target list (ICC_SGI1R_EL1.TargetList, GICv3 12.11).
pub const GICV3_MAX_VCPUS: u32 = 16;

/// What the guest gets.
pub struct GuestDtSpec<'a> {
    /// Number of vCPUs; their MPIDRs are 0..vcpus (Aff0).
    pub vcpus: u32,
    /// Guest RAM (IPA range).
    pub memory: MemoryRange,
    /// Where the hypervisor placed the initrd (IPA range), if any.
    pub initrd: Option<MemoryRange>,
    /// The guest kernel's command line.
    pub bootargs: &'a str,
    /// Whether the guest is given `device` (its MMIO mapped, its SPIs routed to it).
    pub owns_device: &'a dyn Fn(&Device<'_>) -> bool,
    /// Devices that exist only for this guest (emulated by the hypervisor, or a channel's
    /// ring): written at the root, after the host's nodes.
    pub virtual_devices: &'a [VirtualDevice],
}

/// A device node the host tree does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtualDevice {
    /// The node name before the unit address (`virtio_mmio`, `channel`).
    pub name: &'static str,
    pub compatible: &'static str,
    /// Its registers (IPA range).
    pub reg: MemoryRange,
    /// The SPI it raises (INTID), level-high.
    pub interrupt: u32,
    /// DMA is cache-coherent (`dma-coherent`): a virtio device's.
    pub dma_coherent: bool,
}

/// Why a guest tree could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuestDtError {
    /// Writing `node` failed (most often: the output buffer is too small).
    Write {
        node: NodePath,
        error: FdtWriterError,
    },
    /// The vCPU count is 0 or more than the guest's GIC can address.
    VcpuCount {
        vcpus: u32,
        limit: u32,
        why: &'static str,
    },
    /// Guest memory is empty or does not fit the root's `#address-cells`/`#size-cells`.
    MemoryNotRepresentable { memory: MemoryRange },
    /// The initrd is not inside guest memory.
    InitrdOutsideMemory {
        initrd: MemoryRange,
        memory: MemoryRange,
    },
    /// Bootargs with a NUL byte cannot be a device-tree string.
    BootargsContainNul,
    /// The guest would own a PCI host bridge.
    PciPassthroughUnsupported { path: NodePath },
    /// The guest owns `device` but not the device `parent` that contains it.
    OwnedInsideUnowned { device: NodePath, parent: NodePath },
    /// The vCPUs' redistributors do not fit in the host's first redistributor region.
    RedistributorRegionTooSmall { needed: u64, available: u64 },
    /// The host tree has a problem (cannot happen for a tree `Platform::parse` accepted).
    Host(PlatformError),
}

impl fmt::Display for GuestDtError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Write { node, error } => write!(formatter, "guest device tree, writing {node}: {error}"),
            Self::VcpuCount { vcpus, limit, why } => {
                write!(formatter, "{vcpus} vCPUs: a guest needs 1 to {limit} ({why})")
            }
            Self::MemoryNotRepresentable { memory } => write!(
                formatter,
                "guest memory at {:#x} of size {:#x} is empty or does not fit the root's #address-cells/#size-cells",
                memory.base, memory.size
            ),
            Self::InitrdOutsideMemory { initrd, memory } => write!(
                formatter,
                "the initrd at {:#x}..{:#x} is outside guest memory {:#x}..{:#x}",
                initrd.base,
                initrd.end(),
                memory.base,
                memory.end()
            ),
            Self::BootargsContainNul => formatter.write_str("guest bootargs contain a NUL byte"),
            Self::PciPassthroughUnsupported { path } => write!(
                formatter,
                "{path}: PCI host bridges cannot be given to a guest yet (needs ITS and SMMU support)"
            ),
            Self::OwnedInsideUnowned { device, parent } => write!(
                formatter,
                "{device} is given to the guest but {parent}, which contains it, is not: give both or neither"
            ),
            Self::RedistributorRegionTooSmall { needed, available } => write!(
                formatter,
                "the vCPUs need {needed:#x} bytes of GICv3 redistributors but the host's first region has {available:#x}"
            ),
            Self::Host(error) => write!(formatter, "host device tree: {error}"),
        }
    }
}

impl From<PlatformError> for GuestDtError {
    fn from(error: PlatformError) -> Self {
        Self::Host(error)
    }
}

/// Writes the guest's device tree (FDT v17) into `out`; returns its size in bytes.
///
/// The host tree is `platform`'s own: the one `Platform::parse` validated, since the `fdt` crate
/// panics on malformed blobs.
pub fn build_guest_dt(
    platform: &Platform<'_>,
    spec: &GuestDtSpec<'_>,
    out: &mut [u8],
) -> Result<usize, GuestDtError> {
    check_spec(platform, spec)?;
    let writer = FdtWriter::new(out).map_err(|error| GuestDtError::Write {
        node: root_path(),
        error,
    })?;
    let mut builder = Builder {
        out: Output {
            writer,
            path: NodePath::new(),
        },
        platform,
        spec,
        wrote_memory: false,
        wrote_psci: false,
        wrote_chosen: false,
    };
    builder.root()?;
    builder
        .out
        .writer
        .finish()
        .map_err(|error| GuestDtError::Write {
            node: root_path(),
            error,
        })
}

fn root_path() -> NodePath {
    let mut path = NodePath::new();
    // "/" fits in any NodePath.
    let _ = path.push('/');
    path
}

fn check_spec(platform: &Platform<'_>, spec: &GuestDtSpec<'_>) -> Result<(), GuestDtError> {
    let (limit, why) = match &platform.gic.regions {
        GicRegions::V2 { .. } => (GICV2_MAX_VCPUS, "a GICv2 addresses 8 CPU interfaces"),
        GicRegions::V3 { .. } => (GICV3_MAX_VCPUS, "hyp-arm keeps guest MPIDRs in Aff0 0..15"),
    };
    if spec.vcpus == 0 || spec.vcpus > limit {
        return Err(GuestDtError::VcpuCount {
            vcpus: spec.vcpus,
            limit,
            why,
        });
    }
    if let GicRegions::V3 { redistributors, .. } = &platform.gic.regions {
        let needed = u64::from(spec.vcpus) * GICV3_REDISTRIBUTOR_SIZE;
        let available = redistributors.first().map_or(0, |region| region.size);
        if needed > available {
            return Err(GuestDtError::RedistributorRegionTooSmall { needed, available });
        }
    }
    if spec.memory.size == 0 || !spec.memory.is_representable() {
        return Err(GuestDtError::MemoryNotRepresentable {
            memory: spec.memory,
        });
    }
    if let Some(initrd) = spec.initrd {
        if !spec.memory.contains_range(&initrd) {
            return Err(GuestDtError::InitrdOutsideMemory {
                initrd,
                memory: spec.memory,
            });
        }
    }
    if spec.bootargs.contains('\0') {
        return Err(GuestDtError::BootargsContainNul);
    }
    Ok(())
}

/// The writer plus the path of the node being written, for error messages.
struct Output<'w> {
    writer: FdtWriter<'w>,
    path: NodePath,
}

impl Output<'_> {
    fn error(&self, error: FdtWriterError) -> GuestDtError {
        let node = if self.path.is_empty() {
            root_path()
        } else {
            self.path.clone()
        };
        GuestDtError::Write { node, error }
    }

    fn begin_node(&mut self, name: &str) -> Result<(), GuestDtError> {
        self.writer
            .begin_node(name)
            .map_err(|error| self.error(error))
    }

    fn end_node(&mut self) -> Result<(), GuestDtError> {
        self.writer.end_node().map_err(|error| self.error(error))
    }

    fn property(&mut self, name: &str, value: &[u8]) -> Result<(), GuestDtError> {
        self.writer
            .property(name, value)
            .map_err(|error| self.error(error))
    }

    fn property_u32(&mut self, name: &str, value: u32) -> Result<(), GuestDtError> {
        self.writer
            .property_u32(name, value)
            .map_err(|error| self.error(error))
    }

    fn property_u64(&mut self, name: &str, value: u64) -> Result<(), GuestDtError> {
        self.writer
            .property_u64(name, value)
            .map_err(|error| self.error(error))
    }

    fn property_string(&mut self, name: &str, value: &str) -> Result<(), GuestDtError> {
        self.writer
            .property_string(name, value)
            .map_err(|error| self.error(error))
    }

    fn property_string_list(&mut self, name: &str, values: &[&str]) -> Result<(), GuestDtError> {
        self.writer
            .property_string_list(name, values)
            .map_err(|error| self.error(error))
    }

    /// Enters `name` in the current path (for error messages) without writing anything.
    fn enter(&mut self, name: &str) -> Result<usize, GuestDtError> {
        let parent_length = self.path.len();
        tree::push_component(&mut self.path, name)?;
        Ok(parent_length)
    }

    fn leave(&mut self, parent_length: usize) {
        self.path.truncate(parent_length);
    }
}

/// What happens to one host node.
enum Decision<'a> {
    /// Left out, with its subtree.
    Drop,
    /// Left out, but it is a bus: check that the guest owns nothing inside it.
    DropBus(Bus<'a>),
    /// Copied with its whole subtree.
    Verbatim,
    /// Copied, then each child decided in turn.
    Descend(Bus<'a>),
    Cpus,
    Memory,
    Chosen,
    Aliases,
    Psci,
    Gic,
}

struct Builder<'w, 's, 'dtb> {
    out: Output<'w>,
    platform: &'s Platform<'dtb>,
    spec: &'s GuestDtSpec<'s>,
    wrote_memory: bool,
    wrote_psci: bool,
    wrote_chosen: bool,
}

/// Root-level names dropped from guests: host-only memory carve-outs and overlay tables, whose
/// paths may name dropped nodes.
const DROPPED_ROOT_NODES: &[&str] = &[
    "reserved-memory",
    "__symbols__",
    "__fixups__",
    "__local_fixups__",
];

impl<'dtb> Builder<'_, '_, 'dtb> {
    fn root(&mut self) -> Result<(), GuestDtError> {
        let fdt = self.platform.fdt();
        let root = tree::root(fdt)?;
        self.out.begin_node("")?;
        for property in root.properties() {
            self.out.property(property.name, property.value)?;
        }
        let mut chain: heapless::Vec<Bus<'dtb>, MAX_BUS_DEPTH> = heapless::Vec::new();
        // Capacity is at least 1.
        let _ = chain.push(walk::root_bus(fdt)?);
        self.children(root, &mut chain)?;
        if !self.wrote_psci {
            self.psci()?;
        }
        if !self.wrote_chosen {
            self.chosen(None)?;
        }
        for device in self.spec.virtual_devices {
            self.virtual_device(device, chain[0].cells)?;
        }
        self.out.end_node()
    }

    /// Decides and writes each child of `node`, a bus whose context ends `chain`.
    fn children(
        &mut self,
        node: FdtNode<'_, 'dtb>,
        chain: &mut heapless::Vec<Bus<'dtb>, MAX_BUS_DEPTH>,
    ) -> Result<(), GuestDtError> {
        for child in node.children() {
            let parent_length = self.out.enter(child.name)?;
            let decision = self.decide(child, &self.out.path, chain)?;
            self.apply(decision, child, chain)?;
            self.out.leave(parent_length);
        }
        Ok(())
    }

    /// The fate of `node` at `path` under the buses in `chain`.
    fn decide(
        &self,
        node: FdtNode<'_, 'dtb>,
        path: &NodePath,
        chain: &[Bus<'dtb>],
    ) -> Result<Decision<'dtb>, GuestDtError> {
        let is_psci = tree::compatible(node, path)?
            .is_some_and(|compatible| compatible.contains_any(PSCI_COMPATIBLES));
        if chain.len() == 1 {
            let base_name = node.name.split('@').next().unwrap_or_default();
            match base_name {
                "cpus" => return Ok(Decision::Cpus),
                "chosen" => return Ok(Decision::Chosen),
                "aliases" => return Ok(Decision::Aliases),
                _ if DROPPED_ROOT_NODES.contains(&base_name) => return Ok(Decision::Drop),
                _ => {}
            }
            if tree::read_string(node, path, "device_type")? == Some("memory") {
                return Ok(Decision::Memory);
            }
            if is_psci {
                return Ok(Decision::Psci);
            }
        }
        if is_psci {
            return Ok(Decision::Drop);
        }
        if self.platform.gic.path == *path {
            return Ok(Decision::Gic);
        }
        let Some(mapped) = walk::examine(node, path, chain)? else {
            return Ok(Decision::Drop);
        };
        let bus = mapped.bus;
        match mapped.regs {
            Ok(None) => Ok(bus.map_or(Decision::Verbatim, Decision::Descend)),
            // A device whose node is malformed: nobody can own it.
            Err(_) => Ok(bus.map_or(Decision::Drop, Decision::DropBus)),
            Ok(Some(_)) => {
                let visit = Visit {
                    node,
                    path: path.clone(),
                    mapped,
                };
                let device =
                    match device_from_visit(self.platform.fdt(), &self.platform.gic, &visit) {
                        Ok(Some(device)) => device,
                        Ok(None) | Err(_) => {
                            return Ok(bus.map_or(Decision::Drop, Decision::DropBus))
                        }
                    };
                if !(self.spec.owns_device)(&device) {
                    return Ok(bus.map_or(Decision::Drop, Decision::DropBus));
                }
                if device.is_pci_host_bridge {
                    return Err(GuestDtError::PciPassthroughUnsupported { path: device.path });
                }
                Ok(bus.map_or(Decision::Verbatim, Decision::Descend))
            }
        }
    }

    fn apply(
        &mut self,
        decision: Decision<'dtb>,
        node: FdtNode<'_, 'dtb>,
        chain: &mut heapless::Vec<Bus<'dtb>, MAX_BUS_DEPTH>,
    ) -> Result<(), GuestDtError> {
        match decision {
            Decision::Drop => Ok(()),
            Decision::DropBus(bus) => {
                let parent = self.out.path.clone();
                self.with_bus(chain, bus, |builder, chain| {
                    builder.check_nothing_owned(node, &parent, chain)
                })
            }
            Decision::Verbatim => self.verbatim(node),
            Decision::Descend(bus) => {
                self.out.begin_node(node.name)?;
                for property in node.properties() {
                    self.out.property(property.name, property.value)?;
                }
                self.with_bus(chain, bus, |builder, chain| builder.children(node, chain))?;
                self.out.end_node()
            }
            Decision::Cpus => self.cpus(),
            Decision::Memory if self.wrote_memory => Ok(()),
            Decision::Memory => self.memory(chain[0].cells),
            Decision::Chosen => self.chosen(Some(node)),
            Decision::Aliases => self.aliases(node),
            Decision::Psci if self.wrote_psci => Ok(()),
            Decision::Psci => self.psci(),
            Decision::Gic => self.gic(node, chain),
        }
    }

    /// Runs `body` with `bus` pushed onto `chain`.
    fn with_bus(
        &mut self,
        chain: &mut heapless::Vec<Bus<'dtb>, MAX_BUS_DEPTH>,
        bus: Bus<'dtb>,
        body: impl FnOnce(
            &mut Self,
            &mut heapless::Vec<Bus<'dtb>, MAX_BUS_DEPTH>,
        ) -> Result<(), GuestDtError>,
    ) -> Result<(), GuestDtError> {
        if chain.push(bus).is_err() {
            let problem = crate::platform::NodeProblem::BusesTooDeep {
                limit: MAX_BUS_DEPTH,
            };
            return Err(tree::node_error(&self.out.path, problem).into());
        }
        let result = body(self, chain);
        chain.pop();
        result
    }

    /// Copies `node` and its subtree, leaving out PSCI nodes.
    fn verbatim(&mut self, node: FdtNode<'_, 'dtb>) -> Result<(), GuestDtError> {
        self.out.begin_node(node.name)?;
        for property in node.properties() {
            self.out.property(property.name, property.value)?;
        }
        for child in node.children() {
            let parent_length = self.out.enter(child.name)?;
            let is_psci = tree::compatible(child, &self.out.path)?
                .is_some_and(|compatible| compatible.contains_any(PSCI_COMPATIBLES));
            if !is_psci {
                self.verbatim(child)?;
            }
            self.out.leave(parent_length);
        }
        self.out.end_node()
    }

    /// Errors if the guest owns any device inside the dropped bus `parent`.
    fn check_nothing_owned(
        &mut self,
        node: FdtNode<'_, 'dtb>,
        parent: &NodePath,
        chain: &mut heapless::Vec<Bus<'dtb>, MAX_BUS_DEPTH>,
    ) -> Result<(), GuestDtError> {
        for child in node.children() {
            let parent_length = self.out.enter(child.name)?;
            let decision = self.decide(child, &self.out.path, chain)?;
            match decision {
                Decision::Verbatim | Decision::Descend(_) if walk_has_reg(child) => {
                    return Err(GuestDtError::OwnedInsideUnowned {
                        device: self.out.path.clone(),
                        parent: parent.clone(),
                    });
                }
                Decision::Descend(bus) | Decision::DropBus(bus) => {
                    self.with_bus(chain, bus, |builder, chain| {
                        builder.check_nothing_owned(child, parent, chain)
                    })?;
                }
                _ => {}
            }
            self.out.leave(parent_length);
        }
        Ok(())
    }
}

/// Whether the node has `reg`: a `Verbatim`/`Descend` decision for such a node means "owned".
fn walk_has_reg(node: FdtNode<'_, '_>) -> bool {
    tree::property(node, "reg").is_some()
}
