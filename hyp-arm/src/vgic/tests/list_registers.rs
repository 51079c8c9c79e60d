//! List register management: priority order, overflow and underflow, duplicates, withdrawal.
#![forbid(unsafe_code)]

use super::*;

const GICD_CTLR: u64 = 0x0000;
const GICD_ISENABLER1: u64 = 0x0104;
const GICD_ICENABLER1: u64 = 0x0184;
const GICD_ISPENDR1: u64 = 0x0204;
const GICD_ICPENDR1: u64 = 0x0284;
const GICD_ISACTIVER1: u64 = 0x0304;
const GICD_ICACTIVER1: u64 = 0x0384;
const GICD_IPRIORITYR: u64 = 0x0400;
const GICD_IROUTER: u64 = 0x6000;

/// A GICv3 vGIC as Linux leaves it: groups enabled, the domain's SPIs enabled on vCPU 0, with
/// the given priorities for the virtual SPIs 40, 41, ...
fn ready(vcpu_count: usize, priorities: &[u8]) -> Box<Vgic> {
    let mut vgic = vgic(GicVersion::V3, vcpu_count);
    let mut guest = Guest::new(&mut vgic, 0);
    guest.gicd_write(GICD_CTLR, 0b11);
    guest.gicd_write(GICD_ISENABLER1, 1 << (HARDWARE_SPI - 32) | 0xFF << 8);
    for (index, &priority) in priorities.iter().enumerate() {
        guest.gicd_write_byte(GICD_IPRIORITYR + u64::from(VIRTUAL_SPIS[index]), priority);
    }
    vgic
}

fn bit(intid: u32) -> u32 {
    1 << (intid - 32)
}

#[test]
fn priority_chooses_the_order() {
    let priorities = [0xF0, 0x10, 0x80, 0x40, 0x20, 0xC0];
    let mut vgic = ready(1, &priorities);
    for &intid in &VIRTUAL_SPIS[..6] {
        assert!(vgic.inject(0, intid).unwrap().contains(0));
    }
    let mut list_registers = empty_list_registers(2);
    let outcome = vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(queued_intids(&list_registers), [41, 44]);
    assert_eq!(list_registers[0].priority, 0x10);
    assert!(outcome.underflow_interrupt_wanted);
}

#[test]
fn overflow_then_refill_after_completion() {
    let mut vgic = ready(1, &[0x10, 0x20, 0x30, 0x40, 0x50, 0x60]);
    for &intid in &VIRTUAL_SPIS[..6] {
        vgic.inject(0, intid).unwrap();
    }
    let mut list_registers = empty_list_registers(4);
    let outcome = vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(queued_intids(&list_registers), [40, 41, 42, 43]);
    assert_eq!(outcome.used_list_registers, 0b1111);
    assert!(outcome.underflow_interrupt_wanted);
    // The guest handles two; the underflow maintenance interrupt brings us back.
    list_registers[0].state = LrState::Invalid;
    list_registers[2].state = LrState::Invalid;
    list_registers[1].state = LrState::Active;
    let outcome = vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(queued_intids(&list_registers), [44, 41, 45, 43]);
    assert_eq!(list_registers[1].state, LrState::Active);
    assert!(!outcome.underflow_interrupt_wanted);
    complete_all(&mut list_registers);
    let outcome = vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(outcome.used_list_registers, 0);
    assert!(!vgic.has_pending(0));
}

#[test]
fn pending_again_shares_the_list_register() {
    let mut vgic = ready(1, &[0x80]);
    let mut list_registers = empty_list_registers(4);
    vgic.inject(0, 40).unwrap();
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    // Pending twice before the guest looks: one interrupt (edge coalescing).
    vgic.inject(0, 40).unwrap();
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(queued_intids(&list_registers), [40]);
    assert_eq!(list_registers[0].state, LrState::Pending);
    // Acknowledged, then pending again: PendingActive in the same list register.
    list_registers[0].state = LrState::Active;
    assert_eq!(vgic.inject(0, 40).unwrap().iter().collect::<Vec<_>>(), [0]);
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(queued_intids(&list_registers), [40]);
    assert_eq!(list_registers[0].state, LrState::PendingActive);
    // Deactivated, the pending half stays; then acknowledged and completed.
    list_registers[0].state = LrState::Pending;
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(list_registers[0].state, LrState::Pending);
    complete_all(&mut list_registers);
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert!(queued_intids(&list_registers).is_empty());
}

