//! The individual conditions of a loan contract as a PDF, drawn from the very figures the loan
//! keeps (its offer event), so the document can never disagree with the ledger. The full cost of
//! credit stands in square frames in the top right corner of the first page, in percent and in
//! roubles, in the page's largest type (353-FZ art. 6 part 1).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, Utc};
use k911_aggregates::loan::law::LawRules;
use k911_aggregates::money::{DailyRate, Kopecks};
use printpdf::{
    Color, FontMetrics, Mm, Op, PaintMode, ParsedFont, PdfDocument, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Pt, Rect, Rgb, TextItem,
};
use rust_decimal::Decimal;

/// DejaVu Sans (free licence, see `assets/fonts/DejaVuSans.LICENSE`): it has Cyrillic and ₽.
const FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
/// Every line of the document is set in this size; the frames use it too (no larger type on
/// the page, as the law asks of the frames).
const SIZE: f32 = 10.0;
const LINE: f32 = 14.0;
/// Characters a body line holds at this size across the page's text width.
const LINE_CHARS: usize = 92;

/// The bundled font's Unicode map and advance widths, read once with `ttf-parser`.
struct FontTables {
    glyphs: BTreeMap<u32, u16>,
    widths: BTreeMap<u16, u16>,
    units_per_em: u16,
    metrics: FontMetrics,
}

fn font_tables() -> &'static FontTables {
    static TABLES: OnceLock<FontTables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let face = ttf_parser::Face::parse(FONT, 0).expect("the bundled font parses");
        let mut glyphs = BTreeMap::new();
        let mut widths = BTreeMap::new();
        let subtables = face.tables().cmap.map(|cmap| cmap.subtables);
        for subtable in subtables.into_iter().flatten().filter(|s| s.is_unicode()) {
            subtable.codepoints(|codepoint| {
                if let Some(glyph) = subtable.glyph_index(codepoint) {
                    glyphs.insert(codepoint, glyph.0);
                    widths.insert(glyph.0, face.glyph_hor_advance(glyph).unwrap_or(0));
                }
            });
        }
        FontTables {
            glyphs,
            widths,
            units_per_em: face.units_per_em(),
            metrics: FontMetrics {
                ascent: face.ascender(),
                descent: face.descender(),
            },
        }
    })
}

/// The bundled font cut down to the glyphs `text` uses (with `allsorts`: printpdf subsets only
/// with its layout engine), renumbered from 0, with its map and widths to match.
fn subset_font(text: &str) -> ParsedFont {
    let tables = font_tables();
    let mut used: Vec<u16> = text
        .chars()
        .filter_map(|c| tables.glyphs.get(&(c as u32)).copied())
        .filter(|g| *g != 0)
        .collect();
    used.sort_unstable();
    used.dedup();
    // Glyph 0 (.notdef) first: new glyph n is old glyph `kept[n]`.
    let kept: Vec<u16> = std::iter::once(0).chain(used).collect();
    let scope = allsorts::binary::read::ReadScope::new(FONT);
    let subset = scope
        .read::<allsorts::font_data::FontData<'_>>()
        .ok()
        .and_then(|font| font.table_provider(0).ok())
        .and_then(|provider| {
            allsorts::subset::subset(
                &provider,
                &kept,
                &allsorts::subset::SubsetProfile::Pdf,
                allsorts::subset::CmapTarget::Unrestricted,
            )
            .ok()
        })
        .expect("the bundled font subsets");
    let renumbered: BTreeMap<u16, u16> = kept
        .iter()
        .enumerate()
        .map(|(new, old)| (*old, new as u16))
        .collect();
    let glyphs = tables
        .glyphs
        .iter()
        .filter_map(|(c, old)| renumbered.get(old).map(|new| (*c, *new)))
        .collect();
    let widths = kept
        .iter()
        .enumerate()
        .map(|(new, old)| (new as u16, tables.widths.get(old).copied().unwrap_or(0)))
        .collect();
    ParsedFont::with_glyph_data(
        subset,
        0,
        Some("DejaVuSans".to_string()),
        glyphs,
        widths,
        tables.units_per_em,
        tables.metrics.clone(),
    )
}

