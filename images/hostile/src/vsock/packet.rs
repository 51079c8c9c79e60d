//! The virtio-vsock packet header (virtio 1.2 section 5.10.6), 44 little-endian bytes.

/// Bytes of a header.
pub const HEADER_SIZE: usize = 44;
/// The largest payload a device takes (hyp-arm refuses longer ones).
pub const MAX_PAYLOAD: usize = 4096;
/// VIRTIO_VSOCK_TYPE_STREAM.
pub const TYPE_STREAM: u16 = 1;
/// Operations (5.10.6).
pub mod operation {
    pub const REQUEST: u16 = 1;
    pub const RESPONSE: u16 = 2;
    pub const RESET: u16 = 3;
    pub const SHUTDOWN: u16 = 4;
    pub const READ_WRITE: u16 = 5;
}
/// SHUTDOWN flags: no more receiving, no more sending.
pub const SHUTDOWN_BOTH: u32 = 3;
/// The receive buffer this guest advertises (`buf_alloc`).
pub const BUFFER_ALLOCATION: u32 = 4096;

/// A header's fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub source_cid: u64,
    pub destination_cid: u64,
    pub source_port: u32,
    pub destination_port: u32,
    pub length: u32,
    pub packet_type: u16,
    pub operation: u16,
    pub flags: u32,
    pub buffer_allocation: u32,
    pub forward_count: u32,
}

impl Header {
    /// A STREAM packet from `source` to `destination` (CID, port) with the guest's credit.
    pub fn stream(source: (u64, u32), destination: (u64, u32), operation: u16) -> Header {
        Header {
            source_cid: source.0,
            destination_cid: destination.0,
            source_port: source.1,
            destination_port: destination.1,
            length: 0,
            packet_type: TYPE_STREAM,
            operation,
            flags: 0,
            buffer_allocation: BUFFER_ALLOCATION,
            forward_count: 0,
        }
    }

    pub fn to_bytes(self) -> [u8; HEADER_SIZE] {
        let mut bytes = [0; HEADER_SIZE];
        bytes[0..8].copy_from_slice(&self.source_cid.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.destination_cid.to_le_bytes());
        bytes[16..20].copy_from_slice(&self.source_port.to_le_bytes());
        bytes[20..24].copy_from_slice(&self.destination_port.to_le_bytes());
        bytes[24..28].copy_from_slice(&self.length.to_le_bytes());
        bytes[28..30].copy_from_slice(&self.packet_type.to_le_bytes());
        bytes[30..32].copy_from_slice(&self.operation.to_le_bytes());
        bytes[32..36].copy_from_slice(&self.flags.to_le_bytes());
        bytes[36..40].copy_from_slice(&self.buffer_allocation.to_le_bytes());
        bytes[40..44].copy_from_slice(&self.forward_count.to_le_bytes());
        bytes
    }

    pub fn from_bytes(bytes: &[u8; HEADER_SIZE]) -> Header {
        let u64_at = |at: usize| {
            let mut word = [0; 8];
            word.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(word)
        };
        let u32_at = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        Header {
            source_cid: u64_at(0),
            destination_cid: u64_at(8),
            source_port: u32_at(16),
            destination_port: u32_at(20),
            length: u32_at(24),
            packet_type: u16_at(28),
            operation: u16_at(30),
            flags: u32_at(32),
            buffer_allocation: u32_at(36),
            forward_count: u32_at(40),
        }
    }

    /// Whether this is the RST a peer answers `sent` with: from where `sent` went, back to its
    /// sender.
    pub fn is_reset_for(&self, sent: &Header) -> bool {
        self.operation == operation::RESET
            && self.packet_type == TYPE_STREAM
            && self.length == 0
            && self.source_cid == sent.destination_cid
            && self.source_port == sent.destination_port
            && self.destination_cid == sent.source_cid
            && self.destination_port == sent.source_port
    }
}
