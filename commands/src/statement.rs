//! An agent's monthly commission statement as a PDF: each accrual and reversal the month counts,
//! then the totals the Agent aggregate closed the month with. Figures come from the statement and
//! ledger as recorded; the document adds nothing up itself, so it cannot disagree with them.

use chrono::{DateTime, Datelike, Utc};
use k911_aggregates::agent::values::Month;
use k911_aggregates::calendar::moscow_date;
use k911_aggregates::money::Kopecks;
use uuid::Uuid;

use crate::pdf::{Layout, MARGIN_LEFT, TEXT_WIDTH};

const HEADING_SIZE: f32 = 13.0;
const BODY_SIZE: f32 = 9.0;
/// Date, loan (a whole id fits), what, amount: the ledger's columns, filling the text width.
const COLUMNS: [f32; 4] = [22.0, 78.0, TEXT_WIDTH - 22.0 - 78.0 - 32.0, 32.0];

/// A line of the month's ledger.
#[derive(Debug, Clone)]
pub struct StatementLine {
    pub at: DateTime<Utc>,
    pub loan_id: Uuid,
    /// Taken back (the loan was returned within 14 days) rather than earned.
    pub reversal: bool,
    /// Earned on the client's first loan ever (the plan's bonus applied).
    pub first_loan: bool,
    pub amount: Kopecks,
}

/// What the statement states.
#[derive(Debug, Clone)]
pub struct StatementFacts {
    pub month: Month,
    pub agent_code: String,
    /// Where the statement stands, in words (`закрыт`, `оплачен 02.12.2026`).
    pub standing: String,
    pub lines: Vec<StatementLine>,
    pub accrued: i64,
    pub reversed: i64,
    /// The negative rest carried from the month before (0 or less).
    pub carried_in: i64,
    /// Fixed when the month closes.
    pub net: Option<i64>,
    pub payable: Option<i64>,
    pub carried_out: Option<i64>,
}

/// `ноябрь 2026`.
fn month_words(month: Month) -> String {
    const NAMES: [&str; 12] = [
        "январь",
        "февраль",
        "март",
        "апрель",
        "май",
        "июнь",
        "июль",
        "август",
        "сентябрь",
        "октябрь",
        "ноябрь",
        "декабрь",
    ];
    let day = month.first_day();
    format!("{} {}", NAMES[day.month0() as usize], day.year())
}

/// Kopecks as a signed sum, `−1 000,00 ₽` when below zero.
fn signed(kopecks: i64) -> String {
    let amount = Kopecks::new(kopecks.abs()).expect("an absolute value is not negative");
    if kopecks < 0 {
        format!("−{amount}")
    } else {
        amount.to_string()
    }
}

impl StatementFacts {
    /// The totals, in the order the month is settled.
    fn totals(&self) -> Vec<(&'static str, String)> {
        let fixed = |value: Option<i64>| value.map_or_else(|| "месяц не закрыт".into(), signed);
        vec![
            ("Начислено", signed(self.accrued)),
            ("Сторнировано", signed(-self.reversed)),
            ("Перенесено с прошлого месяца", signed(self.carried_in)),
            ("Итого за месяц", fixed(self.net)),
            ("К выплате", fixed(self.payable)),
            ("Переносится на следующий месяц", fixed(self.carried_out)),
        ]
    }

    /// The document as PDF bytes.
    pub fn pdf(&self) -> Vec<u8> {
        let mut layout = Layout::new();
        let title = format!("Отчёт агента за {}", month_words(self.month));
        layout.paragraph(MARGIN_LEFT, TEXT_WIDTH, HEADING_SIZE, &title, false);
        layout.y -= 2.0;
        for line in [
            "Принципал: ООО МФК «k911»".to_string(),
            format!("Агент: код {}", self.agent_code),
            format!("Статус отчёта: {}", self.standing),
        ] {
            layout.paragraph(MARGIN_LEFT, TEXT_WIDTH, BODY_SIZE, &line, false);
        }
        layout.y -= 4.0;
        layout.row(&COLUMNS, BODY_SIZE, &["Дата", "Заём", "Операция", "Сумма"]);
        if self.lines.is_empty() {
            layout.row(
                &[TEXT_WIDTH],
                BODY_SIZE,
                &["В этом месяце начислений и сторно не было."],
            );
        }
        for line in &self.lines {
            let what = match (line.reversal, line.first_loan) {
                (true, _) => "Сторно: заём возвращён в течение 14 дней",
                (false, true) => "Вознаграждение за первый заём клиента",
                (false, false) => "Вознаграждение за выданный заём",
            };
            let amount = if line.reversal {
                signed(-line.amount.get())
            } else {
                signed(line.amount.get())
            };
            let day = moscow_date(line.at).format("%d.%m.%Y").to_string();
            layout.row(
                &COLUMNS,
                BODY_SIZE,
                &[&day, &line.loan_id.to_string(), what, &amount],
            );
        }
        layout.y -= 4.0;
        let totals = [TEXT_WIDTH - COLUMNS[3], COLUMNS[3]];
        for (what, amount) in self.totals() {
            layout.row(&totals, BODY_SIZE, &[what, &amount]);
        }
        layout.y -= 4.0;
        layout.paragraph(
            MARGIN_LEFT,
            TEXT_WIDTH,
            BODY_SIZE,
            "Суммы в рублях. Вознаграждение начисляется в день выдачи займа по плану, \
             действующему в этот день, с округлением вниз до копейки; сторно — в месяце возврата \
             займа. Отрицательный итог не выплачивается и переносится на следующий месяц. Даты — \
             по московскому времени.",
            false,
        );
        layout.render(&title)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> StatementFacts {
        StatementFacts {
            month: Month::parse("2026-11").unwrap(),
            agent_code: "PETROV7".to_string(),
            standing: "закрыт".to_string(),
            lines: vec![StatementLine {
                at: "2026-11-30T22:30:00Z".parse().unwrap(),
                loan_id: Uuid::nil(),
                reversal: true,
                first_loan: false,
                amount: Kopecks::from_roubles(1_000),
            }],
            accrued: 0,
            reversed: 100_000,
            carried_in: 0,
            net: Some(-100_000),
            payable: Some(0),
            carried_out: Some(-100_000),
        }
    }

    #[test]
    fn months_are_named_in_russian() {
        assert_eq!(month_words(Month::parse("2026-11").unwrap()), "ноябрь 2026");
        assert_eq!(month_words(Month::parse("2027-01").unwrap()), "январь 2027");
    }

    #[test]
    fn reversals_and_negative_rests_carry_a_minus() {
        assert_eq!(signed(-100_000), "−1\u{a0}000,00\u{a0}₽");
        assert_eq!(signed(5), "0,05\u{a0}₽");
        let totals = facts().totals();
        assert_eq!(totals[1].1, "−1\u{a0}000,00\u{a0}₽");
        assert_eq!(totals[4].1, "0,00\u{a0}₽");
    }

    #[test]
    fn an_open_month_says_its_totals_are_not_fixed() {
        let open = StatementFacts {
            net: None,
            payable: None,
            carried_out: None,
            ..facts()
        };
        assert_eq!(open.totals()[3].1, "месяц не закрыт");
    }

    #[test]
    fn the_statement_renders() {
        assert!(facts().pdf().starts_with(b"%PDF-"));
    }
}
