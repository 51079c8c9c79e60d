//! A domain's RAM as the hypervisor reads and writes it on the guest's behalf: guest-physical
//! addresses, checked against the RAM ranges the domain really has.

use core::fmt;

/// A guest-physical address (an IPA of the domain), never a host address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct GuestAddress(pub u64);

impl GuestAddress {
    /// `self + offset`, or `None` past the end of the address space.
    pub fn checked_add(self, offset: u64) -> Option<GuestAddress> {
        self.0.checked_add(offset).map(GuestAddress)
    }
}

impl fmt::Display for GuestAddress {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{:#x}", self.0)
    }
}

/// An access that is not entirely inside the guest's RAM; nothing was read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestMemoryError {
    pub address: GuestAddress,
    pub length: u64,
}

impl fmt::Display for GuestMemoryError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} bytes at guest address {} are not all in the guest's RAM",
            self.length, self.address
        )
    }
}

/// The guest's RAM, for the devices that emulate DMA into it.
///
/// Implementations check every access against the guest's RAM ranges (with [`GuestRam`]) before
/// touching memory, so a guest-controlled address can only reach the guest's own RAM.
pub trait GuestMemory {
    /// Whether `length` bytes at `address` lie entirely in the guest's RAM.
    fn contains(&self, address: GuestAddress, length: u64) -> bool;

    /// Copies guest RAM at `address` into `buffer`.
    fn read(&self, address: GuestAddress, buffer: &mut [u8]) -> Result<(), GuestMemoryError>;

    /// Copies `bytes` into guest RAM at `address`.
    fn write(&self, address: GuestAddress, bytes: &[u8]) -> Result<(), GuestMemoryError>;
}

/// One contiguous range of a guest's RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestRamRange {
    pub base: GuestAddress,
    pub size: u64,
}

/// The RAM ranges of a guest, for the bounds check every [`GuestMemory`] makes. An access must
/// lie inside one range: one that straddles two adjacent ranges is refused, which no virtio
/// driver needs (they allocate rings and buffers within one allocation).
#[derive(Clone, Copy, Debug)]
pub struct GuestRam<'ranges> {
    ranges: &'ranges [GuestRamRange],
}

impl<'ranges> GuestRam<'ranges> {
    pub const fn new(ranges: &'ranges [GuestRamRange]) -> Self {
        Self { ranges }
    }

    /// Whether `length` bytes at `address` lie inside one range (a zero-length access at a RAM
    /// address counts as inside).
    pub fn contains(&self, address: GuestAddress, length: u64) -> bool {
        let Some(end) = address.0.checked_add(length) else {
            return false;
        };
        self.ranges.iter().any(|range| {
            let range_end = range.base.0.saturating_add(range.size);
            address.0 >= range.base.0 && address.0 < range_end && end <= range_end
        })
    }

    /// `Ok` when [`GuestRam::contains`], else the error naming the access.
    pub fn check(&self, address: GuestAddress, length: u64) -> Result<(), GuestMemoryError> {
        if self.contains(address, length) {
            Ok(())
        } else {
            Err(GuestMemoryError { address, length })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accesses_must_lie_inside_one_range() {
        let ranges = [
            GuestRamRange {
                base: GuestAddress(0x4000_0000),
                size: 0x1000,
            },
            GuestRamRange {
                base: GuestAddress(0x4000_1000),
                size: 0x1000,
            },
        ];
        let ram = GuestRam::new(&ranges);
        assert!(ram.contains(GuestAddress(0x4000_0000), 0x1000));
        assert!(ram.contains(GuestAddress(0x4000_1FFF), 1));
        assert!(ram.contains(GuestAddress(0x4000_0800), 0));
        assert!(!ram.contains(GuestAddress(0x4000_0FFF), 2), "straddles");
        assert!(!ram.contains(GuestAddress(0x3FFF_FFFF), 1));
        assert!(!ram.contains(GuestAddress(0x4000_2000), 0));
        assert!(!ram.contains(GuestAddress(u64::MAX), 2), "wraps");
        assert_eq!(
            ram.check(GuestAddress(0x4000_1FF0), 0x20),
            Err(GuestMemoryError {
                address: GuestAddress(0x4000_1FF0),
                length: 0x20
            })
        );
    }
}
