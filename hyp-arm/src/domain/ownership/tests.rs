//! `DeviceOwners::resolve` on QEMU's trees and on the hand-written ownership fixture.
#![forbid(unsafe_code)]

use super::*;
use crate::domain::plan::{
    ConsolePlan, DomainPlan, KernelSource, MemoryPlan, Role, Scheduling, SystemOffAction,
};
use crate::platform::tests::{VIRT_GICV2_SMP1, VIRT_GICV3_SMP4};

/// testdata/dtb/ownership.dts: two CPUs, uart@9000000 (console, SPI 33), rtc@9010000 (SPI 34),
/// two `test,sensor` sharing SPI 37, a disabled device, a malformed one, and `vendor,dual`.
const OWNERSHIP: &[u8] = include_bytes!("../../../testdata/dtb/ownership.dtb");

/// A domain with everything but what the tests vary.
const fn domain(
    name: &'static str,
    vcpu_pcpus: &'static [usize],
    devices: &'static [DeviceMatch],
    owns_unclaimed_devices: bool,
    console: DomainConsole,
) -> DomainPlan {
    DomainPlan {
        name,
        role: Role::Rich,
        vcpu_pcpus,
        optional_vcpus: false,
        priority: 0,
        memory: MemoryPlan {
            size: 0x20_0000,
            ipa: None,
            physical: None,
        },
        kernel: KernelSource::BootModules,
        bootargs: None,
        devices,
        owns_unclaimed_devices,
        console,
        starts_after: None,
        on_system_off: SystemOffAction::StopDomain,
    }
}

const fn plan(domains: &'static [DomainPlan]) -> SystemPlan {
    SystemPlan {
        source: "test",
        scheduling: Scheduling::Shared,
        domains,
        console: ConsolePlan {
            initial_focus: 0,
            escape: 0x1d,
        },
        channels: &[],
        virtual_devices: &[],
    }
}

/// The qemu-virt default: secure owns the RTC, android everything else and the console.
static SECURE_AND_ANDROID: SystemPlan = plan(&[
    domain(
        "secure",
        &[0],
        &[DeviceMatch::Path("/pl031@9010000")],
        false,
        DomainConsole::Hypercall,
    ),
    domain(
        "android",
        &[0, 1, 2, 3],
        &[],
        true,
        DomainConsole::EmulatedUart,
    ),
]);

fn platform(dtb: &[u8]) -> Platform<'_> {
    Platform::parse(dtb).unwrap_or_else(|error| panic!("fixture must parse: {error}"))
}

fn device<'dtb>(platform: &Platform<'dtb>, path: &str) -> Device<'dtb> {
    match platform.device(path) {
        Some(Ok(device)) => device,
        _ => panic!("{path} must be a well-formed device"),
    }
}

fn refusal_text(owners: &DeviceOwners<'_>, domain: usize) -> String {
    match owners.refusal(domain) {
        Some(refusal) => refusal.to_string(),
        None => panic!("domain {domain} must be refused"),
    }
}

#[test]
fn qemu_virt_default_plan_starts_both_domains() {
    let platform = platform(VIRT_GICV3_SMP4);
    let owners = DeviceOwners::resolve(&SECURE_AND_ANDROID, &platform, 4);
    assert_eq!(owners.refusal(0), None);
    assert_eq!(owners.refusal(1), None);
    assert_eq!(owners.refusal(2), None, "no such domain: no refusal");
    let rtc = device(&platform, "/pl031@9010000");
    assert_eq!(owners.owner_of(&rtc), Some(0));
    let uart = device(&platform, "/pl011@9000000");
    assert_eq!(owners.owner_of(&uart), Some(1));
    let pcie = device(&platform, "/pcie@10000000");
    assert_eq!(
        owners.owner_of(&pcie),
        None,
        "PCI host bridges belong to nobody"
    );
    let owned_by_android = platform
        .devices()
        .filter_map(Result::ok)
        .filter(|device| owners.owner_of(device) == Some(1))
        .count();
    let assignable = platform
        .devices()
        .filter_map(Result::ok)
        .filter(Device::is_assignable)
        .count();
    assert_eq!(owned_by_android, assignable - 1, "all but the RTC");
}

#[test]
fn a_vcpu_on_a_missing_cpu_refuses_its_domain() {
    let platform = platform(VIRT_GICV2_SMP1);
    let owners = DeviceOwners::resolve(&SECURE_AND_ANDROID, &platform, 1);
    assert_eq!(owners.refusal(0), None);
    assert_eq!(
        refusal_text(&owners, 1),
        "domain `android` is not started: its vCPU 1 is placed on physical CPU 1, but this \
         machine has 1 CPU(s)"
    );
}

#[test]
fn a_claim_that_matches_nothing_refuses_its_domain() {
    static PLAN: SystemPlan = plan(&[domain(
        "secure",
        &[0],
        &[
            DeviceMatch::Path("/pl031@9010000"),
            DeviceMatch::Compatible("arm,sp805"),
        ],
        false,
        DomainConsole::Hypercall,
    )]);
    let platform = platform(VIRT_GICV3_SMP4);
    let owners = DeviceOwners::resolve(&PLAN, &platform, 4);
    assert_eq!(
        refusal_text(&owners, 0),
        "domain `secure` is not started: its claim devices[1] (compatible = \"arm,sp805\") \
         matches no enabled device in this machine's device tree"
    );
}

