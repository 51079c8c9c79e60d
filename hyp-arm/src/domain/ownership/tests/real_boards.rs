//! `DeviceOwners::resolve` on real boards' trees (the Raspberry Pi 4's and the DragonBoard
//! 845c's, their memory filled in as the firmware would).
#![forbid(unsafe_code)]

use super::*;
use crate::platform::real_boards::{db845c_with_memory, rpi4_with_memory};

/// A secure domain with the Pi's random number generator, a rich one with everything else and
/// the console (the mini UART).
static PI_SECURE_AND_RICH: SystemPlan = plan(&[
    domain(
        "secure",
        &[0],
        &[DeviceMatch::Path("/soc/rng@7e104000")],
        false,
        DomainConsole::Hypercall,
    ),
    domain(
        "rich",
        &[0, 1, 2, 3],
        &[],
        true,
        DomainConsole::EmulatedUart,
    ),
]);

#[test]
fn on_the_pi_a_rich_domain_owns_every_unclaimed_device() {
    let dtb = rpi4_with_memory();
    let platform = platform(&dtb);
    let owners = DeviceOwners::resolve(&PI_SECURE_AND_RICH, &platform, platform.cpus.len());
    assert_eq!(owners.refusal(0), None);
    assert_eq!(owners.refusal(1), None);
    let rng = device(&platform, "/soc/rng@7e104000");
    assert_eq!(owners.owner_of(&rng), Some(0));
    let console = device(&platform, "/soc/serial@7e215040");
    assert_eq!(owners.owner_of(&console), Some(1));
    let devices: Vec<_> = platform.devices().filter_map(Result::ok).collect();
    let assignable = devices
        .iter()
        .filter(|device| device.is_assignable())
        .count();
    let rich = devices
        .iter()
        .filter(|device| owners.owner_of(device) == Some(1))
        .count();
    assert!(assignable > 20, "the Pi's tree has many enabled devices");
    assert_eq!(rich, assignable - 1, "all but the RNG");
    // Disabled nodes (the second PL011s, the PCIe bridge's children...) belong to nobody.
    let disabled = devices
        .iter()
        .find(|device| !device.enabled)
        .expect("some are disabled");
    assert_eq!(owners.owner_of(disabled), None);
}

#[test]
fn on_the_pi_the_mini_uart_cannot_leave_its_page() {
    // The mini UART sits in the page of the AUX block (its clock gate), which the rich domain
    // keeps: handing the UART to another domain would hand it the AUX registers too.
    static PLAN: SystemPlan = plan(&[
        domain(
            "secure",
            &[0],
            &[DeviceMatch::Path("/soc/serial@7e215040")],
            false,
            DomainConsole::Hypercall,
        ),
        domain("rich", &[1, 2, 3], &[], true, DomainConsole::Hypercall),
    ]);
    let dtb = rpi4_with_memory();
    let platform = platform(&dtb);
    let owners = DeviceOwners::resolve(&PLAN, &platform, 4);
    assert_eq!(owners.refusal(0), None);
    assert_eq!(
        refusal_text(&owners, 1),
        "domain `rich` is not started: its device /soc/aux@7e215000 shares the page at \
         0xfe215000 with /soc/serial@7e215040 of domain `secure`; stage 2 maps whole pages, so \
         devices in one page go to one domain"
    );
}

#[test]
fn on_the_db845c_a_device_with_too_many_interrupts_cannot_be_claimed() {
    static PLAN: SystemPlan = plan(&[
        domain(
            "secure",
            &[0],
            &[DeviceMatch::Path("/soc@0/iommu@15000000")],
            false,
            DomainConsole::Hypercall,
        ),
        domain(
            "rich",
            &[1, 2, 3, 4, 5, 6, 7],
            &[],
            true,
            DomainConsole::Hypercall,
        ),
    ]);
    let dtb = db845c_with_memory();
    let platform = platform(&dtb);
    let owners = DeviceOwners::resolve(&PLAN, &platform, platform.cpus.len());
    assert_eq!(
        refusal_text(&owners, 0),
        "domain `secure` is not started: the device its claim devices[0] matches is malformed: \
         /soc@0/iommu@15000000: more than 64 SPIs; hyp-arm records at most 64"
    );
    assert_eq!(owners.refusal(1), None);
}
