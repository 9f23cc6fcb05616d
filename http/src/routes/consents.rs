//! The borrower's consents (issue #16): which texts they consented to and when, whether their
//! consent to a credit history request is live, and its withdrawal.

use axum::extract::State;
use axum::Json as JsonResponse;
use chrono::{DateTime, NaiveDate, Utc};
use k911_aggregates::account::CreditHistoryConsent;
use k911_commands::onboarding::Onboarding;
use k911_projections::consents::ConsentRow;
use k911_projections::Reader;
use serde::Serialize;
use uuid::Uuid;

use crate::auth::Borrower;
use crate::error::ApiError;

/// A consent given with an application.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ConsentView {
    pub(crate) application_id: Uuid,
    /// `personal_data` | `credit_history_check` | `terms`
    pub(crate) consent: String,
    /// The published document holding the text (`/api/v1/documents/{id}`).
    pub(crate) document_id: Option<Uuid>,
    pub(crate) title: Option<String>,
    /// SHA-256 of the text's file the consent was given to.
    pub(crate) text_sha256: Option<String>,
    pub(crate) given_at: DateTime<Utc>,
    pub(crate) withdrawn_at: Option<DateTime<Utc>>,
}

impl From<ConsentRow> for ConsentView {
    fn from(row: ConsentRow) -> Self {
        Self {
            application_id: row.application_id,
            consent: row.consent,
            document_id: row.document_id,
            title: row.title,
            text_sha256: row.text_sha256,
            given_at: row.given_at,
            withdrawn_at: row.withdrawn_at,
        }
    }
}

/// Whether a credit bureau may be asked about the borrower now.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CreditHistoryStanding {
    /// When the latest consent was given.
    pub(crate) given_at: DateTime<Utc>,
    /// The first day (Moscow) it is no longer live by its age (218-FZ art. 6 part 9: six months).
    pub(crate) lapses_on: NaiveDate,
    pub(crate) withdrawn_at: Option<DateTime<Utc>>,
    pub(crate) live: bool,
}

/// The borrower's consents.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MyConsents {
    /// `null`: never given (or not recorded yet).
    pub(crate) credit_history_check: Option<CreditHistoryStanding>,
    /// Every consent given, newest first.
    pub(crate) consents: Vec<ConsentView>,
}

/// The consents as the cabinet shows them at `now`.
pub(crate) async fn my_consents(
    reader: &Reader,
    customer_id: Uuid,
    now: DateTime<Utc>,
) -> Result<MyConsents, ApiError> {
    let rows = reader.consents_of(customer_id).await?;
    // The newest credit history consent is the one a request relies on; its rule is the
    // account's own (`CreditHistoryConsent`).
    let credit_history_check = rows
        .iter()
        .find(|row| row.consent == "credit_history_check")
        .map(|row| {
            let consent = CreditHistoryConsent {
                given_at: row.given_at,
                withdrawn_at: row.withdrawn_at,
            };
            CreditHistoryStanding {
                given_at: consent.given_at,
                lapses_on: consent.lapses_on(),
                withdrawn_at: consent.withdrawn_at,
                live: consent.refusal_at(now).is_none(),
            }
        });
    Ok(MyConsents {
        credit_history_check,
        consents: rows.into_iter().map(ConsentView::from).collect(),
    })
}

#[utoipa::path(get, path = "/api/v1/me/consents", tag = "cabinet", security(("bearer" = [])), params(("X-Min-Position" = Option<i64>, Header, description = "wait until the read models applied this position")), responses((status = 200, body = MyConsents), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
pub(crate) async fn consents(
    State(reader): State<Reader>,
    State(state): State<crate::AppState>,
    Borrower(caller): Borrower,
) -> Result<JsonResponse<MyConsents>, ApiError> {
    let now = state.app.core.clock.now();
    Ok(JsonResponse(
        my_consents(&reader, caller.principal.account_id, now).await?,
    ))
}

/// Where the withdrawal stands in the log.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Withdrawn {
    pub(crate) position: i64,
}

/// Withdraws the consent to a credit history request: no bureau is asked about the borrower
/// until they consent again with an application (409 if none is in force). The consent to
/// process personal data is withdrawn by a deletion request.
#[utoipa::path(post, path = "/api/v1/me/consents/credit_history_check/withdraw", tag = "cabinet", security(("bearer" = [])), responses((status = 200, body = Withdrawn), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem, description = "No consent in force")))]
pub(crate) async fn withdraw_credit_history(
    State(onboarding): State<Onboarding>,
    Borrower(caller): Borrower,
) -> Result<JsonResponse<Withdrawn>, ApiError> {
    let written = onboarding
        .withdraw_credit_history_consent(caller.principal.account_id, &caller.meta)
        .await?;
    Ok(JsonResponse(Withdrawn {
        position: written.position,
    }))
}
