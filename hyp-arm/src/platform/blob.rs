//! Structural check of a flattened device tree blob before the `fdt` crate reads it.
//!
//! The `fdt` crate (0.1.5) trusts its input: a truncated property, a dangling string offset, an
//! FDT_NOP between properties or a tree deeper than 64 levels makes it panic or slice out of
//! bounds. Firmware hands us the blob, so we walk the structure block once here, with every offset
//! checked, and only then give it to `fdt`. After [`validate`] succeeds, every `fdt` call that
//! this crate makes on the blob is known not to panic.
#![forbid(unsafe_code)]

use core::fmt;

use super::tree::{NodePath, MAX_DEPTH};

/// FDT header magic (Devicetree Specification v0.4, 5.2).
pub const FDT_MAGIC: u32 = 0xd00d_feed;
/// Size of the v17 header in bytes.
pub const HEADER_SIZE: usize = 40;

const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;

/// What is wrong with a blob, found before any node is interpreted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobError {
    /// Fewer bytes than the header needs.
    TooShortForHeader { length: usize },
    /// The first word is not 0xd00dfeed.
    BadMagic { found: u32 },
    /// The header's `totalsize` exceeds the bytes we were given.
    Truncated { total_size: u32, available: usize },
    /// Version older than 17 (no `size_dt_struct`), or a layout we cannot read.
    UnsupportedVersion {
        version: u32,
        last_compatible_version: u32,
    },
    /// A block's offset/size from the header does not fit in `totalsize`, or is misaligned.
    BlockOutOfBounds {
        block: &'static str,
        offset: u32,
        size: u32,
        total_size: u32,
    },
    /// The memory reservation block has no terminating all-zero entry.
    UnterminatedReservations,
    /// The structure block is malformed at `offset` (relative to the structure block).
    Structure {
        node: NodePath,
        offset: usize,
        problem: StructureProblem,
    },
}

/// A malformed spot in the structure block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StructureProblem {
    /// A token that is not BEGIN_NODE, END_NODE, PROP or END.
    UnknownToken(u32),
    /// FDT_NOP: legal, but the `fdt` crate mis-parses it between properties and child nodes.
    NopToken,
    /// The first token is not the root node, or a second root follows the first.
    NotOneRoot,
    /// A node name without a NUL terminator inside the block.
    NameUnterminated,
    /// A node or property name that is not UTF-8.
    NameNotUtf8,
    /// The root node has a name (it must be empty).
    RootNamed,
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep,
    /// The node's full path does not fit in a [`NodePath`].
    PathTooLong,
    /// A property's value runs past the end of the structure block.
    PropertyPastEnd,
    /// A property after a child node (Devicetree Specification 5.4.2 puts properties first).
    PropertyAfterChild,
    /// A property outside any node.
    PropertyOutsideNode,
    /// A property name offset outside the strings block, or not NUL-terminated within it.
    NameOffsetOutOfRange(u32),
    /// `#address-cells`, `#size-cells` or `#interrupt-cells` is not one 32-bit cell.
    BadCellsProperty(&'static str),
    /// END_NODE with no node open.
    UnbalancedEndNode,
    /// FDT_END while nodes are open, or the block ends without FDT_END.
    MissingEnd,
}

impl fmt::Display for StructureProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownToken(token) => write!(formatter, "unknown token {token:#x}"),
            Self::NopToken => formatter.write_str(
                "FDT_NOP token: not supported (the fdt crate mis-parses NOPs between properties)",
            ),
            Self::NotOneRoot => {
                formatter.write_str("the structure block must hold exactly one root node")
            }
            Self::NameUnterminated => formatter.write_str("node name is not NUL-terminated"),
            Self::NameNotUtf8 => formatter.write_str("name is not UTF-8"),
            Self::RootNamed => formatter.write_str("the root node has a non-empty name"),
            Self::TooDeep => write!(formatter, "nodes nested deeper than {MAX_DEPTH} levels"),
            Self::PathTooLong => write!(
                formatter,
                "node path longer than {} bytes",
                super::tree::MAX_PATH_LENGTH
            ),
            Self::PropertyPastEnd => {
                formatter.write_str("property value runs past the structure block")
            }
            Self::PropertyAfterChild => formatter.write_str("property after a child node"),
            Self::PropertyOutsideNode => formatter.write_str("property outside any node"),
            Self::NameOffsetOutOfRange(offset) => {
                write!(
                    formatter,
                    "property name offset {offset:#x} is outside the strings block"
                )
            }
            Self::BadCellsProperty(name) => {
                write!(formatter, "`{name}` is not a single 32-bit cell")
            }
            Self::UnbalancedEndNode => formatter.write_str("FDT_END_NODE with no node open"),
            Self::MissingEnd => formatter.write_str("no FDT_END after the root node"),
        }
    }
}

