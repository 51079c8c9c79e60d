//! Hostile input: bad offsets, widths and vCPUs; a random-access loop that must not panic.
#![forbid(unsafe_code)]

use super::*;

#[test]
fn bad_accesses_are_errors() {
    let mut vgic = vgic(GicVersion::V3, 2);
    let mut physical = Recorder::default();
    assert_eq!(
        vgic.distributor_read(0, 0x1_0000, 4),
        Err(VgicAccessError::OffsetOutOfRange { offset: 0x1_0000 })
    );
    assert_eq!(
        vgic.distributor_read(0, u64::MAX, 4),
        Err(VgicAccessError::OffsetOutOfRange { offset: u64::MAX })
    );
    assert_eq!(
        vgic.distributor_read(0, 0x100, 3),
        Err(VgicAccessError::UnsupportedWidth {
            offset: 0x100,
            width: 3
        })
    );
    assert_eq!(
        vgic.distributor_read(0, 0x100, 2),
        Err(VgicAccessError::UnsupportedWidth {
            offset: 0x100,
            width: 2
        })
    );
    assert_eq!(
        vgic.distributor_read(0, 0x100, 1),
        Err(VgicAccessError::UnsupportedWidth {
            offset: 0x100,
            width: 1
        })
    );
    assert_eq!(
        vgic.distributor_read(0, 0x0, 8),
        Err(VgicAccessError::UnsupportedWidth {
            offset: 0x0,
            width: 8
        })
    );
    assert_eq!(
        vgic.distributor_write(0, 0x6102, 8, 0, &mut physical),
        Err(VgicAccessError::Misaligned {
            offset: 0x6102,
            width: 8
        })
    );
    assert_eq!(
        vgic.distributor_read(2, 0x0, 4),
        Err(VgicAccessError::InvalidVcpu { vcpu: 2 })
    );
    assert_eq!(
        vgic.redistributor_read(0, 0x1_0100, 8),
        Err(VgicAccessError::UnsupportedWidth {
            offset: 0x1_0100,
            width: 8
        })
    );
    // Reserved space reads as zero at any aligned width.
    assert_eq!(vgic.distributor_read(0, 0x20, 2), Ok(0));
    assert_eq!(vgic.distributor_read(0, 0x5000, 8), Ok(0));
    assert_eq!(vgic.redistributor_read(0, 0x70, 8), Ok(0));
    assert!(physical.effects.is_empty());
    let display = VgicAccessError::Misaligned {
        offset: 0x6102,
        width: 8,
    }
    .to_string();
    assert!(display.contains("0x6102"));
}

#[test]
fn unconfigured_vgic_refuses_everything() {
    let mut vgic = Box::new(Vgic::unconfigured());
    assert_eq!(
        vgic.distributor_read(0, 0, 4),
        Err(VgicAccessError::InvalidVcpu { vcpu: 0 })
    );
    assert_eq!(vgic.inject(0, 27), Err(VgicError::InvalidVcpu { vcpu: 0 }));
    assert_eq!(
        vgic.sync_and_fill(0, &mut empty_list_registers(4)),
        Err(VgicError::InvalidVcpu { vcpu: 0 })
    );
    assert!(!vgic.has_pending(0));
}

/// xorshift64: a small deterministic generator.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, limit: u64) -> u64 {
        self.next() % limit
    }
}

/// Every valid list register holds a different vINTID, and the vGIC agrees on what it holds.
fn assert_consistent(vgic: &Vgic, vcpu: usize, list_registers: &[ListRegister]) {
    let intids = queued_intids(list_registers);
    let mut unique = intids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        intids.len(),
        "duplicate vINTID in {list_registers:?}"
    );
    let vcpu_state = &vgic.vcpus[vcpu];
    for (slot, intid) in vcpu_state.list_registers.iter().enumerate() {
        assert_eq!(
            vcpu_state.occupied_list_registers & (1 << slot) != 0,
            intid.is_some(),
            "occupied mask out of step at slot {slot}"
        );
    }
    for (slot, list_register) in list_registers.iter().enumerate() {
        if list_register.state == LrState::Invalid {
            continue;
        }
        let state = vgic
            .interrupt_state(vcpu, list_register.virtual_intid)
            .unwrap();
        let queued = state.queued.unwrap();
        assert_eq!(
            (usize::from(queued.vcpu), usize::from(queued.list_register)),
            (vcpu, slot)
        );
        assert_eq!(queued.state, list_register.state);
        assert!(state.is_owned());
        if list_register.physical_intid.is_some() {
            assert_ne!(list_register.state, LrState::PendingActive);
        }
    }
}

