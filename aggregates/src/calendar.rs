//! The days that count: interest, due dates, contract dates and the law's editions go by the
//! calendar day in Moscow.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

/// The calendar day in Moscow at `at`. Moscow keeps UTC+3 all year (no daylight saving since
/// 2014).
pub fn moscow_date(at: DateTime<Utc>) -> NaiveDate {
    let moscow = FixedOffset::east_opt(3 * 3600).expect("UTC+3 is a valid offset");
    at.with_timezone(&moscow).date_naive()
}
