//! The boot-time check of the system plan against this machine's device tree: who owns each
//! device, and which domains may not start.
//!
//! The plan was validated at build time against the board's reference trees, but the machine may
//! differ (another QEMU `-smp`, a firmware that disables a node). Nothing here shares a device:
//! a conflict refuses the domain that caused it and the others still start. No allocation: the
//! owner of a device is recomputed from the plan on each question, and only the refusals are kept.
#![forbid(unsafe_code)]

use core::fmt;

use super::plan::{DeviceMatch, DomainConsole, SystemPlan, MAX_DOMAINS};
use crate::platform::{Device, NodePath, Platform, PlatformError};

/// INTIDs below this are SGIs and PPIs; SPIs run from 32 to 1019 (GIC architecture, 2.2.1).
const FIRST_SPI: u32 = 32;
/// One past the last SPI INTID.
const SPI_LIMIT: u32 = 1020;

/// Why a domain may not start on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainRefusal {
    /// The refused domain's name.
    pub domain: &'static str,
    pub reason: RefusalReason,
}

/// The conflict behind a [`DomainRefusal`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefusalReason {
    /// `devices[claim]` matches no enabled device of this machine's tree.
    ClaimMatchesNothing { claim: usize, matcher: DeviceMatch },
    /// The device a claim matches is malformed in this machine's tree.
    ClaimedDeviceMalformed { claim: usize, error: PlatformError },
    /// An earlier domain claims this device too; it stays with that one.
    DeviceClaimedTwice {
        device: NodePath,
        owner: &'static str,
    },
    /// One of the domain's devices raises an SPI that a device of another domain raises too.
    SharedInterrupt {
        spi: u32,
        device: NodePath,
        other_domain: &'static str,
    },
    /// A vCPU is placed on a physical CPU this machine does not have.
    CpuNotPresent {
        vcpu: usize,
        pcpu: usize,
        cpu_count: usize,
    },
    /// `console = "emulated-uart"`, but the tree names no console UART (`/chosen/stdout-path`).
    NoConsoleUart,
    /// `console = "emulated-uart"`, but the console UART belongs to another domain (or nobody).
    ConsoleUartNotOwned {
        uart: NodePath,
        owner: Option<&'static str>,
    },
    /// One of the domain's devices has registers in the same 4 KiB page as a device of another
    /// domain: stage 2 maps whole pages, so either would reach the other's registers.
    SharedPage {
        page: u64,
        device: NodePath,
        other_device: NodePath,
        other_domain: &'static str,
    },
}

impl fmt::Display for DomainRefusal {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "domain `{}` is not started: ", self.domain)?;
        match &self.reason {
            RefusalReason::ClaimMatchesNothing { claim, matcher } => {
                let (key, value) = match matcher {
                    DeviceMatch::Path(path) => ("path", path),
                    DeviceMatch::Compatible(compatible) => ("compatible", compatible),
                };
                write!(
                    formatter,
                    "its claim devices[{claim}] ({key} = \"{value}\") matches no enabled device \
                     in this machine's device tree"
                )
            }
            RefusalReason::ClaimedDeviceMalformed { claim, error } => write!(
                formatter,
                "the device its claim devices[{claim}] matches is malformed: {error}"
            ),
            RefusalReason::DeviceClaimedTwice { device, owner } => write!(
                formatter,
                "it claims {device}, which domain `{owner}` claims first; devices are never shared"
            ),
            RefusalReason::SharedInterrupt {
                spi,
                device,
                other_domain,
            } => write!(
                formatter,
                "its device {device} raises SPI {spi}, which a device of domain `{other_domain}` \
                 raises too; interrupts are never shared"
            ),
            RefusalReason::CpuNotPresent {
                vcpu,
                pcpu,
                cpu_count,
            } => write!(
                formatter,
                "its vCPU {vcpu} is placed on physical CPU {pcpu}, but this machine has \
                 {cpu_count} CPU(s)"
            ),
            RefusalReason::NoConsoleUart => write!(
                formatter,
                "it has console = \"emulated-uart\", but the device tree names no console UART \
                 (/chosen/stdout-path)"
            ),
            RefusalReason::SharedPage {
                page,
                device,
                other_device,
                other_domain,
            } => write!(
                formatter,
                "its device {device} shares the page at {page:#x} with {other_device} of domain \
                 `{other_domain}`; stage 2 maps whole pages, so devices in one page go to one domain"
            ),
            RefusalReason::ConsoleUartNotOwned { uart, owner } => {
                write!(
                    formatter,
                    "it has console = \"emulated-uart\", but the console UART {uart} is "
                )?;
                match owner {
                    Some(owner) => write!(formatter, "owned by domain `{owner}`"),
                    None => write!(formatter, "not owned by it"),
                }
            }
        }
    }
}

