//! What the secure domain needs from its device tree: its RAM, the PL031 RTC, the GIC (version
//! and register frames), the virtual timer's interrupt, a Cadence UART of its own, and its
//! channel to hyp-arm, if any.
//!
//! Devices are looked for among the root's children and the children of root-level
//! `simple-bus` nodes with an empty `ranges` (an identity translation, as ZynqMP's /axi): the
//! hypervisor's domain trees keep the host's buses, QEMU's `virt` has none. So no `reg` needs
//! translating. Nodes whose `status` is not "okay" are ignored.

pub mod channel;

use core::fmt;

use fdt::node::FdtNode;
use fdt::Fdt;

pub use channel::{ChannelLookup, ChannelNode, ChannelNodeError};

/// GICv2 compatibles (the CPU interface is memory-mapped).
pub const GICV2_COMPATIBLES: &[&str] = &["arm,gic-400", "arm,cortex-a15-gic", "arm,gic-v2"];
/// GICv3 compatibles (the CPU interface is the ICC system registers).
pub const GICV3_COMPATIBLES: &[&str] = &["arm,gic-v3"];
/// The Arm PrimeCell PL031 real-time clock.
pub const RTC_COMPATIBLES: &[&str] = &["arm,pl031"];
/// A Cadence UART (Xilinx Zynq / ZynqMP PS UART): the domain prints on it itself when it owns one.
pub const CADENCE_UART_COMPATIBLES: &[&str] = &["xlnx,zynqmp-uart", "cdns,uart-r1p12"];
/// The Arm generic timer.
pub const TIMER_COMPATIBLES: &[&str] = &["arm,armv8-timer"];

/// Index of the EL1 virtual timer in the timer node's `interrupts` (arm,arch_timer.yaml: secure
/// physical, non-secure physical, virtual, hypervisor physical).
const VIRTUAL_TIMER_INDEX: usize = 2;
/// GIC interrupt specifier type cell: 0 = SPI, 1 = PPI (arm,gic.yaml).
const PPI_TYPE: u32 = 1;
/// PPI n is INTID n + 16.
const FIRST_PPI_INTID: u32 = 16;
/// PPIs are INTIDs 16..32 (GICv3.1 extended PPIs are not used by the timer).
const PPI_COUNT: u32 = 16;

/// A range of physical (for a domain: intermediate physical) addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressRange {
    pub base: u64,
    pub size: u64,
}

impl AddressRange {
    pub const fn new(base: u64, size: u64) -> Self {
        Self { base, size }
    }

    /// One past the last address; `None` if the range wraps around.
    pub fn end(&self) -> Option<u64> {
        self.base.checked_add(self.size)
    }

    pub fn contains(&self, address: u64) -> bool {
        address >= self.base && self.end().is_none_or(|end| address < end)
    }
}

/// The GIC's register frames, by architecture version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicLayout {
    V2 {
        distributor: AddressRange,
        cpu_interface: AddressRange,
    },
    V3 {
        distributor: AddressRange,
        /// The first redistributor region (one frame pair per CPU).
        redistributors: AddressRange,
    },
}

impl GicLayout {
    /// 2 or 3.
    pub fn version(&self) -> u8 {
        match self {
            Self::V2 { .. } => 2,
            Self::V3 { .. } => 3,
        }
    }

    /// The distributor and the CPU-side frame (GICv2 CPU interface, GICv3 redistributors).
    pub fn regions(&self) -> [AddressRange; 2] {
        match *self {
            Self::V2 {
                distributor,
                cpu_interface,
            } => [distributor, cpu_interface],
            Self::V3 {
                distributor,
                redistributors,
            } => [distributor, redistributors],
        }
    }
}

/// What the secure domain uses of its machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Platform {
    /// The memory range that holds the image.
    pub memory: AddressRange,
    /// The PL031's register frame, if the domain owns one.
    pub rtc: Option<AddressRange>,
    pub gic: GicLayout,
    /// INTID of the EL1 virtual timer's PPI.
    pub virtual_timer_intid: u32,
    /// The register frame of a Cadence UART the domain owns: its console, instead of hyp-arm's
    /// CONSOLE_WRITE hypercall.
    pub cadence_uart: Option<AddressRange>,
    /// The first channel to hyp-arm (a ring region and its doorbell), if the tree has one.
    pub channel: ChannelLookup,
}

