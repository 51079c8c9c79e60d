//! A list register entry in version-independent form, with its GICv2 (GICH_LR) and GICv3 (`ICH_LR<n>_EL2`) encodings.

use aarch64_cpu::registers::ICH_LR0_EL2 as ICH_LR;
use tock_registers::fields::FieldValue;
use tock_registers::LocalRegisterCopy;

use crate::gicv2::registers::GICH_LR;
use crate::{GicError, IntId};

/// The state of the virtual interrupt a list register holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListRegisterState {
    /// The entry is free.
    Invalid,
    Pending,
    Active,
    PendingAndActive,
}

/// What happens when the guest deactivates the virtual interrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListRegisterKind {
    /// Nothing physical: the hypervisor tracks the interrupt itself.
    Software {
        /// Raise a maintenance interrupt (and set the entry's EISR bit) when the guest deactivates it.
        eoi_maintenance: bool,
        /// GICv2 only, for a virtual SGI: the requesting CPU (0..=7) the guest's acknowledge reports.
        /// Must be 0 on GICv3.
        source_cpu: u8,
    },
    /// The guest's deactivation also deactivates physical interrupt `physical_intid` (a PPI or SPI the
    /// hypervisor acknowledged and dropped priority on, but did not deactivate).
    Hardware { physical_intid: u32 },
}

/// A list register entry: a virtual interrupt presented to the running vCPU (IHI 0048B, `GICH_LR<n>`;
/// IHI 0069, `ICH_LR<n>_EL2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListRegister {
    /// The interrupt ID the guest sees (0..=1019).
    pub virtual_intid: u32,
    pub state: ListRegisterState,
    /// The virtual priority. GICv2 keeps bits `[7:3]` only (32 levels), so its encoding drops bits `[2:0]`.
    pub priority: u8,
    /// Group 1 (the group Linux guests use) rather than Group 0.
    pub group1: bool,
    pub kind: ListRegisterKind,
}

impl ListRegister {
    /// A free entry (all zeros in both encodings).
    pub const INVALID: Self = Self {
        virtual_intid: 0,
        state: ListRegisterState::Invalid,
        priority: 0,
        group1: false,
        kind: ListRegisterKind::Software {
            eoi_maintenance: false,
            source_cpu: 0,
        },
    };

    fn check(&self) -> Result<(), GicError> {
        if IntId::new(self.virtual_intid).is_none() {
            return Err(GicError::ListRegisterField(
                "the virtual interrupt ID must be an SGI, PPI or SPI (0 to 1019)",
            ));
        }
        match self.kind {
            // IHI 0048B and IHI 0069: a hardware-mapped physical ID of 0-15 or 1020-1023 is UNPREDICTABLE.
            ListRegisterKind::Hardware { physical_intid }
                if !(IntId::SGI_COUNT..IntId::SPECIAL_START).contains(&physical_intid) =>
            {
                Err(GicError::ListRegisterField(
                    "a hardware-mapped physical interrupt must be a PPI or SPI (16 to 1019)",
                ))
            }
            _ => Ok(()),
        }
    }

    /// The `GICH_LR<n>` value (GICv2).
    pub fn to_gicv2(&self) -> Result<u32, GicError> {
        self.check()?;
        let state = match self.state {
            ListRegisterState::Invalid => GICH_LR::State::Invalid,
            ListRegisterState::Pending => GICH_LR::State::Pending,
            ListRegisterState::Active => GICH_LR::State::Active,
            ListRegisterState::PendingAndActive => GICH_LR::State::PendingAndActive,
        };
        let kind = match self.kind {
            ListRegisterKind::Software { source_cpu, .. } if source_cpu > 7 => {
                return Err(GicError::ListRegisterField(
                    "a GICv2 SGI source CPU must be 0 to 7",
                ));
            }
            ListRegisterKind::Software {
                eoi_maintenance,
                source_cpu,
            } => {
                GICH_LR::HW::CLEAR
                    + GICH_LR::EOI.val(u32::from(eoi_maintenance))
                    + GICH_LR::CPUID.val(u32::from(source_cpu))
            }
            ListRegisterKind::Hardware { physical_intid } => {
                GICH_LR::HW::SET + GICH_LR::PhysicalID.val(physical_intid)
            }
        };
        let value: FieldValue<u32, GICH_LR::Register> = state
            + kind
            + GICH_LR::Grp1.val(u32::from(self.group1))
            + GICH_LR::Priority.val(u32::from(self.priority >> 3))
            + GICH_LR::VirtualID.val(self.virtual_intid);
        Ok(value.value)
    }

