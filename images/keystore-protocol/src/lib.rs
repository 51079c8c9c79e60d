//! The keystore's wire format (docs/KEYSTORE.md), shared by the secure domain's service and the
//! Linux client `keystore-cli` so the two cannot drift.
//!
//! Every message is a frame: a 1-byte code, a 2-byte little-endian payload length and the
//! payload. A request's code is its [`Operation`], a response's its [`Status`]. Frames travel
//! over a vsock stream, which may cut them anywhere: [`split_frame`] finds a whole one at the
//! start of the bytes received so far.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

mod request;
mod response;

pub use request::is_valid_key_name;
pub use request::{Operation, Request};
pub use response::{Response, ResponseError, Status};

/// The secure domain's vsock context ID: the address `keystore-cli` connects to. CIDs 0-2 are
/// reserved (hypervisor, local, host), so this is the first one a guest-side peer can have; the
/// Android-style guest's own CID (in its virtio-vsock device's configuration) must differ.
pub const SECURE_DOMAIN_CID: u32 = 3;
/// The vsock port the keystore listens on.
pub const KEYSTORE_PORT: u32 = 5555;

/// Bytes before a frame's payload: the code and the length.
pub const FRAME_HEADER_SIZE: usize = 3;
/// The largest request payload the service accepts; longer requests get [`Status::TooLarge`].
pub const MAX_REQUEST_PAYLOAD: usize = 1024;
/// The largest request frame the service accepts.
pub const MAX_REQUEST_FRAME: usize = FRAME_HEADER_SIZE + MAX_REQUEST_PAYLOAD;
/// Most bytes one [`Operation::Random`] request may ask for.
pub const MAX_RANDOM_BYTES: usize = 256;
/// The largest response payload (random bytes are the longest).
pub const MAX_RESPONSE_PAYLOAD: usize = MAX_RANDOM_BYTES;
/// The largest response frame.
pub const MAX_RESPONSE_FRAME: usize = FRAME_HEADER_SIZE + MAX_RESPONSE_PAYLOAD;
/// Longest key name for [`Operation::Hmac`].
pub const MAX_KEY_NAME: usize = 32;

/// Sizes of the successful responses' payloads.
pub const PUBLIC_KEY_SIZE: usize = 32;
pub const SIGNATURE_SIZE: usize = 64;
pub const MAC_SIZE: usize = 32;
pub const COUNTER_SIZE: usize = 8;

/// A frame's first three bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// The operation (request) or status (response), not yet checked.
    pub code: u8,
    /// Payload bytes that follow.
    pub length: u16,
}

impl FrameHeader {
    /// The header at the start of `bytes`, if at least [`FRAME_HEADER_SIZE`] bytes are there.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [code, low, high, ..] => Some(Self {
                code: *code,
                length: u16::from_le_bytes([*low, *high]),
            }),
            _ => None,
        }
    }

    pub fn to_bytes(self) -> [u8; FRAME_HEADER_SIZE] {
        let [low, high] = self.length.to_le_bytes();
        [self.code, low, high]
    }
}

/// A whole frame found at the start of a stream's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub code: u8,
    pub payload: &'a [u8],
    /// Bytes the frame takes from the stream (header and payload).
    pub size: usize,
}

/// The first frame of `bytes`, or `None` while it is incomplete.
pub fn split_frame(bytes: &[u8]) -> Option<Frame<'_>> {
    let header = FrameHeader::parse(bytes)?;
    let size = FRAME_HEADER_SIZE + usize::from(header.length);
    let payload = bytes.get(FRAME_HEADER_SIZE..size)?;
    Some(Frame {
        code: header.code,
        payload,
        size,
    })
}

/// Why a frame could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer holds fewer bytes than the frame needs.
    BufferTooSmall { needed: usize, available: usize },
    /// The payload is longer than a frame can say (or than the protocol allows).
    PayloadTooLong { length: usize, limit: usize },
    /// A field is outside what the protocol allows (key name length, random count).
    InvalidField(&'static str),
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BufferTooSmall { needed, available } => write!(
                formatter,
                "the frame needs {needed} bytes but the buffer has {available}"
            ),
            Self::PayloadTooLong { length, limit } => write!(
                formatter,
                "a payload of {length} bytes is longer than the limit of {limit}"
            ),
            Self::InvalidField(what) => write!(formatter, "invalid {what}"),
        }
    }
}

/// Writes a frame whose payload is the concatenation of `parts` into `output`; returns its size.
pub fn encode_frame(code: u8, parts: &[&[u8]], output: &mut [u8]) -> Result<usize, EncodeError> {
    let length: usize = parts.iter().map(|part| part.len()).sum();
    let length_field = u16::try_from(length).map_err(|_| EncodeError::PayloadTooLong {
        length,
        limit: usize::from(u16::MAX),
    })?;
    let needed = FRAME_HEADER_SIZE + length;
    let available = output.len();
    let frame = output
        .get_mut(..needed)
        .ok_or(EncodeError::BufferTooSmall { needed, available })?;
    let header = FrameHeader {
        code,
        length: length_field,
    };
    frame[..FRAME_HEADER_SIZE].copy_from_slice(&header.to_bytes());
    let mut offset = FRAME_HEADER_SIZE;
    for part in parts {
        frame[offset..offset + part.len()].copy_from_slice(part);
        offset += part.len();
    }
    Ok(needed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_code_then_little_endian_length() {
        let header = FrameHeader {
            code: 2,
            length: 0x0102,
        };
        assert_eq!(header.to_bytes(), [2, 0x02, 0x01]);
        assert_eq!(FrameHeader::parse(&[2, 0x02, 0x01, 9]), Some(header));
        assert_eq!(FrameHeader::parse(&[2, 0x02]), None);
    }

    #[test]
    fn split_frame_waits_for_the_whole_payload() {
        let bytes = [5, 2, 0, 0xaa, 0xbb, 7];
        assert_eq!(split_frame(&bytes[..4]), None);
        let frame = split_frame(&bytes).unwrap();
        assert_eq!(frame.code, 5);
        assert_eq!(frame.payload, &[0xaa, 0xbb]);
        assert_eq!(frame.size, 5);
        assert_eq!(split_frame(&[]), None);
    }

    #[test]
    fn encode_frame_joins_parts_and_checks_room() {
        let mut buffer = [0u8; 8];
        let size = encode_frame(3, &[b"ab", b"c"], &mut buffer).unwrap();
        assert_eq!(&buffer[..size], &[3, 3, 0, b'a', b'b', b'c']);
        assert_eq!(
            encode_frame(3, &[b"abcdef"], &mut buffer),
            Err(EncodeError::BufferTooSmall {
                needed: 9,
                available: 8
            })
        );
        let huge = [0u8; 70_000];
        assert!(matches!(
            encode_frame(3, &[&huge], &mut buffer),
            Err(EncodeError::PayloadTooLong { length: 70_000, .. })
        ));
    }
}