/// Why the device tree is unusable, each naming what is missing or wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformError {
    /// The blob fails the `fdt` crate's header checks (magic, size).
    NotADeviceTree,
    /// The tree has no root node.
    NoRoot,
    /// No `memory` node range contains the image's address.
    NoMemoryForImage { image_address: u64 },
    /// No enabled GICv2 or GICv3 node.
    NoGic,
    /// A node's `reg` is missing, has fewer entries than needed, or uses more than two cells.
    BadReg {
        node: &'static str,
        needed_entries: usize,
    },
    /// No enabled `arm,armv8-timer` node.
    NoTimer,
    /// The timer's `interrupts` do not give a virtual timer PPI.
    BadTimerInterrupt { why: &'static str },
}

impl fmt::Display for PlatformError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotADeviceTree => {
                formatter.write_str("x0 does not point to a valid flattened device tree")
            }
            Self::NoRoot => formatter.write_str("the device tree has no root node"),
            Self::NoMemoryForImage { image_address } => write!(
                formatter,
                "no memory node in the device tree contains the image at {image_address:#x}"
            ),
            Self::NoGic => formatter.write_str(
                "the device tree has no enabled GIC node (arm,gic-400, arm,cortex-a15-gic, \
                 arm,gic-v2 or arm,gic-v3) under the root or an identity-mapped simple-bus",
            ),
            Self::BadReg {
                node,
                needed_entries,
            } => write!(
                formatter,
                "the {node} node's reg needs {needed_entries} entries of at most two cells each"
            ),
            Self::NoTimer => formatter
                .write_str("the device tree has no enabled arm,armv8-timer node under the root or an identity-mapped simple-bus"),
            Self::BadTimerInterrupt { why } => {
                write!(formatter, "the arm,armv8-timer node's interrupts: {why}")
            }
        }
    }
}

/// Reads `tree` for a domain whose image starts at `image_address`.
pub fn parse(tree: &[u8], image_address: u64) -> Result<Platform, PlatformError> {
    let fdt = Fdt::new(tree).map_err(|_| PlatformError::NotADeviceTree)?;
    let root = fdt.find_node("/").ok_or(PlatformError::NoRoot)?;
    let memory = memory_containing(root, image_address)?;
    let rtc = match enabled_child(root, RTC_COMPATIBLES) {
        Some(node) => Some(reg_entries::<1>(node, "arm,pl031")?[0]),
        None => None,
    };
    let cadence_uart = match enabled_child(root, CADENCE_UART_COMPATIBLES) {
        Some(node) => Some(reg_entries::<1>(node, "Cadence UART")?[0]),
        None => None,
    };
    let (gic_node, gic) = if let Some(node) = enabled_child(root, GICV3_COMPATIBLES) {
        let [distributor, redistributors] = reg_entries::<2>(node, "arm,gic-v3")?;
        (
            node,
            GicLayout::V3 {
                distributor,
                redistributors,
            },
        )
    } else if let Some(node) = enabled_child(root, GICV2_COMPATIBLES) {
        let [distributor, cpu_interface] = reg_entries::<2>(node, "GICv2")?;
        (
            node,
            GicLayout::V2 {
                distributor,
                cpu_interface,
            },
        )
    } else {
        return Err(PlatformError::NoGic);
    };
    let timer = enabled_child(root, TIMER_COMPATIBLES).ok_or(PlatformError::NoTimer)?;
    let interrupt_cells = gic_node.interrupt_cells().unwrap_or(3);
    let virtual_timer_intid = virtual_timer_intid(timer, interrupt_cells)?;
    let channel = channel::first_channel(root, interrupt_cells);
    Ok(Platform {
        memory,
        rtc,
        gic,
        virtual_timer_intid,
        cadence_uart,
        channel,
    })
}

