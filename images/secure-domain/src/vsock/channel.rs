//! The vsock server's packets over a channel ring (docs/CHANNELS.md): the backend's end of the
//! channel, whose hypervisor-to-backend ring is the server's [`PacketSource`] and whose
//! backend-to-hypervisor ring is its [`PacketSink`], one ring message per vsock packet.
//!
//! An empty message from hyp-arm (no vsock packet is empty) means the guest reset its
//! virtio-vsock device, so its sockets are gone: the server forgets every connection
//! ([`VsockServer::peer_reset`]) instead of keeping their slots for ever.
//!
//! Generic over [`SharedMemory`], so the firmware runs it over its mapping of the region and the
//! host tests over [`hyp_arm_channel_ring::AtomicWordMemory`]. A ring error that describes the
//! shared memory (corrupt indices or frames) means hyp-arm's side cannot be trusted any more:
//! the transport then stops for good and reports it once, rather than guessing.

use core::fmt;

use hyp_arm_channel_ring::{Channel, Consumer, Producer, RingError, SharedMemory, Side};

use super::{
    PacketSink, PacketSource, SinkFull, StreamService, VsockServer, HEADER_SIZE, MAX_SEND_PAYLOAD,
};

/// The largest message the server sends; a channel whose messages are smaller cannot carry it.
pub const LARGEST_SENT_PACKET: usize = HEADER_SIZE + MAX_SEND_PAYLOAD;

/// Why a channel cannot carry the server's packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// The ring refused or found something corrupt.
    Ring(RingError),
    /// The channel's largest message is below the packets the server sends.
    MessagesTooSmall { max_message: usize },
}

impl fmt::Display for TransportError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ring(error) => write!(formatter, "{error}"),
            Self::MessagesTooSmall { max_message } => write!(
                formatter,
                "the channel's largest message is {max_message} bytes; the vsock server sends up \
                 to {LARGEST_SENT_PACKET}"
            ),
        }
    }
}

impl From<RingError> for TransportError {
    fn from(error: RingError) -> Self {
        Self::Ring(error)
    }
}

/// What one [`ChannelTransport::serve`] moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Activity {
    /// Packets taken from the hypervisor-to-backend ring (their space is free again).
    pub received: usize,
    /// Packets put into the backend-to-hypervisor ring.
    pub sent: usize,
    /// Peer resets (empty messages) among the messages received.
    pub peer_resets: usize,
    /// The poll budget ran out with packets possibly left: serve again soon.
    pub more: bool,
}

impl Activity {
    /// Whether hyp-arm has something to do: packets to move to the guest, or ring space to
    /// refill. The firmware then rings it (CHANNEL_NOTIFY).
    pub fn needs_notify(&self) -> bool {
        self.received > 0 || self.sent > 0
    }
}

/// The backend's end of one channel.
pub struct ChannelTransport<M> {
    memory: M,
    producer: Producer,
    consumer: Consumer,
    /// Set by the first error; nothing is moved afterwards.
    broken: Option<RingError>,
}

impl<M: SharedMemory> ChannelTransport<M> {
    /// Checks the header hyp-arm wrote into `memory` and takes the backend's ends of the rings.
    pub fn attach(memory: M) -> Result<Self, TransportError> {
        let channel = Channel::attach(&memory)?;
        if channel.max_message() < LARGEST_SENT_PACKET {
            return Err(TransportError::MessagesTooSmall {
                max_message: channel.max_message(),
            });
        }
        let (producer, consumer) = channel.endpoints(Side::Backend, &memory)?;
        Ok(Self {
            memory,
            producer,
            consumer,
            broken: None,
        })
    }

    /// The error that stopped the transport, if one has.
    pub fn broken(&self) -> Option<RingError> {
        self.broken
    }

    /// Lets `server` handle what the rings hold and send what it has, poll after poll, until it
    /// reports nothing more or `max_polls` polls (of up to
    /// [`PACKETS_PER_POLL`](super::PACKETS_PER_POLL) packets each)
    /// are done. The first ring error stops the transport for good and is returned (with what
    /// was moved before it lost).
    pub fn serve<S: StreamService>(
        &mut self,
        server: &mut VsockServer<S::Session>,
        service: &mut S,
        max_polls: usize,
    ) -> Result<Activity, RingError> {
        if let Some(error) = self.broken {
            return Err(error);
        }
        let mut activity = Activity::default();
        for _ in 0..max_polls {
            let mut source = RingSource {
                memory: &self.memory,
                consumer: &mut self.consumer,
                received: 0,
                peer_reset: false,
                error: None,
            };
            let mut sink = RingSink {
                memory: &self.memory,
                producer: &mut self.producer,
                sent: 0,
                error: None,
            };
            let more = server.poll(&mut source, &mut sink, service);
            activity.received += source.received;
            activity.sent += sink.sent;
            if let Some(error) = source.error.or(sink.error) {
                self.broken = Some(error);
                return Err(error);
            }
            if source.peer_reset {
                // The source stopped at the reset: what came before it is handled, what comes
                // after it belongs to the guest's new sockets.
                server.peer_reset();
                activity.peer_resets += 1;
                continue;
            }
            if !more {
                return Ok(activity);
            }
        }
        activity.more = true;
        Ok(activity)
    }
}

/// The hypervisor-to-backend ring as the server's packet source.
struct RingSource<'a, M> {
    memory: &'a M,
    consumer: &'a mut Consumer,
    received: usize,
    /// An empty message was taken: the poll ends there so the server can be reset.
    peer_reset: bool,
    error: Option<RingError>,
}

impl<M: SharedMemory> PacketSource for RingSource<'_, M> {
    fn receive(&mut self, buffer: &mut [u8]) -> Option<usize> {
        if self.error.is_some() || self.peer_reset {
            return None;
        }
        let result = (|| {
            let Some(length) = self.consumer.next(self.memory)? else {
                return Ok(None);
            };
            // A message longer than the buffer is handed over truncated (the server refuses
            // it by its header) and taken out of the ring all the same, so it cannot block it.
            let copied = length.min(buffer.len());
            let destination = buffer.get_mut(..copied).unwrap_or_default();
            self.consumer.read(self.memory, 0, destination)?;
            self.consumer.release(self.memory)?;
            Ok(Some(length))
        })();
        match result {
            Ok(Some(0)) => {
                self.received += 1;
                self.peer_reset = true;
                None
            }
            Ok(Some(length)) => {
                self.received += 1;
                Some(length)
            }
            Ok(None) => None,
            Err(error) => {
                self.error = Some(error);
                None
            }
        }
    }
}

/// The backend-to-hypervisor ring as the server's packet sink.
struct RingSink<'a, M> {
    memory: &'a M,
    producer: &'a mut Producer,
    sent: usize,
    error: Option<RingError>,
}

impl<M: SharedMemory> PacketSink for RingSink<'_, M> {
    fn send(&mut self, packet: &[u8]) -> Result<(), SinkFull> {
        if self.error.is_some() {
            return Err(SinkFull);
        }
        match self.producer.send(self.memory, packet) {
            Ok(()) => {
                self.sent += 1;
                Ok(())
            }
            // The server keeps the packet and tries again after hyp-arm made room.
            Err(RingError::Full { .. }) => Err(SinkFull),
            Err(error) => {
                self.producer.abandon();
                self.error = Some(error);
                Err(SinkFull)
            }
        }
    }
}

#[cfg(test)]
mod tests;
