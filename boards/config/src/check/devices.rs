//! Checks against one reference device tree: device claims, ownership, interrupts, the console
//! UART and memory placement. Devices are read with hyp-arm's own `Platform`, so "a device" means
//! here exactly what it means at boot (`hyp_arm::domain::ownership`).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use hyp_arm::platform::{Device, Platform};

use super::domains::spans_overlap;
use super::{Checker, ReferenceTree};
use crate::error::{Problem, Span};
use crate::schema::{DeviceClaim, DomainConsole};

/// Who owns a device, and through which key.
#[derive(Clone, Debug)]
struct Owner {
    domain: usize,
    key: String,
}

pub(super) fn check(checker: &mut Checker<'_>, tree: &ReferenceTree) {
    let platform = match Platform::parse(&tree.blob) {
        Ok(platform) => platform,
        Err(error) => {
            checker.reject(
                "board.reference_device_trees",
                Problem::ReferenceTree {
                    tree: tree.name.clone(),
                    error: error.to_string(),
                },
            );
            return;
        }
    };
    let mut devices = Vec::new();
    for device in platform.devices() {
        match device {
            Ok(device) => devices.push(device),
            Err(error) => malformed_device(checker, tree, &error),
        }
    }
    claims_exist(checker, tree, &devices);
    let owners: Vec<Option<Owner>> = devices
        .iter()
        .map(|device| owner_of(checker, tree, device))
        .collect();
    interrupts(checker, tree, &devices, &owners);
    console_uart(checker, tree, &platform, &devices, &owners);
    memory(checker, tree, &platform, &devices, &owners);
}

/// A malformed device is fine unless a path claim names it.
fn malformed_device(
    checker: &mut Checker<'_>,
    tree: &ReferenceTree,
    error: &hyp_arm::platform::PlatformError,
) {
    let hyp_arm::platform::PlatformError::Node { path, .. } = error else {
        return;
    };
    for (index, domain) in checker.config.domains.iter().enumerate() {
        for (claim_index, claim) in domain.devices.iter().enumerate() {
            if claim.path.as_deref() == Some(path.as_str()) {
                checker.reject(
                    format!("domain[{index}].devices[{claim_index}]"),
                    Problem::ClaimedDeviceMalformed {
                        tree: tree.name.clone(),
                        error: error.to_string(),
                    },
                );
            }
        }
    }
}

/// Whether `claim` (of a well-formed shape) names `device`.
fn claim_matches(claim: &DeviceClaim, device: &Device<'_>) -> bool {
    match (&claim.path, &claim.compatible) {
        (Some(path), None) => device.path == path.as_str(),
        (None, Some(compatible)) => device.is_compatible(compatible),
        _ => false,
    }
}

/// Every claim has one shape and matches at least one assignable device of the tree.
fn claims_exist(checker: &mut Checker<'_>, tree: &ReferenceTree, devices: &[Device<'_>]) {
    for (index, domain) in checker.config.domains.iter().enumerate() {
        for (claim_index, claim) in domain.devices.iter().enumerate() {
            let key = format!("domain[{index}].devices[{claim_index}]");
            let described = match (&claim.path, &claim.compatible) {
                (Some(path), None) => format!("path = \"{path}\""),
                (None, Some(compatible)) => format!("compatible = \"{compatible}\""),
                _ => {
                    checker.reject(key, Problem::ClaimShape);
                    continue;
                }
            };
            let matching = || devices.iter().filter(|device| claim_matches(claim, device));
            if matching().any(Device::is_assignable) {
                continue;
            }
            if let Some(bridge) = matching().find(|device| device.is_pci_host_bridge) {
                checker.reject(
                    key,
                    Problem::ClaimIsPciHostBridge {
                        path: bridge.path.to_string(),
                        tree: tree.name.clone(),
                    },
                );
            } else if claim.path.is_none() || !checker_has_malformed(checker, &key) {
                checker.reject(
                    key,
                    Problem::ClaimMatchesNothing {
                        claim: described,
                        tree: tree.name.clone(),
                    },
                );
            }
        }
    }
}

/// Whether `key` was already rejected for naming a malformed device (that says more).
fn checker_has_malformed(checker: &Checker<'_>, key: &str) -> bool {
    checker.errors.iter().any(|error| {
        error.key == key && matches!(error.problem, Problem::ClaimedDeviceMalformed { .. })
    })
}

/// The owner of `device` (the earliest claiming domain, else the unclaimed devices' owner);
/// a later domain's claim of the same device is rejected.
fn owner_of(checker: &mut Checker<'_>, tree: &ReferenceTree, device: &Device<'_>) -> Option<Owner> {
    if !device.is_assignable() {
        return None;
    }
    let mut owner: Option<Owner> = None;
    for (index, domain) in checker.config.domains.iter().enumerate() {
        for (claim_index, claim) in domain.devices.iter().enumerate() {
            if !claim_matches(claim, device) {
                continue;
            }
            let key = format!("domain[{index}].devices[{claim_index}]");
            match &owner {
                None => owner = Some(Owner { domain: index, key }),
                Some(first) if first.domain == index => {}
                Some(first) => {
                    let problem = Problem::DeviceOwnedTwice {
                        device: device.path.to_string(),
                        other_key: first.key.clone(),
                        other: checker.config.domains[first.domain].name.clone(),
                        tree: tree.name.clone(),
                    };
                    checker.reject(key, problem);
                }
            }
        }
    }
    owner.or_else(|| {
        let domain = checker
            .config
            .domains
            .iter()
            .position(|domain| domain.owns_unclaimed_devices)?;
        Some(Owner {
            domain,
            key: format!("domain[{domain}].owns_unclaimed_devices"),
        })
    })
}

