//! The borrower's cabinet: obligations first (what is due, by when, overdue), each loan with its
//! schedule, payments and how each was applied, how to repay, the contract; signing an offer with
//! the SMS code; a refund of an overpayment. The figures are the JSON API's own
//! ([`LoanDetails`]), written for people.

use askama::Template;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use k911_aggregates::values::Role;
use k911_commands::lending::Lending;
use k911_projections::loans::LoanState;
use k911_projections::Reader;
use uuid::Uuid;

use super::csrf::CheckedForm;
use super::format;
use super::forms::{CsrfForm, TextForm};
use super::frame::{Frame, Visit};
use super::session::Signed;
use super::PageError;
use crate::error::ApiError;
use crate::extract::{IdPath, Today};
use crate::routes::loans::LoanDetails;

/// A loan as the cabinet writes it.
pub(crate) struct LoanCard {
    id: Uuid,
    contract_number: String,
    status: &'static str,
    active: bool,
    offered: bool,
    total_due: String,
    principal_due: String,
    interest_due: String,
    penalty_due: String,
    due_on: Option<String>,
    days_overdue: i64,
    overdue_words: String,
    principal: String,
    total_to_repay: String,
    term: String,
    daily_rate: String,
    psk: String,
    pdn_warning: bool,
    expires: String,
    contract_date: String,
    issued_on: Option<String>,
    closed_on: Option<String>,
    /// Due day, principal, interest, total.
    schedule: Vec<(String, String, String, String)>,
    /// Paid on, amount, how it was applied.
    payments: Vec<(String, String, String)>,
    held: i64,
    held_text: String,
}

impl From<LoanDetails> for LoanCard {
    fn from(l: LoanDetails) -> Self {
        let money = format::money;
        let rate = |text: &str| text.replace('.', ",") + "\u{a0}%";
        Self {
            id: l.loan_id,
            status: format::loan_status(l.status, l.days_overdue, l.refund_status),
            active: l.status == LoanState::Active,
            offered: l.status == LoanState::Offered,
            total_due: money(l.outstanding.total_kopecks),
            principal_due: money(l.outstanding.principal_kopecks),
            interest_due: money(l.outstanding.interest_kopecks),
            penalty_due: money(l.outstanding.penalty_kopecks),
            due_on: l.due_on.map(format::date),
            days_overdue: l.days_overdue,
            overdue_words: format::days(l.days_overdue),
            principal: money(l.principal_kopecks),
            total_to_repay: money(l.total_to_repay_kopecks),
            term: format::days(l.term_days.into()),
            daily_rate: rate(&l.daily_rate),
            psk: rate(&l.psk_percent),
            pdn_warning: l.pdn_warning,
            expires: format::moment(l.offer_expires_at),
            contract_date: format::date(l.contract_date),
            issued_on: l.issued_on.map(format::date),
            closed_on: l.closed_on.map(format::date),
            schedule: l
                .schedule
                .iter()
                .map(|s| {
                    (
                        s.due_on
                            .map_or_else(|| "после выдачи".to_string(), format::date),
                        money(s.principal_kopecks),
                        money(s.interest_kopecks),
                        money(s.total_kopecks),
                    )
                })
                .collect(),
            payments: l
                .payments
                .iter()
                .map(|p| {
                    let a = &p.applied;
                    let parts = [
                        ("просроченные проценты", a.overdue_interest_kopecks),
                        ("просроченный долг", a.overdue_principal_kopecks),
                        ("проценты", a.current_interest_kopecks),
                        ("основной долг", a.current_principal_kopecks),
                        ("неустойка", a.penalty_kopecks),
                        ("прочее", a.other_kopecks),
                        ("переплата", p.held_kopecks),
                    ];
                    let applied: Vec<String> = parts
                        .iter()
                        .filter(|(_, k)| *k > 0)
                        .map(|(what, k)| format!("{what} {}", money(*k)))
                        .collect();
                    (
                        format::date(p.paid_on),
                        money(p.amount_kopecks),
                        applied.join(", "),
                    )
                })
                .collect(),
            held: l.held_kopecks,
            held_text: money(l.held_kopecks),
            contract_number: l.contract_number,
        }
    }
}

