//! Runner for whole-system tests: boots QEMU and waits for console output.
