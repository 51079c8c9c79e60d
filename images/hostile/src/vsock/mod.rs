//! The `vsock-faults` mode: a fault-injecting driver for the virtio-vsock device hyp-arm
//! emulates (docs/CHANNELS.md, "Fault-injection guest"). It sends what Linux never would:
//!
//! 1. finds the `virtio,mmio` node whose device is a socket device (ID 19) and sets it up
//!    (VIRTIO_F_VERSION_1, three queues of 16 in its own memory, DRIVER_OK);
//! 2. malformed virtqueues (`queue_faults.rs`): each must leave the device in
//!    DEVICE_NEEDS_RESET: `VSOCK-FAULT <case> needs-reset=yes|no`;
//! 3. malformed packets (`packet_faults.rs`) on a healthy device: each must be dropped, answered
//!    with an RST where one is due, and leave the device running:
//!    `VSOCK-FAULT <case> reply=rst|none expected=rst|none healthy=yes|no`;
//! 4. a well-formed connection to the keystore and a PUBLIC_KEY request (`keystore.rs`):
//!    `VSOCK-KEYSTORE status=0 public-key=<hex>`;
//! 5. `VSOCK-FAULTS-SUMMARY cases=N refused=M answered=yes|no`, or `VSOCK-FAULT-FAIL <why>` as
//!    soon as something unexpected happens (a device that is not there, a wait that ran out).
//!
//! The guest polls with bounded waits (`clock.rs`); it takes no interrupts.

mod clock;
mod device;
mod dma;
mod keystore;
mod link;
mod packet;
mod packet_faults;
mod queue;
mod queue_faults;

use crate::console::Line;
use crate::machine::Machine;

/// Something unexpected, as a sentence for `VSOCK-FAULT-FAIL`.
pub struct Failure(pub &'static str);

/// Cases run and cases the hypervisor refused as it must.
#[derive(Default)]
pub struct Tally {
    cases: u64,
    refused: u64,
}

/// Runs the whole sequence and prints the summary.
pub fn run(machine: &Machine) -> Result<(), Failure> {
    let device = device::Device::find(machine)?;
    Line::new()
        .text("VSOCK-FAULTS-START device=")
        .hex(device.base)
        .text(" intid=")
        .number(u64::from(device.intid))
        .print();
    let mut tally = Tally::default();
    queue_faults::run(&device, machine, &mut tally)?;
    packet_faults::run(&device, &mut tally)?;
    let answered = keystore::ask_public_key(&device)?;
    Line::new()
        .text("VSOCK-FAULTS-SUMMARY cases=")
        .number(tally.cases)
        .text(" refused=")
        .number(tally.refused)
        .text(" answered=")
        .text(if answered { "yes" } else { "no" })
        .print();
    Ok(())
}

/// Counts a case and prints `VSOCK-FAULT <name>` and what `details` adds.
fn report_case(tally: &mut Tally, name: &str, refused: bool, details: impl FnOnce(Line) -> Line) {
    tally.cases += 1;
    if refused {
        tally.refused += 1;
    }
    details(Line::new().text("VSOCK-FAULT ").text(name)).print();
}
