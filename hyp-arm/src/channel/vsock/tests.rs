//! Tests of the packet mover, replaying what Linux's virtio_mmio and vmw_vsock_virtio_transport
//! drivers do (probe, receive buffers of 44 + 4096 bytes, a header and payload per transmitted
//! packet), a backend on the other end of the ring, and each malformed case.

use std::sync::atomic::AtomicU32;

use hyp_arm_channel_ring::{AtomicWordMemory, Channel, Side, DEFAULT_REGION_SIZE};

use super::header::{OPERATION_RESET, TYPE_STREAM};
use super::*;
use crate::channel::test_support::*;
use crate::channel::virtio_mmio::status;
use crate::channel::GuestAddress;

const GUEST_CID: u64 = 3;
const BACKEND_CID: u64 = 2;
const REQUEST: u16 = 1;
const RESPONSE: u16 = 2;
const READ_WRITE: u16 = 5;
const QUEUES: u64 = RAM_BASE + 0x1_0000;
const RECEIVE_BUFFERS: u64 = RAM_BASE + 0x4_0000;
const TRANSMIT_BUFFERS: u64 = RAM_BASE + 0x8_0000;

struct Harness {
    guest: FakeGuestMemory,
    words: Vec<AtomicU32>,
    transport: VsockTransport,
    backend_producer: hyp_arm_channel_ring::Producer,
    backend_consumer: hyp_arm_channel_ring::Consumer,
    queues: Vec<DriverQueue>,
    next_transmit_buffer: u64,
}

impl Harness {
    fn new() -> Self {
        let words: Vec<AtomicU32> = (0..DEFAULT_REGION_SIZE / 4)
            .map(|_| AtomicU32::new(0))
            .collect();
        let channel = AtomicWordMemory::new(&words);
        let layout = Channel::initialize(&channel, hyp_arm_channel_ring::MAX_MESSAGE).unwrap();
        let (to_backend, from_backend) = layout.endpoints(Side::Hypervisor, &channel).unwrap();
        let (backend_producer, backend_consumer) = Channel::attach(&channel)
            .unwrap()
            .endpoints(Side::Backend, &channel)
            .unwrap();
        let transport = VsockTransport::new(GUEST_CID, BACKEND_CID, to_backend, from_backend);
        let mut harness = Harness {
            guest: FakeGuestMemory::new(),
            words,
            transport,
            backend_producer,
            backend_consumer,
            queues: Vec::new(),
            next_transmit_buffer: TRANSMIT_BUFFERS,
        };
        harness.probe();
        harness
    }

    fn read(&self, offset: u64) -> u32 {
        self.transport.mmio_read(offset, 4).unwrap() as u32
    }

    fn write(&mut self, offset: u64, value: u32) -> WriteEffects {
        self.transport
            .mmio_write(offset, 4, u64::from(value))
            .unwrap()
    }

    /// vm_probe, virtio_dev_probe, virtio_vsock_probe: negotiation, the three queues, the
    /// guest CID, DRIVER_OK, then the receive and event buffers.
    fn probe(&mut self) {
        assert_eq!(self.read(0x000), 0x7472_6976);
        assert_eq!(self.read(0x004), 2);
        assert_eq!(self.read(0x008), 19);
        self.write(0x070, 0);
        self.write(0x070, 1 | 2);
        self.write(0x014, 1);
        let high = self.read(0x010);
        self.write(0x014, 0);
        let low = self.read(0x010);
        self.write(0x024, 1);
        self.write(0x020, high);
        self.write(0x024, 0);
        self.write(0x020, low);
        self.write(0x070, 1 | 2 | 8);
        assert_eq!(self.read(0x070) & 8, 8, "FEATURES_OK accepted");
        self.queues.clear();
        for index in 0..3u32 {
            self.write(0x030, index);
            let size = self.read(0x034).min(64) as u16;
            let queue = DriverQueue::new(QUEUES + 0x4000 * u64::from(index), size);
            queue.clear(&self.guest);
            self.write(0x038, u32::from(size));
            for (low, address) in [
                (0x080, queue.layout.descriptor_table),
                (0x090, queue.layout.available_ring),
                (0x0A0, queue.layout.used_ring),
            ] {
                self.write(low, address.0 as u32);
                self.write(low + 4, (address.0 >> 32) as u32);
            }
            assert_eq!(self.write(0x044, 1).queue_error, None);
            self.queues.push(queue);
        }
        let cid = self.read(0x100) as u64 | (self.read(0x104) as u64) << 32;
        assert_eq!(cid, GUEST_CID);
        assert!(self.write(0x070, 1 | 2 | 8 | 4).driver_ok);
        for buffer in 0..4 {
            self.add_receive_buffer(RECEIVE_BUFFERS + 0x2000 * buffer, MAX_PACKET as u32);
        }
        self.notify(RECEIVE_QUEUE).unwrap();
    }