/// The owner of every device of the machine and the domains that may not start.
#[derive(Debug)]
pub struct DeviceOwners<'plan> {
    plan: &'plan SystemPlan,
    /// The domain with `owns_unclaimed_devices` (the first, should the plan have several).
    unclaimed_owner: Option<usize>,
    refusals: [Option<DomainRefusal>; MAX_DOMAINS],
}

impl<'plan> DeviceOwners<'plan> {
    /// Checks `plan` against `platform` (with `cpu_count` physical CPUs present).
    pub fn resolve(plan: &'plan SystemPlan, platform: &Platform<'_>, cpu_count: usize) -> Self {
        let mut owners = Self {
            plan,
            unclaimed_owner: plan
                .domains
                .iter()
                .position(|domain| domain.owns_unclaimed_devices),
            refusals: Default::default(),
        };
        owners.check_cpus(cpu_count);
        owners.check_claims(platform);
        owners.check_interrupts(platform);
        owners.check_consoles(platform);
        owners.check_pages(platform);
        owners
    }

    /// The index of the domain that owns `device`: the earliest domain whose path or compatible
    /// claims match it, else the `owns_unclaimed_devices` domain. Disabled devices and PCI host
    /// bridges belong to nobody. The owner may itself be refused (see [`Self::refusal`]).
    pub fn owner_of(&self, device: &Device<'_>) -> Option<usize> {
        if !device.is_assignable() {
            return None;
        }
        self.claimant(device, 0).or(self.unclaimed_owner)
    }

    /// Why domain `domain` may not start, or `None` when it may.
    pub fn refusal(&self, domain: usize) -> Option<&DomainRefusal> {
        self.refusals.get(domain).and_then(Option::as_ref)
    }

    /// The first domain from index `first` on that claims `device`.
    fn claimant(&self, device: &Device<'_>, first: usize) -> Option<usize> {
        (first..self.plan.domains.len()).find(|&index| {
            self.plan.domains[index]
                .devices
                .iter()
                .any(|claim| claim_matches(*claim, device))
        })
    }

    /// Records `reason` against `domain` unless it is refused already (the first reason stays).
    fn refuse(&mut self, domain: usize, reason: RefusalReason) {
        let Some(plan) = self.plan.domains.get(domain) else {
            return;
        };
        if let Some(slot @ None) = self.refusals.get_mut(domain) {
            *slot = Some(DomainRefusal {
                domain: plan.name,
                reason,
            });
        }
    }

    fn check_cpus(&mut self, cpu_count: usize) {
        for (index, domain) in self.plan.domains.iter().enumerate() {
            let present = domain.vcpu_count_on(cpu_count);
            if let Some((vcpu, &pcpu)) = domain.vcpu_pcpus[..present]
                .iter()
                .enumerate()
                .find(|(_, &pcpu)| pcpu >= cpu_count)
            {
                self.refuse(
                    index,
                    RefusalReason::CpuNotPresent {
                        vcpu,
                        pcpu,
                        cpu_count,
                    },
                );
            }
        }
    }

