//! GICv3 register maps and fields: the distributor and a redistributor's RD_base and SGI_base frames (IHI 0069 ch. 12).

use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_bitfields! {u32,
    /// GICD_CTLR as Non-secure software sees it. With two Security states (DS = 0) bit 1 is EnableGrp1A
    /// and bit 4 ARE_NS; with one (DS = 1, QEMU without `secure=on`) they are EnableGrp1 and ARE. Both
    /// mean "Non-secure Group 1 enabled" and "affinity routing on".
    pub GICD_CTLR [
        EnableGrp1NS OFFSET(1) NUMBITS(1) [],
        ARE_NS OFFSET(4) NUMBITS(1) [],
        /// Register Write Pending: a write to CTLR, or an ICENABLER write for an SPI, is still taking effect.
        RWP OFFSET(31) NUMBITS(1) [],
    ],
    /// GICD_TYPER.
    pub GICD_TYPER [
        /// SPIs are supported up to ID 32 * (ITLinesNumber + 1) - 1.
        ITLinesNumber OFFSET(0) NUMBITS(5) [],
        CPUNumber OFFSET(5) NUMBITS(3) [],
        ESPI OFFSET(8) NUMBITS(1) [],
        SecurityExtn OFFSET(10) NUMBITS(1) [],
        LPIS OFFSET(17) NUMBITS(1) [],
        IDbits OFFSET(19) NUMBITS(5) [],
        A3V OFFSET(24) NUMBITS(1) [],
        /// Range Selector support: SGIs can target Aff0 values above 15.
        RSS OFFSET(26) NUMBITS(1) [],
    ],
    /// GICR_CTLR.
    pub GICR_CTLR [
        EnableLPIs OFFSET(0) NUMBITS(1) [],
        /// Register Write Pending: an ICENABLER0 write is still taking effect.
        RWP OFFSET(3) NUMBITS(1) [],
        UWP OFFSET(31) NUMBITS(1) [],
    ],
    /// GICR_WAKER.
    pub GICR_WAKER [
        /// 1: this redistributor's CPU is asleep and the redistributor does not forward interrupts.
        ProcessorSleep OFFSET(1) NUMBITS(1) [],
        /// Reads 1 until the interface to the CPU is quiescent (asleep) or awake, following ProcessorSleep.
        ChildrenAsleep OFFSET(2) NUMBITS(1) [],
    ],
}

register_bitfields! {u64,
    /// GICR_TYPER.
    pub GICR_TYPER [
        PLPIS OFFSET(0) NUMBITS(1) [],
        /// Virtual LPIs (GICv4): the redistributor has two more 64 KiB frames, so the next one is 256 KiB on.
        VLPIS OFFSET(1) NUMBITS(1) [],
        /// The last redistributor in this contiguous region.
        Last OFFSET(4) NUMBITS(1) [],
        Processor_Number OFFSET(8) NUMBITS(16) [],
        /// Aff3 `[31:24]`, Aff2 `[23:16]`, Aff1 `[15:8]`, Aff0 `[7:0]` of the CPU this redistributor serves.
        Affinity_Value OFFSET(32) NUMBITS(32) [],
    ],
    /// `GICD_IROUTER<n>`.
    pub GICD_IROUTER [
        Aff0 OFFSET(0) NUMBITS(8) [],
        Aff1 OFFSET(8) NUMBITS(8) [],
        Aff2 OFFSET(16) NUMBITS(8) [],
        /// 0: route to the CPU named by the affinity fields; 1: to any participating CPU.
        Interrupt_Routing_Mode OFFSET(31) NUMBITS(1) [],
        Aff3 OFFSET(32) NUMBITS(8) [],
    ],
}

