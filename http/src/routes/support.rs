use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json as JsonResponse;
use chrono::{DateTime, Utc};
use k911_aggregates::support_ticket::{Requester, TicketContact, TicketKind};
use k911_aggregates::values::{Email, MessageText, PersonName, Phone};
use k911_commands::support::{Support as Tickets, TicketForm, TicketView, WaitingTickets};
use k911_commands::Error as AppError;
use k911_commands::{CommandMeta, Written};
use k911_projections::support::{RequesterKind, TicketRow, TicketState};
use k911_projections::Reader;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Support;
use crate::error::{ApiError, FieldError};
use crate::extract::{check, given, IdPath, Json, OptionalJson, Page};
use crate::middleware::request_meta;

/// The public feedback form.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TicketRequest {
    name: String,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    email: Option<String>,
    question: String,
}

impl TicketRequest {
    /// The form's fields as typed; a blank phone or e-mail is not given.
    pub(crate) fn new(name: &str, phone: &str, email: &str, question: &str) -> Self {
        Self {
            name: name.to_string(),
            phone: Some(phone.to_string()),
            email: Some(email.to_string()),
            question: question.to_string(),
        }
    }

    /// Every field checked, every failure reported at once.
    pub(crate) fn parse(self) -> Result<(TicketContact, MessageText), ApiError> {
        let mut errors = vec![];
        let name = check(&mut errors, "name", PersonName::parse(&self.name));
        let phone = given(self.phone).map(|p| check(&mut errors, "phone", Phone::parse(&p)));
        let email = given(self.email).map(|e| check(&mut errors, "email", Email::parse(&e)));
        let question = check(&mut errors, "question", MessageText::parse(&self.question));
        if phone.is_none() && email.is_none() {
            errors.push(FieldError::new(
                "phone",
                "a phone or an e-mail is required to send the answer",
            ));
        }
        match (name, phone.flatten(), email.flatten(), question) {
            (Some(name), phone, email, Some(question)) if errors.is_empty() => Ok((
                TicketContact::new(name, phone, email)
                    .map_err(|e| ApiError::invalid("phone", e))?,
                question,
            )),
            _ => Err(ApiError::Invalid(errors)),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TicketReceipt {
    pub(crate) ticket_id: Uuid,
    pub(crate) queue_position: Option<i64>,
    position: i64,
}

impl TicketReceipt {
    /// The answer to a new ticket, with its place in the queue once the queue shows it.
    pub(crate) async fn of(reader: &Reader, written: Written) -> Self {
        let queue_position = reader
            .new_ticket_position(written.id, written.checkpoint)
            .await;
        Self {
            ticket_id: written.id,
            queue_position,
            position: written.position,
        }
    }
}

/// Metadata of an anonymous request.
pub(crate) struct PublicMeta(pub(crate) CommandMeta);

impl<S: Send + Sync> FromRequestParts<S> for PublicMeta {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(request_meta(parts, "site")))
    }
}

#[utoipa::path(post, path = "/api/v1/support/tickets", tag = "support", request_body = TicketRequest, params(("Idempotency-Key" = Option<String>, Header, description = "UUID; a retry gets the first answer")), responses((status = 201, body = TicketReceipt), (status = 400, body = crate::error::Problem), (status = 415, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn submit(
    State(tickets): State<Tickets>,
    State(reader): State<Reader>,
    PublicMeta(meta): PublicMeta,
    Json(body): Json<TicketRequest>,
) -> Result<(StatusCode, JsonResponse<TicketReceipt>), ApiError> {
    let (contact, question) = body.parse()?;
    let form = TicketForm {
        kind: TicketKind::Question,
        requester: Requester::Anonymous,
        contact,
        question,
    };
    let written = tickets.submit_ticket(form, &meta).await?;
    let receipt = TicketReceipt::of(&reader, written).await;
    Ok((StatusCode::CREATED, JsonResponse(receipt)))
}

/// A ticket in the staff queue (no personal data).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct QueueEntry {
    ticket_id: Uuid,
    /// `question` | `deletion`
    kind: &'static str,
    requester: RequesterKind,
    status: TicketState,
    submitted_at: DateTime<Utc>,
    queue_position: Option<i64>,
}

