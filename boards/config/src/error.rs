//! Why a `domains.toml` is rejected: the file, the TOML key and the conflict, in a sentence a
//! person can act on.
#![forbid(unsafe_code)]

use std::fmt;

/// One rejection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file as the caller named it (`boards/qemu-virt/domains.toml`).
    pub file: String,
    /// The key at fault (`domain[1].devices[0]`); empty for errors about the whole file.
    pub key: String,
    pub problem: Problem,
}

/// Every rejection found in one file, in the order of the checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

/// A closed range of bytes shown in messages as `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: u64,
    pub size: u64,
}

/// What is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The file (or a reference tree) cannot be read.
    Unreadable {
        path: String,
        error: String,
    },
    /// toml's own message, with line, column and the offending text.
    Toml(String),
    /// A reference device tree that hyp-arm itself would reject.
    ReferenceTree {
        tree: String,
        error: String,
    },
    NoDomains,
    /// A `[[channel]]` that cannot work as written; the sentence says why.
    Channel(String),
    /// A `[[virtual_device]]` that cannot work as written; the sentence says why.
    VirtualDevice(String),
    TooManyDomains {
        count: usize,
        limit: usize,
    },
    BadName {
        name: String,
    },
    DuplicateName {
        name: String,
        first: usize,
    },
    NoVcpus,
    TooManyVcpus {
        count: usize,
        limit: usize,
    },
    CpuBeyondBoard {
        pcpu: usize,
        max_cpus: usize,
    },
    CpuTaken {
        pcpu: usize,
        holder: String,
    },
    SizeZero,
    SizeNotBlockMultiple {
        size: u64,
    },
    AddressNotBlockAligned {
        address: u64,
    },
    RangeWraps {
        address: u64,
        size: u64,
    },
    PhysicalOverlap {
        other: String,
        span: Span,
    },
    PhysicalOutsideRam {
        span: Span,
        tree: String,
    },
    IpaOverlapsDevice {
        device: String,
        span: Span,
        tree: String,
    },
    ClaimShape,
    ClaimMatchesNothing {
        claim: String,
        tree: String,
    },
    ClaimIsPciHostBridge {
        path: String,
        tree: String,
    },
    ClaimedDeviceMalformed {
        tree: String,
        error: String,
    },
    DeviceOwnedTwice {
        device: String,
        other_key: String,
        other: String,
        tree: String,
    },
    SharedInterrupt {
        spi: u32,
        device: String,
        other_device: String,
        owners: (String, String),
        tree: String,
    },
    TwoUnclaimedOwners {
        first: String,
    },
    NoConsoleUart {
        tree: String,
    },
    ConsoleUartNotOwned {
        uart: String,
        owner: Option<String>,
        tree: String,
    },
    StartsAfterUnknown {
        name: String,
    },
    StartsAfterItself,
    StartsAfterLater {
        name: String,
    },
    TwoBootModuleDomains {
        first: String,
    },
    InitrdWithBootModules,
    BadImageName {
        name: String,
    },
    InitialFocusUnknown {
        name: String,
    },
    InitialFocusWithoutUart {
        name: String,
    },
    EscapeNotControl {
        byte: u8,
    },
    ImageVariableMissing {
        variable: String,
        image: String,
    },
    ImageFileMissing {
        variable: String,
        path: String,
    },
}

impl fmt::Display for Span {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "[{:#x}, {:#x})",
            self.start,
            self.start.saturating_add(self.size)
        )
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(formatter, "{}: {}", self.file, self.problem)
        } else {
            write!(formatter, "{}: {}: {}", self.file, self.key, self.problem)
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(formatter)?;
            }
            write!(formatter, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}
impl std::error::Error for ConfigErrors {}

const BLOCK: &str = "2 MiB (stage-2 block mappings)";

