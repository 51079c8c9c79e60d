//! The well-formed exchange after the faults: connect to the keystore (CID 3, port 5555; REQUEST
//! then RESPONSE), ask for its public key (docs/KEYSTORE.md, frames from
//! `hyp-arm-keystore-protocol`), read the answer, then close (SHUTDOWN both ways, RST back).

use hyp_arm_keystore_protocol::{
    Request, Response, ResponseError, Status, KEYSTORE_PORT, MAX_RESPONSE_FRAME, PUBLIC_KEY_SIZE,
    SECURE_DOMAIN_CID,
};

use super::device::Device;
use super::link::Link;
use super::packet::{operation, Header, SHUTDOWN_BOTH};
use super::Failure;
use crate::console::Line;

/// The guest's port for the exchange (below the fault cases' ports).
const LOCAL_PORT: u32 = 30_000;
/// How long the secure domain gets to answer each step. It shares the CPU and runs at a higher
/// priority, so it usually answers within the doorbell's interrupt; the bound allows for a busy
/// host.
const ANSWER_WAIT_MS: u64 = 5000;

/// Asks the keystore for its public key; returns whether a well-formed answer came.
pub fn ask_public_key(device: &Device) -> Result<bool, Failure> {
    let mut link = Link::open(device)?;
    let local = (link.cid, LOCAL_PORT);
    let remote = (u64::from(SECURE_DOMAIN_CID), KEYSTORE_PORT);
    link.send(&Header::stream(local, remote, operation::REQUEST), &[])?;
    loop {
        let Some(received) = link.receive(ANSWER_WAIT_MS)? else {
            return Err(Failure(
                "the keystore did not answer the connection request",
            ));
        };
        let header = received.header;
        link.recycle(received.buffer);
        match header.operation {
            operation::RESPONSE => break,
            operation::RESET => return Err(Failure("the keystore refused the connection (RST)")),
            // A credit update may come first.
            _ => continue,
        }
    }

    let mut request = [0; 8];
    let length = Request::PublicKey
        .encode(&mut request)
        .map_err(|_| Failure("cannot encode a PUBLIC_KEY request"))?;
    let mut read_write = Header::stream(local, remote, operation::READ_WRITE);
    read_write.length = length as u32;
    link.send(&read_write, &request[..length])?;

    let mut answer = [0; MAX_RESPONSE_FRAME];
    let mut filled = 0;
    loop {
        match Response::parse(&answer[..filled]) {
            Ok(_) => break,
            Err(ResponseError::Incomplete) => {}
            Err(_) => return Err(Failure("the keystore's answer is not a response frame")),
        }
        let Some(received) = link.receive(ANSWER_WAIT_MS)? else {
            return Err(Failure(
                "the keystore did not answer the PUBLIC_KEY request",
            ));
        };
        if received.header.operation == operation::READ_WRITE {
            filled += link.payload(&received, &mut answer[filled..]);
        }
        let reset = received.header.operation == operation::RESET;
        link.recycle(received.buffer);
        if reset {
            return Err(Failure(
                "the keystore reset the connection before answering",
            ));
        }
    }
    let key = Response::parse(&answer[..filled])
        .map_err(|_| Failure("the keystore's answer is not a response frame"))?;
    let answered = key.status == Status::Ok && key.payload.len() == PUBLIC_KEY_SIZE;
    print_key(key.status, key.payload);

    let mut shutdown = Header::stream(local, remote, operation::SHUTDOWN);
    shutdown.flags = SHUTDOWN_BOTH;
    link.send(&shutdown, &[])?;
    // The server frees the connection with an RST; its absence is not the faults' business.
    while let Some(received) = link.receive(ANSWER_WAIT_MS)? {
        let reset = received.header.operation == operation::RESET;
        link.recycle(received.buffer);
        if reset {
            break;
        }
    }
    Ok(answered)
}

/// `VSOCK-KEYSTORE status=<code> public-key=<hex>`.
fn print_key(status: Status, key: &[u8]) {
    let mut hex = [0u8; 2 * PUBLIC_KEY_SIZE];
    let digits = b"0123456789abcdef";
    for (index, &byte) in key.iter().take(PUBLIC_KEY_SIZE).enumerate() {
        hex[2 * index] = digits[usize::from(byte >> 4)];
        hex[2 * index + 1] = digits[usize::from(byte & 0xf)];
    }
    let length = 2 * key.len().min(PUBLIC_KEY_SIZE);
    Line::new()
        .text("VSOCK-KEYSTORE status=")
        .number(u64::from(status.code()))
        .text(" public-key=")
        .text(core::str::from_utf8(&hex[..length]).unwrap_or("?"))
        .print();
}
