//! The server against the packets a Linux guest's virtio-vsock transport sends for connect(),
//! write(), read() and close(), and against every kind of malformed packet.

use super::header::{Operation, SHUTDOWN_RECEIVE, SHUTDOWN_SEND};
use super::*;

const SERVER_CID: u64 = 3;
const PORT: u32 = 5555;
const GUEST_CID: u64 = 42;
/// Linux's default `buf_alloc` (VIRTIO_VSOCK_DEFAULT_BUF_SIZE, 256 KiB).
const LINUX_BUFFER: u32 = 256 * 1024;

/// Echoes what it gets (as much as fits), or swallows it when `mute`.
#[derive(Default)]
struct Echo {
    mute: bool,
    sessions_seen: usize,
}

#[derive(Default)]
struct EchoSession {
    started: bool,
}

impl StreamService for Echo {
    type Session = EchoSession;

    fn serve(&mut self, session: &mut EchoSession, input: &[u8], output: &mut SendBuffer) -> usize {
        if !session.started {
            session.started = true;
            self.sessions_seen += 1;
        }
        if self.mute {
            return input.len();
        }
        let count = input.len().min(output.free());
        output.write(&input[..count]).unwrap();
        count
    }
}

/// Collects packets; refuses them once `capacity` is reached.
struct Sink {
    packets: Vec<Vec<u8>>,
    capacity: usize,
}

impl Sink {
    fn new() -> Self {
        Self {
            packets: Vec::new(),
            capacity: usize::MAX,
        }
    }

    fn take(&mut self) -> Vec<(PacketHeader, Vec<u8>)> {
        self.packets
            .drain(..)
            .map(|packet| {
                let header = PacketHeader::parse(&packet).unwrap();
                assert_eq!(header.length as usize, packet.len() - HEADER_SIZE);
                (header, packet[HEADER_SIZE..].to_vec())
            })
            .collect()
    }
}

impl PacketSink for Sink {
    fn send(&mut self, packet: &[u8]) -> Result<(), SinkFull> {
        if self.packets.len() >= self.capacity {
            return Err(SinkFull);
        }
        self.packets.push(packet.to_vec());
        Ok(())
    }
}

/// A packet as the guest at `GUEST_CID`, port `port`, sends it.
fn packet(port: u32, operation: Operation, payload: &[u8]) -> Vec<u8> {
    let header = PacketHeader {
        source_cid: GUEST_CID,
        destination_cid: SERVER_CID,
        source_port: port,
        destination_port: PORT,
        length: payload.len() as u32,
        socket_type: header::TYPE_STREAM,
        op: operation.to_wire(),
        flags: 0,
        buffer_allocation: LINUX_BUFFER,
        forwarded_count: 0,
    };
    with_header(header, payload)
}

fn with_header(header: PacketHeader, payload: &[u8]) -> Vec<u8> {
    let mut bytes = header.to_bytes().to_vec();
    bytes.extend_from_slice(payload);
    bytes
}

fn edit(packet: &[u8], change: impl FnOnce(&mut PacketHeader)) -> Vec<u8> {
    let mut header = PacketHeader::parse(packet).unwrap();
    change(&mut header);
    with_header(header, &packet[HEADER_SIZE..])
}

struct Harness {
    server: Box<VsockServer<EchoSession>>,
    service: Echo,
    sink: Sink,
}

impl Harness {
    fn new() -> Self {
        Self {
            server: Box::new(VsockServer::new(SERVER_CID, PORT)),
            service: Echo::default(),
            sink: Sink::new(),
        }
    }

    /// Delivers `packet`, flushes, and returns what the server sent.
    fn exchange(&mut self, packet: &[u8]) -> Vec<(PacketHeader, Vec<u8>)> {
        self.server.handle_packet(packet, &mut self.service);
        self.server.flush(&mut self.sink, &mut self.service);
        self.sink.take()
    }

    fn connect(&mut self, port: u32) {
        let replies = self.exchange(&packet(port, Operation::Request, &[]));
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].0.op, Operation::Response.to_wire());
    }
}

