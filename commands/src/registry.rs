//! Payment registries: the layout API.md fixes (`standard`), and adapters that map a channel's own
//! layout onto it. Each yields rows as `(line, payment or why not)`, reading the file as it goes.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use k911_aggregates::incoming_payment::{ExternalPayment, PaymentChannel};

use chrono::{DateTime, Utc};

/// `external_id,contract_number,amount_kopecks,paid_at` (API.md).
pub const STANDARD_HEADER: [&str; 4] = [
    "external_id",
    "contract_number",
    "amount_kopecks",
    "paid_at",
];

/// A row of a registry: its line, and the payment or why it cannot be one.
pub type RegistryRow = (u64, Result<ExternalPayment, String>);

/// How a registry file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryLayout {
    /// API.md's CSV.
    Standard,
    /// The registry of accepted payments in the layout agreed with Sberbank (the bank lets the
    /// recipient choose its fields): `;`-separated, no header,
    /// `DD-MM-YYYY;HH-MM-SS;branch;operation;contract;payer;roubles,kopecks`, Moscow time, and a
    /// closing line `=count;roubles,kopecks` that the rows must add up to.
    Sberbank,
}

impl std::str::FromStr for RegistryLayout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "standard" => Ok(Self::Standard),
            "sberbank" => Ok(Self::Sberbank),
            other => Err(format!("unknown layout {other}: standard or sberbank")),
        }
    }
}

fn text(value: &str, what: &str, max: usize) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        return Err(format!("{what}: must be 1 to {max} characters"));
    }
    Ok(value.to_string())
}

