//! Domain values parsed once at the edge: once built, a value is valid for good.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a raw input is not a valid domain value. The HTTP layer names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must be at least {min} characters")]
    TooShort { min: usize },
    #[error("contains characters that are not allowed")]
    BadCharacters,
    #[error("must be a Russian mobile number, e.g. +79161234567 or 8 916 123-45-67")]
    NotRussianMobile,
    #[error("must be an e-mail address like name@example.ru")]
    NotEmail,
    #[error("must be one of: {0}")]
    NotOneOf(&'static str),
    #[error("must not be negative")]
    Negative,
    #[error("must be a positive decimal percentage with at most three decimals, e.g. \"0.8\"")]
    NotRate,
    #[error("must be written in Cyrillic letters (hyphens and spaces between words allowed)")]
    NotCyrillic,
    #[error("must be {0}")]
    BadFormat(&'static str),
}

/// The plumbing every string value shares: read-only access, and (de)serialization through
/// `parse`, so a value read back from an event is as valid as one parsed at the edge.
macro_rules! string_value {
    ($($name:ident),*) => {$(
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValueError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    )*};
}

pub(crate) use string_value;

string_value!(Phone, Email, PersonName, MessageText, Title);

/// A Russian mobile phone in E.164 (`+79XXXXXXXXX`). Common input forms (`8 916 123-45-67`,
/// `+7 (916) 123 45 67`, `79161234567`) are normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ValueError::Empty);
        }
        let mut digits = String::with_capacity(12);
        for (i, c) in trimmed.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => {}
                ' ' | '-' | '(' | ')' | '\u{a0}' => {}
                _ => return Err(ValueError::NotRussianMobile),
            }
        }
        // A leading 8 is the domestic trunk prefix; +7 and 7 are the country code.
        let national = match (digits.len(), digits.chars().next()) {
            (11, Some('7' | '8')) => &digits[1..],
            (10, Some('9')) => &digits[..],
            _ => return Err(ValueError::NotRussianMobile),
        };
        if !national.starts_with('9') {
            return Err(ValueError::NotRussianMobile);
        }
        Ok(Self(format!("+7{national}")))
    }
}

impl Phone {
    /// As an agent may see it: `+7 916 ***-**-12`.
    pub fn masked(&self) -> String {
        let digits = &self.0[2..];
        format!("+7 {} ***-**-{}", &digits[..3], &digits[8..])
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An e-mail address, trimmed, with its domain lower-cased (the local part is case-sensitive by
/// RFC 5321, so it is kept as typed).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ValueError::Empty);
        }
        if trimmed.chars().count() > 254 {
            return Err(ValueError::TooLong { max: 254 });
        }
        let (local, domain) = trimmed.rsplit_once('@').ok_or(ValueError::NotEmail)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.contains('@')
            && !local.chars().any(|c| c.is_whitespace() || c.is_control());
        if !(domain_ok && local_ok) {
            return Err(ValueError::NotEmail);
        }
        Ok(Self(format!("{local}@{}", domain.to_lowercase())))
    }
}

/// How a person asks to be addressed: letters of any script, spaces, hyphens, apostrophes and
/// dots, at most 100 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let allowed = |c: char| c.is_alphabetic() || matches!(c, ' ' | '-' | '\'' | '.' | '’');
        bounded_text(raw, 100, allowed).map(Self)
    }
}

/// Trimmed text of 1 to `max` characters, each of them `allowed`.
pub(crate) fn bounded_text(
    raw: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<String, ValueError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(ValueError::Empty);
    }
    if trimmed.chars().count() > max {
        return Err(ValueError::TooLong { max });
    }
    if !trimmed.chars().all(allowed) {
        return Err(ValueError::BadCharacters);
    }
    Ok(trimmed.to_string())
}

/// Free text written by a person (a question, an answer): trimmed, non-empty, bounded so one
/// message cannot bloat the event store. Control characters other than line breaks and tabs are
/// refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageText(String);

impl MessageText {
    pub const MAX_CHARS: usize = 4000;

    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let allowed = |c: char| !c.is_control() || matches!(c, '\n' | '\r' | '\t');
        bounded_text(raw, Self::MAX_CHARS, allowed).map(Self)
    }
}

/// A short title (a document's name): one line, at most 200 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Title(String);

impl Title {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        bounded_text(raw, Self::MAX_CHARS, |c| !c.is_control()).map(Self)
    }
}

