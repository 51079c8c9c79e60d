//! The firmware's PSCI interface (binding arm/psci.yaml): conduit and version.
#![forbid(unsafe_code)]

use fdt::Fdt;

use super::error::{quote, NodeProblem, PlatformError};
use super::tree::{self, node_error, NodePath};

/// Instruction that reaches the PSCI firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciMethod {
    Smc,
    Hvc,
}

/// PSCI version from the most specific `compatible`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PsciVersion {
    /// "arm,psci": function IDs come from the node (not recorded: hyp-arm needs 0.2 or later).
    V0_1,
    /// "arm,psci-0.2": standard function IDs.
    V0_2,
    /// "arm,psci-1.0": adds PSCI_FEATURES and more.
    V1_0,
}

/// The host's PSCI firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Psci {
    pub method: PsciMethod,
    pub version: PsciVersion,
}

/// Why hyp-arm cannot call the host's PSCI `psci` from EL2 (for CPU_ON, SYSTEM_OFF), or `None`
/// when it can: an SMC conduit and PSCI 0.2 or later.
pub fn why_not_callable(psci: Option<Psci>) -> Option<&'static str> {
    match psci {
        None => Some("the tree has no enabled PSCI node"),
        Some(Psci {
            method: PsciMethod::Hvc,
            ..
        }) => Some("its conduit is HVC, which from EL2 traps to hyp-arm itself"),
        Some(Psci {
            version: PsciVersion::V0_1,
            ..
        }) => Some("it is PSCI 0.1, whose function IDs hyp-arm does not call"),
        Some(_) => None,
    }
}

/// Compatibles that mark a PSCI node, most specific first.
pub const PSCI_COMPATIBLES: &[&str] = &["arm,psci-1.0", "arm,psci-0.2", "arm,psci"];

/// Reads the first enabled PSCI node among the root's and /firmware's children; `None` when
/// there is none (spin-table boards).
pub(crate) fn parse(fdt: &Fdt<'_>) -> Result<Option<Psci>, PlatformError> {
    Ok(find(fdt)?.map(|(psci, _)| psci))
}

/// `parse`, with the path of the node it read (for messages about it).
pub(crate) fn find(fdt: &Fdt<'_>) -> Result<Option<(Psci, NodePath)>, PlatformError> {
    for parent_path in ["/", "/firmware"] {
        let Some((parent, parent_path)) = tree::find_by_path(fdt, parent_path)? else {
            continue;
        };
        let mut path = parent_path.clone();
        for node in parent.children() {
            path.truncate(parent_path.len());
            tree::push_component(&mut path, node.name)?;
            let Some(compatible) = tree::compatible(node, &path)? else {
                continue;
            };
            if !compatible.contains_any(PSCI_COMPATIBLES) || !tree::is_enabled(node, &path)? {
                continue;
            }
            return read_psci(node, &path, compatible).map(|psci| Some((psci, path)));
        }
    }
    Ok(None)
}

fn read_psci(
    node: fdt::node::FdtNode<'_, '_>,
    path: &NodePath,
    compatible: tree::StringList<'_>,
) -> Result<Psci, PlatformError> {
    let version = if compatible.contains_any(&["arm,psci-1.0"]) {
        PsciVersion::V1_0
    } else if compatible.contains_any(&["arm,psci-0.2"]) {
        PsciVersion::V0_2
    } else {
        PsciVersion::V0_1
    };
    let method = match tree::read_string(node, path, "method")? {
        Some("smc") => PsciMethod::Smc,
        Some("hvc") => PsciMethod::Hvc,
        Some(other) => {
            return Err(node_error(
                path,
                NodeProblem::UnsupportedValue {
                    property: "method",
                    value: quote(other),
                    expected: "\"smc\" or \"hvc\"",
                },
            ))
        }
        None => {
            return Err(node_error(
                path,
                NodeProblem::MissingProperty {
                    property: "method",
                    why: "calling PSCI",
                },
            ))
        }
    };
    Ok(Psci { method, version })
}
