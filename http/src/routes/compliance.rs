//! Compliance officers' routes (issue #16).

use axum::extract::{Path, Query, State};
use axum::Json as JsonResponse;
use chrono::{DateTime, Utc};
use k911_aggregates::compliance_read::{AuditQuery, AuditReadKind};
use k911_aggregates::values::MessageText;
use k911_commands::compliance::Until;
use k911_projections::audit::AuditEntry;
use k911_projections::Reader;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Compliance;
use crate::error::ApiError;
use crate::extract::{check, given};

/// The last link of the log's hash chain: a compliance officer who keeps it can later prove,
/// with `k911 audit verify`, that no event up to it was edited or deleted since.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LogHead {
    /// Events linked so far.
    links: i64,
    /// The position of the last event linked (`null`: none yet).
    position: Option<i64>,
    /// The last link, hex: SHA-256 of the link before it and the event's canonical fields.
    link: String,
}

#[utoipa::path(get, path = "/api/v1/compliance/log/head", tag = "compliance", security(("bearer" = [])), responses((status = 200, body = LogHead), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem, description = "Not a compliance officer")))]
pub(crate) async fn log_head(
    State(reader): State<Reader>,
    Compliance(_officer): Compliance,
) -> Result<JsonResponse<LogHead>, ApiError> {
    let head = reader.log_head().await?;
    Ok(JsonResponse(LogHead {
        links: head.links,
        position: head.position,
        link: hex::encode(head.link),
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct AuditParams {
    /// The person the events concern (a customer's, agent's or ticket author's id).
    subject: Option<String>,
    /// The account that caused the events.
    actor: Option<String>,
    /// `Account`, `LoanApplication`, `Loan`, `IncomingPayment`, `SupportTicket`, `Agent`, ...
    aggregate_type: Option<String>,
    aggregate_id: Option<String>,
    event_type: Option<String>,
    /// From this time on (RFC 3339, inclusive).
    from: Option<String>,
    /// Before this time (RFC 3339, exclusive).
    to: Option<String>,
    /// Events after this log position (the previous page's `next_after`); default 0.
    after: Option<String>,
    /// 1..1000, default 100.
    limit: Option<String>,
}

/// One event of the audit trail: no personal data (that stays sealed in the event).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AuditEntryView {
    position: i64,
    recorded_at: DateTime<Utc>,
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    actor_id: Option<Uuid>,
    actor_role: Option<String>,
    request_id: Option<String>,
    channel: Option<String>,
    /// Whom the event concerns (`null`: no one, or not known yet).
    subject_id: Option<Uuid>,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(e: AuditEntry) -> Self {
        Self {
            position: e.position,
            recorded_at: e.recorded_at,
            aggregate_type: e.aggregate_type,
            aggregate_id: e.aggregate_id,
            sequence: e.sequence,
            event_type: e.event_type,
            event_version: e.event_version,
            actor_id: e.actor_id,
            actor_role: e.actor_role,
            request_id: e.request_id,
            channel: e.channel,
            subject_id: e.subject_id,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AuditPage {
    entries: Vec<AuditEntryView>,
    /// Pass as `after` for the next page; `null`: this was the last.
    next_after: Option<i64>,
}

/// The audit trail: events in log order, filtered. The read is recorded (an `AuditTrailRead`
/// event naming the officer and the filter) before the page is handed out.
#[utoipa::path(get, path = "/api/v1/compliance/audit", tag = "compliance", security(("bearer" = [])), params(AuditParams), responses((status = 200, body = AuditPage), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem, description = "Not a compliance officer"), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn audit(
    State(reader): State<Reader>,
    State(compliance): State<k911_commands::compliance::Compliance>,
    Compliance(officer): Compliance,
    Query(params): Query<AuditParams>,
) -> Result<JsonResponse<AuditPage>, ApiError> {
    let (query, after, limit) = params.parse()?;
    let entries = reader.audit_page(&query, after, limit).await?;
    compliance
        .record_audit_read(
            query,
            AuditReadKind::Page,
            entries.len() as u64,
            &officer.meta,
        )
        .await?;
    let next_after = match entries.last() {
        Some(last) if entries.len() as i64 == limit => Some(last.position),
        _ => None,
    };
    Ok(JsonResponse(AuditPage {
        entries: entries.into_iter().map(AuditEntryView::from).collect(),
        next_after,
    }))
}

/// An aggregate type, id or event type as the log writes them: letters, digits, `-` and `_`.
fn log_name(text: String) -> Result<String, &'static str> {
    let fits = text.len() <= 100
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if fits {
        Ok(text)
    } else {
        Err("must be a name as the log writes it: letters, digits, - and _, at most 100")
    }
}

/// The aggregate a replay route names, checked before it reaches the database.
fn aggregate_path(
    (aggregate_type, aggregate_id): (String, String),
) -> Result<(String, String), ApiError> {
    let mut errors = Vec::new();
    let aggregate_type = check(&mut errors, "aggregate_type", log_name(aggregate_type));
    let aggregate_id = check(&mut errors, "aggregate_id", log_name(aggregate_id));
    match (aggregate_type, aggregate_id) {
        (Some(aggregate_type), Some(aggregate_id)) => Ok((aggregate_type, aggregate_id)),
        _ => Err(ApiError::Invalid(errors)),
    }
}

impl AuditParams {
    /// The filter, the position to start after and the page size; every bad field named.
    fn parse(self) -> Result<(AuditQuery, i64, i64), ApiError> {
        let mut errors = Vec::new();
        let uuid = |text: String| text.parse::<Uuid>().map_err(|_| "must be a UUID");
        let time = |text: String| {
            DateTime::parse_from_rfc3339(&text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| "must be an RFC 3339 time, e.g. 2026-12-01T00:00:00+03:00")
        };
        let query = AuditQuery {
            subject_id: given(self.subject).and_then(|t| check(&mut errors, "subject", uuid(t))),
            actor_id: given(self.actor).and_then(|t| check(&mut errors, "actor", uuid(t))),
            aggregate_type: given(self.aggregate_type)
                .and_then(|t| check(&mut errors, "aggregate_type", log_name(t))),
            aggregate_id: given(self.aggregate_id)
                .and_then(|t| check(&mut errors, "aggregate_id", log_name(t))),
            event_type: given(self.event_type)
                .and_then(|t| check(&mut errors, "event_type", log_name(t))),
            from: given(self.from).and_then(|t| check(&mut errors, "from", time(t))),
            to: given(self.to).and_then(|t| check(&mut errors, "to", time(t))),
        };
        let after = match given(self.after) {
            None => 0,
            Some(text) => check(
                &mut errors,
                "after",
                text.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or("must be a log position (a whole number, 0 or more)"),
            )
            .unwrap_or(0),
        };
        let limit = match given(self.limit) {
            None => 100,
            Some(text) => check(
                &mut errors,
                "limit",
                text.parse::<i64>()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or("must be a whole number from 1 to 1000"),
            )
            .unwrap_or(100),
        };
        if let (Some(from), Some(to)) = (query.from, query.to) {
            if from >= to {
                errors.push(crate::error::FieldError::new("to", "must be after from"));
            }
        }
        if errors.is_empty() {
            Ok((query, after, limit))
        } else {
            Err(ApiError::Invalid(errors))
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct HistoryParams {
    /// Why the personal data in the events is opened (recorded with the read); without it,
    /// sealed values stay sealed.
    purpose: Option<String>,
}

/// One event of an aggregate's history.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct HistoryEventView {
    position: i64,
    sequence: i64,
    event_type: String,
    event_version: String,
    recorded_at: DateTime<Utc>,
    /// Actor, role, request and channel (and, when opened, the client's address).
    #[schema(value_type = Object)]
    metadata: serde_json::Value,
    /// The event as stored; with a purpose, sealed values opened (erased ones read "стёрто").
    #[schema(value_type = Object)]
    payload: serde_json::Value,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct HistoryView {
    aggregate_type: String,
    aggregate_id: String,
    events: Vec<HistoryEventView>,
}

/// An aggregate's events in order. The read (with its purpose, if personal data is opened) is
/// recorded on the log before the answer is sent.
#[utoipa::path(get, path = "/api/v1/compliance/aggregates/{aggregate_type}/{aggregate_id}/events", tag = "compliance", security(("bearer" = [])), params(("aggregate_type" = String, Path), ("aggregate_id" = String, Path), HistoryParams), responses((status = 200, body = HistoryView), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn history(
    State(compliance): State<k911_commands::compliance::Compliance>,
    Compliance(officer): Compliance,
    Path(aggregate): Path<(String, String)>,
    Query(params): Query<HistoryParams>,
) -> Result<JsonResponse<HistoryView>, ApiError> {
    let (aggregate_type, aggregate_id) = aggregate_path(aggregate)?;
    let purpose = given(params.purpose)
        .map(|text| MessageText::parse(&text).map_err(|e| ApiError::invalid("purpose", e)))
        .transpose()?;
    let events = compliance
        .history(&aggregate_type, &aggregate_id, purpose, &officer.meta)
        .await?;
    Ok(JsonResponse(HistoryView {
        aggregate_type,
        aggregate_id,
        events: events
            .into_iter()
            .map(|e| HistoryEventView {
                position: e.position,
                sequence: e.sequence,
                event_type: e.event_type,
                event_version: e.event_version,
                recorded_at: e.recorded_at,
                metadata: e.metadata,
                payload: e.payload,
            })
            .collect(),
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct StateParams {
    /// As of this log position (inclusive).
    position: Option<String>,
    /// As of this time (RFC 3339, inclusive).
    at: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct StateView {
    aggregate_type: String,
    aggregate_id: String,
    events_applied: usize,
    /// The position of the last event applied.
    last_position: i64,
    /// The aggregate's state as its own code leaves it after those events (sealed values stay
    /// sealed).
    #[schema(value_type = Object)]
    state: serde_json::Value,
}

/// An aggregate's state as of a log position or a time (both: whichever comes first), replayed
/// from its events by the aggregate's own code; the read is recorded on the log.
#[utoipa::path(get, path = "/api/v1/compliance/aggregates/{aggregate_type}/{aggregate_id}/state", tag = "compliance", security(("bearer" = [])), params(("aggregate_type" = String, Path), ("aggregate_id" = String, Path), StateParams), responses((status = 200, body = StateView), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem, description = "No such aggregate, or none of its events by then"), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn state(
    State(compliance): State<k911_commands::compliance::Compliance>,
    Compliance(officer): Compliance,
    Path(aggregate): Path<(String, String)>,
    Query(params): Query<StateParams>,
) -> Result<JsonResponse<StateView>, ApiError> {
    let (aggregate_type, aggregate_id) = aggregate_path(aggregate)?;
    let mut errors = Vec::new();
    let until = Until {
        position: given(params.position).and_then(|text| {
            check(
                &mut errors,
                "position",
                text.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or("must be a log position (a whole number, 0 or more)"),
            )
        }),
        time: given(params.at).and_then(|text| {
            check(
                &mut errors,
                "at",
                DateTime::parse_from_rfc3339(&text)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| "must be an RFC 3339 time, e.g. 2026-12-01T00:00:00+03:00"),
            )
        }),
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let replayed = compliance
        .state_as_of(&aggregate_type, &aggregate_id, until, &officer.meta)
        .await?;
    Ok(JsonResponse(StateView {
        aggregate_type,
        aggregate_id,
        events_applied: replayed.events_applied,
        last_position: replayed.last_position,
        state: replayed.state,
    }))
}
