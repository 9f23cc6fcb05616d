//! The individual conditions of a loan contract as a PDF, drawn from the very figures the loan
//! keeps (its offer event), so the document can never disagree with the ledger.
//!
//! The first page opens with the full cost of credit in two square frames in its top right
//! corner, in percent a year and in roubles, in the page's largest type (353-FZ art. 6 part 1,
//! see [`FRAME_MIN_SHARE`]); the individual conditions follow as the table the Bank of Russia's
//! form sets (see [`CONDITIONS`]), continuing onto the next page when the first is full.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use k911_aggregates::loan::law::LawRules;
use k911_aggregates::loan::ContractNumber;
use k911_aggregates::money::{DailyRate, Kopecks};
use printpdf::{
    Color, FontMetrics, Line, LinePoint, Mm, Op, ParsedFont, PdfDocument, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Pt, Rgb, TextItem,
};
use rust_decimal::Decimal;

/// DejaVu Sans (free licence, see `assets/fonts/DejaVuSans.LICENSE`): it has Cyrillic and ₽.
/// The whole document is set in it.
const FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

/// A4, in millimetres, as every length below; the PDF's own unit is the point.
const PAGE_WIDTH: f32 = 210.0;
const PAGE_HEIGHT: f32 = 297.0;
const MARGIN_LEFT: f32 = 20.0;
const MARGIN_RIGHT: f32 = 10.0;
const MARGIN_TOP: f32 = 10.0;
const MARGIN_BOTTOM: f32 = 15.0;
/// The width text and table take.
const TEXT_WIDTH: f32 = PAGE_WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
/// Millimetres in a typographic point.
const MM_PER_PT: f32 = 25.4 / 72.0;

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
/// Line spacing as a multiple of the type size (DejaVu Sans's ascent and descent take 1.16).
const LEADING: f32 = 1.25;
/// Stroke widths in points: the frames and the table's borders.
const FRAME_BORDER: f32 = 1.0;
const TABLE_BORDER: f32 = 0.5;

/// The heading over the table, as the form has it.
const HEADING: &str = "Индивидуальные условия договора потребительского кредита (займа)";
/// The table's columns, as the form names them...
const COLUMN_NAMES: [&str; 3] = ["N п/п", "Условие", "Содержание условия"];
/// ...and their widths, filling the text width.
const COLUMNS: [f32; 3] = [13.0, 77.0, TEXT_WIDTH - 13.0 - 77.0];
/// Between a cell's border and its text.
const CELL_PADDING: f32 = 1.5;

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

/// How wide `text` is set in `size`, in points, from the font's advance widths.
fn text_width(text: &str, size: f32) -> f32 {
    let tables = font_tables();
    let units: u32 = text
        .chars()
        .map(|c| {
            let glyph = tables.glyphs.get(&(c as u32)).copied().unwrap_or(0);
            u32::from(tables.widths.get(&glyph).copied().unwrap_or(0))
        })
        .sum();
    units as f32 * size / f32::from(tables.units_per_em)
}