/// A password as the domain knows it: which stored credential holds its hash. The hash itself
/// lives in a mutable table (emptied on erasure), never in an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CredentialId(pub uuid::Uuid);

/// Who a user is to the system. Borrowers and agents are customers; the rest are staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Borrower,
    Agent,
    Underwriter,
    Support,
    Compliance,
    Analyst,
    Admin,
    /// Approves agents' statements for payment.
    Finance,
}

impl Role {
    pub const STAFF: [Role; 6] = [
        Role::Underwriter,
        Role::Support,
        Role::Compliance,
        Role::Analyst,
        Role::Admin,
        Role::Finance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Borrower => "borrower",
            Role::Agent => "agent",
            Role::Underwriter => "underwriter",
            Role::Support => "support",
            Role::Compliance => "compliance",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
            Role::Finance => "finance",
        }
    }

    pub fn is_staff(self) -> bool {
        Self::STAFF.contains(&self)
    }

    /// Whether the role's accounts log in with a login and password made by an admin: staff,
    /// and agents (same rules as staff).
    pub fn has_staff_login(self) -> bool {
        self.is_staff() || self == Role::Agent
    }
}

impl FromStr for Role {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const ALL: &str =
            "borrower, agent, underwriter, support, compliance, analyst, admin, finance";
        [
            Role::Borrower,
            Role::Agent,
            Role::Underwriter,
            Role::Support,
            Role::Compliance,
            Role::Analyst,
            Role::Admin,
            Role::Finance,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or(ValueError::NotOneOf(ALL))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod masking_tests {
    use super::Phone;

    #[test]
    fn an_agent_sees_a_phone_masked() {
        assert_eq!(
            Phone::parse("+79161234512").unwrap().masked(),
            "+7 916 ***-**-12"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_in_common_russian_forms_are_normalised_to_e164() {
        for raw in [
            "+79161234567",
            "89161234567",
            "8 916 123-45-67",
            "+7 (916) 123 45 67",
            "79161234567",
            "9161234567",
        ] {
            assert_eq!(Phone::parse(raw).unwrap().as_str(), "+79161234567", "{raw}");
        }
    }

    #[test]
    fn landlines_foreign_numbers_and_garbage_are_not_mobile_phones() {
        for raw in [
            "+74951234567",
            "+19161234567",
            "916123456",
            "+7916abc4567",
            "7+9161234567",
        ] {
            assert_eq!(
                Phone::parse(raw),
                Err(ValueError::NotRussianMobile),
                "{raw}"
            );
        }
        assert_eq!(Phone::parse("  "), Err(ValueError::Empty));
    }

    #[test]
    fn email_domain_is_lowercased_and_bad_addresses_are_refused() {
        assert_eq!(
            Email::parse(" Ivan@Example.RU ").unwrap().as_str(),
            "Ivan@example.ru"
        );
        for raw in [
            "ivan",
            "ivan@",
            "@example.ru",
            "ivan@example",
            "iv an@example.ru",
            "a@b..ru",
        ] {
            assert_eq!(Email::parse(raw), Err(ValueError::NotEmail), "{raw}");
        }
    }

    #[test]
    fn names_allow_cyrillic_and_hyphens_but_not_digits() {
        assert!(PersonName::parse("Анна-Мария Петрова").is_ok());
        assert_eq!(PersonName::parse("R2D2"), Err(ValueError::BadCharacters));
        assert_eq!(
            PersonName::parse(&"я".repeat(101)),
            Err(ValueError::TooLong { max: 100 })
        );
    }

    #[test]
    fn message_text_is_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(
            MessageText::parse("  вопрос \n").unwrap().as_str(),
            "вопрос"
        );
        assert_eq!(MessageText::parse(" \n "), Err(ValueError::Empty));
        assert_eq!(
            MessageText::parse("a\u{7}b"),
            Err(ValueError::BadCharacters)
        );
        assert!(MessageText::parse(&"ы".repeat(MessageText::MAX_CHARS)).is_ok());
        assert!(MessageText::parse(&"ы".repeat(MessageText::MAX_CHARS + 1)).is_err());
    }

    #[test]
    fn titles_are_one_bounded_line() {
        assert_eq!(
            Title::parse(" Общие условия ").unwrap().as_str(),
            "Общие условия"
        );
        assert_eq!(Title::parse("a\nb"), Err(ValueError::BadCharacters));
        assert_eq!(
            Title::parse(&"т".repeat(201)),
            Err(ValueError::TooLong { max: 200 })
        );
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::STAFF {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
        assert!(!Role::Borrower.is_staff());
    }
}
