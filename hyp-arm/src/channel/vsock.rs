//! The virtio-vsock packet mover: the guest's virtio-vsock device (virtio 1.2 section 5.10) on
//! one side, the backend domain's channel ring on the other. hyp-arm keeps no protocol state:
//! it checks each packet's addressing and framing and copies it across.
//!
//! - Transmit (`on_notify(TRANSMIT_QUEUE)`): every available chain is one packet (header and
//!   payload in its readable buffers); a valid one becomes one ring message. If the ring lacks
//!   room for a largest message, the chains wait in the queue until the backend's doorbell.
//! - Receive (`on_backend_doorbell`, `on_notify(RECEIVE_QUEUE)`): each ring message goes into
//!   one receive chain the guest made available; messages wait in the ring while it has none.
//! - A malformed queue puts the device into DEVICE_NEEDS_RESET and is returned as an error. A
//!   malformed packet is dropped and reported in the effects; the device carries on (any guest
//!   process can address a packet to a CID nobody has). A refused guest packet with a usable
//!   header is answered with RST, as a peer without that socket would, so `connect` fails at
//!   once instead of timing out.
//!
//! - When the guest resets the device (or its domain restarts) after packets went to the
//!   backend, the backend is sent one empty message (no vsock packet is empty): the peer
//!   forgot every connection, so the backend drops them instead of keeping their slots for
//!   ever. The notice goes before any packet of the device's next life.
//!
//! Receive buffers must hold a whole packet (Linux's hold 44 + 4096 bytes), and the backend
//! must keep guest packets at most [`MAX_PAYLOAD`] long by advertising `buf_alloc` of at most
//! that much (docs/CHANNELS.md).

mod header;
mod mover;

pub use header::{PacketDirection, PacketError, PacketHeader};

use core::fmt;

use heapless::Deque;
use hyp_arm_channel_ring::{Consumer, Producer, RingError, SharedMemory, MAX_PAYLOAD};

use super::virtio_mmio::{DeviceIdentity, VirtioMmio, VirtioMmioAccessError, WriteEffects};
use super::virtqueue::{ChainCopyError, VirtqueueError};
use super::GuestMemory;

/// The virtio device ID of a socket device (virtio 1.2 section 5).
pub const DEVICE_ID: u32 = 19;
/// The queues (5.10.2).
pub const RECEIVE_QUEUE: u16 = 0;
pub const TRANSMIT_QUEUE: u16 = 1;
pub const EVENT_QUEUE: u16 = 2;
/// RST replies waiting for a receive buffer; more are dropped (the guest's `connect` then times
/// out, as it would with a lost packet).
const PENDING_RESETS: usize = 4;

/// A failure of the device or of the channel, for the log. Packets refused are not errors (see
/// [`MoveEffects::rejected`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VsockError {
    /// The guest's queue is malformed; the device is now in DEVICE_NEEDS_RESET.
    Queue { queue: u16, error: VirtqueueError },
    /// Guest memory refused a copy into or out of a checked chain; the device is now in
    /// DEVICE_NEEDS_RESET.
    Copy { queue: u16, error: ChainCopyError },
    /// The channel ring is corrupt (the backend is broken or hostile); nothing more moves
    /// through it.
    Channel(RingError),
}

impl fmt::Display for VsockError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Queue { queue, error } => {
                write!(
                    formatter,
                    "virtio-vsock queue {queue}: {error}; device needs reset"
                )
            }
            Self::Copy { queue, error } => {
                write!(
                    formatter,
                    "virtio-vsock queue {queue}: {error}; device needs reset"
                )
            }
            Self::Channel(error) => write!(
                formatter,
                "vsock channel: {error}; nothing more moves through it"
            ),
        }
    }
}

/// What moving packets did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MoveEffects {
    /// The device's interrupt line level now (the caller sets its SPI to it).
    pub interrupt: bool,
    /// Messages were added to or taken from the ring: ring the backend's doorbell.
    pub notify_backend: bool,
    /// The first packet refused, for the log.
    pub rejected: Option<PacketError>,
    /// How many packets were refused.
    pub rejected_count: u32,
}

impl MoveEffects {
    fn reject(&mut self, error: PacketError) {
        self.rejected.get_or_insert(error);
        self.rejected_count = self.rejected_count.saturating_add(1);
    }
}

/// The guest's virtio-vsock device and the hypervisor's ends of its channel.
#[derive(Debug)]
pub struct VsockTransport {
    device: VirtioMmio,
    guest_cid: u64,
    backend_cid: u64,
    to_backend: Producer,
    from_backend: Consumer,
    pending_resets: Deque<PacketHeader, PENDING_RESETS>,
    /// Set once the ring was found corrupt: nothing more moves.
    channel_failed: bool,
    /// Packets went to the backend since the last reset notice: it may hold connections.
    backend_has_connections: bool,
    /// The guest reset the device and the backend has not been told yet.
    reset_notice_pending: bool,
}

