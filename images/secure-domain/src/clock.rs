//! Generic-timer arithmetic for the heartbeat: tick counts to milliseconds, and the next
//! deadline of a periodic timer that must not drift nor fire in a burst after a stall; and the
//! RTC's seconds as the nanoseconds hyp-arm's TRUSTED_TIME_SET takes.

/// UNIX nanoseconds for the PL031's `seconds` (a 32-bit count, so the product fits in u64).
pub fn rtc_seconds_to_unix_nanoseconds(seconds: u32) -> u64 {
    u64::from(seconds) * 1_000_000_000
}

/// Milliseconds in `ticks` of a counter running at `frequency` Hz; 0 for a zero frequency
/// (the caller checks CNTFRQ_EL0 first and reports it).
pub fn ticks_to_milliseconds(ticks: u64, frequency: u64) -> u64 {
    if frequency == 0 {
        return 0;
    }
    // 128-bit intermediate: ticks * 1000 overflows u64 after about 9 years at 62.5 MHz.
    let milliseconds = u128::from(ticks) * 1000 / u128::from(frequency);
    u64::try_from(milliseconds).unwrap_or(u64::MAX)
}

/// The deadline after `previous` for a timer with `period` ticks, seen at counter `now`.
///
/// Normally one period after the previous deadline, so heartbeats do not drift by the interrupt
/// latency. If the domain did not run for longer than a period (another domain had the CPU, the
/// host was busy), the missed beats are skipped: the next deadline is one period after `now`
/// rather than a burst of interrupts in the past.
pub fn next_deadline(previous: u64, period: u64, now: u64) -> u64 {
    let following = previous.saturating_add(period);
    if following > now {
        following
    } else {
        now.saturating_add(period)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_from_ticks() {
        assert_eq!(ticks_to_milliseconds(62_500_000, 62_500_000), 1000);
        assert_eq!(ticks_to_milliseconds(62_499, 62_500_000), 0);
        assert_eq!(ticks_to_milliseconds(62_500, 62_500_000), 1);
        assert_eq!(
            ticks_to_milliseconds(3 * 24_000_000 + 12_000_000, 24_000_000),
            3500
        );
        // A counter near its end does not overflow the multiplication.
        assert_eq!(ticks_to_milliseconds(u64::MAX, 1000), u64::MAX);
        assert_eq!(ticks_to_milliseconds(5, 0), 0);
    }

    #[test]
    fn rtc_seconds_become_nanoseconds_even_at_the_end_of_the_counter() {
        assert_eq!(
            rtc_seconds_to_unix_nanoseconds(1_700_000_000),
            1_700_000_000_000_000_000
        );
        assert_eq!(rtc_seconds_to_unix_nanoseconds(0), 0);
        assert_eq!(
            rtc_seconds_to_unix_nanoseconds(u32::MAX),
            4_294_967_295_000_000_000
        );
    }

    #[test]
    fn deadlines_keep_the_period_and_skip_missed_beats() {
        assert_eq!(next_deadline(1000, 100, 1010), 1100);
        // Exactly at the next deadline: it has passed, so skip it.
        assert_eq!(next_deadline(1000, 100, 1100), 1200);
        // Stalled for several periods: one period after now, no burst.
        assert_eq!(next_deadline(1000, 100, 1750), 1850);
        assert_eq!(next_deadline(u64::MAX - 5, 100, u64::MAX - 1), u64::MAX);
    }
}
