//! hyp-arm for QEMU virt.
#![no_std]
#![no_main]
