//! List registers: one value, encoded as GICv2 GICH_LRn or GICv3 ICH_LR<n>_EL2.
#![forbid(unsafe_code)]

/// The state of an interrupt in a list register; the same two-bit encoding in GICv2 and GICv3.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LrState {
    /// The list register holds nothing (the guest completed what was there).
    #[default]
    Invalid,
    Pending,
    Active,
    PendingActive,
}

impl LrState {
    /// The two-bit field value (IHI 0069 ICH_LR<n>_EL2.State, IHI 0048B GICH_LRn.State).
    pub const fn bits(self) -> u64 {
        match self {
            Self::Invalid => 0b00,
            Self::Pending => 0b01,
            Self::Active => 0b10,
            Self::PendingActive => 0b11,
        }
    }

    /// The state of a two-bit field value (higher bits are ignored).
    pub const fn from_bits(bits: u64) -> Self {
        match bits & 0b11 {
            0b00 => Self::Invalid,
            0b01 => Self::Pending,
            0b10 => Self::Active,
            _ => Self::PendingActive,
        }
    }

    /// The state built from its two halves.
    pub const fn from_parts(pending: bool, active: bool) -> Self {
        Self::from_bits((pending as u64) | ((active as u64) << 1))
    }

    pub const fn is_pending(self) -> bool {
        matches!(self, Self::Pending | Self::PendingActive)
    }

    pub const fn is_active(self) -> bool {
        matches!(self, Self::Active | Self::PendingActive)
    }

    /// This state with the pending half set or cleared.
    pub const fn with_pending(self, pending: bool) -> Self {
        Self::from_parts(pending, self.is_active())
    }

    /// This state with the active half set or cleared.
    pub const fn with_active(self, active: bool) -> Self {
        Self::from_parts(self.is_pending(), active)
    }
}

/// One list register's content, independent of the GIC version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListRegister {
    /// The INTID the guest sees.
    pub virtual_intid: u32,
    /// For a hardware-mapped interrupt (HW=1), the physical INTID that the guest's deactivation
    /// deactivates.
    pub physical_intid: Option<u32>,
    /// The interrupt's priority (GICv2 keeps only the top five bits).
    pub priority: u8,
    pub state: LrState,
    /// Group 1 (signalled as vIRQ to Linux); group 0 otherwise.
    pub group1: bool,
    /// GICv2 SGIs only: the vCPU that sent the SGI (GICH_LRn.CPUID).
    pub source_vcpu: u8,
    /// Ask for a maintenance interrupt when the guest deactivates this interrupt (the EOI bit;
    /// only possible when HW=0).
    pub eoi_maintenance: bool,
}

/// GICH_LRn bit fields (IHI 0048B GICH_LRn).
mod v2 {
    pub const VIRTUAL_ID_MASK: u32 = 0x3FF;
    pub const PHYSICAL_ID_SHIFT: u32 = 10;
    pub const PHYSICAL_ID_MASK: u32 = 0x3FF;
    pub const CPU_ID_SHIFT: u32 = 10;
    pub const CPU_ID_MASK: u32 = 0x7;
    pub const EOI: u32 = 1 << 19;
    pub const PRIORITY_SHIFT: u32 = 23;
    pub const PRIORITY_MASK: u32 = 0x1F;
    pub const STATE_SHIFT: u32 = 28;
    pub const GROUP1: u32 = 1 << 30;
    pub const HW: u32 = 1 << 31;
}

/// ICH_LR<n>_EL2 bit fields (IHI 0069 ICH_LR<n>_EL2).
mod v3 {
    pub const VIRTUAL_INTID_MASK: u64 = 0xFFFF_FFFF;
    pub const PHYSICAL_INTID_SHIFT: u32 = 32;
    pub const PHYSICAL_INTID_MASK: u64 = 0x1FFF;
    pub const EOI: u64 = 1 << 41;
    pub const PRIORITY_SHIFT: u32 = 48;
    pub const GROUP: u64 = 1 << 60;
    pub const HW: u64 = 1 << 61;
    pub const STATE_SHIFT: u32 = 62;
}

