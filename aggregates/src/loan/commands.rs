use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::law::LawRules;
use super::reminders::ReminderRules;
use super::ContractNumber;
use crate::incoming_payment::PaymentChannel;
use crate::loan_application::applicant::PayoutMethod;
use crate::money::{DailyRate, Kopecks};
use crate::regions::LocalTimeZone;
use crate::Sealed;

/// The individual conditions an approval offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferTerms {
    pub application_id: Uuid,
    pub customer_id: Uuid,
    /// What the customer types in Sberbank Online or at a terminal.
    pub contract_number: ContractNumber,
    pub principal: Kopecks,
    pub term_days: u16,
    pub daily_rate: DailyRate,
    pub payout: Sealed<PayoutMethod>,
    /// The day (Europe/Moscow) the contract is concluded; it picks the law's edition.
    pub contract_date: NaiveDate,
    /// The edition of 353-FZ in force on `contract_date`.
    pub rules: LawRules,
    /// Unsigned after this, the offer lapses.
    pub expires_at: DateTime<Utc>,
    /// The borrower's local time zone, where overdue reminders keep the law's quiet hours
    /// (offers before it was recorded: Moscow time).
    #[serde(default)]
    pub time_zone: LocalTimeZone,
    /// The borrower's debt-to-income ratio with this loan (353-FZ art. 5.1), % (`None`: no
    /// income declared). Above 50 % the borrower is warned before signing.
    pub pdn_percent: Option<Decimal>,
}

/// What can be asked of a loan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LoanCommand {
    Offer {
        /// Boxed: the conditions are many, the other commands small.
        terms: Box<OfferTerms>,
        at: DateTime<Utc>,
    },
    /// The borrower's simple electronic signature (the SMS code was checked before).
    Sign { at: DateTime<Utc> },
    /// The offer's time ran out unsigned.
    Expire { at: DateTime<Utc> },
    /// The payout is asked of the provider: once per loan, under this id.
    RequestPayout { payout_id: Uuid, at: DateTime<Utc> },
    /// The provider paid out: the loan is issued on `on` (Europe/Moscow).
    ConfirmPayout {
        payout_id: Uuid,
        on: NaiveDate,
        at: DateTime<Utc>,
    },
    FailPayout {
        payout_id: Uuid,
        reason: String,
        at: DateTime<Utc>,
    },
    /// Charges interest (and, once overdue, penalty) for every day up to and including
    /// `through` not charged yet.
    Accrue { through: NaiveDate },
    /// Reminds an overdue debtor by SMS, if the law (230-FZ) and the product's pace allow now.
    Remind {
        at: DateTime<Utc>,
        rules: ReminderRules,
    },
    /// The borrower says they now live in another time zone.
    ChangeTimeZone {
        time_zone: LocalTimeZone,
        at: DateTime<Utc>,
    },
    /// The borrower asks for the overpayment held on the loan back, to the payout method.
    RequestRefund { refund_id: Uuid, at: DateTime<Utc> },
    /// The provider's answer about a refund.
    SettleRefund {
        refund_id: Uuid,
        /// `None`: paid; `Some(reason)`: failed, and the money is held again.
        failure: Option<String>,
        at: DateTime<Utc>,
    },
    /// A repayment from an outside channel, made on `paid_on` (Europe/Moscow).
    ApplyPayment {
        channel: PaymentChannel,
        external_id: String,
        amount: Kopecks,
        paid_at: DateTime<Utc>,
        paid_on: NaiveDate,
    },
}
