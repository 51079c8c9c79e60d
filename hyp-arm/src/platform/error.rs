//! Why a host device tree cannot be used, phrased so that a person can fix the tree.
#![forbid(unsafe_code)]

use core::fmt;

use super::blob::BlobError;
use super::memory::MemoryRange;
use super::tree::NodePath;

/// A property value quoted in an error, cut to 32 bytes.
pub type QuotedValue = heapless::String<32>;

/// Copies up to 32 bytes of `value` (at a character boundary) for an error message.
pub(crate) fn quote(value: &str) -> QuotedValue {
    let mut quoted = QuotedValue::new();
    for character in value.chars() {
        if quoted.push(character).is_err() {
            break;
        }
    }
    quoted
}

/// Everything `Platform::parse` can reject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlatformError {
    /// The blob itself is malformed.
    Blob(BlobError),
    /// A node the hypervisor cannot run without is absent.
    Missing(MissingNode),
    /// A node is present but unusable.
    Node {
        path: NodePath,
        problem: NodeProblem,
    },
    /// Two nodes describe what must be a single piece of hardware.
    Duplicate {
        what: &'static str,
        first: NodePath,
        second: NodePath,
    },
}

/// Required nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MissingNode {
    Root,
    Cpus,
    Cpu,
    Memory,
    Gic,
    Timer,
}

/// What is wrong with one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeProblem {
    /// A required property is absent; `why` names what needs it.
    MissingProperty {
        property: &'static str,
        why: &'static str,
    },
    /// A property has the wrong size.
    BadPropertyLength {
        property: &'static str,
        length: usize,
        expected: &'static str,
    },
    /// A property that must be NUL-terminated UTF-8 strings is not.
    NotAString { property: &'static str },
    /// An address/size list (`reg`, `ranges`) whose length is not a whole number of entries.
    BadEntryLength {
        property: &'static str,
        length: usize,
        address_cells: u32,
        size_cells: u32,
    },
    /// `#address-cells`/`#size-cells` values that do not fit a 64-bit address (or are 0).
    CellsUnsupported {
        property: &'static str,
        cells: &'static str,
        value: u32,
    },
    /// base + size wraps past 2^64.
    AddressOverflow {
        property: &'static str,
        range: MemoryRange,
    },
    /// More list entries than the fixed-size table holds.
    TooManyEntries {
        property: &'static str,
        found: usize,
        limit: usize,
    },
    /// More items than the fixed-size table holds (found while collecting, so no total).
    TooMany { what: &'static str, limit: usize },
    /// Too few list entries; `why` says what needs them.
    TooFewEntries {
        property: &'static str,
        found: usize,
        why: &'static str,
    },
    /// A string property with a value we do not know.
    UnsupportedValue {
        property: &'static str,
        value: QuotedValue,
        expected: &'static str,
    },
    /// A `reg` range that no window of the enclosing bus's `ranges` covers.
    Untranslatable { range: MemoryRange },
    /// An entry of an interrupt property that is not what the user needs.
    BadInterrupt {
        property: &'static str,
        index: usize,
        why: &'static str,
    },
    /// The interrupts must go to the GIC but the interrupt parent is another controller.
    InterruptParentNotGic { property: &'static str },
    /// A path property (or alias) names no node.
    UnresolvedPath {
        property: &'static str,
        value: QuotedValue,
    },
    /// The node, named by /chosen `property`, has no memory-mapped registers.
    NotMemoryMapped { property: &'static str },
    /// An /aliases property that is not an absolute path string.
    BadAlias,
    /// The node's path exceeds `MAX_PATH_LENGTH`.
    PathTooLong,
    /// Buses nested deeper than we track.
    BusesTooDeep { limit: usize },
    /// A `multiboot,module` without a more specific type after the kernel and ramdisk.
    UnknownModule,
    /// A memory node whose `reg` sizes are all 0, and no other memory: a placeholder that the
    /// board's firmware fills in at boot, so this tree alone describes no usable RAM.
    MemoryLeftToFirmware,
}

fn plural(count: usize, singular: &'static str, plural: &'static str) -> &'static str {
    if count == 1 {
        singular
    } else {
        plural
    }
}

impl fmt::Display for MissingNode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::Root => "no root node",
            Self::Cpus => "no /cpus node",
            Self::Cpu => "no CPU: /cpus has no node with device_type = \"cpu\"",
            Self::Memory => {
                "no memory: no root-level node with device_type = \"memory\" has a non-empty `reg`"
            }
            Self::Gic => {
                "no GIC: no enabled node is compatible with arm,gic-400, arm,cortex-a15-gic, \
                 arm,cortex-a7-gic, arm,gic-v2, qcom,msm-qgic2 or arm,gic-v3"
            }
            Self::Timer => "no generic timer: no enabled node is compatible with arm,armv8-timer",
        })
    }
}

