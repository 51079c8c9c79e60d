//! One front end over GICv2 and GICv3 for what the hypervisor's interrupt path needs.

use tock_registers::{register_bitfields, LocalRegisterCopy};

use crate::gicv2::{Gicv2CpuInterface, Gicv2Distributor, Gicv2HypInterface};
use crate::gicv3::{
    cpu_interface, Gicv3Distributor, Gicv3HypInterface, Gicv3Redistributor, SgiTarget,
};
use crate::{Acknowledged, GicError, IntId, ListRegister, PhysicalCpuTarget, Trigger};

register_bitfields! {u32,
    /// The maintenance interrupt causes, laid out alike in GICH_MISR (IHI 0048B) and bits `[7:0]` of
    /// ICH_MISR_EL2 (IHI 0069).
    pub MAINTENANCE_STATUS [
        /// A list register's EOI maintenance request fired (see `Gic::eoi_list_registers`).
        EOI OFFSET(0) NUMBITS(1) [],
        /// Underflow: at most one list register holds a valid interrupt.
        U OFFSET(1) NUMBITS(1) [],
        /// The guest deactivated an interrupt that is in no list register.
        LRENP OFFSET(2) NUMBITS(1) [],
        /// No list register holds a pending interrupt.
        NP OFFSET(3) NUMBITS(1) [],
        VGrp0E OFFSET(4) NUMBITS(1) [],
        VGrp0D OFFSET(5) NUMBITS(1) [],
        VGrp1E OFFSET(6) NUMBITS(1) [],
        VGrp1D OFFSET(7) NUMBITS(1) [],
    ],
}

/// Why the maintenance interrupt is asserted.
pub type MaintenanceStatus = LocalRegisterCopy<u32, MAINTENANCE_STATUS::Register>;

/// The GICv2 blocks. The CPU interface and virtual interface control are banked, so one value serves
/// every CPU.
#[derive(Clone, Debug)]
pub struct Gicv2 {
    pub distributor: Gicv2Distributor,
    pub cpu_interface: Gicv2CpuInterface,
    pub hyp_interface: Gicv2HypInterface,
}

/// The GICv3 blocks as one CPU uses them: the shared distributor, that CPU's redistributor, and its
/// virtual interface control. (The CPU interface is system registers: see [`crate::gicv3::cpu_interface`].)
#[derive(Clone, Debug)]
pub struct Gicv3 {
    pub distributor: Gicv3Distributor,
    pub redistributor: Gicv3Redistributor,
    pub hyp_interface: Gicv3HypInterface,
}

/// The physical GIC, as one CPU drives it. Build one on each CPU; distributor values may be clones.
///
/// Methods on SGIs and PPIs act on the calling CPU's copies, so a value must only be used on the CPU it
/// was built for (on GICv3 it holds that CPU's redistributor).
#[derive(Clone, Debug)]
pub enum Gic {
    V2(Gicv2),
    V3(Gicv3),
}

/// Calls the per-interrupt method on whichever block holds `intid` on this GIC version.
macro_rules! per_interrupt {
    ($gic:expr, $method:ident, $intid:expr $(, $argument:expr)*) => {
        match $gic {
            Gic::V2(gic) => gic.distributor.$method($intid $(, $argument)*),
            Gic::V3(gic) if $intid.is_private() => gic.redistributor.$method($intid $(, $argument)*),
            Gic::V3(gic) => gic.distributor.$method($intid $(, $argument)*),
        }
    };
}

impl Gic {
    /// Initialises the distributor: every SPI disabled, at the default priority, aimed at the calling
    /// CPU. Run once, on the boot CPU, before [`Self::init_cpu`] on any CPU.
    pub fn init_distributor(&self) -> Result<(), GicError> {
        match self {
            Self::V2(gic) => {
                gic.distributor.init();
                Ok(())
            }
            Self::V3(gic) => gic.distributor.init(gic.redistributor.affinity()),
        }
    }

    /// Initialises the calling CPU's part: SGIs and PPIs disabled at the default priority, physical CPU
    /// interface on with EOImode = 1. The virtual CPU interface is left as it is (off after reset).
    pub fn init_cpu(&self) -> Result<(), GicError> {
        match self {
            Self::V2(gic) => {
                gic.distributor.init_private();
                gic.cpu_interface
                    .init(gic.distributor.has_security_extensions());
            }
            Self::V3(gic) => {
                gic.redistributor.wake()?;
                gic.redistributor.init_sgi_ppi()?;
                cpu_interface::init();
            }
        }
        Ok(())
    }

