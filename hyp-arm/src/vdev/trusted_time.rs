//! Trusted time: the secure domain reads its real-time clock and publishes UNIX time with the
//! TRUSTED_TIME_SET hypercall; hyp-arm keeps it as an offset from the system counter, which
//! board-emulated clocks (the goldfish RTC) add to the counter's time. Pure arithmetic, so the
//! overflow cases are host-tested.

use crate::domain::plan::Role;

/// Whether a domain of `role` may publish trusted time: only the secure service partition, whose
/// RTC no other domain can reach; a rich or driver domain's clock is whatever its guest says.
pub fn may_publish(role: Role) -> bool {
    role == Role::Secure
}

/// Nanoseconds in `ticks` of a counter running at `frequency` Hz; 0 for a zero frequency (a
/// counter nobody set up measures nothing), `u64::MAX` past about 584 years.
pub fn counter_nanoseconds(ticks: u64, frequency: u64) -> u64 {
    if frequency == 0 {
        return 0;
    }
    // 128-bit intermediate: ticks * 10^9 overflows u64 after about 18 seconds at 1 GHz.
    let nanoseconds = u128::from(ticks) * 1_000_000_000 / u128::from(frequency);
    u64::try_from(nanoseconds).unwrap_or(u64::MAX)
}

/// Why a published time was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishError {
    /// The time given is before the counter started (1970 plus the uptime): no real clock says
    /// that, so it is a wrong or unset clock rather than a time to trust.
    BeforeCounterStart {
        unix_nanoseconds: u64,
        counter_nanoseconds: u64,
    },
}

impl core::fmt::Display for PublishError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PublishError::BeforeCounterStart {
                unix_nanoseconds,
                counter_nanoseconds,
            } => write!(
                formatter,
                "UNIX time {unix_nanoseconds} ns is earlier than the {counter_nanoseconds} ns \
                 the counter has run"
            ),
        }
    }
}

/// The offset to store when the secure domain says it is `unix_nanoseconds` while the counter
/// reads `counter_nanoseconds`: UNIX time is then counter time plus the offset.
pub fn offset_for(unix_nanoseconds: u64, counter_nanoseconds: u64) -> Result<u64, PublishError> {
    unix_nanoseconds
        .checked_sub(counter_nanoseconds)
        .ok_or(PublishError::BeforeCounterStart {
            unix_nanoseconds,
            counter_nanoseconds,
        })
}

/// UNIX time in nanoseconds at counter time `counter_nanoseconds`; with the offset still 0 (no
/// time published) that is the time since the counter started. Saturates rather than wrapping
/// back to 1970 in the year 2554.
pub fn unix_time_nanoseconds(counter_nanoseconds: u64, offset: u64) -> u64 {
    counter_nanoseconds.saturating_add(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_secure_role_may_publish() {
        assert!(may_publish(Role::Secure));
        assert!(!may_publish(Role::Rich));
        assert!(!may_publish(Role::Driver));
    }

    #[test]
    fn counter_ticks_become_nanoseconds_without_overflow() {
        assert_eq!(counter_nanoseconds(62_500_000, 62_500_000), 1_000_000_000);
        assert_eq!(counter_nanoseconds(1, 62_500_000), 16);
        assert_eq!(counter_nanoseconds(3, 24_000_000), 125);
        // A day at 1 GHz: ticks * 10^9 is far beyond u64, the result is not.
        assert_eq!(
            counter_nanoseconds(86_400_000_000_000, 1_000_000_000),
            86_400_000_000_000
        );
        assert_eq!(counter_nanoseconds(u64::MAX, 1), u64::MAX);
        assert_eq!(counter_nanoseconds(u64::MAX, u64::MAX), 1_000_000_000);
        assert_eq!(counter_nanoseconds(12345, 0), 0);
    }

    #[test]
    fn the_offset_turns_counter_time_into_the_published_time() {
        // Published 2023-11-14T22:13:20Z, ten seconds after power-on.
        let unix = 1_700_000_000_000_000_000;
        let counter = 10_000_000_000;
        let offset = offset_for(unix, counter).unwrap();
        assert_eq!(unix_time_nanoseconds(counter, offset), unix);
        // Five seconds later the clock has moved on with the counter.
        assert_eq!(
            unix_time_nanoseconds(counter + 5_000_000_000, offset),
            unix + 5_000_000_000
        );
        assert_eq!(offset_for(counter, counter), Ok(0));
    }

    #[test]
    fn a_time_before_the_counter_started_is_refused() {
        assert_eq!(
            offset_for(5, 10),
            Err(PublishError::BeforeCounterStart {
                unix_nanoseconds: 5,
                counter_nanoseconds: 10
            })
        );
    }

    #[test]
    fn before_publication_the_clock_is_the_time_since_power_on() {
        assert_eq!(unix_time_nanoseconds(42, 0), 42);
        assert_eq!(unix_time_nanoseconds(u64::MAX - 1, 5), u64::MAX);
    }
}
