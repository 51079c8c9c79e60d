//! Devices of different domains in one 4 KiB page (the Raspberry Pi 4's mini UART shares its page
//! with the AUX block and two SPI controllers): stage 2 cannot split a page, so this is refused.
#![forbid(unsafe_code)]

use super::{DeviceOwners, RefusalReason};
use crate::platform::{MemoryRange, Platform};

/// Stage-2 granule: the smallest unit a domain can be given.
const PAGE_SIZE: u64 = 0x1000;

/// The first page that `first` and `second` both touch, if any.
fn shared_page(first: &MemoryRange, second: &MemoryRange) -> Option<u64> {
    let ((first_start, first_last), (second_start, second_last)) =
        (page_span(first)?, page_span(second)?);
    let start = first_start.max(second_start);
    (start <= first_last.min(second_last)).then_some(start)
}

/// One register range of a device that a domain owns, as the pages it touches.
#[derive(Clone, Copy)]
struct OwnedPages {
    first: u64,
    last: u64,
    owner: usize,
    /// The device's position in `Platform::devices`.
    device: usize,
}

/// The most owned register ranges checked in one sorted pass; a tree with more is checked pair
/// by pair instead (slower, never skipped).
const MAX_OWNED_RANGES: usize = 512;

/// The first and last pages `range` touches; none for an empty range.
fn page_span(range: &MemoryRange) -> Option<(u64, u64)> {
    // Saturating, so that a range at the top of the address space is fine.
    let last_byte = range.base.saturating_add(range.size.checked_sub(1)?);
    Some((range.base & !(PAGE_SIZE - 1), last_byte & !(PAGE_SIZE - 1)))
}

impl DeviceOwners<'_> {
    /// Refuses the later of two domains whose devices share a page. The owned ranges are
    /// sorted by their first page and each is compared only with those that start before it
    /// ends: walking the device tree once per pair cost QEMU virt's 40 devices some 30 million
    /// instructions at boot.
    pub(super) fn check_pages(&mut self, platform: &Platform<'_>) {
        let mut ranges = heapless::Vec::<OwnedPages, MAX_OWNED_RANGES>::new();
        for (index, device) in platform.devices().enumerate() {
            let Ok(device) = device else { continue };
            let Some(owner) = self.owner_of(&device) else {
                continue;
            };
            for (first, last) in device.regs.iter().filter_map(page_span) {
                let range = OwnedPages {
                    first,
                    last,
                    owner,
                    device: index,
                };
                if ranges.push(range).is_err() {
                    return self.check_pages_pair_by_pair(platform);
                }
            }
        }
        ranges.sort_unstable_by_key(|range| range.first);
        for (position, range) in ranges.iter().enumerate() {
            let overlapping = ranges[position + 1..]
                .iter()
                .take_while(|other| other.first <= range.last);
            for other in overlapping.filter(|other| other.owner != range.owner) {
                let page = other.first.max(range.first);
                self.refuse_shared(
                    platform,
                    page,
                    (range.owner, range.device),
                    (other.owner, other.device),
                );
            }
        }
    }

    /// The same check without the sorted list, for trees with more owned ranges than it holds.
    fn check_pages_pair_by_pair(&mut self, platform: &Platform<'_>) {
        for (index, device) in platform.devices().enumerate() {
            let Ok(device) = device else { continue };
            let Some(owner) = self.owner_of(&device) else {
                continue;
            };
            for (other_index, other) in platform.devices().enumerate().skip(index + 1) {
                let Ok(other) = other else { continue };
                let Some(other_owner) = self.owner_of(&other) else {
                    continue;
                };
                if other_owner == owner {
                    continue;
                }
                let shared = device
                    .regs
                    .iter()
                    .find_map(|one| other.regs.iter().find_map(|two| shared_page(one, two)));
                if let Some(page) = shared {
                    self.refuse_shared(platform, page, (owner, index), (other_owner, other_index));
                }
            }
        }
    }

    /// Refuses the later (in plan order) of two domains, given as (domain, device position),
    /// whose devices share `page`.
    fn refuse_shared(
        &mut self,
        platform: &Platform<'_>,
        page: u64,
        first: (usize, usize),
        second: (usize, usize),
    ) {
        let (earlier, later) = if first.0 < second.0 {
            (first, second)
        } else {
            (second, first)
        };
        let path_of = |position: usize| {
            platform
                .devices()
                .nth(position)
                .and_then(Result::ok)
                .map(|device| device.path)
        };
        let (Some(device), Some(other_device)) = (path_of(later.1), path_of(earlier.1)) else {
            return;
        };
        self.refuse(
            later.0,
            RefusalReason::SharedPage {
                page,
                device,
                other_device,
                other_domain: self.plan.domains[earlier.0].name,
            },
        );
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
