//! Who is calling: a bearer token from `POST /api/v1/auth/login`, checked on every request.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use k911_aggregates::values::Role;
use k911_commands::auth::Principal;
use k911_commands::CommandMeta;

use crate::error::ApiError;
use crate::middleware::request_meta;
use crate::AppState;

/// An authenticated caller and the metadata their commands carry.
pub struct Caller {
    pub principal: Principal,
    pub token: String,
    pub meta: CommandMeta,
}

impl Caller {
    /// 403 unless the caller has one of `roles`.
    pub(crate) fn require(self, roles: &[Role]) -> Result<Self, ApiError> {
        if roles.contains(&self.principal.role) {
            Ok(self)
        } else {
            Err(ApiError::Forbidden)
        }
    }

    /// The caller holding `token` (a bearer token, or the website's session cookie).
    pub(crate) async fn of_token(
        parts: &Parts,
        state: &AppState,
        token: String,
    ) -> Result<Self, ApiError> {
        let principal = state
            .app
            .access
            .authenticate(&token)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        let channel = if principal.role == Role::Borrower {
            "cabinet"
        } else {
            "staff"
        };
        let mut meta = request_meta(parts, channel);
        meta.actor_id = Some(principal.account_id);
        meta.actor_role = Some(principal.role.to_string());
        Ok(Caller {
            principal,
            token,
            meta,
        })
    }
}

pub(crate) fn bearer(parts: &Parts) -> Option<&str> {
    bearer_of(&parts.headers)
}

/// The bearer token of a request's headers, if it carries one.
pub(crate) fn bearer_of(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Extractors of a caller in one of a route's roles. They run before the body is read, so a
/// caller in the wrong role hears 403 whatever they sent.
macro_rules! role_extractor {
    ($($(#[$doc:meta])* $name:ident: [$($role:expr),+];)+) => {$(
        $(#[$doc])*
        pub struct $name(pub Caller);

        impl FromRequestParts<AppState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, Self::Rejection> {
                let caller = Caller::from_request_parts(parts, state).await?;
                caller.require(&[$($role),+]).map($name)
            }
        }
    )+};
}

role_extractor! {
    /// A customer in their cabinet.
    Borrower: [Role::Borrower];
    Underwriter: [Role::Underwriter];
    Support: [Role::Support];
    Admin: [Role::Admin];
    /// Who approves agents' statements for payment.
    Finance: [Role::Finance];
    /// An agent in their own cabinet.
    AgentUser: [Role::Agent];
    /// Who replays audit trails and answers for personal data (issue #16).
    Compliance: [Role::Compliance];
    /// Who edits the public content (FAQ) and resolves payments no loan could take.
    Editor: [Role::Support, Role::Admin];
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized)?.to_string();
        Caller::of_token(parts, state, token).await
    }
}
