//! Logging in and out: e-mail (or staff login) and password; a phone and a one-time SMS code for
//! customers who gave only a phone; the configured social providers. The session goes into the
//! browser's cookie; the rules (limits, locks, code lifetimes) are the API's own.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use k911_aggregates::values::{Phone, Role};
use k911_commands::auth::Access;
use k911_commands::social::SocialPurpose;
use k911_commands::Error as AppError;
use serde::Deserialize;

use super::csrf::{CheckedForm, CsrfToken, WithCsrf};
use super::session::Signed;
use super::{render, session, Chrome, PageError};
use crate::error::ApiError;
use crate::AppState;

/// Which provider a social login went to (the callback URL is one for all providers).
const SOCIAL_COOKIE: &str = "k911_social";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    error: Option<&'static str>,
    login: String,
    code_sent_to: Option<String>,
    providers: Vec<String>,
}

impl LoginPage {
    fn new(state: &AppState, access: &Access, csrf: String) -> Self {
        Self {
            chrome: Chrome::new(state, csrf),
            error: None,
            login: String::new(),
            code_sent_to: None,
            providers: access.oidc.names(),
        }
    }
}

/// `GET /login`.
pub(crate) async fn page(
    State(state): State<AppState>,
    State(access): State<Access>,
    csrf: CsrfToken,
) -> Result<impl IntoResponse, PageError> {
    let page = LoginPage::new(&state, &access, csrf.token);
    Ok((csrf.jar, render(&page)?))
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    csrf: String,
    login: Option<String>,
    password: Option<String>,
    phone: Option<String>,
    code: Option<String>,
}

