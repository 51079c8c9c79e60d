//! The virtio-vsock packet header (`struct virtio_vsock_hdr`, virtio 1.2 section 5.10.6): 44
//! bytes, every field little-endian, followed by `len` payload bytes.

/// Bytes of a packet header.
pub const HEADER_SIZE: usize = 44;

/// `type`: a connection-oriented byte stream, the only socket type served here
/// (`VIRTIO_VSOCK_TYPE_STREAM`; SEQPACKET is 2).
pub const TYPE_STREAM: u16 = 1;

/// `flags` of a SHUTDOWN packet: the sender will receive no more data.
pub const SHUTDOWN_RECEIVE: u32 = 1;
/// `flags` of a SHUTDOWN packet: the sender will send no more data.
pub const SHUTDOWN_SEND: u32 = 2;
/// Both directions shut.
pub const SHUTDOWN_BOTH: u32 = SHUTDOWN_RECEIVE | SHUTDOWN_SEND;

/// `op` values (virtio 1.2 section 5.10.6.3; `VIRTIO_VSOCK_OP_*` in Linux's
/// include/uapi/linux/virtio_vsock.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Connect.
    Request,
    /// Connection accepted.
    Response,
    /// Connection refused or torn down.
    Reset,
    /// One or both directions closed (`flags`).
    Shutdown,
    /// Data (the payload).
    ReadWrite,
    /// Unsolicited credit information (`buf_alloc`, `fwd_cnt`).
    CreditUpdate,
    /// Asks for a CREDIT_UPDATE.
    CreditRequest,
}

impl Operation {
    /// The operation of an `op` field, `None` for 0 (`VIRTIO_VSOCK_OP_INVALID`) and unknown ones.
    pub fn from_wire(op: u16) -> Option<Self> {
        Some(match op {
            1 => Self::Request,
            2 => Self::Response,
            3 => Self::Reset,
            4 => Self::Shutdown,
            5 => Self::ReadWrite,
            6 => Self::CreditUpdate,
            7 => Self::CreditRequest,
            _ => return None,
        })
    }

    pub fn to_wire(self) -> u16 {
        match self {
            Self::Request => 1,
            Self::Response => 2,
            Self::Reset => 3,
            Self::Shutdown => 4,
            Self::ReadWrite => 5,
            Self::CreditUpdate => 6,
            Self::CreditRequest => 7,
        }
    }
}

/// A packet header as it is on the wire; nothing in it is checked yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketHeader {
    pub source_cid: u64,
    pub destination_cid: u64,
    pub source_port: u32,
    pub destination_port: u32,
    /// Payload bytes that follow the header (`len`).
    pub length: u32,
    /// Socket type (`type`).
    pub socket_type: u16,
    /// Raw `op`; see [`Operation::from_wire`].
    pub op: u16,
    pub flags: u32,
    /// The sender's receive buffer size (`buf_alloc`).
    pub buffer_allocation: u32,
    /// Bytes the sender's application has consumed so far, wrapping (`fwd_cnt`).
    pub forwarded_count: u32,
}

impl PacketHeader {
    /// The header at the start of `packet`, or `None` if it is shorter than [`HEADER_SIZE`].
    pub fn parse(packet: &[u8]) -> Option<Self> {
        let bytes: &[u8; HEADER_SIZE] = packet.get(..HEADER_SIZE)?.try_into().ok()?;
        let u64_at = |offset: usize| {
            let mut field = [0u8; 8];
            field.copy_from_slice(&bytes[offset..offset + 8]);
            u64::from_le_bytes(field)
        };
        let u32_at = |offset: usize| {
            let mut field = [0u8; 4];
            field.copy_from_slice(&bytes[offset..offset + 4]);
            u32::from_le_bytes(field)
        };
        let u16_at = |offset: usize| u16::from_le_bytes([bytes[offset], bytes[offset + 1]]);
        Some(Self {
            source_cid: u64_at(0),
            destination_cid: u64_at(8),
            source_port: u32_at(16),
            destination_port: u32_at(20),
            length: u32_at(24),
            socket_type: u16_at(28),
            op: u16_at(30),
            flags: u32_at(32),
            buffer_allocation: u32_at(36),
            forwarded_count: u32_at(40),
        })
    }

    pub fn to_bytes(&self) -> [u8; HEADER_SIZE] {
        let mut bytes = [0u8; HEADER_SIZE];
        bytes[0..8].copy_from_slice(&self.source_cid.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.destination_cid.to_le_bytes());
        bytes[16..20].copy_from_slice(&self.source_port.to_le_bytes());
        bytes[20..24].copy_from_slice(&self.destination_port.to_le_bytes());
        bytes[24..28].copy_from_slice(&self.length.to_le_bytes());
        bytes[28..30].copy_from_slice(&self.socket_type.to_le_bytes());
        bytes[30..32].copy_from_slice(&self.op.to_le_bytes());
        bytes[32..36].copy_from_slice(&self.flags.to_le_bytes());
        bytes[36..40].copy_from_slice(&self.buffer_allocation.to_le_bytes());
        bytes[40..44].copy_from_slice(&self.forwarded_count.to_le_bytes());
        bytes
    }

    /// The RST answering this packet: addresses swapped, the same socket type (as Linux's
    /// `virtio_transport_reset_no_sock` does), no credit information.
    pub fn reset_reply(&self) -> Self {
        Self {
            source_cid: self.destination_cid,
            destination_cid: self.source_cid,
            source_port: self.destination_port,
            destination_port: self.source_port,
            length: 0,
            socket_type: self.socket_type,
            op: Operation::Reset.to_wire(),
            flags: 0,
            buffer_allocation: 0,
            forwarded_count: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_sit_where_the_specification_puts_them() {
        let header = PacketHeader {
            source_cid: 0x0102_0304_0506_0708,
            destination_cid: 3,
            source_port: 0x1122_3344,
            destination_port: 5555,
            length: 7,
            socket_type: TYPE_STREAM,
            op: Operation::ReadWrite.to_wire(),
            flags: 0xa0b0_c0d0,
            buffer_allocation: 0x0004_0000,
            forwarded_count: 0xdead_beef,
        };
        let bytes = header.to_bytes();
        assert_eq!(bytes[0], 0x08);
        assert_eq!(bytes[7], 0x01);
        assert_eq!(bytes[8], 3);
        assert_eq!(&bytes[16..20], &[0x44, 0x33, 0x22, 0x11]);
        assert_eq!(&bytes[20..24], &5555u32.to_le_bytes());
        assert_eq!(bytes[24], 7);
        assert_eq!(&bytes[28..32], &[1, 0, 5, 0]);
        assert_eq!(&bytes[40..44], &[0xef, 0xbe, 0xad, 0xde]);
        assert_eq!(PacketHeader::parse(&bytes), Some(header));
        assert_eq!(PacketHeader::parse(&bytes[..HEADER_SIZE - 1]), None);
    }

    #[test]
    fn operations_round_trip_and_reject_invalid() {
        for wire in 1..=7 {
            assert_eq!(
                Operation::from_wire(wire).map(Operation::to_wire),
                Some(wire)
            );
        }
        assert_eq!(Operation::from_wire(0), None);
        assert_eq!(Operation::from_wire(8), None);
    }
}
