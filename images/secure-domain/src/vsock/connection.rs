//! One vsock stream connection: its addresses, its bounded byte buffers in both directions and
//! the credit arithmetic of virtio 1.2 section 5.10.6.3.1 (`buf_alloc`, `fwd_cnt`, `tx_cnt`,
//! all 32-bit counters that wrap).

use heapless::Vec;

use super::header::{PacketHeader, SHUTDOWN_BOTH, SHUTDOWN_RECEIVE};

/// Receive buffer per connection, advertised to the peer as `buf_alloc`: the peer may have at
/// most this many bytes unconsumed by the service. It holds at least one whole keystore request.
pub const RECEIVE_BUFFER_SIZE: usize = 4096;
/// Bytes the service may have queued for the peer per connection.
pub const SEND_BUFFER_SIZE: usize = 1024;

/// Bytes the service writes for the peer; the server sends them within the peer's credit.
#[derive(Default)]
pub struct SendBuffer {
    bytes: Vec<u8, SEND_BUFFER_SIZE>,
}

/// The send buffer has less room than the bytes offered; nothing was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendBufferFull;

impl SendBuffer {
    pub const fn new() -> Self {
        Self { bytes: Vec::new() }
    }

    /// Room left, in bytes.
    pub fn free(&self) -> usize {
        SEND_BUFFER_SIZE - self.bytes.len()
    }

    /// Queues all of `bytes` or, if they do not fit, none of them.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), SendBufferFull> {
        self.bytes
            .extend_from_slice(bytes)
            .map_err(|_| SendBufferFull)
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes
    }

    /// Forgets the first `count` bytes (sent, or discarded).
    pub fn remove_front(&mut self, count: usize) {
        remove_front(&mut self.bytes, count);
    }

    pub(super) fn clear(&mut self) {
        self.bytes.clear();
    }
}

/// Drops the first `count` bytes (all of them if there are fewer), keeping the rest in order.
fn remove_front<const N: usize>(bytes: &mut Vec<u8, N>, count: usize) {
    let count = count.min(bytes.len());
    bytes.copy_within(count.., 0);
    bytes.truncate(bytes.len() - count);
}

/// Where a connection's packets go and come from: the peer's (CID, port) and our port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub peer_cid: u64,
    pub peer_port: u32,
    pub local_port: u32,
}

impl Endpoints {
    /// The connection an incoming packet belongs to.
    pub fn of_incoming(header: &PacketHeader) -> Self {
        Self {
            peer_cid: header.source_cid,
            peer_port: header.source_port,
            local_port: header.destination_port,
        }
    }
}

/// An established connection and what is left to do on it.
pub struct Connection<Session> {
    pub endpoints: Endpoints,
    /// Bytes received and not yet consumed by the service.
    pub received: Vec<u8, RECEIVE_BUFFER_SIZE>,
    pub to_send: SendBuffer,
    /// Our `fwd_cnt`: bytes the service has consumed since the connection opened.
    pub forwarded: u32,
    /// The `fwd_cnt` in the last packet we sent: the peer knows about that much room.
    pub advertised_forwarded: u32,
    /// Our `tx_cnt`: payload bytes sent to the peer.
    pub sent: u32,
    /// The peer's `buf_alloc` and `fwd_cnt`, from its latest packet.
    pub peer_buffer_allocation: u32,
    pub peer_forwarded: u32,
    /// SHUTDOWN flags the peer has sent so far.
    pub peer_shutdown: u32,
    /// The RESPONSE accepting the connection is still to be sent.
    pub response_pending: bool,
    /// The peer asked for our credit (CREDIT_REQUEST).
    pub credit_update_pending: bool,
    /// The connection ends: an RST is to be sent, then the slot is free.
    pub reset_pending: bool,
    /// The service's own state for this connection.
    pub session: Session,
}

