//! The regenerated nodes of a guest tree: /cpus, memory, /psci, /chosen, /aliases and the GIC,
//! and the check of whether a host path is kept in the guest tree.
#![forbid(unsafe_code)]

use core::fmt::Write as _;

use fdt::node::FdtNode;

use super::{
    Builder, Decision, GuestDtError, GICV2_GUEST_CPU_INTERFACE_SIZE, GICV3_REDISTRIBUTOR_SIZE,
};
use crate::platform::tree::{self, Cells, NodePath, StringList};
use crate::platform::walk::{self, Bus, MAX_BUS_DEPTH};
use crate::platform::{GicRegions, NodeProblem, PSCI_COMPATIBLES};

/// PSCI 0.2 function IDs (Arm DEN 0022, 5.1). Linux ignores them for "arm,psci-0.2" and later;
/// listing them keeps the node usable by PSCI 0.1-only guests.
const PSCI_FUNCTION_IDS: [(&str, u32); 4] = [
    ("cpu_suspend", 0xc400_0001),
    ("cpu_off", 0x8400_0002),
    ("cpu_on", 0xc400_0003),
    ("migrate", 0xc400_0005),
];

/// A unit name such as `cpu@a` or `memory@40000000` (unit addresses are hexadecimal).
type NodeName = heapless::String<32>;

fn unit_name(base_name: &str, address: u64) -> NodeName {
    let mut name = NodeName::new();
    // 32 bytes hold "memory@" and 16 hex digits.
    let _ = write!(name, "{base_name}@{address:x}");
    name
}

/// Big-endian cells of `value`, or `None` if it does not fit in `cells` cells.
fn encode_cells(value: u64, cells: u32, out: &mut heapless::Vec<u8, 32>) -> Option<()> {
    match cells {
        1 => out
            .extend_from_slice(&u32::try_from(value).ok()?.to_be_bytes())
            .ok(),
        2 => out.extend_from_slice(&value.to_be_bytes()).ok(),
        _ => None,
    }
}

impl<'dtb> Builder<'_, '_, 'dtb> {
    pub(super) fn cpus(&mut self) -> Result<(), GuestDtError> {
        self.out.begin_node("cpus")?;
        self.out.property_u32("#address-cells", 1)?;
        self.out.property_u32("#size-cells", 0)?;
        for index in 0..self.spec.vcpus {
            let name = unit_name("cpu", u64::from(index));
            let parent_length = self.out.enter(&name)?;
            self.out.begin_node(&name)?;
            self.out.property_string("device_type", "cpu")?;
            self.out
                .property_string("compatible", self.platform.cpu_compatible)?;
            self.out.property_u32("reg", index)?;
            self.out.property_string("enable-method", "psci")?;
            self.out.end_node()?;
            self.out.leave(parent_length);
        }
        self.out.end_node()
    }

    /// The guest's one memory node, encoded with the root's cells.
    pub(super) fn memory(&mut self, root_cells: Cells) -> Result<(), GuestDtError> {
        let memory = self.spec.memory;
        let mut reg = heapless::Vec::new();
        encode_cells(memory.base, root_cells.address, &mut reg)
            .and_then(|()| encode_cells(memory.size, root_cells.size, &mut reg))
            .ok_or(GuestDtError::MemoryNotRepresentable { memory })?;
        self.out.begin_node(&unit_name("memory", memory.base))?;
        self.out.property_string("device_type", "memory")?;
        self.out.property("reg", &reg)?;
        self.wrote_memory = true;
        self.out.end_node()
    }

