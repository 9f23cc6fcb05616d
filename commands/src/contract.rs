//! The individual conditions of a loan contract as a PDF, drawn from the very figures the loan
//! keeps (its offer event), so the document can never disagree with the ledger.
//!
//! The first page opens with the full cost of credit in two square frames in its top right
//! corner, in percent a year and in roubles, in the page's largest type (353-FZ art. 6 part 1,
//! see [`FRAME_MIN_SHARE`]); the individual conditions follow as the table the Bank of Russia's
//! form sets (see [`CONDITIONS`]), continuing onto the next page when the first is full.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use k911_aggregates::loan::law::LawRules;
use k911_aggregates::loan::ContractNumber;
use k911_aggregates::money::{DailyRate, Kopecks};
use rust_decimal::Decimal;

use crate::pdf::{
    baseline_drop, line_height, text_width, wrap, Layout, MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP,
    MM_PER_PT, PAGE_HEIGHT, PAGE_WIDTH, TEXT_WIDTH,
};

/// Federal Law of 21.12.2013 No. 353-FZ «О потребительском кредите (займе)», art. 6 part 1:
///
/// > Полная стоимость потребительского кредита (займа) размещается в квадратных рамках в правом
/// > верхнем углу первой страницы договора потребительского кредита (займа) перед таблицей,
/// > содержащей индивидуальные условия договора потребительского кредита (займа), и наносится
/// > цифрами и прописными буквами черного цвета на белом фоне четким, хорошо читаемым шрифтом
/// > максимального размера из используемых на этой странице размеров шрифта. Полная стоимость
/// > потребительского кредита (займа) в денежном выражении размещается справа от полной
/// > стоимости потребительского кредита (займа), определяемой в процентах годовых. Площадь
/// > каждой квадратной рамки должна составлять не менее чем 5 процентов площади первой страницы
/// > договора потребительского кредита (займа).
///
/// So: two square frames side by side in the top right corner above the table, percent on the
/// left and roubles on the right, each at least this share of the page's area, their text in
/// capitals, black on white, in [`FRAME_SIZE`], the largest type on the page.
const FRAME_MIN_SHARE: f32 = 0.05;
/// The side of a square of exactly that share of A4: √(0,05 × 210 × 297) ≈ 55,8 mm.
const FRAME_MIN_SIDE: f32 = const_sqrt(FRAME_MIN_SHARE * PAGE_WIDTH * PAGE_HEIGHT);
/// The frames' side: the least one and 2 mm to spare, so that neither rounding to points in the
/// file nor the width of the stroke takes a frame under the share.
const FRAME_SIDE: f32 = FRAME_MIN_SIDE + 2.0;
/// Between the two frames.
const FRAME_GAP: f32 = 3.0;
/// Between a frame's border and its text.
const FRAME_PADDING: f32 = 3.0;
const _: () = assert!(FRAME_SIDE * FRAME_SIDE >= FRAME_MIN_SHARE * PAGE_WIDTH * PAGE_HEIGHT);
const _: () = assert!(2.0 * FRAME_SIDE + FRAME_GAP <= TEXT_WIDTH);

/// The frames' type: the law asks for the largest size used on the first page, so no other text
/// is set larger (checked below).
const FRAME_SIZE: f32 = 12.0;
/// The heading over the table.
const HEADING_SIZE: f32 = 11.0;
/// Everything else: the lines around the table and the table's cells.
const BODY_SIZE: f32 = 9.0;
const _: () = assert!(HEADING_SIZE <= FRAME_SIZE && BODY_SIZE <= FRAME_SIZE);
/// Stroke width of the frames, in points.
const FRAME_BORDER: f32 = 1.0;

/// The heading over the table, as the form has it.
const HEADING: &str = "Индивидуальные условия договора потребительского кредита (займа)";
/// The table's columns, as the form names them...
const COLUMN_NAMES: [&str; 3] = ["N п/п", "Условие", "Содержание условия"];
/// ...and their widths, filling the text width.
const COLUMNS: [f32; 3] = [13.0, 77.0, TEXT_WIDTH - 13.0 - 77.0];

