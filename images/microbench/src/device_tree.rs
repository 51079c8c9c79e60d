//! What the benchmark reads from its device tree: the GIC, the PSCI conduit, the CPUs and the
//! command line, found with the shared walker of `hyp-arm-guest-support`.

use hyp_arm_guest_support::device_tree::{DeviceTree, Error, Node};

use crate::gic::GicVersion;

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
    /// `/chosen/bootargs` without its terminating NUL; empty when there is none.
    pub bootargs: &'static [u8],
}

const NO_GIC: Error = Error("the device tree has no GICv2 or GICv3 node");
const NO_PSCI: Error = Error("the device tree has no PSCI node");

/// What has been found so far.
struct Found {
    gic: Option<(GicVersion, [u64; 2])>,
    psci_smc: Option<bool>,
    cpus: [u64; MAX_CPUS],
    cpu_count: usize,
    bootargs: &'static [u8],
}

/// Reads the device tree at `dtb`.
///
/// # Safety
///
/// `dtb` must be the address of a flattened device tree that stays unchanged while the program
/// runs, or of at least 8 readable bytes that do not start with the device-tree magic.
pub unsafe fn parse(dtb: u64) -> Result<Platform, Error> {
    // SAFETY: the caller's guarantee, passed on.
    let tree = unsafe { DeviceTree::from_address(dtb) }?;
    let mut found = Found {
        gic: None,
        psci_smc: None,
        cpus: [0; MAX_CPUS],
        cpu_count: 0,
        bootargs: b"",
    };
    tree.for_each_node(|node| take(node, &mut found))?;
    let (gic_version, gic_regions) = found.gic.ok_or(NO_GIC)?;
    Ok(Platform {
        gic_version,
        gic_regions,
        psci_smc: found.psci_smc.ok_or(NO_PSCI)?,
        cpus: found.cpus,
        cpu_count: found.cpu_count,
        bootargs: found.bootargs,
    })
}

/// Takes what the benchmark needs from one node.
fn take(node: &Node<'_, 'static>, found: &mut Found) {
    if node.path_is(b"/chosen") {
        if let Some(text) = node.property(b"bootargs") {
            found.bootargs = text.split(|&byte| byte == 0).next().unwrap_or(b"");
        }
    }
    if node.has_string(b"device_type", b"cpu") && found.cpu_count < MAX_CPUS {
        if let Some((mpidr, _)) = node.reg(0) {
            found.cpus[found.cpu_count] = mpidr;
            found.cpu_count += 1;
        }
    }
    let version = if node.is_compatible(b"arm,gic-v3") {
        Some(GicVersion::V3)
    } else if node.is_compatible(b"arm,cortex-a15-gic") || node.is_compatible(b"arm,gic-400") {
        Some(GicVersion::V2)
    } else {
        None
    };
    if let (Some(version), None) = (version, &found.gic) {
        if let (Some((first, _)), Some((second, _))) = (node.reg(0), node.reg(1)) {
            found.gic = Some((version, [first, second]));
        }
    }
    if node.is_compatible(b"arm,psci-0.2")
        || node.is_compatible(b"arm,psci-1.0")
        || node.is_compatible(b"arm,psci")
    {
        found.psci_smc = Some(node.has_string(b"method", b"smc"));
    }
}
