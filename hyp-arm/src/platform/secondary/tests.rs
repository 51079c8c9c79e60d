//! `plan_secondaries` on the Pi 4's tree and on made-up CPU lists, one test per refusal.
#![forbid(unsafe_code)]

use super::*;
use crate::platform::psci::{PsciMethod, PsciVersion};
use crate::platform::real_boards::{hikey960_with_memory, parse, rpi4_with_memory};

fn spin(mpidr: u64, release_addr: u64) -> Cpu {
    Cpu {
        mpidr,
        enable_method: EnableMethod::SpinTable { release_addr },
    }
}

const RAM: [MemoryRange; 1] = [MemoryRange::new(0, 0x4000_0000)];
const SPIN_TABLE_PAGE: [MemoryRange; 1] = [MemoryRange::new(0, 0x1000)];

fn plan(
    cpus: &[Cpu],
    affinities: &[u64],
    psci: Option<Psci>,
) -> Vec<Result<SecondaryStart, StartError>> {
    plan_secondaries(cpus, affinities, &RAM, &SPIN_TABLE_PAGE, psci).collect()
}

#[test]
fn the_pi_4_releases_its_three_secondaries_from_the_firmware_spin_table() {
    let dtb = rpi4_with_memory();
    let platform = parse(&dtb);
    let affinities: Vec<u64> = platform.cpus.iter().map(|cpu| cpu.mpidr).collect();
    let found: Vec<_> = plan_secondaries(
        &platform.cpus,
        &affinities,
        &platform.memory,
        &platform.reserved,
        platform.psci,
    )
    .collect();
    let release = |index: usize, release_address| {
        Ok(SecondaryStart {
            index,
            mpidr: index as u64,
            method: StartMethod::SpinTable { release_address },
        })
    };
    assert_eq!(
        found,
        [release(1, 0xe0), release(2, 0xe8), release(3, 0xf0)]
    );
}

#[test]
fn a_boot_cpu_other_than_the_first_node_releases_the_first_node() {
    let cpus = [spin(0, 0xd8), spin(1, 0xe0)];
    // Booted on MPIDR 1: logical 1 is MPIDR 0, released through 0xd8.
    assert_eq!(
        plan(&cpus, &[1, 0], None),
        [Ok(SecondaryStart {
            index: 1,
            mpidr: 0,
            method: StartMethod::SpinTable {
                release_address: 0xd8
            }
        })]
    );
}

#[test]
fn psci_machines_still_use_cpu_on() {
    let dtb = hikey960_with_memory();
    let platform = parse(&dtb);
    let affinities: Vec<u64> = platform.cpus.iter().map(|cpu| cpu.mpidr).collect();
    let methods: Vec<_> = plan_secondaries(
        &platform.cpus,
        &affinities,
        &platform.memory,
        &platform.reserved,
        platform.psci,
    )
    .map(|start| start.map(|start| start.method))
    .collect();
    assert_eq!(methods, vec![Ok(StartMethod::Psci); 7]);
}

#[test]
fn a_release_address_must_be_aligned_in_ram_and_reserved() {
    let cpus = [
        spin(0, 0xd8),
        spin(1, 0xe4),
        spin(2, 0x8000_0000),
        spin(3, 0x2000),
    ];
    let found: Vec<_> = plan(&cpus, &[0, 1, 2, 3], None)
        .into_iter()
        .map(|start| start.map_err(|error| error.to_string()))
        .collect();
    assert_eq!(
        found,
        [
            Err("CPU 0x1: `cpu-release-addr` 0xe4 is not 8-byte aligned".to_string()),
            Err(
                "CPU 0x2: `cpu-release-addr` 0x80000000 is not in the RAM the memory nodes \
                 describe"
                    .to_string()
            ),
            Err(
                "CPU 0x3: `cpu-release-addr` 0x2000 is RAM that no /memreserve/ or \
                 /reserved-memory entry covers, so hyp-arm could hand it to a guest; the \
                 firmware must reserve its spin table"
                    .to_string()
            ),
        ]
    );
    // The word must fit wholly: the last 8 bytes of the reserved page are fine, 4 bytes less not.
    let edge = [spin(0, 0), spin(1, 0xff8), spin(2, 0xffc)];
    let found = plan(&edge, &[0, 1, 2], None);
    assert!(found[0].is_ok());
    assert!(matches!(found[1], Err(StartError::ReleaseUnaligned { .. })));
}

#[test]
fn psci_cpus_need_a_psci_they_can_call() {
    let cpus = [
        Cpu {
            mpidr: 0,
            enable_method: EnableMethod::Psci,
        },
        Cpu {
            mpidr: 1,
            enable_method: EnableMethod::Psci,
        },
        Cpu {
            mpidr: 2,
            enable_method: EnableMethod::None,
        },
    ];
    let text = |psci| -> Vec<String> {
        plan(&cpus, &[0, 1, 2, 7], psci)
            .into_iter()
            .filter_map(Result::err)
            .map(|error| error.to_string())
            .collect()
    };
    assert_eq!(
        text(None),
        [
            "CPU 0x1: `enable-method` is \"psci\", but the tree has no enabled PSCI node",
            "CPU 0x2: its node has no `enable-method`, so hyp-arm cannot start it",
            "CPU 0x7: not in the device tree's /cpus",
        ]
    );
    let hvc = Psci {
        method: PsciMethod::Hvc,
        version: PsciVersion::V1_0,
    };
    assert!(text(Some(hvc))[0].ends_with("HVC, which from EL2 traps to hyp-arm itself"));
    let old = Psci {
        method: PsciMethod::Smc,
        version: PsciVersion::V0_1,
    };
    assert!(text(Some(old))[0].contains("PSCI 0.1"));
    let good = Psci {
        method: PsciMethod::Smc,
        version: PsciVersion::V0_2,
    };
    assert_eq!(text(Some(good)).len(), 2);
}
