use axum::extract::State;
use axum::http::StatusCode;
use axum::Json as JsonResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Json;
use crate::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    login: String,
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LoginResponse {
    token: String,
    expires_at: DateTime<Utc>,
    role: &'static str,
    user_id: Uuid,
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest, responses((status = 200, body = LoginResponse), (status = 401, body = crate::error::Problem), (status = 422, body = crate::error::Problem), (status = 429, body = crate::error::Problem)))]
pub(crate) async fn login(
    State(state): State<AppState>,
    Json(body): Json<LoginRequest>,
) -> Result<JsonResponse<LoginResponse>, ApiError> {
    if body.login.trim().is_empty() {
        return Err(ApiError::invalid("login", "must not be empty"));
    }
    let session = state.app.login(&body.login, &body.password).await?;
    Ok(JsonResponse(LoginResponse {
        token: session.token,
        expires_at: session.expires_at,
        role: session.principal.role.as_str(),
        user_id: session.principal.account_id,
    }))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])), responses((status = 204, description = "The token no longer works"), (status = 401, body = crate::error::Problem)))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    state.app.logout(&caller.token).await?;
    Ok(StatusCode::NO_CONTENT)
}