    /// Every claim must match something here, and a device goes to one domain only.
    fn check_claims(&mut self, platform: &Platform<'_>) {
        for (index, domain) in self.plan.domains.iter().enumerate() {
            for (claim_index, &claim) in domain.devices.iter().enumerate() {
                let mut matched = false;
                for device in platform.devices() {
                    let device = match device {
                        Ok(device) => device,
                        Err(error) => {
                            if claim_matches_malformed(claim, &error) {
                                self.refuse(
                                    index,
                                    RefusalReason::ClaimedDeviceMalformed {
                                        claim: claim_index,
                                        error,
                                    },
                                );
                                matched = true;
                            }
                            continue;
                        }
                    };
                    if !device.is_assignable() || !claim_matches(claim, &device) {
                        continue;
                    }
                    matched = true;
                    if let Some(owner) = self.claimant(&device, 0).filter(|&owner| owner < index) {
                        let owner = self.plan.domains[owner].name;
                        self.refuse(
                            index,
                            RefusalReason::DeviceClaimedTwice {
                                device: device.path.clone(),
                                owner,
                            },
                        );
                    }
                }
                if !matched {
                    self.refuse(
                        index,
                        RefusalReason::ClaimMatchesNothing {
                            claim: claim_index,
                            matcher: claim,
                        },
                    );
                }
            }
        }
    }

    /// An SPI raised by devices of two owners is refused to the later owner.
    fn check_interrupts(&mut self, platform: &Platform<'_>) {
        // Owner index + 1 of the first device seen raising each SPI; 0 = none yet.
        let mut spi_owners = [0u8; (SPI_LIMIT - FIRST_SPI) as usize];
        for device in platform.devices().filter_map(Result::ok) {
            let Some(owner) = self.owner_of(&device) else {
                continue;
            };
            for &spi in &device.spis {
                let slot = spi
                    .checked_sub(FIRST_SPI)
                    .and_then(|offset| spi_owners.get_mut(offset as usize));
                let Some(slot) = slot else { continue };
                match usize::from(*slot) {
                    0 => *slot = (owner + 1) as u8,
                    first if first - 1 == owner => {}
                    first => {
                        let (earlier, later) = ((first - 1).min(owner), (first - 1).max(owner));
                        self.refuse(
                            later,
                            RefusalReason::SharedInterrupt {
                                spi,
                                device: device.path.clone(),
                                other_domain: self.plan.domains[earlier].name,
                            },
                        );
                    }
                }
            }
        }
    }

    /// A domain with an emulated UART console must own the console UART.
    fn check_consoles(&mut self, platform: &Platform<'_>) {
        for (index, domain) in self.plan.domains.iter().enumerate() {
            if domain.console != DomainConsole::EmulatedUart {
                continue;
            }
            let Some(uart) = &platform.console else {
                self.refuse(index, RefusalReason::NoConsoleUart);
                continue;
            };
            let owner = match platform.device(&uart.path) {
                Some(Ok(device)) => self.owner_of(&device),
                _ => None,
            };
            if owner != Some(index) {
                self.refuse(
                    index,
                    RefusalReason::ConsoleUartNotOwned {
                        uart: uart.path.clone(),
                        owner: owner.map(|owner| self.plan.domains[owner].name),
                    },
                );
            }
        }
    }
}

/// Whether `claim` names `device` (any string of its `compatible` list counts).
pub fn claim_matches(claim: DeviceMatch, device: &Device<'_>) -> bool {
    match claim {
        DeviceMatch::Path(path) => device.path == path,
        DeviceMatch::Compatible(compatible) => device.is_compatible(compatible),
    }
}

/// Whether a path claim names the node a device-list error is about.
fn claim_matches_malformed(claim: DeviceMatch, error: &PlatformError) -> bool {
    match (claim, error) {
        (DeviceMatch::Path(path), PlatformError::Node { path: node, .. }) => node == path,
        _ => false,
    }
}

mod pages;
#[cfg(test)]
mod tests;
