//! The consents an applicant gives (personal data, the credit history request, the general
//! terms), each to a text that is a published document. The application records which version
//! of each text was accepted, so a later change of a text never rewrites what was agreed to.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One version of a consent's text: the document and the SHA-256 of its file (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextVersion {
    pub document_id: Uuid,
    pub sha256: String,
}

/// The texts the three consents were given to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentTexts {
    pub personal_data: TextVersion,
    pub credit_history_check: TextVersion,
    pub terms: TextVersion,
}

/// Which consent: each has its own document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::VariantArray)]
#[serde(rename_all = "snake_case")]
pub enum Consent {
    PersonalData,
    CreditHistoryCheck,
    Terms,
}

impl Consent {
    /// The seed document that holds the consent's text (its id derives from this name).
    pub fn document_slug(self) -> &'static str {
        match self {
            Consent::PersonalData => "consent-personal-data",
            Consent::CreditHistoryCheck => "consent-credit-history",
            Consent::Terms => "general-terms",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Consent::PersonalData => "personal_data",
            Consent::CreditHistoryCheck => "credit_history_check",
            Consent::Terms => "terms",
        }
    }
}

impl ConsentTexts {
    pub fn of(&self, consent: Consent) -> &TextVersion {
        match consent {
            Consent::PersonalData => &self.personal_data,
            Consent::CreditHistoryCheck => &self.credit_history_check,
            Consent::Terms => &self.terms,
        }
    }
}
