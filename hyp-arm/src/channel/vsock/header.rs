//! The virtio-vsock packet header (virtio 1.2 section 5.10.6) and the checks hyp-arm makes on
//! every packet it moves: only what isolation needs (who sends to whom, and framing); the
//! protocol itself (connections, credit) is the backend's business.

use core::fmt;

use hyp_arm_channel_ring::{MAX_PAYLOAD, VSOCK_HEADER_SIZE};

/// VIRTIO_VSOCK_TYPE_STREAM, the only type offered (no VIRTIO_VSOCK_F_SEQPACKET).
pub const TYPE_STREAM: u16 = 1;
/// VIRTIO_VSOCK_OP_REQUEST..=VIRTIO_VSOCK_OP_CREDIT_REQUEST.
pub const OPERATION_FIRST: u16 = 1;
pub const OPERATION_LAST: u16 = 7;
/// VIRTIO_VSOCK_OP_RST.
pub const OPERATION_RESET: u16 = 3;

/// Which way a packet was going.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketDirection {
    /// Transmitted by the guest, for the backend.
    FromGuest,
    /// From the backend's ring, for the guest.
    ToGuest,
}

impl fmt::Display for PacketDirection {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::FromGuest => "packet from the guest",
            Self::ToGuest => "packet for the guest",
        })
    }
}

/// A packet refused and dropped; the device keeps running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketError {
    /// Shorter than the 44-byte header.
    TooShort {
        direction: PacketDirection,
        length: u64,
    },
    /// The header's `len` is above [`MAX_PAYLOAD`].
    TooLarge {
        direction: PacketDirection,
        length: u32,
    },
    /// The header's `len` differs from the payload the buffers (or the message) hold.
    LengthMismatch {
        direction: PacketDirection,
        header: u32,
        actual: u64,
    },
    /// Not VIRTIO_VSOCK_TYPE_STREAM.
    BadType {
        direction: PacketDirection,
        packet_type: u16,
    },
    /// Not a defined operation.
    BadOperation {
        direction: PacketDirection,
        operation: u16,
    },
    /// The source CID is not the sender's own.
    WrongSource {
        direction: PacketDirection,
        cid: u64,
    },
    /// The destination CID is not the receiver's.
    WrongDestination {
        direction: PacketDirection,
        cid: u64,
    },
    /// The guest's receive buffer cannot hold the packet.
    ReceiveBufferTooSmall { needed: u64, available: u64 },
}

impl fmt::Display for PacketError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooShort { direction, length } => write!(
                formatter,
                "vsock {direction} of {length} bytes is shorter than its {VSOCK_HEADER_SIZE}-byte header"
            ),
            Self::TooLarge { direction, length } => write!(
                formatter,
                "vsock {direction} carries {length} bytes, more than {MAX_PAYLOAD}"
            ),
            Self::LengthMismatch {
                direction,
                header,
                actual,
            } => write!(
                formatter,
                "vsock {direction} says {header} payload bytes but has {actual}"
            ),
            Self::BadType {
                direction,
                packet_type,
            } => write!(formatter, "vsock {direction} has type {packet_type}, not stream"),
            Self::BadOperation {
                direction,
                operation,
            } => write!(formatter, "vsock {direction} has unknown operation {operation}"),
            Self::WrongSource { direction, cid } => {
                write!(formatter, "vsock {direction} claims source CID {cid}")
            }
            Self::WrongDestination { direction, cid } => {
                write!(formatter, "vsock {direction} is addressed to CID {cid}")
            }
            Self::ReceiveBufferTooSmall { needed, available } => write!(
                formatter,
                "vsock packet of {needed} bytes does not fit the guest's {available}-byte receive buffer"
            ),
        }
    }
}

/// The fields of `struct virtio_vsock_hdr` hyp-arm looks at (all little-endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketHeader {
    pub bytes: [u8; VSOCK_HEADER_SIZE],
}

impl PacketHeader {
    fn u64_at(&self, offset: usize) -> u64 {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(&self.bytes[offset..offset + 8]);
        u64::from_le_bytes(bytes)
    }

    fn u32_at(&self, offset: usize) -> u32 {
        let mut bytes = [0; 4];
        bytes.copy_from_slice(&self.bytes[offset..offset + 4]);
        u32::from_le_bytes(bytes)
    }

    fn u16_at(&self, offset: usize) -> u16 {
        u16::from_le_bytes([self.bytes[offset], self.bytes[offset + 1]])
    }

    pub fn source_cid(&self) -> u64 {
        self.u64_at(0)
    }
    pub fn destination_cid(&self) -> u64 {
        self.u64_at(8)
    }
    pub fn source_port(&self) -> u32 {
        self.u32_at(16)
    }
    pub fn destination_port(&self) -> u32 {
        self.u32_at(20)
    }
    pub fn payload_length(&self) -> u32 {
        self.u32_at(24)
    }
    pub fn packet_type(&self) -> u16 {
        self.u16_at(28)
    }
    pub fn operation(&self) -> u16 {
        self.u16_at(30)
    }

    /// Checks a packet going `direction` from `source` to `destination` whose payload (the bytes
    /// after the header) is `payload` bytes long.
    pub fn check(
        &self,
        direction: PacketDirection,
        source: u64,
        destination: u64,
        payload: u64,
    ) -> Result<(), PacketError> {
        let length = self.payload_length();
        if length as usize > MAX_PAYLOAD {
            return Err(PacketError::TooLarge { direction, length });
        }
        if u64::from(length) != payload {
            return Err(PacketError::LengthMismatch {
                direction,
                header: length,
                actual: payload,
            });
        }
        let packet_type = self.packet_type();
        if packet_type != TYPE_STREAM {
            return Err(PacketError::BadType {
                direction,
                packet_type,
            });
        }
        let operation = self.operation();
        if !(OPERATION_FIRST..=OPERATION_LAST).contains(&operation) {
            return Err(PacketError::BadOperation {
                direction,
                operation,
            });
        }
        if self.source_cid() != source {
            return Err(PacketError::WrongSource {
                direction,
                cid: self.source_cid(),
            });
        }
        if self.destination_cid() != destination {
            return Err(PacketError::WrongDestination {
                direction,
                cid: self.destination_cid(),
            });
        }
        Ok(())
    }

    /// A header built from fields (for replies hyp-arm makes itself, and tests).
    pub fn new(
        source: (u64, u32),
        destination: (u64, u32),
        operation: u16,
        payload_length: u32,
    ) -> PacketHeader {
        let mut bytes = [0; VSOCK_HEADER_SIZE];
        bytes[0..8].copy_from_slice(&source.0.to_le_bytes());
        bytes[8..16].copy_from_slice(&destination.0.to_le_bytes());
        bytes[16..20].copy_from_slice(&source.1.to_le_bytes());
        bytes[20..24].copy_from_slice(&destination.1.to_le_bytes());
        bytes[24..28].copy_from_slice(&payload_length.to_le_bytes());
        bytes[28..30].copy_from_slice(&TYPE_STREAM.to_le_bytes());
        bytes[30..32].copy_from_slice(&operation.to_le_bytes());
        PacketHeader { bytes }
    }

    /// The RST that refuses this packet: back to its sender, from the address it tried to
    /// reach (what a vsock peer answers to a packet for no socket, 5.10.6.4).
    pub fn reset_reply(&self) -> PacketHeader {
        PacketHeader::new(
            (self.destination_cid(), self.destination_port()),
            (self.source_cid(), self.source_port()),
            OPERATION_RESET,
            0,
        )
    }
}