/// What the form has a row say when its condition does not apply to the contract.
const NOT_APPLICABLE: &str = "Не применимо";

/// The rows of the table of individual conditions, numbered and named as the Bank of Russia's
/// form has them: Указание Банка России от 23.04.2014 № 3240-У «О табличной форме
/// индивидуальных условий договора потребительского кредита (займа)», appendix, as restated by
/// Указание от 15.05.2018 № 4794-У and Указание от 04.12.2023 № 6618-У (in force from
/// 21.01.2024). Every row stands in the table, in this order, whether or not it applies
/// ([`NOT_APPLICABLE`]); an amendment of the form is a change of this table (and, for a new
/// row, of [`ContractFacts::condition`]).
const CONDITIONS: [(&str, &str); 18] = [
    (
        "1",
        "Сумма кредита (займа) или лимит кредитования и порядок его изменения",
    ),
    ("2", "Срок действия договора, срок возврата кредита (займа)"),
    ("3", "Валюта, в которой предоставляется кредит (заем)"),
    (
        "4",
        "Процентная ставка (процентные ставки) в процентах годовых, а при применении переменной \
         процентной ставки - порядок ее определения, соответствующий требованиям Федерального \
         закона от 21 декабря 2013 года N 353-ФЗ \"О потребительском кредите (займе)\", ее \
         значение на дату предоставления заемщику индивидуальных условий",
    ),
    (
        "5",
        "Порядок определения курса иностранной валюты при переводе денежных средств кредитором \
         третьему лицу, указанному заемщиком",
    ),
    (
        "5.1",
        "Указание на изменение суммы расходов заемщика при увеличении используемой в договоре \
         потребительского кредита (займа) переменной процентной ставки потребительского кредита \
         (займа) на один процентный пункт начиная со второго очередного платежа на ближайшую дату \
         после предполагаемой даты заключения договора потребительского кредита (займа)",
    ),
    (
        "6",
        "Количество, размер и периодичность (сроки) платежей заемщика по договору или порядок \
         определения этих платежей",
    ),
    (
        "7",
        "Порядок изменения количества, размера и периодичности (сроков) платежей заемщика при \
         частичном досрочном возврате кредита (займа)",
    ),
    (
        "8",
        "Способы исполнения заемщиком обязательств по договору по месту нахождения заемщика",
    ),
    (
        "8.1",
        "Бесплатный способ исполнения заемщиком обязательств по договору",
    ),
    ("9", "Обязанность заемщика заключить иные договоры"),
    (
        "10",
        "Обязанность заемщика по предоставлению обеспечения исполнения обязательств по договору и \
         требования к такому обеспечению",
    ),
    (
        "11",
        "Цели использования заемщиком потребительского кредита (займа)",
    ),
    (
        "12",
        "Ответственность заемщика за ненадлежащее исполнение условий договора, размер неустойки \
         (штрафа, пени) или порядок их определения",
    ),
    (
        "13",
        "Условие об уступке кредитором третьим лицам прав (требований) по договору",
    ),
    ("14", "Согласие заемщика с общими условиями договора"),
    (
        "15",
        "Услуги, оказываемые кредитором заемщику за отдельную плату и необходимые для заключения \
         договора, их цена или порядок ее определения, а также согласие заемщика на оказание \
         таких услуг",
    ),
    (
        "16",
        "Способ обмена информацией между кредитором и заемщиком",
    ),
];

/// Moscow time, UTC+3 all year since 26.10.2014 (Federal Law of 21.07.2014 No. 248-FZ): the
/// signing time is printed in it.
fn moscow() -> FixedOffset {
    FixedOffset::east_opt(3 * 3600).expect("UTC+3 is a valid offset")
}

/// √x by Newton's method, for a constant (`f32::sqrt` is not a `const fn`); x > 0.
const fn const_sqrt(x: f32) -> f32 {
    let mut root = x;
    let mut step = 0;
    while step < 64 {
        root = 0.5 * (root + x / root);
        step += 1;
    }
    root
}

