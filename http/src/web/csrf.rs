//! Forms carry a CSRF token: a random value kept in an HttpOnly cookie and repeated in a hidden
//! field ("double submit"). Another site can make a browser post a form here, but it can neither
//! read the cookie nor set it, so it cannot repeat the value. Together with the SameSite=Lax
//! session cookie, no form posted from elsewhere is acted on.

use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use base64::Engine;
use serde::de::DeserializeOwned;
use sha2::Digest;

use crate::web::PageError;
use crate::AppState;

const COOKIE: &str = "k911_csrf";

/// The token for this browser's forms, and the cookie to set if it had none yet.
pub(crate) struct CsrfToken {
    pub(crate) token: String,
    pub(crate) jar: CookieJar,
}

impl FromRequestParts<AppState> for CsrfToken {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        if let Some(token) = jar.get(COOKIE).map(|c| c.value().to_string()) {
            if decoded(&token).is_some() {
                return Ok(Self { token, jar });
            }
        }
        let token =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let cookie = Cookie::build((COOKIE, token.clone()))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(state.secure_cookies)
            .build();
        Ok(Self {
            token,
            jar: jar.add(cookie),
        })
    }
}

fn decoded(token: &str) -> Option<[u8; 32]> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    bytes.try_into().ok()
}

/// A posted form whose hidden `csrf` field repeats the browser's cookie; anything else is
/// refused (403) before the form is read.
pub(crate) struct CheckedForm<T>(pub(crate) T);

/// What every form posts besides its own fields.
pub(crate) trait WithCsrf {
    fn csrf(&self) -> &str;
}

impl<T> FromRequest<AppState> for CheckedForm<T>
where
    T: DeserializeOwned + WithCsrf + Send,
{
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(request.headers());
        let cookie = jar.get(COOKIE).map(|c| c.value().to_string());
        let Form(form) = Form::<T>::from_request(request, state)
            .await
            .map_err(|_| PageError::BadForm)?;
        match cookie {
            Some(cookie) if same(&cookie, form.csrf()) => Ok(Self(form)),
            _ => Err(PageError::StaleForm),
        }
    }
}

/// Whether `token` (a form's) is this browser's: for forms read by hand (a file upload).
pub(crate) fn matches_cookie(jar: &CookieJar, token: &str) -> bool {
    jar.get(COOKIE).is_some_and(|c| same(c.value(), token))
}

/// Compares by digest, so the time taken says nothing about how much of the token matched.
fn same(a: &str, b: &str) -> bool {
    sha2::Sha256::digest(a.as_bytes()) == sha2::Sha256::digest(b.as_bytes())
}
