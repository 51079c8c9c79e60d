//! What the guest reads from its device tree: its RAM, the device regions it owns (which the
//! memory probe skips), the GIC, the interrupts it owns, its CPUs, PSCI, the console and the
//! command line.

use hyp_arm_guest_support::device_tree::{big_endian, DeviceTree, Error, Node};

/// A physical address range, `end` exclusive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Region {
    pub base: u64,
    pub end: u64,
}

impl Region {
    pub fn contains(&self, address: u64) -> bool {
        self.base <= address && address < self.end
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicVersion {
    V2,
    V3,
}

/// A `virtio,mmio` node: its register frame and its SPI's INTID (0 if it names none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VirtioNode {
    pub base: u64,
    pub intid: u32,
}

/// The most `virtio,mmio` nodes kept (QEMU virt has 32 transports, hyp-arm adds its own).
pub const MAX_VIRTIO_NODES: usize = 48;

/// The most device regions the probe skips.
pub const MAX_OWNED_REGIONS: usize = 64;

pub struct Machine<'a> {
    pub ram: Region,
    /// `reg` regions of the devices in the tree (the GIC's included).
    pub owned: [Region; MAX_OWNED_REGIONS],
    pub owned_count: usize,
    pub gic_version: GicVersion,
    pub distributor: Region,
    /// GICv2: the CPU interface; GICv3: the redistributors.
    pub gic_cpu_side: Region,
    /// SPIs named by some node's `interrupts`, one bit per INTID.
    pub owned_interrupts: [u32; 32],
    pub cpu_count: u64,
    pub psci_smc: bool,
    /// The PL011 of `/chosen/stdout-path`, if that is one.
    pub uart: Option<u64>,
    pub bootargs: &'a [u8],
    /// The `virtio,mmio` nodes, in tree order.
    pub virtio: [VirtioNode; MAX_VIRTIO_NODES],
    pub virtio_count: usize,
}

const NO_MEMORY: Error = Error("the device tree has no memory node");
const NO_GIC: Error = Error("the device tree has no GICv2 or GICv3 node with two regions");
const NO_PSCI: Error = Error("the device tree has no PSCI node");

impl Machine<'_> {
    /// Whether the guest owns SPI `intid`.
    pub fn owns_interrupt(&self, intid: u32) -> bool {
        let word = (intid / 32) as usize;
        word < self.owned_interrupts.len() && self.owned_interrupts[word] & 1 << (intid % 32) != 0
    }

    /// Whether `address` is in the guest's RAM or one of its devices.
    pub fn owns_address(&self, address: u64) -> bool {
        self.ram.contains(address)
            || self.owned[..self.owned_count]
                .iter()
                .any(|region| region.contains(address))
    }
}