/// A square frame of [`FRAME_SIDE`] with its lower left corner at (`x`, `y`), and in it,
/// centred, in capitals and in [`FRAME_SIZE`]: the title, a blank line, the figure and its
/// unit.
fn frame(layout: &mut Layout, x: f32, y: f32, title: &str, figure: &str, unit: &str) {
    let width = (FRAME_SIDE - 2.0 * FRAME_PADDING) / MM_PER_PT;
    let fitted = |text: &str| wrap(&text.to_uppercase(), FRAME_SIZE, width);
    let lines = [
        fitted(title),
        vec![String::new()],
        fitted(figure),
        fitted(unit),
    ]
    .concat();
    let height = line_height(FRAME_SIZE);
    let block = lines.len() as f32 * height;
    debug_assert!(
        block <= FRAME_SIDE - 2.0 * FRAME_PADDING,
        "the frame's text fits in it"
    );
    let top = y + (FRAME_SIDE + block) / 2.0;
    for (n, line) in lines.iter().enumerate() {
        if line.is_empty() {
            continue;
        }
        let indent = (FRAME_SIDE - text_width(line, FRAME_SIZE) * MM_PER_PT) / 2.0;
        let baseline = top - n as f32 * height - baseline_drop(FRAME_SIZE);
        layout.text(x + indent, baseline, FRAME_SIZE, line);
    }
    layout.rectangle(x, y, FRAME_SIDE, FRAME_SIDE, FRAME_BORDER);
}

/// What the document states.
#[derive(Debug, Clone)]
pub struct ContractFacts {
    pub contract_number: ContractNumber,
    /// The day the contract is concluded (signed).
    pub contract_date: NaiveDate,
    pub borrower: String,
    pub principal: Kopecks,
    pub term_days: u16,
    pub daily_rate: DailyRate,
    pub interest_for_term: Kopecks,
    pub total_to_repay: Kopecks,
    pub psk_percent: Decimal,
    pub due_on: Option<NaiveDate>,
    pub payout: String,
    pub rules: LawRules,
    pub pdn_warning: Option<String>,
    pub signed_at: Option<DateTime<Utc>>,
}

/// `292.000` as Russian documents write it: `292,000`.
fn decimal(value: Decimal) -> String {
    value.to_string().replace('.', ",")
}

fn date(day: NaiveDate) -> String {
    day.format("%d.%m.%Y").to_string()
}

/// `21 календарный день`, `3 календарных дня`, `30 календарных дней`.
fn calendar_days(days: u16) -> String {
    let words = match (days % 10, days % 100) {
        (1, last_two) if last_two != 11 => "календарный день",
        (2..=4, last_two) if !(12..=14).contains(&last_two) => "календарных дня",
        _ => "календарных дней",
    };
    format!("{days} {words}")
}

impl ContractFacts {
    /// When the loan is due back.
    fn due(&self) -> String {
        match self.due_on {
            Some(day) => format!("не позднее {}", date(day)),
            None => format!(
                "в последний день срока ({} дн. с перечисления займа)",
                self.term_days
            ),
        }
    }

