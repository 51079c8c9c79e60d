//! Walk over the memory-mapped part of the tree: the root's children and, recursively, the
//! children of every node with `ranges` (simple buses, but also wrappers such as Qualcomm's
//! QUP), with every `reg` translated to a CPU physical address.
//!
//! This is the one place that decides which nodes are memory-mapped and how their addresses
//! translate; the device list, the GIC and timer lookups and the guest tree builder all use it.
#![forbid(unsafe_code)]

use fdt::{node::FdtNode, Fdt};

use super::error::{NodeProblem, PlatformError};
use super::memory::MemoryRange;
use super::tree::{self, node_error, Cells, NodePath, Ranges};

/// Deepest nesting of buses (root included) that the walk follows.
pub const MAX_BUS_DEPTH: usize = 8;
/// Most `reg` entries read from one node.
pub const MAX_REG_ENTRIES: usize = 16;

/// A node's translated `reg` entries.
pub type RegList = heapless::Vec<MemoryRange, MAX_REG_ENTRIES>;

/// Root-level node names with a meaning of their own: never devices, never walked into.
const SPECIAL_ROOT_NODES: &[&str] = &[
    "cpus",
    "chosen",
    "aliases",
    "reserved-memory",
    "__symbols__",
    "__fixups__",
    "__local_fixups__",
];

/// What a bus (or the root) tells its children.
#[derive(Clone, Copy, Debug)]
pub struct Bus<'a> {
    /// The bus's `#address-cells`/`#size-cells`: how its children's `reg` is encoded.
    pub cells: Cells,
    /// Interrupt parent of children without `interrupt-parent`: the bus itself when it is an
    /// interrupt nexus or controller (`None` if it has no phandle), else the bus's own parent.
    pub interrupt_parent: Option<u32>,
    /// How child addresses map to the bus's parent; `None` for the root.
    pub ranges: Option<Ranges<'a>>,
    /// Whether this bus and every bus above it are enabled: children of a disabled bus are not
    /// devices, whatever their own `status` (Linux populates no device below a disabled node).
    pub enabled: bool,
}

/// A memory-mapped (or at least root-level) node, as the walk sees it.
#[derive(Clone, Debug)]
pub struct MappedNode<'a> {
    /// `reg` translated to CPU addresses; `None` when the node has no `reg`. An error here
    /// concerns this node alone, so the walk goes on.
    pub regs: Result<Option<RegList>, PlatformError>,
    /// Phandle of the node's interrupt parent (Devicetree Specification 2.4.1); `None` when it
    /// has none or it is a nexus without a phandle.
    pub interrupt_parent: Option<u32>,
    /// Set when the node has `ranges` and the walk visits its children: not for PCI buses
    /// (children in PCI space) nor interrupt controllers (children are parts of it, e.g. the ITS).
    pub bus: Option<Bus<'a>>,
    /// The node's own `status` allows it and so do all its buses'.
    pub enabled: bool,
}

/// The context the root gives its children.
pub(crate) fn root_bus<'a>(fdt: &Fdt<'a>) -> Result<Bus<'a>, PlatformError> {
    let root = tree::root(fdt)?;
    Ok(Bus {
        cells: tree::child_cells(root, "")?,
        interrupt_parent: tree::read_u32(root, "", "interrupt-parent")?,
        ranges: None,
        enabled: true,
    })
}

/// Classifies `node` (at `path`) whose ancestors are the buses in `chain` (root first); `None`
/// for the root-level nodes with a meaning of their own (/cpus, memory, /chosen, /aliases, ...).
pub(crate) fn examine<'a>(
    node: FdtNode<'_, 'a>,
    path: &str,
    chain: &[Bus<'a>],
) -> Result<Option<MappedNode<'a>>, PlatformError> {
    let Some(parent) = chain.last() else {
        return Ok(None);
    };
    if chain.len() == 1
        && (SPECIAL_ROOT_NODES.contains(&node.name.split('@').next().unwrap_or_default())
            || tree::read_string(node, path, "device_type")? == Some("memory"))
    {
        return Ok(None);
    }
    let interrupt_parent = match tree::read_u32(node, path, "interrupt-parent")? {
        Some(phandle) => Some(phandle),
        None => parent.interrupt_parent,
    };
    let regs = match tree::property(node, "reg") {
        None => Ok(None),
        Some(value) => translated_regs(value, path, chain).map(Some),
    };
    let is_bus = tree::property(node, "ranges").is_some()
        && tree::property(node, "interrupt-controller").is_none()
        && tree::read_string(node, path, "device_type")? != Some("pci");
    let cells = tree::child_cells(node, path)?;
    let enabled = parent.enabled && tree::is_enabled(node, path)?;
    // A bus with wider child addresses (PCI-like, e.g. NXP's fsl-mc) has no CPU-addressable
    // children: like a PCI bus, it is listed but not walked.
    let addressable = (1..=2).contains(&cells.address) && cells.size <= 2;
    let bus = if is_bus && addressable {
        // Devicetree Specification 2.4.1: without `interrupt-parent`, a node's interrupt parent
        // is its tree parent, skipping parents that are not controllers or nexuses.
        let children_interrupt_parent = if tree::property(node, "#interrupt-cells").is_some() {
            tree::phandle(node, path)?
        } else {
            interrupt_parent
        };
        Ranges::read(node, path, cells, parent.cells)?.map(|ranges| Bus {
            cells,
            interrupt_parent: children_interrupt_parent,
            ranges: Some(ranges),
            enabled,
        })
    } else {
        None
    };
    Ok(Some(MappedNode {
        regs,
        interrupt_parent,
        bus,
        enabled,
    }))
}