/// What the document states.
#[derive(Debug, Clone)]
pub struct ContractFacts {
    pub contract_number: String,
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

/// Breaks a paragraph into lines of at most [`LINE_CHARS`] characters at spaces.
fn wrap(text: &str) -> Vec<String> {
    let mut lines = vec![];
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > LINE_CHARS {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

impl ContractFacts {
    /// The table of individual conditions, numbered as the Bank of Russia's form numbers them.
    fn paragraphs(&self) -> Vec<String> {
        let yearly = self.daily_rate.percent() * Decimal::from(365);
        let due = match self.due_on {
            Some(day) => format!("не позднее {}", date(day)),
            None => format!(
                "в последний день срока ({} дн. с перечисления займа)",
                self.term_days
            ),
        };
        let mut lines = vec![
            format!("Заёмщик: {}.", self.borrower),
            format!("1. Сумма займа: {}.", self.principal),
            format!(
                "2. Срок действия договора и срок возврата займа: {} календарных дней, {due}.",
                self.term_days
            ),
            "3. Валюта займа: российский рубль.".to_string(),
            format!(
                "4. Процентная ставка: {} % в день ({} % годовых). Проценты начисляются за каждый \
                 день пользования займом, начиная со дня, следующего за днём его перечисления.",
                decimal(self.daily_rate.percent()),
                decimal(yearly.normalize())
            ),
            format!(
                "6. Количество, размер и срок платежей: один платёж {} (заём {} и проценты {}) {due}. \
                 Досрочный возврат займа или его части возможен в любой день; проценты \
                 уплачиваются только за фактические дни пользования займом.",
                self.total_to_repay, self.principal, self.interest_for_term
            ),
            "8. Способы исполнения обязательств: Сбербанк Онлайн или платёжный терминал по \
             номеру договора. Платёж направляется на погашение задолженности в порядке ч. 20 \
             ст. 5 Федерального закона № 353-ФЗ."
                .to_string(),
            format!(
                "12. Ответственность заёмщика: неустойка {} % годовых от просроченной суммы, пока \
                 начисляются проценты, иначе {} % в день. После достижения суммой процентов, \
                 неустойки и иных платежей {} % суммы займа их начисление прекращается \
                 (ч. 24 ст. 5 Федерального закона № 353-ФЗ).",
                decimal(self.rules.penalty_yearly_percent_with_interest),
                decimal(self.rules.penalty_daily_percent_without_interest),
                decimal(self.rules.total_cost_cap_percent)
            ),
            format!("17. Способ получения займа: {}.", self.payout),
        ];
        if let Some(warning) = &self.pdn_warning {
            lines.push(warning.clone());
        }
        lines.push(match self.signed_at {
            Some(at) => format!(
                "Подписано заёмщиком простой электронной подписью (код из SMS) {} UTC.",
                at.format("%d.%m.%Y %H:%M")
            ),
            None => "Не подписано: подпишите кодом из SMS в личном кабинете.".to_string(),
        });
        lines
    }

    /// The document as PDF bytes.
    pub fn pdf(&self) -> Vec<u8> {
        // Lines from the top of the body down, a blank one between paragraphs.
        let mut lines = vec![
            "Индивидуальные условия договора потребительского займа".to_string(),
            format!("№ {} от {}", self.contract_number, date(self.contract_date)),
            "Кредитор: ООО МФК «k911»".to_string(),
            String::new(),
        ];
        for paragraph in self.paragraphs() {
            lines.extend(wrap(&paragraph));
            lines.push(String::new());
        }
        // The two square frames, 38 mm each, in the top right corner: ПСК in percent a year and
        // in roubles.
        let title = ["ПОЛНАЯ СТОИМОСТЬ".to_string(), "ЗАЙМА".to_string()];
        let frames = [
            (
                120.0,
                [
                    title.clone(),
                    [
                        format!("{} %", decimal(self.psk_percent)),
                        "годовых".to_string(),
                    ],
                ]
                .concat(),
            ),
            (
                162.0,
                [
                    title,
                    [self.interest_for_term.to_string(), "в рублях".to_string()],
                ]
                .concat(),
            ),
        ];
        let all_text: String = lines
            .iter()
            .chain(frames.iter().flat_map(|(_, frame)| frame.iter()))
            .flat_map(|line| line.chars())
            .collect();
        let mut doc = PdfDocument::new(&format!(
            "Индивидуальные условия № {}",
            self.contract_number
        ));
        let font = PdfFontHandle::External(doc.add_font(&subset_font(&all_text)));
        let text_at = |x: f32, y: f32, text: &str| -> Vec<Op> {
            vec![
                Op::StartTextSection,
                Op::SetFont {
                    font: font.clone(),
                    size: Pt(SIZE),
                },
                Op::SetTextCursor {
                    pos: Point {
                        x: Mm(x).into(),
                        y: Mm(y).into(),
                    },
                },
                Op::ShowText {
                    items: vec![TextItem::Text(text.to_string())],
                },
                Op::EndTextSection,
            ]
        };
        let mut ops = vec![
            Op::SetOutlineColor {
                col: Color::Rgb(Rgb::new(0.0, 0.0, 0.0, None)),
            },
            Op::SetOutlineThickness { pt: Pt(1.0) },
        ];
        for (x, frame) in &frames {
            ops.push(Op::DrawRectangle {
                rectangle: Rect {
                    x: Mm(*x).into(),
                    y: Mm(247.0).into(),
                    width: Mm(38.0).into(),
                    height: Mm(38.0).into(),
                    mode: Some(PaintMode::Stroke),
                    winding_order: None,
                },
            });
            for (n, line) in frame.iter().enumerate() {
                ops.extend(text_at(x + 2.0, 277.0 - n as f32 * 7.0, line));
            }
        }
        let line_mm = LINE * 25.4 / 72.0;
        for (n, line) in lines.iter().enumerate() {
            ops.extend(text_at(20.0, 240.0 - n as f32 * line_mm, line));
        }
        let page = PdfPage::new(Mm(210.0), Mm(297.0), ops);
        doc.with_pages(vec![page])
            .save(&PdfSaveOptions::default(), &mut vec![])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_paragraphs_wrap_at_spaces() {
        let text = "слово ".repeat(40);
        let lines = wrap(&text);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| l.chars().count() <= LINE_CHARS));
        assert_eq!(lines.join(" "), text.trim());
    }

    #[test]
    fn the_subset_font_keeps_each_used_glyph_under_its_new_number() {
        let original = ttf_parser::Face::parse(FONT, 0).unwrap();
        let tables = font_tables();
        let font = subset_font("Жёлтый ₽ 292,000 %");
        let subset = ttf_parser::Face::parse(&font.original_bytes, 0).unwrap();
        assert!(font.original_bytes.len() < FONT.len() / 10);
        for c in "Жёлтый₽2%".chars() {
            let old = ttf_parser::GlyphId(tables.glyphs[&(c as u32)]);
            let new = ttf_parser::GlyphId(font.codepoint_to_glyph[&(c as u32)]);
            assert_eq!(
                subset.glyph_bounding_box(new),
                original.glyph_bounding_box(old),
                "{c}"
            );
            assert_eq!(
                subset.glyph_hor_advance(new),
                original.glyph_hor_advance(old),
                "{c}"
            );
        }
    }

    #[test]
    fn decimals_are_written_with_a_comma() {
        assert_eq!(decimal("292.000".parse().unwrap()), "292,000");
    }
}