    /// Decodes a `GICH_LR<n>` value (GICv2).
    pub fn from_gicv2(value: u32) -> Self {
        let register = LocalRegisterCopy::<u32, GICH_LR::Register>::new(value);
        let state = match register.read_as_enum(GICH_LR::State) {
            Some(GICH_LR::State::Value::Pending) => ListRegisterState::Pending,
            Some(GICH_LR::State::Value::Active) => ListRegisterState::Active,
            Some(GICH_LR::State::Value::PendingAndActive) => ListRegisterState::PendingAndActive,
            Some(GICH_LR::State::Value::Invalid) | None => ListRegisterState::Invalid,
        };
        let kind = if register.is_set(GICH_LR::HW) {
            ListRegisterKind::Hardware {
                physical_intid: register.read(GICH_LR::PhysicalID),
            }
        } else {
            ListRegisterKind::Software {
                eoi_maintenance: register.is_set(GICH_LR::EOI),
                source_cpu: register.read(GICH_LR::CPUID) as u8,
            }
        };
        Self {
            virtual_intid: register.read(GICH_LR::VirtualID),
            state,
            priority: (register.read(GICH_LR::Priority) << 3) as u8,
            group1: register.is_set(GICH_LR::Grp1),
            kind,
        }
    }

    /// The `ICH_LR<n>_EL2` value (GICv3).
    pub fn to_gicv3(&self) -> Result<u64, GicError> {
        self.check()?;
        let state = match self.state {
            ListRegisterState::Invalid => ICH_LR::State::Invalid,
            ListRegisterState::Pending => ICH_LR::State::Pending,
            ListRegisterState::Active => ICH_LR::State::Active,
            ListRegisterState::PendingAndActive => ICH_LR::State::PendingAndActive,
        };
        let kind = match self.kind {
            ListRegisterKind::Software {
                source_cpu: 1.., ..
            } => {
                return Err(GicError::ListRegisterField(
                    "GICv3 list registers carry no SGI source CPU",
                ));
            }
            ListRegisterKind::Software {
                eoi_maintenance, ..
            } => ICH_LR::HW::CLEAR + ICH_LR::EOI.val(u64::from(eoi_maintenance)),
            ListRegisterKind::Hardware { physical_intid } => {
                ICH_LR::HW::SET + ICH_LR::pINTID.val(u64::from(physical_intid))
            }
        };
        let value = state
            + kind
            + ICH_LR::Group.val(u64::from(self.group1))
            + ICH_LR::Priority.val(u64::from(self.priority))
            + ICH_LR::vINTID.val(u64::from(self.virtual_intid));
        Ok(value.value)
    }

