//! The physical Arm GICv2/GICv3 as an EL2 hypervisor drives it: distributor, redistributors, CPU and virtual interfaces.

// The hypervisor owns the physical GIC; guests only ever see the virtual CPU interface that the list
// registers feed. `Gic` gathers what the hypervisor's interrupt path needs on either version; the `gicv2`
// and `gicv3` modules hold the register maps and the full per-block drivers.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod banks;
mod barrier;
mod error;
mod gic;
pub mod gicv2;
pub mod gicv3;
mod intid;
mod list_register;
mod target;
#[cfg(test)]
mod test_support;

pub use error::GicError;
pub use gic::{Gic, Gicv2, Gicv3, MaintenanceStatus, MAINTENANCE_STATUS};
pub use intid::{Acknowledged, IntId, Trigger};
pub use list_register::{ListRegister, ListRegisterKind, ListRegisterState};
pub use target::{Affinity, PhysicalCpuTarget};

/// The priority this crate gives every interrupt at initialisation: the middle of the range, so that
/// callers can place interrupts above and below it (Linux's GICv2/GICv3 drivers use the same default).
pub const DEFAULT_PRIORITY: u8 = 0xa0;