    /// How the GIC names the calling CPU, for [`Self::send_sgi`] and [`Self::route`] from other CPUs.
    pub fn current_cpu_target(&self) -> PhysicalCpuTarget {
        match self {
            Self::V2(gic) => {
                PhysicalCpuTarget::InterfaceNumber(gic.distributor.cpu_interface_number())
            }
            Self::V3(gic) => PhysicalCpuTarget::Affinity(gic.redistributor.affinity()),
        }
    }

    /// Takes the highest-priority pending interrupt; `None` if there is none.
    pub fn acknowledge(&self) -> Option<Acknowledged> {
        match self {
            Self::V2(gic) => gic.cpu_interface.acknowledge(),
            Self::V3(_) => cpu_interface::acknowledge(),
        }
    }

    /// Drops the running priority taken by `acknowledged`; the interrupt stays active (EOImode = 1).
    pub fn end_of_interrupt(&self, acknowledged: Acknowledged) {
        match self {
            Self::V2(gic) => gic.cpu_interface.end_of_interrupt(acknowledged),
            Self::V3(_) => cpu_interface::end_of_interrupt(acknowledged),
        }
    }

    /// Deactivates an interrupt after its priority drop. Not for hardware-mapped interrupts handed to a
    /// guest: the guest's deactivation does it.
    pub fn deactivate(&self, acknowledged: Acknowledged) {
        match self {
            Self::V2(gic) => gic.cpu_interface.deactivate(acknowledged),
            Self::V3(_) => cpu_interface::deactivate(acknowledged),
        }
    }

    /// Sends SGI `sgi` (0..=15) to one physical CPU, named as its own [`Self::current_cpu_target`] said.
    /// Stores before the call are visible to the target before the SGI arrives.
    pub fn send_sgi(&self, target: PhysicalCpuTarget, sgi: u8) -> Result<(), GicError> {
        match (self, target) {
            (Self::V2(gic), PhysicalCpuTarget::InterfaceNumber(number @ 0..=7)) => {
                gic.distributor.send_sgi(1 << number, sgi)
            }
            (Self::V3(_), PhysicalCpuTarget::Affinity(affinity)) => {
                cpu_interface::send_sgi(sgi, SgiTarget::cpu(affinity))
            }
            _ => Err(GicError::InvalidTarget(target)),
        }
    }

    /// Lets `intid` be signalled (an SGI or PPI: on the calling CPU).
    pub fn enable(&self, intid: IntId) -> Result<(), GicError> {
        per_interrupt!(self, enable, intid)
    }

    /// Stops `intid` being signalled (an SGI or PPI: on the calling CPU).
    pub fn disable(&self, intid: IntId) -> Result<(), GicError> {
        per_interrupt!(self, disable, intid)
    }

    /// Sets `intid`'s priority (lower is more urgent).
    pub fn set_priority(&self, intid: IntId, priority: u8) -> Result<(), GicError> {
        per_interrupt!(self, set_priority, intid, priority)
    }

    /// Sets `intid`'s trigger; change it only while the interrupt is disabled.
    pub fn set_trigger(&self, intid: IntId, trigger: Trigger) -> Result<(), GicError> {
        per_interrupt!(self, set_trigger, intid, trigger)
    }

    /// Makes `intid` pending.
    pub fn set_pending(&self, intid: IntId) -> Result<(), GicError> {
        per_interrupt!(self, set_pending, intid)
    }

    /// Clears `intid`'s pending state.
    pub fn clear_pending(&self, intid: IntId) -> Result<(), GicError> {
        per_interrupt!(self, clear_pending, intid)
    }

    /// Makes `intid` active.
    pub fn set_active(&self, intid: IntId) -> Result<(), GicError> {
        per_interrupt!(self, set_active, intid)
    }

    /// Clears `intid`'s active state.
    pub fn clear_active(&self, intid: IntId) -> Result<(), GicError> {
        per_interrupt!(self, clear_active, intid)
    }

    /// Whether `intid` is active (an SGI or PPI: on the calling CPU).
    pub fn is_active(&self, intid: IntId) -> Result<bool, GicError> {
        per_interrupt!(self, is_active, intid)
    }

