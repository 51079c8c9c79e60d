//! The vsock stream protocol as a server (virtio 1.2 section 5.10.6, with the semantics of
//! Linux's net/vmw_vsock/virtio_transport_common.c): it listens on one port, accepts up to
//! [`MAX_CONNECTIONS`] connections, hands their bytes to a [`StreamService`] within the credit
//! it advertises, and sends the service's bytes back within the peer's credit.
//!
//! Raw packets (a 44-byte [`PacketHeader`] and its payload) come from a [`PacketSource`] and go
//! to a [`PacketSink`]: in the firmware, the shared-memory channel to hyp-arm, which moves them
//! to and from the Android-style guest's virtio-vsock device. All state is bounded; a packet
//! that breaks the protocol is answered with RST (never an RST to an RST) and cannot panic.

pub mod channel;
mod connection;
pub mod header;
#[cfg(test)]
mod tests;

pub use connection::{SendBuffer, SendBufferFull, RECEIVE_BUFFER_SIZE, SEND_BUFFER_SIZE};
pub use header::{PacketHeader, HEADER_SIZE};

use connection::{Connection, Endpoints};
use header::{Operation, SHUTDOWN_BOTH, TYPE_STREAM};
use heapless::Deque;

/// Connections served at once; a REQUEST beyond them is refused with RST.
pub const MAX_CONNECTIONS: usize = 4;
/// Most payload bytes in one packet we send. Linux's virtio-vsock driver fills its receive
/// queue with 4 KiB buffers; 1 KiB keeps our packets well inside them and the channel's slots.
pub const MAX_SEND_PAYLOAD: usize = 1024;
/// The largest packet accepted: a header and a receive buffer's worth of data, the most the
/// peer may send within our credit. Longer packets are refused with RST.
pub const MAX_RECEIVE_PACKET: usize = HEADER_SIZE + RECEIVE_BUFFER_SIZE;
/// RSTs for packets that belong to no connection, waiting for room in the sink. More are
/// dropped (counted): a peer flooding us with garbage does not get an answer to each.
const PENDING_RESETS: usize = 8;
/// Packets [`VsockServer::poll`] takes from its source before it flushes, so that one busy peer
/// cannot keep the firmware in one call for ever.
pub const PACKETS_PER_POLL: usize = 32;

/// Where the server's packets go.
pub trait PacketSink {
    /// Sends one whole packet (header and payload), or refuses it if there is no room now; the
    /// server keeps what it could not send and tries again at the next flush.
    fn send(&mut self, packet: &[u8]) -> Result<(), SinkFull>;
}

/// The sink has no room for the packet now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SinkFull;

/// Where the server's packets come from.
pub trait PacketSource {
    /// Takes the next packet, if any: copies at most `buffer.len()` bytes of it into `buffer` and
    /// returns its whole length. A packet longer than the buffer is thus seen truncated, and the
    /// server refuses it.
    fn receive(&mut self, buffer: &mut [u8]) -> Option<usize>;
}

/// A byte-stream service on the listening port, e.g. the keystore.
pub trait StreamService {
    /// Per-connection state, fresh for each connection.
    type Session: Default;

    /// Consumes a prefix of `input` (the bytes received and not consumed yet) and queues replies
    /// in `output`; returns how many bytes it consumed. Bytes it leaves are offered again, with
    /// more, after more arrive or `output` has drained.
    fn serve(
        &mut self,
        session: &mut Self::Session,
        input: &[u8],
        output: &mut SendBuffer,
    ) -> usize;
}

/// Counters for the firmware's log and the tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Statistics {
    pub packets_received: u64,
    /// Packets shorter than a header: nothing to address an RST to.
    pub runts_dropped: u64,
    /// Packets refused with RST (malformed, for no connection, or over credit).
    pub packets_refused: u64,
    pub connections_accepted: u64,
    pub resets_sent: u64,
    /// RSTs given up because too many were waiting.
    pub resets_dropped: u64,
}

/// The vsock server. Large (its buffers are about 21 KiB): keep it in a `static`, which the
/// `const fn new` allows, not on the firmware's stack.
pub struct VsockServer<Session> {
    local_cid: u64,
    listening_port: u32,
    connections: [Option<Connection<Session>>; MAX_CONNECTIONS],
    pending_resets: Deque<PacketHeader, PENDING_RESETS>,
    statistics: Statistics,
    /// Where [`poll`](Self::poll) receives a packet.
    receive_buffer: [u8; MAX_RECEIVE_PACKET],
    /// Where outgoing packets are assembled.
    send_buffer: [u8; HEADER_SIZE + MAX_SEND_PAYLOAD],
}

