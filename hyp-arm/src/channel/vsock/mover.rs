//! The two directions of the packet mover.

use hyp_arm_channel_ring::{Consumer, Producer, SharedMemory, MAX_MESSAGE, VSOCK_HEADER_SIZE};

use super::header::{PacketDirection, PacketError, PacketHeader, OPERATION_RESET};
use super::{MoveEffects, VsockError, VsockTransport, RECEIVE_QUEUE, TRANSMIT_QUEUE};
use crate::channel::virtqueue::DescriptorChain;
use crate::channel::GuestMemory;

/// Bytes copied at a time between guest memory and the ring.
const COPY_CHUNK: usize = 256;

/// Why a transmitted packet did not reach the ring.
enum TransmitFailure {
    Rejected(PacketError, Option<PacketHeader>),
    Fatal(VsockError),
}

impl VsockTransport {
    /// Moves available transmit chains into the ring while it has room.
    pub(super) fn transmit(
        &mut self,
        guest: &impl GuestMemory,
        channel: &impl SharedMemory,
        effects: &mut MoveEffects,
    ) -> Result<(), VsockError> {
        if self.channel_failed {
            return Ok(());
        }
        if self.send_reset_notice(channel)? {
            effects.notify_backend = true;
        }
        if self.reset_notice_pending {
            return Ok(());
        }
        let mut used = false;
        let result = self.transmit_chains(guest, channel, effects, &mut used);
        let result = result.and_then(|()| self.interrupt_if_wanted(TRANSMIT_QUEUE, guest, used));
        result.map_err(|error| self.fail(error))
    }

    fn transmit_chains(
        &mut self,
        guest: &impl GuestMemory,
        channel: &impl SharedMemory,
        effects: &mut MoveEffects,
        used: &mut bool,
    ) -> Result<(), VsockError> {
        let queue_error = |error| VsockError::Queue {
            queue: TRANSMIT_QUEUE,
            error,
        };
        loop {
            let room = self
                .to_backend
                .has_room_for(channel, MAX_MESSAGE)
                .map_err(VsockError::Channel)?;
            let Some(queue) = self.device.queue_mut(TRANSMIT_QUEUE) else {
                return Ok(());
            };
            if !room {
                return Ok(());
            }
            let Some(chain) = queue.pop(guest).map_err(queue_error)? else {
                return Ok(());
            };
            let sent = forward(
                &chain,
                guest,
                channel,
                &mut self.to_backend,
                self.guest_cid,
                self.backend_cid,
            );
            match sent {
                Ok(()) => {
                    effects.notify_backend = true;
                    self.backend_has_connections = true;
                }
                Err(TransmitFailure::Rejected(error, header)) => {
                    effects.reject(error);
                    let reply = header.filter(|header| header.operation() != OPERATION_RESET);
                    if let Some(header) = reply {
                        // A full queue drops the reply: the guest then times out instead.
                        let _ = self.pending_resets.push_back(header.reset_reply());
                    }
                }
                Err(TransmitFailure::Fatal(error)) => return Err(error),
            }
            // The device writes nothing into a transmit chain.
            if let Some(queue) = self.device.queue_mut(TRANSMIT_QUEUE) {
                queue
                    .push_used(guest, chain.head(), 0)
                    .map_err(queue_error)?;
            }
            *used = true;
        }
    }

    /// Moves ring messages (and RST replies) into available receive chains.
    pub(super) fn deliver(
        &mut self,
        guest: &impl GuestMemory,
        channel: &impl SharedMemory,
        effects: &mut MoveEffects,
    ) -> Result<(), VsockError> {
        let mut used = false;
        let result = self.deliver_messages(guest, channel, effects, &mut used);
        let result = result.and_then(|()| self.interrupt_if_wanted(RECEIVE_QUEUE, guest, used));
        result.map_err(|error| self.fail(error))
    }

