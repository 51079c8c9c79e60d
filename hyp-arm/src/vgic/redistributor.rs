//! GICv3 redistributor emulation: per vCPU an RD_base and an SGI_base frame (IHI 0069).
#![forbid(unsafe_code)]

use super::access::{check_access, truncate, VgicAccessError, Widths, WriteOutcome};
use super::distributor::{identification_register, IMPLEMENTER_ID};
use super::interrupt_registers::{ArrayAccess, Frame, InterruptRegister};
use super::physical::PhysicalGicEffects;
use super::{GicVersion, Vgic};

/// The guest address space of one redistributor: RD_base (64 KiB) then SGI_base (64 KiB), with
/// no VLPI frames (IHI 0069, "The GIC Redistributor register map").
pub const REDISTRIBUTOR_STRIDE: u64 = 0x2_0000;

/// The offset of SGI_base within a redistributor.
const SGI_FRAME: u64 = 0x1_0000;

/// GICR_TYPER fields (IHI 0069 GICR_TYPER).
mod redistributor_type {
    /// Last: the final redistributor of the region. Linux walks the region reading GICR_TYPER
    /// until it sees this bit (gic_iterate_rdists).
    pub const LAST: u64 = 1 << 4;
    pub const PROCESSOR_NUMBER_SHIFT: u32 = 8;
    pub const AFFINITY_SHIFT: u32 = 32;
}

/// GICR_WAKER bits (IHI 0069 GICR_WAKER).
mod waker {
    pub const PROCESSOR_SLEEP: u32 = 1 << 1;
    pub const CHILDREN_ASLEEP: u32 = 1 << 2;
}

/// A decoded redistributor register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RedistributorRegister {
    /// GICR_CTLR: no LPIs, writes complete at once (RWP 0): RAZ/WI.
    Control,
    ImplementerId,
    /// GICR_TYPER; `upper` for a 32-bit access to the high word.
    Type {
        upper: bool,
    },
    Waker,
    Identification(u32),
    /// An SGI_base register array.
    Interrupts(InterruptRegister, u32),
    /// STATUSR, PROPBASER, PENDBASER and everything unimplemented: RAZ/WI.
    Reserved,
}

impl Vgic {
    /// Emulates a `width`-byte read by `vcpu` at `offset` within the guest's whole redistributor
    /// region (the redistributor of vCPU `offset / REDISTRIBUTOR_STRIDE`).
    pub fn redistributor_read(
        &self,
        vcpu: usize,
        offset: u64,
        width: u8,
    ) -> Result<u64, VgicAccessError> {
        let (owner, register) = self.decode_redistributor(vcpu, offset, width)?;
        Ok(match register {
            RedistributorRegister::ImplementerId => u64::from(IMPLEMENTER_ID),
            RedistributorRegister::Type { upper } => {
                let value = self.redistributor_type(owner);
                match (upper, width) {
                    (true, _) => value >> 32,
                    (false, 4) => value & 0xFFFF_FFFF,
                    (false, _) => value,
                }
            }
            RedistributorRegister::Waker => {
                // ChildrenAsleep follows ProcessorSleep at once: there is no real interface
                // to quiesce.
                let asleep = self
                    .vcpus
                    .get(owner)
                    .is_some_and(|state| state.processor_sleep);
                if asleep {
                    u64::from(waker::PROCESSOR_SLEEP | waker::CHILDREN_ASLEEP)
                } else {
                    0
                }
            }
            RedistributorRegister::Identification(value) => u64::from(value),
            RedistributorRegister::Interrupts(register, first_intid) => self.read_interrupt_array(
                &redistributor_array(vcpu, owner, register, first_intid, width),
            ),
            RedistributorRegister::Control | RedistributorRegister::Reserved => 0,
        })
    }

