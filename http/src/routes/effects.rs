//! The effects that need a person: an admin lists the effects outbox by status (dead ones above
//! all) and gives a dead effect another round of tries.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json as JsonResponse;
use chrono::{DateTime, Utc};
use k911_commands::effects::Effects;
use k911_event_store::outbox::EffectStatus;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::extract::{IdPath, Page};

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct EffectsQuery {
    /// `pending` | `done` | `dead` (default `dead`).
    status: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct EffectView {
    effect_id: Uuid,
    /// `sms` | `email` | `payout`
    kind: &'static str,
    /// `pending` | `done` | `dead`
    status: &'static str,
    attempts: i32,
    /// The last failure, as the provider or driver told it.
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    next_attempt_at: DateTime<Utc>,
    done_at: Option<DateTime<Utc>>,
}

#[utoipa::path(get, path = "/api/v1/staff/effects", tag = "effects", security(("bearer" = [])), params(EffectsQuery, ("limit" = Option<i64>, Query, description = "1..1000, default 100"), ("offset" = Option<i64>, Query, description = "default 0")), responses((status = 200, body = Vec<EffectView>), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn list(
    State(effects): State<Effects>,
    _: Admin,
    Query(query): Query<EffectsQuery>,
    page: Page,
) -> Result<JsonResponse<Vec<EffectView>>, ApiError> {
    let status = match query.status.as_deref() {
        None => EffectStatus::Dead,
        Some(text) => text
            .parse()
            .map_err(|_| ApiError::invalid("status", "must be pending, done or dead"))?,
    };
    let rows = effects.list(status, page.limit, page.offset).await?;
    Ok(JsonResponse(
        rows.into_iter()
            .map(|r| EffectView {
                effect_id: r.id,
                kind: r.kind.as_str(),
                status: r.status.as_str(),
                attempts: r.attempts,
                last_error: r.last_error,
                created_at: r.created_at,
                next_attempt_at: r.next_attempt_at,
                done_at: r.done_at,
            })
            .collect(),
    ))
}

/// A dead effect is tried again from now, with a fresh count of tries (same id, so the provider
/// still acts once).
#[utoipa::path(post, path = "/api/v1/staff/effects/{id}/retry", tag = "effects", security(("bearer" = [])), params(("id" = Uuid, Path)), responses((status = 202), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub(crate) async fn retry(
    State(effects): State<Effects>,
    _: Admin,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    effects.retry(id).await?;
    Ok(StatusCode::ACCEPTED)
}
