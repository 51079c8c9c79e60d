//! The secure domain's pure logic, kept apart from the firmware so it runs in host unit tests:
//! reading the domain's device tree, building its stage-1 translation tables, cutting console
//! output into CONSOLE_WRITE hypercalls and the clock arithmetic of the heartbeat.
//!
//! The firmware itself (entry, vectors, drivers, the main loop) is the `secure-domain` binary in
//! `src/firmware/`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod clock;
pub mod console_chunks;
pub mod keystore;
pub mod platform;
pub mod translation;
pub mod vsock;