    /// Emulates a `width`-byte write of `value` by `vcpu` at `offset` within the guest's whole
    /// redistributor region.
    pub fn redistributor_write(
        &mut self,
        vcpu: usize,
        offset: u64,
        width: u8,
        value: u64,
        physical: &mut impl PhysicalGicEffects,
    ) -> Result<WriteOutcome, VgicAccessError> {
        let (owner, register) = self.decode_redistributor(vcpu, offset, width)?;
        let value = truncate(value, width);
        match register {
            RedistributorRegister::Waker => {
                if let Some(state) = self.vcpus.get_mut(owner) {
                    state.processor_sleep = value as u32 & waker::PROCESSOR_SLEEP != 0;
                }
            }
            RedistributorRegister::Interrupts(register, first_intid) => {
                let access = redistributor_array(vcpu, owner, register, first_intid, width);
                return Ok(self.write_interrupt_array(&access, value, physical));
            }
            RedistributorRegister::Control
            | RedistributorRegister::ImplementerId
            | RedistributorRegister::Type { .. }
            | RedistributorRegister::Identification(_)
            | RedistributorRegister::Reserved => {}
        }
        Ok(WriteOutcome::default())
    }

    /// Splits `offset` into the owning vCPU and its register.
    fn decode_redistributor(
        &self,
        vcpu: usize,
        offset: u64,
        width: u8,
    ) -> Result<(usize, RedistributorRegister), VgicAccessError> {
        self.check_vcpu(vcpu)
            .map_err(|_| VgicAccessError::InvalidVcpu { vcpu })?;
        if self.version != GicVersion::V3 {
            return Err(VgicAccessError::NotGicV3);
        }
        let owner = offset / REDISTRIBUTOR_STRIDE;
        if owner >= self.vcpu_count as u64 {
            return Err(VgicAccessError::OffsetOutOfRange { offset });
        }
        let frame_offset = offset % REDISTRIBUTOR_STRIDE;
        let (register, widths) = if frame_offset >= SGI_FRAME {
            match InterruptRegister::decode(frame_offset - SGI_FRAME) {
                Some((register, first_intid)) => (
                    RedistributorRegister::Interrupts(register, first_intid),
                    register.widths(),
                ),
                None => (RedistributorRegister::Reserved, Widths::Any),
            }
        } else {
            match frame_offset {
                0x0000 => (RedistributorRegister::Control, Widths::Word),
                0x0004 => (RedistributorRegister::ImplementerId, Widths::Word),
                0x0008 | 0x000C => (
                    RedistributorRegister::Type {
                        upper: frame_offset == 0x000C,
                    },
                    Widths::WordOrDoubleword,
                ),
                0x0014 => (RedistributorRegister::Waker, Widths::Word),
                0xFFD0..=0xFFFF => (
                    RedistributorRegister::Identification(identification_register(frame_offset, 3)),
                    Widths::Word,
                ),
                _ => (RedistributorRegister::Reserved, Widths::Any),
            }
        };
        check_access(offset, width, widths)?;
        Ok((owner as usize, register))
    }

    /// GICR_TYPER: Affinity_Value [63:32] = the vCPU's MPIDR affinity (Aff0 = index),
    /// Processor_Number [23:8] = index, Last [4] on the final vCPU; no LPIs, PPInum 0 (16 PPIs).
    fn redistributor_type(&self, owner: usize) -> u64 {
        let index = owner as u64;
        let mut value = index << redistributor_type::AFFINITY_SHIFT
            | index << redistributor_type::PROCESSOR_NUMBER_SHIFT;
        if owner + 1 == self.vcpu_count {
            value |= redistributor_type::LAST;
        }
        value
    }
}

fn redistributor_array(
    vcpu: usize,
    owner: usize,
    register: InterruptRegister,
    first_intid: u32,
    width: u8,
) -> ArrayAccess {
    ArrayAccess {
        frame: Frame::Redistributor,
        register,
        first_intid,
        width,
        accessing_vcpu: vcpu,
        bank_vcpu: owner,
    }
}