impl VsockTransport {
    /// A device that gives the guest CID `guest_cid` and lets it talk only to `backend_cid`,
    /// over the hypervisor's ends of the channel (`Channel::endpoints(Side::Hypervisor, ..)`).
    pub fn new(
        guest_cid: u64,
        backend_cid: u64,
        to_backend: Producer,
        from_backend: Consumer,
    ) -> VsockTransport {
        let identity = DeviceIdentity {
            device_id: DEVICE_ID,
            queue_count: 3,
            device_features: 0,
        };
        VsockTransport {
            device: VirtioMmio::new(identity, &guest_cid.to_le_bytes()),
            guest_cid,
            backend_cid,
            to_backend,
            from_backend,
            pending_resets: Deque::new(),
            channel_failed: false,
            backend_has_connections: false,
            reset_notice_pending: false,
        }
    }

    /// The register model.
    pub fn device(&self) -> &VirtioMmio {
        &self.device
    }

    /// A trapped read of the device's register frame.
    pub fn mmio_read(&self, offset: u64, width: u8) -> Result<u64, VirtioMmioAccessError> {
        self.device.read(offset, width)
    }

    /// A trapped write of the device's register frame. The caller then acts on the effects:
    /// `notified_queue` -> [`VsockTransport::on_notify`], `queue_error` -> log, `interrupt` ->
    /// the SPI level, `reset` -> [`VsockTransport::send_reset_notice`]. A reset also drops the
    /// RST replies not yet delivered.
    pub fn mmio_write(
        &mut self,
        offset: u64,
        width: u8,
        value: u64,
    ) -> Result<WriteEffects, VirtioMmioAccessError> {
        let effects = self.device.write(offset, width, value)?;
        if effects.reset {
            self.forget_guest();
        }
        Ok(effects)
    }

    /// The guest notified `queue`: move what it made available.
    pub fn on_notify(
        &mut self,
        queue: u16,
        guest: &impl GuestMemory,
        channel: &impl SharedMemory,
    ) -> Result<MoveEffects, VsockError> {
        let mut effects = MoveEffects::default();
        match queue {
            TRANSMIT_QUEUE => {
                self.transmit(guest, channel, &mut effects)?;
                // RST replies to refused packets go out now: the driver adds no receive buffer
                // for them (it has some already), and waiting for the backend's next doorbell
                // would leave the guest's `connect` hanging, since the backend never saw the
                // packet and has no reason to ring.
                if !self.pending_resets.is_empty() {
                    self.deliver(guest, channel, &mut effects)?;
                }
            }
            RECEIVE_QUEUE => self.deliver(guest, channel, &mut effects)?,
            // The event queue only holds buffers for events this device never sends.
            _ => {}
        }
        effects.interrupt = self.device.interrupt_level();
        Ok(effects)
    }

    /// The backend rang the doorbell: deliver its messages, and send what waited for room.
    pub fn on_backend_doorbell(
        &mut self,
        guest: &impl GuestMemory,
        channel: &impl SharedMemory,
    ) -> Result<MoveEffects, VsockError> {
        let mut effects = MoveEffects::default();
        self.deliver(guest, channel, &mut effects)?;
        self.transmit(guest, channel, &mut effects)?;
        effects.interrupt = self.device.interrupt_level();
        Ok(effects)
    }

    /// The guest domain restarts: the device returns to its reset state. The caller then calls
    /// [`VsockTransport::send_reset_notice`].
    pub fn reset(&mut self) {
        self.device.reset();
        self.forget_guest();
    }

    /// Tells the backend, with an empty message, that the guest reset the device, if it has
    /// not been told and the ring has room. Returns true when the notice went into the ring
    /// (ring the backend's doorbell). A notice that finds the ring full waits for the next
    /// doorbell or notify, and holds back the packets behind it.
    pub fn send_reset_notice(&mut self, channel: &impl SharedMemory) -> Result<bool, VsockError> {
        if !self.reset_notice_pending || self.channel_failed {
            return Ok(false);
        }
        let sent = self
            .to_backend
            .has_room_for(channel, 0)
            .and_then(|room| {
                if room {
                    self.to_backend.send(channel, &[]).map(|()| true)
                } else {
                    Ok(false)
                }
            })
            .map_err(|error| self.fail(VsockError::Channel(error)))?;
        if sent {
            self.reset_notice_pending = false;
        }
        Ok(sent)
    }

    /// The device's guest side is gone: its RST replies are dropped and, if the backend saw
    /// any of its packets, a reset notice is due.
    fn forget_guest(&mut self) {
        self.pending_resets.clear();
        if self.backend_has_connections {
            self.backend_has_connections = false;
            self.reset_notice_pending = true;
        }
    }

    fn fail(&mut self, error: VsockError) -> VsockError {
        match error {
            VsockError::Channel(_) => self.channel_failed = true,
            VsockError::Queue { .. } | VsockError::Copy { .. } => self.device.enter_needs_reset(),
        }
        error
    }
}

/// The largest packet a receive buffer must hold.
pub const MAX_PACKET: usize = hyp_arm_channel_ring::VSOCK_HEADER_SIZE + MAX_PAYLOAD;

#[cfg(test)]
mod tests;