    /// Sends SPI `intid` to one physical CPU.
    pub fn route(&self, intid: IntId, target: PhysicalCpuTarget) -> Result<(), GicError> {
        match (self, target) {
            (Self::V2(gic), PhysicalCpuTarget::InterfaceNumber(number @ 0..=7)) => {
                gic.distributor.set_target(intid, 1 << number)
            }
            (Self::V3(gic), PhysicalCpuTarget::Affinity(affinity)) => {
                gic.distributor.route(intid, affinity)
            }
            _ => Err(GicError::InvalidTarget(target)),
        }
    }

    /// Number of list registers.
    pub fn list_register_count(&self) -> usize {
        match self {
            Self::V2(gic) => gic.hyp_interface.list_register_count(),
            Self::V3(gic) => gic.hyp_interface.list_register_count(),
        }
    }

    fn check_list_register(&self, index: usize) -> Result<(), GicError> {
        let count = self.list_register_count();
        if index < count {
            Ok(())
        } else {
            Err(GicError::ListRegisterOutOfRange { index, count })
        }
    }

    /// List register `index`, decoded.
    pub fn read_list_register(&self, index: usize) -> Result<ListRegister, GicError> {
        self.check_list_register(index)?;
        Ok(match self {
            Self::V2(gic) => ListRegister::from_gicv2(gic.hyp_interface.read_lr(index)),
            Self::V3(gic) => ListRegister::from_gicv3(gic.hyp_interface.read_lr(index)),
        })
    }

    /// Writes list register `index`.
    pub fn write_list_register(&self, index: usize, entry: &ListRegister) -> Result<(), GicError> {
        self.check_list_register(index)?;
        match self {
            Self::V2(gic) => gic.hyp_interface.write_lr(index, entry.to_gicv2()?),
            Self::V3(gic) => gic.hyp_interface.write_lr(index, entry.to_gicv3()?),
        }
        Ok(())
    }

    /// Bitmap of free list registers (bit n: list register n).
    pub fn empty_list_registers(&self) -> u64 {
        match self {
            Self::V2(gic) => gic.hyp_interface.elrsr(),
            Self::V3(gic) => gic.hyp_interface.elrsr(),
        }
    }

    /// Bitmap of list registers whose EOI maintenance request fired (bit n: list register n).
    pub fn eoi_list_registers(&self) -> u64 {
        match self {
            Self::V2(gic) => gic.hyp_interface.eisr(),
            Self::V3(gic) => gic.hyp_interface.eisr(),
        }
    }

    /// Why the maintenance interrupt is asserted.
    pub fn maintenance_status(&self) -> MaintenanceStatus {
        MaintenanceStatus::new(match self {
            Self::V2(gic) => gic.hyp_interface.misr(),
            // The causes are bits [7:0]; the rest (VSGIEOICount) is not a cause.
            Self::V3(gic) => gic.hyp_interface.misr() as u32 & 0xff,
        })
    }

    /// Asks for a maintenance interrupt while at most one list register holds a valid interrupt, so the
    /// hypervisor can queue more than fit.
    pub fn set_underflow_interrupt(&self, enabled: bool) {
        match self {
            Self::V2(gic) => gic.hyp_interface.set_underflow_interrupt(enabled),
            Self::V3(gic) => gic.hyp_interface.set_underflow_interrupt(enabled),
        }
    }

