//! The two ends of one ring: a [`Producer`] that frames messages into it and a [`Consumer`] that
//! takes them out. Indices are free-running byte counters (`u32`, wrapping), always multiples of
//! 8; the ring's size is a power of two, so `counter % size` is the position in the data area.

use crate::{
    frame_size, Direction, RingError, RingLayout, SharedMemory, FRAME_ALIGNMENT, FRAME_HEADER_SIZE,
};

/// Checks a pair of indices read (partly) from shared memory: both aligned, and the producer at
/// most one ring ahead of the consumer. Returns the bytes published and not yet consumed.
fn used_bytes(layout: &RingLayout, produced: u32, consumed: u32) -> Result<u32, RingError> {
    let used = produced.wrapping_sub(consumed);
    let aligned = |index: u32| (index as usize).is_multiple_of(FRAME_ALIGNMENT);
    if !aligned(produced) || !aligned(consumed) || used > layout.size {
        return Err(RingError::CorruptIndices {
            ring: layout.direction,
            produced,
            consumed,
        });
    }
    Ok(used)
}

/// The region offset of byte `counter` of the ring's stream.
fn position(layout: &RingLayout, counter: u32) -> usize {
    layout.data_offset + (counter & (layout.size - 1)) as usize
}

/// Copies `bytes` into the ring's stream at `counter`, in two pieces if it wraps.
fn write_wrapping(memory: &impl SharedMemory, layout: &RingLayout, counter: u32, bytes: &[u8]) {
    let start = (counter & (layout.size - 1)) as usize;
    let first = bytes.len().min(layout.size as usize - start);
    let (head, tail) = bytes.split_at(first);
    memory.write_bytes(layout.data_offset + start, head);
    if !tail.is_empty() {
        memory.write_bytes(layout.data_offset, tail);
    }
}

/// Copies the ring's stream at `counter` into `buffer`, in two pieces if it wraps.
fn read_wrapping(memory: &impl SharedMemory, layout: &RingLayout, counter: u32, buffer: &mut [u8]) {
    let start = (counter & (layout.size - 1)) as usize;
    let first = buffer.len().min(layout.size as usize - start);
    let (head, tail) = buffer.split_at_mut(first);
    memory.read_bytes(layout.data_offset + start, head);
    if !tail.is_empty() {
        memory.read_bytes(layout.data_offset, tail);
    }
}

/// Checks that `length` bytes at `offset` lie inside a message of `message_length` bytes.
fn check_inside(
    direction: Direction,
    offset: usize,
    length: usize,
    message_length: usize,
) -> Result<(), RingError> {
    if offset
        .checked_add(length)
        .is_none_or(|end| end > message_length)
    {
        return Err(RingError::OutsideMessage {
            ring: direction,
            offset,
            length,
            message_length,
        });
    }
    Ok(())
}

/// The writing end of a ring.
#[derive(Debug)]
pub struct Producer {
    layout: RingLayout,
    /// This side's index; the shared copy is only ever written from it, never read back.
    produced: u32,
    /// The length of the message being built (`begin` .. `commit`).
    building: Option<usize>,
}

impl Producer {
    pub(crate) fn attach(
        layout: RingLayout,
        memory: &impl SharedMemory,
    ) -> Result<Self, RingError> {
        let produced = memory.load_u32_acquire(layout.produced_offset);
        let consumed = memory.load_u32_acquire(layout.consumed_offset);
        used_bytes(&layout, produced, consumed)?;
        Ok(Self {
            layout,
            produced,
            building: None,
        })
    }

    /// The direction of this ring.
    pub fn direction(&self) -> Direction {
        self.layout.direction
    }

    /// The bytes free now (a message of `n` bytes needs [`frame_size`]`(n)`).
    pub fn free_space(&self, memory: &impl SharedMemory) -> Result<usize, RingError> {
        let consumed = memory.load_u32_acquire(self.layout.consumed_offset);
        let used = used_bytes(&self.layout, self.produced, consumed)?;
        Ok((self.layout.size - used) as usize)
    }

    /// Whether a message of `length` bytes fits now.
    pub fn has_room_for(
        &self,
        memory: &impl SharedMemory,
        length: usize,
    ) -> Result<bool, RingError> {
        Ok(self.free_space(memory)? >= frame_size(length))
    }

    /// Starts a message of exactly `length` bytes: checks it is allowed and fits. Its bytes are
    /// then written with [`Producer::write`], and it becomes visible with [`Producer::commit`].
    pub fn begin(&mut self, memory: &impl SharedMemory, length: usize) -> Result<(), RingError> {
        let ring = self.layout.direction;
        if self.building.is_some() {
            return Err(RingError::MessageInProgress { ring });
        }
        if length > self.layout.max_message {
            return Err(RingError::MessageTooLarge {
                ring,
                length,
                max: self.layout.max_message,
            });
        }
        let free = self.free_space(memory)?;
        let needed = frame_size(length);
        if needed > free {
            return Err(RingError::Full { ring, needed, free });
        }
        self.building = Some(length);
        Ok(())
    }

    /// Writes `bytes` at `offset` into the message begun.
    pub fn write(
        &self,
        memory: &impl SharedMemory,
        offset: usize,
        bytes: &[u8],
    ) -> Result<(), RingError> {
        let ring = self.layout.direction;
        let length = self
            .building
            .ok_or(RingError::NoMessageInProgress { ring })?;
        check_inside(ring, offset, bytes.len(), length)?;
        // Both below the ring size, which is a u32.
        let counter = self
            .produced
            .wrapping_add(FRAME_HEADER_SIZE as u32)
            .wrapping_add(offset as u32);
        write_wrapping(memory, &self.layout, counter, bytes);
        Ok(())
    }

