//! GICv3 (IHI 0069): MMIO distributor and redistributors, system-register CPU and virtual interface control.

pub mod cpu_interface;
mod distributor;
mod hyp_interface;
mod redistributor;
pub mod registers;
mod sysreg;

pub use cpu_interface::SgiTarget;
pub use distributor::Gicv3Distributor;
pub use hyp_interface::Gicv3HypInterface;
pub use redistributor::Gicv3Redistributor;

#[cfg(test)]
pub(crate) mod tests;
