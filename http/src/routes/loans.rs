//! The borrower's obligations: loans with what is owed, the schedule and every payment; signing
//! an offer with the code from its SMS.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json as JsonResponse;
use chrono::{DateTime, NaiveDate, Utc};
use k911_commands::lending::pdn_needs_warning;
use k911_commands::lending::Lending;
use k911_projections::loans::{LoanState, LoanView, RefundState};
use k911_projections::Reader;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Borrower;
use crate::error::ApiError;
use crate::extract::{IdPath, Json, Page, Today};

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Outstanding {
    pub(crate) principal_kopecks: i64,
    pub(crate) interest_kopecks: i64,
    pub(crate) penalty_kopecks: i64,
    pub(crate) total_kopecks: i64,
}

/// One payment due under the contract.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ScheduledPayment {
    /// `null` until the loan is issued (the term runs from the payout).
    pub(crate) due_on: Option<NaiveDate>,
    pub(crate) principal_kopecks: i64,
    pub(crate) interest_kopecks: i64,
    pub(crate) total_kopecks: i64,
}

/// How a payment was applied, part by part (353-FZ art. 5 part 20).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Applied {
    pub(crate) overdue_interest_kopecks: i64,
    pub(crate) overdue_principal_kopecks: i64,
    pub(crate) current_interest_kopecks: i64,
    pub(crate) current_principal_kopecks: i64,
    pub(crate) penalty_kopecks: i64,
    pub(crate) other_kopecks: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Payment {
    /// `sberbank_online` | `terminal`
    pub(crate) channel: &'static str,
    pub(crate) external_id: String,
    pub(crate) amount_kopecks: i64,
    pub(crate) paid_at: DateTime<Utc>,
    pub(crate) paid_on: NaiveDate,
    pub(crate) applied: Applied,
    /// Overpaid and held for the borrower.
    pub(crate) held_kopecks: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LoanDetails {
    pub(crate) loan_id: Uuid,
    pub(crate) application_id: Uuid,
    pub(crate) contract_number: String,
    pub(crate) status: LoanState,
    pub(crate) principal_kopecks: i64,
    pub(crate) term_days: i32,
    /// Percent a day.
    pub(crate) daily_rate: String,
    /// Full cost of credit, percent a year (353-FZ art. 6).
    pub(crate) psk_percent: String,
    /// Debt-to-income ratio with this loan, % (`null`: no income declared).
    pub(crate) pdn_percent: Option<String>,
    /// The ratio is above 50 % (or unknown): there is a risk of not meeting the obligations.
    pub(crate) pdn_warning: bool,
    pub(crate) interest_for_term_kopecks: i64,
    pub(crate) total_to_repay_kopecks: i64,
    pub(crate) offer_expires_at: DateTime<Utc>,
    pub(crate) signed_at: Option<DateTime<Utc>>,
    /// The day (Europe/Moscow) the contract was concluded: the signing day (353-FZ art. 7
    /// part 6), whose edition of the law the loan follows; the offer's day until signed.
    pub(crate) contract_date: NaiveDate,
    /// The borrower's local time zone (IANA), where reminders keep the law's quiet hours
    /// (`PUT /api/v1/me/time-zone` changes it).
    pub(crate) time_zone: String,
    pub(crate) issued_on: Option<NaiveDate>,
    pub(crate) due_on: Option<NaiveDate>,
    pub(crate) closed_on: Option<NaiveDate>,
    pub(crate) days_overdue: i64,
    pub(crate) outstanding: Outstanding,
    pub(crate) paid_kopecks: i64,
    /// Overpaid and held for the borrower (`POST …/refund` sends it back).
    pub(crate) held_kopecks: i64,
    /// The latest refund (`null`: none asked).
    pub(crate) refund_status: Option<RefundState>,
    pub(crate) refunded_kopecks: i64,
    pub(crate) schedule: Vec<ScheduledPayment>,
    pub(crate) payments: Vec<Payment>,
    /// The individual conditions as a PDF.
    pub(crate) contract_url: String,
}

impl LoanDetails {
    pub(crate) fn new(view: LoanView, today: NaiveDate) -> Self {
        let l = view.loan;
        let days_overdue = match (l.status, l.due_on) {
            (LoanState::Active, Some(due_on)) => k911_aggregates::loan::days_overdue(due_on, today),
            _ => 0,
        };
        let owed = l.owed_on(today);
        let outstanding = Outstanding {
            principal_kopecks: owed.principal().get(),
            interest_kopecks: owed.interest().get(),
            penalty_kopecks: owed.penalty.get(),
            total_kopecks: (owed.principal() + owed.interest() + owed.penalty).get(),
        };
        // A single repayment at the end of the term.
        let schedule = vec![ScheduledPayment {
            due_on: l.due_on,
            principal_kopecks: l.principal_kopecks,
            interest_kopecks: l.interest_for_term_kopecks,
            total_kopecks: l.total_to_repay_kopecks,
        }];
        let payments = view
            .payments
            .into_iter()
            .map(|p| Payment {
                channel: p.channel.as_str(),
                external_id: p.external_id,
                amount_kopecks: p.amount_kopecks,
                paid_at: p.paid_at,
                paid_on: p.paid_on,
                applied: Applied {
                    overdue_interest_kopecks: p.to_overdue_interest,
                    overdue_principal_kopecks: p.to_overdue_principal,
                    current_interest_kopecks: p.to_current_interest,
                    current_principal_kopecks: p.to_current_principal,
                    penalty_kopecks: p.to_penalty,
                    other_kopecks: p.to_other,
                },
                held_kopecks: p.held_kopecks,
            })
            .collect();
        Self {
            contract_url: format!("/api/v1/me/loans/{}/contract", l.loan_id),
            loan_id: l.loan_id,
            application_id: l.application_id,
            contract_number: l.contract_number,
            status: l.status,
            principal_kopecks: l.principal_kopecks,
            term_days: l.term_days,
            daily_rate: l.daily_rate,
            pdn_warning: pdn_needs_warning(l.pdn_percent.as_deref()),
            pdn_percent: l.pdn_percent,
            psk_percent: l.psk_percent,
            interest_for_term_kopecks: l.interest_for_term_kopecks,
            total_to_repay_kopecks: l.total_to_repay_kopecks,
            offer_expires_at: l.expires_at,
            signed_at: l.signed_at,
            contract_date: l.contract_date,
            time_zone: l.time_zone,
            issued_on: l.issued_on,
            due_on: l.due_on,
            closed_on: l.closed_on,
            days_overdue,
            outstanding,
            paid_kopecks: l.paid_kopecks,
            held_kopecks: l.held_kopecks,
            refund_status: l.refund_status,
            refunded_kopecks: l.refunded_kopecks,
            schedule,
            payments,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/me/loans", tag = "cabinet", security(("bearer" = [])), params(("limit" = Option<i64>, Query, description = "1..1000, default 100"), ("offset" = Option<i64>, Query, description = "default 0"), ("X-Min-Position" = Option<i64>, Header, description = "wait until the read models applied this position")), responses((status = 200, body = Vec<LoanDetails>), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
pub(crate) async fn list(
    State(reader): State<Reader>,
    Borrower(caller): Borrower,
    Today(today): Today,
    page: Page,
) -> Result<JsonResponse<Vec<LoanDetails>>, ApiError> {
    let loans = reader
        .customer_loans(caller.principal.account_id, page.limit, page.offset)
        .await?;
    Ok(JsonResponse(
        loans
            .into_iter()
            .map(|l| LoanDetails::new(l, today))
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/me/loans/{id}", tag = "cabinet", security(("bearer" = [])), params(("id" = uuid::Uuid, Path), ("X-Min-Position" = Option<i64>, Header, description = "wait until the read models applied this position")), responses((status = 200, body = LoanDetails), (status = 401, body = crate::error::Problem), (status = 404, body = crate::error::Problem, description = "Unknown, or another customer's")))]
pub(crate) async fn one(
    State(reader): State<Reader>,
    Borrower(caller): Borrower,
    Today(today): Today,
    IdPath(loan_id): IdPath,
) -> Result<JsonResponse<LoanDetails>, ApiError> {
    let loan = reader
        .customer_loan(caller.principal.account_id, loan_id)
        .await?;
    Ok(JsonResponse(LoanDetails::new(loan, today)))
}

/// The individual conditions of the contract as a PDF, with the ПСК framed on the first page.
#[utoipa::path(get, path = "/api/v1/me/loans/{id}/contract", tag = "cabinet", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), responses((status = 200, content_type = "application/pdf", description = "The PDF"), (status = 401, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub(crate) async fn contract(
    State(lending): State<Lending>,
    Borrower(caller): Borrower,
    IdPath(loan_id): IdPath,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let pdf = lending
        .contract_pdf(caller.principal.account_id, loan_id)
        .await?;
    let disposition = format!("inline; filename=\"contract-{loan_id}.pdf\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        pdf,
    )
        .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignRequest {
    /// The code from the offer's SMS.
    code: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Signed {
    loan_id: Uuid,
    status: LoanState,
    position: i64,
}

/// The borrower's simple electronic signature: the payout follows.
#[utoipa::path(post, path = "/api/v1/me/loans/{id}/sign", tag = "cabinet", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), request_body = SignRequest, responses((status = 200, body = Signed), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem, description = "Not open for signing (signed, lapsed)"), (status = 422, body = crate::error::Problem, description = "Wrong or expired code")))]
pub(crate) async fn sign(
    State(lending): State<Lending>,
    Borrower(caller): Borrower,
    IdPath(loan_id): IdPath,
    Json(body): Json<SignRequest>,
) -> Result<JsonResponse<Signed>, ApiError> {
    let written = lending
        .sign_loan(
            caller.principal.account_id,
            loan_id,
            &body.code,
            &caller.meta,
        )
        .await?;
    Ok(JsonResponse(Signed {
        loan_id,
        status: LoanState::Signed,
        position: written.position,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CodeSent {
    /// When another code may be asked for.
    resend_after: DateTime<Utc>,
}

/// A new signing code by SMS (at most one a minute and five an hour).
#[utoipa::path(post, path = "/api/v1/me/loans/{id}/sign-code", tag = "cabinet", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), responses((status = 202, body = CodeSent), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub(crate) async fn resend_code(
    State(lending): State<Lending>,
    Borrower(caller): Borrower,
    IdPath(loan_id): IdPath,
) -> Result<(StatusCode, JsonResponse<CodeSent>), ApiError> {
    let resend_after = lending
        .resend_signing_code(caller.principal.account_id, loan_id)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        JsonResponse(CodeSent { resend_after }),
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct RefundRequested {
    loan_id: Uuid,
    refund_id: Uuid,
    amount_kopecks: i64,
    position: i64,
}

/// The overpayment held on the loan goes back to the loan's card or e-wallet.
#[utoipa::path(post, path = "/api/v1/me/loans/{id}/refund", tag = "cabinet", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), responses((status = 202, body = RefundRequested), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem, description = "Nothing held, or a refund under way")))]
pub(crate) async fn refund(
    State(lending): State<Lending>,
    Borrower(caller): Borrower,
    IdPath(loan_id): IdPath,
) -> Result<(StatusCode, JsonResponse<RefundRequested>), ApiError> {
    let (refund_id, amount, written) = lending
        .request_refund(caller.principal.account_id, loan_id, &caller.meta)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        JsonResponse(RefundRequested {
            loan_id,
            refund_id,
            amount_kopecks: amount.get(),
            position: written.position,
        }),
    ))
}
