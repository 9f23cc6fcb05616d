//! PDF documents set in one bundled font: lines and paragraphs wrapped to a width, bordered
//! tables that run on to the next page, frames, and the file with the font cut down to the
//! glyphs it uses. The contract and the agents' statements are drawn with it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use printpdf::{
    Color, FontMetrics, Line, LinePoint, Mm, Op, ParsedFont, PdfDocument, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Pt, Rgb, TextItem,
};

/// DejaVu Sans (free licence, see `assets/fonts/DejaVuSans.LICENSE`): it has Cyrillic and ₽.
/// The whole document is set in it.
const FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

/// A4, in millimetres, as every length below; the PDF's own unit is the point.
pub(crate) const PAGE_WIDTH: f32 = 210.0;
pub(crate) const PAGE_HEIGHT: f32 = 297.0;
pub(crate) const MARGIN_LEFT: f32 = 20.0;
pub(crate) const MARGIN_RIGHT: f32 = 10.0;
pub(crate) const MARGIN_TOP: f32 = 10.0;
const MARGIN_BOTTOM: f32 = 15.0;
/// The width text and table take.
pub(crate) const TEXT_WIDTH: f32 = PAGE_WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
/// Millimetres in a typographic point.
pub(crate) const MM_PER_PT: f32 = 25.4 / 72.0;

/// Line spacing as a multiple of the type size (DejaVu Sans's ascent and descent take 1.16).
const LEADING: f32 = 1.25;
/// Stroke width of a table's borders, in points.
const TABLE_BORDER: f32 = 0.5;
/// Between a cell's border and its text.
const CELL_PADDING: f32 = 1.5;

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
pub(crate) fn text_width(text: &str, size: f32) -> f32 {
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
pub(crate) fn wrap(text: &str, size: f32, width: f32) -> Vec<String> {
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
pub(crate) fn line_height(size: f32) -> f32 {
    size * LEADING * MM_PER_PT
}

/// From the top of a line set in `size` down to its baseline, in millimetres: the font's ascent
/// and half the spacing its ascent and descent leave.
pub(crate) fn baseline_drop(size: f32) -> f32 {
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
pub(crate) struct Layout {
    pages: Vec<Vec<Mark>>,
    /// The top of the free space on the last page.
    pub(crate) y: f32,
}

impl Layout {
    pub(crate) fn new() -> Self {
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
    pub(crate) fn make_room(&mut self, height: f32) {
        let empty = self.pages.last().is_none_or(Vec::is_empty);
        if self.y - height < MARGIN_BOTTOM && !empty {
            self.pages.push(vec![]);
            self.y = PAGE_HEIGHT - MARGIN_TOP;
        }
    }

    pub(crate) fn text(&mut self, x: f32, y: f32, size: f32, text: &str) {
        self.mark(Mark::Text {
            x,
            y,
            size,
            text: text.to_string(),
        });
    }

    pub(crate) fn rectangle(&mut self, x: f32, y: f32, width: f32, height: f32, stroke: f32) {
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

    pub(crate) fn line(&mut self, from: (f32, f32), to: (f32, f32), stroke: f32) {
        self.mark(Mark::Stroke {
            points: vec![from, to],
            closed: false,
            width: stroke,
        });
    }

    /// `text` in `size`, wrapped to `width` millimetres from `x` (centred in them if asked), line
    /// by line down the page.
    pub(crate) fn paragraph(&mut self, x: f32, width: f32, size: f32, text: &str, centred: bool) {
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

    /// A row of a table whose columns are `columns` millimetres wide from the left margin: each
    /// cell's text wrapped to its column in `size`, the row as tall as its longest cell,
    /// bordered all round and between the columns. A row that does not fit on the page starts
    /// the next one.
    pub(crate) fn row(&mut self, columns: &[f32], size: f32, cells: &[&str]) {
        debug_assert_eq!(columns.len(), cells.len(), "a cell for each column");
        let lines: Vec<Vec<String>> = cells
            .iter()
            .zip(columns)
            .map(|(text, column)| wrap(text, size, (column - 2.0 * CELL_PADDING) / MM_PER_PT))
            .collect();
        let most = lines.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let step = line_height(size);
        let height = most as f32 * step + 2.0 * CELL_PADDING;
        self.make_room(height);
        let top = self.y;
        let bottom = top - height;
        let mut x = MARGIN_LEFT;
        for (column, cell) in columns.iter().zip(&lines) {
            for (n, line) in cell.iter().enumerate() {
                let baseline = top - CELL_PADDING - n as f32 * step - baseline_drop(size);
                self.text(x + CELL_PADDING, baseline, size, line);
            }
            x += column;
        }
        let width: f32 = columns.iter().sum();
        self.rectangle(MARGIN_LEFT, bottom, width, height, TABLE_BORDER);
        let mut x = MARGIN_LEFT;
        for column in &columns[..columns.len().saturating_sub(1)] {
            x += column;
            self.line((x, bottom), (x, top), TABLE_BORDER);
        }
        self.y = bottom;
    }

    /// The PDF: the font subset to the text laid out, one page for each page laid out.
    pub(crate) fn render(self, title: &str) -> Vec<u8> {
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

#[cfg(test)]
mod tests {
    use k911_aggregates::money::Kopecks;

    use super::*;

    const BODY_SIZE: f32 = 9.0;

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
}