impl fmt::Display for BlobError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("device tree blob: ")?;
        match self {
            Self::TooShortForHeader { length } => {
                write!(formatter, "{length} bytes, shorter than the {HEADER_SIZE}-byte header")
            }
            Self::BadMagic { found } => {
                write!(formatter, "bad magic {found:#010x} (expected {FDT_MAGIC:#010x}): not a DTB")
            }
            Self::Truncated { total_size, available } => write!(
                formatter,
                "header says {total_size} bytes but only {available} are available (truncated)"
            ),
            Self::UnsupportedVersion { version, last_compatible_version } => write!(
                formatter,
                "version {version} (last compatible {last_compatible_version}) is unsupported: need 17"
            ),
            Self::BlockOutOfBounds { block, offset, size, total_size } => write!(
                formatter,
                "{block} block at offset {offset:#x}, size {size:#x}, is misaligned or does not fit in {total_size:#x} bytes"
            ),
            Self::UnterminatedReservations => {
                formatter.write_str("memory reservation block has no terminating empty entry")
            }
            Self::Structure { node, offset, problem } => {
                let node = if node.is_empty() { "/" } else { node.as_str() };
                write!(formatter, "node {node} (structure offset {offset:#x}): {problem}")
            }
        }
    }
}

/// Header fields we need after validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub total_size: usize,
}

fn be32(bytes: &[u8], offset: usize) -> Option<u32> {
    let word = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_be_bytes([word[0], word[1], word[2], word[3]]))
}

fn align4(value: usize) -> Option<usize> {
    value.checked_add(3).map(|value| value & !3)
}

/// Checks the header, block bounds and the whole structure block of `dtb`.
pub fn validate(dtb: &[u8]) -> Result<Header, BlobError> {
    if dtb.len() < HEADER_SIZE {
        return Err(BlobError::TooShortForHeader { length: dtb.len() });
    }
    // The length check above makes every header read below succeed.
    let field = |index: usize| be32(dtb, index * 4).unwrap_or(0);
    let magic = field(0);
    if magic != FDT_MAGIC {
        return Err(BlobError::BadMagic { found: magic });
    }
    let total_size = field(1);
    if total_size as usize > dtb.len() {
        return Err(BlobError::Truncated {
            total_size,
            available: dtb.len(),
        });
    }
    let (version, last_compatible_version) = (field(5), field(6));
    if version < 17 || last_compatible_version > 17 {
        return Err(BlobError::UnsupportedVersion {
            version,
            last_compatible_version,
        });
    }
    let blob = &dtb[..total_size as usize];
    let check_block = |block: &'static str, offset: u32, size: u32, alignment: u32| {
        let fits = offset
            .checked_add(size)
            .is_some_and(|end| end <= total_size);
        if fits && offset.is_multiple_of(alignment) && offset as usize >= HEADER_SIZE {
            Ok((offset as usize, size as usize))
        } else {
            Err(BlobError::BlockOutOfBounds {
                block,
                offset,
                size,
                total_size,
            })
        }
    };
    let (structure_offset, structure_size) = check_block("structure", field(2), field(9), 4)?;
    let (strings_offset, strings_size) = check_block("strings", field(3), field(8), 1)?;
    let (reservations_offset, _) = check_block("memory reservation", field(4), 0, 8)?;
    check_reservations(&blob[reservations_offset..])?;
    let structure = &blob[structure_offset..structure_offset + structure_size];
    let strings = &blob[strings_offset..strings_offset + strings_size];
    StructureWalk {
        structure,
        strings,
        path: NodePath::new(),
        path_lengths: [0; MAX_DEPTH + 1],
    }
    .run()?;
    Ok(Header {
        total_size: total_size as usize,
    })
}