#[test]
fn disabled_interrupt_waits() {
    let mut vgic = ready(1, &[0x80]);
    Guest::new(&mut vgic, 0).gicd_write(GICD_ICENABLER1, bit(40));
    assert_eq!(vgic.inject(0, 40), Ok(VcpuSet::EMPTY));
    assert!(!vgic.has_pending(0));
    let mut list_registers = empty_list_registers(4);
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert!(queued_intids(&list_registers).is_empty());
    let outcome = Guest::new(&mut vgic, 0).gicd_write(GICD_ISENABLER1, bit(40));
    assert!(outcome.kick.contains(0));
    assert!(vgic.has_pending(0));
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(queued_intids(&list_registers), [40]);
}

#[test]
fn group_disable_holds_everything_back() {
    let mut vgic = ready(1, &[0x80]);
    Guest::new(&mut vgic, 0).gicd_write(GICD_CTLR, 0);
    vgic.inject(0, 40).unwrap();
    assert!(!vgic.has_pending(0));
    let outcome = Guest::new(&mut vgic, 0).gicd_write(GICD_CTLR, 0b10);
    assert!(outcome.kick.contains(0));
    assert!(vgic.has_pending(0));
}

#[test]
fn higher_priority_evicts_a_lower_pending_one() {
    let mut vgic = ready(1, &[0xF0, 0x10, 0x80]);
    let mut list_registers = empty_list_registers(2);
    vgic.inject(0, 40).unwrap();
    vgic.inject(0, 42).unwrap();
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(queued_intids(&list_registers), [42, 40]);
    vgic.inject(0, 41).unwrap();
    let outcome = vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(queued_intids(&list_registers), [42, 41]);
    assert!(outcome.underflow_interrupt_wanted);
    // The evicted one is still pending in the vGIC.
    assert_eq!(
        vgic.distributor_read(0, GICD_ISPENDR1, 4),
        Ok(u64::from(bit(40) | bit(41) | bit(42)))
    );
    // An active list register is never evicted.
    list_registers[0].state = LrState::Active;
    list_registers[1].state = LrState::Active;
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(queued_intids(&list_registers), [42, 41]);
}

#[test]
fn disabling_withdraws_a_queued_pending_interrupt() {
    let mut vgic = ready(1, &[0x80]);
    let mut list_registers = empty_list_registers(4);
    vgic.inject(0, 40).unwrap();
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    let outcome = Guest::new(&mut vgic, 0).gicd_write(GICD_ICENABLER1, bit(40));
    assert!(outcome.kick.contains(0));
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert!(queued_intids(&list_registers).is_empty());
    assert_eq!(
        vgic.distributor_read(0, GICD_ISPENDR1, 4),
        Ok(u64::from(bit(40)))
    );
    Guest::new(&mut vgic, 0).gicd_write(GICD_ISENABLER1, bit(40));
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(queued_intids(&list_registers), [40]);
}