    /// A device the hypervisor adds: `reg` in the root's cells, one SPI in the GIC's three-cell
    /// form (both GIC bindings: type 0 = SPI, number, 4 = level-high).
    pub(super) fn virtual_device(
        &mut self,
        device: &super::VirtualDevice,
        root_cells: Cells,
    ) -> Result<(), GuestDtError> {
        let mut reg = heapless::Vec::new();
        encode_cells(device.reg.base, root_cells.address, &mut reg)
            .and_then(|()| encode_cells(device.reg.size, root_cells.size, &mut reg))
            .ok_or(GuestDtError::MemoryNotRepresentable { memory: device.reg })?;
        let name = unit_name(device.name, device.reg.base);
        let parent_length = self.out.enter(&name)?;
        self.out.begin_node(&name)?;
        self.out.property_string("compatible", device.compatible)?;
        self.out.property("reg", &reg)?;
        let mut interrupts = heapless::Vec::<u8, 12>::new();
        for cell in [0, device.interrupt.saturating_sub(32), 4] {
            let _ = interrupts.extend_from_slice(&u32::to_be_bytes(cell));
        }
        self.out.property("interrupts", &interrupts)?;
        if device.dma_coherent {
            self.out.property("dma-coherent", &[])?;
        }
        self.out.end_node()?;
        self.out.leave(parent_length);
        Ok(())
    }

    pub(super) fn psci(&mut self) -> Result<(), GuestDtError> {
        let parent_length = if self.out.path.is_empty() {
            Some(self.out.enter("psci")?)
        } else {
            None
        };
        self.out.begin_node("psci")?;
        self.out
            .property_string_list("compatible", PSCI_COMPATIBLES)?;
        self.out.property_string("method", "hvc")?;
        for (name, function_id) in PSCI_FUNCTION_IDS {
            self.out.property_u32(name, function_id)?;
        }
        self.out.end_node()?;
        self.wrote_psci = true;
        if let Some(parent_length) = parent_length {
            self.out.leave(parent_length);
        }
        Ok(())
    }

    /// /chosen: our bootargs and initrd, the host's seeds, and the host's `stdout-path` when the
    /// guest keeps its target.
    pub(super) fn chosen(&mut self, host: Option<FdtNode<'_, 'dtb>>) -> Result<(), GuestDtError> {
        let parent_length = if self.out.path.is_empty() {
            Some(self.out.enter("chosen")?)
        } else {
            None
        };
        self.out.begin_node("chosen")?;
        self.out.property_string("bootargs", self.spec.bootargs)?;
        if let Some(initrd) = self.spec.initrd {
            self.out.property_u64("linux,initrd-start", initrd.base)?;
            self.out.property_u64("linux,initrd-end", initrd.end())?;
        }
        if let Some(host) = host {
            // The firmware's entropy: copied, so every guest on this boot sees the same seeds.
            for name in ["kaslr-seed", "rng-seed"] {
                if let Some(value) = tree::property(host, name) {
                    self.out.property(name, value)?;
                }
            }
            for name in ["stdout-path", "linux,stdout-path"] {
                let Some(value) = tree::read_string(host, &self.out.path, name)? else {
                    continue;
                };
                let target = value.split(':').next().unwrap_or_default();
                let fdt = self.platform.fdt();
                let Some((_, canonical)) = tree::resolve_path(fdt, target)? else {
                    continue;
                };
                if self.survives(&canonical)? {
                    self.out.property_string(name, value)?;
                }
            }
        }
        self.out.end_node()?;
        self.wrote_chosen = true;
        if let Some(parent_length) = parent_length {
            self.out.leave(parent_length);
        }
        Ok(())
    }

    /// /aliases with only the entries whose target the guest keeps.
    pub(super) fn aliases(&mut self, host: FdtNode<'_, 'dtb>) -> Result<(), GuestDtError> {
        self.out.begin_node(host.name)?;
        for property in host.properties() {
            let target = StringList::decode(property.value)
                .map(StringList::first)
                .filter(|path| path.starts_with('/'));
            let Some(target) = target else { continue };
            let Some((_, canonical)) = tree::find_by_path(self.platform.fdt(), target)? else {
                continue;
            };
            if self.survives(&canonical)? {
                self.out.property(property.name, property.value)?;
            }
        }
        self.out.end_node()
    }