/// Decodes `reg` with the innermost bus's cells and translates every entry to a CPU address.
fn translated_regs(value: &[u8], path: &str, chain: &[Bus<'_>]) -> Result<RegList, PlatformError> {
    let Some(parent) = chain.last() else {
        return Ok(RegList::new());
    };
    let mut regs: RegList = tree::decode_ranges_list(value, parent.cells, path, "reg")?;
    for range in regs.iter_mut() {
        *range = translate(*range, chain)
            .ok_or_else(|| node_error(path, NodeProblem::Untranslatable { range: *range }))?;
    }
    Ok(regs)
}

/// Maps a range in the address space of `chain`'s innermost bus to a CPU address.
fn translate(range: MemoryRange, chain: &[Bus<'_>]) -> Option<MemoryRange> {
    chain
        .iter()
        .rev()
        .try_fold(range, |range, bus| match &bus.ranges {
            Some(ranges) => ranges.translate(range),
            None => Some(range),
        })
}

/// One node the walk yields.
#[derive(Clone, Debug)]
pub struct Visit<'b, 'a> {
    pub node: FdtNode<'b, 'a>,
    pub path: NodePath,
    pub mapped: MappedNode<'a>,
}

/// Every non-special node at the root and under simple buses, depth first, in tree order.
/// Yields at most one error, then stops.
pub(crate) fn mapped_nodes<'b, 'a>(
    fdt: &'b Fdt<'a>,
) -> impl Iterator<Item = Result<Visit<'b, 'a>, PlatformError>> + 'b {
    let mut chain: heapless::Vec<Bus<'a>, MAX_BUS_DEPTH> = heapless::Vec::new();
    let mut children = heapless::Vec::<_, MAX_BUS_DEPTH>::new();
    // Length of `path` at each level, to return to it when that level's children are done.
    let mut path_lengths: heapless::Vec<usize, MAX_BUS_DEPTH> = heapless::Vec::new();
    let mut pending_error = None;
    match tree::root(fdt).and_then(|root| Ok((root, root_bus(fdt)?))) {
        Ok((root, bus)) => {
            // Capacity is MAX_BUS_DEPTH >= 1, so the first push always succeeds.
            let _ = chain.push(bus);
            let _ = children.push(root.children());
            let _ = path_lengths.push(0);
        }
        Err(error) => pending_error = Some(error),
    }
    let mut path = NodePath::new();
    core::iter::from_fn(move || {
        if let Some(error) = pending_error.take() {
            children.clear();
            return Some(Err(error));
        }
        loop {
            let next_child = children.last_mut()?.next();
            let Some(node) = next_child else {
                children.pop();
                chain.pop();
                path_lengths.pop();
                path.truncate(path_lengths.last().copied().unwrap_or(0));
                continue;
            };
            let outcome = step(node, &mut path, &mut chain, &mut path_lengths);
            match outcome {
                Ok(None) => continue,
                Ok(Some(visit)) => {
                    if visit.mapped.bus.is_some() {
                        // `step` pushed the bus onto `chain` and `path_lengths`; this is its
                        // iterator. Capacity checked in `step`.
                        let _ = children.push(node.children());
                    }
                    return Some(Ok(visit));
                }
                Err(error) => {
                    children.clear();
                    return Some(Err(error));
                }
            }
        }
    })
}

/// Examines one child for `mapped_nodes`, entering it when it is a bus.
fn step<'b, 'a>(
    node: FdtNode<'b, 'a>,
    path: &mut NodePath,
    chain: &mut heapless::Vec<Bus<'a>, MAX_BUS_DEPTH>,
    path_lengths: &mut heapless::Vec<usize, MAX_BUS_DEPTH>,
) -> Result<Option<Visit<'b, 'a>>, PlatformError> {
    path.truncate(path_lengths.last().copied().unwrap_or(0));
    tree::push_component(path, node.name)?;
    let Some(mapped) = examine(node, path, chain)? else {
        return Ok(None);
    };
    if let Some(bus) = mapped.bus {
        if chain.push(bus).is_err() || path_lengths.push(path.len()).is_err() {
            return Err(node_error(
                path,
                NodeProblem::BusesTooDeep {
                    limit: MAX_BUS_DEPTH,
                },
            ));
        }
    }
    Ok(Some(Visit {
        node,
        path: path.clone(),
        mapped,
    }))
}
