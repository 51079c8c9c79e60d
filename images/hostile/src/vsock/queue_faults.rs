//! Malformed virtqueues: each case resets the device, sets it up again (perhaps already broken),
//! breaks the transmit queue, notifies it and reads Status. hyp-arm must answer each with
//! DEVICE_NEEDS_RESET (and log it against this domain); nothing else is acceptable.

use super::device::{status, Device, Tweak, TRANSMIT_QUEUE};
use super::dma;
use super::packet::HEADER_SIZE;
use super::queue::{DriverQueue, INDIRECT, NEXT, QUEUE_SIZE, WRITE};
use super::{report_case, Failure, Tally};
use crate::machine::Machine;

/// How a case breaks the queue once the device is set up.
#[derive(Clone, Copy)]
enum Breakage {
    /// The setup itself was broken (a [`Tweak`]): nothing to add.
    AtSetup,
    /// A chain of one descriptor whose buffer is at this address and this long.
    Buffer(u64, u32),
    /// Descriptor 0 chains to 1, 1 back to 0.
    Loop,
    /// Descriptor 0 chains to a descriptor beyond the table.
    NextOutOfRange,
    /// The available ring names a descriptor beyond the table.
    HeadOutOfRange,
    /// avail.idx a whole queue and more past what was taken.
    AvailableIndexJump,
    /// An indirect descriptor (VIRTIO_F_INDIRECT_DESC was not offered).
    Indirect,
    /// A device-writable descriptor before a device-readable one.
    WritableFirst,
}

/// Runs every case, counting them in `tally`.
pub fn run(device: &Device, machine: &Machine, tally: &mut Tally) -> Result<(), Failure> {
    let ram_end = machine.ram.end;
    let transmit = dma::address(dma::transmit_buffer());
    let cases: [(&str, Tweak, Breakage); 13] = [
        ("queue-size", Tweak::QueueSize(3), Breakage::AtSetup),
        (
            "misaligned-descriptor-table",
            Tweak::MisalignedDescriptorTable,
            Breakage::AtSetup,
        ),
        (
            "available-ring-outside-ram",
            Tweak::DriverArea(ram_end),
            Breakage::AtSetup,
        ),
        (
            "descriptor-outside-ram",
            Tweak::None,
            Breakage::Buffer(ram_end.saturating_add(0x1000), 48),
        ),
        (
            "descriptor-below-ram",
            Tweak::None,
            Breakage::Buffer(0x1000, 64),
        ),
        (
            "length-past-ram",
            Tweak::None,
            Breakage::Buffer(ram_end.saturating_sub(0x100), 0x1000),
        ),
        (
            "address-wraps",
            Tweak::None,
            Breakage::Buffer(u64::MAX - 0xff, 0x200),
        ),
        ("chain-loop", Tweak::None, Breakage::Loop),
        ("next-out-of-range", Tweak::None, Breakage::NextOutOfRange),
        ("head-out-of-range", Tweak::None, Breakage::HeadOutOfRange),
        (
            "available-index-jump",
            Tweak::None,
            Breakage::AvailableIndexJump,
        ),
        ("indirect-descriptor", Tweak::None, Breakage::Indirect),
        (
            "writable-before-readable",
            Tweak::None,
            Breakage::WritableFirst,
        ),
    ];
    for (name, tweak, breakage) in cases {
        let refused = run_case(device, tweak, breakage, transmit)?;
        report_case(tally, name, refused, |line| {
            line.text(" needs-reset=")
                .text(if refused { "yes" } else { "no" })
        });
    }
    Ok(())
}

/// Sets the device up with `tweak`, adds `breakage`, notifies; returns whether the device then
/// says DEVICE_NEEDS_RESET.
fn run_case(
    device: &Device,
    tweak: Tweak,
    breakage: Breakage,
    transmit: u64,
) -> Result<bool, Failure> {
    let queues = device.initialize(tweak)?;
    if let Some((mut queues, _)) = queues {
        let queue = &mut queues[usize::from(TRANSMIT_QUEUE)];
        break_queue(queue, breakage, transmit);
        device.notify(TRANSMIT_QUEUE);
    }
    let refused = device.status() & status::DEVICE_NEEDS_RESET != 0;
    device.acknowledge_interrupts();
    Ok(refused)
}

fn break_queue(queue: &mut DriverQueue, breakage: Breakage, transmit: u64) {
    let header = HEADER_SIZE as u32;
    match breakage {
        Breakage::AtSetup => {}
        Breakage::Buffer(address, length) => {
            queue.set_descriptor(0, address, length, 0, 0);
            queue.make_available(0);
        }
        Breakage::Loop => {
            queue.set_descriptor(0, transmit, header, NEXT, 1);
            queue.set_descriptor(1, transmit + 64, 16, NEXT, 0);
            queue.make_available(0);
        }
        Breakage::NextOutOfRange => {
            queue.set_descriptor(0, transmit, header, NEXT, QUEUE_SIZE + 3);
            queue.make_available(0);
        }
        Breakage::HeadOutOfRange => {
            queue.set_descriptor(0, transmit, header, 0, 0);
            queue.make_available(QUEUE_SIZE);
        }
        Breakage::AvailableIndexJump => {
            queue.set_descriptor(0, transmit, header, 0, 0);
            queue.publish_index(QUEUE_SIZE + 1);
        }
        Breakage::Indirect => {
            queue.set_descriptor(0, transmit, 16, INDIRECT, 0);
            queue.make_available(0);
        }
        Breakage::WritableFirst => {
            let receive = dma::address(dma::receive_buffer(0));
            queue.set_descriptor(0, receive, 64, WRITE | NEXT, 1);
            queue.set_descriptor(1, transmit, header, 0, 0);
            queue.make_available(0);
        }
    }
}
