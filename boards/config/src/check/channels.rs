//! Checks of the `[[channel]]` tables: the domains they join, their addresses and interrupts,
//! and (against each reference tree) that nothing of the machine sits where they do.
#![forbid(unsafe_code)]

use hyp_arm::domain::plan::MAX_CHANNELS;
use hyp_arm::platform::Platform;

use super::domains::is_usable_name;
use super::{Checker, ReferenceTree};
use crate::error::Problem;

/// The virtio-mmio register frame a frontend gets (virtio 1.2 section 4.2.2).
pub(super) const FRAME_SIZE: u64 = 0x200;
pub(super) const PAGE_SIZE: u64 = 0x1000;
/// The ring region: a header and two rings (docs/CHANNELS.md).
const SMALLEST_REGION: u64 = 16 * 1024;
/// SPIs are INTIDs 32..1020 (GICv3 2.2.1).
pub(super) const SPIS: core::ops::Range<u32> = 32..1020;
/// vsock CIDs 0-2 are reserved (hypervisor, local, host).
const FIRST_GUEST_CID: u64 = 3;

fn reject(checker: &mut Checker<'_>, key: String, sentence: String) {
    checker.reject(key, Problem::Channel(sentence));
}

pub(super) fn check(checker: &mut Checker<'_>) {
    let config = checker.config;
    if config.channels.len() > MAX_CHANNELS {
        reject(
            checker,
            "channel".into(),
            format!(
                "{} channels, at most {MAX_CHANNELS} are supported",
                config.channels.len()
            ),
        );
    }
    for (index, channel) in config.channels.iter().enumerate() {
        let key = |field: &str| format!("channel[{index}].{field}");
        if !is_usable_name(&channel.name, 16) {
            reject(
                checker,
                key("name"),
                format!(
                    "`{}` is not a usable name: [a-z][a-z0-9-]*, at most 16 bytes",
                    channel.name
                ),
            );
        }
        for (field, name) in [
            ("frontend", &channel.frontend),
            ("backend", &channel.backend),
        ] {
            if !config.domains.iter().any(|domain| &domain.name == name) {
                reject(checker, key(field), format!("`{name}` names no [[domain]]"));
            }
        }
        if channel.frontend == channel.backend {
            reject(
                checker,
                key("backend"),
                format!(
                    "`{}` is also the frontend: a channel joins two domains",
                    channel.backend
                ),
            );
        }
        for (field, address, alignment) in [
            ("frontend_address", channel.frontend_address, PAGE_SIZE),
            ("backend_address", channel.backend_address, PAGE_SIZE),
            ("size", channel.size.0, PAGE_SIZE),
        ] {
            if address % alignment != 0 {
                reject(
                    checker,
                    key(field),
                    format!("{address:#x} is not a multiple of {alignment:#x} (stage-2 pages)"),
                );
            }
        }
        if channel.size.0 < SMALLEST_REGION {
            reject(
                checker,
                key("size"),
                format!(
                    "{:#x} bytes cannot hold the ring header and two rings; at least {SMALLEST_REGION:#x}",
                    channel.size.0
                ),
            );
        }
        for (field, intid) in [
            ("frontend_interrupt", channel.frontend_interrupt),
            ("backend_interrupt", channel.backend_interrupt),
        ] {
            if !SPIS.contains(&intid) {
                reject(
                    checker,
                    key(field),
                    format!("INTID {intid} is not an SPI (32 to 1019)"),
                );
            }
        }
        if channel.frontend_cid < FIRST_GUEST_CID
            || channel.backend_cid < FIRST_GUEST_CID
            || channel.frontend_cid == channel.backend_cid
        {
            reject(
                checker,
                key("backend_cid"),
                format!(
                    "CIDs {} and {} must differ and be at least {FIRST_GUEST_CID} (0-2 are reserved)",
                    channel.frontend_cid, channel.backend_cid
                ),
            );
        }
        if let Some(ram) = config
            .domains
            .iter()
            .find(|domain| domain.name == channel.backend)
            .and_then(|domain| domain.memory.ipa.map(|ipa| (ipa, domain.memory.size.0)))
        {
            let region = (channel.backend_address, channel.size.0);
            if overlaps(region, ram) {
                reject(
                    checker,
                    key("backend_address"),
                    format!(
                        "the ring {:#x}+{:#x} overlaps {}'s RAM {:#x}+{:#x}",
                        region.0, region.1, channel.backend, ram.0, ram.1
                    ),
                );
            }
        }
    }
}

/// Nothing of the machine may be where a channel puts its frame or ring, and no device may
/// raise a channel's interrupts.
pub(super) fn check_against_tree(checker: &mut Checker<'_>, tree: &ReferenceTree) {
    let Ok(platform) = Platform::parse(&tree.blob) else {
        // devices::check reports the unreadable tree.
        return;
    };
    let devices: Vec<_> = platform.devices().flatten().collect();
    for (index, channel) in checker.config.channels.iter().enumerate() {
        let windows = [
            (
                "frontend_address",
                (channel.frontend_address, FRAME_SIZE.max(PAGE_SIZE)),
            ),
            ("backend_address", (channel.backend_address, channel.size.0)),
        ];
        for (field, window) in windows {
            for device in &devices {
                if device
                    .regs
                    .iter()
                    .any(|region| overlaps(window, (region.base, region.size)))
                {
                    reject(
                        checker,
                        format!("channel[{index}].{field}"),
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
        }
        for (field, intid) in [
            ("frontend_interrupt", channel.frontend_interrupt),
            ("backend_interrupt", channel.backend_interrupt),
        ] {
            if let Some(device) = devices.iter().find(|device| device.spis.contains(&intid)) {
                reject(
                    checker,
                    format!("channel[{index}].{field}"),
                    format!(
                        "INTID {intid} is already raised by {} in {}",
                        device.path.as_str(),
                        tree.name
                    ),
                );
            }
        }
    }
}

pub(super) fn overlaps((base, size): (u64, u64), (other_base, other_size): (u64, u64)) -> bool {
    base < other_base.saturating_add(other_size) && other_base < base.saturating_add(size)
}