fn random_traffic(version: GicVersion, seed: u64) {
    const WIDTHS: [u8; 8] = [0, 1, 2, 3, 4, 5, 8, 16];
    let vcpu_count = 4;
    let mut vgic = vgic(version, vcpu_count);
    let mut physical = Recorder::default();
    let mut random = Random(seed);
    let mut list_registers: Vec<Vec<ListRegister>> =
        (0..vcpu_count).map(|_| empty_list_registers(4)).collect();
    // Give the guest something to work with: groups on, the domain's interrupts enabled.
    vgic.distributor_write(0, 0, 4, 3, &mut physical).unwrap();
    vgic.distributor_write(0, 0x104, 4, !0, &mut physical)
        .unwrap();
    let mut fills = 0;
    let mut kicks = 0;
    for _ in 0..50_000 {
        let vcpu = random.below(vcpu_count as u64 + 1) as usize;
        let width = WIDTHS[random.below(WIDTHS.len() as u64) as usize];
        let value = random.next();
        // Mostly offsets that mean something, sometimes anything at all.
        let offset = match random.below(4) {
            0 => random.next(),
            1 => random.below(0x1000),
            2 => 0x6000 + random.below(0x2000),
            _ => random.below(0x1_1000),
        } & !(random.below(2) * 3);
        match random.below(9) {
            0 => {
                let _ = vgic.distributor_read(vcpu, offset, width);
            }
            1 | 2 => {
                let _ = vgic.distributor_write(vcpu, offset, width, value, &mut physical);
            }
            3 => {
                let offset = random.below(5 * REDISTRIBUTOR_STRIDE) & !3;
                let _ = vgic.redistributor_read(vcpu, offset, width);
            }
            4 => {
                let offset = random.below(5 * REDISTRIBUTOR_STRIDE) & !3;
                let _ = vgic.redistributor_write(vcpu, offset, width, value, &mut physical);
            }
            5 => {
                let _ = vgic.send_sgi_v3(vcpu, value);
                let _ = vgic.send_sgi_v3_group0(vcpu, value);
            }
            6 => {
                let intid = match random.below(3) {
                    0 => random.below(100) as u32,
                    1 => HARDWARE_SPI,
                    _ => value as u32,
                };
                if let Ok(kick) = vgic.inject(vcpu, intid) {
                    assert!(kick.iter().all(|target| target < vcpu_count));
                    kicks += usize::from(!kick.is_empty());
                }
            }
            _ => {
                let Some(registers) = list_registers.get_mut(vcpu) else {
                    assert!(vgic
                        .sync_and_fill(vcpu, &mut empty_list_registers(4))
                        .is_err());
                    continue;
                };
                // The guest acknowledges, completes or leaves each valid list register.
                for list_register in registers.iter_mut() {
                    if list_register.state == LrState::Invalid {
                        continue;
                    }
                    list_register.state = match random.below(4) {
                        0 => LrState::Invalid,
                        1 => LrState::Active,
                        2 => list_register.state.with_pending(false),
                        _ => list_register.state,
                    };
                }
                let outcome = vgic.sync_and_fill(vcpu, registers).unwrap();
                assert!(outcome
                    .kick
                    .iter()
                    .all(|target| target < vcpu_count && target != vcpu));
                assert_consistent(&vgic, vcpu, registers);
                let _ = vgic.has_pending(vcpu);
                fills += usize::from(outcome.used_list_registers != 0);
            }
        }
    }
    physical.assert_only_owned();
    // The traffic reached the interesting states, not only the error paths.
    assert!(fills > 500 && kicks > 100, "fills {fills}, kicks {kicks}");
}

#[test]
fn random_traffic_never_panics_gicv3() {
    random_traffic(GicVersion::V3, 0x9E37_79B9_7F4A_7C15);
}

#[test]
fn random_traffic_never_panics_gicv2() {
    random_traffic(GicVersion::V2, 0xD1B5_4A32_D192_ED03);
}
