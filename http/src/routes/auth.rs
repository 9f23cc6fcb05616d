use axum::extract::State;
use axum::http::StatusCode;
use axum::Json as JsonResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Json;
use k911_aggregates::values::Phone;
use k911_commands::auth::Access;
use k911_commands::auth::Session;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    /// An e-mail or staff login (with `password`), or a phone (with `code`).
    login: String,
    password: Option<String>,
    /// The one-time code sent by `POST /api/v1/auth/otp`.
    code: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OtpRequest {
    phone: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct OtpAccepted {
    /// When another code may be asked for this phone.
    resend_after: DateTime<Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LoginResponse {
    token: String,
    expires_at: DateTime<Utc>,
    role: &'static str,
    user_id: Uuid,
}

impl From<Session> for LoginResponse {
    fn from(session: Session) -> Self {
        Self {
            token: session.token,
            expires_at: session.expires_at,
            role: session.principal.role.as_str(),
            user_id: session.principal.account_id,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest, responses((status = 200, body = LoginResponse), (status = 401, body = crate::error::Problem), (status = 422, body = crate::error::Problem), (status = 429, body = crate::error::Problem)))]
pub(crate) async fn login(
    State(access): State<Access>,
    Json(body): Json<LoginRequest>,
) -> Result<JsonResponse<LoginResponse>, ApiError> {
    if body.login.trim().is_empty() {
        return Err(ApiError::invalid("login", "must not be empty"));
    }
    let session = match (body.password, body.code) {
        (Some(password), None) => access.login(&body.login, &password).await?,
        (None, Some(code)) => access.login_with_code(&body.login, &code).await?,
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "code",
                "give either a password or a code",
            ))
        }
        (None, None) => return Err(ApiError::invalid("password", "required (or a code)")),
    };
    Ok(JsonResponse(session.into()))
}

/// Asks for a one-time login code by SMS. The answer is the same whether or not the phone
/// belongs to a customer; only an opened phone-only cabinet gets a code.
#[utoipa::path(post, path = "/api/v1/auth/otp", tag = "auth", request_body = OtpRequest, responses((status = 202, body = OtpAccepted), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn otp(
    State(access): State<Access>,
    Json(body): Json<OtpRequest>,
) -> Result<(StatusCode, JsonResponse<OtpAccepted>), ApiError> {
    let phone = Phone::parse(&body.phone).map_err(|e| ApiError::invalid("phone", e))?;
    let resend_after = access.request_login_code(&phone).await?;
    Ok((
        StatusCode::ACCEPTED,
        JsonResponse(OtpAccepted { resend_after }),
    ))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])), responses((status = 204, description = "The token no longer works"), (status = 401, body = crate::error::Problem)))]
pub(crate) async fn logout(
    State(access): State<Access>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    access.logout(&caller.token).await?;
    Ok(StatusCode::NO_CONTENT)
}
