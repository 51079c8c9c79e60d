//! One connection to the keystore: request frames out, response frames in.

use std::fs::File;
use std::io::{Read, Write};
use std::time::Duration;

use hyp_arm_keystore_protocol::{
    FrameHeader, Request, Response, Status, FRAME_HEADER_SIZE, KEYSTORE_PORT, MAX_REQUEST_FRAME,
    MAX_REQUEST_PAYLOAD, MAX_RESPONSE_FRAME, SECURE_DOMAIN_CID,
};

use crate::vsock;

/// How long a connect, a write or a read may take before the client gives up.
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Client {
    socket: File,
}

impl Client {
    pub fn connect() -> Result<Self, String> {
        let socket =
            vsock::connect(SECURE_DOMAIN_CID, KEYSTORE_PORT, TIMEOUT).map_err(|error| {
                format!(
                    "cannot connect to the keystore at vsock CID {SECURE_DOMAIN_CID} port \
                 {KEYSTORE_PORT}: {error} (is vmw_vsock_virtio_transport loaded?)"
                )
            })?;
        Ok(Self { socket })
    }

    /// Sends `request` and returns the payload of a successful response.
    pub fn call(&mut self, request: &Request<'_>) -> Result<Vec<u8>, String> {
        let mut frame = [0u8; MAX_REQUEST_FRAME];
        let size = request
            .encode(&mut frame)
            .map_err(|error| format!("cannot encode the request: {error}"))?;
        let (status, payload) = self.exchange(&frame[..size])?;
        match status {
            Status::Ok => Ok(payload),
            refused => Err(format!(
                "the keystore refused the request: {refused} (status {})",
                refused.code()
            )),
        }
    }

    /// Sends raw bytes and reads one response frame.
    pub fn exchange(&mut self, bytes: &[u8]) -> Result<(Status, Vec<u8>), String> {
        self.socket
            .write_all(bytes)
            .map_err(|error| format!("cannot send the request: {error}"))?;
        let mut frame = vec![0u8; FRAME_HEADER_SIZE];
        self.read_exact(&mut frame)?;
        let header = FrameHeader::parse(&frame).ok_or("short response header")?;
        frame.resize(FRAME_HEADER_SIZE + usize::from(header.length), 0);
        if frame.len() > MAX_RESPONSE_FRAME {
            return Err(format!(
                "the keystore announced a {}-byte response, longer than any response",
                header.length
            ));
        }
        self.read_exact(&mut frame[FRAME_HEADER_SIZE..])?;
        let response = Response::parse(&frame).map_err(|error| error.to_string())?;
        Ok((response.status, response.payload.to_vec()))
    }

    fn read_exact(&mut self, buffer: &mut [u8]) -> Result<(), String> {
        self.socket
            .read_exact(buffer)
            .map_err(|error| format!("cannot read the response: {error}"))
    }
}

/// Each kind of malformed request the keystore must refuse, and the status it must answer.
fn faults() -> Vec<(&'static str, Vec<u8>, Status)> {
    let oversized_length = (MAX_REQUEST_PAYLOAD + 1) as u16;
    let mut oversized = FrameHeader {
        code: 2,
        length: oversized_length,
    }
    .to_bytes()
    .to_vec();
    oversized.resize(FRAME_HEADER_SIZE + usize::from(oversized_length), 0x55);
    vec![
        (
            "unknown operation",
            vec![0x7f, 0, 0],
            Status::UnknownOperation,
        ),
        ("payload on PUBLIC_KEY", vec![1, 1, 0, 0], Status::BadLength),
        (
            "HMAC name past the end",
            vec![3, 2, 0, 9, b'a'],
            Status::BadLength,
        ),
        (
            "HMAC unprintable name",
            vec![3, 3, 0, 1, 0x07, b'm'],
            Status::BadKeyName,
        ),
        (
            "RANDOM of 0 bytes",
            vec![4, 2, 0, 0, 0],
            Status::BadArgument,
        ),
        (
            "RANDOM count cut short",
            vec![4, 1, 0, 8],
            Status::BadLength,
        ),
        ("oversized SIGN", oversized, Status::TooLarge),
    ]
}

/// Sends every fault, then a well-formed request; all must be answered as expected.
pub fn check_faults(client: &mut Client) -> Result<String, String> {
    let faults = faults();
    for (what, bytes, expected) in &faults {
        let (status, _) = client.exchange(bytes)?;
        if status != *expected {
            return Err(format!(
                "{what}: the keystore answered `{status}`, expected `{expected}`"
            ));
        }
    }
    client
        .call(&Request::Random { count: 16 })
        .map_err(|error| format!("after the faults: {error}"))?;
    Ok(format!(
        "keystore: {} malformed requests refused, still serving",
        faults.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyp_arm_keystore_protocol::split_frame;

    #[test]
    fn every_fault_is_one_frame_the_protocol_refuses_as_expected() {
        for (what, bytes, expected) in faults() {
            let frame = split_frame(&bytes).unwrap();
            assert_eq!(frame.size, bytes.len(), "{what}");
            assert_eq!(
                Request::parse(frame.code, frame.payload),
                Err(expected),
                "{what}"
            );
        }
    }
}