fn ops(replies: &[(PacketHeader, Vec<u8>)]) -> Vec<Option<Operation>> {
    replies
        .iter()
        .map(|(header, _)| Operation::from_wire(header.op))
        .collect()
}

fn assert_single_reset(replies: &[(PacketHeader, Vec<u8>)], port: u32) {
    assert_eq!(ops(replies), [Some(Operation::Reset)], "{replies:?}");
    assert_eq!(replies[0].0.destination_port, port);
    assert_eq!(replies[0].0.destination_cid, GUEST_CID);
    assert_eq!(replies[0].0.source_cid, SERVER_CID);
}

#[test]
fn connect_write_read_close_like_linux() {
    let mut harness = Harness::new();
    let replies = harness.exchange(&packet(49152, Operation::Request, &[]));
    assert_eq!(ops(&replies), [Some(Operation::Response)]);
    let response = replies[0].0;
    assert_eq!(response.source_cid, SERVER_CID);
    assert_eq!(response.source_port, PORT);
    assert_eq!(response.destination_cid, GUEST_CID);
    assert_eq!(response.destination_port, 49152);
    assert_eq!(response.socket_type, header::TYPE_STREAM);
    assert_eq!(response.buffer_allocation, RECEIVE_BUFFER_SIZE as u32);
    assert_eq!(response.forwarded_count, 0);

    let replies = harness.exchange(&packet(49152, Operation::ReadWrite, b"hello"));
    assert_eq!(ops(&replies), [Some(Operation::ReadWrite)]);
    assert_eq!(replies[0].1, b"hello");
    // The data packet tells the peer its five bytes were consumed: no separate CREDIT_UPDATE.
    assert_eq!(replies[0].0.forwarded_count, 5);

    // close(): SHUTDOWN with both flags; Linux waits for our RST.
    let mut shutdown = PacketHeader::parse(&packet(49152, Operation::Shutdown, &[])).unwrap();
    shutdown.flags = SHUTDOWN_RECEIVE | SHUTDOWN_SEND;
    let replies = harness.exchange(&with_header(shutdown, &[]));
    assert_single_reset(&replies, 49152);
    assert_eq!(harness.server.connection_count(), 0);
    // Anything more on that connection is refused.
    let replies = harness.exchange(&packet(49152, Operation::ReadWrite, b"late"));
    assert_single_reset(&replies, 49152);
}

#[test]
fn half_close_still_gets_answers() {
    let mut harness = Harness::new();
    harness.connect(1000);
    harness.server.handle_packet(
        &packet(1000, Operation::ReadWrite, b"ab"),
        &mut harness.service,
    );
    let mut shutdown = PacketHeader::parse(&packet(1000, Operation::Shutdown, &[])).unwrap();
    shutdown.flags = SHUTDOWN_SEND;
    let replies = harness.exchange(&with_header(shutdown, &[]));
    assert_eq!(ops(&replies), [Some(Operation::ReadWrite)]);
    assert_eq!(replies[0].1, b"ab");
    // Data after the peer said it would send no more breaks the protocol.
    let replies = harness.exchange(&packet(1000, Operation::ReadWrite, b"x"));
    assert_single_reset(&replies, 1000);
    assert_eq!(harness.server.connection_count(), 0);
}

#[test]
fn peer_that_stops_receiving_gets_no_data() {
    let mut harness = Harness::new();
    harness.connect(1000);
    let mut shutdown = PacketHeader::parse(&packet(1000, Operation::Shutdown, &[])).unwrap();
    shutdown.flags = SHUTDOWN_RECEIVE;
    assert!(harness.exchange(&with_header(shutdown, &[])).is_empty());
    let replies = harness.exchange(&packet(1000, Operation::ReadWrite, b"ab"));
    // The bytes were consumed (credit moves on), but nothing is sent back.
    assert_eq!(ops(&replies), [Some(Operation::CreditUpdate)]);
    assert_eq!(replies[0].0.forwarded_count, 2);
}