impl ListRegister {
    /// An empty list register.
    pub const INVALID: Self = Self {
        virtual_intid: 0,
        physical_intid: None,
        priority: 0,
        state: LrState::Invalid,
        group1: false,
        source_vcpu: 0,
        eoi_maintenance: false,
    };

    /// The GICv2 GICH_LRn value. PhysicalID [19:10] holds the pINTID when HW=1, otherwise EOI [19]
    /// and CPUID [12:10]; the priority keeps its top five bits [27:23] (IHI 0048B GICH_LRn).
    pub fn encode_v2(&self) -> u32 {
        let mut value = self.virtual_intid & v2::VIRTUAL_ID_MASK;
        match self.physical_intid {
            Some(physical_intid) => {
                value |= v2::HW;
                value |= (physical_intid & v2::PHYSICAL_ID_MASK) << v2::PHYSICAL_ID_SHIFT;
            }
            None => {
                value |= (u32::from(self.source_vcpu) & v2::CPU_ID_MASK) << v2::CPU_ID_SHIFT;
                if self.eoi_maintenance {
                    value |= v2::EOI;
                }
            }
        }
        value |= (u32::from(self.priority >> 3) & v2::PRIORITY_MASK) << v2::PRIORITY_SHIFT;
        value |= (self.state.bits() as u32) << v2::STATE_SHIFT;
        if self.group1 {
            value |= v2::GROUP1;
        }
        value
    }

    /// Decodes a GICv2 GICH_LRn value (every value decodes).
    pub fn decode_v2(value: u32) -> Self {
        let hardware = value & v2::HW != 0;
        Self {
            virtual_intid: value & v2::VIRTUAL_ID_MASK,
            physical_intid: hardware
                .then_some((value >> v2::PHYSICAL_ID_SHIFT) & v2::PHYSICAL_ID_MASK),
            priority: (((value >> v2::PRIORITY_SHIFT) & v2::PRIORITY_MASK) << 3) as u8,
            state: LrState::from_bits(u64::from(value >> v2::STATE_SHIFT)),
            group1: value & v2::GROUP1 != 0,
            source_vcpu: if hardware {
                0
            } else {
                ((value >> v2::CPU_ID_SHIFT) & v2::CPU_ID_MASK) as u8
            },
            eoi_maintenance: !hardware && value & v2::EOI != 0,
        }
    }

    /// The GICv3 ICH_LR<n>_EL2 value: vINTID [31:0], pINTID [44:32] when HW=1 or EOI [41] when
    /// HW=0, Priority [55:48], Group [60], HW [61], State [63:62] (IHI 0069 ICH_LR<n>_EL2).
    pub fn encode_v3(&self) -> u64 {
        let mut value = u64::from(self.virtual_intid) & v3::VIRTUAL_INTID_MASK;
        match self.physical_intid {
            Some(physical_intid) => {
                value |= v3::HW;
                value |= (u64::from(physical_intid) & v3::PHYSICAL_INTID_MASK)
                    << v3::PHYSICAL_INTID_SHIFT;
            }
            None => {
                if self.eoi_maintenance {
                    value |= v3::EOI;
                }
            }
        }
        value |= u64::from(self.priority) << v3::PRIORITY_SHIFT;
        if self.group1 {
            value |= v3::GROUP;
        }
        value |= self.state.bits() << v3::STATE_SHIFT;
        value
    }

