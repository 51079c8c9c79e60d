//! The keystore served over a channel ring, with hyp-arm's side played by the ring crate's own
//! hypervisor end over host memory: requests in, answers out, a full ring, a corrupt ring.

use std::sync::atomic::AtomicU32;

use hyp_arm_channel_ring::{
    AtomicWordMemory, Channel, Consumer, Producer, RingError, Side, MAX_MESSAGE,
};
use hyp_arm_keystore_protocol::{KEYSTORE_PORT, PUBLIC_KEY_SIZE, SECURE_DOMAIN_CID};

use super::*;
use crate::keystore::{Keystore, KeystoreSession, BOARD_SECRET};
use crate::vsock::header::{Operation, TYPE_STREAM};
use crate::vsock::{PacketHeader, MAX_CONNECTIONS, PACKETS_PER_POLL};

const GUEST_CID: u64 = 42;
const GUEST_PORT: u32 = 1234;
/// Linux's default `buf_alloc`.
const LINUX_BUFFER: u32 = 256 * 1024;
/// Bytes of the region in hyp-arm's plans.
const REGION_WORDS: usize = 64 * 1024 / 4;
/// Where the hypervisor-to-backend ring's produced index lives (docs/CHANNELS.md).
const TO_BACKEND_PRODUCED: usize = 0x40;
/// A region whose rings are 2 KiB each: room for one 1 KiB data packet and a bit.
const SMALL_REGION_WORDS: usize = (0x140 + 2 * 2048) / 4;

fn region(words: usize) -> Vec<AtomicU32> {
    (0..words).map(|_| AtomicU32::new(0)).collect()
}

/// hyp-arm's end of the channel.
struct Hypervisor<'a> {
    memory: AtomicWordMemory<'a>,
    producer: Producer,
    consumer: Consumer,
}

impl<'a> Hypervisor<'a> {
    fn initialize(words: &'a [AtomicU32], max_message: usize) -> Self {
        let memory = AtomicWordMemory::new(words);
        let channel = Channel::initialize(&memory, max_message).expect("initialize");
        let (producer, consumer) = channel
            .endpoints(Side::Hypervisor, &memory)
            .expect("endpoints");
        Self {
            memory,
            producer,
            consumer,
        }
    }

    /// Puts a packet from the guest's `GUEST_PORT` into the ring.
    fn send(&mut self, operation: Operation, destination_port: u32, payload: &[u8]) {
        self.send_from(GUEST_PORT, operation, destination_port, payload);
    }

    fn send_from(
        &mut self,
        source_port: u32,
        operation: Operation,
        destination_port: u32,
        payload: &[u8],
    ) {
        let header = PacketHeader {
            source_cid: GUEST_CID,
            destination_cid: u64::from(SECURE_DOMAIN_CID),
            source_port,
            destination_port,
            length: payload.len() as u32,
            socket_type: TYPE_STREAM,
            op: operation.to_wire(),
            flags: 0,
            buffer_allocation: LINUX_BUFFER,
            forwarded_count: 0,
        };
        let mut packet = header.to_bytes().to_vec();
        packet.extend_from_slice(payload);
        self.producer.send(&self.memory, &packet).expect("room");
    }

    /// Every packet the backend put into the ring.
    fn take(&mut self) -> Vec<(PacketHeader, Vec<u8>)> {
        let mut packets = Vec::new();
        let mut buffer = vec![0; MAX_MESSAGE];
        while let Some(length) = self
            .consumer
            .receive(&self.memory, &mut buffer)
            .expect("well-formed ring")
        {
            let header = PacketHeader::parse(&buffer[..length]).expect("a whole header");
            assert_eq!(header.length as usize, length - HEADER_SIZE);
            packets.push((header, buffer[HEADER_SIZE..length].to_vec()));
        }
        packets
    }
}

struct Backend<'a> {
    transport: ChannelTransport<AtomicWordMemory<'a>>,
    server: Box<VsockServer<KeystoreSession>>,
    keystore: Keystore,
}

impl<'a> Backend<'a> {
    fn attach(words: &'a [AtomicU32]) -> Self {
        Self {
            transport: ChannelTransport::attach(AtomicWordMemory::new(words)).expect("attach"),
            server: Box::new(VsockServer::new(
                u64::from(SECURE_DOMAIN_CID),
                KEYSTORE_PORT,
            )),
            keystore: Keystore::new(&BOARD_SECRET, 0).expect("keystore"),
        }
    }