    /// The GIC with only the frames a guest sees, no maintenance interrupt, no children.
    pub(super) fn gic(
        &mut self,
        node: FdtNode<'_, 'dtb>,
        chain: &[Bus<'dtb>],
    ) -> Result<(), GuestDtError> {
        let cells = chain.last().map_or(Cells::DEFAULT, |bus| bus.cells);
        let path = self.out.path.clone();
        let bad_cells = || {
            let problem = NodeProblem::CellsUnsupported {
                property: "reg",
                cells: "#size-cells",
                value: cells.size,
            };
            GuestDtError::Host(tree::node_error(&path, problem))
        };
        // Host `reg` entries as written (untranslated: the guest tree has the same buses).
        let raw = tree::property(node, "reg").unwrap_or_default();
        let address_bytes = cells.address as usize * 4;
        let entry_bytes = address_bytes + cells.size as usize * 4;
        let mut entries = raw.chunks_exact(entry_bytes.max(1));
        let (Some(distributor), Some(second)) = (entries.next(), entries.next()) else {
            let problem = NodeProblem::TooFewEntries {
                property: "reg",
                found: 1,
                why: "the GIC needs 2",
            };
            return Err(GuestDtError::Host(tree::node_error(&path, problem)));
        };
        let (second_size, is_v3) = match self.platform.gic.regions {
            GicRegions::V2 { .. } => (GICV2_GUEST_CPU_INTERFACE_SIZE, false),
            GicRegions::V3 { .. } => (u64::from(self.spec.vcpus) * GICV3_REDISTRIBUTOR_SIZE, true),
        };
        let mut reg: heapless::Vec<u8, 32> = heapless::Vec::new();
        reg.extend_from_slice(distributor)
            .map_err(|_| bad_cells())?;
        reg.extend_from_slice(&second[..address_bytes])
            .map_err(|_| bad_cells())?;
        encode_cells(second_size, cells.size, &mut reg).ok_or_else(bad_cells)?;
        self.out.begin_node(node.name)?;
        for property in node.properties() {
            match property.name {
                "reg" => self.out.property("reg", &reg)?,
                "interrupts" | "redistributor-stride" | "#redistributor-regions" => {}
                name => self.out.property(name, property.value)?,
            }
        }
        if is_v3 {
            self.out.property_u32("#redistributor-regions", 1)?;
        }
        self.out.end_node()
    }

    /// Whether the host node at canonical `path` appears in the guest tree under the same path.
    pub(super) fn survives(&self, path: &str) -> Result<bool, GuestDtError> {
        let fdt = self.platform.fdt();
        let mut node = tree::root(fdt)?;
        let mut chain: heapless::Vec<Bus<'dtb>, MAX_BUS_DEPTH> = heapless::Vec::new();
        let _ = chain.push(walk::root_bus(fdt)?);
        let mut current = NodePath::new();
        let mut inside_verbatim = false;
        let mut components = path
            .split('/')
            .filter(|component| !component.is_empty())
            .peekable();
        while let Some(component) = components.next() {
            let Some(child) = node.children().find(|child| child.name == component) else {
                return Ok(false);
            };
            tree::push_component(&mut current, child.name)?;
            let is_last = components.peek().is_none();
            if inside_verbatim {
                let is_psci = tree::compatible(child, &current)?
                    .is_some_and(|compatible| compatible.contains_any(PSCI_COMPATIBLES));
                if is_psci {
                    return Ok(false);
                }
            } else {
                match self.decide(child, &current, &chain)? {
                    Decision::Drop | Decision::DropBus(_) | Decision::Memory => return Ok(false),
                    Decision::Cpus
                    | Decision::Chosen
                    | Decision::Aliases
                    | Decision::Psci
                    | Decision::Gic => return Ok(is_last),
                    Decision::Verbatim => inside_verbatim = true,
                    Decision::Descend(bus) => {
                        if chain.push(bus).is_err() {
                            return Ok(false);
                        }
                    }
                }
            }
            node = child;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names_are_hexadecimal() {
        assert_eq!(unit_name("cpu", 10), "cpu@a");
        assert_eq!(unit_name("memory", 0x4000_0000), "memory@40000000");
        assert_eq!(unit_name("memory", u64::MAX), "memory@ffffffffffffffff");
    }

    #[test]
    fn cells_encode_only_values_that_fit() {
        let mut out = heapless::Vec::new();
        assert_eq!(encode_cells(0x1_0000_0000, 1, &mut out), None);
        assert_eq!(encode_cells(0x1_0000_0000, 2, &mut out), Some(()));
        assert_eq!(out.as_slice(), &[0, 0, 0, 1, 0, 0, 0, 0]);
        assert_eq!(encode_cells(5, 3, &mut out), None);
    }
}