    fn add_receive_buffer(&mut self, address: u64, length: u32) {
        self.queues[0].add_chain(&self.guest, &[(address, length, true)]);
    }

    fn notify(&mut self, queue: u16) -> Result<MoveEffects, VsockError> {
        assert_eq!(
            self.write(0x050, u32::from(queue)).notified_queue,
            Some(queue)
        );
        let channel = AtomicWordMemory::new(&self.words);
        self.transport.on_notify(queue, &self.guest, &channel)
    }

    fn doorbell(&mut self) -> Result<MoveEffects, VsockError> {
        let channel = AtomicWordMemory::new(&self.words);
        self.transport.on_backend_doorbell(&self.guest, &channel)
    }

    /// Queues a packet as virtio_transport_send_pkt_work does: header, then payload if any.
    fn transmit(&mut self, header: &PacketHeader, payload: &[u8]) -> u16 {
        let header_address = self.next_transmit_buffer;
        let payload_address = header_address + 0x40;
        self.next_transmit_buffer += 0x2000;
        self.guest
            .write(GuestAddress(header_address), &header.bytes)
            .unwrap();
        self.guest
            .write(GuestAddress(payload_address), payload)
            .unwrap();
        let mut buffers = vec![(header_address, 44, false)];
        if !payload.is_empty() {
            buffers.push((payload_address, payload.len() as u32, false));
        }
        self.queues[1].add_chain(&self.guest, &buffers)
    }

    fn backend_receive(&mut self) -> Option<Vec<u8>> {
        let channel = AtomicWordMemory::new(&self.words);
        let mut buffer = vec![0; 8192];
        let length = self
            .backend_consumer
            .receive(&channel, &mut buffer)
            .unwrap()?;
        buffer.truncate(length);
        Some(buffer)
    }

    fn backend_send(&mut self, message: &[u8]) {
        let channel = AtomicWordMemory::new(&self.words);
        self.backend_producer.send(&channel, message).unwrap();
    }

    /// The receive buffers the device filled: (address, bytes).
    fn received(&mut self) -> Vec<Vec<u8>> {
        let used = self.queues[0].take_used(&self.guest);
        used.into_iter()
            .map(|(head, length)| {
                let descriptor = self.queues[0].layout.descriptor_table.0 + 16 * u64::from(head);
                let mut address = [0; 8];
                self.guest
                    .read(GuestAddress(descriptor), &mut address)
                    .unwrap();
                self.guest
                    .bytes(u64::from_le_bytes(address), length as usize)
            })
            .collect()
    }
}

fn from_guest(operation: u16, payload: usize) -> PacketHeader {
    PacketHeader::new(
        (GUEST_CID, 1234),
        (BACKEND_CID, 9999),
        operation,
        payload as u32,
    )
}

fn to_guest(operation: u16, payload: usize) -> PacketHeader {
    PacketHeader::new(
        (BACKEND_CID, 9999),
        (GUEST_CID, 1234),
        operation,
        payload as u32,
    )
}

fn packet(header: &PacketHeader, payload: &[u8]) -> Vec<u8> {
    [&header.bytes[..], payload].concat()
}

