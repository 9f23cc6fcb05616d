//! "Now", injected: domain code never reads the system clock, so every rule is testable.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real time.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to, and only forward (development driver and tests).
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    pub fn starting_at(now: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(now)))
    }

    /// Moves the clock to `to`; refuses to go back in time.
    pub fn set(&self, to: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        let mut now = self.0.lock().expect("clock");
        if to < *now {
            return Err(*now);
        }
        *now = to;
        Ok(())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock")
    }
}

/// The calendar day in Moscow at `at`: the day that counts for ages, interest and due dates.
pub use k911_aggregates::calendar::moscow_date;

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_manual_clock_moves_forward_only() {
        let start = Utc.with_ymd_and_hms(2026, 12, 1, 7, 0, 0).unwrap();
        let clock = ManualClock::starting_at(start);
        let later = start + chrono::Duration::hours(1);
        assert!(clock.set(later).is_ok());
        assert_eq!(clock.now(), later);
        assert_eq!(clock.set(start), Err(later));
        assert_eq!(clock.now(), later);
    }

    #[test]
    fn the_moscow_day_turns_at_21_00_utc() {
        use chrono::TimeZone;
        let before = Utc.with_ymd_and_hms(2026, 11, 27, 20, 59, 59).unwrap();
        let after = Utc.with_ymd_and_hms(2026, 11, 27, 21, 0, 0).unwrap();
        assert_eq!(moscow_date(before).to_string(), "2026-11-27");
        assert_eq!(moscow_date(after).to_string(), "2026-11-28");
    }
}
