//! GICD emulation: GICv2 (IHI 0048B) and GICv3 with affinity routing (IHI 0069).
#![forbid(unsafe_code)]

use super::access::{check_access, truncate, VgicAccessError, Widths, WriteOutcome};
use super::interrupt_registers::{ArrayAccess, Frame, InterruptRegister};
use super::physical::PhysicalGicEffects;
use super::{GicVersion, Vgic, PRIVATE_INTERRUPTS};

/// The size of the guest's distributor frame (a GICv2 GICD uses its first 4 KiB; the rest reads
/// as zero).
pub const DISTRIBUTOR_SIZE: u64 = 0x1_0000;

/// GICD_CTLR bits, in the GICv3 single-security-state view (IHI 0069 GICD_CTLR, DS == 1), whose
/// EnableGrp0/EnableGrp1 are also GICv2's bits 0 and 1 (IHI 0048B GICD_CTLR).
mod control {
    pub const GROUP_ENABLES: u32 = 0b11;
    /// Affinity routing, always on: RAO/WI.
    pub const ARE: u32 = 1 << 4;
    /// A single security state, as KVM and Xen also present: RAO/WI.
    pub const DS: u32 = 1 << 6;
}

/// GICv3 GICD_TYPER fields (IHI 0069 GICD_TYPER).
mod gicv3_type {
    /// IDbits = 9: 10 INTID bits, enough for SPIs; no LPIs.
    pub const ID_BITS: u32 = 9 << 19;
    /// No1N: 1-of-N SPI routing is not supported, so GICD_IROUTER.IRM is RES0.
    pub const NO_1_OF_N: u32 = 1 << 25;
}

/// GICD_IIDR and GICR_IIDR: Arm's JEP106 implementer code 0x43B with our own product ID 'H', so
/// that no erratum workaround keyed on a real part's IIDR triggers in the guest.
pub(crate) const IMPLEMENTER_ID: u32 = (b'H' as u32) << 24 | 0x43B;

/// GICD_IROUTER<n> for SPIs: 0x6100 (n = 32) up to n = 1019.
const ROUTER_START: u64 = 0x6100;
const ROUTER_END: u64 = 0x6000 + 8 * super::INTID_LIMIT as u64;
/// GICD_IROUTER keeps Aff2.Aff1.Aff0; IRM (No1N) and Aff3 (GICD_TYPER.A3V == 0) are RES0.
const ROUTER_AFFINITY_MASK: u32 = 0x00FF_FFFF;

/// A decoded distributor register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DistributorRegister {
    Control,
    Type,
    ImplementerId,
    Interrupts(InterruptRegister, u32),
    /// GICv2 GICD_SGIR (write-only).
    SoftwareGeneratedInterrupt,
    /// GICv2 GICD_CPENDSGIR / GICD_SPENDSGIR, from this SGI.
    SgiPendingSources {
        set: bool,
        first_sgi: u32,
    },
    /// GICv3 GICD_IROUTER<intid>; `upper` for a 32-bit access to the high word.
    Router {
        intid: u32,
        upper: bool,
    },
    /// PIDR/CIDR.
    Identification(u32),
    /// Reserved or not implemented (TYPER2, STATUSR, SETSPI, ...): RAZ/WI.
    Reserved,
}

/// The ID registers at the end of a GIC frame (offsets 0x?FD0..=0x?FFC): an Arm-style PIDR with
/// ArchRev in PIDR2[7:4] (2 for GICv2, 3 for GICv3, which Linux checks) and the CoreSight CIDR.
pub(crate) fn identification_register(offset: u64, arch_revision: u32) -> u32 {
    match offset & 0xFFF {
        0xFD0 => 0x04,                      // PIDR4: JEP106 continuation code
        0xFE4 => 0xB0,                      // PIDR1: JEP106 identity code, low nibble
        0xFE8 => arch_revision << 4 | 0x0B, // PIDR2: ArchRev, JEDEC, identity high bits
        0xFF0 => 0x0D,                      // CIDR0..3: the CoreSight preamble
        0xFF4 => 0xF0,
        0xFF8 => 0x05,
        0xFFC => 0xB1,
        _ => 0,
    }
}