    /// What the table says in row `number` of [`CONDITIONS`] (`None`: a row this contract does
    /// not know, which the tests rule out).
    fn condition(&self, number: &str) -> Option<String> {
        let text = match number {
            "1" => self.principal.to_string(),
            "2" => format!("{}, {}", calendar_days(self.term_days), self.due()),
            "3" => "Российский рубль".to_string(),
            "4" => format!(
                "{} % в день ({} % годовых). Проценты начисляются за каждый день пользования \
                 займом, начиная со дня, следующего за днем его перечисления.",
                decimal(self.daily_rate.percent()),
                decimal((self.daily_rate.percent() * Decimal::from(365)).normalize())
            ),
            "6" => format!(
                "Один платеж {} (заем {} и проценты {}) {}.",
                self.total_to_repay,
                self.principal,
                self.interest_for_term,
                self.due()
            ),
            "7" => "Заем или его часть можно вернуть досрочно в любой день; проценты \
                    уплачиваются только за фактические дни пользования займом. Количество и \
                    срок платежей не меняются, размер оставшегося единственного платежа \
                    уменьшается."
                .to_string(),
            "8" => "Сбербанк Онлайн или платежный терминал по номеру договора. Платеж \
                    направляется на погашение задолженности в порядке ч. 20 ст. 5 \
                    Федерального закона № 353-ФЗ."
                .to_string(),
            "8.1" => "Перевод через Сбербанк Онлайн по номеру договора без комиссии кредитора"
                .to_string(),
            "12" => format!(
                "Неустойка {} % годовых от просроченной суммы, пока начисляются проценты, иначе \
                 {} % в день. После достижения суммой процентов, неустойки и иных платежей {} % \
                 суммы займа их начисление прекращается (ч. 24 ст. 5 Федерального закона \
                 № 353-ФЗ).",
                decimal(self.rules.penalty_yearly_percent_with_interest),
                decimal(self.rules.penalty_daily_percent_without_interest),
                decimal(self.rules.total_cost_cap_percent)
            ),
            "13" => "Кредитор вправе уступить права (требования) по договору третьим лицам, если \
                     заемщик не запретил это при заключении договора"
                .to_string(),
            "14" => "Заемщик согласен с общими условиями договора".to_string(),
            "16" => "SMS на телефон заемщика, личный кабинет на сайте кредитора".to_string(),
            "5" | "5.1" | "9" | "10" | "11" | "15" => NOT_APPLICABLE.to_string(),
            _ => return None,
        };
        Some(text)
    }

    /// Beside the frames, before the table: who lends, which contract, to whom.
    fn parties(&self) -> [String; 3] {
        [
            "Кредитор: ООО МФК «k911»".to_string(),
            format!(
                "Договор потребительского займа № {} от {}",
                self.contract_number,
                date(self.contract_date)
            ),
            format!("Заемщик: {}", self.borrower),
        ]
    }

    /// After the table: how the money is paid out, the debt-to-income warning, the signature.
    fn closing(&self) -> Vec<String> {
        let mut lines = vec![format!("Способ получения займа: {}.", self.payout)];
        lines.extend(self.pdn_warning.clone());
        lines.push(match self.signed_at {
            Some(at) => format!(
                "Подписано заемщиком простой электронной подписью (код из SMS) {} (время \
                 московское).",
                at.with_timezone(&moscow()).format("%d.%m.%Y %H:%M")
            ),
            None => "Не подписано: подпишите кодом из SMS в личном кабинете.".to_string(),
        });
        lines
    }

    /// The document as PDF bytes.
    pub fn pdf(&self) -> Vec<u8> {
        let mut layout = Layout::new();
        // The full cost in its two frames, top right, the roubles to the right of the percent.
        let top = PAGE_HEIGHT - MARGIN_TOP;
        let bottom = top - FRAME_SIDE;
        let roubles_x = PAGE_WIDTH - MARGIN_RIGHT - FRAME_SIDE;
        let percent_x = roubles_x - FRAME_GAP - FRAME_SIDE;
        let title = "Полная стоимость займа";
        let percent = format!("{} %", decimal(self.psk_percent));
        frame(&mut layout, percent_x, bottom, title, &percent, "годовых");
        let roubles = self.interest_for_term.to_string();
        frame(&mut layout, roubles_x, bottom, title, &roubles, "в рублях");
        // The parties to the left of the frames.
        let beside = percent_x - FRAME_GAP - MARGIN_LEFT;
        for line in self.parties() {
            layout.paragraph(MARGIN_LEFT, beside, BODY_SIZE, &line, false);
            layout.y -= 1.0;
        }
        // Then, below both, the table.
        layout.y = layout.y.min(bottom) - 6.0;
        layout.paragraph(MARGIN_LEFT, TEXT_WIDTH, HEADING_SIZE, HEADING, true);
        layout.y -= 2.0;
        layout.row(&COLUMNS, BODY_SIZE, &COLUMN_NAMES);
        for (number, name) in CONDITIONS {
            let content = self
                .condition(number)
                .unwrap_or_else(|| panic!("no content for row {number} of the form"));
            layout.row(&COLUMNS, BODY_SIZE, &[number, name, content.as_str()]);
        }
        layout.y -= 4.0;
        for line in self.closing() {
            layout.paragraph(MARGIN_LEFT, TEXT_WIDTH, BODY_SIZE, &line, false);
            layout.y -= 1.5;
        }
        layout.render(&format!(
            "Индивидуальные условия № {}",
            self.contract_number
        ))
    }
}

