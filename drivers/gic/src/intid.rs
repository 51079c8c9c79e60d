//! Interrupt IDs (IHI 0069 2.2: SGIs 0-15, PPIs 16-31, SPIs 32-1019) and what an acknowledge returns.

use core::fmt;

use crate::GicError;

/// An SGI, PPI or SPI number. Always below 1020, so it indexes every per-interrupt register bank.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IntId(u32);

impl IntId {
    /// Number of SGIs (0..=15).
    pub const SGI_COUNT: u32 = 16;
    /// Number of private interrupts per CPU: SGIs and PPIs (0..=31).
    pub const PRIVATE_COUNT: u32 = 32;
    /// The first special interrupt ID (1020..=1023 are special: IHI 0069 2.2, IHI 0048B 3.2).
    pub const SPECIAL_START: u32 = 1020;

    /// The interrupt with ID `raw`, if it is an SGI, PPI or SPI.
    pub const fn new(raw: u32) -> Option<Self> {
        if raw < Self::SPECIAL_START {
            Some(Self(raw))
        } else {
            None
        }
    }

    /// SGI `n` (0..=15).
    pub const fn sgi(n: u32) -> Option<Self> {
        if n < Self::SGI_COUNT {
            Some(Self(n))
        } else {
            None
        }
    }

    /// PPI `n` (0..=15), as device trees number them (the timer's "PPI 14" is interrupt 30).
    pub const fn ppi(n: u32) -> Option<Self> {
        if n < Self::PRIVATE_COUNT - Self::SGI_COUNT {
            Some(Self(Self::SGI_COUNT + n))
        } else {
            None
        }
    }

    /// SPI `n` (0..=987), as device trees number them (SPI 1 is interrupt 33).
    pub const fn spi(n: u32) -> Option<Self> {
        if n < Self::SPECIAL_START - Self::PRIVATE_COUNT {
            Some(Self(Self::PRIVATE_COUNT + n))
        } else {
            None
        }
    }

    /// The interrupt ID as the GIC numbers it.
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// Whether this is a software-generated interrupt.
    pub const fn is_sgi(self) -> bool {
        self.0 < Self::SGI_COUNT
    }

    /// Whether this is a private peripheral interrupt.
    pub const fn is_ppi(self) -> bool {
        self.0 >= Self::SGI_COUNT && self.0 < Self::PRIVATE_COUNT
    }

    /// Whether this is banked per CPU (an SGI or a PPI).
    pub const fn is_private(self) -> bool {
        self.0 < Self::PRIVATE_COUNT
    }

    /// Whether this is a shared peripheral interrupt.
    pub const fn is_spi(self) -> bool {
        self.0 >= Self::PRIVATE_COUNT
    }

    pub(crate) const fn index(self) -> usize {
        self.0 as usize
    }
}

impl TryFrom<u32> for IntId {
    type Error = GicError;

    fn try_from(raw: u32) -> Result<Self, GicError> {
        Self::new(raw).ok_or(GicError::InvalidIntId(raw))
    }
}

impl From<IntId> for u32 {
    fn from(intid: IntId) -> u32 {
        intid.0
    }
}

impl fmt::Display for IntId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How a peripheral signals an interrupt (GICD_ICFGR/GICR_ICFGR `Int_config[1]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Level,
    Edge,
}

/// An interrupt taken by an acknowledge; hand it back for priority drop and deactivation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acknowledged {
    /// The interrupt.
    pub intid: IntId,
    /// The acknowledge register's value, to write back unchanged to the EOI and deactivate registers. On
    /// GICv2 it also names, for an SGI, the CPU that sent it (GICC_IAR.CPUID, IHI 0048B 4.4.4).
    pub raw: u32,
}

#[cfg(test)]
mod tests {
    use super::IntId;

    #[test]
    fn constructors_follow_the_device_tree_numbering() {
        assert_eq!(IntId::ppi(14).map(IntId::raw), Some(30));
        assert_eq!(IntId::spi(1).map(IntId::raw), Some(33));
        assert_eq!(IntId::spi(987).map(IntId::raw), Some(1019));
        assert_eq!(IntId::spi(988), None);
        assert_eq!(IntId::ppi(16), None);
        assert_eq!(IntId::sgi(16), None);
        assert_eq!(IntId::new(1020), None);
        assert!(IntId::try_from(1023).is_err());
    }

    #[test]
    fn classification() {
        let sgi = IntId::new(15).unwrap();
        let ppi = IntId::new(16).unwrap();
        let spi = IntId::new(32).unwrap();
        assert!(sgi.is_sgi() && sgi.is_private() && !sgi.is_ppi());
        assert!(ppi.is_ppi() && ppi.is_private() && !ppi.is_spi());
        assert!(spi.is_spi() && !spi.is_private());
    }
}
