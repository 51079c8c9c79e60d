//! PLACEHOLDER until the config worker's version lands: who owns each device at boot.
use core::fmt;

use super::plan::{DeviceMatch, SystemPlan, MAX_DOMAINS};
use crate::platform::{Device, Platform};

#[derive(Clone, Copy, Debug)]
pub struct DomainRefusal {
    pub domain: &'static str,
}

impl fmt::Display for DomainRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} refused", self.domain)
    }
}

pub struct DeviceOwners {
    plan: &'static SystemPlan,
    refusals: [Option<DomainRefusal>; MAX_DOMAINS],
}

impl DeviceOwners {
    pub fn resolve(plan: &'static SystemPlan, _platform: &Platform, cpu_count: usize) -> Self {
        let mut refusals = [None; MAX_DOMAINS];
        for (index, domain) in plan.domains.iter().enumerate().take(MAX_DOMAINS) {
            if domain.vcpu_pcpus.iter().any(|&p| p >= cpu_count) {
                refusals[index] = Some(DomainRefusal {
                    domain: domain.name,
                });
            }
        }
        DeviceOwners { plan, refusals }
    }

    pub fn owner_of(&self, device: &Device) -> Option<usize> {
        if !device.enabled || device.is_pci_host_bridge {
            return None;
        }
        let claims = |claim: &DeviceMatch| match claim {
            DeviceMatch::Path(path) => device.path.as_str() == *path,
            DeviceMatch::Compatible(compatible) => device.compatible == Some(*compatible),
        };
        self.plan
            .domains
            .iter()
            .position(|domain| domain.devices.iter().any(claims))
            .or_else(|| {
                self.plan
                    .domains
                    .iter()
                    .position(|domain| domain.owns_unclaimed_devices)
            })
    }

    pub fn refusal(&self, domain: usize) -> Option<&DomainRefusal> {
        self.refusals.get(domain).and_then(Option::as_ref)
    }
}
