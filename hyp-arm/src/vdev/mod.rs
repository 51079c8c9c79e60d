//! Emulated devices: register models that trapped guest accesses are forwarded to (pure,
//! host-tested; the caller decodes the access and injects the fault an error asks for).
#![forbid(unsafe_code)]

pub mod emulated;
pub mod pl011;
pub mod trusted_time;
