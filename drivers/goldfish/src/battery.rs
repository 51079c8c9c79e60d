//! `google,goldfish-battery`: battery and mains (AC) state, registers as Linux's
//! drivers/power/supply/goldfish_battery.c reads them. A change of either raises the interrupt
//! when enabled; reading INT_STATUS returns and clears the change bits. The state is set from
//! the hypervisor console (`battery capacity 42`, `battery ac on|off`, `battery status
//! charging|discharging|not-charging|full`) or by the board.
#![forbid(unsafe_code)]

use hyp_arm::sync::Mutex;
use hyp_arm::vdev::emulated::{AccessError, CommandError, DeviceContext, EmulatedDevice};

use crate::{parse_number, require_word};

/// Register offsets (goldfish_battery.c).
mod register {
    pub const INT_STATUS: u64 = 0x00;
    pub const INT_ENABLE: u64 = 0x04;
    pub const AC_ONLINE: u64 = 0x08;
    pub const STATUS: u64 = 0x0c;
    pub const HEALTH: u64 = 0x10;
    pub const PRESENT: u64 = 0x14;
    pub const CAPACITY: u64 = 0x18;
    pub const VOLTAGE: u64 = 0x1c;
    pub const TEMP: u64 = 0x20;
    pub const CHARGE_COUNTER: u64 = 0x24;
    pub const VOLTAGE_MAX: u64 = 0x28;
    pub const CURRENT_MAX: u64 = 0x2c;
    pub const CURRENT_NOW: u64 = 0x30;
    pub const CURRENT_AVG: u64 = 0x34;
    pub const CHARGE_FULL_UAH: u64 = 0x38;
    pub const CYCLE_COUNT: u64 = 0x40;
}

/// INT_STATUS / INT_ENABLE bits.
pub const BATTERY_STATUS_CHANGED: u32 = 1 << 0;
pub const AC_STATUS_CHANGED: u32 = 1 << 1;
const INTERRUPT_MASK: u32 = BATTERY_STATUS_CHANGED | AC_STATUS_CHANGED;

/// POWER_SUPPLY_STATUS_* (include/linux/power_supply.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ChargeStatus {
    Charging = 1,
    Discharging = 2,
    NotCharging = 3,
    Full = 4,
}

/// POWER_SUPPLY_HEALTH_GOOD.
const HEALTH_GOOD: u32 = 1;

#[derive(Clone, Copy, Debug)]
struct State {
    interrupt_status: u32,
    interrupt_enable: u32,
    ac_online: bool,
    status: ChargeStatus,
    capacity: u32,
    interrupt_requested: bool,
}

const POWER_ON: State = State {
    interrupt_status: 0,
    interrupt_enable: 0,
    ac_online: true,
    status: ChargeStatus::Charging,
    capacity: 50,
    interrupt_requested: false,
};

/// The battery model.
pub struct Battery {
    state: Mutex<State>,
}

impl Default for Battery {
    fn default() -> Self {
        Self::new()
    }
}

impl Battery {
    /// On mains, charging, 50 %.
    pub const fn new() -> Battery {
        Battery {
            state: Mutex::new(POWER_ON),
        }
    }

    /// Sets the capacity (0-100 %); raises BATTERY_STATUS_CHANGED.
    pub fn set_capacity(&self, percent: u32) {
        let mut state = self.state.lock();
        state.capacity = percent.min(100);
        changed(&mut state, BATTERY_STATUS_CHANGED);
    }

    /// Plugs or unplugs the mains; raises AC_STATUS_CHANGED (and the charge status follows).
    pub fn set_ac_online(&self, online: bool) {
        let mut state = self.state.lock();
        state.ac_online = online;
        state.status = match (online, state.capacity) {
            (true, 100) => ChargeStatus::Full,
            (true, _) => ChargeStatus::Charging,
            (false, _) => ChargeStatus::Discharging,
        };
        changed(&mut state, AC_STATUS_CHANGED | BATTERY_STATUS_CHANGED);
    }

    /// Sets the charge status; raises BATTERY_STATUS_CHANGED.
    pub fn set_status(&self, status: ChargeStatus) {
        let mut state = self.state.lock();
        state.status = status;
        changed(&mut state, BATTERY_STATUS_CHANGED);
    }
}

/// Records a change; the line rises when an enabled bit becomes pending.
fn changed(state: &mut State, bits: u32) {
    let before = state.interrupt_status & state.interrupt_enable;
    state.interrupt_status |= bits;
    let after = state.interrupt_status & state.interrupt_enable;
    if after != 0 && before == 0 {
        state.interrupt_requested = true;
    }
}

impl EmulatedDevice for Battery {
    fn read(&self, _: &dyn DeviceContext, offset: u64, width: u8) -> Result<u64, AccessError> {
        require_word(offset, width)?;
        let mut state = self.state.lock();
        let value = match offset {
            register::INT_STATUS => {
                // Read-to-clear, as the emulator does: the driver's handler reads it once.
                let pending = state.interrupt_status & state.interrupt_enable;
                state.interrupt_status &= !pending;
                pending
            }
            register::INT_ENABLE => state.interrupt_enable,
            register::AC_ONLINE => u32::from(state.ac_online),
            register::STATUS => state.status as u32,
            register::HEALTH => HEALTH_GOOD,
            register::PRESENT => 1,
            register::CAPACITY => state.capacity,
            // Plausible fixed values for the properties the driver also reports (µV, 0.1 °C,
            // µAh, µA): a 3.8 V cell at 25 °C, 3000 mAh.
            register::VOLTAGE => 3_800_000,
            register::TEMP => 250,
            register::CHARGE_COUNTER => 30_000 * state.capacity,
            register::VOLTAGE_MAX => 5_000_000,
            register::CURRENT_MAX => 2_000_000,
            register::CURRENT_NOW | register::CURRENT_AVG => 0,
            register::CHARGE_FULL_UAH => 3_000_000,
            register::CYCLE_COUNT => 10,
            _ => return Err(AccessError::NoRegister { offset }),
        };
        Ok(u64::from(value))
    }