    fn deliver_messages(
        &mut self,
        guest: &impl GuestMemory,
        channel: &impl SharedMemory,
        effects: &mut MoveEffects,
        used: &mut bool,
    ) -> Result<(), VsockError> {
        let queue_error = |error| VsockError::Queue {
            queue: RECEIVE_QUEUE,
            error,
        };
        let copy_error = |error| VsockError::Copy {
            queue: RECEIVE_QUEUE,
            error,
        };
        loop {
            let Some(queue) = self.device.queue_mut(RECEIVE_QUEUE) else {
                return Ok(());
            };
            if let Some(reset) = self.pending_resets.front().copied() {
                let Some(chain) = queue.pop(guest).map_err(queue_error)? else {
                    return Ok(());
                };
                let written = chain.write(guest, 0, &reset.bytes).map_err(copy_error)?;
                let length = if written == VSOCK_HEADER_SIZE {
                    written as u32
                } else {
                    0
                };
                queue
                    .push_used(guest, chain.head(), length)
                    .map_err(queue_error)?;
                self.pending_resets.pop_front();
                *used = true;
                continue;
            }
            if self.channel_failed {
                return Ok(());
            }
            let consumer = &mut self.from_backend;
            let Some(length) = consumer.next(channel).map_err(VsockError::Channel)? else {
                return Ok(());
            };
            let header =
                match check_message(consumer, channel, length, self.backend_cid, self.guest_cid) {
                    Ok(header) => header,
                    Err(error) => {
                        effects.reject(error);
                        consumer.release(channel).map_err(VsockError::Channel)?;
                        effects.notify_backend = true;
                        continue;
                    }
                };
            let Some(chain) = queue.pop(guest).map_err(queue_error)? else {
                // The message waits in the ring for the guest's next receive buffer.
                return Ok(());
            };
            let available = chain.writable_length();
            let written = if available < length as u64 {
                effects.reject(PacketError::ReceiveBufferTooSmall {
                    needed: length as u64,
                    available,
                });
                0
            } else {
                copy_to_chain(&chain, guest, consumer, channel, &header, length)?;
                length as u32
            };
            queue
                .push_used(guest, chain.head(), written)
                .map_err(queue_error)?;
            consumer.release(channel).map_err(VsockError::Channel)?;
            effects.notify_backend = true;
            *used = true;
        }
    }

    /// Raises the used-buffer interrupt if buffers were used and the driver wants to know.
    fn interrupt_if_wanted(
        &mut self,
        queue_index: u16,
        guest: &impl GuestMemory,
        used: bool,
    ) -> Result<(), VsockError> {
        if !used {
            return Ok(());
        }
        let Some(queue) = self.device.queue_mut(queue_index) else {
            return Ok(());
        };
        let wanted = queue
            .should_interrupt(guest)
            .map_err(|error| VsockError::Queue {
                queue: queue_index,
                error,
            })?;
        if wanted {
            self.device.raise_used_buffer_interrupt();
        }
        Ok(())
    }
}

/// Checks one transmit chain and copies it into the ring as one message.
fn forward(
    chain: &DescriptorChain,
    guest: &impl GuestMemory,
    channel: &impl SharedMemory,
    producer: &mut Producer,
    guest_cid: u64,
    backend_cid: u64,
) -> Result<(), TransmitFailure> {
    let copy_error = |error| {
        TransmitFailure::Fatal(VsockError::Copy {
            queue: TRANSMIT_QUEUE,
            error,
        })
    };
    let total = chain.readable_length();
    let header_size = VSOCK_HEADER_SIZE as u64;
    if total < header_size {
        let error = PacketError::TooShort {
            direction: PacketDirection::FromGuest,
            length: total,
        };
        return Err(TransmitFailure::Rejected(error, None));
    }
    let mut header = PacketHeader {
        bytes: [0; VSOCK_HEADER_SIZE],
    };
    chain
        .read(guest, 0, &mut header.bytes)
        .map_err(copy_error)?;
    header
        .check(
            PacketDirection::FromGuest,
            guest_cid,
            backend_cid,
            total - header_size,
        )
        .map_err(|error| {
            // Only answer a sender that named itself truly.
            let reply = (header.source_cid() == guest_cid).then_some(header);
            TransmitFailure::Rejected(error, reply)
        })?;
    // The check bounded the payload to MAX_PAYLOAD, so the message is at most MAX_MESSAGE.
    let length = VSOCK_HEADER_SIZE + header.payload_length() as usize;
    let ring_error = |error| TransmitFailure::Fatal(VsockError::Channel(error));
    producer.begin(channel, length).map_err(ring_error)?;
    let copied = copy_from_chain(chain, guest, channel, producer, &header, length);
    match copied {
        Ok(()) => producer.commit(channel).map_err(ring_error),
        Err(failure) => {
            producer.abandon();
            Err(failure)
        }
    }
}

