//! GICv2 (IHI 0048B): distributor, CPU interface and virtual interface control, all memory-mapped.

mod cpu_interface;
mod distributor;
mod hyp_interface;
pub mod registers;

pub use cpu_interface::Gicv2CpuInterface;
pub use distributor::Gicv2Distributor;
pub use hyp_interface::Gicv2HypInterface;

#[cfg(test)]
mod tests;
