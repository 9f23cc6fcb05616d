//! The production calendar: which days are working days in Russia, for deadlines the law counts
//! in working days (a credit bureau's report, 218-FZ art. 5 part 5).
//!
//! A working day is Monday to Friday unless it is a non-working holiday (Labour Code art. 112)
//! or a day off moved there by the Government's decree for the year; a Saturday or Sunday the
//! decree makes a working day is one. The years the decrees are known for ship with k911; a
//! deployment adds or corrects a year with `K911_PRODUCTION_CALENDAR`. A year no one gave falls
//! back to art. 112's holidays with its rule that a holiday on a weekend moves the day off to
//! the next working day (January's excepted, which only a decree places).

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// One year's decree: weekdays that are not worked, and weekend days that are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarYear {
    pub year: i32,
    /// Monday–Friday days that are non-working (holidays and days off moved there).
    pub days_off: Vec<NaiveDate>,
    /// Saturdays and Sundays that are working days.
    #[serde(default)]
    pub working_weekends: Vec<NaiveDate>,
}

/// The working days of the years k911 knows, and art. 112's rule for the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductionCalendar {
    days_off: BTreeSet<NaiveDate>,
    working_weekends: BTreeSet<NaiveDate>,
    known_years: BTreeSet<i32>,
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a calendar date")
}

impl Default for ProductionCalendar {
    /// 2026 by the Government's decree of 24.09.2025 No. 1466 (3 January moved to 9 January,
    /// 4 January to 31 December; 8 March and 9 May fall on a weekend and move to 9 March and
    /// 11 May). 2027 has no decree yet: art. 112's holidays with its weekend rule (1 May on a
    /// Saturday moves to 3 May, 9 May on a Sunday to 10 May, 12 June on a Saturday to 14 June);
    /// the decree will place 2 and 3 January, and its year replaces this one when configured.
    fn default() -> Self {
        Self::new(vec![
            CalendarYear {
                year: 2026,
                days_off: vec![
                    day(2026, 1, 1),
                    day(2026, 1, 2),
                    day(2026, 1, 5),
                    day(2026, 1, 6),
                    day(2026, 1, 7),
                    day(2026, 1, 8),
                    day(2026, 1, 9),
                    day(2026, 2, 23),
                    day(2026, 3, 9),
                    day(2026, 5, 1),
                    day(2026, 5, 11),
                    day(2026, 6, 12),
                    day(2026, 11, 4),
                    day(2026, 12, 31),
                ],
                working_weekends: vec![],
            },
            CalendarYear {
                year: 2027,
                days_off: vec![
                    day(2027, 1, 1),
                    day(2027, 1, 4),
                    day(2027, 1, 5),
                    day(2027, 1, 6),
                    day(2027, 1, 7),
                    day(2027, 1, 8),
                    day(2027, 2, 23),
                    day(2027, 3, 8),
                    day(2027, 5, 3),
                    day(2027, 5, 10),
                    day(2027, 6, 14),
                    day(2027, 11, 4),
                ],
                working_weekends: vec![],
            },
        ])
        .expect("the shipped years are valid")
    }
}

/// Labour Code art. 112: the non-working holidays, (month, day).
pub const STATUTORY_HOLIDAYS: [(u32, u32); 14] = [
    (1, 1),
    (1, 2),
    (1, 3),
    (1, 4),
    (1, 5),
    (1, 6),
    (1, 7),
    (1, 8),
    (2, 23),
    (3, 8),
    (5, 1),
    (5, 9),
    (6, 12),
    (11, 4),
];

