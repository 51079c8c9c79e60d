//! GICv2 register maps and fields: distributor, CPU interface, virtual interface control (IHI 0048B ch. 4-5).

use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_bitfields! {u32,
    /// GICD_CTLR. Bit 0 is EnableGrp1 in the Non-secure view of a GIC with the Security Extensions and
    /// EnableGrp0 without them; either way it enables the group the hypervisor's interrupts are in.
    pub GICD_CTLR [
        /// EnableGrp0 on a GIC without the Security Extensions; the only enable in the
        /// Non-secure view of one with them.
        Enable OFFSET(0) NUMBITS(1) [],
        /// EnableGrp1, on a GIC without the Security Extensions.
        EnableGrp1 OFFSET(1) NUMBITS(1) [],
    ],
    /// GICD_TYPER.
    pub GICD_TYPER [
        /// The distributor handles 32 * (ITLinesNumber + 1) interrupt IDs.
        ITLinesNumber OFFSET(0) NUMBITS(5) [],
        CPUNumber OFFSET(5) NUMBITS(3) [],
        SecurityExtn OFFSET(10) NUMBITS(1) [],
        LSPI OFFSET(11) NUMBITS(5) [],
    ],
    /// GICD_SGIR.
    pub GICD_SGIR [
        SGIINTID OFFSET(0) NUMBITS(4) [],
        NSATT OFFSET(15) NUMBITS(1) [],
        CPUTargetList OFFSET(16) NUMBITS(8) [],
        TargetListFilter OFFSET(24) NUMBITS(2) [
            TargetList = 0,
            AllOtherCpus = 1,
            ThisCpu = 2,
        ],
    ],
    /// GICC_CTLR, Non-secure view (a GIC without the Security Extensions has the same bits 0 and 9, as
    /// EnableGrp0 and EOImodeS).
    pub GICC_CTLR [
        Enable OFFSET(0) NUMBITS(1) [],
        /// EnableGrp1, on a GIC without the Security Extensions.
        EnableGrp1 OFFSET(1) NUMBITS(1) [],
        /// AckCtl: GICC_IAR acknowledges Group 1 interrupts too (no Security Extensions).
        AckCtl OFFSET(2) NUMBITS(1) [],
        FIQBypDisGrp1 OFFSET(5) NUMBITS(1) [],
        IRQBypDisGrp1 OFFSET(6) NUMBITS(1) [],
        /// 1: a GICC_EOIR write only drops the running priority; a GICC_DIR write deactivates.
        EOImodeNS OFFSET(9) NUMBITS(1) [],
    ],
    /// GICC_PMR: only interrupts of higher priority (lower value) than this are signalled.
    pub GICC_PMR [
        Priority OFFSET(0) NUMBITS(8) [],
    ],
    /// GICC_IAR, also the layout of GICC_EOIR and GICC_DIR.
    pub GICC_IAR [
        InterruptID OFFSET(0) NUMBITS(10) [],
        /// For an SGI, the CPU interface that requested it.
        CPUID OFFSET(10) NUMBITS(3) [],
    ],
    /// GICH_HCR.
    pub GICH_HCR [
        En OFFSET(0) NUMBITS(1) [],
        /// Underflow: maintenance interrupt while at most one list register holds a valid interrupt.
        UIE OFFSET(1) NUMBITS(1) [],
        LRENPIE OFFSET(2) NUMBITS(1) [],
        NPIE OFFSET(3) NUMBITS(1) [],
        VGrp0EIE OFFSET(4) NUMBITS(1) [],
        VGrp0DIE OFFSET(5) NUMBITS(1) [],
        VGrp1EIE OFFSET(6) NUMBITS(1) [],
        VGrp1DIE OFFSET(7) NUMBITS(1) [],
        EOICount OFFSET(27) NUMBITS(5) [],
    ],
    /// GICH_VTR.
    pub GICH_VTR [
        /// Number of list registers minus one.
        ListRegs OFFSET(0) NUMBITS(6) [],
        PREbits OFFSET(26) NUMBITS(3) [],
        PRIbits OFFSET(29) NUMBITS(3) [],
    ],
    /// `GICH_LR<n>`.
    pub GICH_LR [
        VirtualID OFFSET(0) NUMBITS(10) [],
        /// With HW set: the physical interrupt that the guest's deactivation deactivates.
        PhysicalID OFFSET(10) NUMBITS(10) [],
        /// With HW clear: for an SGI, the requesting CPU that the guest's GICV_IAR reports.
        CPUID OFFSET(10) NUMBITS(3) [],
        /// With HW clear: raise a maintenance interrupt when the guest deactivates this interrupt.
        EOI OFFSET(19) NUMBITS(1) [],
        /// Priority bits `[7:3]`: the virtual interface has 32 priority levels.
        Priority OFFSET(23) NUMBITS(5) [],
        State OFFSET(28) NUMBITS(2) [
            Invalid = 0b00,
            Pending = 0b01,
            Active = 0b10,
            PendingAndActive = 0b11,
        ],
        Grp1 OFFSET(30) NUMBITS(1) [],
        HW OFFSET(31) NUMBITS(1) [],
    ],
}