impl<Session: Default> VsockServer<Session> {
    /// A server at `local_cid` listening on `listening_port`, with no connections.
    pub const fn new(local_cid: u64, listening_port: u32) -> Self {
        Self {
            local_cid,
            listening_port,
            connections: [const { None }; MAX_CONNECTIONS],
            pending_resets: Deque::new(),
            statistics: Statistics {
                packets_received: 0,
                runts_dropped: 0,
                packets_refused: 0,
                connections_accepted: 0,
                resets_sent: 0,
                resets_dropped: 0,
            },
            receive_buffer: [0; MAX_RECEIVE_PACKET],
            send_buffer: [0; HEADER_SIZE + MAX_SEND_PAYLOAD],
        }
    }

    pub fn statistics(&self) -> Statistics {
        self.statistics
    }

    /// Connections open now.
    pub fn connection_count(&self) -> usize {
        self.connections.iter().flatten().count()
    }

    /// Forgets every connection without a word to the peer: call it when the peer's
    /// virtio-vsock device was reset (the guest rebooted), whose sockets are gone with it.
    pub fn peer_reset(&mut self) {
        self.connections = [const { None }; MAX_CONNECTIONS];
        self.pending_resets.clear();
    }

    /// Handles up to [`PACKETS_PER_POLL`] packets from `source`, then flushes to `sink`.
    /// Returns whether the source may hold more packets (call again soon).
    pub fn poll<S>(
        &mut self,
        source: &mut impl PacketSource,
        sink: &mut impl PacketSink,
        service: &mut S,
    ) -> bool
    where
        S: StreamService<Session = Session>,
    {
        let mut handled = 0;
        while handled < PACKETS_PER_POLL {
            let Some(length) = source.receive(&mut self.receive_buffer) else {
                break;
            };
            handled += 1;
            if length > MAX_RECEIVE_PACKET {
                // Truncated by the source: refuse it by its header (the length field disagrees).
                let header = PacketHeader::parse(&self.receive_buffer);
                self.statistics.packets_received += 1;
                match header {
                    Some(header) if header.op != Operation::Reset.to_wire() => self.refuse(&header),
                    Some(_) => {}
                    None => self.statistics.runts_dropped += 1,
                }
                continue;
            }
            let packet = &self.receive_buffer[..length];
            handle_packet(
                &mut Core {
                    local_cid: self.local_cid,
                    listening_port: self.listening_port,
                    connections: &mut self.connections,
                    pending_resets: &mut self.pending_resets,
                    statistics: &mut self.statistics,
                },
                packet,
                service,
            );
        }
        self.flush(sink, service);
        handled == PACKETS_PER_POLL
    }

    /// Handles one packet from the peer. Replies wait for [`flush`](Self::flush).
    pub fn handle_packet<S>(&mut self, packet: &[u8], service: &mut S)
    where
        S: StreamService<Session = Session>,
    {
        handle_packet(&mut self.core(), packet, service);
    }

    /// Sends what is pending (RSTs, RESPONSEs, data within the peer's credit, credit updates)
    /// until the sink is full, letting services consume more input as their output drains.
    pub fn flush<S>(&mut self, sink: &mut impl PacketSink, service: &mut S)
    where
        S: StreamService<Session = Session>,
    {
        while let Some(header) = self.pending_resets.front() {
            if sink.send(&header.to_bytes()).is_err() {
                return;
            }
            self.pending_resets.pop_front();
            self.statistics.resets_sent += 1;
        }
        for index in 0..MAX_CONNECTIONS {
            let mut outgoing = Outgoing {
                local_cid: self.local_cid,
                buffer: &mut self.send_buffer,
                sink,
                statistics: &mut self.statistics,
            };
            match flush_connection(&mut self.connections[index], &mut outgoing, service) {
                Ok(()) => {}
                Err(SinkFull) => return,
            }
        }
    }

    fn refuse(&mut self, header: &PacketHeader) {
        self.core().refuse(header);
    }

