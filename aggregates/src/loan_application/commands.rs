use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::applicant::{Applicant, PayoutMethod};
use super::consents::ConsentTexts;
use super::{DeclaredFinances, LoanRequest};
use crate::loan::law::CreditRecord;
use crate::money::{DailyRate, Kopecks};
use crate::values::MessageText;
use crate::Sealed;

/// What a decision weighs besides the application itself (looked up before the command).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    /// As the applicant declared it.
    pub monthly_income: Kopecks,
    /// The average monthly payments on the borrower's loans already in force.
    pub monthly_payments: Kopecks,
    /// The borrower's loans in force and recently repaid, here and at other lenders (what the
    /// law's limits on high-cost loans count).
    pub credit_history: Vec<CreditRecord>,
    /// `monthly_income` and `monthly_payments` again, sealed with the customer's key: what the
    /// event records of them.
    pub declared: Sealed<DeclaredFinances>,
}

/// What can be asked of a loan application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LoanApplicationCommand {
    /// A customer applies: the first time this also registers them; a repeat application is
    /// prefilled from the profile. Personal data arrives sealed with the customer's key.
    Submit {
        customer_id: Uuid,
        applicant: Sealed<Applicant>,
        loan: LoanRequest,
        payout: Sealed<PayoutMethod>,
        referral_code: Option<String>,
        repeat: bool,
        /// The consent texts accepted (`None`: a repeat application, consented before).
        consents: Option<Box<ConsentTexts>>,
        at: DateTime<Utc>,
    },
    /// An underwriter approves, possibly for less, for a shorter term, or at a lower rate than
    /// the product's; what is not given stays as asked (the rate: the product's).
    Approve {
        underwriter_id: Uuid,
        amount: Option<Kopecks>,
        term_days: Option<u16>,
        daily_rate: Option<DailyRate>,
        /// The borrower's debt as the lender knows it when deciding.
        assessment: Assessment,
        at: DateTime<Utc>,
    },
    /// The approved terms could not become a lawful contract (the offer was refused, or signing
    /// was): the application goes back to the underwriters' queue.
    Return { reason: String, at: DateTime<Utc> },
    Reject {
        underwriter_id: Uuid,
        /// Sealed with the customer's key.
        reason: Sealed<MessageText>,
        at: DateTime<Utc>,
    },
}