#[test]
fn data_goes_out_within_the_peer_credit() {
    let mut harness = Harness::new();
    let request = edit(&packet(7, Operation::Request, &[]), |header| {
        header.buffer_allocation = 10;
    });
    assert_eq!(
        ops(&harness.exchange(&request)),
        [Some(Operation::Response)]
    );
    let data = edit(&packet(7, Operation::ReadWrite, &[b'z'; 25]), |header| {
        header.buffer_allocation = 10;
    });
    let replies = harness.exchange(&data);
    assert_eq!(ops(&replies), [Some(Operation::ReadWrite)]);
    assert_eq!(replies[0].1.len(), 10);
    // The peer read 4 bytes: 4 more may go.
    let update = edit(&packet(7, Operation::CreditUpdate, &[]), |header| {
        header.buffer_allocation = 10;
        header.forwarded_count = 4;
    });
    let replies = harness.exchange(&update);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].1.len(), 4);
    // A larger buffer lets the rest go.
    let update = edit(&packet(7, Operation::CreditUpdate, &[]), |header| {
        header.buffer_allocation = 1000;
        header.forwarded_count = 14;
    });
    let replies = harness.exchange(&update);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].1.len(), 11);
}

#[test]
fn large_output_is_cut_into_packets() {
    let mut harness = Harness::new();
    harness.connect(7);
    let replies = harness.exchange(&packet(7, Operation::ReadWrite, &[1; 3000]));
    let sizes: Vec<usize> = replies.iter().map(|(_, payload)| payload.len()).collect();
    // The echo's send buffer holds 1024 bytes at a time; each refill goes out in one packet.
    assert_eq!(sizes, [1024, 1024, 952]);
    assert_eq!(replies.last().unwrap().0.forwarded_count, 3000);
}

#[test]
fn credit_request_and_silent_consumption_get_credit_updates() {
    let mut harness = Harness::new();
    harness.service.mute = true;
    harness.connect(9);
    let replies = harness.exchange(&packet(9, Operation::ReadWrite, b"abc"));
    assert_eq!(ops(&replies), [Some(Operation::CreditUpdate)]);
    assert_eq!(replies[0].0.forwarded_count, 3);
    assert_eq!(replies[0].0.buffer_allocation, RECEIVE_BUFFER_SIZE as u32);
    let replies = harness.exchange(&packet(9, Operation::CreditRequest, &[]));
    assert_eq!(ops(&replies), [Some(Operation::CreditUpdate)]);
    assert_eq!(replies[0].0.forwarded_count, 3);
    // Nothing new: nothing sent.
    assert!(harness
        .exchange(&packet(9, Operation::CreditUpdate, &[]))
        .is_empty());
}

#[test]
fn sending_past_our_credit_resets() {
    let mut harness = Harness::new();
    harness.connect(11);
    // The echo cannot drain while the peer gives no credit, so the receive buffer fills.
    let stingy = |payload: &[u8]| {
        edit(&packet(11, Operation::ReadWrite, payload), |header| {
            header.buffer_allocation = 0;
        })
    };
    let replies = harness.exchange(&stingy(&[0; RECEIVE_BUFFER_SIZE]));
    assert!(replies.iter().all(|(_, payload)| payload.is_empty()));
    let replies = harness.exchange(&stingy(&[0; SEND_BUFFER_SIZE + 1]));
    assert_single_reset(&replies, 11);
    assert_eq!(harness.server.connection_count(), 0);
}

#[test]
fn too_many_connections_are_refused_and_slots_come_back() {
    let mut harness = Harness::new();
    for port in 0..MAX_CONNECTIONS as u32 {
        harness.connect(100 + port);
    }
    let replies = harness.exchange(&packet(200, Operation::Request, &[]));
    assert_single_reset(&replies, 200);
    // The peer resets one: its slot is free again, without an answer to the RST.
    assert!(harness
        .exchange(&packet(100, Operation::Reset, &[]))
        .is_empty());
    harness.connect(200);
    assert_eq!(harness.server.connection_count(), MAX_CONNECTIONS);
}

