//! Deletion requests (issue #16): compliance carries one out, or learns why it cannot yet, and
//! sees every case with its legal deadline.

use axum::extract::State;
use axum::Json as JsonResponse;
use chrono::{DateTime, NaiveDate, Utc};
use k911_aggregates::account::ErasureCase;
use k911_commands::erasure::ErasureOutcome;
use k911_projections::erasures::ErasureCaseRow;
use k911_projections::Reader;
use serde::Serialize;
use uuid::Uuid;

use crate::auth::Compliance;
use crate::error::ApiError;
use crate::extract::{IdPath, Page};

/// A deletion request and what came of it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErasureView {
    customer_id: Uuid,
    /// The support ticket it came with (`null`: received otherwise).
    ticket_id: Option<Uuid>,
    requested_at: DateTime<Utc>,
    /// The last day (Moscow) the law allows (152-FZ art. 21 part 5: 30 days).
    deadline: NaiveDate,
    /// `requested` | `refused` | `erased`
    status: String,
    /// Why it cannot happen yet: `application_pending` | `loan_in_force` | `retention_period`.
    reason: Option<String>,
    /// The first day (Moscow) erasure becomes possible, where known: it happens then by itself.
    possible_from: Option<NaiveDate>,
    erased_at: Option<DateTime<Utc>>,
    /// Where the decision stands in the log (`X-Min-Position` for the next read).
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<i64>,
}

impl ErasureView {
    fn of(customer_id: Uuid, case: ErasureCase, position: Option<i64>) -> Self {
        let (status, reason, possible_from) = match (case.erased_at, case.refused) {
            (Some(_), _) => ("erased", None, None),
            (None, Some(refused)) => (
                "refused",
                Some(<&str>::from(refused.reason).to_string()),
                refused.possible_from,
            ),
            (None, None) => ("requested", None, None),
        };
        Self {
            customer_id,
            ticket_id: case.ticket_id,
            requested_at: case.requested_at,
            deadline: case.deadline,
            status: status.to_string(),
            reason,
            possible_from,
            erased_at: case.erased_at,
            position,
        }
    }
}

impl From<ErasureCaseRow> for ErasureView {
    fn from(row: ErasureCaseRow) -> Self {
        Self {
            customer_id: row.customer_id,
            ticket_id: row.ticket_id,
            requested_at: row.requested_at,
            deadline: row.deadline,
            status: row.status,
            reason: row.reason,
            possible_from: row.possible_from,
            erased_at: row.erased_at,
            position: None,
        }
    }
}

/// Carries out a customer's deletion request (a request received otherwise is opened here):
/// their key is destroyed, so every sealed value of theirs reads "стёрто" and nothing logs them
/// in; or, while a loan is in force or the anti-money-laundering retention period runs, the
/// refusal is recorded with its reason and date and the customer told by SMS and e-mail. A
/// refused request is erased by itself on its date.
#[utoipa::path(post, path = "/api/v1/staff/customers/{id}/erase", tag = "compliance", security(("bearer" = [])), params(("id" = Uuid, Path, description = "The customer's id")), responses((status = 200, body = ErasureView, description = "Erased, or the refusal recorded (see status)"), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem, description = "Not a compliance officer"), (status = 404, body = crate::error::Problem, description = "No such customer")))]
pub(crate) async fn erase(
    State(compliance): State<k911_commands::compliance::Compliance>,
    Compliance(officer): Compliance,
    IdPath(customer_id): IdPath,
) -> Result<JsonResponse<ErasureView>, ApiError> {
    let ErasureOutcome {
        customer_id,
        case,
        position,
    } = compliance.erase(customer_id, &officer.meta).await?;
    Ok(JsonResponse(ErasureView::of(
        customer_id,
        case,
        Some(position),
    )))
}

/// The deletion requests: open ones first, nearest deadline first, then the erased.
#[utoipa::path(get, path = "/api/v1/compliance/erasures", tag = "compliance", security(("bearer" = [])), params(("limit" = Option<i64>, Query, description = "1..1000, default 100"), ("offset" = Option<i64>, Query, description = "default 0"), ("X-Min-Position" = Option<i64>, Header, description = "wait until the read models applied this position")), responses((status = 200, body = Vec<ErasureView>), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
pub(crate) async fn erasures(
    State(reader): State<Reader>,
    Compliance(_officer): Compliance,
    page: Page,
) -> Result<JsonResponse<Vec<ErasureView>>, ApiError> {
    let rows = reader.erasure_cases(page.limit, page.offset).await?;
    Ok(JsonResponse(
        rows.into_iter().map(ErasureView::from).collect(),
    ))
}
