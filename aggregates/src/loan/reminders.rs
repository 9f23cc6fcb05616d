//! When a debtor may be reminded of an overdue loan by SMS: Federal Law 230-FZ art. 7 limits
//! the lender's own messages to a debtor to 2 a day, 4 a week and 16 a month, and forbids them
//! at night: on working days from 22:00 to 08:00, on weekends and holidays from 20:00 to 09:00,
//! in the debtor's local time (the time zone of their residence or registration region, kept on
//! the loan). The defaults below are the law's; a deployment may configure others (a stricter
//! product policy). Which days are working days is the production calendar's answer, the same
//! one the credit-bureau deadlines count by: a day off moved by the government's decree (9
//! January, 9 March, 11 May and 31 December 2026) has the weekend's hours, a Saturday worked in
//! its place the working day's.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::regions::LocalTimeZone;
use crate::working_days::ProductionCalendar;

// Unknown fields refused: `holidays`, which older configurations set, is the production
// calendar's now, and silently ignoring it would hide that.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReminderRules {
    /// Art. 7 part 3 point 3 (b): at most so many messages a day...
    pub per_day: usize,
    /// ...a week...
    pub per_week: usize,
    /// ...and a month.
    pub per_month: usize,
    /// Art. 7 part 3 point 1: hours (local) when messages may go on working days, `[from, to)`.
    pub working_day_hours: (u32, u32),
    /// ...and on weekends and public holidays.
    pub day_off_hours: (u32, u32),
    /// Which days are worked: configured with the bureau's (`K911_PRODUCTION_CALENDAR`), not
    /// with these limits.
    #[serde(skip)]
    pub calendar: Arc<ProductionCalendar>,
    /// The product's own pace: the least time between two reminders.
    pub min_interval_hours: i64,
}

impl Default for ReminderRules {
    fn default() -> Self {
        Self {
            per_day: 2,
            per_week: 4,
            per_month: 16,
            working_day_hours: (8, 22),
            day_off_hours: (9, 20),
            calendar: Arc::default(),
            min_interval_hours: 6,
        }
    }
}

impl ReminderRules {
    fn local(at: DateTime<Utc>, zone: LocalTimeZone) -> DateTime<Tz> {
        at.with_timezone(&zone.tz())
    }

    /// The debtor's calendar day at `at`.
    pub fn local_date(&self, at: DateTime<Utc>, zone: LocalTimeZone) -> NaiveDate {
        Self::local(at, zone).date_naive()
    }

    /// Whether `at` falls within the hours messages may be sent to a debtor in `zone`.
    pub fn in_hours(&self, at: DateTime<Utc>, zone: LocalTimeZone) -> bool {
        let local = Self::local(at, zone);
        let (from, to) = if self.calendar.is_working_day(local.date_naive()) {
            self.working_day_hours
        } else {
            self.day_off_hours
        };
        (from..to).contains(&local.hour())
    }

    /// Whether another reminder may go at `now` to a debtor in `zone`, given those sent before
    /// (any order).
    pub fn may_send(
        &self,
        now: DateTime<Utc>,
        sent: &[DateTime<Utc>],
        zone: LocalTimeZone,
    ) -> bool {
        if !self.in_hours(now, zone) {
            return false;
        }
        let today = self.local_date(now, zone);
        let local_days: Vec<NaiveDate> = sent.iter().map(|t| self.local_date(*t, zone)).collect();
        let same_day = local_days.iter().filter(|d| **d == today).count();
        let same_week = local_days
            .iter()
            .filter(|d| d.iso_week() == today.iso_week())
            .count();
        let same_month = local_days
            .iter()
            .filter(|d| (d.year(), d.month()) == (today.year(), today.month()))
            .count();
        let rested = sent
            .iter()
            .all(|t| now - *t >= Duration::hours(self.min_interval_hours));
        same_day < self.per_day
            && same_week < self.per_week
            && same_month < self.per_month
            && rested
    }
}

#[cfg(test)]
mod tests {
    use chrono::{FixedOffset, TimeZone};

    use super::*;

    const MSK: LocalTimeZone = LocalTimeZone::MOSCOW;

