//! Compliance officers' routes (issue #16).

use axum::extract::State;
use axum::Json as JsonResponse;
use k911_projections::Reader;
use serde::Serialize;

use crate::auth::Compliance;
use crate::error::ApiError;

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