impl WithCsrf for LoginForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /login`: a password or a code; the session cookie and the role's home page follow.
pub(crate) async fn login(
    State(state): State<AppState>,
    State(access): State<Access>,
    csrf: CsrfToken,
    CheckedForm(form): CheckedForm<LoginForm>,
) -> Result<Response, PageError> {
    let attempt = match (&form.password, &form.code, &form.phone) {
        (Some(password), None, _) => {
            access
                .login(form.login.as_deref().unwrap_or_default().trim(), password)
                .await
        }
        (None, Some(code), Some(phone)) => access.login_with_code(phone.trim(), code.trim()).await,
        _ => return Err(PageError::BadForm),
    };
    match attempt {
        Ok(session) => {
            let jar = session::start(csrf.jar, &session, &state);
            Ok((jar, Redirect::to(session::home(session.principal.role))).into_response())
        }
        Err(error) => {
            let (status, message) = match ApiError::from(error) {
                ApiError::Unauthorized => (
                    StatusCode::UNAUTHORIZED,
                    if form.code.is_some() {
                        "Неверный или устаревший код. Запросите новый."
                    } else {
                        "Неверный e-mail или пароль."
                    },
                ),
                ApiError::TooManyRequests { .. } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "Слишком много попыток. Подождите и попробуйте снова.",
                ),
                ApiError::Invalid(_) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Проверьте данные для входа.",
                ),
                other => return Err(other.into()),
            };
            let mut page = LoginPage::new(&state, &access, csrf.token);
            page.error = Some(message);
            page.login = form.login.unwrap_or_default();
            page.code_sent_to = form.code.and(form.phone);
            Ok((status, csrf.jar, render(&page)?).into_response())
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct CodeForm {
    csrf: String,
    phone: String,
}

impl WithCsrf for CodeForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /login/code`: a one-time code by SMS. As in the API, the page is the same whether or
/// not the phone belongs to a phone-only cabinet.
pub(crate) async fn send_code(
    State(state): State<AppState>,
    State(access): State<Access>,
    csrf: CsrfToken,
    CheckedForm(form): CheckedForm<CodeForm>,
) -> Result<Response, PageError> {
    let mut page = LoginPage::new(&state, &access, csrf.token);
    match Phone::parse(&form.phone) {
        Ok(phone) => {
            match access.request_login_code(&phone).await {
                Ok(_) => {}
                Err(AppError::Throttled { .. }) => {
                    page.error = Some("Код уже отправлен. Новый можно запросить через минуту.")
                }
                Err(other) => return Err(ApiError::from(other).into()),
            }
            page.code_sent_to = Some(phone.as_str().to_string());
            Ok((csrf.jar, render(&page)?).into_response())
        }
        Err(_) => {
            page.error = Some("Телефон в формате +7 900 000-00-00.");
            Ok((StatusCode::UNPROCESSABLE_ENTITY, csrf.jar, render(&page)?).into_response())
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct CsrfOnly {
    csrf: String,
}

impl WithCsrf for CsrfOnly {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /logout`: the session ends here and in the browser.
pub(crate) async fn logout(
    State(access): State<Access>,
    jar: CookieJar,
    CheckedForm(_): CheckedForm<CsrfOnly>,
) -> Result<Response, PageError> {
    if let Some(token) = session::token(&jar) {
        access.logout(&token).await.map_err(ApiError::from)?;
    }
    Ok((session::end(jar), Redirect::to("/")).into_response())
}

/// What a trip to a social provider is for: the callback URL is one for both.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum SocialStep {
    Login,
    Link,
}

/// Remembers, for the callback, which provider the browser went to and why.
pub(crate) fn remember_social(
    jar: CookieJar,
    state: &AppState,
    step: SocialStep,
    provider: &str,
) -> CookieJar {
    let step = match step {
        SocialStep::Login => "login",
        SocialStep::Link => "link",
    };
    let cookie = Cookie::build((SOCIAL_COOKIE, format!("{step}:{provider}")))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.secure_cookies)
        .max_age(time::Duration::minutes(15))
        .build();
    jar.add(cookie)
}

/// `POST /login/social/{provider}`: off to the provider's login page.
pub(crate) async fn social(
    State(state): State<AppState>,
    State(access): State<Access>,
    jar: CookieJar,
    Path(provider): Path<String>,
    CheckedForm(_): CheckedForm<CsrfOnly>,
) -> Result<Response, PageError> {
    let redirect = access
        .begin_social(&provider, SocialPurpose::Login)
        .await
        .map_err(ApiError::from)?;
    let jar = remember_social(jar, &state, SocialStep::Login, &provider);
    Ok((jar, Redirect::to(&redirect.authorization_url)).into_response())
}

#[derive(Deserialize)]
pub(crate) struct Callback {
    code: Option<String>,
    state: Option<String>,
}

/// `GET /cabinet/social/callback` (`K911_OIDC_REDIRECT_URL`): the provider sends the browser
/// back here; a linked account logs in, or (from settings) the account is linked.
pub(crate) async fn social_callback(
    State(state): State<AppState>,
    State(access): State<Access>,
    signed: Result<Signed, PageError>,
    jar: CookieJar,
    csrf: CsrfToken,
    Query(callback): Query<Callback>,
) -> Result<Response, PageError> {
    let remembered = jar.get(SOCIAL_COOKIE).map(|c| c.value().to_string());
    let (Some(remembered), Some(code), Some(oidc_state)) =
        (remembered, callback.code, callback.state)
    else {
        return Err(PageError::BadForm);
    };
    let (step, provider) = remembered.split_once(':').ok_or(PageError::BadForm)?;
    let jar = jar.remove(Cookie::build(SOCIAL_COOKIE).path("/"));
    if step == "link" {
        let caller = signed?.require(&[Role::Borrower])?;
        let answer =
            super::account::finish_link(&access, &caller, provider, &code, &oidc_state).await?;
        return Ok((jar, answer).into_response());
    }
    match access.social_login(provider, &code, &oidc_state).await {
        Ok(session) => {
            let jar = session::start(jar, &session, &state);
            Ok((jar, Redirect::to(session::home(session.principal.role))).into_response())
        }
        Err(AppError::BadCredentials) => {
            let mut page = LoginPage::new(&state, &access, csrf.token);
            page.error = Some("Этот аккаунт соцсети не привязан к кабинету. Войдите иначе и привяжите его в настройках.");
            Ok((StatusCode::UNAUTHORIZED, csrf.jar, render(&page)?).into_response())
        }
        Err(other) => Err(ApiError::from(other).into()),
    }
}