#[cfg(test)]
mod tests {
    use k911_aggregates::loan::law::LawEditions;

    use super::*;

    fn facts() -> ContractFacts {
        let day = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        ContractFacts {
            contract_number: ContractNumber::new(
                chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
                1,
            ),
            contract_date: day,
            borrower: "Иванов Иван Иванович".to_string(),
            principal: Kopecks::from_roubles(15_000),
            term_days: 21,
            daily_rate: DailyRate::parse("0.8").unwrap(),
            interest_for_term: Kopecks::from_roubles(2_520),
            total_to_repay: Kopecks::from_roubles(17_520),
            psk_percent: "292.000".parse().unwrap(),
            due_on: None,
            payout: "220000******0004".to_string(),
            rules: LawEditions::default().for_contract(day).clone(),
            pdn_warning: None,
            signed_at: None,
        }
    }

    #[test]
    fn the_frames_take_the_share_of_the_page_the_law_asks() {
        // The compile-time square root agrees with the run-time one (the frames' size is
        // checked against the share at compile time, above).
        assert!((FRAME_MIN_SIDE - (0.05f32 * 210.0 * 297.0).sqrt()).abs() < 0.001);
    }

    #[test]
    fn the_form_has_every_row_once_in_order() {
        let numbers: Vec<&str> = CONDITIONS.iter().map(|(number, _)| *number).collect();
        assert_eq!(
            numbers,
            [
                "1", "2", "3", "4", "5", "5.1", "6", "7", "8", "8.1", "9", "10", "11", "12", "13",
                "14", "15", "16"
            ]
        );
        let order: Vec<(u32, u32)> = numbers
            .iter()
            .map(|&number| {
                let (whole, part) = number.split_once('.').unwrap_or((number, "0"));
                (whole.parse().unwrap(), part.parse().unwrap())
            })
            .collect();
        assert!(order.windows(2).all(|pair| pair[0] < pair[1]), "{order:?}");
    }

    #[test]
    fn every_row_of_the_form_says_something() {
        let facts = facts();
        for (number, _) in CONDITIONS {
            let content = facts.condition(number);
            assert!(content.is_some_and(|c| !c.is_empty()), "row {number}");
        }
        assert_eq!(facts.condition("5.1").unwrap(), NOT_APPLICABLE);
        assert!(facts
            .condition("4")
            .unwrap()
            .starts_with("0,8 % в день (292 % годовых)"));
    }

    #[test]
    fn days_agree_with_their_number() {
        assert_eq!(calendar_days(21), "21 календарный день");
        assert_eq!(calendar_days(3), "3 календарных дня");
        assert_eq!(calendar_days(12), "12 календарных дней");
        assert_eq!(calendar_days(30), "30 календарных дней");
    }

    #[test]
    fn the_signing_time_is_moscow_time() {
        let facts = ContractFacts {
            signed_at: Some("2026-04-01T07:15:00Z".parse().unwrap()),
            ..facts()
        };
        let closing = facts.closing().join("\n");
        assert!(
            closing.contains("01.04.2026 10:15 (время московское)"),
            "{closing}"
        );
    }

    #[test]
    fn the_document_renders() {
        let pdf = facts().pdf();
        assert!(pdf.starts_with(b"%PDF-"));
    }

    #[test]
    fn decimals_are_written_with_a_comma() {
        assert_eq!(decimal("292.000".parse().unwrap()), "292,000");
    }
}