    /// A Moscow wall-clock time.
    fn msk(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        FixedOffset::east_opt(3 * 3600)
            .unwrap()
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn not_at_night_on_working_days() {
        let rules = ReminderRules::default();
        // Tuesday 1 December 2026.
        assert!(!rules.in_hours(msk(2026, 12, 1, 7, 59), MSK));
        assert!(rules.in_hours(msk(2026, 12, 1, 8, 0), MSK));
        assert!(rules.in_hours(msk(2026, 12, 1, 21, 59), MSK));
        assert!(!rules.in_hours(msk(2026, 12, 1, 22, 0), MSK));
    }

    #[test]
    fn a_shorter_day_on_weekends_and_holidays() {
        let rules = ReminderRules::default();
        // Saturday 5 December 2026.
        assert!(!rules.in_hours(msk(2026, 12, 5, 8, 30), MSK));
        assert!(rules.in_hours(msk(2026, 12, 5, 9, 0), MSK));
        assert!(!rules.in_hours(msk(2026, 12, 5, 20, 0), MSK));
        // Wednesday 4 November 2026, National Unity Day.
        assert!(!rules.in_hours(msk(2026, 11, 4, 8, 30), MSK));
        assert!(!rules.in_hours(msk(2026, 11, 4, 21, 0), MSK));
        assert!(rules.in_hours(msk(2026, 11, 4, 19, 59), MSK));
    }

    /// The decree's days count, not only art. 112's dates: Thursday 31 December 2026 and Monday
    /// 11 May 2026 are days off by decree No. 1466; a Saturday a decree makes a working day has
    /// the working day's hours.
    #[test]
    fn days_off_and_working_saturdays_come_from_the_production_calendar() {
        let rules = ReminderRules::default();
        assert!(rules.in_hours(msk(2026, 12, 30, 8, 30), MSK));
        assert!(!rules.in_hours(msk(2026, 12, 31, 8, 30), MSK));
        assert!(!rules.in_hours(msk(2026, 12, 31, 20, 30), MSK));
        assert!(!rules.in_hours(msk(2026, 5, 11, 21, 0), MSK));
        assert!(rules.in_hours(msk(2026, 5, 12, 21, 0), MSK));

        let mut calendar = ProductionCalendar::default();
        calendar
            .set_year(crate::working_days::CalendarYear {
                year: 2027,
                days_off: vec![],
                // Saturday 6 November 2027.
                working_weekends: vec![NaiveDate::from_ymd_opt(2027, 11, 6).unwrap()],
            })
            .unwrap();
        let rules = ReminderRules {
            calendar: Arc::new(calendar),
            ..ReminderRules::default()
        };
        assert!(rules.in_hours(msk(2027, 11, 6, 8, 30), MSK));
        assert!(!rules.in_hours(msk(2027, 11, 13, 8, 30), MSK));
    }

    #[test]
    fn two_a_day_four_a_week_sixteen_a_month() {
        let rules = ReminderRules {
            min_interval_hours: 0,
            ..ReminderRules::default()
        };
        // Monday 7 December 2026.
        let day = [msk(2026, 12, 7, 9, 0), msk(2026, 12, 7, 12, 0)];
        assert!(rules.may_send(msk(2026, 12, 7, 10, 0), &day[..1], MSK));
        assert!(!rules.may_send(msk(2026, 12, 7, 15, 0), &day, MSK));
        let week = [
            msk(2026, 12, 7, 9, 0),
            msk(2026, 12, 7, 12, 0),
            msk(2026, 12, 8, 9, 0),
            msk(2026, 12, 8, 12, 0),
        ];
        assert!(!rules.may_send(msk(2026, 12, 9, 10, 0), &week, MSK));
        // The next week starts afresh.
        assert!(rules.may_send(msk(2026, 12, 14, 10, 0), &week, MSK));
        let month: Vec<_> = (1..=16)
            .map(|d| msk(2026, 12, d, 9, 0) + Duration::hours(0))
            .collect();
        assert!(!rules.may_send(msk(2026, 12, 28, 10, 0), &month, MSK));
        assert!(rules.may_send(msk(2027, 1, 11, 10, 0), &month, MSK));
    }

    #[test]
    fn the_product_paces_its_reminders() {
        let rules = ReminderRules::default();
        let sent = [msk(2026, 12, 7, 9, 0)];
        assert!(!rules.may_send(msk(2026, 12, 7, 14, 59), &sent, MSK));
        assert!(rules.may_send(msk(2026, 12, 7, 15, 0), &sent, MSK));
    }
}

#[cfg(test)]
mod local_time {
    use chrono::TimeZone;

    use super::*;

    /// A debtor in Vladivostok (UTC+10): 12:00 in Moscow is 19:00 there, fine; 21:30 in Moscow
    /// on a working day is fine for a Muscovite but 04:30 the next morning in Vladivostok.
    #[test]
    fn quiet_hours_are_counted_in_the_debtors_own_time() {
        let rules = ReminderRules::default();
        let vladivostok = LocalTimeZone::parse("Asia/Vladivostok").unwrap();
        // Tuesday 1 December 2026, 12:00 in Moscow (09:00 UTC).
        let noon_moscow = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        assert!(rules.in_hours(noon_moscow, LocalTimeZone::MOSCOW));
        assert!(rules.in_hours(noon_moscow, vladivostok));
        // Wednesday 2 December, 04:30 in Vladivostok (18:30 UTC on the 1st, 21:30 in Moscow).
        let night_there = Utc.with_ymd_and_hms(2026, 12, 1, 18, 30, 0).unwrap();
        assert!(rules.in_hours(night_there, LocalTimeZone::MOSCOW));
        assert!(!rules.in_hours(night_there, vladivostok));
        assert!(!rules.may_send(night_there, &[], vladivostok));
        assert_eq!(
            rules.local_date(night_there, vladivostok),
            NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()
        );
    }
}