#[test]
fn a_request_from_a_known_port_starts_afresh() {
    let mut harness = Harness::new();
    harness.service.mute = true;
    harness.connect(5);
    harness.exchange(&packet(5, Operation::ReadWrite, b"old"));
    harness.connect(5);
    let replies = harness.exchange(&packet(5, Operation::ReadWrite, b"x"));
    assert_eq!(replies[0].0.forwarded_count, 1);
    assert_eq!(harness.service.sessions_seen, 2);
    assert_eq!(harness.server.connection_count(), 1);
}

#[test]
fn peer_reset_forgets_every_connection() {
    let mut harness = Harness::new();
    harness.connect(1);
    harness.connect(2);
    harness.server.peer_reset();
    assert_eq!(harness.server.connection_count(), 0);
    assert_single_reset(&harness.exchange(&packet(1, Operation::ReadWrite, b"x")), 1);
}

#[test]
fn malformed_packets_get_reset() {
    let request = packet(300, Operation::Request, &[]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("wrong port", edit(&request, |h| h.destination_port = 22)),
        ("wrong CID", edit(&request, |h| h.destination_cid = 2)),
        ("SEQPACKET", edit(&request, |h| h.socket_type = 2)),
        ("bad type", edit(&request, |h| h.socket_type = 0xffff)),
        ("op INVALID", edit(&request, |h| h.op = 0)),
        ("op unknown", edit(&request, |h| h.op = 99)),
        ("length too long", edit(&request, |h| h.length = 4)),
        ("length too short", {
            let rw = packet(300, Operation::ReadWrite, b"abcd");
            edit(&rw, |h| h.length = 2)
        }),
        ("length huge", edit(&request, |h| h.length = u32::MAX)),
        ("payload on REQUEST", packet(300, Operation::Request, b"x")),
        ("RW, no connection", packet(300, Operation::ReadWrite, b"x")),
        (
            "SHUTDOWN, no connection",
            packet(300, Operation::Shutdown, &[]),
        ),
        (
            "CREDIT_UPDATE, no connection",
            packet(300, Operation::CreditUpdate, &[]),
        ),
        (
            "CREDIT_REQUEST, no connection",
            packet(300, Operation::CreditRequest, &[]),
        ),
        (
            "RESPONSE, no connection",
            packet(300, Operation::Response, &[]),
        ),
    ];
    for (what, bad) in cases {
        let mut harness = Harness::new();
        let replies = harness.exchange(&bad);
        assert_eq!(ops(&replies), [Some(Operation::Reset)], "{what}");
        let sent = PacketHeader::parse(&bad).unwrap();
        assert_eq!(replies[0].0, sent.reset_reply(), "{what}");
        assert_eq!(harness.server.connection_count(), 0, "{what}");
        assert_eq!(harness.server.statistics().packets_refused, 1, "{what}");
    }
}

#[test]
fn malformed_packets_on_a_connection_end_it() {
    for change in [
        (|h: &mut PacketHeader| h.op = 0) as fn(&mut PacketHeader),
        |h| h.op = Operation::Response.to_wire(),
        |h| h.socket_type = 2,
        |h| h.length += 1,
    ] {
        let mut harness = Harness::new();
        harness.connect(400);
        let replies = harness.exchange(&edit(&packet(400, Operation::ReadWrite, b"q"), change));
        assert_single_reset(&replies, 400);
        assert_eq!(harness.server.connection_count(), 0);
    }
}

#[test]
fn resets_are_never_answered_and_runts_are_dropped() {
    let mut harness = Harness::new();
    assert!(harness
        .exchange(&packet(1, Operation::Reset, &[]))
        .is_empty());
    let odd_reset = edit(&packet(1, Operation::Reset, b"junk"), |h| {
        h.socket_type = 9;
        h.destination_cid = 77;
    });
    assert!(harness.exchange(&odd_reset).is_empty());
    assert!(harness.exchange(&[0u8; HEADER_SIZE - 1]).is_empty());
    assert!(harness.exchange(&[]).is_empty());
    assert_eq!(harness.server.statistics().runts_dropped, 2);
}