    fn serve(&mut self, max_polls: usize) -> Result<Activity, RingError> {
        self.transport
            .serve(&mut self.server, &mut self.keystore, max_polls)
    }
}

#[test]
fn a_connection_and_a_request_go_through_the_rings() {
    let words = region(REGION_WORDS);
    let mut hypervisor = Hypervisor::initialize(&words, MAX_MESSAGE);
    let mut backend = Backend::attach(&words);
    assert_eq!(backend.serve(4), Ok(Activity::default()));
    assert!(!Activity::default().needs_notify());

    hypervisor.send(Operation::Request, KEYSTORE_PORT, &[]);
    let activity = backend.serve(4).expect("serve");
    assert_eq!(
        activity,
        Activity {
            received: 1,
            sent: 1,
            peer_resets: 0,
            more: false
        }
    );
    assert!(activity.needs_notify());
    let replies = hypervisor.take();
    assert_eq!(replies.len(), 1);
    let (response, _) = &replies[0];
    assert_eq!(response.op, Operation::Response.to_wire());
    assert_eq!(response.destination_cid, GUEST_CID);
    assert_eq!(response.destination_port, GUEST_PORT);

    // PUBLIC_KEY: op 1, empty payload.
    hypervisor.send(Operation::ReadWrite, KEYSTORE_PORT, &[1, 0, 0]);
    backend.serve(4).expect("serve");
    let replies = hypervisor.take();
    let data: Vec<u8> = replies
        .iter()
        .filter(|(header, _)| header.op == Operation::ReadWrite.to_wire())
        .flat_map(|(_, payload)| payload.clone())
        .collect();
    let mut expected = vec![0, PUBLIC_KEY_SIZE as u8, 0];
    expected.extend_from_slice(&backend.keystore.public_key());
    assert_eq!(data, expected);
}

#[test]
fn a_full_ring_holds_the_answers_back_until_hyp_arm_makes_room() {
    let words = region(SMALL_REGION_WORDS);
    let mut hypervisor = Hypervisor::initialize(&words, LARGEST_SENT_PACKET);
    let mut backend = Backend::attach(&words);
    hypervisor.send(Operation::Request, KEYSTORE_PORT, &[]);
    backend.serve(4).expect("serve");
    assert_eq!(hypervisor.take().len(), 1);

    // Ten RANDOM requests of 256 bytes: 2590 bytes of answers, more than the 2 KiB ring.
    let requests: Vec<u8> = (0..10).flat_map(|_| [4, 2, 0, 0, 1]).collect();
    hypervisor.send(Operation::ReadWrite, KEYSTORE_PORT, &requests);
    let first = backend.serve(4).expect("serve");
    assert_eq!(first.received, 1);
    let mut answers = Vec::new();
    let mut rounds = 0;
    loop {
        let packets = hypervisor.take();
        assert!(packets.iter().all(|(_, payload)| payload.len() <= 1024));
        answers.extend(packets.into_iter().flat_map(|(_, payload)| payload));
        if answers.len() >= 10 * 259 || rounds == 20 {
            break;
        }
        // What the doorbell after hyp-arm consumed would do.
        backend.serve(4).expect("serve");
        rounds += 1;
    }
    assert!(rounds >= 1, "the first serve should have filled the ring");
    assert_eq!(answers.len(), 10 * 259);
    for answer in answers.chunks(259) {
        assert_eq!(&answer[..3], &[0, 0, 1]);
    }
}

#[test]
fn the_poll_budget_leaves_the_rest_for_later() {
    let words = region(REGION_WORDS);
    let mut hypervisor = Hypervisor::initialize(&words, MAX_MESSAGE);
    let mut backend = Backend::attach(&words);
    // Requests for a port nobody listens on: each is answered with RST (8 wait, the rest are
    // dropped).
    for _ in 0..40 {
        hypervisor.send(Operation::Request, KEYSTORE_PORT + 1, &[]);
    }
    let activity = backend.serve(1).expect("serve");
    assert_eq!(activity.received, PACKETS_PER_POLL);
    assert!(activity.more);
    let activity = backend.serve(4).expect("serve");
    assert_eq!(activity.received, 40 - PACKETS_PER_POLL);
    assert!(!activity.more);
    assert!(hypervisor
        .take()
        .iter()
        .all(|(header, _)| header.op == Operation::Reset.to_wire()));
}

