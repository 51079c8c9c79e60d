//! The Raspberry Pi 4's domains.toml against its reference tree (Debian's bcm2711-rpi-4-b.dtb
//! with the 4 GB firmware's fix-ups: memory, reserved nvram, /chosen): the checks pass, and the
//! plan hyp-arm would carry out at boot is the expected one.
#![forbid(unsafe_code)]

use std::path::Path;

use hyp_arm::domain::ownership::DeviceOwners;
use hyp_arm::domain::plan::{
    ConsolePlan, DeviceMatch, DomainConsole, DomainPlan, KernelSource, MemoryPlan, Role,
    Scheduling, SystemOffAction, SystemPlan,
};
use hyp_arm::mm::carve::carve_highest;
use hyp_arm::platform::secondary::{plan_secondaries, StartMethod};
use hyp_arm::platform::{Capabilities, MemoryRange, Platform};

use crate::schema;

const BOARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../rpi4");

fn loaded() -> crate::LoadedConfig {
    let path = Path::new(BOARD).join("domains.toml");
    crate::load("boards/rpi4/domains.toml", &path).unwrap_or_else(|errors| panic!("{errors}"))
}

fn reference_tree() -> Vec<u8> {
    std::fs::read(Path::new(BOARD).join("reference/bcm2711-rpi-4-b-4gb.dtb"))
        .expect("the reference tree is in the repository")
}

fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

/// The `SystemPlan` the build script generates, rebuilt from the parsed file (images aside).
fn system_plan(config: &schema::Config) -> &'static SystemPlan {
    let text = |value: &str| -> &'static str { leak(value.to_string()).as_str() };
    let domains: Vec<DomainPlan> = config
        .domains
        .iter()
        .map(|domain| DomainPlan {
            name: text(&domain.name),
            role: match domain.role {
                schema::Role::Secure => Role::Secure,
                schema::Role::Rich => Role::Rich,
                schema::Role::Driver => Role::Driver,
            },
            vcpu_pcpus: leak(domain.vcpus.clone()).as_slice(),
            optional_vcpus: domain.optional_vcpus,
            priority: domain.priority,
            memory: MemoryPlan {
                size: domain.memory.size.0,
                ipa: domain.memory.ipa,
                physical: domain.memory.physical,
            },
            kernel: KernelSource::BootModules,
            bootargs: None,
            devices: leak(
                domain
                    .devices
                    .iter()
                    .map(|claim| match (&claim.path, &claim.compatible) {
                        (Some(path), _) => DeviceMatch::Path(text(path)),
                        (None, Some(compatible)) => DeviceMatch::Compatible(text(compatible)),
                        (None, None) => panic!("a claim names a path or a compatible"),
                    })
                    .collect::<Vec<_>>(),
            )
            .as_slice(),
            owns_unclaimed_devices: domain.owns_unclaimed_devices,
            console: match domain.console {
                schema::DomainConsole::EmulatedUart => DomainConsole::EmulatedUart,
                schema::DomainConsole::Hypercall => DomainConsole::Hypercall,
            },
            starts_after: domain.starts_after.as_deref().map(text),
            on_system_off: match domain.on_system_off {
                schema::SystemOffAction::PowerOffMachine => SystemOffAction::PowerOffMachine,
                schema::SystemOffAction::StopDomain => SystemOffAction::StopDomain,
            },
        })
        .collect();
    leak(SystemPlan {
        source: "boards/rpi4/domains.toml",
        scheduling: Scheduling::Shared,
        domains: leak(domains).as_slice(),
        console: ConsolePlan {
            initial_focus: 0,
            escape: config.console.escape,
        },
        channels: &[],
        virtual_devices: &[],
    })
}

#[test]
fn the_reference_tree_is_the_shipped_one_with_the_firmware_fix_ups() {
    let blob = reference_tree();
    let platform = Platform::parse(&blob).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        platform.memory.as_slice(),
        [
            MemoryRange::new(0, 0x3b40_0000),
            MemoryRange::new(0x4000_0000, 0xbc00_0000)
        ]
    );
    // /memreserve/ (the spin table), then the nvram block the firmware filled in.
    assert_eq!(
        platform.reserved.as_slice(),
        [
            MemoryRange::new(0, 0x1000),
            MemoryRange::new(0x3b3f_e000, 0x2000)
        ]
    );
    assert!(platform
        .bootargs
        .is_some_and(|bootargs| bootargs.starts_with("coherent_pool=1M 8250.nr_uarts=1")));
    assert_eq!(platform.psci, None);
    let capabilities = Capabilities {
        console_drivers: &["brcm,bcm2835-aux-uart", "arm,pl011"],
    };
    assert_eq!(
        platform.limitations(&capabilities).map(|found| found.len()),
        Ok(0)
    );
}

