//! Checks of the `[[virtual_device]]` tables: the domain they belong to, their window and
//! interrupt, and that nothing else (RAM, the machine's devices, channels, each other) sits
//! where they do or raises their interrupt.
#![forbid(unsafe_code)]

use hyp_arm::domain::plan::MAX_VIRTUAL_DEVICES;
use hyp_arm::platform::Platform;

use super::channels::{overlaps, FRAME_SIZE, PAGE_SIZE, SPIS};
use super::domains::is_usable_name;
use super::{Checker, ReferenceTree};
use crate::error::Problem;

fn reject(checker: &mut Checker<'_>, key: String, sentence: String) {
    checker.reject(key, Problem::VirtualDevice(sentence));
}

fn key(index: usize, field: &str) -> String {
    format!("virtual_device[{index}].{field}")
}

/// What the file alone says: names, alignment, interrupts, and clashes with RAM at a fixed IPA,
/// channels and the other virtual devices.
pub(super) fn check(checker: &mut Checker<'_>) {
    let config = checker.config;
    let devices = &config.virtual_devices;
    if devices.len() > MAX_VIRTUAL_DEVICES {
        reject(
            checker,
            "virtual_device".into(),
            format!(
                "{} virtual devices, at most {MAX_VIRTUAL_DEVICES} are supported",
                devices.len()
            ),
        );
    }
    for (index, device) in devices.iter().enumerate() {
        if !is_usable_name(&device.name, 16) {
            reject(
                checker,
                key(index, "name"),
                format!(
                    "`{}` is not a usable name: [a-z][a-z0-9-]*, at most 16 bytes",
                    device.name
                ),
            );
        }
        if devices[..index]
            .iter()
            .any(|other| other.name == device.name)
        {
            reject(
                checker,
                key(index, "name"),
                format!("`{}` is declared twice", device.name),
            );
        }
        if device.compatible.is_empty() || !device.compatible.is_ascii() {
            reject(
                checker,
                key(index, "compatible"),
                "must be a non-empty ASCII string (`vendor,device`)".into(),
            );
        }
        let Some(domain) = config.domains.iter().find(|d| d.name == device.domain) else {
            reject(
                checker,
                key(index, "domain"),
                format!("`{}` names no [[domain]]", device.domain),
            );
            continue;
        };
        for (field, value) in [("address", device.address), ("size", device.size.0)] {
            if value % PAGE_SIZE != 0 || (field == "size" && value == 0) {
                reject(
                    checker,
                    key(index, field),
                    format!(
                        "{value:#x} is not a non-zero multiple of {PAGE_SIZE:#x} (stage-2 pages)"
                    ),
                );
            }
        }
        if !SPIS.contains(&device.interrupt) {
            reject(
                checker,
                key(index, "interrupt"),
                format!("INTID {} is not an SPI (32 to 1019)", device.interrupt),
            );
        }
        let window = (device.address, device.size.0);
        if let Some(ipa) = domain.memory.ipa {
            let ram = (ipa, domain.memory.size.0);
            if overlaps(window, ram) {
                reject(
                    checker,
                    key(index, "address"),
                    format!(
                        "{:#x}+{:#x} overlaps {}'s RAM {:#x}+{:#x}",
                        window.0, window.1, domain.name, ram.0, ram.1
                    ),
                );
            }
        }
        for channel in &config.channels {
            let frame = (channel.frontend_address, FRAME_SIZE.max(PAGE_SIZE));
            let ring = (channel.backend_address, channel.size.0);
            let clash = (channel.frontend == device.domain && overlaps(window, frame))
                || (channel.backend == device.domain && overlaps(window, ring));
            if clash {
                reject(
                    checker,
                    key(index, "address"),
                    format!(
                        "{:#x}+{:#x} overlaps channel `{}` in {}",
                        window.0, window.1, channel.name, device.domain
                    ),
                );
            }
            let channel_interrupt = (channel.frontend == device.domain
                && channel.frontend_interrupt == device.interrupt)
                || (channel.backend == device.domain
                    && channel.backend_interrupt == device.interrupt);
            if channel_interrupt {
                reject(
                    checker,
                    key(index, "interrupt"),
                    format!(
                        "INTID {} is also channel `{}`'s in {}",
                        device.interrupt, channel.name, device.domain
                    ),
                );
            }
        }
        for other in &devices[..index] {
            if other.domain != device.domain {
                continue;
            }
            if overlaps(window, (other.address, other.size.0)) {
                reject(
                    checker,
                    key(index, "address"),
                    format!(
                        "{:#x}+{:#x} overlaps virtual device `{}`",
                        window.0, window.1, other.name
                    ),
                );
            }
            if other.interrupt == device.interrupt {
                reject(
                    checker,
                    key(index, "interrupt"),
                    format!(
                        "INTID {} is also virtual device `{}`'s",
                        device.interrupt, other.name
                    ),
                );
            }
        }
    }
}

/// Nothing of the machine (RAM, which a domain may get at IPA = PA, and every device, which a
/// domain may own) may sit in a virtual device's window or raise its interrupt.
pub(super) fn check_against_tree(checker: &mut Checker<'_>, tree: &ReferenceTree) {
    let Ok(platform) = Platform::parse(&tree.blob) else {
        // devices::check reports the unreadable tree.
        return;
    };
    let devices: Vec<_> = platform.devices().flatten().collect();
    for (index, virtual_device) in checker.config.virtual_devices.iter().enumerate() {
        let window = (virtual_device.address, virtual_device.size.0);
        if let Some(ram) = platform
            .memory
            .iter()
            .find(|ram| overlaps(window, (ram.base, ram.size)))
        {
            reject(
                checker,
                key(index, "address"),
                format!(
                    "{:#x}+{:#x} overlaps RAM {:#x}+{:#x} in {}",
                    window.0, window.1, ram.base, ram.size, tree.name
                ),
            );
        }
        for device in &devices {
            if device
                .regs
                .iter()
                .any(|region| overlaps(window, (region.base, region.size)))
            {
                reject(
                    checker,
                    key(index, "address"),
                    format!(
                        "{:#x}+{:#x} overlaps the registers of {} in {}",
                        window.0,
                        window.1,
                        device.path.as_str(),
                        tree.name
                    ),
                );
            }
        }
        if let Some(device) = devices
            .iter()
            .find(|device| device.spis.contains(&virtual_device.interrupt))
        {
            reject(
                checker,
                key(index, "interrupt"),
                format!(
                    "INTID {} is already raised by {} in {}",
                    virtual_device.interrupt,
                    device.path.as_str(),
                    tree.name
                ),
            );
        }
    }
}
