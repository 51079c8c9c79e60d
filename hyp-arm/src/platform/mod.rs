//! Host device tree parsed into a plain `Platform` value (pure, host-testable).
//!
//! [`Platform::parse`] checks the blob's structure first ([`blob`]), because the `fdt` crate
//! panics on malformed input, then reads CPUs, memory, the GIC, the timer, PSCI, /chosen and the
//! device list. Every rejection is a [`PlatformError`] naming the node and property.
//! [`Platform::limitations`] then says what of a well-formed machine hyp-arm cannot use yet.
#![forbid(unsafe_code)]
#![allow(
    clippy::result_large_err,
    reason = "errors carry the node path inline (no heap); they are built once, on the failure path"
)]

pub mod blob;
mod chosen;
mod cpu;
pub(crate) mod devices;
mod error;
mod gic;
mod gicv2_frame;
mod memory;
pub(crate) mod psci;
pub mod secondary;
mod support;
mod timer;
pub(crate) mod tree;
pub(crate) mod walk;

#[cfg(test)]
pub(crate) mod real_boards;
#[cfg(test)]
pub(crate) mod tests;

use fdt::Fdt;

pub use blob::{BlobError, StructureProblem};
pub use chosen::{BootModule, BootModuleKind, Uart, MAX_BOOT_MODULES};
pub use cpu::{Cpu, EnableMethod, MAX_CPUS};
pub use devices::{Device, MAX_DEVICE_REGS, MAX_DEVICE_SPIS};
pub use error::{MissingNode, NodeProblem, PlatformError, QuotedValue};
pub use gic::{
    Gic, GicInterrupt, GicRegions, GicVersion, GICV2_COMPATIBLES, GICV3_COMPATIBLES,
    MAX_REDISTRIBUTOR_REGIONS,
};
pub use gicv2_frame::{
    Gicv2FrameLayout, Gicv2FramePages, GICV2_ALIASED_FRAME_SIZE, GICV2_CPU_INTERFACE_SIZE,
    GICV2_PAGE_SIZE,
};
pub use memory::{MemoryRange, MAX_MEMORY_RANGES, MAX_RESERVED_RANGES};
pub use psci::{Psci, PsciMethod, PsciVersion, PSCI_COMPATIBLES};
pub use support::{Capabilities, Unsupported, MAX_LIMITATIONS};
pub use timer::Timer;
pub use tree::{Cells, NodePath, StringList, MAX_DEPTH, MAX_PATH_LENGTH};
pub use walk::{MAX_BUS_DEPTH, MAX_REG_ENTRIES};

/// What the hypervisor needs to know about the machine, read once from the host device tree.
#[derive(Clone, Debug)]
pub struct Platform<'dtb> {
    pub cpus: heapless::Vec<Cpu, MAX_CPUS>,
    /// `compatible` of the first CPU node, copied into guests' CPU nodes.
    pub cpu_compatible: &'dtb str,
    pub memory: heapless::Vec<MemoryRange, MAX_MEMORY_RANGES>,
    /// /memreserve/ entries and /reserved-memory regions. Not included: the DTB blob itself,
    /// whose location only the caller knows; add it before allocating memory.
    pub reserved: heapless::Vec<MemoryRange, MAX_RESERVED_RANGES>,
    pub gic: Gic,
    pub timer: Timer,
    pub console: Option<Uart<'dtb>>,
    pub psci: Option<Psci>,
    pub boot_modules: heapless::Vec<BootModule<'dtb>, MAX_BOOT_MODULES>,
    /// /chosen `bootargs`: the hypervisor's own command line.
    pub bootargs: Option<&'dtb str>,
    /// The validated tree, for the device list and for building guest trees. `parse` walked all
    /// of its memory-mapped part, so later walks meet no structural error.
    fdt: Fdt<'dtb>,
}

impl<'dtb> Platform<'dtb> {
    /// Validates and reads the host device tree blob `dtb` (bytes past its `totalsize` ignored).
    pub fn parse(dtb: &'dtb [u8]) -> Result<Self, PlatformError> {
        let header = blob::validate(dtb)?;
        let blob = dtb.get(..header.total_size).unwrap_or(dtb);
        // `validate` checked everything `Fdt::new` checks, so this cannot fail; map it anyway.
        let fdt = Fdt::new(blob).map_err(|_| BlobError::TooShortForHeader { length: dtb.len() })?;
        let (cpus, cpu_compatible) = cpu::parse(&fdt)?;
        let memory = memory::parse_memory(&fdt)?;
        let reserved = memory::parse_reserved(&fdt)?;
        let gic = gic::parse(&fdt)?;
        let timer = timer::parse(&fdt, &gic)?;
        let psci = psci::parse(&fdt)?;
        let chosen = chosen::parse(&fdt, &gic)?;
        Ok(Self {
            cpus,
            cpu_compatible,
            memory,
            reserved,
            gic,
            timer,
            console: chosen.console,
            psci,
            boot_modules: chosen.boot_modules,
            bootargs: chosen.bootargs,
            fdt,
        })
    }

    /// The validated host tree: safe to walk with the `fdt` crate (no call on it can panic).
    pub fn fdt(&self) -> &Fdt<'dtb> {
        &self.fdt
    }

    /// Memory-mapped devices in tree order (see [`Device`]), computed on each call rather than
    /// stored, since real SoC trees have hundreds. A device node with malformed properties
    /// (real trees have a few) is an `Err` naming it, and the others still follow: only the
    /// devices a domain is given need to be sound.
    pub fn devices(&self) -> impl Iterator<Item = Result<Device<'dtb>, PlatformError>> + '_ {
        devices::devices(&self.fdt, &self.gic)
    }

    /// The device whose full path is `path` (`Err` if that node is malformed).
    pub fn device(&self, path: &str) -> Option<Result<Device<'dtb>, PlatformError>> {
        self.devices().find(|device| match device {
            Ok(device) => device.path == path,
            Err(PlatformError::Node {
                path: error_path, ..
            }) => error_path == path,
            Err(_) => false,
        })
    }
}