impl fmt::Display for NodeProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingProperty { property, why } => write!(formatter, "no `{property}`, needed for {why}"),
            Self::BadPropertyLength { property, length, expected } => {
                write!(formatter, "`{property}` is {length} bytes, expected {expected}")
            }
            Self::NotAString { property } => {
                write!(formatter, "`{property}` is not a list of NUL-terminated UTF-8 strings")
            }
            Self::BadEntryLength { property, length, address_cells, size_cells } => write!(
                formatter,
                "`{property}` is {length} bytes, not a whole number of entries of {address_cells} address + \
                 {size_cells} size cells ({} bytes)",
                (address_cells + size_cells) * 4
            ),
            Self::CellsUnsupported { property, cells, value } => {
                write!(formatter, "`{property}` uses {cells} = {value}: only 1 or 2 address cells and 0 to 2 size cells are supported")
            }
            Self::AddressOverflow { property, range } => write!(
                formatter,
                "`{property}` range at {:#x} of size {:#x} runs past the end of the address space",
                range.base, range.size
            ),
            Self::TooManyEntries { property, found, limit } => {
                write!(formatter, "`{property}` has {found} entries; hyp-arm records at most {limit}")
            }
            Self::TooMany { what, limit } => write!(formatter, "more than {limit} {what}; hyp-arm records at most {limit}"),
            Self::TooFewEntries { property, found, why } => {
                write!(formatter, "`{property}` has {found} {}, {why}", plural(*found, "entry", "entries"))
            }
            Self::UnsupportedValue { property, value, expected } => {
                write!(formatter, "`{property}` is \"{value}\", expected {expected}")
            }
            Self::Untranslatable { range } => write!(
                formatter,
                "`reg` range at {:#x} of size {:#x} is outside every `ranges` window of the enclosing bus",
                range.base, range.size
            ),
            Self::BadInterrupt { property, index, why } => write!(formatter, "`{property}` entry {index}: {why}"),
            Self::InterruptParentNotGic { property } => {
                write!(formatter, "`{property}` must go to the GIC, but the interrupt parent is another controller")
            }
            Self::UnresolvedPath { property, value } => write!(formatter, "`{property}` \"{value}\" names no node"),
            Self::NotMemoryMapped { property } => {
                write!(formatter, "named by /chosen `{property}`, but has no memory-mapped registers")
            }
            Self::BadAlias => formatter.write_str("an alias is not an absolute path string"),
            Self::PathTooLong => write!(formatter, "path longer than {} bytes", super::tree::MAX_PATH_LENGTH),
            Self::BusesTooDeep { limit } => write!(formatter, "buses nested more than {limit} deep"),
            Self::UnknownModule => formatter.write_str(
                "a third plain \"multiboot,module\": only the first two have a meaning (kernel, ramdisk); \
                 give it a specific compatible",
            ),
            Self::MemoryLeftToFirmware => formatter.write_str(
                "no usable memory: every `reg` range has size 0, a placeholder that the firmware \
                 fills in at boot; start hyp-arm from that firmware (or write the sizes into the tree)",
            ),
        }
    }
}

impl fmt::Display for PlatformError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Blob(error) => error.fmt(formatter),
            Self::Missing(missing) => missing.fmt(formatter),
            Self::Node { path, problem } => write!(formatter, "{path}: {problem}"),
            Self::Duplicate {
                what,
                first,
                second,
            } => {
                write!(
                    formatter,
                    "two {what} nodes, {first} and {second}: expected exactly one"
                )
            }
        }
    }
}

impl From<BlobError> for PlatformError {
    fn from(error: BlobError) -> Self {
        Self::Blob(error)
    }
}