#[derive(Template)]
#[template(path = "cabinet.html")]
struct CabinetPage {
    frame: Frame,
    loans: Vec<LoanCard>,
}

/// `/cabinet`: the borrower's loans, what is due first.
pub(crate) async fn home(
    State(reader): State<Reader>,
    Today(today): Today,
    visit: Visit,
) -> Result<Response, PageError> {
    let visit = visit.of(&[Role::Borrower])?;
    let caller = &visit.caller;
    let loans = reader
        .customer_loans(caller.principal.account_id, 100, 0)
        .await?;
    let mut cards: Vec<LoanCard> = loans
        .into_iter()
        .rev()
        .map(|view| LoanDetails::new(view, today).into())
        .collect();
    // What asks for action first: overdue, due, offers to sign; then the rest, newest first.
    cards.sort_by_key(|c| (c.days_overdue <= 0, !c.active, !c.offered));
    let page = CabinetPage {
        frame: visit.frame(),
        loans: cards,
    };
    visit.answer(&page)
}

#[derive(Template)]
#[template(path = "cabinet_loan.html")]
struct LoanPage {
    frame: Frame,
    l: LoanCard,
}

/// `/cabinet/loans/{id}`: one loan; another borrower's is not found.
pub(crate) async fn loan(
    State(reader): State<Reader>,
    Today(today): Today,
    IdPath(id): IdPath,
    visit: Visit,
) -> Result<Response, PageError> {
    let visit = visit.of(&[Role::Borrower])?;
    let caller = &visit.caller;
    let view = reader
        .customer_loan(caller.principal.account_id, id)
        .await?;
    let page = LoanPage {
        frame: visit.frame(),
        l: LoanDetails::new(view, today).into(),
    };
    visit.answer(&page)
}

/// `POST /cabinet/loans/{id}/sign`: the simple electronic signature with the SMS code.
pub(crate) async fn sign(
    State(lending): State<Lending>,
    signed: Signed,
    IdPath(id): IdPath,
    CheckedForm(form): CheckedForm<TextForm>,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Borrower])?;
    let customer = caller.principal.account_id;
    let done = match lending
        .sign_loan(customer, id, form.text.trim(), &caller.meta)
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => "signed",
        Err(ApiError::TooManyRequests { .. }) => "code_throttled",
        Err(ApiError::Invalid(_) | ApiError::Unauthorized) => "bad_code",
        Err(other) => return Err(other.into()),
    };
    Ok(Redirect::to(&format!("/cabinet/loans/{id}?done={done}")).into_response())
}

/// `POST /cabinet/loans/{id}/sign-code`: a new signing code by SMS.
pub(crate) async fn resend_code(
    State(lending): State<Lending>,
    signed: Signed,
    IdPath(id): IdPath,
    CheckedForm(_): CheckedForm<CsrfForm>,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Borrower])?;
    lending
        .resend_signing_code(caller.principal.account_id, id)
        .await?;
    Ok(Redirect::to(&format!("/cabinet/loans/{id}?done=code_sent")).into_response())
}

/// `POST /cabinet/loans/{id}/refund`: the overpayment back to the loan's card or wallet.
pub(crate) async fn refund(
    State(lending): State<Lending>,
    signed: Signed,
    IdPath(id): IdPath,
    CheckedForm(_): CheckedForm<CsrfForm>,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Borrower])?;
    lending
        .request_refund(caller.principal.account_id, id, &caller.meta)
        .await?;
    Ok(Redirect::to(&format!("/cabinet/loans/{id}?done=refund")).into_response())
}

/// `/cabinet/loans/{id}/contract`: the individual conditions as a PDF.
pub(crate) async fn contract(
    State(lending): State<Lending>,
    signed: Signed,
    IdPath(id): IdPath,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Borrower])?;
    let pdf = lending
        .contract_pdf(caller.principal.account_id, id)
        .await?;
    let disposition = format!("inline; filename=\"contract-{id}.pdf\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        pdf,
    )
        .into_response())
}
