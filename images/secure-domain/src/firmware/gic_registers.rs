//! Register maps of the GIC frames the secure domain programs: the distributor (both versions,
//! Arm IHI 0048B 4.3 and IHI 0069H 12.9), the GICv2 CPU interface (IHI 0048B 4.4) and a GICv3
//! redistributor's RD and SGI frames (IHI 0069H 12.10-12.11). Only the registers used are named;
//! the layouts are checked by `register_structs!` and the size assertions below.

use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_structs! {
    /// GICD, as far as the GICv3 routing registers.
    pub Distributor {
        (0x000 => pub control: ReadWrite<u32>),
        (0x004 => pub type_register: ReadOnly<u32>),
        (0x008 => _reserved0),
        /// GICD_IGROUPR<n>: one bit per interrupt, 1 = group 1.
        (0x080 => pub group: [ReadWrite<u32>; 32]),
        /// GICD_ISENABLER<n>: one bit per interrupt, writing 1 enables.
        (0x100 => pub set_enable: [ReadWrite<u32>; 32]),
        (0x180 => _reserved1),
        /// GICD_IPRIORITYR<n>: one byte per interrupt, accessed as words.
        (0x400 => pub priority: [ReadWrite<u32>; 255]),
        (0x7fc => _reserved2),
        /// GICD_ITARGETSR<n> (GICv2): one byte of CPU-interface bits per interrupt, as words.
        (0x800 => pub targets: [ReadWrite<u32>; 255]),
        (0xbfc => _reserved3),
        /// GICD_IROUTER<n> (GICv3): the affinity an SPI goes to; n < 32 are reserved.
        (0x6000 => pub router: [ReadWrite<u64>; 1020]),
        (0x7fe0 => @END),
    }
}

register_structs! {
    /// GICC: the GICv2 CPU interface (or, under a hypervisor, the virtual one at its address).
    pub CpuInterfaceRegisters {
        (0x000 => pub control: ReadWrite<u32>),
        (0x004 => pub priority_mask: ReadWrite<u32>),
        (0x008 => pub binary_point: ReadWrite<u32>),
        (0x00c => pub acknowledge: ReadOnly<u32>),
        (0x010 => pub end_of_interrupt: WriteOnly<u32>),
        (0x014 => @END),
    }
}

register_structs! {
    /// One GICv3 redistributor: the RD frame, then the SGI frame 64 KiB above it.
    pub Redistributor {
        (0x00000 => _reserved0),
        (0x00008 => pub type_register: ReadOnly<u64>),
        (0x00010 => _reserved1),
        (0x00014 => pub waker: ReadWrite<u32>),
        (0x00018 => _reserved2),
        /// GICR_IGROUPR0: SGIs and PPIs, 1 = group 1.
        (0x10080 => pub group: ReadWrite<u32>),
        (0x10084 => _reserved3),
        /// GICR_ISENABLER0.
        (0x10100 => pub set_enable: ReadWrite<u32>),
        (0x10104 => _reserved4),
        /// GICR_IPRIORITYR0-7: one byte per SGI/PPI, accessed as words.
        (0x10400 => pub priority: [ReadWrite<u32>; 8]),
        (0x10420 => @END),
    }
}

const _: () = assert!(core::mem::size_of::<Distributor>() == 0x7fe0);
const _: () = assert!(core::mem::size_of::<CpuInterfaceRegisters>() == 0x14);
const _: () = assert!(core::mem::size_of::<Redistributor>() == 0x10420);

/// GICD_TYPER.ITLinesNumber: the distributor has 32 * (field + 1) INTIDs.
pub const TYPE_INTERRUPT_LINES: u32 = 0x1f;
/// GICD_CTLR.RWP (GICv3): a write to GICD_CTLR is still taking effect.
pub const DISTRIBUTOR_REGISTER_WRITE_PENDING: u32 = 1 << 31;
/// GICD_CTLR: GICv2 EnableGrp0 | EnableGrp1 (with one security state; a Non-secure view reads
/// bit 0 as its group's enable and ignores bit 1).
pub const DISTRIBUTOR_ENABLE_V2: u32 = 0b11;
/// GICD_CTLR (GICv3): ARE | EnableGrp1 | EnableGrp0 with one security state, which is
/// ARE_NS | EnableGrp1A | EnableGrp1 in a Non-secure view; either way affinity routing and
/// group 1 on.
pub const DISTRIBUTOR_ENABLE_V3: u32 = 1 << 4 | 1 << 1 | 1;
/// GICC_CTLR: EnableGrp0 | EnableGrp1 | AckCtl (a Non-secure or virtual view sees bit 0 as its
/// enable), so the timer is acknowledged whichever group the distributor put it in.
pub const CPU_INTERFACE_ENABLE: u32 = 0b111;
/// GICR_WAKER.ProcessorSleep and ChildrenAsleep.
pub const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
pub const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
/// GICR_TYPER: VLPIS (the redistributor has two more 64 KiB frames) and Last.
pub const TYPE_VIRTUAL_LPIS: u64 = 1 << 1;
pub const TYPE_LAST: u64 = 1 << 4;