impl Vgic {
    /// Emulates a `width`-byte read at `offset` of the guest distributor by `vcpu`.
    pub fn distributor_read(
        &self,
        vcpu: usize,
        offset: u64,
        width: u8,
    ) -> Result<u64, VgicAccessError> {
        let register = self.decode_distributor(vcpu, offset, width)?;
        Ok(match register {
            DistributorRegister::Control => u64::from(self.distributor_control()),
            DistributorRegister::Type => u64::from(self.distributor_type()),
            DistributorRegister::ImplementerId => u64::from(IMPLEMENTER_ID),
            DistributorRegister::Interrupts(register, first_intid) => self
                .read_interrupt_array(&self.distributor_array(vcpu, register, first_intid, width)),
            DistributorRegister::SgiPendingSources { first_sgi, .. } => {
                self.read_sgi_pending_sources(vcpu, first_sgi, width)
            }
            DistributorRegister::Router { intid, upper } => self.read_router(intid, upper, width),
            DistributorRegister::Identification(value) => u64::from(value),
            DistributorRegister::SoftwareGeneratedInterrupt | DistributorRegister::Reserved => 0,
        })
    }

    /// Emulates a `width`-byte write of `value` at `offset` of the guest distributor by `vcpu`.
    pub fn distributor_write(
        &mut self,
        vcpu: usize,
        offset: u64,
        width: u8,
        value: u64,
        physical: &mut impl PhysicalGicEffects,
    ) -> Result<WriteOutcome, VgicAccessError> {
        let register = self.decode_distributor(vcpu, offset, width)?;
        let value = truncate(value, width);
        let mut outcome = WriteOutcome::default();
        match register {
            DistributorRegister::Control => {
                self.group_enables = value as u32 & control::GROUP_ENABLES;
                // Enabling a group can make pending interrupts deliverable anywhere, disabling
                // one makes queued ones withdrawable: let every vCPU re-examine (rare).
                self.wake_waiting();
                outcome.kick = self.all_vcpus();
            }
            DistributorRegister::Interrupts(register, first_intid) => {
                let access = self.distributor_array(vcpu, register, first_intid, width);
                outcome = self.write_interrupt_array(&access, value, physical);
            }
            DistributorRegister::SoftwareGeneratedInterrupt => {
                outcome.kick = self.send_sgi_v2(vcpu, value as u32);
            }
            DistributorRegister::SgiPendingSources { set, first_sgi } => {
                outcome.kick = self.write_sgi_pending_sources(vcpu, first_sgi, width, value, set);
            }
            DistributorRegister::Router { intid, upper } => {
                self.write_router(intid, upper, value, physical, &mut outcome);
            }
            DistributorRegister::Type
            | DistributorRegister::ImplementerId
            | DistributorRegister::Identification(_)
            | DistributorRegister::Reserved => {}
        }
        Ok(outcome)
    }

