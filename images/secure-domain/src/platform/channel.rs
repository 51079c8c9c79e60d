//! The domain's channel nodes (`compatible = "hyp-arm,channel-ring"`): the shared ring region
//! that hyp-arm and this domain map (docs/CHANNELS.md) and the doorbell SPI hyp-arm raises.
//!
//! A channel is optional: a tree without one, or with a broken one, still describes a domain
//! that can run (it just offers no service), so problems here are reported separately from the
//! [`PlatformError`](super::PlatformError)s that stop the domain.

use core::fmt;

use fdt::node::FdtNode;

use super::{is_enabled, AddressRange};

/// Compatibles of a channel node.
pub const CHANNEL_COMPATIBLES: &[&str] = &["hyp-arm,channel-ring"];
/// The ring region's base is page aligned: hyp-arm maps it with 4 KiB stage-2 pages.
pub const REGION_ALIGNMENT: u64 = 4096;
/// GIC interrupt specifier type cell: 0 = SPI (arm,gic.yaml).
const SPI_TYPE: u32 = 0;
/// SPI n is INTID n + 32.
const FIRST_SPI_INTID: u32 = 32;
/// INTIDs 1020-1023 are special, so SPI numbers stop at 987.
const SPI_COUNT: u32 = 988;

/// One usable channel node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelNode {
    /// Position among the tree's channel nodes, in tree order: the CHANNEL_NOTIFY argument.
    pub index: u32,
    /// The ring region (intermediate physical addresses under hyp-arm).
    pub region: AddressRange,
    /// INTID of the doorbell SPI.
    pub doorbell_intid: u32,
}

/// What the tree says about the domain's first enabled channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelLookup {
    /// No enabled channel node: the domain offers no service over a channel.
    Absent,
    Found(ChannelNode),
    /// The first enabled channel node cannot be used, for the reason given.
    Unusable {
        index: u32,
        error: ChannelNodeError,
    },
}

/// Why a channel node cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelNodeError {
    /// `reg` is missing, has no size, or uses more than two cells.
    BadReg,
    /// The region is empty, wraps around the address space, or is not page aligned.
    BadRegion { region: AddressRange },
    /// `interrupts` is missing or shorter than one specifier.
    NoInterrupt,
    /// The GIC's `#interrupt-cells` is not 3 or 4, so the specifier cannot be read.
    UnsupportedInterruptCells { cells: usize },
    /// The doorbell is not an SPI (specifier type `kind`).
    NotAnSpi { kind: u32 },
    /// The SPI number is beyond the GIC's INTID space.
    BadSpiNumber { number: u32 },
}

impl fmt::Display for ChannelNodeError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadReg => {
                formatter.write_str("its reg needs one entry (address and size, two cells each at most)")
            }
            Self::BadRegion { region } => write!(
                formatter,
                "its region {:#x} (+{:#x}) is empty, wraps, or is not {REGION_ALIGNMENT}-byte aligned",
                region.base, region.size
            ),
            Self::NoInterrupt => formatter.write_str("it has no interrupts property with a doorbell"),
            Self::UnsupportedInterruptCells { cells } => write!(
                formatter,
                "the GIC's #interrupt-cells is {cells}, not 3 or 4, so its doorbell cannot be read"
            ),
            Self::NotAnSpi { kind } => write!(
                formatter,
                "its doorbell has interrupt type {kind}; it must be an SPI (type 0)"
            ),
            Self::BadSpiNumber { number } => write!(
                formatter,
                "its doorbell SPI {number} is beyond the last SPI ({})",
                SPI_COUNT - 1
            ),
        }
    }
}

/// The first enabled channel node among `root`'s children, checked. Its index counts every
/// channel node before it in tree order, disabled ones included, so that it is the position
/// hyp-arm gave the channel when it wrote the tree.
pub(super) fn first_channel(root: FdtNode<'_, '_>, interrupt_cells: usize) -> ChannelLookup {
    let channels = root.children().filter(|node| {
        node.compatible()
            .is_some_and(|list| list.all().any(|name| CHANNEL_COMPATIBLES.contains(&name)))
    });
    for (index, node) in (0u32..).zip(channels) {
        if !is_enabled(node) {
            continue;
        }
        return match channel_node(node, index, interrupt_cells) {
            Ok(channel) => ChannelLookup::Found(channel),
            Err(error) => ChannelLookup::Unusable { index, error },
        };
    }
    ChannelLookup::Absent
}

fn channel_node(
    node: FdtNode<'_, '_>,
    index: u32,
    interrupt_cells: usize,
) -> Result<ChannelNode, ChannelNodeError> {
    let entry = node
        .reg()
        .and_then(|mut entries| entries.next())
        .ok_or(ChannelNodeError::BadReg)?;
    let size = entry.size.ok_or(ChannelNodeError::BadReg)?;
    let region = AddressRange::new(entry.starting_address as usize as u64, size as u64);
    if region.size == 0 || region.end().is_none() || !region.base.is_multiple_of(REGION_ALIGNMENT) {
        return Err(ChannelNodeError::BadRegion { region });
    }
    Ok(ChannelNode {
        index,
        region,
        doorbell_intid: doorbell_intid(node, interrupt_cells)?,
    })
}

/// The INTID of the node's first interrupt, which must be an SPI.
fn doorbell_intid(node: FdtNode<'_, '_>, interrupt_cells: usize) -> Result<u32, ChannelNodeError> {
    if !(3..=4).contains(&interrupt_cells) {
        return Err(ChannelNodeError::UnsupportedInterruptCells {
            cells: interrupt_cells,
        });
    }
    let value = node
        .property("interrupts")
        .ok_or(ChannelNodeError::NoInterrupt)?
        .value;
    let cell = |index: usize| -> Option<u32> {
        let bytes = value.get(index * 4..index * 4 + 4)?;
        Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    };
    // The whole specifier must be there, flags included, not just the two cells read.
    let (Some(kind), Some(number), Some(_flags)) = (cell(0), cell(1), cell(interrupt_cells - 1))
    else {
        return Err(ChannelNodeError::NoInterrupt);
    };
    if kind != SPI_TYPE {
        return Err(ChannelNodeError::NotAnSpi { kind });
    }
    if number >= SPI_COUNT {
        return Err(ChannelNodeError::BadSpiNumber { number });
    }
    Ok(number + FIRST_SPI_INTID)
}
