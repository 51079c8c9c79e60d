//! Naming a physical CPU to the GIC: an affinity on GICv3, a CPU interface number on GICv2.

use aarch64_cpu::registers::MPIDR_EL1;
use tock_registers::LocalRegisterCopy;

/// A CPU's affinity path Aff3.Aff2.Aff1.Aff0, as in MPIDR_EL1 (Arm ARM D23.2) and GICD_IROUTER.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Affinity {
    pub aff3: u8,
    pub aff2: u8,
    pub aff1: u8,
    pub aff0: u8,
}

impl Affinity {
    /// The affinity fields of an MPIDR_EL1 value (the other bits are ignored).
    pub fn from_mpidr(mpidr: u64) -> Self {
        let mpidr = LocalRegisterCopy::<u64, MPIDR_EL1::Register>::new(mpidr);
        Self {
            aff3: mpidr.read(MPIDR_EL1::Aff3) as u8,
            aff2: mpidr.read(MPIDR_EL1::Aff2) as u8,
            aff1: mpidr.read(MPIDR_EL1::Aff1) as u8,
            aff0: mpidr.read(MPIDR_EL1::Aff0) as u8,
        }
    }

    /// The MPIDR_EL1 layout: Aff3 `[39:32]`, Aff2 `[23:16]`, Aff1 `[15:8]`, Aff0 `[7:0]`. GICD_IROUTER uses the same
    /// layout with Interrupt_Routing_Mode (bit 31) clear (IHI 0069, `GICD_IROUTER<n>`).
    pub fn to_mpidr(self) -> u64 {
        (MPIDR_EL1::Aff3.val(u64::from(self.aff3))
            + MPIDR_EL1::Aff2.val(u64::from(self.aff2))
            + MPIDR_EL1::Aff1.val(u64::from(self.aff1))
            + MPIDR_EL1::Aff0.val(u64::from(self.aff0)))
        .value
    }

    /// GICR_TYPER.Affinity_Value packs the same four fields as Aff3 `[31:24]` .. Aff0 `[7:0]` (IHI 0069, GICR_TYPER).
    pub(crate) const fn from_packed(packed: u32) -> Self {
        let [aff3, aff2, aff1, aff0] = packed.to_be_bytes();
        Self {
            aff3,
            aff2,
            aff1,
            aff0,
        }
    }
}

/// How a GIC names a physical CPU when sending it an SGI or routing an SPI to it.
///
/// Read each CPU's own value with [`crate::Gic::current_cpu_target`] when it comes up, and keep it with the
/// CPU's logical index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PhysicalCpuTarget {
    /// GICv2: the CPU interface number 0..=7 (GICD_ITARGETSR bit position, IHI 0048B 4.3.12). It need not
    /// equal the CPU's MPIDR, hence the name.
    InterfaceNumber(u8),
    /// GICv3: the CPU's affinity, as its redistributor reports it.
    Affinity(Affinity),
}

#[cfg(test)]
mod tests {
    use super::Affinity;

    #[test]
    fn mpidr_round_trip_skips_the_non_affinity_bits() {
        // U (bit 30), MT (bit 24) and RES1 (bit 31) are not affinity.
        let affinity = Affinity::from_mpidr(0x0000_0012_c134_5678);
        assert_eq!(
            affinity,
            Affinity {
                aff3: 0x12,
                aff2: 0x34,
                aff1: 0x56,
                aff0: 0x78
            }
        );
        assert_eq!(affinity.to_mpidr(), 0x0000_0012_0034_5678);
    }

    #[test]
    fn packed_affinity_is_aff3_first() {
        assert_eq!(
            Affinity::from_packed(0x0102_0304),
            Affinity {
                aff3: 1,
                aff2: 2,
                aff1: 3,
                aff0: 4
            }
        );
    }
}