    fn decode_distributor(
        &self,
        vcpu: usize,
        offset: u64,
        width: u8,
    ) -> Result<DistributorRegister, VgicAccessError> {
        self.check_vcpu(vcpu)
            .map_err(|_| VgicAccessError::InvalidVcpu { vcpu })?;
        if offset >= DISTRIBUTOR_SIZE {
            return Err(VgicAccessError::OffsetOutOfRange { offset });
        }
        let v2 = self.version == GicVersion::V2;
        let identification_range = if v2 { 0xFD0..0x1000 } else { 0xFFD0..0x1_0000 };
        let (register, widths) = match offset {
            0x000 => (DistributorRegister::Control, Widths::Word),
            0x004 => (DistributorRegister::Type, Widths::Word),
            0x008 => (DistributorRegister::ImplementerId, Widths::Word),
            0x080..=0xEFF => match InterruptRegister::decode(offset) {
                Some((register, first_intid)) => (
                    DistributorRegister::Interrupts(register, first_intid),
                    register.widths(),
                ),
                None => (DistributorRegister::Reserved, Widths::Any),
            },
            0xF00 if v2 => (
                DistributorRegister::SoftwareGeneratedInterrupt,
                Widths::Word,
            ),
            0xF10..=0xF2F if v2 => (
                DistributorRegister::SgiPendingSources {
                    set: offset >= 0xF20,
                    first_sgi: (offset & 0xF) as u32,
                },
                Widths::ByteOrWord,
            ),
            ROUTER_START..ROUTER_END if !v2 => (
                DistributorRegister::Router {
                    intid: ((offset - 0x6000) / 8) as u32,
                    upper: offset % 8 == 4,
                },
                Widths::WordOrDoubleword,
            ),
            _ if identification_range.contains(&offset) => (
                DistributorRegister::Identification(identification_register(
                    offset,
                    if v2 { 2 } else { 3 },
                )),
                Widths::Word,
            ),
            _ => (DistributorRegister::Reserved, Widths::Any),
        };
        check_access(offset, width, widths)?;
        Ok(register)
    }

    fn distributor_array(
        &self,
        vcpu: usize,
        register: InterruptRegister,
        first_intid: u32,
        width: u8,
    ) -> ArrayAccess {
        ArrayAccess {
            frame: Frame::Distributor,
            register,
            first_intid,
            width,
            accessing_vcpu: vcpu,
            bank_vcpu: vcpu,
        }
    }

    fn distributor_control(&self) -> u32 {
        match self.version {
            GicVersion::V2 => self.group_enables,
            GicVersion::V3 => self.group_enables | control::ARE | control::DS,
        }
    }

    /// GICD_TYPER: ITLinesNumber [4:0] = lines/32 - 1, from nr_spis. GICv2 adds CPUNumber [7:5]
    /// = vCPUs - 1 (IHI 0048B GICD_TYPER); GICv3 adds IDbits and No1N, with no LPIs, no
    /// message-based SPIs and no security extension (IHI 0069 GICD_TYPER).
    fn distributor_type(&self) -> u32 {
        let lines = self.nr_spis / 32;
        match self.version {
            GicVersion::V2 => lines | ((self.vcpu_count.saturating_sub(1) as u32) & 0x7) << 5,
            GicVersion::V3 => lines | gicv3_type::ID_BITS | gicv3_type::NO_1_OF_N,
        }
    }

    fn read_router(&self, intid: u32, upper: bool, width: u8) -> u64 {
        let route = match self.interrupt_state(0, intid) {
            Some(state) if state.is_owned() => u64::from(state.route),
            _ => 0,
        };
        // Aff3 (the high word) is RES0: a 32-bit read there is zero.
        if upper && width == 4 {
            0
        } else {
            route
        }
    }

    /// GICD_IROUTER: Aff2.Aff1.Aff0 name the target; ours have Aff0 = vCPU index and higher
    /// levels 0. Anything else names no vCPU, so the SPI is not forwarded (IHI 0069
    /// GICD_IROUTER<n>).
    fn write_router(
        &mut self,
        intid: u32,
        upper: bool,
        value: u64,
        physical: &mut impl PhysicalGicEffects,
        outcome: &mut WriteOutcome,
    ) {
        if upper || !self.implements(intid) || intid < PRIVATE_INTERRUPTS {
            return;
        }
        if !self
            .interrupt_state(0, intid)
            .is_some_and(|state| state.is_owned())
        {
            return;
        }
        let route = value as u32 & ROUTER_AFFINITY_MASK;
        let aff0 = route & 0xFF;
        let target = (route >> 8 == 0 && (aff0 as usize) < self.vcpu_count).then_some(aff0 as u8);
        self.set_route(intid, route, target, physical);
        self.note_change(0, intid, &mut outcome.kick);
    }
}