/// Writes the checked header (not the guest's bytes again, which it may have changed) and the
/// payload into the message begun.
fn copy_from_chain(
    chain: &DescriptorChain,
    guest: &impl GuestMemory,
    channel: &impl SharedMemory,
    producer: &Producer,
    header: &PacketHeader,
    length: usize,
) -> Result<(), TransmitFailure> {
    let ring_error = |error| TransmitFailure::Fatal(VsockError::Channel(error));
    producer
        .write(channel, 0, &header.bytes)
        .map_err(ring_error)?;
    let mut chunk = [0; COPY_CHUNK];
    let mut offset = VSOCK_HEADER_SIZE;
    while offset < length {
        let piece = &mut chunk[..COPY_CHUNK.min(length - offset)];
        chain.read(guest, offset as u64, piece).map_err(|error| {
            TransmitFailure::Fatal(VsockError::Copy {
                queue: TRANSMIT_QUEUE,
                error,
            })
        })?;
        producer.write(channel, offset, piece).map_err(ring_error)?;
        offset += piece.len();
    }
    Ok(())
}

/// Reads and checks the header of the ring's oldest message of `length` bytes.
fn check_message(
    consumer: &Consumer,
    channel: &impl SharedMemory,
    length: usize,
    backend_cid: u64,
    guest_cid: u64,
) -> Result<PacketHeader, PacketError> {
    let direction = PacketDirection::ToGuest;
    if length < VSOCK_HEADER_SIZE {
        return Err(PacketError::TooShort {
            direction,
            length: length as u64,
        });
    }
    let mut header = PacketHeader {
        bytes: [0; VSOCK_HEADER_SIZE],
    };
    // `next` returned `length`, so the header lies inside the message.
    if consumer.read(channel, 0, &mut header.bytes).is_err() {
        return Err(PacketError::TooShort {
            direction,
            length: length as u64,
        });
    }
    let payload = (length - VSOCK_HEADER_SIZE) as u64;
    header.check(direction, backend_cid, guest_cid, payload)?;
    Ok(header)
}

/// Copies a checked ring message into a receive chain that holds it.
fn copy_to_chain(
    chain: &DescriptorChain,
    guest: &impl GuestMemory,
    consumer: &Consumer,
    channel: &impl SharedMemory,
    header: &PacketHeader,
    length: usize,
) -> Result<(), VsockError> {
    let copy_error = |error| VsockError::Copy {
        queue: RECEIVE_QUEUE,
        error,
    };
    chain.write(guest, 0, &header.bytes).map_err(copy_error)?;
    let mut chunk = [0; COPY_CHUNK];
    let mut offset = VSOCK_HEADER_SIZE;
    while offset < length {
        let piece = &mut chunk[..COPY_CHUNK.min(length - offset)];
        consumer
            .read(channel, offset, piece)
            .map_err(VsockError::Channel)?;
        chain
            .write(guest, offset as u64, piece)
            .map_err(copy_error)?;
        offset += piece.len();
    }
    Ok(())
}