#[test]
fn connect_request_reaches_the_ring_and_the_response_the_guest() {
    let mut harness = Harness::new();
    let request = from_guest(REQUEST, 0);
    let head = harness.transmit(&request, &[]);
    let effects = harness.notify(TRANSMIT_QUEUE).unwrap();
    assert!(effects.notify_backend);
    assert!(effects.interrupt);
    assert_eq!(effects.rejected, None);
    assert_eq!(
        harness.queues[1].take_used(&harness.guest),
        vec![(u32::from(head), 0)]
    );
    assert_eq!(harness.backend_receive().unwrap(), request.bytes);
    assert_eq!(harness.read(0x060), 1);
    harness.write(0x064, 1);

    let response = to_guest(RESPONSE, 0);
    harness.backend_send(&response.bytes);
    let effects = harness.doorbell().unwrap();
    assert!(effects.interrupt);
    assert!(effects.notify_backend, "ring space freed");
    assert_eq!(harness.received(), vec![response.bytes.to_vec()]);
}

#[test]
fn payloads_cross_in_both_directions() {
    let mut harness = Harness::new();
    let data: Vec<u8> = (0..4096).map(|index| (index * 13) as u8).collect();
    let header = from_guest(READ_WRITE, data.len());
    harness.transmit(&header, &data);
    harness.notify(TRANSMIT_QUEUE).unwrap();
    assert_eq!(harness.backend_receive().unwrap(), packet(&header, &data));

    let reply = to_guest(READ_WRITE, 1000);
    harness.backend_send(&packet(&reply, &data[..1000]));
    harness.doorbell().unwrap();
    assert_eq!(harness.received(), vec![packet(&reply, &data[..1000])]);
}

#[test]
fn packets_wait_in_the_ring_until_the_guest_has_receive_buffers() {
    let mut harness = Harness::new();
    for port in 0..6 {
        let mut header = to_guest(READ_WRITE, 1);
        header.bytes[16] = port;
        harness.backend_send(&packet(&header, b"x"));
    }
    harness.doorbell().unwrap();
    assert_eq!(harness.received().len(), 4, "four buffers");
    harness.doorbell().unwrap();
    assert!(harness.received().is_empty(), "still none");
    harness.add_receive_buffer(RECEIVE_BUFFERS, MAX_PACKET as u32);
    harness.add_receive_buffer(RECEIVE_BUFFERS + 0x2000, MAX_PACKET as u32);
    harness.notify(RECEIVE_QUEUE).unwrap();
    let received = harness.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[1][16], 5, "in order");
}

#[test]
fn transmit_waits_for_ring_space() {
    let mut harness = Harness::new();
    let data = vec![7; 4096];
    // 16 KiB ring: three largest messages fit, the fourth needs room for a largest one.
    for _ in 0..5 {
        harness.transmit(&from_guest(READ_WRITE, 4096), &data);
    }
    harness.notify(TRANSMIT_QUEUE).unwrap();
    assert_eq!(harness.queues[1].take_used(&harness.guest).len(), 3);
    assert!(harness.backend_receive().is_some());
    assert!(harness.backend_receive().is_some());
    harness.doorbell().unwrap();
    assert_eq!(harness.queues[1].take_used(&harness.guest).len(), 2);
    for _ in 0..3 {
        assert_eq!(harness.backend_receive().unwrap().len(), 44 + 4096);
    }
    assert!(harness.backend_receive().is_none());
}

#[test]
fn no_interrupt_flag_is_respected() {
    let mut harness = Harness::new();
    harness.queues[1].suppress_interrupts(&harness.guest, true);
    harness.transmit(&from_guest(REQUEST, 0), &[]);
    let effects = harness.notify(TRANSMIT_QUEUE).unwrap();
    assert!(!effects.interrupt);
    assert!(harness.backend_receive().is_some());
}

