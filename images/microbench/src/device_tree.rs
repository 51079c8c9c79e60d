//! Just enough of a flattened device tree walk (Devicetree Specification v0.4, chapter 5) to find
//! the GIC, the PSCI conduit and the CPUs. Properties come before subnodes in the structure block,
//! so a node is complete when its first subnode or its end appears.

use crate::gic::GicVersion;

const MAGIC: u32 = 0xd00d_feed;
const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROPERTY: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;

/// The CPUs the benchmark can use.
pub const MAX_CPUS: usize = 2;

/// What the benchmark needs from the device tree.
pub struct Platform {
    pub gic_version: GicVersion,
    /// The GIC's first two `reg` regions: distributor, then CPU interface (GICv2) or
    /// redistributors (GICv3).
    pub gic_regions: [u64; 2],
    /// PSCI is called with SMC rather than HVC.
    pub psci_smc: bool,
    /// MPIDR affinity values of the first CPUs, in device-tree order.
    pub cpus: [u64; MAX_CPUS],
    pub cpu_count: usize,
}

/// Why the device tree is unusable, as a sentence. (A string rather than an enum with a
/// `message` method: the compiler turns such a `match` into a table of string addresses, which
/// would make the image position-dependent.)
#[derive(Clone, Copy, Debug)]
pub struct Error(pub &'static str);

const NOT_A_DEVICE_TREE: Error = Error("x0 does not point to a device tree (bad magic)");
const TRUNCATED: Error = Error("the device tree ends in the middle of a token");
const NO_GIC: Error = Error("the device tree has no GICv2 or GICv3 node");
const NO_PSCI: Error = Error("the device tree has no PSCI node");

/// The node being read: its depth and the properties the benchmark cares about.
#[derive(Default)]
struct Node<'a> {
    depth: usize,
    name: &'a [u8],
    compatible: &'a [u8],
    reg: &'a [u8],
    method: &'a [u8],
    device_type: &'a [u8],
    done: bool,
}

/// What has been found so far.
struct Found {
    gic: Option<(GicVersion, [u64; 2])>,
    psci_smc: Option<bool>,
    cpus: [u64; MAX_CPUS],
    cpu_count: usize,
    address_cells: usize,
    size_cells: usize,
    cpu_address_cells: usize,
}

/// Reads the device tree at `dtb`.
///
/// # Safety
///
/// `dtb` must be the address of a flattened device tree that stays unchanged while the program
/// runs, or of at least 8 readable bytes that do not start with the device-tree magic.
pub unsafe fn parse(dtb: u64) -> Result<Platform, Error> {
    // SAFETY: the caller guarantees 8 readable bytes.
    let header = unsafe { core::slice::from_raw_parts(dtb as *const u8, 8) };
    if big_endian(header, 0) != Some(MAGIC) {
        return Err(NOT_A_DEVICE_TREE);
    }
    let total_size = big_endian(header, 4).ok_or(TRUNCATED)? as usize;
    // SAFETY: it is a device tree, whose header gives its size.
    let tree = unsafe { core::slice::from_raw_parts(dtb as *const u8, total_size) };
    walk(tree)
}