/// Breaks `text` into lines no wider than `width` points when set in `size`: at ordinary spaces
/// and at line breaks, never at a no-break space (`15 000,00 ₽` holds together). A word wider
/// than a line is cut where it fills one.
fn wrap(text: &str, size: f32, width: f32) -> Vec<String> {
    let mut lines = vec![];
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split(' ').filter(|word| !word.is_empty()) {
            let longer = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if text_width(&longer, size) <= width {
                line = longer;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            for c in word.chars() {
                line.push(c);
                if line.chars().count() > 1 && text_width(&line, size) > width {
                    line.pop();
                    lines.push(std::mem::replace(&mut line, c.to_string()));
                }
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
    }
    lines
}

/// The height of a line set in `size`, in millimetres.
fn line_height(size: f32) -> f32 {
    size * LEADING * MM_PER_PT
}

/// From the top of a line set in `size` down to its baseline, in millimetres: the font's ascent
/// and half the spacing its ascent and descent leave.
fn baseline_drop(size: f32) -> f32 {
    let tables = font_tables();
    let em = size * MM_PER_PT / f32::from(tables.units_per_em);
    let ascent = f32::from(tables.metrics.ascent) * em;
    let descent = f32::from(tables.metrics.descent).abs() * em;
    ascent + (line_height(size) - ascent - descent).max(0.0) / 2.0
}

fn point(x: f32, y: f32) -> Point {
    Point {
        x: Mm(x).into(),
        y: Mm(y).into(),
    }
}

fn black() -> Color {
    Color::Rgb(Rgb::new(0.0, 0.0, 0.0, None))
}

/// One thing drawn on a page, in millimetres from the page's lower left corner.
enum Mark {
    /// A line of text, from the start of its baseline.
    Text {
        x: f32,
        y: f32,
        size: f32,
        text: String,
    },
    /// A stroked line through `points`, closed into a polygon if `closed`, `width` points thick.
    Stroke {
        points: Vec<(f32, f32)>,
        closed: bool,
        width: f32,
    },
}

/// The pages laid out so far, top down, and where on the last one the next line goes.
struct Layout {
    pages: Vec<Vec<Mark>>,
    /// The top of the free space on the last page.
    y: f32,
}

impl Layout {
    fn new() -> Self {
        Self {
            pages: vec![vec![]],
            y: PAGE_HEIGHT - MARGIN_TOP,
        }
    }

    fn mark(&mut self, mark: Mark) {
        self.pages
            .last_mut()
            .expect("a page is always open")
            .push(mark);
    }

    /// Goes on to a new page unless `height` fits above the bottom margin (or the page is
    /// still empty).
    fn make_room(&mut self, height: f32) {
        let empty = self.pages.last().is_none_or(Vec::is_empty);
        if self.y - height < MARGIN_BOTTOM && !empty {
            self.pages.push(vec![]);
            self.y = PAGE_HEIGHT - MARGIN_TOP;
        }
    }

    fn text(&mut self, x: f32, y: f32, size: f32, text: &str) {
        self.mark(Mark::Text {
            x,
            y,
            size,
            text: text.to_string(),
        });
    }

    fn rectangle(&mut self, x: f32, y: f32, width: f32, height: f32, stroke: f32) {
        self.mark(Mark::Stroke {
            points: vec![
                (x, y),
                (x + width, y),
                (x + width, y + height),
                (x, y + height),
            ],
            closed: true,
            width: stroke,
        });
    }

    fn line(&mut self, from: (f32, f32), to: (f32, f32), stroke: f32) {
        self.mark(Mark::Stroke {
            points: vec![from, to],
            closed: false,
            width: stroke,
        });
    }

    /// `text` in `size`, wrapped to `width` millimetres from `x` (centred in them if asked), line
    /// by line down the page.
    fn paragraph(&mut self, x: f32, width: f32, size: f32, text: &str, centred: bool) {
        let height = line_height(size);
        for line in wrap(text, size, width / MM_PER_PT) {
            self.make_room(height);
            let indent = if centred {
                (width - text_width(&line, size) * MM_PER_PT) / 2.0
            } else {
                0.0
            };
            self.text(x + indent, self.y - baseline_drop(size), size, &line);
            self.y -= height;
        }
    }

    /// A square frame of [`FRAME_SIDE`] with its lower left corner at (`x`, `y`), and in it,
    /// centred, in capitals and in [`FRAME_SIZE`]: the title, a blank line, the figure and its
    /// unit.
    fn frame(&mut self, x: f32, y: f32, title: &str, figure: &str, unit: &str) {
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
            self.text(x + indent, baseline, FRAME_SIZE, line);
        }
        self.rectangle(x, y, FRAME_SIDE, FRAME_SIDE, FRAME_BORDER);
    }

    /// A row of the table: each cell's text wrapped to its column, the row as tall as its
    /// longest cell, bordered all round and between the columns. A row that does not fit on the
    /// page starts the next one.
    fn row(&mut self, cells: [&str; 3]) {
        let lines: Vec<Vec<String>> = cells
            .iter()
            .zip(COLUMNS)
            .map(|(text, column)| wrap(text, BODY_SIZE, (column - 2.0 * CELL_PADDING) / MM_PER_PT))
            .collect();
        let most = lines.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let step = line_height(BODY_SIZE);
        let height = most as f32 * step + 2.0 * CELL_PADDING;
        self.make_room(height);
        let top = self.y;
        let bottom = top - height;
        let mut x = MARGIN_LEFT;
        for (column, cell) in COLUMNS.iter().zip(&lines) {
            for (n, line) in cell.iter().enumerate() {
                let baseline = top - CELL_PADDING - n as f32 * step - baseline_drop(BODY_SIZE);
                self.text(x + CELL_PADDING, baseline, BODY_SIZE, line);
            }
            x += column;
        }
        self.rectangle(MARGIN_LEFT, bottom, TEXT_WIDTH, height, TABLE_BORDER);
        let mut x = MARGIN_LEFT;
        for column in &COLUMNS[..COLUMNS.len() - 1] {
            x += column;
            self.line((x, bottom), (x, top), TABLE_BORDER);
        }
        self.y = bottom;
    }

    /// The PDF: the font subset to the text laid out, one page for each page laid out.
    fn render(self, title: &str) -> Vec<u8> {
        let all_text: String = self
            .pages
            .iter()
            .flatten()
            .filter_map(|mark| match mark {
                Mark::Text { text, .. } => Some(text.as_str()),
                Mark::Stroke { .. } => None,
            })
            .collect();
        let mut doc = PdfDocument::new(title);
        let font = PdfFontHandle::External(doc.add_font(&subset_font(&all_text)));
        let pages = self
            .pages
            .into_iter()
            .map(|marks| {
                // Black on the white page.
                let mut ops = vec![
                    Op::SetOutlineColor { col: black() },
                    Op::SetFillColor { col: black() },
                ];
                let mut stroke_width = None;
                for mark in marks {
                    match mark {
                        Mark::Text { x, y, size, text } => ops.extend([
                            Op::StartTextSection,
                            Op::SetFont {
                                font: font.clone(),
                                size: Pt(size),
                            },
                            Op::SetTextCursor { pos: point(x, y) },
                            Op::ShowText {
                                items: vec![TextItem::Text(text)],
                            },
                            Op::EndTextSection,
                        ]),
                        Mark::Stroke {
                            points,
                            closed,
                            width,
                        } => {
                            if stroke_width != Some(width) {
                                ops.push(Op::SetOutlineThickness { pt: Pt(width) });
                                stroke_width = Some(width);
                            }
                            // A line, not `DrawRectangle`: printpdf writes a rectangle as
                            // `re n`, a path never painted.
                            ops.push(Op::DrawLine {
                                line: Line {
                                    points: points
                                        .into_iter()
                                        .map(|(x, y)| LinePoint {
                                            p: point(x, y),
                                            bezier: false,
                                        })
                                        .collect(),
                                    is_closed: closed,
                                },
                            });
                        }
                    }
                }
                PdfPage::new(Mm(PAGE_WIDTH), Mm(PAGE_HEIGHT), ops)
            })
            .collect();
        doc.with_pages(pages)
            .save(&PdfSaveOptions::default(), &mut vec![])
    }
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
        layout.frame(percent_x, bottom, title, &percent, "годовых");
        let roubles = self.interest_for_term.to_string();
        layout.frame(roubles_x, bottom, title, &roubles, "в рублях");
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
        layout.row(COLUMN_NAMES);
        for (number, name) in CONDITIONS {
            let content = self
                .condition(number)
                .unwrap_or_else(|| panic!("no content for row {number} of the form"));
            layout.row([number, name, content.as_str()]);
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
    fn long_paragraphs_wrap_at_spaces_within_the_width() {
        let text = "слово ".repeat(40);
        let lines = wrap(&text, BODY_SIZE, 200.0);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| text_width(l, BODY_SIZE) <= 200.0));
        assert_eq!(lines.join(" "), text.trim());
    }

    #[test]
    fn an_amount_is_never_broken_and_an_overlong_word_is_cut() {
        let amount = Kopecks::from_roubles(15_000).to_string();
        let lines = wrap(
            &format!("итого {amount}"),
            BODY_SIZE,
            text_width(&amount, BODY_SIZE),
        );
        assert_eq!(lines, ["итого", amount.as_str()]);
        let lines = wrap("220000******0004", BODY_SIZE, 30.0);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| text_width(l, BODY_SIZE) <= 30.0));
        assert_eq!(lines.concat(), "220000******0004");
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
