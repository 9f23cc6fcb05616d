//! What an agent is described by: the kind of business, the taxpayer number, the referral code,
//! and the calendar month statements are kept by.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::loan_application::applicant::OfficialText;
use crate::values::ValueError;

/// The legal form an agent works in.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum AgentKind {
    /// A person (their INN has 12 digits).
    Individual,
    /// An individual entrepreneur, ИП (12 digits).
    SoleTrader,
    /// A company, ООО and the like (10 digits).
    Company,
}

/// A taxpayer number (ИНН) with its check digits: 10 digits for a company, 12 for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Inn(String);

impl Inn {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let digits: Vec<u32> = raw
            .trim()
            .chars()
            .map(|c| c.to_digit(10))
            .collect::<Option<_>>()
            .ok_or(ValueError::BadFormat("10 or 12 digits"))?;
        let check = |weights: &[u32], digits: &[u32]| {
            let sum: u32 = weights.iter().zip(digits).map(|(w, d)| w * d).sum();
            sum % 11 % 10
        };
        let valid = match digits.len() {
            10 => check(&[2, 4, 10, 3, 5, 9, 4, 6, 8], &digits) == digits[9],
            12 => {
                check(&[7, 2, 4, 10, 3, 5, 9, 4, 6, 8], &digits) == digits[10]
                    && check(&[3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8], &digits) == digits[11]
            }
            _ => false,
        };
        if !valid {
            return Err(ValueError::BadFormat(
                "a taxpayer number (ИНН) with valid check digits",
            ));
        }
        Ok(Self(raw.trim().to_string()))
    }

    /// Whether the number's length fits the kind: 10 digits for a company, 12 for a person.
    pub fn fits(&self, kind: AgentKind) -> bool {
        (self.0.len() == 10) == (kind == AgentKind::Company)
    }
}

/// Who an agent is: personal data, sealed under the agent's key (where commission is paid is
/// sealed on its own, for the payout to carry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentProfile {
    /// A person's full name, or a company's name.
    pub name: OfficialText,
    pub inn: Inn,
}

/// The code a referred client's application carries (`/?ref=CODE`): 6 to 16 Latin letters and
/// digits, kept upper-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReferralCode(String);

impl ReferralCode {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let code = raw.trim().to_ascii_uppercase();
        if !(6..=16).contains(&code.len()) || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ValueError::BadFormat("6 to 16 Latin letters and digits"));
        }
        Ok(Self(code))
    }
}

/// A calendar month (Europe/Moscow), as statements are kept: `2026-11`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Month {
    year: i32,
    month: u32,
}

impl Month {
    pub fn of(day: NaiveDate) -> Self {
        Self {
            year: day.year(),
            month: day.month(),
        }
    }

    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        NaiveDate::parse_from_str(&format!("{}-01", raw.trim()), "%Y-%m-%d")
            .map(Self::of)
            .map_err(|_| ValueError::BadFormat("a month as YYYY-MM"))
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("a month's first day exists")
    }

    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

crate::values::string_value!(Inn, ReferralCode);

impl TryFrom<String> for Month {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Month> for String {
    fn from(value: Month) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taxpayer_numbers_carry_valid_check_digits() {
        // Sberbank (10 digits) and a person's number (12 digits) with their check digits.
        assert!(Inn::parse("7707083893").is_ok());
        assert!(Inn::parse("500100732259").is_ok());
        assert!(Inn::parse("7707083894").is_err());
        assert!(Inn::parse("500100732250").is_err());
        assert!(Inn::parse("77070838").is_err());
        let company = Inn::parse("7707083893").unwrap();
        assert!(company.fits(AgentKind::Company));
        assert!(!company.fits(AgentKind::SoleTrader));
    }

    #[test]
    fn referral_codes_are_upper_case_latin() {
        assert_eq!(
            ReferralCode::parse(" ivan2026 ").unwrap().as_str(),
            "IVAN2026"
        );
        assert!(ReferralCode::parse("ИВАН2026").is_err());
        assert!(ReferralCode::parse("abc").is_err());
    }

    #[test]
    fn months_follow_each_other() {
        let december = Month::parse("2026-12").unwrap();
        assert_eq!(december.next().to_string(), "2027-01");
        assert_eq!(
            december.first_day(),
            NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
        );
        assert!(Month::parse("2026-13").is_err());
    }
}
