//! The applicant form's values: each parsed once at the edge, valid for good afterwards. Rules
//! that need "today" (age, passport issue date) take the day in Europe/Moscow from the caller.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::money::Kopecks;
use crate::regions::{LocalTimeZone, RegionCode};
use crate::values::{bounded_text, string_value, Email, Phone, ValueError};

/// Age limits of a borrower on the day of the application.
pub const MIN_AGE: i32 = 18;
pub const MAX_AGE: i32 = 75;
/// A Russian internal passport is first issued at 14.
pub const PASSPORT_AGE: i32 = 14;

string_value!(
    CyrillicName,
    PassportSeries,
    PassportNumber,
    DivisionCode,
    OfficialText
);

/// A surname, given name or patronymic as written in a Russian passport: Cyrillic words joined
/// by hyphens or single spaces (`Салтыков-Щедрин`, `Мамед оглы`), at most 50 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CyrillicName(String);

impl CyrillicName {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let cyrillic = |c: char| matches!(c, 'А'..='я' | 'Ё' | 'ё');
        let text = bounded_text(raw, 50, |c| cyrillic(c) || c == '-' || c == ' ')?;
        let words_ok = text
            .split([' ', '-'])
            .all(|word| !word.is_empty() && word.chars().all(cyrillic));
        if !words_ok {
            return Err(ValueError::NotCyrillic);
        }
        Ok(Self(text))
    }
}

fn digits(raw: &str, count: usize, what: &'static str) -> Result<String, ValueError> {
    let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return Err(ValueError::Empty);
    }
    if compact.len() != count || !compact.chars().all(|c| c.is_ascii_digit()) {
        return Err(ValueError::BadFormat(what));
    }
    Ok(compact)
}

/// Passport series: 4 digits (`45 10` is accepted as `4510`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PassportSeries(String);

impl PassportSeries {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        digits(raw, 4, "4 digits").map(Self)
    }
}

/// Passport number: 6 digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PassportNumber(String);

impl PassportNumber {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        digits(raw, 6, "6 digits").map(Self)
    }
}

/// The issuing division's code, `NNN-NNN`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DivisionCode(String);

impl DivisionCode {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(ValueError::Empty);
        }
        let ok = text.len() == 7
            && text
                .char_indices()
                .all(|(i, c)| if i == 3 { c == '-' } else { c.is_ascii_digit() });
        if !ok {
            return Err(ValueError::BadFormat("NNN-NNN, e.g. 770-001"));
        }
        Ok(Self(text.to_string()))
    }
}

/// A line of an official document (an address, an issuing authority, an employer): one line,
/// at most 300 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OfficialText(String);

impl OfficialText {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        bounded_text(raw, 300, |c| !c.is_control()).map(Self)
    }
}

/// Full years between `birth` and `day`. Someone born on 29 February comes of age on 1 March in
/// years without one.
pub fn age_on(birth: NaiveDate, day: NaiveDate) -> i32 {
    let had_birthday = (day.month(), day.day()) >= (birth.month(), birth.day());
    day.year() - birth.year() - i32::from(!had_birthday)
}

/// A birth date of someone aged 18 to 75 on `today`.
pub fn check_birth_date(birth: NaiveDate, today: NaiveDate) -> Result<NaiveDate, ValueError> {
    let age = age_on(birth, today);
    if !(MIN_AGE..=MAX_AGE).contains(&age) {
        return Err(ValueError::BadFormat(
            "the date of birth of someone aged 18 to 75",
        ));
    }
    Ok(birth)
}