    fn write(
        &self,
        _: &dyn DeviceContext,
        offset: u64,
        width: u8,
        value: u64,
    ) -> Result<(), AccessError> {
        require_word(offset, width)?;
        let mut state = self.state.lock();
        match offset {
            register::INT_ENABLE => {
                state.interrupt_enable = value as u32 & INTERRUPT_MASK;
                if state.interrupt_status & state.interrupt_enable != 0 {
                    state.interrupt_requested = true;
                }
                Ok(())
            }
            register::INT_STATUS..=register::CYCLE_COUNT => Err(AccessError::ReadOnly { offset }),
            _ => Err(AccessError::NoRegister { offset }),
        }
    }

    fn take_interrupt(&self) -> bool {
        core::mem::take(&mut self.state.lock().interrupt_requested)
    }

    fn command(&self, _: &dyn DeviceContext, words: &[&str]) -> Result<(), CommandError> {
        const USAGE: &str = "battery capacity <0-100> | battery ac on|off | battery status \
                             charging|discharging|not-charging|full";
        match words {
            ["battery", "capacity", number] => match parse_number(number) {
                Some(percent) if percent <= 100 => self.set_capacity(percent),
                _ => return Err(CommandError::Usage(USAGE)),
            },
            ["battery", "ac", "on"] => self.set_ac_online(true),
            ["battery", "ac", "off"] => self.set_ac_online(false),
            ["battery", "status", status] => self.set_status(match *status {
                "charging" => ChargeStatus::Charging,
                "discharging" => ChargeStatus::Discharging,
                "not-charging" => ChargeStatus::NotCharging,
                "full" => ChargeStatus::Full,
                _ => return Err(CommandError::Usage(USAGE)),
            }),
            ["battery", ..] => return Err(CommandError::Usage(USAGE)),
            _ => return Err(CommandError::NotMine),
        }
        Ok(())
    }

    fn reset(&self) {
        // The battery's charge and the mains survive a guest restart; the interface does not.
        let mut state = self.state.lock();
        state.interrupt_status = 0;
        state.interrupt_enable = 0;
        state.interrupt_requested = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeContext;

    fn read(battery: &Battery, offset: u64) -> u64 {
        battery.read(&FakeContext::new(), offset, 4).unwrap()
    }

    #[test]
    fn the_driver_reads_what_the_console_set() {
        let battery = Battery::new();
        let context = FakeContext::new();
        assert_eq!(read(&battery, register::PRESENT), 1);
        assert_eq!(read(&battery, register::HEALTH), 1);
        battery
            .command(&context, &["battery", "capacity", "42"])
            .unwrap();
        battery
            .command(&context, &["battery", "ac", "off"])
            .unwrap();
        assert_eq!(read(&battery, register::CAPACITY), 42);
        assert_eq!(read(&battery, register::AC_ONLINE), 0);
        assert_eq!(
            read(&battery, register::STATUS),
            ChargeStatus::Discharging as u64
        );
        battery.command(&context, &["battery", "ac", "on"]).unwrap();
        assert_eq!(read(&battery, register::AC_ONLINE), 1);
    }

    #[test]
    fn a_change_interrupts_only_once_enabled_and_status_reads_clear() {
        let battery = Battery::new();
        let context = FakeContext::new();
        battery.set_capacity(10);
        assert!(!battery.take_interrupt(), "interrupts not enabled yet");
        // The driver's probe enables both bits; the change before that is then pending.
        battery
            .write(&context, register::INT_ENABLE, 4, u64::from(INTERRUPT_MASK))
            .unwrap();
        assert!(battery.take_interrupt());
        assert!(!battery.take_interrupt(), "a request is taken once");
        assert_eq!(
            read(&battery, register::INT_STATUS),
            u64::from(BATTERY_STATUS_CHANGED)
        );
        assert_eq!(read(&battery, register::INT_STATUS), 0, "read clears");
        battery.set_ac_online(false);
        assert!(battery.take_interrupt());
        assert_eq!(
            read(&battery, register::INT_STATUS),
            u64::from(AC_STATUS_CHANGED | BATTERY_STATUS_CHANGED)
        );
    }

    #[test]
    fn bad_accesses_and_commands_are_refused() {
        let battery = Battery::new();
        let context = FakeContext::new();
        assert_eq!(
            battery.read(&context, register::CAPACITY, 1),
            Err(AccessError::UnsupportedWidth {
                offset: register::CAPACITY,
                width: 1
            })
        );
        assert_eq!(
            battery.read(&context, 0x3c, 4),
            Err(AccessError::NoRegister { offset: 0x3c })
        );
        assert_eq!(
            battery.write(&context, register::CAPACITY, 4, 7),
            Err(AccessError::ReadOnly {
                offset: register::CAPACITY
            })
        );
        assert!(matches!(
            battery.command(&context, &["battery", "capacity", "101"]),
            Err(CommandError::Usage(_))
        ));
        assert_eq!(
            battery.command(&context, &["key", "power"]),
            Err(CommandError::NotMine)
        );
    }
}
