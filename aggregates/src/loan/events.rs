use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::DomainEvent;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::commands::OfferTerms;
use super::law::{LawRules, Unlawful};
use super::ledger::{Allocation, Debt};
use crate::incoming_payment::PaymentChannel;
use crate::money::Kopecks;
use crate::regions::LocalTimeZone;
use crate::EVENT_VERSION_1;

/// What happened to a loan. Released shapes are never edited.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Serialize,
    Deserialize,
    strum::VariantNames,
    strum::IntoStaticStr,
    strum::EnumDiscriminants,
)]
/// `LoanEventType` names each event type, for followers of the log (`LoanEventType::X.into()`).
#[strum_discriminants(name(LoanEventType), derive(strum::IntoStaticStr))]
pub enum LoanEvent {
    /// The individual conditions, with what they cost: the figures the contract document shows.
    LoanOffered {
        terms: OfferTerms,
        /// Interest for the whole term.
        interest_for_term: Kopecks,
        total_to_repay: Kopecks,
        /// 353-FZ art. 6, percent a year to three decimals.
        psk_percent: Decimal,
        offered_at: DateTime<Utc>,
    },
    /// The approved terms could not be offered lawfully (the law's edition of the offer's day
    /// forbids them): the loan ends here, and the application goes back to the underwriters.
    OfferRefused {
        terms: OfferTerms,
        reason: Unlawful,
        refused_at: DateTime<Utc>,
    },
    /// The contract is concluded (353-FZ art. 7 part 6): from version 1.1 with the day it was
    /// concluded (Europe/Moscow) and the law's edition of that day, which the loan follows from
    /// then on. Version 1.0 events carry neither: the offer's day and edition stand.
    ContractSigned {
        signed_at: DateTime<Utc>,
        #[serde(default)]
        contract_date: Option<NaiveDate>,
        #[serde(default)]
        rules: Option<LawRules>,
    },
    /// The offered terms are unlawful under the edition of the day the borrower tried to sign:
    /// signing is refused and the offer lapses.
    SigningRefused {
        reason: Unlawful,
        refused_at: DateTime<Utc>,
    },
    OfferExpired {
        expired_at: DateTime<Utc>,
    },
    PayoutRequested {
        payout_id: Uuid,
        requested_at: DateTime<Utc>,
    },
    LoanIssued {
        payout_id: Uuid,
        issued_on: NaiveDate,
        due_on: NaiveDate,
        issued_at: DateTime<Utc>,
    },
    PayoutFailed {
        payout_id: Uuid,
        reason: String,
        failed_at: DateTime<Utc>,
    },
    /// Charges for the days `from..=through` (all in the term, or all overdue).
    InterestAccrued {
        from: NaiveDate,
        through: NaiveDate,
        interest: Kopecks,
        penalty: Kopecks,
        overdue: bool,
    },
    /// The due date passed with debt left: from `on` the loan is overdue.
    LoanFellOverdue {
        on: NaiveDate,
    },
    PaymentReceived {
        channel: PaymentChannel,
        external_id: String,
        amount: Kopecks,
        paid_at: DateTime<Utc>,
        paid_on: NaiveDate,
        /// How it was applied (353-FZ art. 5 part 20), and any overpayment held.
        allocation: Allocation,
    },
    /// An overdue debtor was reminded (the SMS goes out from the outbox).
    OverdueReminderSent {
        days_overdue: i64,
        owed: Kopecks,
        sent_at: DateTime<Utc>,
    },
    /// The borrower's local time zone changed: reminders keep its quiet hours from now on.
    TimeZoneChanged {
        time_zone: LocalTimeZone,
        changed_at: DateTime<Utc>,
    },
    RefundRequested {
        refund_id: Uuid,
        amount: Kopecks,
        requested_at: DateTime<Utc>,
    },
    OverpaymentRefunded {
        refund_id: Uuid,
        refunded_at: DateTime<Utc>,
    },
    /// The refund did not go through: the money is held again.
    RefundFailed {
        refund_id: Uuid,
        reason: String,
        failed_at: DateTime<Utc>,
    },
    /// A payment reported after days later than its own were charged: the ledger from issue,
    /// replayed with every payment on its own day. The debt, the charges, what is held and how
    /// each payment (keyed by channel and external id) was applied are now these.
    LedgerCorrected {
        debt: Debt,
        charged: Kopecks,
        held: Kopecks,
        overdue: bool,
        allocations: Vec<(PaymentChannel, String, Allocation)>,
        corrected_at: DateTime<Utc>,
    },
    /// Nothing is owed any more.
    LoanRepaid {
        closed_on: NaiveDate,
    },
}

impl DomainEvent for LoanEvent {
    fn event_type(&self) -> String {
        <&'static str>::from(self).to_string()
    }

    fn event_version(&self) -> String {
        match self {
            Self::ContractSigned { .. } => "1.1".to_string(),
            _ => EVENT_VERSION_1.to_string(),
        }
    }
}