    /// Decodes an `ICH_LR<n>_EL2` value (GICv3).
    pub fn from_gicv3(value: u64) -> Self {
        let register = LocalRegisterCopy::<u64, ICH_LR::Register>::new(value);
        let state = match register.read_as_enum(ICH_LR::State) {
            Some(ICH_LR::State::Value::Pending) => ListRegisterState::Pending,
            Some(ICH_LR::State::Value::Active) => ListRegisterState::Active,
            Some(ICH_LR::State::Value::PendingAndActive) => ListRegisterState::PendingAndActive,
            Some(ICH_LR::State::Value::Invalid) | None => ListRegisterState::Invalid,
        };
        let kind = if register.is_set(ICH_LR::HW) {
            ListRegisterKind::Hardware {
                physical_intid: register.read(ICH_LR::pINTID) as u32,
            }
        } else {
            ListRegisterKind::Software {
                eoi_maintenance: register.is_set(ICH_LR::EOI),
                source_cpu: 0,
            }
        };
        Self {
            virtual_intid: register.read(ICH_LR::vINTID) as u32,
            state,
            priority: register.read(ICH_LR::Priority) as u8,
            group1: register.is_set(ICH_LR::Group),
            kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ListRegister, ListRegisterKind, ListRegisterState};

    /// A pending, Group 1, hardware-mapped timer interrupt (27) at priority 0xa0.
    const MAPPED_TIMER: ListRegister = ListRegister {
        virtual_intid: 27,
        state: ListRegisterState::Pending,
        priority: 0xa0,
        group1: true,
        kind: ListRegisterKind::Hardware { physical_intid: 27 },
    };

    #[test]
    fn gicv2_encoding_matches_gich_lr_layout() {
        // HW [31], Grp1 [30], State [29:28] = 01, Priority [27:23] = 0xa0 >> 3, PhysicalID [19:10], VirtualID [9:0].
        let expected = 1 << 31 | 1 << 30 | 0b01 << 28 | (0xa0 >> 3) << 23 | 27 << 10 | 27;
        assert_eq!(MAPPED_TIMER.to_gicv2(), Ok(expected));
        assert_eq!(ListRegister::from_gicv2(expected), MAPPED_TIMER);
    }

    #[test]
    fn gicv3_encoding_matches_ich_lr_layout() {
        // State [63:62] = 01, HW [61], Group [60], Priority [55:48], pINTID [44:32], vINTID [31:0].
        let expected = 0b01 << 62 | 1 << 61 | 1 << 60 | 0xa0 << 48 | 27 << 32 | 27;
        assert_eq!(MAPPED_TIMER.to_gicv3(), Ok(expected));
        assert_eq!(ListRegister::from_gicv3(expected), MAPPED_TIMER);
    }

    #[test]
    fn software_entries_carry_eoi_maintenance_and_gicv2_sgi_source() {
        let sgi = ListRegister {
            virtual_intid: 3,
            state: ListRegisterState::Active,
            priority: 0x80,
            group1: false,
            kind: ListRegisterKind::Software {
                eoi_maintenance: true,
                source_cpu: 5,
            },
        };
        // State 10 [29:28], EOI [19], CPUID [12:10], Priority 0x80 >> 3.
        let gicv2 = 0b10 << 28 | (0x80 >> 3) << 23 | 1 << 19 | 5 << 10 | 3;
        assert_eq!(sgi.to_gicv2(), Ok(gicv2));
        assert_eq!(ListRegister::from_gicv2(gicv2), sgi);
        assert!(sgi.to_gicv3().is_err(), "GICv3 has no SGI source field");
        let sgi = ListRegister {
            kind: ListRegisterKind::Software {
                eoi_maintenance: true,
                source_cpu: 0,
            },
            ..sgi
        };
        // State 10 [63:62], EOI [41].
        let gicv3 = 0b10 << 62 | 0x80 << 48 | 1 << 41 | 3;
        assert_eq!(sgi.to_gicv3(), Ok(gicv3));
        assert_eq!(ListRegister::from_gicv3(gicv3), sgi);
    }

    #[test]
    fn out_of_range_fields_are_refused() {
        let special = ListRegister {
            virtual_intid: 1023,
            ..MAPPED_TIMER
        };
        assert!(special.to_gicv2().is_err() && special.to_gicv3().is_err());
        let mapped_sgi = ListRegister {
            kind: ListRegisterKind::Hardware { physical_intid: 1 },
            ..MAPPED_TIMER
        };
        assert!(mapped_sgi.to_gicv2().is_err() && mapped_sgi.to_gicv3().is_err());
        assert_eq!(ListRegister::INVALID.to_gicv2(), Ok(0));
        assert_eq!(ListRegister::INVALID.to_gicv3(), Ok(0));
    }
}