/// Removes the FDT_NOP tokens from `dtb`'s structure block in place, moving the tokens after
/// each one down and shrinking `size_dt_struct` (the strings block stays where the header says:
/// the gap is legal). Returns how many were removed.
///
/// Loaders write NOPs where they delete something: QEMU, given a `-dtb`, NOPs out the memory
/// nodes it replaces. The `fdt` crate mis-parses them, so the hypervisor removes them before
/// [`validate`]. Anything it does not understand ends the pass and is left for `validate` to
/// report; it never reads or writes outside `dtb`.
pub fn remove_nops(dtb: &mut [u8]) -> usize {
    let field = |dtb: &[u8], index: usize| be32(dtb, index * 4).map(|value| value as usize);
    let (Some(FDT_MAGIC_USIZE), Some(start), Some(size)) =
        (field(dtb, 0), field(dtb, 2), field(dtb, 9))
    else {
        return 0;
    };
    let Some(end) = start.checked_add(size).filter(|&end| end <= dtb.len()) else {
        return 0;
    };
    let (mut read, mut write) = (start, start);
    while let Some(token) = be32(&dtb[..end], read) {
        let length = match token {
            FDT_BEGIN_NODE => dtb[read + 4..end]
                .iter()
                .position(|&byte| byte == 0)
                .and_then(|name_length| align4(4 + name_length + 1)),
            FDT_PROP => be32(&dtb[..end], read + 4)
                .and_then(|value_length| align4(12 + value_length as usize)),
            FDT_END_NODE | FDT_NOP | FDT_END => Some(4),
            _ => None,
        };
        let Some(next) = length
            .and_then(|length| read.checked_add(length))
            .filter(|&next| next <= end)
        else {
            break;
        };
        if token != FDT_NOP {
            dtb.copy_within(read..next, write);
            write += next - read;
        }
        read = next;
        if token == FDT_END {
            break;
        }
    }
    // Whatever the pass did not reach moves down unchanged.
    dtb.copy_within(read..end, write);
    let new_end = write + (end - read);
    let removed = (end - new_end) / 4;
    if removed > 0 {
        let new_size = (new_end - start) as u32;
        dtb[9 * 4..10 * 4].copy_from_slice(&new_size.to_be_bytes());
    }
    removed
}

/// [`FDT_MAGIC`] as the header field reader returns it.
const FDT_MAGIC_USIZE: usize = FDT_MAGIC as usize;

fn check_reservations(block: &[u8]) -> Result<(), BlobError> {
    for entry in block.chunks_exact(16) {
        if entry.iter().all(|&byte| byte == 0) {
            return Ok(());
        }
    }
    Err(BlobError::UnterminatedReservations)
}

/// State of the single pass over the structure block.
struct StructureWalk<'a> {
    structure: &'a [u8],
    strings: &'a [u8],
    path: NodePath,
    /// `path.len()` before each open node's name was appended, to pop it at END_NODE.
    path_lengths: [usize; MAX_DEPTH + 1],
}

impl<'a> StructureWalk<'a> {
    fn error(&self, offset: usize, problem: StructureProblem) -> BlobError {
        BlobError::Structure {
            node: self.path.clone(),
            offset,
            problem,
        }
    }

