//! Trap decoding: what a guest exit means (exception class, MMIO access, system register, hypercall),
//! decoded into plain values so the handlers elsewhere stay small and this part is host-tested.

pub mod exit;
pub mod smccc;