impl fmt::Display for Problem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable { path, error } => write!(formatter, "cannot read {path}: {error}"),
            Self::Toml(message) => write!(formatter, "{}", message.trim_end()),
            Self::ReferenceTree { tree, error } => {
                write!(
                    formatter,
                    "reference device tree {tree} is unusable: {error}"
                )
            }
            Self::NoDomains => write!(formatter, "no [[domain]]: declare at least one"),
            Self::Channel(sentence) | Self::VirtualDevice(sentence) => {
                write!(formatter, "{sentence}")
            }
            Self::TooManyDomains { count, limit } => write!(
                formatter,
                "{count} domains declared, but hyp-arm runs at most {limit} (plan::MAX_DOMAINS)"
            ),
            Self::BadName { name } => write!(
                formatter,
                "\"{name}\" is not a usable name: use 1 to 16 lowercase letters, digits and '-', \
                 starting with a letter"
            ),
            Self::DuplicateName { name, first } => write!(
                formatter,
                "domain name \"{name}\" is already used by domain[{first}]; names must be unique"
            ),
            Self::NoVcpus => write!(formatter, "the domain has no vCPU: list at least one pCPU"),
            Self::TooManyVcpus { count, limit } => write!(
                formatter,
                "{count} vCPUs, but a domain has at most {limit} (plan::MAX_VCPUS_PER_DOMAIN)"
            ),
            Self::CpuBeyondBoard { pcpu, max_cpus } => write!(
                formatter,
                "physical CPU {pcpu} does not exist: board.max_cpus is {max_cpus} (CPUs 0 to {})",
                max_cpus.saturating_sub(1)
            ),
            Self::CpuTaken { pcpu, holder } => write!(
                formatter,
                "physical CPU {pcpu} already runs {holder}; with scheduling = \"pinned\" each \
                 physical CPU runs one vCPU (use another CPU, or scheduling = \"shared\")"
            ),
            Self::SizeZero => write!(formatter, "a domain needs some memory"),
            Self::SizeNotBlockMultiple { size } => {
                write!(formatter, "{size:#x} bytes is not a multiple of {BLOCK}")
            }
            Self::AddressNotBlockAligned { address } => {
                write!(formatter, "{address:#x} is not aligned to {BLOCK}")
            }
            Self::RangeWraps { address, size } => write!(
                formatter,
                "{size:#x} bytes from {address:#x} run past the end of the address space"
            ),
            Self::PhysicalOverlap { other, span } => write!(
                formatter,
                "physical memory overlaps that of domain \"{other}\" at {span}"
            ),
            Self::PhysicalOutsideRam { span, tree } => {
                write!(formatter, "physical memory {span} is not RAM of {tree}")
            }
            Self::IpaOverlapsDevice { device, span, tree } => write!(
                formatter,
                "guest memory overlaps the domain's own device {device} at {span} (in {tree}); \
                 move the RAM (ipa) elsewhere"
            ),
            Self::ClaimShape => write!(
                formatter,
                "a device claim has exactly one of `path` or `compatible`"
            ),
            Self::ClaimMatchesNothing { claim, tree } => write!(
                formatter,
                "{claim} does not exist on the board: no enabled device node matches it in {tree}"
            ),
            Self::ClaimIsPciHostBridge { path, tree } => write!(
                formatter,
                "{path} is a PCI host bridge in {tree}; hyp-arm cannot give those to a domain"
            ),
            Self::ClaimedDeviceMalformed { tree, error } => {
                write!(
                    formatter,
                    "the claimed device is malformed in {tree}: {error}"
                )
            }
            Self::DeviceOwnedTwice {
                device,
                other_key,
                other,
                tree,
            } => write!(
                formatter,
                "{device} (in {tree}) is already claimed by {other_key} of domain \"{other}\"; a \
                 device has one owner: remove one of the claims"
            ),
            Self::SharedInterrupt {
                spi,
                device,
                other_device,
                owners,
                tree,
            } => write!(
                formatter,
                "SPI {spi} is raised by {other_device} (domain \"{}\") and {device} (domain \
                 \"{}\") in {tree}; an interrupt has one owner: give both devices to one domain",
                owners.0, owners.1
            ),
            Self::TwoUnclaimedOwners { first } => write!(
                formatter,
                "domain \"{first}\" already owns the unclaimed devices; only one domain can"
            ),
            Self::NoConsoleUart { tree } => write!(
                formatter,
                "console = \"emulated-uart\", but {tree} names no console UART \
                 (/chosen/stdout-path)"
            ),
            Self::ConsoleUartNotOwned { uart, owner, tree } => {
                write!(
                    formatter,
                    "console = \"emulated-uart\" needs the console UART {uart} (/chosen/stdout-path \
                     of {tree}), but "
                )?;
                match owner {
                    Some(owner) => write!(formatter, "domain \"{owner}\" owns it"),
                    None => write!(formatter, "the domain does not own it"),
                }
            }
            Self::StartsAfterUnknown { name } => {
                write!(formatter, "no domain is named \"{name}\"")
            }
            Self::StartsAfterItself => write!(formatter, "a domain cannot wait for itself"),
            Self::StartsAfterLater { name } => write!(
                formatter,
                "domain \"{name}\" is declared later; domains start in file order, so a domain \
                 can only wait for an earlier one"
            ),
            Self::TwoBootModuleDomains { first } => write!(
                formatter,
                "domain \"{first}\" already takes the boot modules; only one domain can"
            ),
            Self::InitrdWithBootModules => write!(
                formatter,
                "an embedded initrd needs an embedded kernel; with kernel = \"boot-modules\" the \
                 ramdisk is a boot module too"
            ),
            Self::BadImageName { name } => write!(
                formatter,
                "\"{name}\" is not a usable image name: use lowercase letters, digits and '-'"
            ),
            Self::InitialFocusUnknown { name } => {
                write!(formatter, "no domain is named \"{name}\"")
            }
            Self::InitialFocusWithoutUart { name } => write!(
                formatter,
                "domain \"{name}\" has no emulated UART, so it cannot have console input"
            ),
            Self::EscapeNotControl { byte } => write!(
                formatter,
                "{byte:#04x} is not a control character; the escape byte must not be one people \
                 type (0x1d is Ctrl-])"
            ),
            Self::ImageVariableMissing { variable, image } => write!(
                formatter,
                "image \"{image}\" is embedded, but {variable} is not set: set it to the image \
                 file (`cargo xtask build` sets it when it builds the {image} image)"
            ),
            Self::ImageFileMissing { variable, path } => {
                write!(formatter, "{variable} names {path}, which does not exist")
            }
        }
    }
}