impl<Session: Default> Connection<Session> {
    /// A connection accepted from the peer's REQUEST.
    pub fn accept(request: &PacketHeader) -> Self {
        Self {
            endpoints: Endpoints::of_incoming(request),
            received: Vec::new(),
            to_send: SendBuffer::new(),
            forwarded: 0,
            advertised_forwarded: 0,
            sent: 0,
            peer_buffer_allocation: request.buffer_allocation,
            peer_forwarded: request.forwarded_count,
            peer_shutdown: 0,
            response_pending: true,
            credit_update_pending: false,
            reset_pending: false,
            session: Session::default(),
        }
    }
}

impl<Session> Connection<Session> {
    /// Every packet from the peer carries its current credit information.
    pub fn update_peer_credit(&mut self, header: &PacketHeader) {
        self.peer_buffer_allocation = header.buffer_allocation;
        self.peer_forwarded = header.forwarded_count;
    }

    /// Payload bytes the peer can take now: its buffer minus what is in flight. A peer that
    /// claims to have consumed more than we sent gets nothing until it makes sense again.
    pub fn peer_credit(&self) -> u32 {
        let in_flight = self.sent.wrapping_sub(self.peer_forwarded);
        self.peer_buffer_allocation.saturating_sub(in_flight)
    }

    /// Whether `length` more received bytes fit the credit we advertised.
    pub fn has_room_for(&self, length: usize) -> bool {
        length <= RECEIVE_BUFFER_SIZE - self.received.len()
    }

    /// The service consumed `count` received bytes.
    pub fn consume(&mut self, count: usize) {
        let count = count.min(self.received.len());
        remove_front(&mut self.received, count);
        // At most RECEIVE_BUFFER_SIZE, so the conversion is exact.
        self.forwarded = self.forwarded.wrapping_add(count as u32);
    }

    /// Ends the connection: nothing more is delivered or sent except the RST.
    pub fn reset(&mut self) {
        self.reset_pending = true;
        self.received.clear();
        self.to_send.clear();
    }

    pub fn peer_receives(&self) -> bool {
        self.peer_shutdown & SHUTDOWN_RECEIVE == 0
    }

    pub fn peer_shut_both(&self) -> bool {
        self.peer_shutdown & SHUTDOWN_BOTH == SHUTDOWN_BOTH
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_buffer_takes_all_or_nothing() {
        let mut buffer = SendBuffer::new();
        assert_eq!(buffer.write(&[1; SEND_BUFFER_SIZE - 2]), Ok(()));
        assert_eq!(buffer.write(&[2; 3]), Err(SendBufferFull));
        assert_eq!(buffer.free(), 2);
        buffer.remove_front(SEND_BUFFER_SIZE - 3);
        assert_eq!(buffer.as_slice(), &[1]);
    }

    #[test]
    fn credit_counts_bytes_in_flight_and_wraps() {
        let request = PacketHeader {
            buffer_allocation: 100,
            forwarded_count: u32::MAX - 9,
            ..PacketHeader::default()
        };
        let mut connection = Connection::<()>::accept(&request);
        connection.sent = u32::MAX - 9;
        assert_eq!(connection.peer_credit(), 100);
        connection.sent = connection.sent.wrapping_add(30);
        assert_eq!(connection.peer_credit(), 70);
        connection.sent = connection.sent.wrapping_add(100);
        assert_eq!(connection.peer_credit(), 0);
    }

    #[test]
    fn consuming_advances_fwd_cnt() {
        let mut connection = Connection::<()>::accept(&PacketHeader::default());
        connection.received.extend_from_slice(b"abcdef").unwrap();
        connection.consume(4);
        assert_eq!(connection.received.as_slice(), b"ef");
        assert_eq!(connection.forwarded, 4);
        connection.consume(10);
        assert_eq!(connection.forwarded, 6);
        assert!(connection.has_room_for(RECEIVE_BUFFER_SIZE));
        assert!(!connection.has_room_for(RECEIVE_BUFFER_SIZE + 1));
    }
}