fn walk(tree: &[u8]) -> Result<Platform, Error> {
    let structure = big_endian(tree, 8).ok_or(TRUNCATED)? as usize;
    let strings = big_endian(tree, 12).ok_or(TRUNCATED)? as usize;
    let mut found = Found {
        gic: None,
        psci_smc: None,
        cpus: [0; MAX_CPUS],
        cpu_count: 0,
        address_cells: 2,
        size_cells: 1,
        cpu_address_cells: 1,
    };
    let mut node = Node {
        done: true,
        ..Node::default()
    };
    let mut depth = 0;
    let mut cursor = structure;
    loop {
        let token = big_endian(tree, cursor).ok_or(TRUNCATED)?;
        cursor += 4;
        match token {
            BEGIN_NODE => {
                finish(&mut node, &mut found);
                let name = c_string(tree, cursor).ok_or(TRUNCATED)?;
                cursor = align4(cursor + name.len() + 1);
                depth += 1;
                node = Node {
                    depth,
                    name,
                    ..Node::default()
                };
            }
            END_NODE => {
                finish(&mut node, &mut found);
                depth = depth.saturating_sub(1);
            }
            PROPERTY => {
                let length = big_endian(tree, cursor).ok_or(TRUNCATED)? as usize;
                let name_offset = big_endian(tree, cursor + 4).ok_or(TRUNCATED)? as usize;
                let value = tree.get(cursor + 8..cursor + 8 + length).ok_or(TRUNCATED)?;
                cursor = align4(cursor + 8 + length);
                let name = c_string(tree, strings + name_offset).ok_or(TRUNCATED)?;
                property(&mut node, &mut found, name, value);
            }
            NOP => {}
            END => break,
            _ => return Err(TRUNCATED),
        }
    }
    let (gic_version, gic_regions) = found.gic.ok_or(NO_GIC)?;
    Ok(Platform {
        gic_version,
        gic_regions,
        psci_smc: found.psci_smc.ok_or(NO_PSCI)?,
        cpus: found.cpus,
        cpu_count: found.cpu_count,
    })
}

fn property<'a>(node: &mut Node<'a>, found: &mut Found, name: &[u8], value: &'a [u8]) {
    let cells = big_endian(value, 0).unwrap_or(0) as usize;
    match name {
        b"#address-cells" if node.depth == 1 => found.address_cells = cells,
        b"#size-cells" if node.depth == 1 => found.size_cells = cells,
        b"#address-cells" if node.depth == 2 && node.name == b"cpus" => {
            found.cpu_address_cells = cells;
        }
        b"compatible" => node.compatible = value,
        b"reg" => node.reg = value,
        b"method" => node.method = value,
        b"device_type" => node.device_type = value,
        _ => {}
    }
}

/// Takes what the benchmark needs from a complete node.
fn finish(node: &mut Node, found: &mut Found) {
    if node.done {
        return;
    }
    node.done = true;
    if node.device_type == b"cpu\0" && found.cpu_count < MAX_CPUS {
        if let Some(mpidr) = cells(node.reg, 0, found.cpu_address_cells) {
            found.cpus[found.cpu_count] = mpidr;
            found.cpu_count += 1;
        }
    }
    let version = if has_compatible(node.compatible, b"arm,gic-v3") {
        Some(GicVersion::V3)
    } else if has_compatible(node.compatible, b"arm,cortex-a15-gic")
        || has_compatible(node.compatible, b"arm,gic-400")
    {
        Some(GicVersion::V2)
    } else {
        None
    };
    // The GIC is a child of the root on the machines this runs on, so the root's cells apply.
    let entry = found.address_cells + found.size_cells;
    if let (Some(version), None) = (version, &found.gic) {
        if let (Some(first), Some(second)) = (
            cells(node.reg, 0, found.address_cells),
            cells(node.reg, entry, found.address_cells),
        ) {
            found.gic = Some((version, [first, second]));
        }
    }
    if has_compatible(node.compatible, b"arm,psci-0.2")
        || has_compatible(node.compatible, b"arm,psci-1.0")
        || has_compatible(node.compatible, b"arm,psci")
    {
        found.psci_smc = Some(node.method == b"smc\0");
    }
}

/// Whether a `compatible` value (NUL-separated strings) lists `wanted`.
fn has_compatible(compatible: &[u8], wanted: &[u8]) -> bool {
    compatible
        .split(|&byte| byte == 0)
        .any(|name| name == wanted)
}

/// A number of `count` cells starting `start` cells into `value`.
fn cells(value: &[u8], start: usize, count: usize) -> Option<u64> {
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

fn big_endian(bytes: &[u8], offset: usize) -> Option<u32> {
    let word = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_be_bytes([word[0], word[1], word[2], word[3]]))
}

fn align4(offset: usize) -> usize {
    (offset + 3) & !3
}