register_structs! {
    /// The GICv2 distributor (IHI 0048B table 4-1). SGI and PPI bits (the first word of each bit bank,
    /// the first 32 bytes of each byte bank, ICFGR0-1) are banked per CPU.
    pub GicdRegisters {
        (0x000 => pub ctlr: ReadWrite<u32, GICD_CTLR::Register>),
        (0x004 => pub typer: ReadOnly<u32, GICD_TYPER::Register>),
        (0x008 => pub iidr: ReadOnly<u32>),
        (0x00c => _reserved0),
        (0x080 => pub igroupr: [ReadWrite<u32>; 32]),
        (0x100 => pub isenabler: [ReadWrite<u32>; 32]),
        (0x180 => pub icenabler: [ReadWrite<u32>; 32]),
        (0x200 => pub ispendr: [ReadWrite<u32>; 32]),
        (0x280 => pub icpendr: [ReadWrite<u32>; 32]),
        (0x300 => pub isactiver: [ReadWrite<u32>; 32]),
        (0x380 => pub icactiver: [ReadWrite<u32>; 32]),
        (0x400 => pub ipriorityr: [ReadWrite<u8>; 1020]),
        (0x7fc => _reserved1),
        /// ITARGETSR0-7 (bytes 0-31) are read-only: each byte names the reading CPU's own interface.
        (0x800 => pub itargetsr: [ReadWrite<u8>; 1020]),
        (0xbfc => _reserved2),
        (0xc00 => pub icfgr: [ReadWrite<u32>; 64]),
        /// 0xd00-0xdfc is IMPLEMENTATION DEFINED (GIC-400: PPI and SPI status).
        (0xd00 => _implementation_defined),
        (0xe00 => pub nsacr: [ReadWrite<u32>; 64]),
        (0xf00 => pub sgir: WriteOnly<u32, GICD_SGIR::Register>),
        (0xf04 => _reserved3),
        (0xf10 => pub cpendsgir: [ReadWrite<u32>; 4]),
        (0xf20 => pub spendsgir: [ReadWrite<u32>; 4]),
        (0xf30 => _reserved4),
        (0xfd0 => pub identification: [ReadOnly<u32>; 12]),
        (0x1000 => @END),
    },

    /// The GICv2 CPU interface, banked per CPU (IHI 0048B table 4-2). GICC_DIR sits in the second 4 KiB
    /// page, so the mapping must cover 8 KiB.
    pub GiccRegisters {
        (0x0000 => pub ctlr: ReadWrite<u32, GICC_CTLR::Register>),
        (0x0004 => pub pmr: ReadWrite<u32, GICC_PMR::Register>),
        (0x0008 => pub bpr: ReadWrite<u32>),
        (0x000c => pub iar: ReadOnly<u32, GICC_IAR::Register>),
        (0x0010 => pub eoir: WriteOnly<u32, GICC_IAR::Register>),
        (0x0014 => pub rpr: ReadOnly<u32>),
        (0x0018 => pub hppir: ReadOnly<u32, GICC_IAR::Register>),
        (0x001c => pub abpr: ReadWrite<u32>),
        (0x0020 => pub aiar: ReadOnly<u32, GICC_IAR::Register>),
        (0x0024 => pub aeoir: WriteOnly<u32, GICC_IAR::Register>),
        (0x0028 => pub ahppir: ReadOnly<u32, GICC_IAR::Register>),
        (0x002c => _reserved0),
        (0x00d0 => pub apr: [ReadWrite<u32>; 4]),
        (0x00e0 => pub nsapr: [ReadWrite<u32>; 4]),
        (0x00f0 => _reserved1),
        (0x00fc => pub iidr: ReadOnly<u32>),
        (0x0100 => _reserved2),
        (0x1000 => pub dir: WriteOnly<u32, GICC_IAR::Register>),
        (0x1004 => _reserved3),
        (0x2000 => @END),
    },

    /// The GICv2 virtual interface control registers, banked per CPU (IHI 0048B table 5-1).
    pub GichRegisters {
        (0x000 => pub hcr: ReadWrite<u32, GICH_HCR::Register>),
        (0x004 => pub vtr: ReadOnly<u32, GICH_VTR::Register>),
        (0x008 => pub vmcr: ReadWrite<u32>),
        (0x00c => _reserved0),
        (0x010 => pub misr: ReadOnly<u32>),
        (0x014 => _reserved1),
        (0x020 => pub eisr: [ReadOnly<u32>; 2]),
        (0x028 => _reserved2),
        (0x030 => pub elrsr: [ReadOnly<u32>; 2]),
        (0x038 => _reserved3),
        (0x0f0 => pub apr: ReadWrite<u32>),
        (0x0f4 => _reserved4),
        (0x100 => pub lr: [ReadWrite<u32, GICH_LR::Register>; 64]),
        (0x200 => @END),
    }
}

