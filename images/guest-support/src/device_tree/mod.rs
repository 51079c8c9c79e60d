//! A walk over a flattened device tree (Devicetree Specification v0.4, chapter 5) that hands each
//! node, once its properties are known, to a visitor. Properties come before subnodes in the
//! structure block, so a node is complete at its first subnode or its end.
//!
//! No allocation: the walk keeps one small record per level of nesting, which gives each node its
//! path and the `#address-cells` / `#size-cells` its `reg` is written with (its parent's).

const MAGIC: u32 = 0xd00d_feed;
const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROPERTY: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;

/// The deepest nesting the walk follows; deeper nodes are an error.
pub const MAX_DEPTH: usize = 16;

/// Why a device tree is unusable, as a sentence. (A string rather than an enum with a `message`
/// method: the compiler turns such a `match` into a table of string addresses, which would make
/// a position-independent guest need relocations.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error(pub &'static str);

pub const NOT_A_DEVICE_TREE: Error = Error("x0 does not point to a device tree (bad magic)");
pub const TRUNCATED: Error = Error("the device tree ends in the middle of a token");
pub const TOO_DEEP: Error = Error("the device tree nests nodes deeper than the walk follows");

/// A flattened device tree in memory.
#[derive(Clone, Copy)]
pub struct DeviceTree<'a> {
    bytes: &'a [u8],
    structure: usize,
    strings: usize,
}

/// Per level of nesting: the node's name and the cells its children's `reg` use.
#[derive(Clone, Copy)]
struct Level<'a> {
    name: &'a [u8],
    address_cells: usize,
    size_cells: usize,
}

/// Defaults when a node gives no `#address-cells` / `#size-cells` (Devicetree Spec 2.3.5).
const DEFAULT_LEVEL: Level<'static> = Level {
    name: b"",
    address_cells: 2,
    size_cells: 1,
};

/// One complete node, as the visitor sees it.
pub struct Node<'t, 'a> {
    tree: &'t DeviceTree<'a>,
    /// 1 for the root, 2 for its children, ...
    pub depth: usize,
    /// The node's name with its unit address (`pl011@9000000`); empty for the root.
    pub name: &'a [u8],
    /// The structure-block bytes holding the node's properties.
    properties: &'a [u8],
    /// The levels from above the root down to this node (index 2 = a child of the root).
    path: &'t [Level<'a>],
    /// The parent's `#address-cells` and `#size-cells`, which this node's `reg` uses.
    pub address_cells: usize,
    pub size_cells: usize,
}

impl<'a> DeviceTree<'a> {
    /// The device tree in `bytes`.
    pub fn new(bytes: &'a [u8]) -> Result<DeviceTree<'a>, Error> {
        if big_endian(bytes, 0) != Some(MAGIC) {
            return Err(NOT_A_DEVICE_TREE);
        }
        let total_size = big_endian(bytes, 4).ok_or(TRUNCATED)? as usize;
        let bytes = bytes.get(..total_size).ok_or(TRUNCATED)?;
        Ok(DeviceTree {
            bytes,
            structure: big_endian(bytes, 8).ok_or(TRUNCATED)? as usize,
            strings: big_endian(bytes, 12).ok_or(TRUNCATED)? as usize,
        })
    }

    /// The device tree at address `address`.
    ///
    /// # Safety
    ///
    /// `address` must be the address of a flattened device tree that stays unchanged for `'a`,
    /// or of at least 8 readable bytes that do not start with the device-tree magic.
    pub unsafe fn from_address(address: u64) -> Result<DeviceTree<'a>, Error> {
        // SAFETY: the caller guarantees 8 readable bytes.
        let header = unsafe { core::slice::from_raw_parts(address as *const u8, 8) };
        if big_endian(header, 0) != Some(MAGIC) {
            return Err(NOT_A_DEVICE_TREE);
        }
        let total_size = big_endian(header, 4).ok_or(TRUNCATED)? as usize;
        // SAFETY: it is a device tree, whose header gives its size; the caller guarantees it
        // stays unchanged for 'a.
        DeviceTree::new(unsafe { core::slice::from_raw_parts(address as *const u8, total_size) })
    }

