//! Board-emulated devices: the one extension point through which a board crate gives a domain
//! devices that hyp-arm's core knows nothing about (the goldfish board's battery, keypad, RTC
//! and TTY). The board declares each in its `domains.toml` (`[[virtual_device]]`: name, domain,
//! compatible, window, interrupt) and supplies its register model as a `&'static dyn
//! EmulatedDevice` (`BoardConfig::emulated_devices`); the core traps the window, calls the model
//! and injects its interrupt. Everything here is pure and host-testable.
#![forbid(unsafe_code)]

use core::fmt;

use crate::channel::guest_memory::{GuestAddress, GuestMemory, GuestMemoryError};

/// Why a device refused an access; the core injects a data abort into the guest and logs
/// this, naming the domain and the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessError {
    /// A width the register does not have (most goldfish registers are 32-bit only).
    UnsupportedWidth { offset: u64, width: u8 },
    /// No register at this offset.
    NoRegister { offset: u64 },
    /// A write to a read-only register.
    ReadOnly { offset: u64 },
    /// A read of a write-only register.
    WriteOnly { offset: u64 },
    /// A command named a buffer that is not all in the domain's RAM.
    BadGuestBuffer { address: u64, length: u64 },
}

impl fmt::Display for AccessError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::UnsupportedWidth { offset, width } => write!(
                formatter,
                "access of {width} bytes at offset {offset:#x}, which the register does not serve"
            ),
            Self::NoRegister { offset } => write!(formatter, "no register at offset {offset:#x}"),
            Self::ReadOnly { offset } => {
                write!(formatter, "write to the read-only register at {offset:#x}")
            }
            Self::WriteOnly { offset } => {
                write!(formatter, "read of the write-only register at {offset:#x}")
            }
            Self::BadGuestBuffer { address, length } => write!(
                formatter,
                "the buffer of {length} bytes at guest address {address:#x} is not all in its RAM"
            ),
        }
    }
}

/// Why a console command was not carried out (shown on the console as `[hyp] ...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// The command is not for this device (the core then asks the next one).
    NotMine,
    /// For this device, but wrong: the text says what is expected.
    Usage(&'static str),
}

/// What the core gives a device during an access or a command: the domain's RAM (every access
/// checked against it), its console output, and the time.
pub trait DeviceContext {
    /// The domain's RAM, bounds-checked (`channel::guest_memory`).
    fn memory(&self) -> &dyn GuestMemory;
    /// Writes `bytes` to the shared console as the domain's output (tagged with its name).
    fn console_write(&self, bytes: &[u8]);
    /// Nanoseconds since the UNIX epoch: the secure domain's trusted time once it published
    /// it, until then the time since the hypervisor booted (docs/GOLDFISH.md).
    fn unix_time_nanoseconds(&self) -> u64;
}

/// A register model the core serves a trapped window with. Implementations use interior
/// mutability (`crate::sync::Mutex` in the hypervisor), since accesses come from any CPU.
///
/// Interrupts: the core's vGIC latches a virtual SPI like an edge, so instead of a level the
/// device reports a *request*: [`EmulatedDevice::take_interrupt`] says whether it raised its
/// line since the last call (a level device that re-asserts while still asserted, as the
/// goldfish events queue does after each event, requests again). The core asks after every
/// access and every console command, and injects the SPI when the answer is yes.
pub trait EmulatedDevice: Sync {
    /// A guest read of `width` bytes (1, 2, 4 or 8) at `offset` in the window.
    fn read(&self, context: &dyn DeviceContext, offset: u64, width: u8)
        -> Result<u64, AccessError>;

    /// A guest write of `width` bytes at `offset` in the window.
    fn write(
        &self,
        context: &dyn DeviceContext,
        offset: u64,
        width: u8,
        value: u64,
    ) -> Result<(), AccessError>;

    /// Whether the device raised its interrupt since the last call (the request is consumed).
    fn take_interrupt(&self) -> bool;

    /// A console command line, split into words (`battery capacity 42`). Devices answer
    /// [`CommandError::NotMine`] for commands that are not theirs; that is the default.
    fn command(&self, _context: &dyn DeviceContext, _words: &[&str]) -> Result<(), CommandError> {
        Err(CommandError::NotMine)
    }

    /// Back to power-on state: the domain restarts.
    fn reset(&self) {}
}

/// A board's implementation of a `[[virtual_device]]`, under the name the declaration uses.
#[derive(Clone, Copy)]
pub struct BoardDevice {
    pub name: &'static str,
    pub device: &'static dyn EmulatedDevice,
}

impl fmt::Debug for BoardDevice {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("BoardDevice")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The implementation registered under `name`, if the board has one.
pub fn find_device(devices: &[BoardDevice], name: &str) -> Option<&'static dyn EmulatedDevice> {
    devices
        .iter()
        .find(|device| device.name == name)
        .map(|device| device.device)
}

/// Splits a console command line into at most `N` words (runs of spaces or tabs separate them;
/// more words than that are an error, as no command has so many).
pub fn split_words<const N: usize>(line: &str) -> Option<heapless::Vec<&str, N>> {
    let mut words = heapless::Vec::new();
    for word in line.split([' ', '\t']).filter(|word| !word.is_empty()) {
        words.push(word).ok()?;
    }
    Some(words)
}

/// Reads `buffer.len()` bytes of guest RAM at `address` through the context: a helper for
/// devices that take a guest-physical buffer (the goldfish TTY's WRITE_BUFFER).
pub fn read_guest(
    context: &dyn DeviceContext,
    address: u64,
    buffer: &mut [u8],
) -> Result<(), GuestMemoryError> {
    context.memory().read(GuestAddress(address), buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;
    impl EmulatedDevice for Nothing {
        fn read(&self, _: &dyn DeviceContext, offset: u64, _: u8) -> Result<u64, AccessError> {
            Err(AccessError::NoRegister { offset })
        }
        fn write(
            &self,
            _: &dyn DeviceContext,
            offset: u64,
            _: u8,
            _: u64,
        ) -> Result<(), AccessError> {
            Err(AccessError::ReadOnly { offset })
        }
        fn take_interrupt(&self) -> bool {
            false
        }
    }
    static NOTHING: Nothing = Nothing;

    #[test]
    fn devices_are_found_by_name() {
        let devices = [BoardDevice {
            name: "battery",
            device: &NOTHING,
        }];
        assert!(find_device(&devices, "battery").is_some());
        assert!(find_device(&devices, "keypad").is_none());
    }

    #[test]
    fn command_lines_split_into_words() {
        let words = split_words::<4>("  battery\tcapacity  42 ").unwrap();
        assert_eq!(words.as_slice(), ["battery", "capacity", "42"]);
        assert!(split_words::<2>("a b c").is_none());
        assert!(split_words::<2>("").unwrap().is_empty());
    }

    #[test]
    fn errors_say_what_was_refused() {
        let text = format!(
            "{}",
            AccessError::UnsupportedWidth {
                offset: 4,
                width: 1
            }
        );
        assert!(text.contains("1 bytes at offset 0x4"), "{text}");
    }
}