const _: () = assert!(size_of::<GicdRegisters>() == 0x1000);
const _: () = assert!(size_of::<GiccRegisters>() == 0x2000);
const _: () = assert!(size_of::<GichRegisters>() == 0x200);

#[cfg(test)]
mod tests {
    use super::{GiccRegisters, GicdRegisters, GichRegisters};
    use core::mem::offset_of;

    #[test]
    fn distributor_offsets_match_ihi_0048b_table_4_1() {
        assert_eq!(offset_of!(GicdRegisters, typer), 0x004);
        assert_eq!(offset_of!(GicdRegisters, isenabler), 0x100);
        assert_eq!(offset_of!(GicdRegisters, icactiver), 0x380);
        assert_eq!(offset_of!(GicdRegisters, ipriorityr), 0x400);
        assert_eq!(offset_of!(GicdRegisters, itargetsr), 0x800);
        assert_eq!(offset_of!(GicdRegisters, icfgr), 0xc00);
        assert_eq!(offset_of!(GicdRegisters, sgir), 0xf00);
        assert_eq!(offset_of!(GicdRegisters, spendsgir), 0xf20);
    }

    #[test]
    fn cpu_interface_offsets_match_ihi_0048b_table_4_2() {
        assert_eq!(offset_of!(GiccRegisters, pmr), 0x0004);
        assert_eq!(offset_of!(GiccRegisters, iar), 0x000c);
        assert_eq!(offset_of!(GiccRegisters, eoir), 0x0010);
        assert_eq!(offset_of!(GiccRegisters, apr), 0x00d0);
        assert_eq!(offset_of!(GiccRegisters, dir), 0x1000);
    }

    #[test]
    fn virtual_interface_control_offsets_match_ihi_0048b_table_5_1() {
        assert_eq!(offset_of!(GichRegisters, vtr), 0x004);
        assert_eq!(offset_of!(GichRegisters, vmcr), 0x008);
        assert_eq!(offset_of!(GichRegisters, misr), 0x010);
        assert_eq!(offset_of!(GichRegisters, eisr), 0x020);
        assert_eq!(offset_of!(GichRegisters, elrsr), 0x030);
        assert_eq!(offset_of!(GichRegisters, apr), 0x0f0);
        assert_eq!(offset_of!(GichRegisters, lr), 0x100);
    }
}