fn weekend(day: NaiveDate) -> bool {
    matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

impl ProductionCalendar {
    /// The calendar of `years` (each given whole), art. 112's rule for any other.
    pub fn new(years: Vec<CalendarYear>) -> Result<Self, String> {
        let mut calendar = Self {
            days_off: BTreeSet::new(),
            working_weekends: BTreeSet::new(),
            known_years: BTreeSet::new(),
        };
        for year in years {
            calendar.set_year(year)?;
        }
        Ok(calendar)
    }

    /// Gives (or replaces) one year.
    pub fn set_year(&mut self, year: CalendarYear) -> Result<(), String> {
        let outside = |d: &NaiveDate| d.year() != year.year;
        if let Some(d) = year.days_off.iter().find(|d| outside(d) || weekend(**d)) {
            return Err(format!("{d}: not a weekday of {}", year.year));
        }
        if let Some(d) = year
            .working_weekends
            .iter()
            .find(|d| outside(d) || !weekend(**d))
        {
            return Err(format!("{d}: not a weekend day of {}", year.year));
        }
        self.days_off.retain(|d| d.year() != year.year);
        self.working_weekends.retain(|d| d.year() != year.year);
        self.days_off.extend(year.days_off);
        self.working_weekends.extend(year.working_weekends);
        self.known_years.insert(year.year);
        Ok(())
    }

    /// Whether `day` is a working day.
    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        if self.known_years.contains(&day.year()) {
            return if weekend(day) {
                self.working_weekends.contains(&day)
            } else {
                !self.days_off.contains(&day)
            };
        }
        !weekend(day) && !Self::statutory_day_off(day)
    }

    /// Art. 112 alone: its holidays, and for each one on a Saturday or Sunday (January's
    /// excepted) the next working day after it, in order.
    fn statutory_day_off(day: NaiveDate) -> bool {
        let year = day.year();
        let holidays: Vec<NaiveDate> = STATUTORY_HOLIDAYS
            .iter()
            .filter_map(|&(m, d)| NaiveDate::from_ymd_opt(year, m, d))
            .collect();
        let mut off: BTreeSet<NaiveDate> = holidays.iter().copied().collect();
        for holiday in holidays.iter().filter(|h| weekend(**h) && h.month() != 1) {
            let mut moved = *holiday;
            while weekend(moved) || off.contains(&moved) {
                moved = moved.succ_opt().expect("a next day");
            }
            off.insert(moved);
        }
        off.contains(&day)
    }

    /// The last day of a period of `n` working days following `event_day` (the day itself not
    /// counted): "not later than the end of the n-th working day following the day of the event".
    pub fn working_days_after(&self, event_day: NaiveDate, n: u32) -> NaiveDate {
        let mut day = event_day;
        let mut counted = 0;
        while counted < n {
            day = day.succ_opt().expect("a next day");
            if self.is_working_day(day) {
                counted += 1;
            }
        }
        day
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_2026_decree_makes_the_new_year_break_run_to_the_eleventh_of_january() {
        let calendar = ProductionCalendar::default();
        let working: Vec<u32> = (1..=12)
            .filter(|&d| calendar.is_working_day(day(2026, 1, d)))
            .collect();
        assert_eq!(working, vec![12]);
        assert!(!calendar.is_working_day(day(2026, 12, 31)));
        assert!(!calendar.is_working_day(day(2026, 3, 9)));
    }

    #[test]
    fn two_working_days_after_an_event_skip_the_weekend_and_a_holiday() {
        let calendar = ProductionCalendar::default();
        // Thursday 5 November 2026: Friday 6, then Monday 9.
        assert_eq!(
            calendar.working_days_after(day(2026, 11, 5), 2),
            day(2026, 11, 9)
        );
        // Tuesday 3 November: Wednesday 4 is a holiday, so Thursday 5 and Friday 6.
        assert_eq!(
            calendar.working_days_after(day(2026, 11, 3), 2),
            day(2026, 11, 6)
        );
        // Wednesday 30 December: Thursday 31 is off by the decree, then the New Year break to
        // Sunday 10 January: Monday 11 and Tuesday 12.
        assert_eq!(
            calendar.working_days_after(day(2026, 12, 30), 2),
            day(2027, 1, 12)
        );
    }

    #[test]
    fn a_year_without_a_decree_follows_article_112() {
        let calendar = ProductionCalendar::new(vec![]).unwrap();
        // 2028: 9 May is a Tuesday, 12 June a Monday; 1 May 2027 a Saturday moves to 3 May.
        assert!(!calendar.is_working_day(day(2028, 5, 9)));
        assert!(!calendar.is_working_day(day(2027, 5, 3)));
        assert!(calendar.is_working_day(day(2027, 5, 4)));
        // 8 March 2031 is a Saturday: Monday 10 March is off instead.
        assert!(!calendar.is_working_day(day(2031, 3, 10)));
        assert!(calendar.is_working_day(day(2031, 3, 11)));
    }

    #[test]
    fn a_configured_year_is_checked_and_replaces_the_shipped_one() {
        let mut calendar = ProductionCalendar::default();
        assert!(calendar
            .set_year(CalendarYear {
                year: 2027,
                days_off: vec![day(2027, 1, 2)],
                working_weekends: vec![],
            })
            .is_err());
        calendar
            .set_year(CalendarYear {
                year: 2027,
                days_off: vec![day(2027, 1, 11)],
                working_weekends: vec![day(2027, 11, 13)],
            })
            .unwrap();
        assert!(!calendar.is_working_day(day(2027, 1, 11)));
        assert!(calendar.is_working_day(day(2027, 1, 4)));
        assert!(calendar.is_working_day(day(2027, 11, 13)));
    }
}