    fn core(&mut self) -> Core<'_, Session> {
        Core {
            local_cid: self.local_cid,
            listening_port: self.listening_port,
            connections: &mut self.connections,
            pending_resets: &mut self.pending_resets,
            statistics: &mut self.statistics,
        }
    }
}

/// The server's state without its packet buffers, so a packet can be handled while it still
/// sits in the receive buffer.
struct Core<'a, Session> {
    local_cid: u64,
    listening_port: u32,
    connections: &'a mut [Option<Connection<Session>>; MAX_CONNECTIONS],
    pending_resets: &'a mut Deque<PacketHeader, PENDING_RESETS>,
    statistics: &'a mut Statistics,
}

impl<Session: Default> Core<'_, Session> {
    /// Answers `header` with RST. If it belongs to a connection, that connection ends too: the
    /// peer drops its side when the RST arrives.
    fn refuse(&mut self, header: &PacketHeader) {
        self.statistics.packets_refused += 1;
        if header.destination_cid == self.local_cid {
            if let Some(connection) = find(self.connections, Endpoints::of_incoming(header)) {
                connection.reset();
                return;
            }
        }
        if self.pending_resets.push_back(header.reset_reply()).is_err() {
            self.statistics.resets_dropped += 1;
        }
    }

    /// A REQUEST to our port: a new connection (replacing one with the same endpoints, whose
    /// peer socket must be gone if it connects again from the same port), or RST if all
    /// connection slots are taken.
    fn accept(&mut self, header: &PacketHeader) {
        let endpoints = Endpoints::of_incoming(header);
        let same_endpoints = self.connections.iter().position(|slot| {
            slot.as_ref()
                .is_some_and(|connection| connection.endpoints == endpoints)
        });
        match same_endpoints.or_else(|| self.connections.iter().position(Option::is_none)) {
            Some(index) => {
                self.connections[index] = Some(Connection::accept(header));
                self.statistics.connections_accepted += 1;
            }
            None => self.refuse(header),
        }
    }
}

/// The connection with these endpoints (one whose RST is pending included).
fn find<Session>(
    connections: &mut [Option<Connection<Session>>; MAX_CONNECTIONS],
    endpoints: Endpoints,
) -> Option<&mut Connection<Session>> {
    connections
        .iter_mut()
        .flatten()
        .find(|connection| connection.endpoints == endpoints)
}

/// Checks one packet and acts on it (module documentation: what is refused).
fn handle_packet<Session: Default, S: StreamService<Session = Session>>(
    core: &mut Core<'_, Session>,
    packet: &[u8],
    service: &mut S,
) {
    core.statistics.packets_received += 1;
    let Some(header) = PacketHeader::parse(packet) else {
        core.statistics.runts_dropped += 1;
        return;
    };
    let operation = Operation::from_wire(header.op);
    if operation == Some(Operation::Reset) {
        // Never answered; it ends its connection, if any.
        if let Some(slot) = core.connections.iter_mut().find(|slot| {
            slot.as_ref()
                .is_some_and(|connection| connection.endpoints == Endpoints::of_incoming(&header))
        }) {
            *slot = None;
        }
        return;
    }
    let payload = &packet[HEADER_SIZE..];
    let Some(operation) = operation else {
        return core.refuse(&header);
    };
    let length_matches = usize::try_from(header.length).is_ok_and(|length| length == payload.len());
    let payload_allowed = operation == Operation::ReadWrite || payload.is_empty();
    if !length_matches
        || !payload_allowed
        || header.socket_type != TYPE_STREAM
        || header.destination_cid != core.local_cid
    {
        return core.refuse(&header);
    }
    if operation == Operation::Request {
        if header.destination_port == core.listening_port {
            core.accept(&header);
        } else {
            core.refuse(&header);
        }
        return;
    }
    let Some(connection) = find(core.connections, Endpoints::of_incoming(&header)) else {
        return core.refuse(&header);
    };
    if connection.reset_pending {
        // Its RST is on the way; whatever the peer sent meanwhile no longer matters.
        return;
    }
    connection.update_peer_credit(&header);
    match operation {
        Operation::ReadWrite => {
            // The peer may not send past our credit, nor after saying it would not send.
            if !connection.has_room_for(payload.len())
                || connection.peer_shutdown & header::SHUTDOWN_SEND != 0
            {
                core.statistics.packets_refused += 1;
                connection.reset();
                return;
            }
            // Cannot fail: has_room_for checked the capacity.
            let _ = connection.received.extend_from_slice(payload);
            serve(connection, service);
        }
        Operation::CreditUpdate => {}
        Operation::CreditRequest => connection.credit_update_pending = true,
        Operation::Shutdown => {
            connection.peer_shutdown |= header.flags & SHUTDOWN_BOTH;
            if connection.peer_shut_both() {
                // Linux's close(): SHUTDOWN with both flags, then it waits for our RST.
                connection.reset();
            } else if !connection.peer_receives() {
                connection.to_send.clear();
            }
        }
        // We never connect, so a RESPONSE is out of place.
        Operation::Response => {
            core.statistics.packets_refused += 1;
            connection.reset();
        }
        Operation::Request | Operation::Reset => {}
    }
}

