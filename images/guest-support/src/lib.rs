//! What hyp-arm's bare-metal test guests (`images/microbench`, `images/hostile`) share: the
//! flattened device tree walker they read their machine from, their command line's options, and
//! the arm64 Image header that lets every Linux loader (QEMU's `-kernel` and guest-loader,
//! hyp-arm) boot them.
//!
//! Pure code, host-tested; the guests run it with the MMU off, so nothing here may need a
//! relocation (no tables of addresses: see `linker/bare-guest.ld`).
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod command_line;
pub mod device_tree;
mod image_header;
