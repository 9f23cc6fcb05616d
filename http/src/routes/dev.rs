//! Development-only routes (absent in production mode): what the outbox drivers "sent".

use axum::extract::{Query, State};
use axum::Json as JsonResponse;
use chrono::{DateTime, Utc};
use k911_aggregates::values::{Email, Phone};
use k911_commands::notify::DevMessage;
use k911_event_store::outbox::Channel;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct SmsQuery {
    /// Required.
    phone: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SentSms {
    phone: String,
    text: String,
    sent_at: DateTime<Utc>,
}

#[utoipa::path(get, path = "/dev/sms", tag = "development", params(SmsQuery), responses((status = 200, body = Vec<SentSms>), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn sms(
    State(state): State<AppState>,
    Query(query): Query<SmsQuery>,
) -> Result<JsonResponse<Vec<SentSms>>, ApiError> {
    let phone = query
        .phone
        .ok_or_else(|| ApiError::invalid("phone", "is required"))?;
    let phone = Phone::parse(&phone).map_err(|e| ApiError::invalid("phone", e))?;
    let sent = state.app.dev_outbox(Channel::Sms, phone.as_str()).await?;
    Ok(JsonResponse(
        sent.into_iter()
            .map(|m: DevMessage| SentSms {
                phone: m.recipient,
                text: m.body,
                sent_at: m.sent_at,
            })
            .collect(),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct MailQuery {
    /// Required.
    email: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SentMail {
    email: String,
    subject: Option<String>,
    text: String,
    sent_at: DateTime<Utc>,
}

#[utoipa::path(get, path = "/dev/mail", tag = "development", params(MailQuery), responses((status = 200, body = Vec<SentMail>), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn mail(
    State(state): State<AppState>,
    Query(query): Query<MailQuery>,
) -> Result<JsonResponse<Vec<SentMail>>, ApiError> {
    let email = query
        .email
        .ok_or_else(|| ApiError::invalid("email", "is required"))?;
    let email = Email::parse(&email).map_err(|e| ApiError::invalid("email", e))?;
    let sent = state.app.dev_outbox(Channel::Email, email.as_str()).await?;
    Ok(JsonResponse(
        sent.into_iter()
            .map(|m| SentMail {
                email: m.recipient,
                subject: m.subject,
                text: m.body,
                sent_at: m.sent_at,
            })
            .collect(),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClockRequest {
    /// RFC 3339, e.g. `2026-12-01T10:00:00+03:00`.
    now: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ClockResponse {
    now: DateTime<Utc>,
}

/// Moves the manual clock forward (never back).
#[utoipa::path(post, path = "/dev/clock", tag = "development", request_body = ClockRequest, responses((status = 200, body = ClockResponse), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn clock(
    State(state): State<AppState>,
    crate::extract::Json(body): crate::extract::Json<ClockRequest>,
) -> Result<JsonResponse<ClockResponse>, ApiError> {
    let clock = state
        .manual_clock
        .as_ref()
        .ok_or(ApiError::NotFound("route"))?;
    let to = DateTime::parse_from_rfc3339(body.now.trim())
        .map_err(|_| {
            ApiError::invalid(
                "now",
                "must be an RFC 3339 time, e.g. 2026-12-01T10:00:00+03:00",
            )
        })?
        .with_timezone(&Utc);
    clock.set(to).map_err(|now| {
        ApiError::invalid("now", format!("the clock only moves forward; it is {now}"))
    })?;
    // Every scheduled job runs for the days that passed (each catches up by itself).
    crate::jobs::run(&state.app, &state.reader).await;
    Ok(JsonResponse(ClockResponse { now: to }))
}
