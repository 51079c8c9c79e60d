//! The GIC: its version, register frames, maintenance interrupt, and decoding of interrupt
//! specifiers that target it.
#![forbid(unsafe_code)]

use fdt::{node::FdtNode, Fdt};

use super::error::{MissingNode, NodeProblem, PlatformError};
use super::memory::MemoryRange;
use super::tree::{self, node_error, NodePath};
use super::walk::{self, RegList};

/// Compatibles of a GICv2 with virtualization extensions (GICH/GICV frames) possible.
pub const GICV2_COMPATIBLES: &[&str] = &[
    "arm,gic-400",
    "arm,cortex-a15-gic",
    "arm,cortex-a7-gic",
    "arm,gic-v2",
    "qcom,msm-qgic2",
];
/// Compatibles of a GICv3 (GICv4 uses the same binding).
pub const GICV3_COMPATIBLES: &[&str] = &["arm,gic-v3"];
/// Most redistributor regions recorded.
pub const MAX_REDISTRIBUTOR_REGIONS: usize = 4;

/// The host's interrupt controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gic {
    pub path: NodePath,
    pub phandle: Option<u32>,
    /// `#interrupt-cells` of the GIC node: 3, or 4 for GICv3 PPI partitions.
    pub interrupt_cells: u32,
    /// INTID of the virtual interface maintenance interrupt (GICv2 5.3 / GICv3 8.2).
    pub maintenance_intid: u32,
    pub regions: GicRegions,
}

/// Register frames, by architecture version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GicRegions {
    V2 {
        distributor: MemoryRange,
        cpu_interface: MemoryRange,
        /// GICH: the virtual interface control registers.
        hyp_interface: MemoryRange,
        /// GICV: the virtual CPU interface that the hypervisor maps at the guest's GICC address.
        virtual_cpu_interface: MemoryRange,
    },
    V3 {
        distributor: MemoryRange,
        /// One range per `#redistributor-regions`.
        redistributors: heapless::Vec<MemoryRange, MAX_REDISTRIBUTOR_REGIONS>,
        /// Legacy GICv2 compatibility frames, present only on some implementations.
        cpu_interface: Option<MemoryRange>,
        hyp_interface: Option<MemoryRange>,
        virtual_cpu_interface: Option<MemoryRange>,
    },
}

/// GIC architecture version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicVersion {
    V2,
    V3,
}

impl Gic {
    pub fn version(&self) -> GicVersion {
        match self.regions {
            GicRegions::V2 { .. } => GicVersion::V2,
            GicRegions::V3 { .. } => GicVersion::V3,
        }
    }

    /// The distributor frame (GICD), common to both versions.
    pub fn distributor(&self) -> MemoryRange {
        match &self.regions {
            GicRegions::V2 { distributor, .. } | GicRegions::V3 { distributor, .. } => *distributor,
        }
    }
}

/// A decoded GIC interrupt specifier (binding arm,gic.yaml / arm,gic-v3.yaml: cell 0 is the type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicInterrupt {
    /// Shared peripheral interrupt (type 0 -> INTID 32 + n, or extended type 2 -> 4096 + n).
    Spi(u32),
    /// Private peripheral interrupt (type 1 -> INTID 16 + n, or extended type 3 -> 1056 + n).
    Ppi(u32),
}

impl GicInterrupt {
    /// Decodes one specifier of at least 2 cells.
    pub fn decode(specifier: &[u8]) -> Result<Self, &'static str> {
        let cell = |index: usize| {
            specifier
                .get(index * 4..index * 4 + 4)
                .map(tree::cells_value)
        };
        let (Some(kind), Some(number)) = (cell(0), cell(1)) else {
            return Err("a GIC interrupt specifier needs at least 2 cells");
        };
        match (kind, number) {
            (0, 0..=987) => Ok(Self::Spi(32 + number as u32)),
            (1, 0..=15) => Ok(Self::Ppi(16 + number as u32)),
            (2, 0..=1023) => Ok(Self::Spi(4096 + number as u32)),
            (3, 0..=63) => Ok(Self::Ppi(1056 + number as u32)),
            (0..=3, _) => Err("interrupt number out of range for its type"),
            _ => Err("unknown interrupt type (cell 0 must be 0 = SPI, 1 = PPI, 2 = extended SPI, 3 = extended PPI)"),
        }
    }

    pub fn intid(self) -> u32 {
        match self {
            Self::Spi(intid) | Self::Ppi(intid) => intid,
        }
    }
}

/// The GIC as an interrupt parent: what is needed to decode specifiers aimed at it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GicParent {
    pub phandle: Option<u32>,
    pub interrupt_cells: u32,
}

