//! RAM and reserved regions: `device_type = "memory"` nodes, /memreserve/ and /reserved-memory.
#![forbid(unsafe_code)]

use fdt::Fdt;

use super::error::{MissingNode, NodeProblem, PlatformError};
use super::tree::{self, node_error, Cells, NodePath};

/// Most RAM ranges recorded.
pub const MAX_MEMORY_RANGES: usize = 16;
/// Most reserved ranges recorded.
pub const MAX_RESERVED_RANGES: usize = 64;

/// A range of addresses `[base, base + size)`; physical or guest-physical depending on use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MemoryRange {
    pub base: u64,
    pub size: u64,
}

impl MemoryRange {
    pub const fn new(base: u64, size: u64) -> Self {
        Self { base, size }
    }

    /// First address after the range (saturates at `u64::MAX` for a range that ends at 2^64).
    pub const fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }

    /// Whether the last byte's address fits in a `u64`.
    pub const fn is_representable(&self) -> bool {
        self.size == 0 || self.base.checked_add(self.size - 1).is_some()
    }

    /// Whether `address` lies in the range.
    pub const fn contains(&self, address: u64) -> bool {
        address >= self.base && address - self.base < self.size
    }

    /// Whether all of `other` lies in the range (an empty `other` needs only its base inside).
    pub const fn contains_range(&self, other: &MemoryRange) -> bool {
        other.base >= self.base
            && other.base - self.base <= self.size
            && other.size <= self.size - (other.base - self.base)
    }

    /// Whether the two ranges share at least one byte (empty ranges overlap nothing).
    pub const fn overlaps(&self, other: &MemoryRange) -> bool {
        if self.size == 0 || other.size == 0 {
            false
        } else if self.base <= other.base {
            other.base - self.base < self.size
        } else {
            self.base - other.base < other.size
        }
    }
}

/// RAM from every root-level `device_type = "memory"` node, all `reg` entries, in tree order.
/// Zero-sized entries (placeholders that firmware such as the Raspberry Pi's fills in) are skipped;
/// when nothing else is left, the error names the placeholder rather than claiming no node exists.
pub(crate) fn parse_memory(
    fdt: &Fdt<'_>,
) -> Result<heapless::Vec<MemoryRange, MAX_MEMORY_RANGES>, PlatformError> {
    let root = tree::root(fdt)?;
    let cells = tree::child_cells(root, "")?;
    let mut memory = heapless::Vec::new();
    let mut path = NodePath::new();
    // The first memory node whose `reg` holds only zero sizes: the tree of a board whose firmware
    // (Raspberry Pi, Qualcomm's ABL, HiSilicon's UEFI) writes the sizes at boot.
    let mut placeholder: Option<NodePath> = None;
    for node in root.children() {
        if tree::read_string(node, node.name, "device_type")? != Some("memory") {
            continue;
        }
        path.clear();
        tree::push_component(&mut path, node.name)?;
        let Some(value) = tree::property(node, "reg") else {
            return Err(node_error(
                &path,
                NodeProblem::MissingProperty {
                    property: "reg",
                    why: "a memory node",
                },
            ));
        };
        let ranges = tree::decode_ranges_list::<MAX_MEMORY_RANGES>(value, cells, &path, "reg")?;
        if placeholder.is_none() && ranges.iter().all(|range| range.size == 0) {
            placeholder = Some(path.clone());
        }
        for range in ranges.into_iter().filter(|range| range.size != 0) {
            memory.push(range).map_err(|_| {
                node_error(
                    &path,
                    NodeProblem::TooManyEntries {
                        property: "reg",
                        found: memory.len() + 1,
                        limit: MAX_MEMORY_RANGES,
                    },
                )
            })?;
        }
    }
    if memory.is_empty() {
        return Err(match placeholder {
            Some(path) => node_error(&path, NodeProblem::MemoryLeftToFirmware),
            None => PlatformError::Missing(MissingNode::Memory),
        });
    }
    Ok(memory)
}

/// /memreserve/ entries, then `reg` of each /reserved-memory child. Children with only `size`
/// (pools the OS allocates itself) have no fixed address and are not listed. The DTB blob itself
/// is not listed either: the caller knows where it lies and must add it.
pub(crate) fn parse_reserved(
    fdt: &Fdt<'_>,
) -> Result<heapless::Vec<MemoryRange, MAX_RESERVED_RANGES>, PlatformError> {
    let mut reserved = heapless::Vec::new();
    let too_many = |path: &str| {
        node_error(
            path,
            NodeProblem::TooManyEntries {
                property: "reserved ranges",
                found: MAX_RESERVED_RANGES + 1,
                limit: MAX_RESERVED_RANGES,
            },
        )
    };
    for reservation in fdt.memory_reservations() {
        let range = MemoryRange::new(reservation.address() as u64, reservation.size() as u64);
        reserved.push(range).map_err(|_| too_many("/memreserve/"))?;
    }
    let Some((reserved_memory, path)) = tree::find_by_path(fdt, "/reserved-memory")? else {
        return Ok(reserved);
    };
    let cells: Cells = tree::child_cells(reserved_memory, &path)?;
    let mut child_path = path.clone();
    for child in reserved_memory.children() {
        child_path.truncate(path.len());
        tree::push_component(&mut child_path, child.name)?;
        let Some(value) = tree::property(child, "reg") else {
            continue;
        };
        for range in
            tree::decode_ranges_list::<MAX_RESERVED_RANGES>(value, cells, &child_path, "reg")?
        {
            reserved.push(range).map_err(|_| too_many(&child_path))?;
        }
    }
    Ok(reserved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_arithmetic_handles_edges_without_overflow() {
        let range = MemoryRange::new(0x4000_0000, 0x8000_0000);
        assert_eq!(range.end(), 0xc000_0000);
        assert!(range.contains(0x4000_0000));
        assert!(range.contains(0xbfff_ffff));
        assert!(!range.contains(0xc000_0000));
        assert!(!range.contains(0x3fff_ffff));
        assert!(range.overlaps(&MemoryRange::new(0xbfff_f000, 0x2000)));
        assert!(!range.overlaps(&MemoryRange::new(0xc000_0000, 0x1000)));
        assert!(
            MemoryRange::new(0x1000, 0x1000).overlaps(&range)
                == range.overlaps(&MemoryRange::new(0x1000, 0x1000))
        );
        assert!(!range.overlaps(&MemoryRange::new(0x5000_0000, 0)));
        assert!(range.contains_range(&MemoryRange::new(0x4800_0000, 0x100_0000)));
        assert!(!range.contains_range(&MemoryRange::new(0xb000_0000, 0x2000_0000)));
        let top = MemoryRange::new(u64::MAX - 0xfff, 0x1000);
        assert!(top.is_representable());
        assert_eq!(top.end(), u64::MAX);
        assert!(top.contains(u64::MAX));
        assert!(!MemoryRange::new(u64::MAX, 2).is_representable());
    }
}