impl From<TicketRow> for QueueEntry {
    fn from(row: TicketRow) -> Self {
        Self {
            ticket_id: row.ticket_id,
            kind: row.kind.into(),
            requester: row.requester,
            status: row.status,
            submitted_at: row.submitted_at,
            queue_position: row.queue_position,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/staff/support/queue", tag = "support", security(("bearer" = [])), params(("limit" = Option<i64>, Query, description = "1..1000, default 100"), ("offset" = Option<i64>, Query, description = "default 0"), ("X-Min-Position" = Option<i64>, Header, description = "wait until the read models applied this position")), responses((status = 200, body = Vec<QueueEntry>), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
pub(crate) async fn queue(
    State(reader): State<Reader>,
    _: Support,
    page: Page,
) -> Result<JsonResponse<Vec<QueueEntry>>, ApiError> {
    let rows = reader.support_queue(page.limit, page.offset).await?;
    Ok(JsonResponse(
        rows.into_iter().map(QueueEntry::from).collect(),
    ))
}

/// A ticket as its agent sees it, personal data opened (`null` once erased).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TicketDetails {
    ticket_id: Uuid,
    /// `question` | `deletion`
    kind: &'static str,
    requester: RequesterKind,
    status: TicketState,
    submitted_at: DateTime<Utc>,
    name: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    question: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<i64>,
}

impl TicketDetails {
    /// The ticket as the queue shows it, with its personal data opened for the agent.
    fn new(row: TicketRow, view: TicketView, status: TicketState, position: Option<i64>) -> Self {
        let contact = view.contact;
        Self {
            ticket_id: row.ticket_id,
            kind: row.kind.into(),
            requester: row.requester,
            status,
            submitted_at: row.submitted_at,
            name: contact.as_ref().map(|c| c.name.as_str().to_string()),
            phone: contact
                .as_ref()
                .and_then(|c| c.phone.as_ref().map(|p| p.to_string())),
            email: contact
                .as_ref()
                .and_then(|c| c.email.as_ref().map(|e| e.as_str().to_string())),
            question: view.question.map(String::from),
            position,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/staff/support/queue/next", tag = "support", security(("bearer" = [])), responses((status = 200, body = TicketDetails), (status = 404, body = crate::error::Problem, description = "The queue is empty"), (status = 403, body = crate::error::Problem)))]
pub(crate) async fn take_next(
    State(tickets): State<Tickets>,
    State(reader): State<Reader>,
    Support(caller): Support,
) -> Result<JsonResponse<TicketDetails>, ApiError> {
    let queue = ReadQueue(&reader);
    let (written, view) = tickets
        .take_next_ticket(caller.principal.account_id, &queue, &caller.meta)
        .await?
        .ok_or(ApiError::NotFound("waiting ticket"))?;
    let row = reader.ticket(view.ticket_id).await?;
    Ok(JsonResponse(TicketDetails::new(
        row,
        view,
        TicketState::Assigned,
        Some(written.position),
    )))
}

/// The support queue read model, as the write side's list of tickets to try.
pub(crate) struct ReadQueue<'a>(pub(crate) &'a Reader);

#[async_trait::async_trait]
impl WaitingTickets for ReadQueue<'_> {
    async fn oldest(&self, limit: i64) -> Result<Vec<Uuid>, AppError> {
        self.0
            .oldest_waiting(limit)
            .await
            .map_err(crate::error::read_error)
    }
}

#[utoipa::path(get, path = "/api/v1/staff/support/tickets/{id}", tag = "support", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), responses((status = 200, body = TicketDetails), (status = 404, body = crate::error::Problem)))]
pub(crate) async fn ticket(
    State(tickets): State<Tickets>,
    State(reader): State<Reader>,
    Support(caller): Support,
    IdPath(ticket_id): IdPath,
) -> Result<JsonResponse<TicketDetails>, ApiError> {
    let view = tickets
        .ticket_for_agent(ticket_id, caller.principal.account_id, &caller.meta)
        .await?;
    let row = reader.ticket(ticket_id).await?;
    let status = row.status;
    Ok(JsonResponse(TicketDetails::new(row, view, status, None)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReplyRequest {
    text: String,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CloseRequest {
    /// A last answer sent before closing.
    #[serde(default)]
    text: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TicketChanged {
    ticket_id: Uuid,
    status: TicketState,
    position: i64,
}

#[utoipa::path(post, path = "/api/v1/staff/support/tickets/{id}/reply", tag = "support", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), request_body = ReplyRequest, responses((status = 200, body = TicketChanged), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn reply(
    State(tickets): State<Tickets>,
    Support(caller): Support,
    IdPath(ticket_id): IdPath,
    Json(body): Json<ReplyRequest>,
) -> Result<JsonResponse<TicketChanged>, ApiError> {
    let text = MessageText::parse(&body.text).map_err(|e| ApiError::invalid("text", e))?;
    let written = tickets
        .reply_to_ticket(ticket_id, caller.principal.account_id, text, &caller.meta)
        .await?;
    Ok(JsonResponse(TicketChanged {
        ticket_id,
        status: TicketState::Answered,
        position: written.position,
    }))
}

#[utoipa::path(post, path = "/api/v1/staff/support/tickets/{id}/close", tag = "support", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), request_body(content = Option<CloseRequest>, description = "optional last answer"), responses((status = 200, body = TicketChanged), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub(crate) async fn close(
    State(tickets): State<Tickets>,
    Support(caller): Support,
    IdPath(ticket_id): IdPath,
    OptionalJson(body): OptionalJson<CloseRequest>,
) -> Result<JsonResponse<TicketChanged>, ApiError> {
    let agent = caller.principal.account_id;
    if let Some(text) = body.text {
        let text = MessageText::parse(&text).map_err(|e| ApiError::invalid("text", e))?;
        tickets
            .reply_to_ticket(ticket_id, agent, text, &caller.meta)
            .await?;
    }
    let written = tickets.close_ticket(ticket_id, agent, &caller.meta).await?;
    Ok(JsonResponse(TicketChanged {
        ticket_id,
        status: TicketState::Closed,
        position: written.position,
    }))
}