/// Calls `each(index, interrupt)` for the node's interrupts that go to the GIC (`interrupts` with
/// the GIC as interrupt parent, or `interrupts-extended` entries naming the GIC). Returns how many
/// interrupts go to other controllers.
pub(crate) fn for_each_gic_interrupt<'a>(
    fdt: &Fdt<'a>,
    node: FdtNode<'_, 'a>,
    path: &str,
    interrupt_parent: Option<u32>,
    gic: GicParent,
    mut each: impl FnMut(usize, GicInterrupt) -> Result<(), PlatformError>,
) -> Result<usize, PlatformError> {
    let bad = |property: &'static str, index: usize, why: &'static str| {
        node_error(
            path,
            NodeProblem::BadInterrupt {
                property,
                index,
                why,
            },
        )
    };
    let specifier_bytes = gic.interrupt_cells as usize * 4;
    if let Some(value) = tree::property(node, "interrupts-extended") {
        let mut rest = value;
        let mut index = 0;
        let mut elsewhere = 0;
        while !rest.is_empty() {
            let Some((phandle, after)) = rest.split_first_chunk::<4>() else {
                return Err(bad("interrupts-extended", index, "truncated entry"));
            };
            let phandle = u32::from_be_bytes(*phandle);
            let cells = if Some(phandle) == gic.phandle {
                gic.interrupt_cells
            } else {
                let parent = fdt
                    .find_phandle(phandle)
                    .ok_or_else(|| bad("interrupts-extended", index, "unknown phandle"))?;
                tree::read_u32(parent, path, "#interrupt-cells")?.ok_or_else(|| {
                    bad(
                        "interrupts-extended",
                        index,
                        "the parent has no #interrupt-cells",
                    )
                })?
            };
            let length = cells as usize * 4;
            let specifier = after
                .get(..length)
                .ok_or_else(|| bad("interrupts-extended", index, "truncated entry"))?;
            if Some(phandle) == gic.phandle {
                each(
                    index,
                    GicInterrupt::decode(specifier)
                        .map_err(|why| bad("interrupts-extended", index, why))?,
                )?;
            } else {
                elsewhere += 1;
            }
            rest = &after[length..];
            index += 1;
        }
        return Ok(elsewhere);
    }
    let Some(value) = tree::property(node, "interrupts") else {
        return Ok(0);
    };
    if interrupt_parent.is_none() || interrupt_parent != gic.phandle {
        // Another controller (a GPIO block, an interrupt combiner) whose cells we do not decode.
        return Ok(usize::from(!value.is_empty()));
    }
    if specifier_bytes == 0 || !value.len().is_multiple_of(specifier_bytes) {
        return Err(node_error(
            path,
            NodeProblem::BadPropertyLength {
                property: "interrupts",
                length: value.len(),
                expected: "a multiple of the GIC's #interrupt-cells",
            },
        ));
    }
    for (index, specifier) in value.chunks_exact(specifier_bytes).enumerate() {
        each(
            index,
            GicInterrupt::decode(specifier).map_err(|why| bad("interrupts", index, why))?,
        )?;
    }
    Ok(0)
}

/// Finds the one enabled GIC node among the memory-mapped nodes and reads it.
pub(crate) fn parse(fdt: &Fdt<'_>) -> Result<Gic, PlatformError> {
    let mut found: Option<(walk::Visit<'_, '_>, bool)> = None;
    for visit in walk::mapped_nodes(fdt) {
        let visit = visit?;
        let Some(compatible) = tree::compatible(visit.node, &visit.path)? else {
            continue;
        };
        let is_v3 = compatible.contains_any(GICV3_COMPATIBLES);
        if !(is_v3 || compatible.contains_any(GICV2_COMPATIBLES))
            || !tree::is_enabled(visit.node, &visit.path)?
        {
            continue;
        }
        if let Some((first, _)) = &found {
            return Err(PlatformError::Duplicate {
                what: "GIC",
                first: first.path.clone(),
                second: visit.path,
            });
        }
        found = Some((visit, is_v3));
    }
    let (visit, is_v3) = found.ok_or(PlatformError::Missing(MissingNode::Gic))?;
    let path = visit.path.as_str();
    let no_reg = || {
        node_error(
            path,
            NodeProblem::MissingProperty {
                property: "reg",
                why: "the GIC's register frames",
            },
        )
    };
    let regs = visit.mapped.regs.clone()?.ok_or_else(no_reg)?;
    let regions = if is_v3 {
        v3_regions(visit.node, path, &regs)?
    } else {
        v2_regions(path, &regs)?
    };
    let interrupt_cells =
        tree::read_u32(visit.node, path, "#interrupt-cells")?.ok_or_else(|| {
            node_error(
                path,
                NodeProblem::MissingProperty {
                    property: "#interrupt-cells",
                    why: "decoding interrupts",
                },
            )
        })?;
    if interrupt_cells < 3 {
        return Err(node_error(
            path,
            NodeProblem::BadPropertyLength {
                property: "#interrupt-cells",
                length: interrupt_cells as usize,
                expected: "3 or 4 cells",
            },
        ));
    }
    let phandle = tree::phandle(visit.node, path)?;
    let mut maintenance_intid = None;
    let parent = GicParent {
        phandle,
        interrupt_cells,
    };
    // The GIC's own interrupt parent is normally itself, inherited from the root.
    let interrupt_parent = visit.mapped.interrupt_parent.or(phandle);
    for_each_gic_interrupt(
        fdt,
        visit.node,
        path,
        interrupt_parent,
        parent,
        |index, interrupt| {
            if index == 0 {
                maintenance_intid = Some(interrupt.intid());
            }
            Ok(())
        },
    )?;
    let maintenance_intid = maintenance_intid.ok_or_else(|| {
        node_error(
            path,
            NodeProblem::MissingProperty {
                property: "interrupts",
                why: "the virtual interface maintenance interrupt",
            },
        )
    })?;
    Ok(Gic {
        path: visit.path.clone(),
        phandle,
        interrupt_cells,
        maintenance_intid,
        regions,
    })
}

