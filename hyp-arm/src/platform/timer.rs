//! The Arm generic timer's per-CPU interrupts, read from the `arm,armv8-timer` node.
#![forbid(unsafe_code)]

use fdt::Fdt;

use super::error::{MissingNode, NodeProblem, PlatformError};
use super::gic::{self, Gic, GicInterrupt, GicParent};
use super::tree::{self, node_error};
use super::walk;

/// Timer PPIs as INTIDs, in the binding's order (arm,arch_timer.yaml).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer {
    pub secure_phys: u32,
    pub nonsecure_phys: u32,
    pub virtual_timer: u32,
    pub hyp_phys: u32,
    /// EL2 virtual timer (Armv8.1 VHE), when the tree lists a fifth interrupt.
    pub hyp_virtual: Option<u32>,
    /// `clock-frequency`, present only when firmware did not program CNTFRQ_EL0.
    pub clock_frequency: Option<u32>,
}

/// Reads the one enabled `arm,armv8-timer` node; its interrupts must be GIC PPIs.
pub(crate) fn parse(fdt: &Fdt<'_>, gic: &Gic) -> Result<Timer, PlatformError> {
    let mut found = None;
    for visit in walk::mapped_nodes(fdt) {
        let visit = visit?;
        let compatible = tree::compatible(visit.node, &visit.path)?;
        if compatible.is_some_and(|list| list.contains_any(&["arm,armv8-timer"]))
            && tree::is_enabled(visit.node, &visit.path)?
        {
            if let Some(first) = &found {
                let first: &walk::Visit<'_, '_> = first;
                return Err(PlatformError::Duplicate {
                    what: "arm,armv8-timer",
                    first: first.path.clone(),
                    second: visit.path,
                });
            }
            found = Some(visit);
        }
    }
    let visit = found.ok_or(PlatformError::Missing(MissingNode::Timer))?;
    let path = visit.path.as_str();
    let mut intids = [None; 5];
    let parent = GicParent {
        phandle: gic.phandle,
        interrupt_cells: gic.interrupt_cells,
    };
    let elsewhere = gic::for_each_gic_interrupt(
        fdt,
        visit.node,
        path,
        visit.mapped.interrupt_parent,
        parent,
        |index, interrupt| {
            let GicInterrupt::Ppi(intid) = interrupt else {
                return Err(node_error(
                    path,
                    NodeProblem::BadInterrupt {
                        property: "interrupts",
                        index,
                        why: "a timer interrupt must be a PPI",
                    },
                ));
            };
            if let Some(slot) = intids.get_mut(index) {
                *slot = Some(intid);
            }
            Ok(())
        },
    )?;
    if elsewhere > 0 {
        return Err(node_error(
            path,
            NodeProblem::InterruptParentNotGic {
                property: "interrupts",
            },
        ));
    }
    let [Some(secure_phys), Some(nonsecure_phys), Some(virtual_timer), Some(hyp_phys), hyp_virtual] =
        intids
    else {
        let found = intids.iter().take_while(|intid| intid.is_some()).count();
        return Err(node_error(
            path,
            NodeProblem::TooFewEntries {
                property: "interrupts",
                found,
                why: "the generic timer needs 4 (secure, non-secure physical, virtual, hypervisor physical)",
            },
        ));
    };
    Ok(Timer {
        secure_phys,
        nonsecure_phys,
        virtual_timer,
        hyp_phys,
        hyp_virtual,
        clock_frequency: tree::read_u32(visit.node, path, "clock-frequency")?,
    })
}
