//! hyp-arm: an AArch64 EL2 hypervisor core, independent of any board.
//!
//! Pure logic (device-tree handling, page-table layout, vGIC state, exit decoding) builds and is
//! unit-tested on the host; everything that touches the hardware lives under `arch` and is compiled
//! only for AArch64.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod channel;
pub mod console;
pub mod domain;
pub mod mm;
pub mod platform;
pub mod sync;
pub mod trap;
pub mod vcpu_power;
pub mod vdev;
pub mod vgic;

#[cfg(target_arch = "aarch64")]
pub mod arch;
#[cfg(target_arch = "aarch64")]
pub mod hypervisor;