fn v2_regions(path: &str, regs: &RegList) -> Result<GicRegions, PlatformError> {
    let few = |why| {
        node_error(
            path,
            NodeProblem::TooFewEntries {
                property: "reg",
                found: regs.len(),
                why,
            },
        )
    };
    match regs.as_slice() {
        [distributor, cpu_interface, hyp_interface, virtual_cpu_interface, ..] => {
            Ok(GicRegions::V2 {
                distributor: *distributor,
                cpu_interface: *cpu_interface,
                hyp_interface: *hyp_interface,
                virtual_cpu_interface: *virtual_cpu_interface,
            })
        }
        [_, _] | [_, _, _] => Err(few(
            "the hypervisor needs virtualization extensions: no GICH/GICV (3rd and 4th entries)",
        )),
        _ => Err(few("a GICv2 needs at least 2 (distributor, CPU interface)")),
    }
}

fn v3_regions(
    node: FdtNode<'_, '_>,
    path: &str,
    regs: &RegList,
) -> Result<GicRegions, PlatformError> {
    let regions = tree::read_u32(node, path, "#redistributor-regions")?.unwrap_or(1) as usize;
    if regions == 0 || regions > MAX_REDISTRIBUTOR_REGIONS {
        return Err(node_error(
            path,
            NodeProblem::TooManyEntries {
                property: "#redistributor-regions",
                found: regions,
                limit: MAX_REDISTRIBUTOR_REGIONS,
            },
        ));
    }
    if regs.len() < 1 + regions {
        return Err(node_error(
            path,
            NodeProblem::TooFewEntries {
                property: "reg",
                found: regs.len(),
                why: "a GICv3 needs the distributor and `#redistributor-regions` redistributor ranges",
            },
        ));
    }
    let mut redistributors = heapless::Vec::new();
    for range in &regs[1..1 + regions] {
        // Cannot fail: `regions <= MAX_REDISTRIBUTOR_REGIONS` was checked above.
        let _ = redistributors.push(*range);
    }
    let legacy = |index: usize| regs.get(1 + regions + index).copied();
    Ok(GicRegions::V3 {
        distributor: regs[0],
        redistributors,
        cpu_interface: legacy(0),
        hyp_interface: legacy(1),
        virtual_cpu_interface: legacy(2),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specifier(cells: [u32; 3]) -> [u8; 12] {
        let mut bytes = [0; 12];
        for (chunk, cell) in bytes.chunks_exact_mut(4).zip(cells) {
            chunk.copy_from_slice(&cell.to_be_bytes());
        }
        bytes
    }

    #[test]
    fn specifiers_decode_to_intids() {
        assert_eq!(
            GicInterrupt::decode(&specifier([0, 1, 4])),
            Ok(GicInterrupt::Spi(33))
        );
        assert_eq!(
            GicInterrupt::decode(&specifier([1, 9, 4])),
            Ok(GicInterrupt::Ppi(25))
        );
        assert_eq!(
            GicInterrupt::decode(&specifier([2, 0, 4])),
            Ok(GicInterrupt::Spi(4096))
        );
        assert_eq!(
            GicInterrupt::decode(&specifier([3, 1, 4])),
            Ok(GicInterrupt::Ppi(1057))
        );
        assert!(GicInterrupt::decode(&specifier([1, 16, 4])).is_err());
        assert!(GicInterrupt::decode(&specifier([7, 0, 4])).is_err());
        assert!(GicInterrupt::decode(&[0; 4]).is_err());
    }
}
