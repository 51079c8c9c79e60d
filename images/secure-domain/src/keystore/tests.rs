//! The keystore's operations, its refusals, and a whole exchange through the vsock server.

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use hyp_arm_keystore_protocol::{
    FrameHeader, MAX_REQUEST_FRAME, MAX_RESPONSE_FRAME, SECURE_DOMAIN_CID,
};

use super::*;
use crate::vsock::header::{Operation, TYPE_STREAM};
use crate::vsock::{PacketHeader, PacketSink, SinkFull, VsockServer, HEADER_SIZE};

fn keystore() -> Keystore {
    Keystore::new(&BOARD_SECRET, 12345).unwrap()
}

fn encode(request: Request<'_>) -> Vec<u8> {
    let mut frame = vec![0u8; MAX_REQUEST_FRAME];
    let size = request.encode(&mut frame).unwrap();
    frame.truncate(size);
    frame
}

/// Feeds `input` to the service at once and returns every response frame as (status, payload).
fn exchange(keystore: &mut Keystore, input: &[u8]) -> Vec<(Status, Vec<u8>)> {
    let mut session = KeystoreSession::default();
    let mut output = SendBuffer::new();
    let mut responses = Vec::new();
    let mut offset = 0;
    loop {
        offset += keystore.serve(&mut session, &input[offset..], &mut output);
        let bytes = output_bytes(&mut output);
        if bytes.is_empty() {
            break;
        }
        responses.extend(parse_responses(&bytes));
    }
    assert_eq!(offset, input.len(), "the service left input unconsumed");
    responses
}

fn output_bytes(output: &mut SendBuffer) -> Vec<u8> {
    let bytes = output.as_slice().to_vec();
    output.remove_front(bytes.len());
    bytes
}

fn parse_responses(mut bytes: &[u8]) -> Vec<(Status, Vec<u8>)> {
    let mut responses = Vec::new();
    while !bytes.is_empty() {
        let response = Response::parse(bytes).unwrap();
        responses.push((response.status, response.payload.to_vec()));
        bytes = &bytes[FRAME_HEADER_SIZE + response.payload.len()..];
    }
    responses
}

fn single(keystore: &mut Keystore, request: Request<'_>) -> (Status, Vec<u8>) {
    let mut responses = exchange(keystore, &encode(request));
    assert_eq!(responses.len(), 1);
    responses.remove(0)
}

#[test]
fn signatures_verify_against_the_public_key() {
    let mut keystore = keystore();
    let (status, public_key) = single(&mut keystore, Request::PublicKey);
    assert_eq!(status, Status::Ok);
    let public_key = VerifyingKey::from_bytes(&public_key.try_into().unwrap()).unwrap();
    for message in [
        &b""[..],
        b"hello from android",
        &[0xa5; MAX_REQUEST_PAYLOAD],
    ] {
        let (status, signature) = single(&mut keystore, Request::Sign { message });
        assert_eq!(status, Status::Ok);
        let signature = Signature::from_bytes(&signature.try_into().unwrap());
        assert!(public_key.verify(message, &signature).is_ok());
        assert!(public_key.verify(b"something else", &signature).is_err());
    }
}

#[test]
fn keys_depend_on_the_board_secret_only() {
    let first = Keystore::new(&BOARD_SECRET, 1).unwrap();
    let later_boot = Keystore::new(&BOARD_SECRET, 999_999).unwrap();
    let other_board = Keystore::new(b"other board secret", 1).unwrap();
    assert_eq!(first.public_key(), later_boot.public_key());
    assert_ne!(first.public_key(), other_board.public_key());
}

#[test]
fn hmac_uses_the_named_derived_key() {
    let mut keystore = keystore();
    let hmac = |keystore: &mut Keystore, key_name: &[u8], message: &[u8]| {
        let (status, mac) = single(keystore, Request::Hmac { key_name, message });
        assert_eq!(status, Status::Ok);
        mac
    };
    let expected = device_key::hmac_sha256(
        &DeviceKey::derive(&BOARD_SECRET).hmac_key(b"auth").unwrap(),
        b"token",
    );
    assert_eq!(hmac(&mut keystore, b"auth", b"token"), expected);
    assert_ne!(hmac(&mut keystore, b"other", b"token"), expected);
    assert_ne!(hmac(&mut keystore, b"auth", b"token2"), expected);
}

