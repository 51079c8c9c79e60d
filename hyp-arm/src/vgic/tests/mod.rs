//! Scenario tests: Linux's GICv2 and GICv3 bring-up, SGIs, list registers, hostile input.
#![forbid(unsafe_code)]

mod hostile_input;
mod linux_gicv2;
mod linux_gicv3;
mod list_registers;
mod ownership;

use super::*;

/// The SPI passed through (a device of the domain's).
const HARDWARE_SPI: u32 = 33;
/// An SPI of another domain.
const FOREIGN_SPI: u32 = 34;
/// SPIs that exist only virtually (emulated devices).
const VIRTUAL_SPIS: [u32; 8] = [40, 41, 42, 43, 44, 45, 46, 47];
/// The virtual timer PPI, passed through.
const TIMER_PPI: u32 = 27;

fn config(version: GicVersion, vcpu_count: usize) -> VgicConfig {
    VgicConfig {
        version,
        vcpu_count,
        nr_spis: 64,
        owned_spis: InterruptSet::from_intids(&[HARDWARE_SPI]).unwrap(),
        virtual_spis: InterruptSet::from_intids(&VIRTUAL_SPIS).unwrap(),
        hardware_ppis: InterruptSet::from_intids(&[TIMER_PPI, 30]).unwrap(),
        deactivate_hardware_by_maintenance: false,
    }
}

fn vgic(version: GicVersion, vcpu_count: usize) -> Box<Vgic> {
    Box::new(Vgic::new(&config(version, vcpu_count)).unwrap())
}

/// A physical side effect, as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    Enabled(PhysicalInterrupt, bool),
    Trigger(PhysicalInterrupt, Trigger),
    Route(u32, usize),
    Pending(PhysicalInterrupt, bool),
    Active(PhysicalInterrupt, bool),
}

/// Records the physical side effects the vGIC asks for.
#[derive(Default)]
struct Recorder {
    effects: Vec<Effect>,
}

impl PhysicalGicEffects for Recorder {
    fn set_enabled(&mut self, interrupt: PhysicalInterrupt, enabled: bool) {
        self.effects.push(Effect::Enabled(interrupt, enabled));
    }
    fn set_trigger(&mut self, interrupt: PhysicalInterrupt, trigger: Trigger) {
        self.effects.push(Effect::Trigger(interrupt, trigger));
    }
    fn route_spi(&mut self, intid: u32, vcpu: usize) {
        self.effects.push(Effect::Route(intid, vcpu));
    }
    fn set_pending(&mut self, interrupt: PhysicalInterrupt, pending: bool) {
        self.effects.push(Effect::Pending(interrupt, pending));
    }
    fn set_active(&mut self, interrupt: PhysicalInterrupt, active: bool) {
        self.effects.push(Effect::Active(interrupt, active));
    }
}

impl Recorder {
    /// Every recorded effect must name an interrupt the domain owns.
    fn assert_only_owned(&self) {
        for effect in &self.effects {
            let intid = match *effect {
                Effect::Enabled(interrupt, _)
                | Effect::Trigger(interrupt, _)
                | Effect::Pending(interrupt, _)
                | Effect::Active(interrupt, _) => interrupt.intid(),
                Effect::Route(intid, _) => intid,
            };
            assert!([HARDWARE_SPI, TIMER_PPI, 30].contains(&intid), "{effect:?}");
        }
    }
}

/// A guest on `vcpu` with 32-bit and 64-bit accessors for the distributor and redistributors.
struct Guest<'a> {
    vgic: &'a mut Vgic,
    physical: Recorder,
    vcpu: usize,
}

impl<'a> Guest<'a> {
    fn new(vgic: &'a mut Vgic, vcpu: usize) -> Self {
        Self {
            vgic,
            physical: Recorder::default(),
            vcpu,
        }
    }

    fn gicd_read(&self, offset: u64) -> u32 {
        self.vgic.distributor_read(self.vcpu, offset, 4).unwrap() as u32
    }

    fn gicd_write(&mut self, offset: u64, value: u32) -> WriteOutcome {
        self.vgic
            .distributor_write(self.vcpu, offset, 4, value.into(), &mut self.physical)
            .unwrap()
    }

    fn gicd_write_byte(&mut self, offset: u64, value: u8) -> WriteOutcome {
        self.vgic
            .distributor_write(self.vcpu, offset, 1, value.into(), &mut self.physical)
            .unwrap()
    }

    fn gicd_write64(&mut self, offset: u64, value: u64) -> WriteOutcome {
        self.vgic
            .distributor_write(self.vcpu, offset, 8, value, &mut self.physical)
            .unwrap()
    }

    fn gicr_read(&self, offset: u64) -> u32 {
        self.vgic.redistributor_read(self.vcpu, offset, 4).unwrap() as u32
    }

    fn gicr_read64(&self, offset: u64) -> u64 {
        self.vgic.redistributor_read(self.vcpu, offset, 8).unwrap()
    }

    fn gicr_write(&mut self, offset: u64, value: u32) -> WriteOutcome {
        self.vgic
            .redistributor_write(self.vcpu, offset, 4, value.into(), &mut self.physical)
            .unwrap()
    }
}

/// `count` empty list registers.
fn empty_list_registers(count: usize) -> Vec<ListRegister> {
    vec![ListRegister::INVALID; count]
}

/// The virtual INTIDs in valid list registers.
fn queued_intids(list_registers: &[ListRegister]) -> Vec<u32> {
    list_registers
        .iter()
        .filter(|list_register| list_register.state != LrState::Invalid)
        .map(|list_register| list_register.virtual_intid)
        .collect()
}

/// The guest acknowledges and completes every interrupt in its list registers.
fn complete_all(list_registers: &mut [ListRegister]) {
    for list_register in list_registers {
        list_register.state = LrState::Invalid;
    }
}
