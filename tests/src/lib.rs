//! Runner for whole-system tests: boots QEMU and waits for console output.
//!
//! The tests under `tests/` need the images that `cargo xtask test` builds and names in the
//! environment (`HYP_ARM_IMAGE`, `HYP_ARM_GUEST_KERNEL`, `HYP_ARM_GUEST_INITRD`, `HYP_ARM_LOG_DIR`).
//! [`command_line`] is also what `cargo xtask run` uses, so people and tests boot the same way.
//! [`uboot`] boots the disk image of `cargo xtask image` through U-Boot instead
//! (`HYP_ARM_UBOOT_DISK`, `HYP_ARM_UBOOT_FIRMWARE`).
#![forbid(unsafe_code)]

pub mod bare_guest;
pub mod command_line;
pub mod console_decoder;
pub mod guest;
pub mod keystore_bench;
pub mod line_joiner;
pub mod runner;
pub mod secure;
pub mod uboot;

pub use command_line::QEMU;
pub use command_line::{BootConfig, BootTarget, Console, GicVersion, Images};
pub use console_decoder::ConsoleDecoder;
pub use guest::Mode;
pub use runner::{Failure, Qemu};
