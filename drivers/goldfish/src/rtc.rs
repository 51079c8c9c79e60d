//! `google,goldfish-rtc`: nanoseconds since the UNIX epoch, registers as Linux's
//! drivers/rtc/rtc-goldfish.c uses them. Reading TIME_LOW latches the high half that TIME_HIGH
//! then returns, so the two reads form one value. The time is the context's (the secure
//! domain's trusted time once published) plus what the guest set through TIME_HIGH/TIME_LOW,
//! which moves only its own view. The alarm is checked when the guest accesses the device
//! (hyp-arm has no timer of its own for it yet): an alarm in the past fires on the next access.
#![forbid(unsafe_code)]

use hyp_arm::sync::Mutex;
use hyp_arm::vdev::emulated::{AccessError, DeviceContext, EmulatedDevice};

use crate::require_word;

/// Register offsets (rtc-goldfish.c).
mod register {
    pub const TIME_LOW: u64 = 0x00;
    pub const TIME_HIGH: u64 = 0x04;
    pub const ALARM_LOW: u64 = 0x08;
    pub const ALARM_HIGH: u64 = 0x0c;
    pub const IRQ_ENABLED: u64 = 0x10;
    pub const CLEAR_ALARM: u64 = 0x14;
    pub const ALARM_STATUS: u64 = 0x18;
    pub const CLEAR_INTERRUPT: u64 = 0x1c;
}

struct State {
    /// Added to the context's time: what the guest set minus what it was.
    guest_offset: i64,
    /// TIME_HIGH as latched by the last TIME_LOW read.
    latched_high: u32,
    /// TIME_HIGH written, waiting for the TIME_LOW write that completes a set.
    pending_time_high: u32,
    alarm: u64,
    alarm_high: u32,
    alarm_armed: bool,
    irq_enabled: bool,
    interrupt_pending: bool,
    interrupt_requested: bool,
}

const POWER_ON: State = State {
    guest_offset: 0,
    latched_high: 0,
    pending_time_high: 0,
    alarm: 0,
    alarm_high: 0,
    alarm_armed: false,
    irq_enabled: false,
    interrupt_pending: false,
    interrupt_requested: false,
};

/// The RTC model.
pub struct Rtc {
    state: Mutex<State>,
}

impl Default for Rtc {
    fn default() -> Self {
        Self::new()
    }
}

impl Rtc {
    pub const fn new() -> Rtc {
        Rtc {
            state: Mutex::new(POWER_ON),
        }
    }
}

fn now(state: &State, context: &dyn DeviceContext) -> u64 {
    context
        .unix_time_nanoseconds()
        .wrapping_add_signed(state.guest_offset)
}

/// Fires an armed alarm whose time has come.
fn check_alarm(state: &mut State, context: &dyn DeviceContext) {
    if state.alarm_armed && now(state, context) >= state.alarm {
        state.alarm_armed = false;
        if state.irq_enabled && !state.interrupt_pending {
            state.interrupt_pending = true;
            state.interrupt_requested = true;
        }
    }
}

impl EmulatedDevice for Rtc {
    fn read(
        &self,
        context: &dyn DeviceContext,
        offset: u64,
        width: u8,
    ) -> Result<u64, AccessError> {
        require_word(offset, width)?;
        let mut state = self.state.lock();
        check_alarm(&mut state, context);
        let value = match offset {
            register::TIME_LOW => {
                let time = now(&state, context);
                state.latched_high = (time >> 32) as u32;
                time as u32
            }
            register::TIME_HIGH => state.latched_high,
            register::ALARM_LOW => state.alarm as u32,
            register::ALARM_HIGH => (state.alarm >> 32) as u32,
            register::IRQ_ENABLED => u32::from(state.irq_enabled),
            register::ALARM_STATUS => u32::from(state.alarm_armed),
            register::CLEAR_ALARM | register::CLEAR_INTERRUPT => {
                return Err(AccessError::WriteOnly { offset })
            }
            _ => return Err(AccessError::NoRegister { offset }),
        };
        Ok(u64::from(value))
    }