    /// Decodes a GICv3 ICH_LR<n>_EL2 value (every value decodes).
    pub fn decode_v3(value: u64) -> Self {
        let hardware = value & v3::HW != 0;
        Self {
            virtual_intid: (value & v3::VIRTUAL_INTID_MASK) as u32,
            physical_intid: hardware
                .then_some(((value >> v3::PHYSICAL_INTID_SHIFT) & v3::PHYSICAL_INTID_MASK) as u32),
            priority: (value >> v3::PRIORITY_SHIFT) as u8,
            state: LrState::from_bits(value >> v3::STATE_SHIFT),
            group1: value & v3::GROUP != 0,
            source_vcpu: 0,
            eoi_maintenance: !hardware && value & v3::EOI != 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer_pending() -> ListRegister {
        ListRegister {
            virtual_intid: 27,
            physical_intid: Some(27),
            priority: 0xA0,
            state: LrState::Pending,
            group1: false,
            source_vcpu: 0,
            eoi_maintenance: false,
        }
    }

    #[test]
    fn v2_hardware_layout() {
        // HW 0x8000_0000 | State 01<<28 | Priority (0xA0>>3=0x14)<<23 = 0x0A00_0000
        // | PhysicalID 27<<10 = 0x6C00 | VirtualID 27 = 0x1B
        assert_eq!(timer_pending().encode_v2(), 0x9A00_6C1B);
        assert_eq!(ListRegister::decode_v2(0x9A00_6C1B), timer_pending());
    }

    #[test]
    fn v2_sgi_layout() {
        let sgi = ListRegister {
            virtual_intid: 1,
            physical_intid: None,
            priority: 0x80,
            state: LrState::Active,
            group1: true,
            source_vcpu: 3,
            eoi_maintenance: true,
        };
        // Grp1 0x4000_0000 | State 10<<28 | Priority 0x10<<23 = 0x0800_0000 | EOI 1<<19
        // | CPUID 3<<10 = 0xC00 | VirtualID 1
        assert_eq!(sgi.encode_v2(), 0x6808_0C01);
        assert_eq!(ListRegister::decode_v2(0x6808_0C01), sgi);
    }

    #[test]
    fn v2_drops_the_low_priority_bits() {
        let mut lr = timer_pending();
        lr.priority = 0xA7;
        assert_eq!(ListRegister::decode_v2(lr.encode_v2()).priority, 0xA0);
    }

    #[test]
    fn v3_hardware_layout() {
        let mut spi = timer_pending();
        spi.virtual_intid = 40;
        spi.physical_intid = Some(40);
        spi.group1 = true;
        // State 01<<62 | HW 1<<61 | Group 1<<60 | Priority 0xA0<<48 | pINTID 40<<32 | vINTID 40
        assert_eq!(spi.encode_v3(), 0x70A0_0028_0000_0028);
        assert_eq!(ListRegister::decode_v3(0x70A0_0028_0000_0028), spi);
    }

    #[test]
    fn v3_eoi_layout() {
        let sgi = ListRegister {
            virtual_intid: 5,
            physical_intid: None,
            priority: 0x08,
            state: LrState::PendingActive,
            group1: true,
            source_vcpu: 0,
            eoi_maintenance: true,
        };
        // State 11<<62 | Group 1<<60 | Priority 0x08<<48 | EOI 1<<41 | vINTID 5
        assert_eq!(sgi.encode_v3(), 0xD008_0200_0000_0005);
        assert_eq!(ListRegister::decode_v3(0xD008_0200_0000_0005), sgi);
    }

    #[test]
    fn round_trips() {
        let mut seed = 0x1234_5678_9ABC_DEF0u64;
        for _ in 0..10_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Any register value decodes; decoding what we encode gives it back.
            let v3 = ListRegister::decode_v3(seed);
            assert_eq!(ListRegister::decode_v3(v3.encode_v3()), v3);
            let v2 = ListRegister::decode_v2(seed as u32);
            assert_eq!(ListRegister::decode_v2(v2.encode_v2()), v2);
        }
    }

    #[test]
    fn state_halves() {
        assert_eq!(LrState::Pending.with_active(true), LrState::PendingActive);
        assert_eq!(LrState::PendingActive.with_pending(false), LrState::Active);
        assert_eq!(LrState::Active.with_active(false), LrState::Invalid);
        assert!(LrState::from_parts(true, false).is_pending());
    }
}
