//! vGIC configuration: GIC version, vCPU count, and which interrupts the domain owns.
#![forbid(unsafe_code)]

use core::fmt;

/// The most vCPUs one vGIC serves: GICv2 has at most 8 CPU interfaces (IHI 0048B
/// GICD_TYPER.CPUNumber), and with vCPU i at MPIDR Aff0 = i one GICv3 SGI TargetList (16 CPUs)
/// reaches them all.
pub const MAX_VCPUS: usize = 8;

/// The first INTID after the SPIs: INTIDs 1020..=1023 are special (IHI 0069, "INTIDs").
pub const INTID_LIMIT: u32 = 1020;

/// The number of SGIs and PPIs, banked per vCPU (IHI 0069, "INTIDs").
pub const PRIVATE_INTERRUPTS: u32 = 32;

/// The largest GICD_TYPER.ITLinesNumber (31) allows 1024 INTIDs, 992 of them SPIs
/// (IHI 0069 GICD_TYPER.ITLinesNumber); the last four are special INTIDs and never exist.
pub const MAX_SPIS: u32 = 992;

/// Which GIC architecture the guest sees (the host's: the guest CPU interface is the hardware's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicVersion {
    /// GICv2 (IHI 0048B): memory-mapped distributor, GICV CPU interface frame.
    V2,
    /// GICv3 (IHI 0069) with affinity routing: distributor, redistributors, ICC_* system registers.
    V3,
}

/// A set of INTIDs below 1024, as a bitmap (no heap).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterruptSet {
    words: [u32; 32],
}

impl InterruptSet {
    /// The empty set.
    pub const EMPTY: Self = Self { words: [0; 32] };

    /// A set holding the given INTIDs; fails on one that is not below 1020.
    pub fn from_intids(intids: &[u32]) -> Result<Self, VgicConfigError> {
        let mut set = Self::EMPTY;
        for &intid in intids {
            set.insert(intid)?;
        }
        Ok(set)
    }

    /// Adds `intid`; fails when it is a special INTID or beyond (1020 and up).
    pub fn insert(&mut self, intid: u32) -> Result<(), VgicConfigError> {
        if intid >= INTID_LIMIT {
            return Err(VgicConfigError::InterruptOutOfRange { intid });
        }
        self.words[(intid / 32) as usize] |= 1 << (intid % 32);
        Ok(())
    }

    /// Whether `intid` is in the set (false for anything out of range).
    pub fn contains(&self, intid: u32) -> bool {
        self.words
            .get((intid / 32) as usize)
            .is_some_and(|word| word & (1 << (intid % 32)) != 0)
    }

    /// The INTIDs in the set, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..1024u32).filter(|&intid| self.contains(intid))
    }
}

/// How the vGIC of one domain is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VgicConfig {
    /// The GIC version of the host, which the guest sees too.
    pub version: GicVersion,
    /// Number of vCPUs (1..=8); vCPU i has MPIDR Aff0 = i.
    pub vcpu_count: usize,
    /// Number of SPIs the guest distributor implements: a multiple of 32, normally taken from
    /// the host's GICD_TYPER.ITLinesNumber as `32 * ITLinesNumber`.
    pub nr_spis: u32,
    /// Physical SPIs passed through to this domain: injected with the hardware bit (pINTID =
    /// vINTID), and the guest's configuration of them is forwarded to the physical distributor.
    pub owned_spis: InterruptSet,
    /// SPIs that exist only virtually (emulated devices, channel doorbells): owned by the domain,
    /// never touching the physical GIC.
    pub virtual_spis: InterruptSet,
    /// PPIs (16..=31) whose physical counterpart belongs to the guest, such as the virtual timer
    /// (27) and the EL1 physical timer (30). Other PPIs exist only virtually.
    pub hardware_ppis: InterruptSet,
    /// Deliver hardware-mapped interrupts without the list register's hardware bit, asking for
    /// an EOI maintenance interrupt instead: `sync_and_fill` then reports each one the guest
    /// completed in `FillOutcome::deactivate` and the caller deactivates it physically. For GICs
    /// whose hardware-bit deactivation cannot be relied on (QEMU 7.2's GICv2 deactivates the
    /// physical interrupt but never signals it again if it became pending meanwhile).
    pub deactivate_hardware_by_maintenance: bool,
}

