//! Test-only edits of a device tree blob in place, the way boot firmware edits the tree it hands
//! on: set a property of a node (adding the node under the root when absent), or delete one.
//!
//! Everything else in the blob is kept byte for byte (reservation block, other nodes, strings),
//! so a test sees the shipped tree with exactly one change. Test code: bad input panics.
#![forbid(unsafe_code)]

const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;

/// Header fields (index of the big-endian `u32`): totalsize, the three block offsets and sizes.
const TOTAL_SIZE: usize = 1;
const STRUCTURE_OFFSET: usize = 2;
const STRINGS_OFFSET: usize = 3;
const RESERVATIONS_OFFSET: usize = 4;
const STRINGS_SIZE: usize = 8;
const STRUCTURE_SIZE: usize = 9;

fn header(blob: &[u8], field: usize) -> usize {
    read_u32(blob, field * 4) as usize
}

fn set_header(blob: &mut [u8], field: usize, value: usize) {
    let value = u32::try_from(value).expect("blob under 4 GiB");
    blob[field * 4..field * 4 + 4].copy_from_slice(&value.to_be_bytes());
}

fn read_u32(blob: &[u8], offset: usize) -> u32 {
    u32::from_be_bytes(blob[offset..offset + 4].try_into().expect("4 bytes"))
}

fn align4(value: usize) -> usize {
    value.div_ceil(4) * 4
}

/// A copy of `dtb` where the node at `path` (e.g. "/memory@0") has property `name` = `value`.
/// A missing node is added as the last child of its parent, which must exist.
pub(crate) fn set_property(dtb: &[u8], path: &str, name: &str, value: &[u8]) -> Vec<u8> {
    let mut blob = dtb[..header(dtb, TOTAL_SIZE)].to_vec();
    let name_offset = string_offset(&mut blob, name);
    let property = property_token(name_offset, value);
    let found = find(&blob, path, name);
    match (found.node_body, found.property) {
        (_, Some(range)) => splice(&mut blob, range, &property),
        (Some(body), None) => splice(&mut blob, body..body, &property),
        (None, None) => {
            let (parent, node_name) = path.rsplit_once('/').expect("absolute path");
            let parent_end = find(&blob, if parent.is_empty() { "/" } else { parent }, "")
                .node_end
                .unwrap_or_else(|| panic!("{parent} is not in the tree"));
            let mut node = Vec::new();
            node.extend_from_slice(&FDT_BEGIN_NODE.to_be_bytes());
            node.extend_from_slice(node_name.as_bytes());
            node.resize(4 + align4(node_name.len() + 1), 0);
            node.extend_from_slice(&property);
            node.extend_from_slice(&FDT_END_NODE.to_be_bytes());
            splice(&mut blob, parent_end..parent_end, &node);
        }
    }
    blob
}

/// `set_property` for a list of big-endian cells.
pub(crate) fn set_cells(dtb: &[u8], path: &str, name: &str, cells: &[u32]) -> Vec<u8> {
    let value: Vec<u8> = cells.iter().flat_map(|cell| cell.to_be_bytes()).collect();
    set_property(dtb, path, name, &value)
}

/// `set_property` for a string (NUL added).
pub(crate) fn set_string(dtb: &[u8], path: &str, name: &str, value: &str) -> Vec<u8> {
    let mut bytes = value.as_bytes().to_vec();
    bytes.push(0);
    set_property(dtb, path, name, &bytes)
}

/// A copy of `dtb` without property `name` of the node at `path` (which must have it).
pub(crate) fn delete_property(dtb: &[u8], path: &str, name: &str) -> Vec<u8> {
    let mut blob = dtb[..header(dtb, TOTAL_SIZE)].to_vec();
    let range = find(&blob, path, name)
        .property
        .unwrap_or_else(|| panic!("{path} has no {name}"));
    splice(&mut blob, range, &[]);
    blob
}

fn property_token(name_offset: usize, value: &[u8]) -> Vec<u8> {
    let mut token = Vec::new();
    token.extend_from_slice(&FDT_PROP.to_be_bytes());
    token.extend_from_slice(&(value.len() as u32).to_be_bytes());
    token.extend_from_slice(&(name_offset as u32).to_be_bytes());
    token.extend_from_slice(value);
    token.resize(12 + align4(value.len()), 0);
    token
}

