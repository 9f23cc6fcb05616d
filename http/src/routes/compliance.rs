//! Compliance officers' routes (issue #16): the log's head, the audit trail, replays, and the
//! register of lawful disclosures.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json as JsonResponse;
use chrono::{DateTime, NaiveDate, Utc};
use k911_aggregates::calendar::moscow_date;
use k911_aggregates::compliance_read::{AuditQuery, AuditReadKind};
use k911_aggregates::disclosure::{DataCategory, DisclosureScope, LawfulBasis};
use k911_aggregates::values::{MessageText, Title};
use k911_commands::compliance::Until;
use k911_projections::audit::AuditEntry;
use k911_projections::Reader;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::Compliance;
use crate::error::ApiError;
use crate::extract::{check, given, IdPath, Json, Page};

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

#[derive(Deserialize, Default, utoipa::IntoParams)]
pub(crate) struct AuditParams {
    /// The person the events concern (a customer's, agent's or ticket author's id).
    pub(crate) subject: Option<String>,
    /// The account that caused the events.
    pub(crate) actor: Option<String>,
    /// `Account`, `LoanApplication`, `Loan`, `IncomingPayment`, `SupportTicket`, `Agent`, ...
    pub(crate) aggregate_type: Option<String>,
    pub(crate) aggregate_id: Option<String>,
    pub(crate) event_type: Option<String>,
    /// From this time on (RFC 3339, inclusive).
    pub(crate) from: Option<String>,
    /// Before this time (RFC 3339, exclusive).
    pub(crate) to: Option<String>,
    /// Events after this log position (the previous page's `next_after`); default 0.
    pub(crate) after: Option<String>,
    /// 1..1000, default 100.
    pub(crate) limit: Option<String>,
}

/// One event of the audit trail: no personal data (that stays sealed in the event).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AuditEntryView {
    pub(crate) position: i64,
    pub(crate) recorded_at: DateTime<Utc>,
    pub(crate) aggregate_type: String,
    pub(crate) aggregate_id: String,
    pub(crate) sequence: i64,
    pub(crate) event_type: String,
    pub(crate) event_version: String,
    pub(crate) actor_id: Option<Uuid>,
    pub(crate) actor_role: Option<String>,
    pub(crate) request_id: Option<String>,
    pub(crate) channel: Option<String>,
    /// Whom the event concerns (`null`: no one, or not known yet).
    pub(crate) subject_id: Option<Uuid>,
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
    pub(crate) entries: Vec<AuditEntryView>,
    /// Pass as `after` for the next page; `null`: this was the last.
    pub(crate) next_after: Option<i64>,
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
    Ok(JsonResponse(
        audit_page(&reader, &compliance, params, &officer.meta).await?,
    ))
}