#[test]
fn an_empty_message_forgets_the_guests_connections() {
    let words = region(REGION_WORDS);
    let mut hypervisor = Hypervisor::initialize(&words, MAX_MESSAGE);
    let mut backend = Backend::attach(&words);
    // The old guest leaves every connection slot taken.
    for port in 1..=MAX_CONNECTIONS as u32 {
        hypervisor.send_from(port, Operation::Request, KEYSTORE_PORT, &[]);
    }
    backend.serve(4).expect("serve");
    assert_eq!(backend.server.connection_count(), MAX_CONNECTIONS);
    hypervisor.take();
    // Without a reset, one more connection is refused.
    hypervisor.send_from(99, Operation::Request, KEYSTORE_PORT, &[]);
    backend.serve(4).expect("serve");
    assert_eq!(hypervisor.take()[0].0.op, Operation::Reset.to_wire());

    // The guest rebooted: hyp-arm says so, then the new guest connects.
    hypervisor
        .producer
        .send(&hypervisor.memory, &[])
        .expect("room");
    hypervisor.send_from(99, Operation::Request, KEYSTORE_PORT, &[]);
    let activity = backend.serve(4).expect("serve");
    assert_eq!((activity.received, activity.peer_resets), (2, 1));
    assert_eq!(backend.server.connection_count(), 1);
    let replies = hypervisor.take();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].0.op, Operation::Response.to_wire());
}

#[test]
fn a_corrupt_ring_stops_the_transport_for_good() {
    let words = region(REGION_WORDS);
    let hypervisor = Hypervisor::initialize(&words, MAX_MESSAGE);
    let mut backend = Backend::attach(&words);
    // A produced index that is not a multiple of 8.
    hypervisor.memory.store_u32_release(TO_BACKEND_PRODUCED, 3);
    let error = backend.serve(4).expect_err("corrupt");
    assert!(
        matches!(error, RingError::CorruptIndices { .. }),
        "{error:?}"
    );
    assert_eq!(backend.transport.broken(), Some(error));
    // Repaired or not, the transport stays stopped.
    hypervisor.memory.store_u32_release(TO_BACKEND_PRODUCED, 0);
    assert_eq!(backend.serve(4), Err(error));
}

#[test]
fn attach_refuses_what_it_cannot_use() {
    let words = region(REGION_WORDS);
    let error = ChannelTransport::attach(AtomicWordMemory::new(&words))
        .err()
        .expect("an unformatted region");
    assert_eq!(
        error,
        TransportError::Ring(RingError::BadMagic { found: 0 })
    );

    let _hypervisor = Hypervisor::initialize(&words, 512);
    let error = ChannelTransport::attach(AtomicWordMemory::new(&words))
        .err()
        .expect("messages too small");
    assert_eq!(error, TransportError::MessagesTooSmall { max_message: 512 });
    assert_eq!(
        error.to_string(),
        "the channel's largest message is 512 bytes; the vsock server sends up to 1068"
    );
}

#[test]
fn a_message_longer_than_the_buffer_is_taken_truncated() {
    let words = region(REGION_WORDS);
    let mut hypervisor = Hypervisor::initialize(&words, MAX_MESSAGE);
    let mut transport = ChannelTransport::attach(AtomicWordMemory::new(&words)).expect("attach");
    let message: Vec<u8> = (0..100).collect();
    hypervisor
        .producer
        .send(&hypervisor.memory, &message)
        .expect("room");
    let mut source = RingSource {
        memory: &transport.memory,
        consumer: &mut transport.consumer,
        received: 0,
        peer_reset: false,
        error: None,
    };
    let mut buffer = [0u8; 50];
    assert_eq!(source.receive(&mut buffer), Some(100));
    assert_eq!(&buffer[..], &message[..50]);
    assert_eq!(source.receive(&mut buffer), None);
    assert_eq!((source.received, source.error), (1, None));
}