/// An SPI raised by devices of two domains is rejected at the later domain's key.
fn interrupts(
    checker: &mut Checker<'_>,
    tree: &ReferenceTree,
    devices: &[Device<'_>],
    owners: &[Option<Owner>],
) {
    // SPI -> (index into devices) of the first owned device raising it.
    let mut first_raiser: BTreeMap<u32, usize> = BTreeMap::new();
    for (device_index, (device, owner)) in devices.iter().zip(owners).enumerate() {
        let Some(owner) = owner else { continue };
        for &spi in &device.spis {
            let Some(&first_index) = first_raiser.get(&spi) else {
                first_raiser.insert(spi, device_index);
                continue;
            };
            let Some(first_owner) = &owners[first_index] else {
                continue;
            };
            if first_owner.domain == owner.domain {
                continue;
            }
            let (earlier, later) = if first_owner.domain < owner.domain {
                (first_owner, owner)
            } else {
                (owner, first_owner)
            };
            let domains = &checker.config.domains;
            let (first_device, device) = (&devices[first_index], device);
            let (other_device, later_device) = if earlier.domain == first_owner.domain {
                (first_device, device)
            } else {
                (device, first_device)
            };
            let problem = Problem::SharedInterrupt {
                spi,
                device: later_device.path.to_string(),
                other_device: other_device.path.to_string(),
                owners: (
                    domains[earlier.domain].name.clone(),
                    domains[later.domain].name.clone(),
                ),
                tree: tree.name.clone(),
            };
            checker.reject(later.key.clone(), problem);
        }
    }
}

/// A domain with an emulated UART owns the UART `/chosen/stdout-path` names.
fn console_uart(
    checker: &mut Checker<'_>,
    tree: &ReferenceTree,
    platform: &Platform<'_>,
    devices: &[Device<'_>],
    owners: &[Option<Owner>],
) {
    for (index, domain) in checker.config.domains.iter().enumerate() {
        if domain.console != DomainConsole::EmulatedUart {
            continue;
        }
        let key = format!("domain[{index}].console");
        let Some(uart) = &platform.console else {
            checker.reject(
                key,
                Problem::NoConsoleUart {
                    tree: tree.name.clone(),
                },
            );
            continue;
        };
        let owner = devices
            .iter()
            .position(|device| device.path == uart.path)
            .and_then(|position| owners[position].as_ref())
            .map(|owner| owner.domain);
        if owner != Some(index) {
            let problem = Problem::ConsoleUartNotOwned {
                uart: uart.path.to_string(),
                owner: owner.map(|owner| checker.config.domains[owner].name.clone()),
                tree: tree.name.clone(),
            };
            checker.reject(key, problem);
        }
    }
}

/// Fixed guest memory must not cover the domain's own devices; fixed physical memory is RAM.
fn memory(
    checker: &mut Checker<'_>,
    tree: &ReferenceTree,
    platform: &Platform<'_>,
    devices: &[Device<'_>],
    owners: &[Option<Owner>],
) {
    for (index, domain) in checker.config.domains.iter().enumerate() {
        let memory = domain.memory;
        let size = memory.size.0;
        if let Some(start) = memory.physical {
            let in_ram = platform
                .memory
                .iter()
                .any(|range| range.base <= start && start.saturating_add(size) <= range.end());
            if !in_ram {
                checker.reject(
                    format!("domain[{index}].memory.physical"),
                    Problem::PhysicalOutsideRam {
                        span: Span { start, size },
                        tree: tree.name.clone(),
                    },
                );
            }
        }
        // Without `ipa`, guest addresses are the physical ones (when fixed).
        let (field, ipa) = match (memory.ipa, memory.physical) {
            (Some(ipa), _) => ("ipa", ipa),
            (None, Some(physical)) => ("physical", physical),
            (None, None) => continue,
        };
        let guest = Span { start: ipa, size };
        let owned = devices
            .iter()
            .zip(owners)
            .filter(|(_, owner)| owner.as_ref().is_some_and(|owner| owner.domain == index));
        for (device, _) in owned {
            for range in &device.regs {
                let span = Span {
                    start: range.base,
                    size: range.size,
                };
                if spans_overlap(guest, span) {
                    checker.reject(
                        format!("domain[{index}].memory.{field}"),
                        Problem::IpaOverlapsDevice {
                            device: device.path.to_string(),
                            span,
                            tree: tree.name.clone(),
                        },
                    );
                }
            }
        }
    }
}
