//! Support from the cabinet: questions with the contacts taken from the profile, the customer's
//! own tickets, and the request to delete the profile (a profile is never deleted by its owner).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json as JsonResponse;
use chrono::{DateTime, Utc};
use k911_aggregates::support_ticket::TicketKind;
use k911_aggregates::values::MessageText;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Borrower;
use crate::error::ApiError;
use crate::extract::{Json, Page};
use crate::routes::support::TicketReceipt;
use k911_commands::support::Support as Tickets;
use k911_projections::support::TicketState;
use k911_projections::Reader;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct QuestionRequest {
    question: String,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeletionRequest {
    /// Why, if the customer cares to say.
    #[serde(default)]
    reason: Option<String>,
}

/// A ticket as its customer sees it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MyTicket {
    ticket_id: Uuid,
    /// `question` | `deletion`
    kind: &'static str,
    status: TicketState,
    submitted_at: DateTime<Utc>,
    queue_position: Option<i64>,
    answers: i32,
    closed_at: Option<DateTime<Utc>>,
    /// `null` once the personal data was erased.
    question: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/me/support/tickets", tag = "cabinet", security(("bearer" = [])), params(("limit" = Option<i64>, Query, description = "1..1000, default 100"), ("offset" = Option<i64>, Query, description = "default 0"), ("X-Min-Position" = Option<i64>, Header, description = "wait until the read models applied this position")), responses((status = 200, body = Vec<MyTicket>), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
pub(crate) async fn tickets(
    State(reader): State<Reader>,
    Borrower(caller): Borrower,
    page: Page,
) -> Result<JsonResponse<Vec<MyTicket>>, ApiError> {
    let tickets = reader
        .customer_tickets(caller.principal.account_id, page.limit, page.offset)
        .await?;
    Ok(JsonResponse(
        tickets
            .into_iter()
            .map(|(row, question)| MyTicket {
                ticket_id: row.ticket_id,
                kind: row.kind.into(),
                status: row.status,
                submitted_at: row.submitted_at,
                queue_position: row.queue_position,
                answers: row.answers,
                closed_at: row.closed_at,
                question: question.map(|q| q.as_str().to_string()),
            })
            .collect(),
    ))
}

async fn submit(
    (tickets, reader): (Tickets, Reader),
    caller: &crate::auth::Caller,
    kind: TicketKind,
    question: MessageText,
) -> Result<(StatusCode, JsonResponse<TicketReceipt>), ApiError> {
    let customer_id = caller.principal.account_id;
    let written = tickets
        .submit_customer_ticket(customer_id, kind, question, &caller.meta)
        .await?;
    let receipt = TicketReceipt::of(&reader, written).await;
    Ok((StatusCode::CREATED, JsonResponse(receipt)))
}

#[utoipa::path(post, path = "/api/v1/me/support/tickets", tag = "cabinet", security(("bearer" = [])), request_body = QuestionRequest, responses((status = 201, body = TicketReceipt), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn ask(
    State(tickets): State<Tickets>,
    State(reader): State<Reader>,
    Borrower(caller): Borrower,
    Json(body): Json<QuestionRequest>,
) -> Result<(StatusCode, JsonResponse<TicketReceipt>), ApiError> {
    let question =
        MessageText::parse(&body.question).map_err(|e| ApiError::invalid("question", e))?;
    submit((tickets, reader), &caller, TicketKind::Question, question).await
}

/// What a deletion request says to support, with the customer's reason if they gave one.
pub(crate) fn deletion_request(reason: Option<String>) -> Result<MessageText, ApiError> {
    let text = match reason.filter(|r| !r.trim().is_empty()) {
        Some(reason) => format!("Прошу удалить мой профиль. Причина: {}", reason.trim()),
        None => "Прошу удалить мой профиль.".to_string(),
    };
    MessageText::parse(&text).map_err(|e| ApiError::invalid("reason", e))
}

/// Asks support to delete the profile: a ticket of kind `deletion`, served in queue order.
#[utoipa::path(post, path = "/api/v1/me/deletion-request", tag = "cabinet", security(("bearer" = [])), request_body = DeletionRequest, responses((status = 201, body = TicketReceipt), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn request_deletion(
    State(tickets): State<Tickets>,
    State(reader): State<Reader>,
    Borrower(caller): Borrower,
    body: crate::extract::OptionalJson<DeletionRequest>,
) -> Result<(StatusCode, JsonResponse<TicketReceipt>), ApiError> {
    let question = deletion_request(body.0.reason)?;
    submit((tickets, reader), &caller, TicketKind::Deletion, question).await
}