#[test]
fn resets_wait_for_room_and_floods_are_bounded() {
    let mut harness = Harness::new();
    for port in 0..20 {
        let bad = packet(port, Operation::ReadWrite, b"x");
        harness.server.handle_packet(&bad, &mut harness.service);
    }
    harness.sink.capacity = 3;
    harness
        .server
        .flush(&mut harness.sink, &mut harness.service);
    assert_eq!(harness.sink.take().len(), 3);
    harness.sink.capacity = usize::MAX;
    harness
        .server
        .flush(&mut harness.sink, &mut harness.service);
    assert_eq!(harness.sink.take().len(), 5);
    let statistics = harness.server.statistics();
    assert_eq!(statistics.resets_sent, 8);
    assert_eq!(statistics.resets_dropped, 12);
}

#[test]
fn a_full_sink_delays_but_loses_nothing() {
    let mut harness = Harness::new();
    harness.sink.capacity = 0;
    harness
        .server
        .handle_packet(&packet(8, Operation::Request, &[]), &mut harness.service);
    harness.server.handle_packet(
        &packet(8, Operation::ReadWrite, b"data"),
        &mut harness.service,
    );
    harness
        .server
        .flush(&mut harness.sink, &mut harness.service);
    assert!(harness.sink.take().is_empty());
    harness.sink.capacity = 1;
    harness
        .server
        .flush(&mut harness.sink, &mut harness.service);
    assert_eq!(ops(&harness.sink.take()), [Some(Operation::Response)]);
    harness.sink.capacity = usize::MAX;
    harness
        .server
        .flush(&mut harness.sink, &mut harness.service);
    let replies = harness.sink.take();
    assert_eq!(ops(&replies), [Some(Operation::ReadWrite)]);
    assert_eq!(replies[0].1, b"data");
}

/// Hands out queued packets, as the channel ring would.
struct Source {
    packets: std::collections::VecDeque<Vec<u8>>,
}

impl PacketSource for Source {
    fn receive(&mut self, buffer: &mut [u8]) -> Option<usize> {
        let packet = self.packets.pop_front()?;
        let count = packet.len().min(buffer.len());
        buffer[..count].copy_from_slice(&packet[..count]);
        Some(packet.len())
    }
}

#[test]
fn poll_serves_a_source_and_refuses_oversized_packets() {
    let mut harness = Harness::new();
    let mut source = Source {
        packets: [
            packet(1, Operation::Request, &[]),
            packet(1, Operation::ReadWrite, b"ping"),
            packet(2, Operation::ReadWrite, &vec![0; MAX_RECEIVE_PACKET]),
        ]
        .into(),
    };
    let more = harness
        .server
        .poll(&mut source, &mut harness.sink, &mut harness.service);
    assert!(!more);
    let replies = harness.sink.take();
    assert_eq!(
        ops(&replies),
        [
            Some(Operation::Reset),
            Some(Operation::Response),
            Some(Operation::ReadWrite)
        ]
    );
    assert_eq!(replies[0].0.destination_port, 2);
    assert_eq!(replies[2].1, b"ping");

    source.packets = (0..PACKETS_PER_POLL + 1)
        .map(|_| packet(1, Operation::CreditUpdate, &[]))
        .collect();
    assert!(harness
        .server
        .poll(&mut source, &mut harness.sink, &mut harness.service));
}

#[test]
fn random_garbage_never_panics() {
    let mut harness = Harness::new();
    harness.connect(1);
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let valid = packet(1, Operation::ReadWrite, b"0123456789");
    for round in 0..20_000 {
        let mut bytes = valid.clone();
        if round % 2 == 0 {
            // Mutate a few bytes of a valid packet.
            for _ in 0..(next() % 4 + 1) {
                let index = (next() as usize) % bytes.len();
                bytes[index] = next() as u8;
            }
            bytes.truncate(bytes.len() - (next() as usize % 3));
        } else {
            let length = (next() as usize) % 80;
            bytes = (0..length).map(|_| next() as u8).collect();
        }
        harness.server.handle_packet(&bytes, &mut harness.service);
        if round % 7 == 0 {
            harness
                .server
                .flush(&mut harness.sink, &mut harness.service);
            harness.sink.packets.clear();
        }
    }
}