    /// Turns the calling CPU's virtual CPU interface on or off (GICH_HCR.En / ICH_HCR_EL2.En).
    pub fn set_virtual_cpu_interface_enabled(&self, enabled: bool) {
        match self {
            Self::V2(gic) => gic.hyp_interface.set_enabled(enabled),
            Self::V3(gic) => gic.hyp_interface.set_enabled(enabled),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Gic, Gicv2, Gicv3};
    use crate::gicv2::{Gicv2CpuInterface, Gicv2Distributor, Gicv2HypInterface};
    use crate::gicv3::{Gicv3Distributor, Gicv3HypInterface, Gicv3Redistributor};
    use crate::test_support::FakeFrame;
    use crate::{
        Affinity, GicError, IntId, ListRegister, ListRegisterKind, ListRegisterState,
        PhysicalCpuTarget,
    };

    struct Gicv2Frames {
        distributor: FakeFrame,
        hyp_interface: FakeFrame,
        cpu_interface: FakeFrame,
    }

    /// A GICv2 with 64 interrupt IDs and four list registers.
    fn gicv2() -> (Gicv2Frames, Gic) {
        let frames = Gicv2Frames {
            distributor: FakeFrame::new(0x1000),
            hyp_interface: FakeFrame::new(0x200),
            cpu_interface: FakeFrame::new(0x2000),
        };
        frames.distributor.write32(0x004, 1);
        frames.hyp_interface.write32(0x004, 3);
        // SAFETY: frames of the right sizes that outlive the drivers.
        let gic = unsafe {
            Gic::V2(Gicv2 {
                distributor: Gicv2Distributor::new(frames.distributor.base()),
                cpu_interface: Gicv2CpuInterface::new(frames.cpu_interface.base()),
                hyp_interface: Gicv2HypInterface::new(frames.hyp_interface.base()),
            })
        };
        (frames, gic)
    }

    #[test]
    fn targets_must_match_the_gic_version() {
        let (frames, gic) = gicv2();
        let spi = IntId::spi(8).unwrap();
        gic.route(spi, PhysicalCpuTarget::InterfaceNumber(1))
            .unwrap();
        assert_eq!(frames.distributor.read8(0x800 + 40), 0b10);
        gic.send_sgi(PhysicalCpuTarget::InterfaceNumber(3), 1)
            .unwrap();
        assert_eq!(frames.distributor.read32(0xf00), 0x0008_0001);
        let affinity = PhysicalCpuTarget::Affinity(Affinity::from_mpidr(0));
        assert_eq!(
            gic.send_sgi(affinity, 1),
            Err(GicError::InvalidTarget(affinity))
        );
        let ninth = PhysicalCpuTarget::InterfaceNumber(8);
        assert_eq!(gic.route(spi, ninth), Err(GicError::InvalidTarget(ninth)));
    }

    #[test]
    fn list_registers_are_checked_encoded_and_decoded() {
        let (frames, gic) = gicv2();
        let entry = ListRegister {
            virtual_intid: 40,
            state: ListRegisterState::Pending,
            priority: 0xa0,
            group1: true,
            kind: ListRegisterKind::Hardware { physical_intid: 40 },
        };
        assert_eq!(gic.list_register_count(), 4);
        gic.write_list_register(1, &entry).unwrap();
        assert_eq!(
            frames.hyp_interface.read32(0x104),
            entry.to_gicv2().unwrap()
        );
        assert_eq!(gic.read_list_register(1), Ok(entry));
        assert_eq!(
            gic.write_list_register(4, &entry),
            Err(GicError::ListRegisterOutOfRange { index: 4, count: 4 })
        );
        frames.hyp_interface.write32(0x010, 0b10); // GICH_MISR.U
        assert!(gic
            .maintenance_status()
            .is_set(super::MAINTENANCE_STATUS::U));
    }

    #[test]
    fn gicv3_private_interrupts_go_to_the_redistributor() {
        let distributor = FakeFrame::new(0x10000);
        let redistributor = FakeFrame::new(0x20000);
        distributor.write32(0x0004, 1);
        // GICR_TYPER: affinity 0.0.0.1, Last.
        redistributor.write64(0x8, 0x0000_0001_0000_0010);
        // SAFETY: frames of the right sizes that outlive the drivers.
        let (distributor_driver, redistributor_driver) = unsafe {
            (
                Gicv3Distributor::new(distributor.base()),
                Gicv3Redistributor::find(redistributor.base(), 0x20000, 1).unwrap(),
            )
        };
        let _fakes = crate::gicv3::tests::fakes();
        let gic = Gic::V3(Gicv3 {
            distributor: distributor_driver,
            redistributor: redistributor_driver,
            hyp_interface: Gicv3HypInterface::probe(),
        });
        gic.enable(IntId::ppi(14).unwrap()).unwrap();
        assert_eq!(redistributor.read32(0x10100), 1 << 30);
        gic.enable(IntId::spi(0).unwrap()).unwrap();
        assert_eq!(distributor.read32(0x0104), 1);
        assert_eq!(
            gic.current_cpu_target(),
            PhysicalCpuTarget::Affinity(Affinity::from_mpidr(1))
        );
    }
}