    /// Calls `visit` with every node, parents before children, in the order of the tree.
    pub fn for_each_node(&self, mut visit: impl FnMut(&Node<'_, 'a>)) -> Result<(), Error> {
        let mut levels = [DEFAULT_LEVEL; MAX_DEPTH + 1];
        // The node whose properties are being read: its depth and where they start.
        let mut open: Option<(usize, usize)> = None;
        let mut depth: usize = 0;
        let mut cursor = self.structure;
        loop {
            let token_start = cursor;
            let token = big_endian(self.bytes, cursor).ok_or(TRUNCATED)?;
            cursor += 4;
            match token {
                BEGIN_NODE | END_NODE | END => {
                    if let Some((open_depth, start)) = open.take() {
                        let properties = &self.bytes[start..token_start];
                        self.complete(&mut levels, open_depth, properties, &mut visit);
                    }
                    if token == END {
                        return Ok(());
                    }
                    if token == END_NODE {
                        depth = depth.checked_sub(1).ok_or(TRUNCATED)?;
                        continue;
                    }
                    let name = c_string(self.bytes, cursor).ok_or(TRUNCATED)?;
                    cursor = align4(cursor + name.len() + 1);
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(TOO_DEEP);
                    }
                    levels[depth] = Level {
                        name,
                        ..DEFAULT_LEVEL
                    };
                    open = Some((depth, cursor));
                }
                PROPERTY => {
                    let length = big_endian(self.bytes, cursor).ok_or(TRUNCATED)? as usize;
                    cursor = align4(cursor + 8 + length);
                    if cursor > self.bytes.len() {
                        return Err(TRUNCATED);
                    }
                }
                NOP => {}
                _ => return Err(TRUNCATED),
            }
        }
    }

    /// Records the cells a complete node declares for its children, then visits it.
    fn complete(
        &self,
        levels: &mut [Level<'a>; MAX_DEPTH + 1],
        depth: usize,
        properties: &'a [u8],
        visit: &mut impl FnMut(&Node<'_, 'a>),
    ) {
        let parent = levels[depth - 1];
        let mut node = Node {
            tree: self,
            depth,
            name: levels[depth].name,
            properties,
            path: &[],
            address_cells: parent.address_cells,
            size_cells: parent.size_cells,
        };
        let cells = |name: &[u8]| {
            node.property(name)
                .and_then(|value| big_endian(value, 0))
                .map(|cells| cells as usize)
        };
        let own = Level {
            name: levels[depth].name,
            address_cells: cells(b"#address-cells").unwrap_or(DEFAULT_LEVEL.address_cells),
            size_cells: cells(b"#size-cells").unwrap_or(DEFAULT_LEVEL.size_cells),
        };
        levels[depth] = own;
        node.path = &levels[..=depth];
        visit(&node);
    }
}

impl<'a> Node<'_, 'a> {
    /// The value of property `name`, if the node has it.
    pub fn property(&self, name: &[u8]) -> Option<&'a [u8]> {
        let mut cursor = 0;
        while let Some(token) = big_endian(self.properties, cursor) {
            cursor += 4;
            if token != PROPERTY {
                continue;
            }
            let length = big_endian(self.properties, cursor)? as usize;
            let name_offset = big_endian(self.properties, cursor + 4)? as usize;
            let value = self.properties.get(cursor + 8..cursor + 8 + length)?;
            cursor = align4(cursor + 8 + length);
            if c_string(self.tree.bytes, self.tree.strings + name_offset) == Some(name) {
                return Some(value);
            }
        }
        None
    }

    /// Whether the `compatible` list names `wanted`.
    pub fn is_compatible(&self, wanted: &[u8]) -> bool {
        self.property(b"compatible").is_some_and(|list| {
            list.split(|&byte| byte == 0)
                .any(|compatible| compatible == wanted)
        })
    }

    /// Whether string property `name` is `value` (without its NUL).
    pub fn has_string(&self, name: &[u8], value: &[u8]) -> bool {
        self.property(name)
            .is_some_and(|stored| stored.strip_suffix(b"\0") == Some(value))
    }

    /// The `index`th (address, size) pair of `reg`, in the parent's cells.
    pub fn reg(&self, index: usize) -> Option<(u64, u64)> {
        let reg = self.property(b"reg")?;
        let entry = self.address_cells + self.size_cells;
        let address = cells(reg, index * entry, self.address_cells)?;
        let size = cells(reg, index * entry + self.address_cells, self.size_cells)?;
        Some((address, size))
    }

    /// Whether the node's full path is `path` (`/pl011@9000000`; `/` for the root).
    pub fn path_is(&self, path: &[u8]) -> bool {
        let mut rest = path;
        // path[0] is the walk's placeholder above the root, path[1] the root (no name).
        for level in self.path.get(2..).unwrap_or_default() {
            let Some(after_slash) = rest.strip_prefix(b"/") else {
                return false;
            };
            let Some(after_name) = after_slash.strip_prefix(level.name) else {
                return false;
            };
            rest = after_name;
        }
        rest.is_empty() || (self.depth == 1 && rest == b"/")
    }
}

/// A number of `count` cells starting `start` cells into `value` (big-endian, 32 bits each).
pub fn cells(value: &[u8], start: usize, count: usize) -> Option<u64> {
    (0..count).try_fold(0u64, |number, index| {
        let cell = big_endian(value, (start + index) * 4)?;
        Some(number << 32 | u64::from(cell))
    })
}

/// The NUL-terminated string at `offset`, without its NUL.
fn c_string(bytes: &[u8], offset: usize) -> Option<&[u8]> {
    let rest = bytes.get(offset..)?;
    let length = rest.iter().position(|&byte| byte == 0)?;
    Some(&rest[..length])
}

/// The big-endian 32-bit word at `offset`.
pub fn big_endian(bytes: &[u8], offset: usize) -> Option<u32> {
    let word = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_be_bytes([word[0], word[1], word[2], word[3]]))
}

fn align4(offset: usize) -> usize {
    (offset + 3) & !3
}

#[cfg(test)]
mod tests;