#[test]
fn counter_only_goes_up_and_never_wraps() {
    let mut keystore = keystore();
    let mut previous = 0;
    for _ in 0..5 {
        let (status, value) = single(&mut keystore, Request::Counter);
        assert_eq!(status, Status::Ok);
        let value = u64::from_le_bytes(value.try_into().unwrap());
        assert_eq!(value, previous + 1);
        previous = value;
    }
    assert_eq!(keystore.counter(), 5);
    keystore.counter = u64::MAX;
    assert_eq!(
        single(&mut keystore, Request::Counter),
        (Status::CounterExhausted, vec![])
    );
    assert_eq!(keystore.counter(), u64::MAX);
}

#[test]
fn random_bytes_have_the_length_asked_and_differ() {
    let mut keystore = keystore();
    let (status, first) = single(&mut keystore, Request::Random { count: 256 });
    assert_eq!(status, Status::Ok);
    assert_eq!(first.len(), 256);
    let (_, second) = single(&mut keystore, Request::Random { count: 256 });
    assert_ne!(first, second);
    keystore.mix_entropy(42);
    let (_, one) = single(&mut keystore, Request::Random { count: 1 });
    assert_eq!(one.len(), 1);
    // Different boot timer values give different streams.
    let mut other = Keystore::new(&BOARD_SECRET, 12346).unwrap();
    let (_, other_first) = single(&mut other, Request::Random { count: 256 });
    assert_ne!(first, other_first);
}

#[test]
fn malformed_requests_get_error_statuses() {
    let mut keystore = keystore();
    let cases: [(&str, Vec<u8>, Status); 8] = [
        (
            "unknown operation",
            vec![0x7f, 0, 0],
            Status::UnknownOperation,
        ),
        ("operation 0", vec![0, 0, 0], Status::UnknownOperation),
        ("payload on PUBLIC_KEY", vec![1, 1, 0, 9], Status::BadLength),
        ("HMAC without name", vec![3, 0, 0], Status::BadLength),
        (
            "HMAC name past the end",
            vec![3, 2, 0, 9, b'a'],
            Status::BadLength,
        ),
        (
            "HMAC bad name",
            vec![3, 3, 0, 1, 0x07, b'm'],
            Status::BadKeyName,
        ),
        ("RANDOM 0 bytes", vec![4, 2, 0, 0, 0], Status::BadArgument),
        ("RANDOM one byte long", vec![4, 1, 0, 8], Status::BadLength),
    ];
    for (what, request, status) in cases {
        assert_eq!(
            exchange(&mut keystore, &request),
            [(status, vec![])],
            "{what}"
        );
    }
    assert_eq!(keystore.statistics().refused, 8);
}

#[test]
fn oversized_requests_are_refused_and_skipped() {
    let mut keystore = keystore();
    let mut session = KeystoreSession::default();
    let mut output = SendBuffer::new();
    let announced = MAX_REQUEST_PAYLOAD + 1;
    let header = FrameHeader {
        code: 2,
        length: announced as u16,
    };
    // Answered as soon as the header is there, before the payload arrives.
    assert_eq!(
        keystore.serve(&mut session, &header.to_bytes(), &mut output),
        3
    );
    assert_eq!(
        parse_responses(&output_bytes(&mut output)),
        [(Status::TooLarge, vec![])]
    );
    // The payload arrives in pieces and is skipped; the request after it is served.
    let payload = vec![0xee; announced];
    let mut skipped = 0;
    for piece in payload.chunks(300) {
        skipped += keystore.serve(&mut session, piece, &mut output);
    }
    assert_eq!(skipped, announced);
    assert!(output.is_empty());
    let request = encode(Request::Counter);
    assert_eq!(
        keystore.serve(&mut session, &request, &mut output),
        request.len()
    );
    assert_eq!(
        parse_responses(&output_bytes(&mut output)),
        [(Status::Ok, 1u64.to_le_bytes().to_vec())]
    );
    // The largest announcement a frame can make is skipped the same way.
    let huge = FrameHeader {
        code: 2,
        length: u16::MAX,
    };
    assert_eq!(
        exchange(
            &mut keystore,
            &[&huge.to_bytes()[..], &vec![0; 65535]].concat()
        ),
        [(Status::TooLarge, vec![])]
    );
}