/// The first `reg` range of a root-level `memory` node that contains `image_address`.
fn memory_containing(
    root: FdtNode<'_, '_>,
    image_address: u64,
) -> Result<AddressRange, PlatformError> {
    root.children()
        .filter(|node| {
            node.property("device_type").and_then(|p| p.as_str()) == Some("memory")
                && is_enabled(*node)
        })
        .filter_map(|node| node.reg())
        .flatten()
        .map(|region| {
            AddressRange::new(
                region.starting_address as usize as u64,
                region.size.unwrap_or(0) as u64,
            )
        })
        .find(|range| range.contains(image_address))
        .ok_or(PlatformError::NoMemoryForImage { image_address })
}

/// The first enabled node compatible with any of `compatibles`, among the root's children and
/// then those of its identity-mapped buses.
fn enabled_child<'b, 'a>(root: FdtNode<'b, 'a>, compatibles: &[&str]) -> Option<FdtNode<'b, 'a>> {
    let wanted = |node: &FdtNode<'b, 'a>| {
        is_enabled(*node)
            && node
                .compatible()
                .is_some_and(|list| list.all().any(|name| compatibles.contains(&name)))
    };
    root.children().find(wanted).or_else(|| {
        root.children()
            .filter(|node| is_identity_bus(*node))
            .find_map(|bus| bus.children().find(wanted))
    })
}

/// An enabled `simple-bus` with an empty `ranges`: its children's addresses are the root's.
/// (Its `#address-cells`/`#size-cells` may differ from the root's; `reg` reads them.)
fn is_identity_bus(node: FdtNode<'_, '_>) -> bool {
    is_enabled(node)
        && node
            .compatible()
            .is_some_and(|list| list.all().any(|name| name == "simple-bus"))
        && node
            .property("ranges")
            .is_some_and(|ranges| ranges.value.is_empty())
}

/// A node without `status`, or with "okay" (or the older "ok"), is enabled.
fn is_enabled(node: FdtNode<'_, '_>) -> bool {
    match node.property("status") {
        None => true,
        Some(status) => matches!(status.as_str(), Some("okay" | "ok")),
    }
}

/// The first `N` entries of a node's `reg`.
fn reg_entries<const N: usize>(
    node: FdtNode<'_, '_>,
    name: &'static str,
) -> Result<[AddressRange; N], PlatformError> {
    let error = PlatformError::BadReg {
        node: name,
        needed_entries: N,
    };
    let mut entries = [AddressRange::new(0, 0); N];
    let mut regions = node.reg().ok_or(error)?;
    for entry in &mut entries {
        let region = regions.next().ok_or(error)?;
        *entry = AddressRange::new(
            region.starting_address as usize as u64,
            region.size.ok_or(error)? as u64,
        );
    }
    Ok(entries)
}

/// The virtual timer's INTID from the timer node's `interrupts`, whose specifiers have
/// `interrupt_cells` cells: type (PPI), number, flags (and a PPI partition with four).
fn virtual_timer_intid(
    timer: FdtNode<'_, '_>,
    interrupt_cells: usize,
) -> Result<u32, PlatformError> {
    let bad = |why| PlatformError::BadTimerInterrupt { why };
    if !(3..=4).contains(&interrupt_cells) {
        return Err(bad("the GIC's #interrupt-cells is not 3 or 4"));
    }
    let value = timer.property("interrupts").ok_or(bad("missing"))?.value;
    let entry_bytes = interrupt_cells * 4;
    let start = VIRTUAL_TIMER_INDEX * entry_bytes;
    let cell = |index: usize| -> Option<u32> {
        let bytes = value.get(start + index * 4..start + index * 4 + 4)?;
        Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    };
    let (Some(kind), Some(number)) = (cell(0), cell(1)) else {
        return Err(bad("fewer than three entries, so no virtual timer"));
    };
    if kind != PPI_TYPE {
        return Err(bad("the virtual timer (third entry) is not a PPI"));
    }
    if number >= PPI_COUNT {
        return Err(bad("the virtual timer's PPI number is above 15"));
    }
    Ok(number + FIRST_PPI_INTID)
}

#[cfg(test)]
mod tests;