/// One page of the audit trail as `params` ask, the read recorded before it is handed out (the
/// API's and the back office's).
pub(crate) async fn audit_page(
    reader: &Reader,
    compliance: &k911_commands::compliance::Compliance,
    params: AuditParams,
    meta: &k911_commands::CommandMeta,
) -> Result<AuditPage, ApiError> {
    let (query, after, limit) = params.parse()?;
    let entries = reader.audit_page(&query, after, limit).await?;
    compliance
        .record_audit_read(query, AuditReadKind::Page, entries.len() as u64, meta)
        .await?;
    let next_after = match entries.last() {
        Some(last) if entries.len() as i64 == limit => Some(last.position),
        _ => None,
    };
    Ok(AuditPage {
        entries: entries.into_iter().map(AuditEntryView::from).collect(),
        next_after,
    })
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

/// A request to disclose a person's data, as compliance registers it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DisclosureBody {
    /// Whose data is asked for.
    subject_id: String,
    basis: BasisBody,
    /// What the request asks, in its own words.
    asked: String,
    scope: ScopeBody,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BasisBody {
    /// `court` | `regulator`
    kind: String,
    /// The court (`court`).
    court: Option<String>,
    /// The case it hears (`court`).
    case_number: Option<String>,
    /// The request's number (`regulator`).
    request_number: Option<String>,
    /// The date the request bears (YYYY-MM-DD).
    dated: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScopeBody {
    /// Any of `profile`, `applications`, `loans`, `payments`, `support`.
    categories: Vec<String>,
    /// First day (Moscow, YYYY-MM-DD) of the period asked for.
    from: Option<String>,
    /// Last day (Moscow, YYYY-MM-DD) of the period asked for.
    to: Option<String>,
}

impl DisclosureBody {
    fn parse(self) -> Result<(Uuid, LawfulBasis, MessageText, DisclosureScope), ApiError> {
        let mut errors = Vec::new();
        let day = |text: &str| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| "must be a date, YYYY-MM-DD")
        };
        let subject = check(
            &mut errors,
            "subject_id",
            self.subject_id
                .parse::<Uuid>()
                .map_err(|_| "must be a UUID"),
        );
        let dated = check(&mut errors, "basis.dated", day(&self.basis.dated));
        let title = |errors: &mut Vec<_>, field: &str, text: Option<String>| {
            let text = text.unwrap_or_default();
            check(errors, field, Title::parse(&text))
        };
        let basis = match self.basis.kind.as_str() {
            "court" => {
                let court = title(&mut errors, "basis.court", self.basis.court);
                let case = title(&mut errors, "basis.case_number", self.basis.case_number);
                match (court, case, dated) {
                    (Some(court), Some(case_number), Some(dated)) => Some(LawfulBasis::Court {
                        court,
                        case_number,
                        dated,
                    }),
                    _ => None,
                }
            }
            "regulator" => {
                let number = title(
                    &mut errors,
                    "basis.request_number",
                    self.basis.request_number,
                );
                match (number, dated) {
                    (Some(request_number), Some(dated)) => Some(LawfulBasis::Regulator {
                        request_number,
                        dated,
                    }),
                    _ => None,
                }
            }
            _ => {
                errors.push(crate::error::FieldError::new(
                    "basis.kind",
                    "must be court or regulator",
                ));
                None
            }
        };
        let asked = check(&mut errors, "asked", MessageText::parse(&self.asked));
        let categories: Option<std::collections::BTreeSet<DataCategory>> = check(
            &mut errors,
            "scope.categories",
            self.scope
                .categories
                .iter()
                .map(|c| c.parse::<DataCategory>())
                .collect::<Result<_, _>>()
                .map_err(|_| "each must be profile, applications, loans, payments or support"),
        );
        let from = given(self.scope.from).and_then(|t| check(&mut errors, "scope.from", day(&t)));
        let to = given(self.scope.to).and_then(|t| check(&mut errors, "scope.to", day(&t)));
        match (subject, basis, asked, categories) {
            (Some(subject), Some(basis), Some(asked), Some(categories)) if errors.is_empty() => {
                Ok((
                    subject,
                    basis,
                    asked,
                    DisclosureScope {
                        categories,
                        from,
                        to,
                    },
                ))
            }
            _ => Err(ApiError::Invalid(errors)),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Registered {
    disclosure_id: Uuid,
    position: i64,
}

/// Registers a court's or the regulator's request for a person's data; nothing is disclosed
/// yet.
#[utoipa::path(post, path = "/api/v1/compliance/disclosures", tag = "compliance", security(("bearer" = [])), request_body = DisclosureBody, responses((status = 201, body = Registered), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem, description = "The person's data has been erased"), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn register_disclosure(
    State(compliance): State<k911_commands::compliance::Compliance>,
    Compliance(officer): Compliance,
    Json(body): Json<DisclosureBody>,
) -> Result<(StatusCode, JsonResponse<Registered>), ApiError> {
    let (subject, basis, asked, scope) = body.parse()?;
    let written = compliance
        .register_disclosure(subject, basis, asked, scope, &officer.meta)
        .await?;
    Ok((
        StatusCode::CREATED,
        JsonResponse(Registered {
            disclosure_id: written.id,
            position: written.position,
        }),
    ))
}

/// The file that answers a request: exactly the parts and days it asked for of the person's
/// trail, their data opened. Recorded (with the file's SHA-256) before it is sent; a request
/// is answered once.
#[utoipa::path(post, path = "/api/v1/compliance/disclosures/{id}/file", tag = "compliance", security(("bearer" = [])), params(("id" = Uuid, Path)), responses((status = 200, description = "The file (application/json, as an attachment)"), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem, description = "Answered already")))]
pub(crate) async fn disclose(
    State(compliance): State<k911_commands::compliance::Compliance>,
    State(reader): State<Reader>,
    Compliance(officer): Compliance,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    let request = compliance.disclosure_request(id).await?;
    let asked = compliance.asked(&request).await?;
    let events: Vec<_> = reader
        .subject_events(request.subject_id)
        .await?
        .into_iter()
        .filter(|e| {
            request
                .scope
                .covers(&e.aggregate_type, moscow_date(e.recorded_at))
        })
        .collect();
    let file = serde_json::to_vec_pretty(&serde_json::json!({
        "disclosure_id": id,
        "subject_id": request.subject_id,
        "basis": request.basis,
        "asked": asked,
        "scope": request.scope,
        "registered_at": request.registered_at,
        "events": events,
    }))
    .expect("a disclosure serializes");
    let digest = hex::encode(Sha256::digest(&file));
    compliance
        .record_disclosed(id, digest, events.len() as u64, &officer.meta)
        .await?;
    let disposition = format!("attachment; filename=\"disclosure-{id}.json\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        file,
    )
        .into_response())
}

/// A request in the register.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DisclosureView {
    disclosure_id: Uuid,
    subject_id: Uuid,
    /// `court` | `regulator`
    basis: String,
    authority: String,
    /// The case or request number.
    reference: String,
    dated: NaiveDate,
    categories: Vec<String>,
    period_from: Option<NaiveDate>,
    period_to: Option<NaiveDate>,
    registered_at: DateTime<Utc>,
    registered_by: Option<Uuid>,
    /// `null` until answered.
    disclosed_at: Option<DateTime<Utc>>,
    file_sha256: Option<String>,
    events: Option<i64>,
}

/// The register of disclosures, newest first.
#[utoipa::path(get, path = "/api/v1/compliance/disclosures", tag = "compliance", security(("bearer" = [])), params(("limit" = Option<i64>, Query, description = "1..1000, default 100"), ("offset" = Option<i64>, Query, description = "default 0"), ("X-Min-Position" = Option<i64>, Header, description = "wait until the read models applied this position")), responses((status = 200, body = Vec<DisclosureView>), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
pub(crate) async fn disclosures(
    State(reader): State<Reader>,
    Compliance(_officer): Compliance,
    page: Page,
) -> Result<JsonResponse<Vec<DisclosureView>>, ApiError> {
    let rows = reader.disclosures(page.limit, page.offset).await?;
    Ok(JsonResponse(
        rows.into_iter()
            .map(|r| DisclosureView {
                disclosure_id: r.disclosure_id,
                subject_id: r.subject_id,
                basis: r.basis,
                authority: r.authority,
                reference: r.reference,
                dated: r.dated,
                categories: r.categories,
                period_from: r.period_from,
                period_to: r.period_to,
                registered_at: r.registered_at,
                registered_by: r.registered_by,
                disclosed_at: r.disclosed_at,
                file_sha256: r.file_sha256,
                events: r.events,
            })
            .collect(),
    ))
}