    fn write(
        &self,
        context: &dyn DeviceContext,
        offset: u64,
        width: u8,
        value: u64,
    ) -> Result<(), AccessError> {
        require_word(offset, width)?;
        let value = value as u32;
        let mut state = self.state.lock();
        match offset {
            register::TIME_HIGH => state.pending_time_high = value,
            register::TIME_LOW => {
                let wanted = u64::from(state.pending_time_high) << 32 | u64::from(value);
                let base = context.unix_time_nanoseconds();
                state.guest_offset = wanted.wrapping_sub(base) as i64;
            }
            register::ALARM_HIGH => state.alarm_high = value,
            register::ALARM_LOW => {
                // Writing the low half arms the alarm (the driver writes the high half first).
                state.alarm = u64::from(state.alarm_high) << 32 | u64::from(value);
                state.alarm_armed = true;
            }
            register::IRQ_ENABLED => state.irq_enabled = value & 1 != 0,
            register::CLEAR_ALARM => state.alarm_armed = false,
            register::CLEAR_INTERRUPT => state.interrupt_pending = false,
            register::ALARM_STATUS => return Err(AccessError::ReadOnly { offset }),
            _ => return Err(AccessError::NoRegister { offset }),
        }
        check_alarm(&mut state, context);
        Ok(())
    }

    fn take_interrupt(&self) -> bool {
        core::mem::take(&mut self.state.lock().interrupt_requested)
    }

    fn reset(&self) {
        *self.state.lock() = POWER_ON;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeContext;

    const NOW: u64 = 1_700_000_000 * 1_000_000_000;

    fn read_time(rtc: &Rtc, context: &FakeContext) -> u64 {
        let low = rtc.read(context, register::TIME_LOW, 4).unwrap();
        let high = rtc.read(context, register::TIME_HIGH, 4).unwrap();
        high << 32 | low
    }

    #[test]
    fn the_time_is_the_contexts_and_low_latches_high() {
        let rtc = Rtc::new();
        let context = FakeContext::new();
        context.now.set(NOW);
        assert_eq!(read_time(&rtc, &context), NOW);
        // The high half moves between the two reads: the latched one is returned.
        let low = rtc.read(&context, register::TIME_LOW, 4).unwrap();
        context.now.set(NOW + (1 << 32));
        let high = rtc.read(&context, register::TIME_HIGH, 4).unwrap();
        assert_eq!(high << 32 | low, NOW);
    }

    #[test]
    fn a_guest_set_moves_only_its_view() {
        let rtc = Rtc::new();
        let context = FakeContext::new();
        context.now.set(NOW);
        let wanted = NOW + 3_600_000_000_000;
        rtc.write(&context, register::TIME_HIGH, 4, wanted >> 32)
            .unwrap();
        rtc.write(&context, register::TIME_LOW, 4, wanted & 0xffff_ffff)
            .unwrap();
        context.now.set(NOW + 5);
        assert_eq!(read_time(&rtc, &context), wanted + 5);
    }

    #[test]
    fn an_alarm_interrupts_when_due_and_enabled() {
        let rtc = Rtc::new();
        let context = FakeContext::new();
        context.now.set(NOW);
        let alarm = NOW + 1000;
        rtc.write(&context, register::ALARM_HIGH, 4, alarm >> 32)
            .unwrap();
        rtc.write(&context, register::ALARM_LOW, 4, alarm & 0xffff_ffff)
            .unwrap();
        rtc.write(&context, register::IRQ_ENABLED, 4, 1).unwrap();
        assert_eq!(rtc.read(&context, register::ALARM_STATUS, 4), Ok(1));
        assert!(!rtc.take_interrupt(), "not due yet");
        context.now.set(alarm);
        assert_eq!(rtc.read(&context, register::ALARM_STATUS, 4), Ok(0));
        assert!(rtc.take_interrupt());
        rtc.write(&context, register::CLEAR_INTERRUPT, 4, 1)
            .unwrap();
        assert!(!rtc.take_interrupt());
    }

    #[test]
    fn bad_accesses_are_refused() {
        let rtc = Rtc::new();
        let context = FakeContext::new();
        assert_eq!(
            rtc.read(&context, register::CLEAR_ALARM, 4),
            Err(AccessError::WriteOnly { offset: 0x14 })
        );
        assert_eq!(
            rtc.read(&context, register::TIME_LOW, 8),
            Err(AccessError::UnsupportedWidth {
                offset: 0,
                width: 8
            })
        );
        assert_eq!(
            rtc.write(&context, 0x20, 4, 0),
            Err(AccessError::NoRegister { offset: 0x20 })
        );
    }
}