/// Reads the device tree at `dtb`.
///
/// # Safety
///
/// `dtb` must be the address of a flattened device tree that stays unchanged while the program
/// runs, or of at least 8 readable bytes that do not start with the device-tree magic.
pub unsafe fn read(dtb: u64) -> Result<Machine<'static>, Error> {
    // SAFETY: the caller's guarantee, passed on.
    let tree = unsafe { DeviceTree::from_address(dtb) }?;

    // /chosen first: the console's path, perhaps an alias to resolve in /aliases.
    let mut stdout: &[u8] = b"";
    let mut bootargs: &'static [u8] = b"";
    tree.for_each_node(|node| {
        if node.path_is(b"/chosen") {
            if let Some(path) = node.property(b"stdout-path") {
                stdout = until(until(path, 0), b':');
            }
            if let Some(text) = node.property(b"bootargs") {
                bootargs = until(text, 0);
            }
        }
    })?;
    if !stdout.starts_with(b"/") && !stdout.is_empty() {
        let alias = stdout;
        tree.for_each_node(|node| {
            if node.path_is(b"/aliases") {
                stdout = node.property(alias).map_or(b"", |path| until(path, 0));
            }
        })?;
    }

    let mut machine = Machine {
        ram: Region::default(),
        owned: [Region::default(); MAX_OWNED_REGIONS],
        owned_count: 0,
        gic_version: GicVersion::V3,
        distributor: Region::default(),
        gic_cpu_side: Region::default(),
        owned_interrupts: [0; 32],
        cpu_count: 0,
        psci_smc: false,
        uart: None,
        bootargs,
        virtio: [VirtioNode::default(); MAX_VIRTIO_NODES],
        virtio_count: 0,
    };
    let (mut memory, mut gic, mut psci) = (false, false, false);
    tree.for_each_node(|node| {
        if node.has_string(b"device_type", b"cpu") {
            machine.cpu_count += 1;
        }
        if node.is_compatible(b"arm,psci-0.2")
            || node.is_compatible(b"arm,psci-1.0")
            || node.is_compatible(b"arm,psci")
        {
            machine.psci_smc = node.has_string(b"method", b"smc");
            psci = true;
        }
        take_interrupts(node, &mut machine.owned_interrupts);
        if node.depth != 2 {
            return;
        }
        if node.has_string(b"device_type", b"memory") {
            if let (false, Some((base, size))) = (memory, node.reg(0)) {
                machine.ram = Region {
                    base,
                    end: base.saturating_add(size),
                };
                memory = true;
            }
            return;
        }
        let version = if node.is_compatible(b"arm,gic-v3") {
            Some(GicVersion::V3)
        } else if node.is_compatible(b"arm,cortex-a15-gic") || node.is_compatible(b"arm,gic-400") {
            Some(GicVersion::V2)
        } else {
            None
        };
        if let (Some(version), false, Some(first), Some(second)) =
            (version, gic, node.reg(0), node.reg(1))
        {
            machine.gic_version = version;
            machine.distributor = region(first);
            machine.gic_cpu_side = region(second);
            gic = true;
        }
        if node.is_compatible(b"virtio,mmio") && machine.virtio_count < MAX_VIRTIO_NODES {
            if let Some((base, _)) = node.reg(0) {
                machine.virtio[machine.virtio_count] = VirtioNode {
                    base,
                    intid: first_spi(node).unwrap_or(0),
                };
                machine.virtio_count += 1;
            }
        }
        if !stdout.is_empty() && node.path_is(stdout) && node.is_compatible(b"arm,pl011") {
            machine.uart = node.reg(0).map(|(base, _)| base);
        }
        let mut index = 0;
        while let Some(reg) = node.reg(index) {
            if machine.owned_count < MAX_OWNED_REGIONS {
                machine.owned[machine.owned_count] = region(reg);
                machine.owned_count += 1;
            }
            index += 1;
        }
    })?;
    if !memory {
        return Err(NO_MEMORY);
    }
    if !gic {
        return Err(NO_GIC);
    }
    if !psci {
        return Err(NO_PSCI);
    }
    Ok(machine)
}

/// SPIs of a node's `interrupts` (GIC binding: three cells, type 0 = SPI, then the SPI number).
fn take_interrupts(node: &Node, owned: &mut [u32; 32]) {
    let Some(interrupts) = node.property(b"interrupts") else {
        return;
    };
    if interrupts.len() % 12 != 0 {
        return;
    }
    for specifier in 0..interrupts.len() / 12 {
        let kind = big_endian(interrupts, specifier * 12);
        let number = big_endian(interrupts, specifier * 12 + 4);
        if let (Some(0), Some(number)) = (kind, number) {
            let intid = number as usize + 32;
            if intid / 32 < owned.len() {
                owned[intid / 32] |= 1 << (intid % 32);
            }
        }
    }
}

/// The INTID of the first SPI in a node's `interrupts`.
fn first_spi(node: &Node) -> Option<u32> {
    let interrupts = node.property(b"interrupts")?;
    match (big_endian(interrupts, 0)?, big_endian(interrupts, 4)?) {
        (0, number) => number.checked_add(32),
        _ => None,
    }
}

fn region((base, size): (u64, u64)) -> Region {
    Region {
        base,
        end: base.saturating_add(size),
    }
}

/// `bytes` up to the first `stop` byte.
fn until(bytes: &[u8], stop: u8) -> &[u8] {
    bytes.split(|&byte| byte == stop).next().unwrap_or(bytes)
}
