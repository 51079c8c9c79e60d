//! Reading nodes and property values of a validated tree, with errors that name the node.
//!
//! The `fdt` crate gives raw property bytes; everything here decodes them without trusting
//! their length or encoding, so bad firmware data becomes a [`PlatformError`], never a panic.
#![forbid(unsafe_code)]

use fdt::{node::FdtNode, Fdt};

use super::error::{NodeProblem, PlatformError};
use super::memory::MemoryRange;

/// Longest node path we record (bytes); longer paths are an error.
pub const MAX_PATH_LENGTH: usize = 128;
/// Deepest node nesting accepted (the root is depth 1); bounds every recursive walk.
pub const MAX_DEPTH: usize = 16;

/// A node's full path, e.g. `/platform-bus@c000000/uart@1000`.
pub type NodePath = heapless::String<MAX_PATH_LENGTH>;

/// `#address-cells` / `#size-cells` that a node gives its children.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cells {
    pub address: u32,
    pub size: u32,
}

impl Cells {
    /// Defaults when the properties are absent (Devicetree Specification v0.4, 2.3.5).
    pub const DEFAULT: Cells = Cells {
        address: 2,
        size: 1,
    };
}

/// Builds the error "`path`: `problem`".
pub(crate) fn node_error(path: &str, problem: NodeProblem) -> PlatformError {
    let mut node = NodePath::new();
    // Paths come from a NodePath or the blob's own (validated) names, so they fit; if one ever
    // did not, a shortened path in an error message is harmless.
    let shown = if path.is_empty() { "/" } else { path };
    for character in shown.chars() {
        if node.push(character).is_err() {
            break;
        }
    }
    PlatformError::Node {
        path: node,
        problem,
    }
}

/// Appends `/name` to `path` (whose root is the empty string).
pub(crate) fn push_component(path: &mut NodePath, name: &str) -> Result<(), PlatformError> {
    let parent_length = path.len();
    if path.push('/').is_err() || path.push_str(name).is_err() {
        path.truncate(parent_length);
        return Err(node_error(path, NodeProblem::PathTooLong));
    }
    Ok(())
}

/// The root node. Present in every tree that passed `blob::validate`.
pub(crate) fn root<'b, 'a>(fdt: &'b Fdt<'a>) -> Result<FdtNode<'b, 'a>, PlatformError> {
    fdt.find_node("/")
        .ok_or(PlatformError::Missing(super::error::MissingNode::Root))
}

/// Raw value of property `name`, if present.
pub(crate) fn property<'a>(node: FdtNode<'_, 'a>, name: &str) -> Option<&'a [u8]> {
    node.property(name).map(|property| property.value)
}

/// A single-cell (`u32`) property.
pub(crate) fn read_u32(
    node: FdtNode<'_, '_>,
    path: &str,
    name: &'static str,
) -> Result<Option<u32>, PlatformError> {
    match property(node, name) {
        None => Ok(None),
        Some(&[a, b, c, d]) => Ok(Some(u32::from_be_bytes([a, b, c, d]))),
        Some(value) => Err(node_error(
            path,
            NodeProblem::BadPropertyLength {
                property: name,
                length: value.len(),
                expected: "4 bytes (one cell)",
            },
        )),
    }
}

/// The node's `phandle` (or legacy `linux,phandle`).
pub(crate) fn phandle(node: FdtNode<'_, '_>, path: &str) -> Result<Option<u32>, PlatformError> {
    match read_u32(node, path, "phandle")? {
        Some(phandle) => Ok(Some(phandle)),
        None => read_u32(node, path, "linux,phandle"),
    }
}

/// A list of NUL-separated strings (`compatible`, `clock-names`, ...), checked to be UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StringList<'a>(&'a str);

impl<'a> StringList<'a> {
    /// Decodes a property value: one or more NUL-terminated UTF-8 strings.
    pub fn decode(value: &'a [u8]) -> Option<Self> {
        let (&last, _) = value.split_last()?;
        if last != 0 {
            return None;
        }
        core::str::from_utf8(&value[..value.len() - 1])
            .ok()
            .map(StringList)
    }