#[test]
fn requests_wait_for_their_last_byte_and_for_output_room() {
    let mut keystore = keystore();
    let mut session = KeystoreSession::default();
    let mut output = SendBuffer::new();
    let request = encode(Request::Sign { message: b"split" });
    for end in 0..request.len() {
        assert_eq!(
            keystore.serve(&mut session, &request[..end], &mut output),
            0
        );
    }
    assert!(output.is_empty());
    // With less room than the largest response, nothing is taken.
    output
        .write(&vec![0; output.free() - MAX_RESPONSE_FRAME + 1])
        .unwrap();
    assert_eq!(keystore.serve(&mut session, &request, &mut output), 0);
    output_bytes(&mut output);
    assert_eq!(
        keystore.serve(&mut session, &request, &mut output),
        request.len()
    );
}

#[test]
fn garbage_streams_never_panic() {
    let mut keystore = keystore();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut session = KeystoreSession::default();
    let mut output = SendBuffer::new();
    for _ in 0..2_000 {
        let mut bytes = Vec::new();
        for _ in 0..64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Small lengths now and then, so that frames complete.
            bytes.push(if state.is_multiple_of(5) {
                1
            } else {
                state as u8
            });
        }
        let consumed = keystore.serve(&mut session, &bytes, &mut output);
        assert!(consumed <= bytes.len());
        output_bytes(&mut output);
    }
}

/// Collects the server's packets.
#[derive(Default)]
struct Packets(Vec<Vec<u8>>);

impl PacketSink for Packets {
    fn send(&mut self, packet: &[u8]) -> Result<(), SinkFull> {
        self.0.push(packet.to_vec());
        Ok(())
    }
}

#[test]
fn a_linux_client_signs_through_the_vsock_server() {
    let mut keystore = keystore();
    let mut server = Box::new(VsockServer::<KeystoreSession>::new(
        u64::from(SECURE_DOMAIN_CID),
        hyp_arm_keystore_protocol::KEYSTORE_PORT,
    ));
    let mut sink = Packets::default();
    let guest = |operation: Operation, payload: &[u8]| {
        let header = PacketHeader {
            source_cid: 42,
            destination_cid: u64::from(SECURE_DOMAIN_CID),
            source_port: 50000,
            destination_port: hyp_arm_keystore_protocol::KEYSTORE_PORT,
            length: payload.len() as u32,
            socket_type: TYPE_STREAM,
            op: operation.to_wire(),
            flags: 0,
            buffer_allocation: 256 * 1024,
            forwarded_count: 0,
        };
        [&header.to_bytes()[..], payload].concat()
    };
    server.handle_packet(&guest(Operation::Request, &[]), &mut keystore);
    // Two requests in one write, as a client may pipeline them.
    let requests = [
        encode(Request::PublicKey),
        encode(Request::Sign {
            message: b"over vsock",
        }),
    ]
    .concat();
    server.handle_packet(&guest(Operation::ReadWrite, &requests), &mut keystore);
    server.flush(&mut sink, &mut keystore);
    let stream: Vec<u8> = sink
        .0
        .iter()
        .filter(|packet| PacketHeader::parse(packet).unwrap().op == Operation::ReadWrite.to_wire())
        .flat_map(|packet| packet[HEADER_SIZE..].to_vec())
        .collect();
    let responses = parse_responses(&stream);
    assert_eq!(responses.len(), 2);
    let public_key = VerifyingKey::from_bytes(&responses[0].1.clone().try_into().unwrap()).unwrap();
    let signature = Signature::from_bytes(&responses[1].1.clone().try_into().unwrap());
    assert!(public_key.verify(b"over vsock", &signature).is_ok());
}