#[test]
fn clear_pending_and_active_reach_the_list_register() {
    let mut vgic = ready(2, &[0x80, 0x80]);
    let mut list_registers = empty_list_registers(4);
    vgic.inject(0, 40).unwrap();
    vgic.inject(0, 41).unwrap();
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    // vCPU 0 acknowledges SPI 41 and exits.
    list_registers[1].state = LrState::Active;
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    // vCPU 1 withdraws SPI 40 and deactivates SPI 41, both held by vCPU 0.
    let mut other = Guest::new(&mut vgic, 1);
    assert!(other.gicd_write(GICD_ICPENDR1, bit(40)).kick.contains(0));
    assert_eq!(other.gicd_read(GICD_ISPENDR1), 0);
    assert!(other.gicd_write(GICD_ICACTIVER1, bit(41)).kick.contains(0));
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert!(queued_intids(&list_registers).is_empty());
    assert_eq!(vgic.distributor_read(1, GICD_ISACTIVER1, 4), Ok(0));
    // Setting active puts the interrupt in a list register so the guest can deactivate it.
    Guest::new(&mut vgic, 1).gicd_write(GICD_ISACTIVER1, bit(42));
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(list_registers[0].virtual_intid, 42);
    assert_eq!(list_registers[0].state, LrState::Active);
}

#[test]
fn rerouting_moves_a_pending_interrupt() {
    let mut vgic = ready(2, &[0x80]);
    let mut vcpu0 = empty_list_registers(4);
    let mut vcpu1 = empty_list_registers(4);
    vgic.inject(0, 40).unwrap();
    vgic.sync_and_fill(0, &mut vcpu0).unwrap();
    let outcome = Guest::new(&mut vgic, 0).gicd_write64(GICD_IROUTER + 8 * 40, 1);
    assert!(outcome.kick.contains(0), "the holder withdraws it");
    let outcome = vgic.sync_and_fill(0, &mut vcpu0).unwrap();
    assert!(queued_intids(&vcpu0).is_empty());
    assert_eq!(outcome.kick.iter().collect::<Vec<_>>(), [1]);
    vgic.sync_and_fill(1, &mut vcpu1).unwrap();
    assert_eq!(queued_intids(&vcpu1), [40]);
}

#[test]
fn hardware_spi_goes_in_with_the_hardware_bit() {
    let mut vgic = ready(1, &[]);
    let mut list_registers = empty_list_registers(4);
    vgic.inject(0, HARDWARE_SPI).unwrap();
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    assert_eq!(list_registers[0].physical_intid, Some(HARDWARE_SPI));
    assert_eq!(list_registers[0].virtual_intid, HARDWARE_SPI);
    complete_all(&mut list_registers);
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    // Latched (acknowledged at EL2) then cleared by the guest before it saw it: the vGIC asks
    // for the physical interrupt to be deactivated, since no guest EOI will come.
    Guest::new(&mut vgic, 0).gicd_write(GICD_ICENABLER1, bit(HARDWARE_SPI));
    vgic.inject(0, HARDWARE_SPI).unwrap();
    let mut guest = Guest::new(&mut vgic, 0);
    guest.gicd_write(GICD_ICPENDR1, bit(HARDWARE_SPI));
    let spi = PhysicalInterrupt::Shared {
        intid: HARDWARE_SPI,
    };
    assert_eq!(
        guest.physical.effects,
        [Effect::Pending(spi, false), Effect::Active(spi, false)]
    );
    // Pending set by the guest goes to the physical distributor, which fires at EL2.
    guest.physical.effects.clear();
    guest.gicd_write(GICD_ISPENDR1, bit(HARDWARE_SPI));
    assert_eq!(guest.physical.effects, [Effect::Pending(spi, true)]);
    assert!(!vgic.interrupt_state(0, HARDWARE_SPI).unwrap().pending_latch);
}

#[test]
fn fewer_list_registers_give_interrupts_back() {
    let mut vgic = ready(1, &[0x10, 0x20]);
    vgic.inject(0, 40).unwrap();
    vgic.inject(0, 41).unwrap();
    let mut list_registers = empty_list_registers(2);
    vgic.sync_and_fill(0, &mut list_registers).unwrap();
    let mut one = empty_list_registers(1);
    one[0] = list_registers[0];
    let outcome = vgic.sync_and_fill(0, &mut one).unwrap();
    assert_eq!(queued_intids(&one), [40]);
    assert!(
        !outcome.underflow_interrupt_wanted,
        "useless with a single list register"
    );
    assert!(vgic.has_pending(0));
}