/// The shared field checks of a reported payment (read at `now`), as one line of a report.
fn checked(
    channel: PaymentChannel,
    external_id: &str,
    contract_number: &str,
    amount_kopecks: i64,
    paid_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<ExternalPayment, String> {
    ExternalPayment::check(
        channel,
        external_id,
        contract_number,
        amount_kopecks,
        paid_at,
        now,
    )
    .map_err(|errors| {
        errors
            .iter()
            .map(|(field, why)| format!("{field}: {why}"))
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// `1234,56` (or `1234.56`, `1234`) roubles as kopecks, exactly.
fn roubles(value: &str) -> Result<i64, String> {
    let value = value.trim().replace(',', ".");
    let (whole, fraction) = value.split_once('.').unwrap_or((&value, "0"));
    let bad = || format!("amount: {value:?} is not roubles and kopecks");
    if fraction.len() > 2 || !fraction.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let fraction: i64 = format!("{fraction:0<2}").parse().map_err(|_| bad())?;
    Ok(whole * 100 + fraction)
}

fn standard_row(
    channel: PaymentChannel,
    record: &csv::StringRecord,
    now: DateTime<Utc>,
) -> Result<ExternalPayment, String> {
    if record.len() != STANDARD_HEADER.len() {
        return Err(format!("expected 4 fields, found {}", record.len()));
    }
    let field = |i: usize| record.get(i).unwrap_or("");
    let amount: i64 = field(2)
        .trim()
        .parse()
        .map_err(|_| "amount_kopecks: must be a whole number of kopecks".to_string())?;
    let paid_at = chrono::DateTime::parse_from_rfc3339(field(3).trim())
        .map_err(|_| "paid_at: must be an RFC 3339 time".to_string())?
        .with_timezone(&chrono::Utc);
    checked(channel, field(0), field(1), amount, paid_at, now)
}

fn sberbank_row(
    channel: PaymentChannel,
    record: &csv::StringRecord,
    now: DateTime<Utc>,
) -> Result<ExternalPayment, String> {
    if record.len() != 7 {
        return Err(format!("expected 7 fields, found {}", record.len()));
    }
    let field = |i: usize| record.get(i).unwrap_or("").trim();
    let day = NaiveDate::parse_from_str(field(0), "%d-%m-%Y")
        .map_err(|_| "date: must be DD-MM-YYYY".to_string())?;
    let time = NaiveTime::parse_from_str(field(1), "%H-%M-%S")
        .map_err(|_| "time: must be HH-MM-SS".to_string())?;
    let moscow = chrono::FixedOffset::east_opt(3 * 3600).expect("UTC+3");
    let paid_at = moscow
        .from_local_datetime(&NaiveDateTime::new(day, time))
        .single()
        .ok_or("time: not a moment in Moscow")?
        .with_timezone(&chrono::Utc);
    let branch = text(field(2), "branch", 20)?;
    let operation = text(field(3), "operation", 60)?;
    // The payer's name (field 5) is personal data the lender has no use for here: not read.
    let external_id = format!("{branch}/{operation}");
    checked(
        channel,
        &external_id,
        field(4),
        roubles(field(6))?,
        paid_at,
        now,
    )
}

/// The rows of a registry in `layout`, read at `now` as they are asked for. Fails only when the
/// file is not a registry of that layout at all (the standard layout's header is wrong).
pub fn rows<'a, R: std::io::Read + 'a>(
    layout: RegistryLayout,
    channel: PaymentChannel,
    now: DateTime<Utc>,
    file: R,
) -> Result<Box<dyn Iterator<Item = RegistryRow> + 'a>, String> {
    let position = |p: Option<&csv::Position>| p.map_or(0, |p| p.line());
    match layout {
        RegistryLayout::Standard => {
            let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
            let header = reader
                .headers()
                .map_err(|e| format!("unreadable registry: {e}"))?
                .clone();
            if header.iter().map(str::trim).ne(STANDARD_HEADER) {
                return Err(format!("the header must be {}", STANDARD_HEADER.join(",")));
            }
            Ok(Box::new(reader.into_records().map(
                move |record| match record {
                    Ok(record) => (
                        position(record.position()),
                        standard_row(channel, &record, now),
                    ),
                    Err(e) => (position(e.position()), Err(format!("unreadable row: {e}"))),
                },
            )))
        }
        RegistryLayout::Sberbank => {
            let reader = csv::ReaderBuilder::new()
                .delimiter(b';')
                .has_headers(false)
                .flexible(true)
                .from_reader(file);
            let mut count = 0i64;
            let mut total = 0i64;
            Ok(Box::new(reader.into_records().filter_map(move |record| {
                let record = match record {
                    Ok(record) => record,
                    Err(e) => {
                        return Some((position(e.position()), Err(format!("unreadable row: {e}"))))
                    }
                };
                let line = position(record.position());
                let first = record.get(0).unwrap_or("").trim();
                if let Some(declared) = first.strip_prefix('=') {
                    // The closing line: the rows must add up to it.
                    let declared_count: i64 = declared.trim().parse().unwrap_or(-1);
                    let declared_total = roubles(record.get(1).unwrap_or("")).unwrap_or(-1);
                    return (declared_count != count || declared_total != total).then(|| {
                        let why = format!(
                            "the registry's closing line says {declared_count} payments, \
                             {declared_total} kopecks; its rows hold {count}, {total}"
                        );
                        (line, Err(why))
                    });
                }
                let row = sberbank_row(channel, &record, now);
                if let Ok(payment) = &row {
                    count += 1;
                    total += payment.amount.get();
                }
                Some((line, row))
            })))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roubles_and_kopecks_are_read_exactly() {
        assert_eq!(roubles("1234,56"), Ok(123_456));
        assert_eq!(roubles("1234.5"), Ok(123_450));
        assert_eq!(roubles("15"), Ok(1_500));
        assert!(roubles("1,234").is_err());
        assert!(roubles("ten").is_err());
    }

    #[test]
    fn a_sberbank_registry_maps_onto_payments_and_its_totals_are_checked() {
        let file = "27-11-2026;14-05-00;8603;123456789;911-261127-000001;Иванов И. И.;5000,00\n\
                    27-11-2026;14-06-00;8603;123456790;911-261127-000002;Петров П. П.;nothing\n\
                    =2;10000,00\n";
        let rows: Vec<RegistryRow> = rows(
            RegistryLayout::Sberbank,
            PaymentChannel::SberbankOnline,
            now(),
            file.as_bytes(),
        )
        .unwrap()
        .collect();
        assert_eq!(rows.len(), 3);
        let (line, payment) = &rows[0];
        let payment = payment.as_ref().unwrap();
        assert_eq!(*line, 1);
        assert_eq!(payment.external_id, "8603/123456789");
        assert_eq!(payment.amount.get(), 500_000);
        assert_eq!(payment.paid_at.to_rfc3339(), "2026-11-27T11:05:00+00:00");
        assert!(rows[1].1.as_ref().unwrap_err().contains("amount"));
        // One good row of 5 000 ₽ against a closing line of two and 10 000 ₽.
        assert_eq!(rows[2].0, 3);
        assert!(rows[2].1.as_ref().unwrap_err().contains("closing line"));
    }

    #[test]
    fn a_standard_registry_needs_its_header() {
        let bad = "id,contract,amount,when\n";
        assert!(rows(
            RegistryLayout::Standard,
            PaymentChannel::Terminal,
            now(),
            bad.as_bytes()
        )
        .is_err());
    }

    #[test]
    fn a_row_dated_after_the_import_is_refused() {
        let file = "external_id,contract_number,amount_kopecks,paid_at
                    t-1,911-261127-000001,100,2026-11-28T10:00:00+03:00
                    t-2,911-261127-000001,100,2026-11-28T09:04:00+03:00
";
        let rows: Vec<RegistryRow> = rows(
            RegistryLayout::Standard,
            PaymentChannel::Terminal,
            now(),
            file.as_bytes(),
        )
        .unwrap()
        .collect();
        assert!(rows[0].1.as_ref().unwrap_err().contains("paid_at"));
        assert!(rows[1].1.is_ok());
    }

    /// 28 November 2026, 09:00 in Moscow.
    fn now() -> DateTime<Utc> {
        chrono::DateTime::parse_from_rfc3339("2026-11-28T09:00:00+03:00")
            .unwrap()
            .with_timezone(&Utc)
    }
}