register_structs! {
    /// The GICv3 distributor's 64 KiB frame. With affinity routing on, the SGI and PPI bits here are RES0:
    /// those interrupts live in each CPU's redistributor.
    ///
    /// Not mapped field by field: the extended-SPI banks of GICv3.1 (0x1000-0x60fc, 0x8000-0xbffc), which
    /// this crate never enables, and IMPLEMENTATION DEFINED space.
    pub GicdRegisters {
        (0x0000 => pub ctlr: ReadWrite<u32, GICD_CTLR::Register>),
        (0x0004 => pub typer: ReadOnly<u32, GICD_TYPER::Register>),
        (0x0008 => pub iidr: ReadOnly<u32>),
        (0x000c => pub typer2: ReadOnly<u32>),
        (0x0010 => pub statusr: ReadWrite<u32>),
        (0x0014 => _reserved0),
        (0x0040 => pub setspi_nsr: WriteOnly<u32>),
        (0x0044 => _reserved1),
        (0x0048 => pub clrspi_nsr: WriteOnly<u32>),
        (0x004c => _reserved2),
        (0x0050 => pub setspi_sr: WriteOnly<u32>),
        (0x0054 => _reserved3),
        (0x0058 => pub clrspi_sr: WriteOnly<u32>),
        (0x005c => _reserved4),
        (0x0080 => pub igroupr: [ReadWrite<u32>; 32]),
        (0x0100 => pub isenabler: [ReadWrite<u32>; 32]),
        (0x0180 => pub icenabler: [ReadWrite<u32>; 32]),
        (0x0200 => pub ispendr: [ReadWrite<u32>; 32]),
        (0x0280 => pub icpendr: [ReadWrite<u32>; 32]),
        (0x0300 => pub isactiver: [ReadWrite<u32>; 32]),
        (0x0380 => pub icactiver: [ReadWrite<u32>; 32]),
        (0x0400 => pub ipriorityr: [ReadWrite<u8>; 1020]),
        (0x07fc => _reserved5),
        /// Used only with affinity routing off (legacy operation); RES0 here.
        (0x0800 => pub itargetsr: [ReadWrite<u8>; 1020]),
        (0x0bfc => _reserved6),
        (0x0c00 => pub icfgr: [ReadWrite<u32>; 64]),
        (0x0d00 => pub igrpmodr: [ReadWrite<u32>; 32]),
        (0x0d80 => _reserved7),
        (0x0e00 => pub nsacr: [ReadWrite<u32>; 64]),
        (0x0f00 => pub sgir: WriteOnly<u32>),
        (0x0f04 => _reserved8),
        (0x0f10 => pub cpendsgir: [ReadWrite<u32>; 4]),
        (0x0f20 => pub spendsgir: [ReadWrite<u32>; 4]),
        (0x0f30 => _reserved9),
        /// `GICD_IROUTER<n>` for n = 32..=1019 (SPIs only): index with n - 32.
        (0x6100 => pub irouter: [ReadWrite<u64, GICD_IROUTER::Register>; 988]),
        (0x7fe0 => _reserved10),
        (0xffd0 => pub identification: [ReadOnly<u32>; 12]),
        (0x10000 => @END),
    },

    /// A redistributor's RD_base frame: control, identification and power management.
    pub GicrRdFrame {
        (0x0000 => pub ctlr: ReadWrite<u32, GICR_CTLR::Register>),
        (0x0004 => pub iidr: ReadOnly<u32>),
        (0x0008 => pub typer: ReadOnly<u64, GICR_TYPER::Register>),
        (0x0010 => pub statusr: ReadWrite<u32>),
        (0x0014 => pub waker: ReadWrite<u32, GICR_WAKER::Register>),
        (0x0018 => pub mpamidr: ReadOnly<u32>),
        (0x001c => pub partidr: ReadWrite<u32>),
        (0x0020 => _reserved0),
        (0x0040 => pub setlpir: WriteOnly<u64>),
        (0x0048 => pub clrlpir: WriteOnly<u64>),
        (0x0050 => _reserved1),
        (0x0070 => pub propbaser: ReadWrite<u64>),
        (0x0078 => pub pendbaser: ReadWrite<u64>),
        (0x0080 => _reserved2),
        (0x00a0 => pub invlpir: WriteOnly<u64>),
        (0x00a8 => _reserved3),
        (0x00b0 => pub invallr: WriteOnly<u64>),
        (0x00b8 => _reserved4),
        (0x00c0 => pub syncr: ReadOnly<u32>),
        (0x00c4 => _reserved5),
        (0xffd0 => pub identification: [ReadOnly<u32>; 12]),
        (0x10000 => @END),
    },

    /// A redistributor's SGI_base frame: its CPU's SGIs and PPIs. The extended-PPI banks of GICv3.1
    /// (the words after each register here) are not mapped: this crate never enables extended PPIs.
    pub GicrSgiFrame {
        (0x0000 => _reserved0),
        (0x0080 => pub igroupr0: ReadWrite<u32>),
        (0x0084 => _reserved1),
        (0x0100 => pub isenabler0: ReadWrite<u32>),
        (0x0104 => _reserved2),
        (0x0180 => pub icenabler0: ReadWrite<u32>),
        (0x0184 => _reserved3),
        (0x0200 => pub ispendr0: ReadWrite<u32>),
        (0x0204 => _reserved4),
        (0x0280 => pub icpendr0: ReadWrite<u32>),
        (0x0284 => _reserved5),
        (0x0300 => pub isactiver0: ReadWrite<u32>),
        (0x0304 => _reserved6),
        (0x0380 => pub icactiver0: ReadWrite<u32>),
        (0x0384 => _reserved7),
        (0x0400 => pub ipriorityr: [ReadWrite<u8>; 32]),
        (0x0420 => _reserved8),
        /// ICFGR0 (SGIs, read-only) and ICFGR1 (PPIs).
        (0x0c00 => pub icfgr: [ReadWrite<u32>; 2]),
        (0x0c08 => _reserved9),
        (0x0d00 => pub igrpmodr0: ReadWrite<u32>),
        (0x0d04 => _reserved10),
        (0x0e00 => pub nsacr: ReadWrite<u32>),
        (0x0e04 => _reserved11),
        (0x10000 => @END),
    },

    /// One GICv3 redistributor: RD_base then SGI_base. (A GICv4 redistributor with VLPIS adds two frames
    /// after these, which this crate does not use.)
    pub GicrRegisters {
        (0x00000 => pub rd: GicrRdFrame),
        (0x10000 => pub sgi: GicrSgiFrame),
        (0x20000 => @END),
    }
}

