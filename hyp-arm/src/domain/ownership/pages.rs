//! Devices of different domains in one 4 KiB page (the Raspberry Pi 4's mini UART shares its page
//! with the AUX block and two SPI controllers): stage 2 cannot split a page, so this is refused.
#![forbid(unsafe_code)]

use super::{DeviceOwners, RefusalReason};
use crate::platform::{Device, MemoryRange, Platform};

/// Stage-2 granule: the smallest unit a domain can be given.
const PAGE_SIZE: u64 = 0x1000;

/// The first page that `first` and `second` both touch, if any.
fn shared_page(first: &MemoryRange, second: &MemoryRange) -> Option<u64> {
    if first.size == 0 || second.size == 0 {
        return None;
    }
    let pages = |range: &MemoryRange| {
        let start = range.base & !(PAGE_SIZE - 1);
        // The last byte's page; saturating so a range at the top of the address space is fine.
        let last = range.base.saturating_add(range.size - 1) & !(PAGE_SIZE - 1);
        (start, last)
    };
    let ((first_start, first_last), (second_start, second_last)) = (pages(first), pages(second));
    let start = first_start.max(second_start);
    (start <= first_last.min(second_last)).then_some(start)
}

fn first_shared_page(first: &Device<'_>, second: &Device<'_>) -> Option<u64> {
    first
        .regs
        .iter()
        .find_map(|one| second.regs.iter().find_map(|other| shared_page(one, other)))
}

impl DeviceOwners<'_> {
    /// Refuses the later of two domains whose devices share a page. Quadratic in the number of
    /// devices, without allocation; run once per boot.
    pub(super) fn check_pages(&mut self, platform: &Platform<'_>) {
        for (index, device) in platform.devices().enumerate() {
            let Ok(device) = device else { continue };
            let Some(owner) = self.owner_of(&device) else {
                continue;
            };
            for other in platform.devices().skip(index + 1) {
                let Ok(other) = other else { continue };
                let Some(other_owner) = self.owner_of(&other) else {
                    continue;
                };
                if other_owner == owner {
                    continue;
                }
                let Some(page) = first_shared_page(&device, &other) else {
                    continue;
                };
                let (earlier, later) = if owner < other_owner {
                    ((owner, &device), (other_owner, &other))
                } else {
                    ((other_owner, &other), (owner, &device))
                };
                self.refuse(
                    later.0,
                    RefusalReason::SharedPage {
                        page,
                        device: later.1.path.clone(),
                        other_device: earlier.1.path.clone(),
                        other_domain: self.plan.domains[earlier.0].name,
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_shared_only_when_a_byte_of_each_lies_in_them() {
        let uart = MemoryRange::new(0xfe21_5040, 0x40);
        assert_eq!(
            shared_page(&uart, &MemoryRange::new(0xfe21_5000, 8)),
            Some(0xfe21_5000)
        );
        assert_eq!(
            shared_page(&uart, &MemoryRange::new(0xfe21_4000, 0x1000)),
            None
        );
        assert_eq!(
            shared_page(&uart, &MemoryRange::new(0xfe21_6000, 0x1000)),
            None
        );
        assert_eq!(
            shared_page(
                &MemoryRange::new(0x1000, 0x3000),
                &MemoryRange::new(0x3ff0, 0x20)
            ),
            Some(0x3000)
        );
        assert_eq!(shared_page(&uart, &MemoryRange::new(0xfe21_5000, 0)), None);
        let top = MemoryRange::new(u64::MAX - 0xfff, 0x1000);
        assert_eq!(shared_page(&top, &top), Some(u64::MAX - 0xfff));
    }
}
