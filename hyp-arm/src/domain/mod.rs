//! Domains: the system plan and its boot-time check, the guest device tree builder and the guest
//! boot layout (pure, host-testable).
#![forbid(unsafe_code)]
#![allow(
    clippy::result_large_err,
    reason = "errors carry the node path inline (no heap); they are built once, on the failure path"
)]

pub mod boot_layout;
pub mod fdt_writer;
pub mod guest_dt;
pub mod ownership;
pub mod plan;
