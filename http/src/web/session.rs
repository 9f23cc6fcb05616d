//! Browser sessions: the token `POST /api/v1/auth/login` would give, kept in an HttpOnly,
//! SameSite=Lax cookie (Secure in production). The same sessions as bearer tokens: the same
//! lifetime, logout and checks on every request.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use k911_aggregates::values::Role;
use k911_commands::auth::Session;

use super::PageError;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::AppState;

const COOKIE: &str = "k911_session";

/// A signed-in visitor: the session cookie's token, checked as a bearer token is. Without a
/// valid one the visitor is sent to the login page.
pub(crate) struct Signed(pub(crate) Caller);

impl FromRequestParts<AppState> for Signed {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let token = jar
            .get(COOKIE)
            .map(|c| c.value().to_string())
            .ok_or(PageError::SignIn)?;
        match Caller::of_token(parts, state, token).await {
            Ok(caller) => Ok(Self(caller)),
            Err(ApiError::Unauthorized) => Err(PageError::SignIn),
            Err(other) => Err(other.into()),
        }
    }
}

impl Signed {
    /// The caller, if they have one of `roles`; otherwise a "no access" page.
    pub(crate) fn require(self, roles: &[Role]) -> Result<Caller, PageError> {
        self.0.require(roles).map_err(|_| PageError::NoAccess)
    }
}

/// The cookie that carries `session` until it expires. Max-Age rather than Expires: how long
/// is counted by our clock, whatever the browser's says.
pub(crate) fn start(jar: CookieJar, session: &Session, state: &AppState) -> CookieJar {
    let left = session.expires_at - state.app.core.clock.now();
    jar.add(
        Cookie::build((COOKIE, session.token.clone()))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(state.secure_cookies)
            .max_age(time::Duration::seconds(left.num_seconds().max(0)))
            .build(),
    )
}

/// The session's token, if the browser has one.
pub(crate) fn token(jar: &CookieJar) -> Option<String> {
    jar.get(COOKIE).map(|c| c.value().to_string())
}

/// Forgets the cookie.
pub(crate) fn end(jar: CookieJar) -> CookieJar {
    jar.remove(Cookie::build(COOKIE).path("/"))
}

/// Where a role's work starts.
pub(crate) fn home(role: Role) -> &'static str {
    match role {
        Role::Borrower => "/cabinet",
        Role::Agent => "/agent",
        _ => "/staff",
    }
}
