//! The loans a customer owes, counted on their account (the write side) for the law's limits on
//! high-cost loans and for the debt-to-income ratio. The approving request reserves the loan on
//! the account before it writes the approval (a refusal is answered 409 and nothing is approved);
//! the lending process manager commits the reservation before it offers the loan (checking the
//! limits again if the reservation lapsed), so no loan is offered that was not counted, whatever
//! crashed in between. The account decides one reservation after another (its optimistic lock),
//! so no timing lets two approvals both pass a limit only one of them may.

use k911_aggregates::account::{Account, CreditTerms};
use k911_aggregates::loan::law::{LawEditions, Unlawful};
use k911_aggregates::loan::psk::LoanCost;
use uuid::Uuid;

use crate::clock::moscow_date;

/// What a loan of `cost`, approved at `at`, weighs for the limits.
pub(crate) fn terms(
    cost: &LoanCost,
    law: &LawEditions,
    at: chrono::DateTime<chrono::Utc>,
) -> CreditTerms {
    CreditTerms {
        psk_percent: cost.psk_percent,
        monthly_payment: cost.monthly_payment(),
        rules: Box::new(law.for_contract(moscow_date(at)).clone()),
    }
}

/// What the account made of the application's loan at `at`: `None` when it counts, else why the
/// law forbids it.
pub(crate) fn refusal(
    account: &Account,
    application_id: Uuid,
    at: chrono::DateTime<chrono::Utc>,
) -> Option<Unlawful> {
    if account.counts(application_id, at) {
        return None;
    }
    account.credit_refusal(application_id).cloned()
}
