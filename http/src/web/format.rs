//! How the site writes numbers and dates, as Russian readers expect: `15 000,00 ₽`, `01.12.2026`.

use chrono::{DateTime, NaiveDate, Utc};
use k911_aggregates::support_ticket::TicketKind;
use k911_projections::cabinet::ApplicationState;
use k911_projections::loans::{LoanState, RefundState};
use k911_projections::support::TicketState;
use rust_decimal::Decimal;

/// Kopecks as roubles with a narrow no-break space between thousands and a decimal comma.
pub(crate) fn money(kopecks: i64) -> String {
    let sign = if kopecks < 0 { "−" } else { "" };
    let kopecks = kopecks.unsigned_abs();
    let roubles = (kopecks / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in roubles.chars().enumerate() {
        if i > 0 && (roubles.len() - i).is_multiple_of(3) {
            grouped.push('\u{202f}');
        }
        grouped.push(digit);
    }
    format!("{sign}{grouped},{:02}\u{a0}₽", kopecks % 100)
}

/// A day as `01.12.2026`.
pub(crate) fn date(day: NaiveDate) -> String {
    day.format("%d.%m.%Y").to_string()
}

/// A percentage as written in Russian: `292,000 %`.
pub(crate) fn percent(value: Decimal) -> String {
    format!("{}\u{a0}%", value.to_string().replace('.', ","))
}

/// A number of days with the noun agreeing: `1 день`, `3 дня`, `21 день`, `30 дней`.
pub(crate) fn days(n: i64) -> String {
    let word = match (n % 10, n % 100) {
        (_, 11..=14) => "дней",
        (1, _) => "день",
        (2..=4, _) => "дня",
        _ => "дней",
    };
    format!("{n}\u{a0}{word}")
}

/// A moment as Moscow reads it: `01.12.2026 10:00`.
pub(crate) fn moment(at: DateTime<Utc>) -> String {
    at.with_timezone(&chrono_tz::Europe::Moscow)
        .format("%d.%m.%Y %H:%M")
        .to_string()
}

pub(crate) fn ticket_kind(kind: TicketKind) -> &'static str {
    match kind {
        TicketKind::Question => "вопрос",
        TicketKind::Deletion => "удаление профиля",
    }
}

pub(crate) fn ticket_state(state: TicketState) -> &'static str {
    match state {
        TicketState::Waiting => "в очереди",
        TicketState::Assigned => "в работе",
        TicketState::Answered => "отвечено",
        TicketState::Closed => "закрыто",
    }
}

pub(crate) fn application_status(state: ApplicationState) -> &'static str {
    match state {
        ApplicationState::Submitted => "на рассмотрении",
        ApplicationState::Approved => "одобрена",
        ApplicationState::Rejected => "отказ",
    }
}

pub(crate) fn loan_status(
    state: LoanState,
    days_overdue: i64,
    refund: Option<RefundState>,
) -> &'static str {
    match state {
        LoanState::Offered => "ждёт подписи",
        LoanState::Expired => "предложение истекло",
        LoanState::Signed | LoanState::PayoutRequested => "подписан, деньги в пути",
        LoanState::PayoutFailed => "выплата не прошла",
        LoanState::Active if days_overdue > 0 => "просрочен",
        LoanState::Active => "действует",
        LoanState::Closed if refund == Some(RefundState::Pending) => {
            "погашен, переплата возвращается"
        }
        LoanState::Closed => "погашен",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_groups_thousands_and_keeps_kopecks() {
        assert_eq!(money(1_500_000), "15\u{202f}000,00\u{a0}₽");
        assert_eq!(money(123_456_789), "1\u{202f}234\u{202f}567,89\u{a0}₽");
        assert_eq!(money(5), "0,05\u{a0}₽");
        assert_eq!(money(-100), "−1,00\u{a0}₽");
    }

    #[test]
    fn dates_are_day_month_year() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_eq!(date(day), "01.12.2026");
    }

    #[test]
    fn moments_are_moscow_time() {
        let at = "2026-11-30T21:30:00Z".parse().unwrap();
        assert_eq!(moment(at), "01.12.2026 00:30");
    }

    #[test]
    fn percents_take_a_decimal_comma() {
        assert_eq!(percent(Decimal::new(292_000, 3)), "292,000\u{a0}%");
    }

    #[test]
    fn days_agree_with_their_number() {
        let words: Vec<String> = [1, 2, 5, 11, 14, 21, 22, 25, 30].map(days).to_vec();
        assert_eq!(
            words,
            [
                "1 день",
                "2 дня",
                "5 дней",
                "11 дней",
                "14 дней",
                "21 день",
                "22 дня",
                "25 дней",
                "30 дней"
            ]
            .map(|w| w.replace(' ', "\u{a0}"))
        );
    }
}