/// Offset of `name` in the strings block, appending it (the block must end the blob) if absent.
fn string_offset(blob: &mut Vec<u8>, name: &str) -> usize {
    let start = header(blob, STRINGS_OFFSET);
    let size = header(blob, STRINGS_SIZE);
    let mut wanted = name.as_bytes().to_vec();
    wanted.push(0);
    // Any NUL-terminated suffix is a valid string (libfdt shares tails the same way).
    if let Some(found) = blob[start..start + size]
        .windows(wanted.len())
        .position(|window| window == wanted.as_slice())
    {
        return found;
    }
    assert_eq!(start + size, blob.len(), "strings block must end the blob");
    blob.extend_from_slice(&wanted);
    set_header(blob, STRINGS_SIZE, size + wanted.len());
    let total = blob.len();
    set_header(blob, TOTAL_SIZE, total);
    size
}

/// Where things are in the structure block (offsets into the blob).
#[derive(Default)]
struct Found {
    /// Just after the node's BEGIN_NODE token and name: where a new property may go.
    node_body: Option<usize>,
    /// The node's END_NODE token: where a new child may go.
    node_end: Option<usize>,
    /// The whole PROP token of the property asked for.
    property: Option<core::ops::Range<usize>>,
}

/// Finds the node at `path` and its property `name` by walking the structure block.
fn find(blob: &[u8], path: &str, name: &str) -> Found {
    let strings = header(blob, STRINGS_OFFSET);
    let mut offset = header(blob, STRUCTURE_OFFSET);
    let mut current = String::new();
    let mut lengths = Vec::new();
    let mut found = Found::default();
    loop {
        let token = read_u32(blob, offset);
        let token_start = offset;
        offset += 4;
        match token {
            FDT_BEGIN_NODE => {
                let end = blob[offset..]
                    .iter()
                    .position(|&byte| byte == 0)
                    .expect("name")
                    + offset;
                let node_name = core::str::from_utf8(&blob[offset..end]).expect("UTF-8 name");
                lengths.push(current.len());
                if !node_name.is_empty() {
                    current.push('/');
                    current.push_str(node_name);
                }
                offset = align4(end + 1);
                if current == path || (path == "/" && current.is_empty()) {
                    found.node_body = Some(offset);
                }
            }
            FDT_END_NODE => {
                if current == path || (path == "/" && current.is_empty()) {
                    found.node_end = Some(token_start);
                }
                current.truncate(lengths.pop().expect("balanced"));
            }
            FDT_PROP => {
                let length = read_u32(blob, offset) as usize;
                let name_offset = read_u32(blob, offset + 4) as usize;
                offset = align4(offset + 8 + length);
                let property_name = &blob[strings + name_offset..];
                let property_name =
                    &property_name[..property_name.iter().position(|&b| b == 0).expect("NUL")];
                let here = current == path || (path == "/" && current.is_empty());
                if here && property_name == name.as_bytes() {
                    found.property = Some(token_start..offset);
                }
            }
            FDT_NOP => {}
            FDT_END => return found,
            other => panic!("unknown token {other:#x} at {token_start:#x}"),
        }
    }
}

/// Replaces `range` of the structure block with `bytes`, moving the blocks after it.
fn splice(blob: &mut Vec<u8>, range: core::ops::Range<usize>, bytes: &[u8]) {
    let removed = range.len();
    let at = range.start;
    blob.splice(range, bytes.iter().copied());
    let moved = |offset: usize| {
        if offset > at {
            offset + bytes.len() - removed
        } else {
            offset
        }
    };
    for field in [STRINGS_OFFSET, RESERVATIONS_OFFSET] {
        let offset = header(blob, field);
        set_header(blob, field, moved(offset));
    }
    let structure_size = header(blob, STRUCTURE_SIZE);
    set_header(blob, STRUCTURE_SIZE, structure_size + bytes.len() - removed);
    let total = blob.len();
    set_header(blob, TOTAL_SIZE, total);
}