#[test]
fn malformed_queue_needs_reset_and_the_guest_can_recover() {
    let mut harness = Harness::new();
    harness.queues[1].add_chain(&harness.guest, &[(0x0900_0000, 44, false)]);
    let error = harness.notify(TRANSMIT_QUEUE).unwrap_err();
    assert!(matches!(
        error,
        VsockError::Queue {
            queue: 1,
            error: VirtqueueError::BufferOutsideGuestRam { .. }
        }
    ));
    assert_eq!(
        harness.read(0x070) & status::DEVICE_NEEDS_RESET,
        status::DEVICE_NEEDS_RESET
    );
    assert_eq!(harness.read(0x060) & 2, 2, "configuration-change interrupt");
    assert!(harness.backend_receive().is_none());
    // Nothing moves until a reset, even what is well-formed.
    harness.backend_send(&to_guest(RESPONSE, 0).bytes);
    assert!(!harness.doorbell().unwrap().notify_backend);
    // The driver resets and probes again; the waiting packet arrives.
    assert!(harness.write(0x070, 0).reset);
    harness.next_transmit_buffer = TRANSMIT_BUFFERS;
    harness.probe();
    assert_eq!(
        harness.received(),
        vec![to_guest(RESPONSE, 0).bytes.to_vec()]
    );
}

#[test]
fn looping_receive_chain_needs_reset() {
    let mut harness = Harness::new();
    harness.write(0x070, 0);
    harness.probe();
    harness.received();
    let queue = &mut harness.queues[0];
    queue.write_descriptor(
        &harness.guest,
        60,
        RawDescriptor {
            address: RECEIVE_BUFFERS,
            length: 64,
            flags: WRITE | NEXT,
            next: 60,
        },
    );
    // Use up the four buffers probe made available, then offer the looping one.
    harness.backend_send(&to_guest(RESPONSE, 0).bytes);
    for _ in 0..4 {
        harness.backend_send(&to_guest(RESPONSE, 0).bytes);
    }
    harness.queues[0].make_available(&harness.guest, 60);
    let error = harness.doorbell().unwrap_err();
    assert!(matches!(
        error,
        VsockError::Queue {
            queue: 0,
            error: VirtqueueError::ChainLoops { .. }
        }
    ));
    assert!(!harness.transport.device().is_live());
}

#[test]
fn bad_guest_packets_are_dropped_and_answered_with_reset() {
    let mut harness = Harness::new();
    let mut wrong_destination = from_guest(REQUEST, 0);
    wrong_destination.bytes[8] = 42;
    let mut bad_operation = from_guest(0, 0);
    bad_operation.bytes[30] = 9;
    let mut bad_type = from_guest(REQUEST, 0);
    bad_type.bytes[28] = 2;
    let mut length_mismatch = from_guest(READ_WRITE, 10);
    length_mismatch.bytes[24] = 11;
    let too_large = from_guest(READ_WRITE, 4097);
    let cases: Vec<(PacketHeader, Vec<u8>, PacketError)> = vec![
        (
            wrong_destination,
            vec![],
            PacketError::WrongDestination {
                direction: PacketDirection::FromGuest,
                cid: 42,
            },
        ),
        (
            bad_operation,
            vec![],
            PacketError::BadOperation {
                direction: PacketDirection::FromGuest,
                operation: 9,
            },
        ),
        (
            bad_type,
            vec![],
            PacketError::BadType {
                direction: PacketDirection::FromGuest,
                packet_type: 2,
            },
        ),
        (
            length_mismatch,
            vec![0; 10],
            PacketError::LengthMismatch {
                direction: PacketDirection::FromGuest,
                header: 11,
                actual: 10,
            },
        ),
        (
            too_large,
            vec![0; 4097],
            PacketError::TooLarge {
                direction: PacketDirection::FromGuest,
                length: 4097,
            },
        ),
    ];
    for (header, payload, expected) in cases {
        harness.transmit(&header, &payload);
        let effects = harness.notify(TRANSMIT_QUEUE).unwrap();
        assert_eq!(effects.rejected, Some(expected));
        assert_eq!(effects.rejected_count, 1);
        assert!(harness.backend_receive().is_none(), "{expected}");
        assert_eq!(harness.queues[1].take_used(&harness.guest).len(), 1);
        // The RST comes back from where the packet was going.
        harness.notify(RECEIVE_QUEUE).unwrap();
        let received = harness.received();
        assert_eq!(received.len(), 1, "{expected}");
        let reset = PacketHeader {
            bytes: received[0].clone().try_into().unwrap(),
        };
        assert_eq!(reset.operation(), OPERATION_RESET);
        assert_eq!(reset.packet_type(), TYPE_STREAM);
        assert_eq!(reset.destination_cid(), GUEST_CID);
        assert_eq!(reset.destination_port(), 1234);
        assert_eq!(reset.source_cid(), header.destination_cid());
        harness.add_receive_buffer(RECEIVE_BUFFERS, MAX_PACKET as u32);
    }
    assert!(harness.transport.device().is_live());
    // The device still works.
    harness.transmit(&from_guest(REQUEST, 0), &[]);
    harness.notify(TRANSMIT_QUEUE).unwrap();
    assert!(harness.backend_receive().is_some());
}

