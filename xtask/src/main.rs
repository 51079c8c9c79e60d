//! `cargo xtask`: the one entry point for building, running, testing and benchmarking hyp-arm.
fn main() {}
