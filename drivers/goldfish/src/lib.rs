//! The Android emulator's goldfish devices as register models for hyp-arm's board-emulated
//! devices (`hyp_arm::vdev::emulated::EmulatedDevice`). Each follows the register interface of
//! the upstream Linux driver that binds to it, so kernels built for the emulator's `ranchu`
//! board find what they expect: `google,goldfish-battery` (drivers/power/supply/
//! goldfish_battery.c), `google,goldfish-events-keypad` (drivers/input/keyboard/
//! goldfish_events.c), `google,goldfish-rtc` (drivers/rtc/rtc-goldfish.c) and
//! `google,goldfish-tty` (drivers/tty/goldfish.c). Pure and host-tested; no unsafe.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod battery;
pub mod keypad;
pub mod rtc;
pub mod tty;

#[cfg(test)]
mod testing;

use hyp_arm::vdev::emulated::AccessError;

/// The goldfish devices' registers are 32-bit; refuses any other width.
fn require_word(offset: u64, width: u8) -> Result<(), AccessError> {
    if width == 4 && offset.is_multiple_of(4) {
        Ok(())
    } else {
        Err(AccessError::UnsupportedWidth { offset, width })
    }
}

/// Parses a decimal number typed in a console command.
fn parse_number(word: &str) -> Option<u32> {
    if word.is_empty() || word.len() > 9 || !word.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    word.bytes().try_fold(0u32, |value, digit| {
        Some(value * 10 + u32::from(digit - b'0'))
    })
}
