//! The `domains.toml` schema as plain structs (docs/DOMAINS.md). Parsing checks only shapes and
//! types, with toml's positions; what the values mean is checked in `check`.
#![forbid(unsafe_code)]

use std::fmt;

use serde::de::{self, value::MapAccessDeserializer, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// A whole `domains.toml`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub board: Board,
    pub console: Console,
    /// `[[domain]]` tables, in start order.
    #[serde(default, rename = "domain")]
    pub domains: Vec<Domain>,
    /// `[[channel]]` tables.
    #[serde(default, rename = "channel")]
    pub channels: Vec<Channel>,
    /// `[[virtual_device]]` tables.
    #[serde(default, rename = "virtual_device")]
    pub virtual_devices: Vec<VirtualDevice>,
}

/// One `[[virtual_device]]`: a device hyp-arm emulates for `domain` with the register model
/// the board crate registers under `name`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VirtualDevice {
    pub name: String,
    pub domain: String,
    /// The guest driver's device tree `compatible` (`google,goldfish-battery`).
    pub compatible: String,
    /// Guest-physical base of the register window.
    pub address: u64,
    pub size: Size,
    /// The SPI's INTID in the domain.
    pub interrupt: u32,
}

/// One `[[channel]]`: a virtio-vsock device in `frontend`, a ring in `backend`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    pub name: String,
    pub kind: ChannelKind,
    pub frontend: String,
    pub backend: String,
    pub frontend_address: u64,
    pub frontend_interrupt: u32,
    pub backend_address: u64,
    pub backend_interrupt: u32,
    pub size: Size,
    pub frontend_cid: u64,
    pub backend_cid: u64,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ChannelKind {
    VirtioVsock,
}

/// `[board]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Board {
    pub name: String,
    /// Physical CPUs the board can have; vCPUs are placed on CPUs `0..max_cpus`.
    pub max_cpus: usize,
    /// Device trees of the machines the board stands for, relative to the file's folder.
    pub reference_device_trees: Vec<String>,
    pub scheduling: Scheduling,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Scheduling {
    Pinned,
    Shared,
}

/// `[console]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Console {
    /// The byte that starts an escape sequence on the shared console.
    pub escape: u8,
    /// The domain with console input at boot; by default the first with an emulated UART.
    pub initial_focus: Option<String>,
}

/// One `[[domain]]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    pub name: String,
    pub role: Role,
    /// The physical CPU of each vCPU.
    pub vcpus: Vec<usize>,
    /// vCPUs whose physical CPU a machine lacks are left out rather than refusing the domain.
    #[serde(default)]
    pub optional_vcpus: bool,
    #[serde(default)]
    pub priority: u8,
    pub memory: Memory,
    pub kernel: Kernel,
    pub initrd: Option<EmbeddedImage>,
    pub bootargs: Option<String>,
    #[serde(default)]
    pub devices: Vec<DeviceClaim>,
    #[serde(default)]
    pub owns_unclaimed_devices: bool,
    pub console: DomainConsole,
    pub starts_after: Option<String>,
    pub on_system_off: SystemOffAction,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Secure,
    Rich,
    Driver,
}

/// `memory = { size = "16M", ipa = 0x4000_0000, physical = ... }`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    pub size: Size,
    pub ipa: Option<u64>,
    pub physical: Option<u64>,
}

/// A byte count: an integer, or a string with a binary suffix (`"16M"`, `"1G"`, `"512K"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size(pub u64);

/// `kernel = "boot-modules"` or `kernel = { embedded = "NAME" }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kernel {
    BootModules,
    Embedded(EmbeddedImage),
}

/// `{ embedded = "NAME" }`: an image linked into the hypervisor, found through the environment
/// variable `HYP_ARM_IMAGE_<NAME>`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedImage {
    pub embedded: String,
}

/// `{ path = "/pl031@9010000" }` or `{ compatible = "arm,pl031" }` (exactly one of them; checked
/// in `check` so that the message can name the key).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DeviceClaim {
    pub path: Option<String>,
    pub compatible: Option<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DomainConsole {
    EmulatedUart,
    Hypercall,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SystemOffAction {
    PowerOffMachine,
    StopDomain,
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SizeVisitor)
    }
}

struct SizeVisitor;

impl Visitor<'_> for SizeVisitor {
    type Value = Size;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a byte count: an integer or a string such as \"16M\" or \"1G\"")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Size, E> {
        u64::try_from(value)
            .map(Size)
            .map_err(|_| E::custom("a size cannot be negative"))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Size, E> {
        Ok(Size(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Size, E> {
        parse_size(value).map(Size).ok_or_else(|| {
            E::custom(format!(
                "\"{value}\" is not a size: write a number with K, M or G (powers of 1024), \
                 such as \"16M\""
            ))
        })
    }
}

/// `"16M"` -> 16 MiB; `"4096"` -> 4096; K, M and G are powers of 1024.
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, shift) = match text.as_bytes().last()? {
        b'K' | b'k' => (&text[..text.len() - 1], 10),
        b'M' | b'm' => (&text[..text.len() - 1], 20),
        b'G' | b'g' => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    let digits = digits.replace('_', "");
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

impl<'de> Deserialize<'de> for Kernel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KernelVisitor)
    }
}

struct KernelVisitor;

impl<'de> Visitor<'de> for KernelVisitor {
    type Value = Kernel;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("\"boot-modules\" or { embedded = \"NAME\" }")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Kernel, E> {
        match value {
            "boot-modules" => Ok(Kernel::BootModules),
            other => Err(E::custom(format!(
                "kernel \"{other}\" is unknown: write \"boot-modules\" (the loader's \
                 multiboot modules) or {{ embedded = \"NAME\" }}"
            ))),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Kernel, A::Error> {
        EmbeddedImage::deserialize(MapAccessDeserializer::new(map)).map(Kernel::Embedded)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_with_binary_suffixes() {
        assert_eq!(parse_size("16M"), Some(16 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("512k"), Some(512 << 10));
        assert_eq!(parse_size("2_097_152"), Some(2 << 20));
        assert_eq!(parse_size("M"), None);
        assert_eq!(parse_size("1.5G"), None);
        assert_eq!(parse_size("-2M"), None);
        assert_eq!(parse_size("99999999999999G"), None);
    }
}