#[test]
fn a_disabled_device_cannot_be_claimed() {
    static PLAN: SystemPlan = plan(&[domain(
        "driver",
        &[0],
        &[DeviceMatch::Path("/disabled@9040000")],
        false,
        DomainConsole::Hypercall,
    )]);
    let platform = platform(OWNERSHIP);
    let owners = DeviceOwners::resolve(&PLAN, &platform, 2);
    assert!(refusal_text(&owners, 0).contains("devices[0] (path = \"/disabled@9040000\")"));
    assert_eq!(
        owners.owner_of(&device(&platform, "/disabled@9040000")),
        None
    );
}

#[test]
fn a_malformed_claimed_device_refuses_its_domain() {
    static PLAN: SystemPlan = plan(&[domain(
        "driver",
        &[0],
        &[DeviceMatch::Path("/broken@9050000")],
        false,
        DomainConsole::Hypercall,
    )]);
    let owners = DeviceOwners::resolve(&PLAN, &platform(OWNERSHIP), 2);
    let text = refusal_text(&owners, 0);
    assert!(
        text.starts_with(
            "domain `driver` is not started: the device its claim devices[0] matches is \
             malformed: /broken@9050000: "
        ),
        "{text}"
    );
}

#[test]
fn a_device_claimed_twice_stays_with_the_earlier_domain() {
    // `vendor,dual` by path in the later domain, by its second compatible in the earlier one.
    static PLAN: SystemPlan = plan(&[
        domain(
            "first",
            &[0],
            &[DeviceMatch::Compatible("test,generic")],
            false,
            DomainConsole::Hypercall,
        ),
        domain(
            "second",
            &[1],
            &[DeviceMatch::Path("/dual@9060000")],
            true,
            DomainConsole::EmulatedUart,
        ),
    ]);
    let platform = platform(OWNERSHIP);
    let owners = DeviceOwners::resolve(&PLAN, &platform, 2);
    assert_eq!(owners.refusal(0), None);
    assert_eq!(
        refusal_text(&owners, 1),
        "domain `second` is not started: it claims /dual@9060000, which domain `first` claims \
         first; devices are never shared"
    );
    assert_eq!(
        owners.owner_of(&device(&platform, "/dual@9060000")),
        Some(0)
    );
}

#[test]
fn an_spi_shared_between_owners_refuses_the_later_owner() {
    static PLAN: SystemPlan = plan(&[
        domain("android", &[0], &[], true, DomainConsole::EmulatedUart),
        domain(
            "driver",
            &[1],
            &[DeviceMatch::Path("/sensor@9030000")],
            false,
            DomainConsole::Hypercall,
        ),
    ]);
    let owners = DeviceOwners::resolve(&PLAN, &platform(OWNERSHIP), 2);
    assert_eq!(owners.refusal(0), None);
    assert_eq!(
        refusal_text(&owners, 1),
        "domain `driver` is not started: its device /sensor@9030000 raises SPI 37, which a device \
         of domain `android` raises too; interrupts are never shared"
    );
}

#[test]
fn an_spi_shared_within_one_domain_is_fine() {
    static PLAN: SystemPlan = plan(&[
        domain("android", &[0], &[], true, DomainConsole::EmulatedUart),
        domain(
            "driver",
            &[1],
            &[DeviceMatch::Compatible("test,sensor")],
            false,
            DomainConsole::Hypercall,
        ),
    ]);
    let platform = platform(OWNERSHIP);
    let owners = DeviceOwners::resolve(&PLAN, &platform, 2);
    assert_eq!(owners.refusal(0), None);
    assert_eq!(owners.refusal(1), None);
    assert_eq!(
        owners.owner_of(&device(&platform, "/sensor@9020000")),
        Some(1)
    );
    assert_eq!(owners.owner_of(&device(&platform, "/rtc@9010000")), Some(0));
}

#[test]
fn an_emulated_uart_console_needs_the_console_uart() {
    static PLAN: SystemPlan = plan(&[
        domain(
            "secure",
            &[0],
            &[DeviceMatch::Compatible("arm,pl011")],
            false,
            DomainConsole::Hypercall,
        ),
        domain("android", &[1], &[], true, DomainConsole::EmulatedUart),
        domain("lonely", &[1], &[], false, DomainConsole::EmulatedUart),
    ]);
    let owners = DeviceOwners::resolve(&PLAN, &platform(OWNERSHIP), 2);
    assert_eq!(owners.refusal(0), None);
    assert_eq!(
        refusal_text(&owners, 1),
        "domain `android` is not started: it has console = \"emulated-uart\", but the console \
         UART /uart@9000000 is owned by domain `secure`"
    );
    assert_eq!(
        refusal_text(&owners, 2),
        "domain `lonely` is not started: it has console = \"emulated-uart\", but the console \
         UART /uart@9000000 is owned by domain `secure`"
    );
}

#[test]
fn the_first_refusal_of_a_domain_is_kept() {
    // Both a missing CPU and a missing device: the CPU check runs first.
    static PLAN: SystemPlan = plan(&[domain(
        "secure",
        &[5],
        &[DeviceMatch::Path("/nothing")],
        false,
        DomainConsole::Hypercall,
    )]);
    let owners = DeviceOwners::resolve(&PLAN, &platform(OWNERSHIP), 2);
    assert!(refusal_text(&owners, 0).contains("physical CPU 5"));
}

#[test]
fn optional_vcpus_shrink_to_the_cpus_present_instead_of_refusing() {
    let mut android = domain(
        "android",
        &[0, 1, 2, 3],
        &[],
        true,
        DomainConsole::Hypercall,
    );
    android.optional_vcpus = true;
    assert_eq!(android.vcpu_count_on(1), 1);
    assert_eq!(android.vcpu_count_on(3), 3);
    assert_eq!(android.vcpu_count_on(8), 4);
    android.optional_vcpus = false;
    assert_eq!(android.vcpu_count_on(1), 4);
}

mod real_boards;