    /// Publishes the message begun: writes its frame header, then the new index (release), so
    /// the consumer sees the whole message once it sees the index.
    pub fn commit(&mut self, memory: &impl SharedMemory) -> Result<(), RingError> {
        let ring = self.layout.direction;
        let length = self
            .building
            .take()
            .ok_or(RingError::NoMessageInProgress { ring })?;
        // `length` is at most MAX_MESSAGE.
        let mut header = [0; FRAME_HEADER_SIZE];
        header[..4].copy_from_slice(&(length as u32).to_le_bytes());
        memory.write_bytes(position(&self.layout, self.produced), &header);
        // A frame is at most a ring long, which is a u32.
        self.produced = self.produced.wrapping_add(frame_size(length) as u32);
        memory.store_u32_release(self.layout.produced_offset, self.produced);
        Ok(())
    }

    /// Drops the message begun, if any; the ring is as before `begin`.
    pub fn abandon(&mut self) {
        self.building = None;
    }

    /// Sends `message` whole: `begin`, `write`, `commit`.
    pub fn send(&mut self, memory: &impl SharedMemory, message: &[u8]) -> Result<(), RingError> {
        self.begin(memory, message.len())?;
        self.write(memory, 0, message)?;
        self.commit(memory)
    }
}

/// The reading end of a ring.
#[derive(Debug)]
pub struct Consumer {
    layout: RingLayout,
    /// This side's index; the shared copy is only ever written from it, never read back.
    consumed: u32,
    /// The length of the oldest message, once [`Consumer::next`] has checked it.
    current: Option<usize>,
}

impl Consumer {
    pub(crate) fn attach(
        layout: RingLayout,
        memory: &impl SharedMemory,
    ) -> Result<Self, RingError> {
        let produced = memory.load_u32_acquire(layout.produced_offset);
        let consumed = memory.load_u32_acquire(layout.consumed_offset);
        used_bytes(&layout, produced, consumed)?;
        Ok(Self {
            layout,
            consumed,
            current: None,
        })
    }

    /// The direction of this ring.
    pub fn direction(&self) -> Direction {
        self.layout.direction
    }

    /// The length of the oldest message, or `None` when the ring is empty. The message stays
    /// until [`Consumer::release`]; calling `next` again returns the same one.
    pub fn next(&mut self, memory: &impl SharedMemory) -> Result<Option<usize>, RingError> {
        if let Some(length) = self.current {
            return Ok(Some(length));
        }
        let ring = self.layout.direction;
        let produced = memory.load_u32_acquire(self.layout.produced_offset);
        let available = used_bytes(&self.layout, produced, self.consumed)?;
        if available == 0 {
            return Ok(None);
        }
        // `available` is a non-zero multiple of 8, so a whole frame header is published.
        let mut header = [0; FRAME_HEADER_SIZE];
        read_wrapping(memory, &self.layout, self.consumed, &mut header);
        let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let length_bytes = length as usize;
        if length_bytes > self.layout.max_message || frame_size(length_bytes) > available as usize {
            return Err(RingError::CorruptFrame {
                ring,
                length,
                available,
            });
        }
        self.current = Some(length_bytes);
        Ok(Some(length_bytes))
    }

    /// Reads `buffer.len()` bytes at `offset` of the oldest message (after [`Consumer::next`]).
    pub fn read(
        &self,
        memory: &impl SharedMemory,
        offset: usize,
        buffer: &mut [u8],
    ) -> Result<(), RingError> {
        let ring = self.layout.direction;
        let length = self
            .current
            .ok_or(RingError::NoMessageInProgress { ring })?;
        check_inside(ring, offset, buffer.len(), length)?;
        // Both below the ring size, which is a u32.
        let counter = self
            .consumed
            .wrapping_add(FRAME_HEADER_SIZE as u32)
            .wrapping_add(offset as u32);
        read_wrapping(memory, &self.layout, counter, buffer);
        Ok(())
    }

    /// Frees the oldest message's space for the producer (release, after all reads of it).
    pub fn release(&mut self, memory: &impl SharedMemory) -> Result<(), RingError> {
        let ring = self.layout.direction;
        let length = self
            .current
            .take()
            .ok_or(RingError::NoMessageInProgress { ring })?;
        // A frame is at most a ring long, which is a u32.
        self.consumed = self.consumed.wrapping_add(frame_size(length) as u32);
        memory.store_u32_release(self.layout.consumed_offset, self.consumed);
        Ok(())
    }

    /// Takes the oldest message whole into `buffer`: its length, or `None` when the ring is
    /// empty. A message longer than `buffer` stays in the ring.
    pub fn receive(
        &mut self,
        memory: &impl SharedMemory,
        buffer: &mut [u8],
    ) -> Result<Option<usize>, RingError> {
        let Some(length) = self.next(memory)? else {
            return Ok(None);
        };
        let Some(destination) = buffer.get_mut(..length) else {
            return Err(RingError::BufferTooSmall {
                ring: self.layout.direction,
                length,
                buffer: buffer.len(),
            });
        };
        self.read(memory, 0, destination)?;
        self.release(memory)?;
        Ok(Some(length))
    }
}
