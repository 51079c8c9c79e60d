//! Memory-mapped devices: every node with `reg` at the root or under a node with `ranges`,
//! except the GIC and the root-level nodes with their own meaning (memory, /cpus, /chosen, ...).
//! A device may contain other devices (a wrapper with `ranges`, like Qualcomm's QUP).
//!
//! PCI host bridges are listed (their `reg` is the ECAM window) but their children are not: those
//! are PCI functions, addressed in PCI space.
#![forbid(unsafe_code)]

use fdt::Fdt;

use super::error::{NodeProblem, PlatformError};
use super::gic::{self, Gic, GicInterrupt, GicParent};
use super::memory::MemoryRange;
use super::tree::{self, node_error, NodePath, StringList};
use super::walk::{self, Visit};

/// Most `reg` entries recorded per device.
pub const MAX_DEVICE_REGS: usize = 16;
/// Most SPIs recorded per device.
pub const MAX_DEVICE_SPIS: usize = 64;

/// One memory-mapped device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device<'dtb> {
    pub path: NodePath,
    /// First (most specific) `compatible` string; `None` when the node has none.
    pub compatible: Option<&'dtb str>,
    /// The whole `compatible` list, most specific first; `None` when the node has none.
    pub compatible_list: Option<StringList<'dtb>>,
    /// `reg` entries translated to CPU physical addresses.
    pub regs: heapless::Vec<MemoryRange, MAX_DEVICE_REGS>,
    /// INTIDs of the SPIs it raises at the GIC; interrupts routed to other controllers are not listed.
    pub spis: heapless::Vec<u32, MAX_DEVICE_SPIS>,
    /// `status` is absent, "okay" or "ok".
    pub enabled: bool,
    /// `device_type = "pci"`: a PCI host bridge.
    pub is_pci_host_bridge: bool,
}

impl Device<'_> {
    /// Whether `name` is one of the node's `compatible` strings (not only the first).
    pub fn is_compatible(&self, name: &str) -> bool {
        self.compatible_list
            .is_some_and(|list| list.iter().any(|compatible| compatible == name))
    }

    /// Whether a domain can be given this device: it is enabled and not a PCI host bridge
    /// (whose functions live in PCI space, behind an ECAM window and MSIs hyp-arm does not
    /// virtualise).
    pub fn is_assignable(&self) -> bool {
        self.enabled && !self.is_pci_host_bridge
    }
}

/// The device that `visit` describes, or `None` when the node is not a device.
pub(crate) fn device_from_visit<'a>(
    fdt: &Fdt<'a>,
    gic: &Gic,
    visit: &Visit<'_, 'a>,
) -> Result<Option<Device<'a>>, PlatformError> {
    if visit.path == gic.path {
        return Ok(None);
    }
    let Some(regs) = visit.mapped.regs.as_ref().map_err(Clone::clone)? else {
        return Ok(None);
    };
    let path = visit.path.as_str();
    let mut device_regs = heapless::Vec::new();
    for range in regs {
        device_regs.push(*range).map_err(|_| {
            node_error(
                path,
                NodeProblem::TooManyEntries {
                    property: "reg",
                    found: regs.len(),
                    limit: MAX_DEVICE_REGS,
                },
            )
        })?;
    }
    let mut spis = heapless::Vec::new();
    let parent = GicParent {
        phandle: gic.phandle,
        interrupt_cells: gic.interrupt_cells,
    };
    gic::for_each_gic_interrupt(
        fdt,
        visit.node,
        path,
        visit.mapped.interrupt_parent,
        parent,
        |_, interrupt| {
            if let GicInterrupt::Spi(intid) = interrupt {
                spis.push(intid).map_err(|_| {
                    node_error(
                        path,
                        NodeProblem::TooMany {
                            what: "SPIs",
                            limit: MAX_DEVICE_SPIS,
                        },
                    )
                })?;
            }
            Ok(())
        },
    )?;
    let compatible_list = tree::compatible(visit.node, path)?;
    Ok(Some(Device {
        path: visit.path.clone(),
        compatible: compatible_list.map(StringList::first),
        compatible_list,
        regs: device_regs,
        spis,
        enabled: visit.mapped.enabled,
        is_pci_host_bridge: tree::read_string(visit.node, path, "device_type")? == Some("pci"),
    }))
}

/// All devices in tree order. A device whose own properties are malformed is an `Err` and the
/// walk goes on; a malformed bus ends it (after `Platform::parse` succeeded, that cannot happen).
pub(crate) fn devices<'b, 'a: 'b>(
    fdt: &'b Fdt<'a>,
    gic: &'b Gic,
) -> impl Iterator<Item = Result<Device<'a>, PlatformError>> + 'b {
    walk::mapped_nodes(fdt).filter_map(move |visit| match visit {
        Ok(visit) => device_from_visit(fdt, gic, &visit).transpose(),
        Err(error) => Some(Err(error)),
    })
}
