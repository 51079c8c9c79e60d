//! Inter-domain channels and the virtio-mmio transport they back: a rich guest's virtio-vsock
//! device whose registers hyp-arm emulates, and the packet mover between the guest's virtqueues
//! and the shared-memory ring of the backend domain (`hyp-arm-channel-ring`, docs/CHANNELS.md).
//!
//! All of it is pure and host-tested; the caller supplies the guest's RAM ([`GuestMemory`]) and
//! the channel region ([`hyp_arm_channel_ring::SharedMemory`]), and acts on the effects.
#![forbid(unsafe_code)]

pub mod guest_memory;
pub mod virtio_mmio;
pub mod virtqueue;
pub mod vsock;

pub use guest_memory::{GuestAddress, GuestMemory, GuestMemoryError, GuestRam, GuestRamRange};

#[cfg(test)]
mod test_support;