    /// The strings in order.
    pub fn iter(self) -> impl Iterator<Item = &'a str> {
        self.0.split('\0')
    }

    /// The first string (the most specific `compatible`).
    pub fn first(self) -> &'a str {
        self.iter().next().unwrap_or_default()
    }

    /// Whether any string equals one of `candidates`.
    pub fn contains_any(self, candidates: &[&str]) -> bool {
        self.iter().any(|string| candidates.contains(&string))
    }
}

/// A string-list property, `None` when absent.
pub(crate) fn read_string_list<'a>(
    node: FdtNode<'_, 'a>,
    path: &str,
    name: &'static str,
) -> Result<Option<StringList<'a>>, PlatformError> {
    match property(node, name) {
        None => Ok(None),
        Some(value) => StringList::decode(value)
            .map(Some)
            .ok_or_else(|| node_error(path, NodeProblem::NotAString { property: name })),
    }
}

/// A single-string property, `None` when absent.
pub(crate) fn read_string<'a>(
    node: FdtNode<'_, 'a>,
    path: &str,
    name: &'static str,
) -> Result<Option<&'a str>, PlatformError> {
    match read_string_list(node, path, name)? {
        None => Ok(None),
        Some(list) if !list.0.contains('\0') => Ok(Some(list.0)),
        Some(_) => Err(node_error(path, NodeProblem::NotAString { property: name })),
    }
}

/// The node's `compatible` list, `None` when absent.
pub(crate) fn compatible<'a>(
    node: FdtNode<'_, 'a>,
    path: &str,
) -> Result<Option<StringList<'a>>, PlatformError> {
    read_string_list(node, path, "compatible")
}

/// Whether the node's `status` lets it be used (absent, "okay" or "ok").
pub(crate) fn is_enabled(node: FdtNode<'_, '_>, path: &str) -> Result<bool, PlatformError> {
    Ok(matches!(
        read_string(node, path, "status")?,
        None | Some("okay" | "ok")
    ))
}

/// `#address-cells` / `#size-cells` of `node`, for its children.
pub(crate) fn child_cells(node: FdtNode<'_, '_>, path: &str) -> Result<Cells, PlatformError> {
    Ok(Cells {
        address: read_u32(node, path, "#address-cells")?.unwrap_or(Cells::DEFAULT.address),
        size: read_u32(node, path, "#size-cells")?.unwrap_or(Cells::DEFAULT.size),
    })
}

/// Big-endian value of 0, 1 or 2 cells (`bytes.len()` of 0, 4 or 8).
pub(crate) fn cells_value(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0u64, |value, &byte| value << 8 | u64::from(byte))
}

/// Rejects cell counts we cannot hold in a `u64` (PCI's 3-cell addresses, for one).
fn check_cells(path: &str, property: &'static str, cells: Cells) -> Result<(), PlatformError> {
    for (name, value) in [
        ("#address-cells", cells.address),
        ("#size-cells", cells.size),
    ] {
        if value > 2 {
            return Err(node_error(
                path,
                NodeProblem::CellsUnsupported {
                    property,
                    cells: name,
                    value,
                },
            ));
        }
    }
    if cells.address == 0 {
        return Err(node_error(
            path,
            NodeProblem::CellsUnsupported {
                property,
                cells: "#address-cells",
                value: 0,
            },
        ));
    }
    Ok(())
}

