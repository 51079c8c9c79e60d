//! Everything that can go wrong with a channel, each naming what and which ring.

use core::fmt;

use crate::Direction;

/// A channel or ring error. Those that describe the shared memory (`BadMagic` to
/// `CorruptFrame`) mean the peer is hostile or broken: the channel cannot be trusted any more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// The region is smaller than a header and two rings that hold one largest message each.
    RegionTooSmall { size: usize, needed: usize },
    /// `max_message` asked of [`crate::Channel::initialize`] is zero or above
    /// [`crate::MAX_MESSAGE`].
    UnsupportedMaxMessage { max_message: usize },
    /// The header does not start with [`crate::MAGIC`]: not (yet) a channel.
    BadMagic { found: u32 },
    /// The header's format version is not [`crate::VERSION`].
    UnsupportedVersion { found: u32 },
    /// The header's region size differs from the memory actually mapped.
    RegionSizeMismatch { header: u32, mapped: usize },
    /// The header's ring size is not a power of two, cannot hold one largest message, or the
    /// two rings do not fit in the region.
    BadRingSize { ring_size: u32 },
    /// The header's largest message is zero or above [`crate::MAX_MESSAGE`].
    BadMaxMessage { found: u32 },
    /// The header's data offset is not [`crate::HEADER_SIZE`].
    BadDataOffset { found: u32 },
    /// The ring's indices are impossible: not 8-byte aligned, or further apart than the ring
    /// is long.
    CorruptIndices {
        ring: Direction,
        produced: u32,
        consumed: u32,
    },
    /// A frame's length is larger than the largest message or than what the producer published.
    CorruptFrame {
        ring: Direction,
        length: u32,
        available: u32,
    },
    /// A message longer than the channel's largest message was refused.
    MessageTooLarge {
        ring: Direction,
        length: usize,
        max: usize,
    },
    /// The ring has no room for the message now; retry after the consumer has taken some.
    Full {
        ring: Direction,
        needed: usize,
        free: usize,
    },
    /// A write or read beyond the end of the message being built or read.
    OutsideMessage {
        ring: Direction,
        offset: usize,
        length: usize,
        message_length: usize,
    },
    /// `write`/`commit` without `begin`, `read`/`release` without `next`, or `begin` twice.
    NoMessageInProgress { ring: Direction },
    /// `begin` while a message is already being built.
    MessageInProgress { ring: Direction },
    /// The buffer handed to `receive` is shorter than the message (which stays in the ring).
    BufferTooSmall {
        ring: Direction,
        length: usize,
        buffer: usize,
    },
}

impl fmt::Display for RingError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::RegionTooSmall { size, needed } => write!(
                formatter,
                "channel region of {size} bytes is too small: at least {needed} needed"
            ),
            Self::UnsupportedMaxMessage { max_message } => write!(
                formatter,
                "channel largest message of {max_message} bytes is not in 1..={}",
                crate::MAX_MESSAGE
            ),
            Self::BadMagic { found } => {
                write!(formatter, "channel header magic is {found:#010x}, not a channel")
            }
            Self::UnsupportedVersion { found } => write!(
                formatter,
                "channel header version {found} is not the supported {}",
                crate::VERSION
            ),
            Self::RegionSizeMismatch { header, mapped } => write!(
                formatter,
                "channel header says {header} bytes but {mapped} bytes are mapped"
            ),
            Self::BadRingSize { ring_size } => write!(
                formatter,
                "channel header ring size {ring_size} is not a power of two that fits the region and a largest message"
            ),
            Self::BadMaxMessage { found } => write!(
                formatter,
                "channel header largest message {found} is not in 1..={}",
                crate::MAX_MESSAGE
            ),
            Self::BadDataOffset { found } => write!(
                formatter,
                "channel header data offset {found:#x} is not {:#x}",
                crate::HEADER_SIZE
            ),
            Self::CorruptIndices {
                ring,
                produced,
                consumed,
            } => write!(
                formatter,
                "{ring} ring indices are corrupt: produced {produced:#x}, consumed {consumed:#x}"
            ),
            Self::CorruptFrame {
                ring,
                length,
                available,
            } => write!(
                formatter,
                "{ring} ring frame of {length} bytes is corrupt: {available} bytes published"
            ),
            Self::MessageTooLarge { ring, length, max } => write!(
                formatter,
                "{ring} ring refused a message of {length} bytes: at most {max}"
            ),
            Self::Full { ring, needed, free } => write!(
                formatter,
                "{ring} ring is full: {needed} bytes needed, {free} free"
            ),
            Self::OutsideMessage {
                ring,
                offset,
                length,
                message_length,
            } => write!(
                formatter,
                "{ring} ring access of {length} bytes at {offset} is outside the {message_length}-byte message"
            ),
            Self::NoMessageInProgress { ring } => {
                write!(formatter, "{ring} ring has no message in progress")
            }
            Self::MessageInProgress { ring } => {
                write!(formatter, "{ring} ring already has a message in progress")
            }
            Self::BufferTooSmall {
                ring,
                length,
                buffer,
            } => write!(
                formatter,
                "{ring} ring message of {length} bytes does not fit a {buffer}-byte buffer"
            ),
        }
    }
}