/// A passport issue date: not in the future, and not before its holder's 14th birthday.
pub fn check_issue_date(
    issued_on: NaiveDate,
    birth: NaiveDate,
    today: NaiveDate,
) -> Result<NaiveDate, ValueError> {
    if issued_on > today {
        return Err(ValueError::BadFormat("a date not in the future"));
    }
    if age_on(birth, issued_on) < PASSPORT_AGE {
        return Err(ValueError::BadFormat(
            "on or after the holder's 14th birthday",
        ));
    }
    Ok(issued_on)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passport {
    pub series: PassportSeries,
    pub number: PassportNumber,
    pub issued_on: NaiveDate,
    pub issued_by: OfficialText,
    pub division_code: DivisionCode,
}

impl Passport {
    /// What identifies the document (for duplicate checks through a keyed hash).
    pub fn identity(&self) -> String {
        format!("{}{}", self.series.as_str(), self.number.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmploymentStatus {
    Employed,
    SelfEmployed,
    Unemployed,
    Retired,
    Student,
}

impl std::str::FromStr for EmploymentStatus {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "employed" => Self::Employed,
            "self_employed" => Self::SelfEmployed,
            "unemployed" => Self::Unemployed,
            "retired" => Self::Retired,
            "student" => Self::Student,
            _ => {
                return Err(ValueError::NotOneOf(
                    "employed, self_employed, unemployed, retired, student",
                ))
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Employment {
    pub status: EmploymentStatus,
    /// Required when employed.
    pub employer: Option<OfficialText>,
    pub position: Option<OfficialText>,
}

/// Everything the applicant tells about themselves: personal data, sealed inside events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applicant {
    pub last_name: CyrillicName,
    pub first_name: CyrillicName,
    pub middle_name: Option<CyrillicName>,
    pub birth_date: NaiveDate,
    pub birth_place: OfficialText,
    pub passport: Passport,
    pub registration_address: OfficialText,
    /// The subject of the Russian Federation of each address (applications before regions
    /// were asked have none).
    #[serde(default)]
    pub registration_region: Option<RegionCode>,
    pub residence_address: Option<OfficialText>,
    #[serde(default)]
    pub residence_region: Option<RegionCode>,
    /// The applicant's local time (230-FZ counts a debtor's quiet hours in it): their region's
    /// zone, or the one they named where it has several.
    #[serde(default)]
    pub time_zone: LocalTimeZone,
    pub phone: Phone,
    pub email: Option<Email>,
    pub employment: Employment,
    pub monthly_income: Kopecks,
}

impl Applicant {
    /// `Иванов Иван Иванович`.
    pub fn full_name(&self) -> String {
        let mut name = format!("{} {}", self.last_name.as_str(), self.first_name.as_str());
        if let Some(middle) = &self.middle_name {
            name.push(' ');
            name.push_str(middle.as_str());
        }
        name
    }

    /// As an agent may see it: the first name and the last name's initial, `Иван И.`.
    pub fn masked_name(&self) -> String {
        let initial: String = self.last_name.as_str().chars().take(1).collect();
        format!("{} {initial}.", self.first_name.as_str())
    }
}

/// What a returning customer changed in their profile on a repeat application. Contacts (phone,
/// e-mail) are not changed this way: they are logins, changed through support.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileChanges {
    pub last_name: Option<CyrillicName>,
    pub first_name: Option<CyrillicName>,
    pub middle_name: Option<CyrillicName>,
    /// A new passport (at 20 and 45, or after a change of name).
    pub passport: Option<Passport>,
    pub registration_address: Option<OfficialText>,
    pub residence_address: Option<OfficialText>,
    pub employment: Option<Employment>,
    pub monthly_income: Option<Kopecks>,
    pub payout: Option<PayoutMethod>,
}

impl ProfileChanges {
    /// The names of the changed fields, as the application form names them: not personal data,
    /// so they may be recorded in clear.
    pub fn fields(&self) -> Vec<String> {
        [
            ("last_name", self.last_name.is_some()),
            ("first_name", self.first_name.is_some()),
            ("middle_name", self.middle_name.is_some()),
            ("passport", self.passport.is_some()),
            ("registration_address", self.registration_address.is_some()),
            ("residence_address", self.residence_address.is_some()),
            ("employment", self.employment.is_some()),
            ("monthly_income_kopecks", self.monthly_income.is_some()),
            ("payout", self.payout.is_some()),
        ]
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(field, _)| field.to_string())
        .collect()
    }

    /// The profile and payout method with these changes made.
    pub fn applied_to(
        self,
        mut applicant: Applicant,
        payout: PayoutMethod,
    ) -> (Applicant, PayoutMethod) {
        let a = &mut applicant;
        if let Some(v) = self.last_name {
            a.last_name = v;
        }
        if let Some(v) = self.first_name {
            a.first_name = v;
        }
        if let Some(v) = self.middle_name {
            a.middle_name = Some(v);
        }
        if let Some(v) = self.passport {
            a.passport = v;
        }
        if let Some(v) = self.registration_address {
            a.registration_address = v;
        }
        if let Some(v) = self.residence_address {
            a.residence_address = Some(v);
        }
        if let Some(v) = self.employment {
            a.employment = v;
        }
        if let Some(v) = self.monthly_income {
            a.monthly_income = v;
        }
        (applicant, self.payout.unwrap_or(payout))
    }
}

/// Where the money goes: a card tokenised by the payout provider (the service never sees the
/// card number), or an e-wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum PayoutMethod {
    Card {
        card_token: String,
        masked_pan: String,
    },
    Ewallet {
        provider: String,
        wallet_id: String,
    },
}

impl PayoutMethod {
    /// What the borrower is shown: the masked card, or the wallet with all but its last four
    /// characters hidden.
    pub fn masked(&self) -> String {
        match self {
            Self::Card { masked_pan, .. } => masked_pan.clone(),
            Self::Ewallet {
                provider,
                wallet_id,
            } => {
                let tail: String = wallet_id
                    .chars()
                    .rev()
                    .take(4)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                format!("{provider} ****{tail}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn names_are_cyrillic_words_joined_by_hyphens_or_spaces() {
        for ok in ["Иванов", "Салтыков-Щедрин", "Мамед оглы", "Ёлкин"]
        {
            assert!(CyrillicName::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            CyrillicName::parse("Ivanov"),
            Err(ValueError::BadCharacters)
        );
        assert_eq!(CyrillicName::parse("Иван2"), Err(ValueError::BadCharacters));
        assert_eq!(CyrillicName::parse("-Иван"), Err(ValueError::NotCyrillic));
        assert_eq!(
            CyrillicName::parse("Иван--Петр"),
            Err(ValueError::NotCyrillic)
        );
        assert_eq!(CyrillicName::parse(" "), Err(ValueError::Empty));
    }

    #[test]
    fn passport_parts_have_their_fixed_formats() {
        assert_eq!(PassportSeries::parse("45 10").unwrap().as_str(), "4510");
        assert!(PassportSeries::parse("451").is_err());
        assert!(PassportNumber::parse("12345a").is_err());
        assert_eq!(PassportNumber::parse("123456").unwrap().as_str(), "123456");
        assert!(DivisionCode::parse("770-001").is_ok());
        for bad in ["770001", "77-0001", "770-00a"] {
            assert!(DivisionCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn age_counts_full_years_and_leap_day_birthdays_come_on_the_first_of_march() {
        assert_eq!(age_on(date(2008, 11, 27), date(2026, 11, 27)), 18);
        assert_eq!(age_on(date(2008, 11, 28), date(2026, 11, 27)), 17);
        assert_eq!(age_on(date(2008, 2, 29), date(2026, 2, 28)), 17);
        assert_eq!(age_on(date(2008, 2, 29), date(2026, 3, 1)), 18);
    }

    #[test]
    fn borrowers_are_18_to_75_on_the_day() {
        let today = date(2026, 11, 27);
        assert!(check_birth_date(date(2008, 11, 27), today).is_ok());
        assert!(check_birth_date(date(2008, 11, 28), today).is_err());
        assert!(check_birth_date(date(1951, 11, 28), today).is_ok());
        assert!(check_birth_date(date(1950, 11, 27), today).is_err());
    }

    #[test]
    fn a_passport_is_issued_from_the_14th_birthday_and_never_in_the_future() {
        let today = date(2026, 11, 27);
        let birth = date(1990, 5, 14);
        assert!(check_issue_date(date(2004, 5, 14), birth, today).is_ok());
        assert!(check_issue_date(date(2004, 5, 13), birth, today).is_err());
        assert!(check_issue_date(date(2026, 11, 28), birth, today).is_err());
    }

    #[test]
    fn profile_changes_replace_only_what_they_name() {
        let applicant = Applicant {
            last_name: CyrillicName::parse("Иванова").unwrap(),
            first_name: CyrillicName::parse("Мария").unwrap(),
            middle_name: None,
            birth_date: date(1990, 5, 14),
            birth_place: OfficialText::parse("г. Москва").unwrap(),
            passport: Passport {
                series: PassportSeries::parse("4510").unwrap(),
                number: PassportNumber::parse("123456").unwrap(),
                issued_on: date(2010, 6, 1),
                issued_by: OfficialText::parse("ОВД").unwrap(),
                division_code: DivisionCode::parse("770-001").unwrap(),
            },
            registration_address: OfficialText::parse("г. Москва").unwrap(),
            residence_address: None,
            registration_region: None,
            residence_region: None,
            time_zone: LocalTimeZone::default(),
            phone: Phone::parse("+79161234567").unwrap(),
            email: None,
            employment: Employment {
                status: EmploymentStatus::Unemployed,
                employer: None,
                position: None,
            },
            monthly_income: Kopecks::new(0).unwrap(),
        };
        let card = PayoutMethod::Card {
            card_token: "tok".into(),
            masked_pan: "220000******0004".into(),
        };
        let changes = ProfileChanges {
            last_name: Some(CyrillicName::parse("Петрова").unwrap()),
            monthly_income: Some(Kopecks::new(5_000_000).unwrap()),
            ..ProfileChanges::default()
        };
        assert_eq!(changes.fields(), ["last_name", "monthly_income_kopecks"]);
        let (changed, payout) = changes.applied_to(applicant.clone(), card.clone());
        assert_eq!(changed.last_name.as_str(), "Петрова");
        assert_eq!(changed.monthly_income, Kopecks::new(5_000_000).unwrap());
        assert_eq!(changed.first_name, applicant.first_name);
        assert_eq!(changed.passport, applicant.passport);
        assert_eq!(payout, card);
        assert!(ProfileChanges::default().fields().is_empty());
    }

    #[test]
    fn e_wallets_show_only_their_last_four_characters() {
        let wallet = PayoutMethod::Ewallet {
            provider: "yoomoney".into(),
            wallet_id: "410011223344".into(),
        };
        assert_eq!(wallet.masked(), "yoomoney ****3344");
    }
}