const _: () = assert!(size_of::<GicdRegisters>() == 0x10000);
const _: () = assert!(size_of::<GicrRdFrame>() == 0x10000);
const _: () = assert!(size_of::<GicrSgiFrame>() == 0x10000);
const _: () = assert!(size_of::<GicrRegisters>() == 0x20000);

#[cfg(test)]
mod tests {
    use super::{GicdRegisters, GicrRdFrame, GicrRegisters, GicrSgiFrame};
    use core::mem::offset_of;

    #[test]
    fn distributor_offsets_match_ihi_0069() {
        assert_eq!(offset_of!(GicdRegisters, typer), 0x0004);
        assert_eq!(offset_of!(GicdRegisters, igroupr), 0x0080);
        assert_eq!(offset_of!(GicdRegisters, isenabler), 0x0100);
        assert_eq!(offset_of!(GicdRegisters, ipriorityr), 0x0400);
        assert_eq!(offset_of!(GicdRegisters, icfgr), 0x0c00);
        assert_eq!(offset_of!(GicdRegisters, igrpmodr), 0x0d00);
        // IROUTER<n> is at 0x6000 + 8n; the array starts at n = 32.
        assert_eq!(offset_of!(GicdRegisters, irouter), 0x6000 + 8 * 32);
        assert_eq!(offset_of!(GicdRegisters, identification), 0xffd0);
    }

    #[test]
    fn redistributor_offsets_match_ihi_0069() {
        assert_eq!(offset_of!(GicrRdFrame, typer), 0x0008);
        assert_eq!(offset_of!(GicrRdFrame, waker), 0x0014);
        assert_eq!(offset_of!(GicrRegisters, sgi), 0x10000);
        assert_eq!(offset_of!(GicrSgiFrame, igroupr0), 0x0080);
        assert_eq!(offset_of!(GicrSgiFrame, isenabler0), 0x0100);
        assert_eq!(offset_of!(GicrSgiFrame, icenabler0), 0x0180);
        assert_eq!(offset_of!(GicrSgiFrame, ispendr0), 0x0200);
        assert_eq!(offset_of!(GicrSgiFrame, icpendr0), 0x0280);
        assert_eq!(offset_of!(GicrSgiFrame, isactiver0), 0x0300);
        assert_eq!(offset_of!(GicrSgiFrame, icactiver0), 0x0380);
        assert_eq!(offset_of!(GicrSgiFrame, ipriorityr), 0x0400);
        assert_eq!(offset_of!(GicrSgiFrame, icfgr), 0x0c00);
        assert_eq!(offset_of!(GicrSgiFrame, igrpmodr0), 0x0d00);
    }
}
