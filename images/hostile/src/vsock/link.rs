//! A healthy device seen as a packet link: four receive buffers kept posted, one transmit
//! buffer used for one packet at a time, and bounded waits for what comes back.

use super::clock::Deadline;
use super::device::{Device, Tweak, RECEIVE_QUEUE, TRANSMIT_QUEUE};
use super::dma;
use super::packet::{Header, HEADER_SIZE};
use super::queue::{DriverQueue, WRITE};
use super::Failure;

/// How long hyp-arm gets to take a transmitted chain back. It does so during the notify itself;
/// the bound is for a broken hypervisor.
const TRANSMIT_WAIT_MS: u64 = 1000;
/// Bytes of a receive buffer: a header and the largest payload.
const RECEIVE_BUFFER_SIZE: u32 = (HEADER_SIZE + super::packet::MAX_PAYLOAD) as u32;

pub struct Link<'a> {
    pub device: &'a Device,
    queues: [DriverQueue; 3],
    /// The guest's CID, from the device's configuration space.
    pub cid: u64,
}

/// A packet received: its header and where its payload is.
pub struct Received {
    pub header: Header,
    /// The receive buffer (give it back with [`Link::recycle`]).
    pub buffer: usize,
    /// Bytes the device wrote (header included).
    pub written: u32,
}

impl<'a> Link<'a> {
    /// Resets and sets up the device, and posts the receive buffers.
    pub fn open(device: &'a Device) -> Result<Link<'a>, Failure> {
        let Some((queues, cid)) = device.initialize(Tweak::None)? else {
            return Err(Failure("the device refused well-formed queues"));
        };
        let mut link = Link {
            device,
            queues,
            cid,
        };
        for buffer in 0..dma::RECEIVE_BUFFER_COUNT {
            link.post_receive_buffer(buffer);
        }
        device.notify(RECEIVE_QUEUE);
        Ok(link)
    }

    fn post_receive_buffer(&mut self, buffer: usize) {
        let queue = &mut self.queues[usize::from(RECEIVE_QUEUE)];
        // Descriptor i always describes receive buffer i.
        let descriptor = buffer as u16;
        let address = dma::address(dma::receive_buffer(buffer));
        queue.set_descriptor(descriptor, address, RECEIVE_BUFFER_SIZE, WRITE, 0);
        queue.make_available(descriptor);
    }

    /// Gives a receive buffer back to the device.
    pub fn recycle(&mut self, buffer: usize) {
        self.post_receive_buffer(buffer);
        self.device.notify(RECEIVE_QUEUE);
    }

    /// Sends `bytes` (a header and a payload, or anything) as one chain of one descriptor, and
    /// waits until the device has taken it back.
    pub fn transmit(
        &mut self,
        bytes_of: impl Fn(usize) -> u8,
        length: usize,
    ) -> Result<(), Failure> {
        if length > dma::TRANSMIT_BUFFER_SIZE {
            return Err(Failure("a packet larger than the transmit buffer"));
        }
        let start = dma::transmit_buffer();
        for index in 0..length {
            dma::write_u8(start + index, bytes_of(index));
        }
        let queue = &mut self.queues[usize::from(TRANSMIT_QUEUE)];
        queue.set_descriptor(0, dma::address(start), length as u32, 0, 0);
        queue.make_available(0);
        self.device.notify(TRANSMIT_QUEUE);
        let deadline = Deadline::after_ms(TRANSMIT_WAIT_MS);
        loop {
            if let Some(used) = self.queues[usize::from(TRANSMIT_QUEUE)].take_used() {
                self.device.acknowledge_interrupts();
                return match used.head {
                    0 => Ok(()),
                    _ => Err(Failure("the device returned a transmit chain never posted")),
                };
            }
            if deadline.passed() {
                return Err(Failure(
                    "the device did not return a transmit chain within 1 s",
                ));
            }
        }
    }

    /// Sends a header and `payload`.
    pub fn send(&mut self, header: &Header, payload: &[u8]) -> Result<(), Failure> {
        let bytes = header.to_bytes();
        self.transmit(
            |index| match index.checked_sub(HEADER_SIZE) {
                None => bytes[index],
                Some(at) => payload.get(at).copied().unwrap_or(0),
            },
            HEADER_SIZE + payload.len(),
        )
    }

    /// The next packet the device delivered, waiting at most `milliseconds`.
    pub fn receive(&mut self, milliseconds: u64) -> Result<Option<Received>, Failure> {
        let deadline = Deadline::after_ms(milliseconds);
        loop {
            if let Some(used) = self.queues[usize::from(RECEIVE_QUEUE)].take_used() {
                self.device.acknowledge_interrupts();
                let buffer = used.head as usize;
                if buffer >= dma::RECEIVE_BUFFER_COUNT {
                    return Err(Failure("the device returned a receive chain never posted"));
                }
                if (used.length as usize) < HEADER_SIZE {
                    return Err(Failure("the device delivered less than a packet header"));
                }
                let mut bytes = [0; HEADER_SIZE];
                dma::read_bytes(dma::receive_buffer(buffer), &mut bytes);
                return Ok(Some(Received {
                    header: Header::from_bytes(&bytes),
                    buffer,
                    written: used.length,
                }));
            }
            if deadline.passed() {
                return Ok(None);
            }
        }
    }

    /// Copies up to `output.len()` payload bytes of a received packet; returns how many.
    pub fn payload(&self, received: &Received, output: &mut [u8]) -> usize {
        let available = (received.written as usize).saturating_sub(HEADER_SIZE);
        let length = available.min(output.len());
        dma::read_bytes(
            dma::receive_buffer(received.buffer) + HEADER_SIZE,
            &mut output[..length],
        );
        length
    }
}