/// Decodes an (address, size) list such as `reg` with the parent's `cells`.
pub(crate) fn decode_ranges_list<const N: usize>(
    value: &[u8],
    cells: Cells,
    path: &str,
    property: &'static str,
) -> Result<heapless::Vec<MemoryRange, N>, PlatformError> {
    check_cells(path, property, cells)?;
    let address_bytes = cells.address as usize * 4;
    let entry_bytes = address_bytes + cells.size as usize * 4;
    if !value.len().is_multiple_of(entry_bytes) {
        return Err(node_error(
            path,
            NodeProblem::BadEntryLength {
                property,
                length: value.len(),
                address_cells: cells.address,
                size_cells: cells.size,
            },
        ));
    }
    let mut ranges = heapless::Vec::new();
    for entry in value.chunks_exact(entry_bytes) {
        let (address, size) = entry.split_at(address_bytes);
        let range = MemoryRange::new(cells_value(address), cells_value(size));
        if !range.is_representable() {
            return Err(node_error(
                path,
                NodeProblem::AddressOverflow { property, range },
            ));
        }
        ranges.push(range).map_err(|_| {
            node_error(
                path,
                NodeProblem::TooManyEntries {
                    property,
                    found: value.len() / entry_bytes,
                    limit: N,
                },
            )
        })?;
    }
    Ok(ranges)
}

/// The `ranges` property of a bus: how child addresses map to the parent's.
#[derive(Clone, Copy, Debug)]
pub struct Ranges<'a> {
    value: &'a [u8],
    child_address_cells: u32,
    parent_address_cells: u32,
    size_cells: u32,
}

impl<'a> Ranges<'a> {
    /// Reads `ranges` of a bus with child `cells`, inside a parent with `parent_cells`.
    /// `None` when the bus has no `ranges` (its children are then not memory-mapped).
    pub(crate) fn read(
        bus: FdtNode<'_, 'a>,
        path: &str,
        cells: Cells,
        parent_cells: Cells,
    ) -> Result<Option<Self>, PlatformError> {
        let Some(value) = property(bus, "ranges") else {
            return Ok(None);
        };
        check_cells(path, "ranges", cells)?;
        check_cells(path, "ranges", parent_cells)?;
        let ranges = Ranges {
            value,
            child_address_cells: cells.address,
            parent_address_cells: parent_cells.address,
            size_cells: cells.size,
        };
        if !value.len().is_multiple_of(ranges.entry_bytes()) {
            return Err(node_error(
                path,
                NodeProblem::BadEntryLength {
                    property: "ranges",
                    length: value.len(),
                    address_cells: cells.address + parent_cells.address,
                    size_cells: cells.size,
                },
            ));
        }
        Ok(Some(ranges))
    }

    fn entry_bytes(&self) -> usize {
        (self.child_address_cells + self.parent_address_cells + self.size_cells) as usize * 4
    }

    /// Maps a child-address range into the parent's address space; `None` when no single
    /// window covers all of it. An empty `ranges` is the identity map.
    pub(crate) fn translate(&self, range: MemoryRange) -> Option<MemoryRange> {
        if self.value.is_empty() {
            return Some(range);
        }
        let child_bytes = self.child_address_cells as usize * 4;
        let parent_bytes = self.parent_address_cells as usize * 4;
        self.value
            .chunks_exact(self.entry_bytes())
            .find_map(|entry| {
                let child_base = cells_value(&entry[..child_bytes]);
                let parent_base = cells_value(&entry[child_bytes..child_bytes + parent_bytes]);
                let window = MemoryRange::new(
                    child_base,
                    cells_value(&entry[child_bytes + parent_bytes..]),
                );
                let offset = range.base.checked_sub(window.base)?;
                // The whole range must sit inside the window (`offset + size <= window size`).
                if offset > window.size || range.size > window.size - offset {
                    return None;
                }
                let translated = MemoryRange::new(parent_base.checked_add(offset)?, range.size);
                translated.is_representable().then_some(translated)
            })
    }
}

/// Finds the node at an absolute `path`; a component without `@unit` matches a node name
/// with one (as in `stdout-path = "/pl011"`). Returns the node and its canonical path.
pub(crate) fn find_by_path<'b, 'a>(
    fdt: &'b Fdt<'a>,
    path: &str,
) -> Result<Option<(FdtNode<'b, 'a>, NodePath)>, PlatformError> {
    let mut node = root(fdt)?;
    let mut canonical = NodePath::new();
    for component in path.split('/').filter(|component| !component.is_empty()) {
        let matches = |name: &str| {
            name == component
                || (!component.contains('@') && name.split('@').next() == Some(component))
        };
        match node.children().find(|child| matches(child.name)) {
            Some(child) => {
                push_component(&mut canonical, child.name)?;
                node = child;
            }
            None => return Ok(None),
        }
    }
    Ok(Some((node, canonical)))
}