#[test]
fn spoofed_or_short_guest_packets_get_no_reply() {
    let mut harness = Harness::new();
    let mut spoofed = from_guest(REQUEST, 0);
    spoofed.bytes[0] = 7;
    harness.transmit(&spoofed, &[]);
    let effects = harness.notify(TRANSMIT_QUEUE).unwrap();
    assert_eq!(
        effects.rejected,
        Some(PacketError::WrongSource {
            direction: PacketDirection::FromGuest,
            cid: 7
        })
    );
    harness.queues[1].add_chain(&harness.guest, &[(TRANSMIT_BUFFERS, 43, false)]);
    let effects = harness.notify(TRANSMIT_QUEUE).unwrap();
    assert_eq!(
        effects.rejected,
        Some(PacketError::TooShort {
            direction: PacketDirection::FromGuest,
            length: 43
        })
    );
    harness.notify(RECEIVE_QUEUE).unwrap();
    assert!(harness.received().is_empty());
    assert!(harness.backend_receive().is_none());
}

#[test]
fn bad_backend_packets_are_dropped() {
    let mut harness = Harness::new();
    let mut wrong_destination = to_guest(RESPONSE, 0);
    wrong_destination.bytes[8] = 4;
    let mut wrong_source = to_guest(RESPONSE, 0);
    wrong_source.bytes[0] = 9;
    harness.backend_send(&wrong_destination.bytes);
    harness.backend_send(&wrong_source.bytes);
    harness.backend_send(b"short");
    harness.backend_send(&packet(&to_guest(READ_WRITE, 3), b"ab"));
    let effects = harness.doorbell().unwrap();
    assert_eq!(effects.rejected_count, 4);
    assert_eq!(
        effects.rejected,
        Some(PacketError::WrongDestination {
            direction: PacketDirection::ToGuest,
            cid: 4
        })
    );
    assert!(harness.received().is_empty());
    assert!(harness.transport.device().is_live());
}

#[test]
fn receive_buffer_too_small_drops_the_packet() {
    let mut harness = Harness::new();
    harness.write(0x070, 0);
    harness.probe();
    harness.received();
    // Fill the four large buffers first, then offer a small one.
    for _ in 0..4 {
        harness.backend_send(&to_guest(RESPONSE, 0).bytes);
    }
    harness.doorbell().unwrap();
    assert_eq!(harness.received().len(), 4);
    harness.add_receive_buffer(RECEIVE_BUFFERS, 40);
    harness.backend_send(&to_guest(RESPONSE, 0).bytes);
    let effects = harness.doorbell().unwrap();
    assert_eq!(
        effects.rejected,
        Some(PacketError::ReceiveBufferTooSmall {
            needed: 44,
            available: 40
        })
    );
    assert_eq!(harness.queues[0].take_used(&harness.guest), vec![(4, 0)]);
}

#[test]
fn corrupt_ring_stops_the_channel_but_not_the_device() {
    let mut harness = Harness::new();
    // The backend publishes an impossible index.
    let channel = AtomicWordMemory::new(&harness.words);
    hyp_arm_channel_ring::SharedMemory::store_u32_release(&channel, 0xC0, 12);
    assert!(matches!(harness.doorbell(), Err(VsockError::Channel(_))));
    assert!(harness.transport.device().is_live());
    harness.transmit(&from_guest(REQUEST, 0), &[]);
    assert!(harness.notify(TRANSMIT_QUEUE).is_ok());
}

mod replies;
mod reset_notice;
