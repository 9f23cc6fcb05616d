//! Social login: link an OpenID Connect account in the cabinet, then log in with it. Each flow
//! has two steps: start (the provider's login page URL for the browser) and finish (the code and
//! state the provider sent the browser back with).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json as JsonResponse;
use k911_commands::social::{SocialPurpose, SocialRedirect};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Borrower;
use crate::error::ApiError;
use crate::extract::Json;
use crate::routes::auth::LoginResponse;
use k911_commands::auth::Access;

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Provider {
    provider: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Redirect {
    provider: String,
    /// Send the customer's browser here.
    authorization_url: String,
    /// Comes back with the browser; hand it to the finishing call.
    state: String,
}

impl Redirect {
    fn new(provider: String, redirect: SocialRedirect) -> Self {
        Self {
            provider,
            authorization_url: redirect.authorization_url,
            state: redirect.state,
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Callback {
    code: String,
    state: String,
}

#[utoipa::path(get, path = "/api/v1/auth/social", tag = "auth", responses((status = 200, body = Vec<Provider>)))]
pub(crate) async fn providers(State(access): State<Access>) -> JsonResponse<Vec<Provider>> {
    let names = access.oidc.names();
    JsonResponse(
        names
            .into_iter()
            .map(|provider| Provider { provider })
            .collect(),
    )
}

/// Starts a login with a linked social account.
#[utoipa::path(post, path = "/api/v1/auth/social/{provider}", tag = "auth", params(("provider" = String, Path)), responses((status = 200, body = Redirect), (status = 404, body = crate::error::Problem), (status = 503, body = crate::error::Problem)))]
pub(crate) async fn begin_login(
    State(access): State<Access>,
    Path(provider): Path<String>,
) -> Result<JsonResponse<Redirect>, ApiError> {
    let redirect = access.begin_social(&provider, SocialPurpose::Login).await?;
    Ok(JsonResponse(Redirect::new(provider, redirect)))
}

/// Finishes a social login: a session, as `POST /api/v1/auth/login` gives.
#[utoipa::path(post, path = "/api/v1/auth/social/{provider}/callback", tag = "auth", params(("provider" = String, Path)), request_body = Callback, responses((status = 200, body = LoginResponse), (status = 401, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub(crate) async fn finish_login(
    State(access): State<Access>,
    Path(provider): Path<String>,
    Json(body): Json<Callback>,
) -> Result<JsonResponse<LoginResponse>, ApiError> {
    let session = access
        .social_login(&provider, &body.code, &body.state)
        .await?;
    Ok(JsonResponse(session.into()))
}

/// `{provider}` starts linking; `{provider, code, state}` finishes it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinkRequest {
    provider: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Linked {
    account_id: Uuid,
    provider: String,
    position: i64,
}

#[utoipa::path(post, path = "/api/v1/me/social-links", tag = "cabinet", security(("bearer" = [])), request_body = LinkRequest, responses((status = 200, body = Redirect, description = "Started: send the browser to the provider"), (status = 201, body = Linked), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn link(
    State(access): State<Access>,
    Borrower(caller): Borrower,
    Json(body): Json<LinkRequest>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let account_id = caller.principal.account_id;
    match (body.code, body.state) {
        (None, None) => {
            let redirect = access
                .begin_social(&body.provider, SocialPurpose::Link(account_id))
                .await?;
            Ok(JsonResponse(Redirect::new(body.provider, redirect)).into_response())
        }
        (Some(code), Some(flow)) => {
            let written = access
                .link_social(account_id, &body.provider, &code, &flow, &caller.meta)
                .await?;
            let linked = Linked {
                account_id,
                provider: body.provider,
                position: written.position,
            };
            Ok((StatusCode::CREATED, JsonResponse(linked)).into_response())
        }
        (None, Some(_)) => Err(ApiError::invalid("code", "required with state")),
        (Some(_), None) => Err(ApiError::invalid("state", "required with code")),
    }
}

#[utoipa::path(delete, path = "/api/v1/me/social-links/{provider}", tag = "cabinet", security(("bearer" = [])), params(("provider" = String, Path)), responses((status = 200, body = Linked), (status = 404, body = crate::error::Problem)))]
pub(crate) async fn unlink(
    State(access): State<Access>,
    Borrower(caller): Borrower,
    Path(provider): Path<String>,
) -> Result<JsonResponse<Linked>, ApiError> {
    let account_id = caller.principal.account_id;
    let written = access
        .unlink_social(account_id, &provider, &caller.meta)
        .await?;
    Ok(JsonResponse(Linked {
        account_id,
        provider,
        position: written.position,
    }))
}