impl VgicConfig {
    /// Checks every field; `Vgic::new` calls this.
    pub fn validate(&self) -> Result<(), VgicConfigError> {
        if self.vcpu_count == 0 || self.vcpu_count > MAX_VCPUS {
            return Err(VgicConfigError::VcpuCount {
                vcpu_count: self.vcpu_count,
            });
        }
        if !self.nr_spis.is_multiple_of(32) || self.nr_spis > MAX_SPIS {
            return Err(VgicConfigError::SpiCount {
                nr_spis: self.nr_spis,
            });
        }
        let first_missing_spi = PRIVATE_INTERRUPTS + self.nr_spis;
        for intid in self.owned_spis.iter().chain(self.virtual_spis.iter()) {
            if intid < PRIVATE_INTERRUPTS || intid >= first_missing_spi {
                return Err(VgicConfigError::SpiNotImplemented {
                    intid,
                    nr_spis: self.nr_spis,
                });
            }
            if self.owned_spis.contains(intid) && self.virtual_spis.contains(intid) {
                return Err(VgicConfigError::SpiBothPhysicalAndVirtual { intid });
            }
        }
        if let Some(intid) = self
            .hardware_ppis
            .iter()
            .find(|&intid| !(16..32).contains(&intid))
        {
            return Err(VgicConfigError::NotAPpi { intid });
        }
        Ok(())
    }
}

/// A `VgicConfig` that cannot work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VgicConfigError {
    /// vcpu_count must be 1..=8.
    VcpuCount { vcpu_count: usize },
    /// nr_spis must be a multiple of 32, at most 992.
    SpiCount { nr_spis: u32 },
    /// An INTID of 1020 or more was put in an `InterruptSet`.
    InterruptOutOfRange { intid: u32 },
    /// An owned or virtual SPI is not in 32..32+nr_spis.
    SpiNotImplemented { intid: u32, nr_spis: u32 },
    /// An SPI is listed both as passed-through physical and as virtual.
    SpiBothPhysicalAndVirtual { intid: u32 },
    /// A hardware PPI outside 16..=31.
    NotAPpi { intid: u32 },
}

impl fmt::Display for VgicConfigError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::VcpuCount { vcpu_count } => {
                write!(
                    formatter,
                    "vGIC: {vcpu_count} vCPUs requested, 1 to {MAX_VCPUS} supported"
                )
            }
            Self::SpiCount { nr_spis } => write!(
                formatter,
                "vGIC: {nr_spis} SPIs requested, need a multiple of 32 no larger than {MAX_SPIS}"
            ),
            Self::InterruptOutOfRange { intid } => {
                write!(formatter, "vGIC: INTID {intid} is not below {INTID_LIMIT}")
            }
            Self::SpiNotImplemented { intid, nr_spis } => write!(
                formatter,
                "vGIC: SPI {intid} is outside the {nr_spis} SPIs of the distributor (32..{})",
                PRIVATE_INTERRUPTS + nr_spis
            ),
            Self::SpiBothPhysicalAndVirtual { intid } => write!(
                formatter,
                "vGIC: SPI {intid} is listed both as a passed-through and as a virtual interrupt"
            ),
            Self::NotAPpi { intid } => {
                write!(
                    formatter,
                    "vGIC: hardware PPI {intid} is not a PPI (16..=31)"
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> VgicConfig {
        VgicConfig {
            version: GicVersion::V3,
            vcpu_count: 4,
            nr_spis: 64,
            owned_spis: InterruptSet::from_intids(&[33, 40]).unwrap(),
            virtual_spis: InterruptSet::from_intids(&[95]).unwrap(),
            hardware_ppis: InterruptSet::from_intids(&[27, 30]).unwrap(),
            deactivate_hardware_by_maintenance: false,
        }
    }

    #[test]
    fn interrupt_set_rejects_special_intids() {
        let mut set = InterruptSet::EMPTY;
        assert_eq!(set.insert(1019), Ok(()));
        assert_eq!(
            set.insert(1020),
            Err(VgicConfigError::InterruptOutOfRange { intid: 1020 })
        );
        assert!(set.contains(1019));
        assert!(!set.contains(u32::MAX));
        assert_eq!(set.iter().collect::<Vec<_>>(), [1019]);
    }

    #[test]
    fn valid_config_passes() {
        assert_eq!(config().validate(), Ok(()));
    }

    #[test]
    fn invalid_configs_are_named() {
        let mut bad = config();
        bad.vcpu_count = 9;
        assert_eq!(
            bad.validate(),
            Err(VgicConfigError::VcpuCount { vcpu_count: 9 })
        );
        let mut bad = config();
        bad.nr_spis = 40;
        assert_eq!(
            bad.validate(),
            Err(VgicConfigError::SpiCount { nr_spis: 40 })
        );
        let mut bad = config();
        bad.owned_spis.insert(96).unwrap();
        assert_eq!(
            bad.validate(),
            Err(VgicConfigError::SpiNotImplemented {
                intid: 96,
                nr_spis: 64
            })
        );
        let mut bad = config();
        bad.virtual_spis.insert(33).unwrap();
        assert_eq!(
            bad.validate(),
            Err(VgicConfigError::SpiBothPhysicalAndVirtual { intid: 33 })
        );
        let mut bad = config();
        bad.hardware_ppis.insert(15).unwrap();
        assert_eq!(bad.validate(), Err(VgicConfigError::NotAPpi { intid: 15 }));
        assert!(bad.validate().unwrap_err().to_string().contains("15"));
    }
}
