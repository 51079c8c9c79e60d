//! Physical CPUs from /cpus: MPIDR affinity and how each one is started.
#![forbid(unsafe_code)]

use fdt::Fdt;

use super::error::{quote, MissingNode, NodeProblem, PlatformError};
use super::tree::{self, node_error, NodePath};

/// Most physical CPUs recorded.
pub const MAX_CPUS: usize = 8;

/// One physical CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpu {
    /// MPIDR_EL1 affinity fields (Aff3..Aff0) as the `reg` property gives them.
    pub mpidr: u64,
    pub enable_method: EnableMethod,
}

/// How a secondary CPU is brought up (Documentation/arch/arm64/booting.rst, section 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnableMethod {
    /// PSCI CPU_ON through the firmware.
    Psci,
    /// Write the entry point to `release_addr`, then SEV.
    SpinTable { release_addr: u64 },
    /// No `enable-method`: allowed for the boot CPU, which is already running.
    None,
}

/// The CPUs and the first CPU's `compatible` (e.g. "arm,cortex-a57").
pub(crate) fn parse<'a>(
    fdt: &Fdt<'a>,
) -> Result<(heapless::Vec<Cpu, MAX_CPUS>, &'a str), PlatformError> {
    let (cpus_node, cpus_path) =
        tree::find_by_path(fdt, "/cpus")?.ok_or(PlatformError::Missing(MissingNode::Cpus))?;
    let cells = tree::child_cells(cpus_node, &cpus_path)?;
    if !(1..=2).contains(&cells.address) {
        return Err(node_error(
            &cpus_path,
            NodeProblem::CellsUnsupported {
                property: "reg",
                cells: "#address-cells",
                value: cells.address,
            },
        ));
    }
    let mut cpus = heapless::Vec::new();
    let mut first_compatible = None;
    let mut path = cpus_path.clone();
    for node in cpus_node.children() {
        path.truncate(cpus_path.len());
        tree::push_component(&mut path, node.name)?;
        if tree::read_string(node, &path, "device_type")? != Some("cpu") {
            continue; // cpu-map, idle-states, l2-cache, ...
        }
        let reg = tree::property(node, "reg").ok_or_else(|| {
            node_error(
                &path,
                NodeProblem::MissingProperty {
                    property: "reg",
                    why: "the CPU's MPIDR",
                },
            )
        })?;
        // Only the first entry: further entries would be SMT threads, which arm64 describes as
        // separate nodes anyway.
        let address_bytes = cells.address as usize * 4;
        if reg.is_empty() || !reg.len().is_multiple_of(address_bytes) {
            return Err(node_error(
                &path,
                NodeProblem::BadEntryLength {
                    property: "reg",
                    length: reg.len(),
                    address_cells: cells.address,
                    size_cells: 0,
                },
            ));
        }
        let mpidr = tree::cells_value(&reg[..address_bytes]);
        let enable_method = match tree::read_string(node, &path, "enable-method")? {
            None => EnableMethod::None,
            Some("psci") => EnableMethod::Psci,
            Some("spin-table") => {
                let release_addr = match tree::property(node, "cpu-release-addr") {
                    Some(value) if value.len() == 4 || value.len() == 8 => tree::cells_value(value),
                    Some(value) => {
                        return Err(node_error(
                            &path,
                            NodeProblem::BadPropertyLength {
                                property: "cpu-release-addr",
                                length: value.len(),
                                expected: "8 bytes (two cells)",
                            },
                        ))
                    }
                    None => {
                        return Err(node_error(
                            &path,
                            NodeProblem::MissingProperty {
                                property: "cpu-release-addr",
                                why: "enable-method \"spin-table\"",
                            },
                        ))
                    }
                };
                EnableMethod::SpinTable { release_addr }
            }
            Some(other) => {
                return Err(node_error(
                    &path,
                    NodeProblem::UnsupportedValue {
                        property: "enable-method",
                        value: quote(other),
                        expected: "\"psci\" or \"spin-table\"",
                    },
                ))
            }
        };
        if first_compatible.is_none() {
            let compatible = tree::compatible(node, &path)?.ok_or_else(|| {
                node_error(
                    &path,
                    NodeProblem::MissingProperty {
                        property: "compatible",
                        why: "the guests' CPU nodes",
                    },
                )
            })?;
            first_compatible = Some(compatible.first());
        }
        cpus.push(Cpu {
            mpidr,
            enable_method,
        })
        .map_err(|_| {
            node_error(
                &cpus_path,
                NodeProblem::TooMany {
                    what: "CPUs",
                    limit: MAX_CPUS,
                },
            )
        })?;
    }
    match first_compatible {
        Some(compatible) => Ok((cpus, compatible)),
        None => Err(PlatformError::Missing(MissingNode::Cpu)),
    }
}

/// The path of the `index`-th CPU node (the order of `parse`), for messages about that CPU.
pub(crate) fn path_of(fdt: &Fdt<'_>, index: usize) -> Result<Option<NodePath>, PlatformError> {
    let Some((cpus_node, cpus_path)) = tree::find_by_path(fdt, "/cpus")? else {
        return Ok(None);
    };
    let mut path = cpus_path.clone();
    let mut seen = 0;
    for node in cpus_node.children() {
        path.truncate(cpus_path.len());
        tree::push_component(&mut path, node.name)?;
        if tree::read_string(node, &path, "device_type")? != Some("cpu") {
            continue;
        }
        if seen == index {
            return Ok(Some(path));
        }
        seen += 1;
    }
    Ok(None)
}