    fn run(&mut self) -> Result<(), BlobError> {
        let mut offset = 0;
        let mut depth = 0usize;
        let mut roots_seen = 0;
        // Properties are allowed only right after BEGIN_NODE or another property.
        let mut property_allowed = false;
        loop {
            let token = be32(self.structure, offset)
                .ok_or_else(|| self.error(offset, StructureProblem::MissingEnd))?;
            let token_offset = offset;
            offset += 4;
            match token {
                FDT_BEGIN_NODE => {
                    if depth == 0 {
                        roots_seen += 1;
                        if roots_seen > 1 {
                            return Err(self.error(token_offset, StructureProblem::NotOneRoot));
                        }
                    }
                    if depth == MAX_DEPTH {
                        return Err(self.error(token_offset, StructureProblem::TooDeep));
                    }
                    let name = self.name_at(offset)?;
                    if depth == 0 && !name.is_empty() {
                        return Err(self.error(token_offset, StructureProblem::RootNamed));
                    }
                    self.path_lengths[depth] = self.path.len();
                    if depth > 0 && self.push_path(name).is_err() {
                        return Err(self.error(token_offset, StructureProblem::PathTooLong));
                    }
                    depth += 1;
                    offset = align4(offset + name.len() + 1)
                        .ok_or_else(|| self.error(offset, StructureProblem::NameUnterminated))?;
                    property_allowed = true;
                }
                FDT_END_NODE => {
                    if depth == 0 {
                        return Err(self.error(token_offset, StructureProblem::UnbalancedEndNode));
                    }
                    depth -= 1;
                    self.path.truncate(self.path_lengths[depth]);
                    property_allowed = false;
                }
                FDT_PROP => {
                    if depth == 0 {
                        return Err(self.error(token_offset, StructureProblem::PropertyOutsideNode));
                    }
                    if !property_allowed {
                        return Err(self.error(token_offset, StructureProblem::PropertyAfterChild));
                    }
                    offset = self.property_at(offset, token_offset)?;
                }
                FDT_NOP => return Err(self.error(token_offset, StructureProblem::NopToken)),
                FDT_END => {
                    if depth != 0 || roots_seen != 1 {
                        return Err(self.error(token_offset, StructureProblem::MissingEnd));
                    }
                    return Ok(());
                }
                other => {
                    return Err(self.error(token_offset, StructureProblem::UnknownToken(other)))
                }
            }
        }
    }

    fn push_path(&mut self, name: &str) -> Result<(), ()> {
        self.path.push('/').map_err(drop)?;
        self.path.push_str(name).map_err(drop)
    }

    /// The NUL-terminated UTF-8 node name starting at `offset`.
    fn name_at(&self, offset: usize) -> Result<&'a str, BlobError> {
        let rest = self.structure.get(offset..).unwrap_or_default();
        let length = rest
            .iter()
            .position(|&byte| byte == 0)
            .ok_or_else(|| self.error(offset, StructureProblem::NameUnterminated))?;
        core::str::from_utf8(&rest[..length])
            .map_err(|_| self.error(offset, StructureProblem::NameNotUtf8))
    }

    /// Checks the property whose header starts at `offset`; returns the offset after it.
    fn property_at(&self, offset: usize, token_offset: usize) -> Result<usize, BlobError> {
        let past_end = || self.error(token_offset, StructureProblem::PropertyPastEnd);
        let length = be32(self.structure, offset).ok_or_else(past_end)? as usize;
        let name_offset = be32(self.structure, offset + 4).ok_or_else(past_end)?;
        let value_start = offset + 8;
        let value_end = value_start.checked_add(length).ok_or_else(past_end)?;
        if value_end > self.structure.len() {
            return Err(past_end());
        }
        let name = self.string_at(name_offset, token_offset)?;
        let cells_property = ["#address-cells", "#size-cells", "#interrupt-cells"]
            .into_iter()
            .find(|&cells| cells == name);
        if let Some(cells_property) = cells_property {
            if length != 4 {
                return Err(self.error(
                    token_offset,
                    StructureProblem::BadCellsProperty(cells_property),
                ));
            }
        }
        align4(value_end).ok_or_else(past_end)
    }

    fn string_at(&self, name_offset: u32, token_offset: usize) -> Result<&'a str, BlobError> {
        let out_of_range = || {
            self.error(
                token_offset,
                StructureProblem::NameOffsetOutOfRange(name_offset),
            )
        };
        let rest = self
            .strings
            .get(name_offset as usize..)
            .ok_or_else(out_of_range)?;
        let length = rest
            .iter()
            .position(|&byte| byte == 0)
            .ok_or_else(out_of_range)?;
        core::str::from_utf8(&rest[..length])
            .map_err(|_| self.error(token_offset, StructureProblem::NameNotUtf8))
    }
}