#[test]
fn the_pi_plan_gives_the_rng_to_secure_and_everything_else_to_android() {
    let loaded = loaded();
    let plan = system_plan(&loaded.config);
    let blob = reference_tree();
    let platform = Platform::parse(&blob).unwrap_or_else(|error| panic!("{error}"));
    let owners = DeviceOwners::resolve(plan, &platform, platform.cpus.len());
    assert_eq!(plan.domain_index("secure"), Some(0));
    assert_eq!(plan.domain_index("android"), Some(1));
    assert!(owners.refusal(0).is_none() && owners.refusal(1).is_none());
    let devices: Vec<_> = platform.devices().filter_map(Result::ok).collect();
    let owned_by = |domain| -> Vec<&str> {
        let owned = devices
            .iter()
            .filter(|device| owners.owner_of(device) == Some(domain));
        owned.map(|device| device.path.as_str()).collect()
    };
    assert_eq!(owned_by(0), ["/soc/rng@7e104000"]);
    let android = owned_by(1);
    let assignable = devices
        .iter()
        .filter(|device| device.is_assignable())
        .count();
    assert_eq!(
        android.len(),
        assignable - 1,
        "every assignable device but the RNG"
    );
    for path in [
        "/soc/serial@7e215040",   // the mini UART, hyp-arm's console too
        "/soc/aux@7e215000",      // in the mini UART's page
        "/soc/serial@7e201000",   // the PL011 (Bluetooth)
        "/emmc2bus/mmc@7e340000", // the SD card
        "/scb/ethernet@7d580000", // GENET
        "/soc/usb@7e980000",      // the DWC2 USB-C port
    ] {
        assert!(android.contains(&path), "android owns {path}: {android:?}");
    }
}

#[test]
fn the_pi_plan_places_memory_and_cpus() {
    let loaded = loaded();
    let plan = system_plan(&loaded.config);
    let blob = reference_tree();
    let platform = Platform::parse(&blob).unwrap_or_else(|error| panic!("{error}"));
    let [secure, android] = plan.domains else {
        panic!("two domains");
    };
    // CPUs: the secure domain shares CPU 0 with android's first vCPU and preempts it.
    assert_eq!((secure.vcpu_pcpus, secure.priority), (&[0][..], 10));
    assert_eq!(android.vcpu_pcpus, [0, 1, 2, 3]);
    assert_eq!(android.vcpu_count_on(platform.cpus.len()), 4);
    assert_eq!(android.starts_after, Some("secure"));
    // android: 768 MiB pinned in the first GiB (legacy DMA), identity mapped, clear of the
    // spin table, a 64 MiB kernel8.img at 0x200000 and the firmware's nvram.
    let android_ram = MemoryRange::new(0x0800_0000, 768 << 20);
    assert_eq!(android.memory.physical, Some(android_ram.base));
    assert_eq!(android.memory.size, android_ram.size);
    assert_eq!(android.memory.ipa, None);
    assert!(platform.memory[0].contains_range(&android_ram));
    assert!(platform
        .reserved
        .iter()
        .all(|reserved| !reserved.overlaps(&android_ram)));
    // The secure domain's 16 MiB are carved from the top of RAM, seen at IPA 0x4000_0000.
    let kernel8 = MemoryRange::new(0x20_0000, 64 << 20);
    let mut in_use: Vec<_> = platform.reserved.to_vec();
    in_use.extend([kernel8, android_ram]);
    let secure_ram = carve_highest(&platform.memory, &in_use, secure.memory.size, 2 << 20);
    assert_eq!(secure_ram, Ok(MemoryRange::new(0xfb00_0000, 16 << 20)));
    assert_eq!(secure.memory.ipa, Some(0x4000_0000));
}

#[test]
fn the_pi_boots_its_secondaries_by_spin_table() {
    let blob = reference_tree();
    let platform = Platform::parse(&blob).unwrap_or_else(|error| panic!("{error}"));
    let logical: Vec<u64> = platform.cpus.iter().map(|cpu| cpu.mpidr).collect();
    let starts: Vec<_> = plan_secondaries(
        &platform.cpus,
        &logical,
        &platform.memory,
        &platform.reserved,
        platform.psci,
    )
    .map(|start| start.map(|start| (start.index, start.mpidr, start.method)))
    .collect();
    let spin = |release_address| StartMethod::SpinTable { release_address };
    assert_eq!(
        starts,
        [
            Ok((1, 1, spin(0xe0))),
            Ok((2, 2, spin(0xe8))),
            Ok((3, 3, spin(0xf0)))
        ]
    );
}