/// Lets the service consume what it can of a connection's received bytes.
fn serve<S: StreamService>(connection: &mut Connection<S::Session>, service: &mut S) -> bool {
    if connection.received.is_empty() || connection.reset_pending {
        return false;
    }
    let consumed = service.serve(
        &mut connection.session,
        &connection.received,
        &mut connection.to_send,
    );
    if !connection.peer_receives() {
        connection.to_send.clear();
    }
    connection.consume(consumed);
    consumed > 0
}

/// What sending a packet needs.
struct Outgoing<'a, Sink> {
    local_cid: u64,
    buffer: &'a mut [u8; HEADER_SIZE + MAX_SEND_PAYLOAD],
    sink: &'a mut Sink,
    statistics: &'a mut Statistics,
}

impl<Sink: PacketSink> Outgoing<'_, Sink> {
    /// Sends a packet of `connection` with `payload`; it carries our current credit.
    fn send<Session>(
        &mut self,
        connection: &mut Connection<Session>,
        operation: Operation,
        payload_length: usize,
    ) -> Result<(), SinkFull> {
        let endpoints = connection.endpoints;
        let header = PacketHeader {
            source_cid: self.local_cid,
            destination_cid: endpoints.peer_cid,
            source_port: endpoints.local_port,
            destination_port: endpoints.peer_port,
            // At most MAX_SEND_PAYLOAD.
            length: payload_length as u32,
            socket_type: TYPE_STREAM,
            op: operation.to_wire(),
            flags: 0,
            buffer_allocation: RECEIVE_BUFFER_SIZE as u32,
            forwarded_count: connection.forwarded,
        };
        self.buffer[..HEADER_SIZE].copy_from_slice(&header.to_bytes());
        let packet = &self.buffer[..HEADER_SIZE + payload_length];
        self.sink.send(packet)?;
        connection.advertised_forwarded = connection.forwarded;
        Ok(())
    }
}

/// Sends what one connection has pending; `Err` when the sink filled up.
fn flush_connection<S: StreamService, Sink: PacketSink>(
    slot: &mut Option<Connection<S::Session>>,
    outgoing: &mut Outgoing<'_, Sink>,
    service: &mut S,
) -> Result<(), SinkFull> {
    let Some(connection) = slot else {
        return Ok(());
    };
    if connection.reset_pending {
        outgoing.send(connection, Operation::Reset, 0)?;
        outgoing.statistics.resets_sent += 1;
        *slot = None;
        return Ok(());
    }
    if connection.response_pending {
        outgoing.send(connection, Operation::Response, 0)?;
        connection.response_pending = false;
    }
    loop {
        let served = serve(connection, service);
        let mut sent_any = false;
        loop {
            let credit = usize::try_from(connection.peer_credit()).unwrap_or(usize::MAX);
            let length = connection.to_send.len().min(MAX_SEND_PAYLOAD).min(credit);
            if length == 0 {
                break;
            }
            outgoing.buffer[HEADER_SIZE..HEADER_SIZE + length]
                .copy_from_slice(&connection.to_send.as_slice()[..length]);
            outgoing.send(connection, Operation::ReadWrite, length)?;
            connection.to_send.remove_front(length);
            connection.sent = connection.sent.wrapping_add(length as u32);
            sent_any = true;
        }
        if !served && !sent_any {
            break;
        }
    }
    // Room the peer does not know about yet, or it asked: tell it.
    if connection.credit_update_pending || connection.forwarded != connection.advertised_forwarded {
        outgoing.send(connection, Operation::CreditUpdate, 0)?;
        connection.credit_update_pending = false;
    }
    Ok(())
}
