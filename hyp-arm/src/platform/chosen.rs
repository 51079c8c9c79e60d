//! /chosen: the console (`stdout-path`), `bootargs` and boot modules (`multiboot,*` children,
//! the convention of Xen's docs/misc/arm/device-tree/booting.txt that QEMU's guest-loader follows).
#![forbid(unsafe_code)]

use fdt::{node::FdtNode, Fdt};

use super::devices;
use super::error::{quote, NodeProblem, PlatformError};
use super::gic::Gic;
use super::memory::MemoryRange;
use super::tree::{self, node_error, Cells, NodePath};

/// Most boot modules recorded.
pub const MAX_BOOT_MODULES: usize = 8;

/// The UART that /chosen `stdout-path` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uart<'dtb> {
    pub path: NodePath,
    pub compatible: &'dtb str,
    pub base: u64,
    pub size: u64,
    /// What followed ':' in `stdout-path` (e.g. "115200n8").
    pub options: Option<&'dtb str>,
}

/// What a boot module holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootModuleKind {
    Kernel,
    Ramdisk,
    /// "multiboot,device-tree": a partial device tree for a guest (Xen dom0less style).
    DeviceTree,
}

/// A blob the loader placed in memory for the hypervisor to hand to a guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootModule<'dtb> {
    pub kind: BootModuleKind,
    pub range: MemoryRange,
    /// The module's own `bootargs` (for a kernel: its command line).
    pub bootargs: Option<&'dtb str>,
}

/// Everything read from /chosen.
#[derive(Clone, Debug, Default)]
pub(crate) struct Chosen<'a> {
    pub bootargs: Option<&'a str>,
    pub console: Option<Uart<'a>>,
    pub boot_modules: heapless::Vec<BootModule<'a>, MAX_BOOT_MODULES>,
}

/// Reads /chosen; a tree without one has no console, bootargs or modules.
pub(crate) fn parse<'a>(fdt: &Fdt<'a>, gic: &Gic) -> Result<Chosen<'a>, PlatformError> {
    let Some((chosen, path)) = tree::find_by_path(fdt, "/chosen")? else {
        return Ok(Chosen::default());
    };
    Ok(Chosen {
        bootargs: tree::read_string(chosen, &path, "bootargs")?,
        console: console(fdt, gic, chosen, &path)?,
        boot_modules: boot_modules(fdt, chosen, &path)?,
    })
}

fn console<'a>(
    fdt: &Fdt<'a>,
    gic: &Gic,
    chosen: FdtNode<'_, 'a>,
    path: &str,
) -> Result<Option<Uart<'a>>, PlatformError> {
    let (property, value) = match tree::read_string(chosen, path, "stdout-path")? {
        Some(value) => ("stdout-path", value),
        None => match tree::read_string(chosen, path, "linux,stdout-path")? {
            Some(value) => ("linux,stdout-path", value),
            None => return Ok(None),
        },
    };
    let (target, options) = match value.split_once(':') {
        Some((target, options)) => (target, Some(options)),
        None => (value, None),
    };
    let unresolved = || {
        node_error(
            path,
            NodeProblem::UnresolvedPath {
                property,
                value: quote(value),
            },
        )
    };
    let (_, canonical) = tree::resolve_path(fdt, target)?.ok_or_else(unresolved)?;
    for device in devices::devices(fdt, gic) {
        let device = match device {
            Ok(device) => device,
            // Another device's problem is not the console's.
            Err(PlatformError::Node { ref path, .. }) if *path != canonical => continue,
            Err(error) => return Err(error),
        };
        if device.path != canonical {
            continue;
        }
        let compatible = device.compatible.ok_or_else(|| {
            node_error(
                &canonical,
                NodeProblem::MissingProperty {
                    property: "compatible",
                    why: "choosing the console driver",
                },
            )
        })?;
        let Some(first) = device.regs.first() else {
            break;
        };
        return Ok(Some(Uart {
            path: canonical,
            compatible,
            base: first.base,
            size: first.size,
            options,
        }));
    }
    Err(node_error(
        &canonical,
        NodeProblem::NotMemoryMapped { property },
    ))
}

fn boot_modules<'a>(
    fdt: &Fdt<'a>,
    chosen: FdtNode<'_, 'a>,
    chosen_path: &NodePath,
) -> Result<heapless::Vec<BootModule<'a>, MAX_BOOT_MODULES>, PlatformError> {
    // QEMU 7.2's guest-loader writes 2+2-cell `reg` under a /chosen without #address-cells or
    // #size-cells; Xen reads them with the cells inherited from the root, so we do the same.
    let root_cells = tree::child_cells(tree::root(fdt)?, "")?;
    let cells = Cells {
        address: tree::read_u32(chosen, chosen_path, "#address-cells")?
            .unwrap_or(root_cells.address),
        size: tree::read_u32(chosen, chosen_path, "#size-cells")?.unwrap_or(root_cells.size),
    };
    let mut modules = heapless::Vec::new();
    let mut plain_modules = 0;
    let mut path = chosen_path.clone();
    for node in chosen.children() {
        path.truncate(chosen_path.len());
        tree::push_component(&mut path, node.name)?;
        let Some(compatible) = tree::compatible(node, &path)? else {
            continue;
        };
        let kind = if compatible.contains_any(&["multiboot,kernel"]) {
            BootModuleKind::Kernel
        } else if compatible.contains_any(&["multiboot,ramdisk"]) {
            BootModuleKind::Ramdisk
        } else if compatible.contains_any(&["multiboot,device-tree"]) {
            BootModuleKind::DeviceTree
        } else if compatible.contains_any(&["multiboot,module"]) {
            // Xen's rule for untyped modules: the first is the kernel, the second the ramdisk.
            plain_modules += 1;
            match plain_modules {
                1 => BootModuleKind::Kernel,
                2 => BootModuleKind::Ramdisk,
                _ => return Err(node_error(&path, NodeProblem::UnknownModule)),
            }
        } else {
            continue;
        };
        let reg = tree::property(node, "reg").ok_or_else(|| {
            node_error(
                &path,
                NodeProblem::MissingProperty {
                    property: "reg",
                    why: "a boot module",
                },
            )
        })?;
        let ranges = tree::decode_ranges_list::<1>(reg, cells, &path, "reg")?;
        let range = *ranges.first().ok_or_else(|| {
            node_error(
                &path,
                NodeProblem::TooFewEntries {
                    property: "reg",
                    found: 0,
                    why: "a boot module needs 1",
                },
            )
        })?;
        let module = BootModule {
            kind,
            range,
            bootargs: tree::read_string(node, &path, "bootargs")?,
        };
        modules.push(module).map_err(|_| {
            node_error(
                chosen_path,
                NodeProblem::TooMany {
                    what: "boot modules",
                    limit: MAX_BOOT_MODULES,
                },
            )
        })?;
    }
    Ok(modules)
}