/// Resolves a path that may start with an alias (`serial0`, `serial0/child`) through `/aliases`.
pub(crate) fn resolve_path<'b, 'a>(
    fdt: &'b Fdt<'a>,
    path_or_alias: &str,
) -> Result<Option<(FdtNode<'b, 'a>, NodePath)>, PlatformError> {
    if path_or_alias.starts_with('/') {
        return find_by_path(fdt, path_or_alias);
    }
    let (alias, rest) = path_or_alias.split_once('/').unwrap_or((path_or_alias, ""));
    let Some((aliases, aliases_path)) = find_by_path(fdt, "/aliases")? else {
        return Ok(None);
    };
    let Some(target) = aliases.properties().find(|property| property.name == alias) else {
        return Ok(None);
    };
    let target = StringList::decode(target.value)
        .filter(|list| list.0.starts_with('/') && !list.0.contains('\0'))
        .ok_or_else(|| node_error(&aliases_path, NodeProblem::BadAlias))?;
    let mut full: heapless::String<{ 2 * MAX_PATH_LENGTH }> = heapless::String::new();
    let fits =
        full.push_str(target.0).is_ok() && full.push('/').is_ok() && full.push_str(rest).is_ok();
    if !fits {
        return Err(node_error(&aliases_path, NodeProblem::PathTooLong));
    }
    find_by_path(fdt, &full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_lists_decode_only_nul_terminated_utf8() {
        let list = StringList::decode(b"arm,pl011\0arm,primecell\0").expect("valid list");
        assert_eq!(list.first(), "arm,pl011");
        assert!(list.contains_any(&["arm,primecell"]));
        assert_eq!(list.iter().count(), 2);
        assert!(StringList::decode(b"no terminator").is_none());
        assert!(StringList::decode(b"").is_none());
        assert!(StringList::decode(b"\xff\0").is_none());
    }

    #[test]
    fn reg_lists_reject_lengths_that_are_not_whole_entries() {
        let cells = Cells {
            address: 2,
            size: 2,
        };
        let error = decode_ranges_list::<4>(&[0; 12], cells, "/uart@0", "reg").unwrap_err();
        assert_eq!(
            error.to_string(),
            "/uart@0: `reg` is 12 bytes, not a whole number of entries of 2 address + 2 size cells (16 bytes)"
        );
        let ranges = decode_ranges_list::<4>(
            &[0, 0, 0, 1, 0, 0, 0, 2],
            Cells {
                address: 1,
                size: 1,
            },
            "/x",
            "reg",
        )
        .expect("one entry");
        assert_eq!(ranges.as_slice(), &[MemoryRange::new(1, 2)]);
    }

    #[test]
    fn ranges_translate_whole_windows_only() {
        // child 0x0 -> parent 0xc000000, size 0x2000000 (QEMU's platform bus)
        let value = [0u32, 0, 0x0c00_0000, 0x0200_0000]
            .map(u32::to_be_bytes)
            .concat();
        let ranges = Ranges {
            value: &value,
            child_address_cells: 1,
            parent_address_cells: 2,
            size_cells: 1,
        };
        assert_eq!(
            ranges.translate(MemoryRange::new(0x1000, 0x100)),
            Some(MemoryRange::new(0x0c00_1000, 0x100))
        );
        assert_eq!(ranges.translate(MemoryRange::new(0x1ff_ff00, 0x200)), None);
        let identity = Ranges {
            value: &[],
            child_address_cells: 2,
            parent_address_cells: 2,
            size_cells: 2,
        };
        assert_eq!(
            identity.translate(MemoryRange::new(5, 6)),
            Some(MemoryRange::new(5, 6))
        );
    }
}
