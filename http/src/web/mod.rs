//! The website: the public pages, the borrower's cabinet and the staff back office, rendered on
//! the server from templates compiled with the code (`http/templates`), with forms that work
//! without JavaScript. Pages call the same use cases as the JSON handlers and reuse their
//! parsing, so no rule is written twice; they differ in how they answer (HTML, Russian).

mod account;
mod agent;
mod agents;
mod apply;
mod cabinet;
mod compliance;
mod csrf;
mod dev;
mod format;
mod forms;
mod frame;
mod login;
mod office;
mod public;
mod session;
mod staff;

use askama::Template;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::error::{ApiError, FieldError};
use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(public::calculator))
        .route("/faq", get(public::faq))
        .route("/documents", get(public::documents))
        .route("/contacts", get(public::contacts))
        .route("/support", post(public::support))
        .route("/apply", get(apply::start).post(apply::step))
        .route("/login", get(login::page).post(login::login))
        .route("/login/code", post(login::send_code))
        .route("/login/social/{provider}", post(login::social))
        .route("/logout", post(login::logout))
        .route("/cabinet/social/callback", get(login::social_callback))
        .route("/cabinet", get(cabinet::home))
        .route("/cabinet/loans/{id}", get(cabinet::loan))
        .route("/cabinet/loans/{id}/sign", post(cabinet::sign))
        .route("/cabinet/loans/{id}/sign-code", post(cabinet::resend_code))
        .route("/cabinet/loans/{id}/refund", post(cabinet::refund))
        .route("/cabinet/loans/{id}/contract", get(cabinet::contract))
        .route(
            "/cabinet/applications",
            get(account::applications).post(account::apply_again),
        )
        .route("/cabinet/support", get(account::support).post(account::ask))
        .route("/cabinet/deletion-request", post(account::request_deletion))
        .route(
            "/cabinet/settings/consents/credit-history/withdraw",
            post(account::withdraw_credit_history),
        )
        .route("/cabinet/settings", get(account::settings))
        .route("/cabinet/data-export", get(account::data_export))
        .route("/cabinet/settings/password", post(account::change_password))
        .route(
            "/cabinet/settings/social/{provider}",
            post(account::link_social),
        )
        .route(
            "/cabinet/settings/social/{provider}/unlink",
            post(account::unlink_social),
        )
        .route("/agent", get(agent::home))
        .route("/agent/clients/{id}", get(agent::client))
        .route("/agent/commissions", get(agent::commissions))
        .route("/agent/statements", get(agent::statements))
        .route("/agent/statements.csv", get(agent::statements_csv))
        .route("/agent/statements/{month}/pdf", get(agent::statement_pdf))
        .route("/staff", get(staff::home))
        .route("/staff/compliance", get(compliance::home))
        .route("/staff/compliance/audit", get(compliance::audit))
        .route("/staff/compliance/erasures/{id}", post(compliance::erase))
        .route("/staff/payments", get(office::payments))
        .route("/staff/payments/{id}/match", post(office::match_payment))
        .route("/staff/content", get(office::content))
        .route("/staff/content/faq", post(office::publish_faq))
        .route(
            "/staff/content/documents",
            post(office::upload_document).layer(axum::extract::DefaultBodyLimit::max(
                crate::middleware::DOCUMENT_BODY_LIMIT,
            )),
        )
        .route(
            "/staff/content/faq/{id}/withdraw",
            post(office::withdraw_faq),
        )
        .route(
            "/staff/content/documents/{id}/withdraw",
            post(office::withdraw_document),
        )
        .route("/staff/agents", get(agents::list).post(agents::register))
        .route("/staff/agents/{id}", get(agents::one))
        .route("/staff/agents/{id}/suspend", post(agents::suspend))
        .route("/staff/agents/{id}/resume", post(agents::resume))
        .route("/staff/agents/{id}/plan", post(agents::change_plan))
        .route(
            "/staff/agents/{id}/statements/{month}/pay",
            post(agents::approve_payment),
        )
        .route("/staff/effects", get(office::effects))
        .route("/staff/effects/{id}/retry", post(office::retry_effect))
        .route(
            "/staff/dev/payment",
            get(dev::payment_page).post(dev::send_payment),
        )
        .route("/staff/applications", get(staff::applications))
        .route("/staff/applications/{id}", get(staff::application))
        .route("/staff/applications/{id}/approve", post(staff::approve))
        .route("/staff/applications/{id}/reject", post(staff::reject))
        .route("/staff/support", get(staff::support))
        .route("/staff/support/next", post(staff::take_next))
        .route("/staff/support/tickets/{id}", get(staff::ticket))
        .route("/staff/support/tickets/{id}/reply", post(staff::reply))
        .route("/staff/support/tickets/{id}/close", post(staff::close))
        .route("/static/site.css", get(stylesheet))
        .route("/static/card.js", get(card_script))
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/site.css"),
    )
}

async fn card_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/card.js"),
    )
}

/// What every page's frame shows: the CSRF token for its forms, the contacts in the footer and
/// the support panel (with what was typed into it, when it came back with errors).
pub(crate) struct Chrome {
    pub(crate) csrf: String,
    pub(crate) hotline: String,
    /// The hotline as a `tel:` number.
    pub(crate) tel: String,
    pub(crate) whatsapp: String,
    /// The WhatsApp number as a chat link.
    pub(crate) whatsapp_url: String,
    pub(crate) support_hours: String,
    pub(crate) support: FormState,
    pub(crate) support_open: bool,
}

impl Chrome {
    pub(crate) fn new(state: &AppState, csrf: String) -> Self {
        let contacts = &state.contacts;
        Self {
            csrf,
            tel: tel(&contacts.hotline),
            hotline: contacts.hotline.clone(),
            whatsapp: contacts.whatsapp.clone(),
            whatsapp_url: format!("https://wa.me/{}", &tel(&contacts.whatsapp)[1..]),
            support_hours: contacts.support_hours.clone(),
            support: FormState::default(),
            support_open: false,
        }
    }
}

/// A Russian phone number as written for people (`8 800 100-57-57`) as a `tel:` number.
fn tel(written: &str) -> String {
    let digits: String = written.chars().filter(char::is_ascii_digit).collect();
    match digits.strip_prefix('8') {
        Some(rest) if digits.len() == 11 => format!("+7{rest}"),
        _ => format!("+{digits}"),
    }
}

/// A form's fields as typed, with the errors to show beside them.
#[derive(Default)]
pub(crate) struct FormState {
    pub(crate) name: String,
    pub(crate) phone: String,
    pub(crate) email: String,
    pub(crate) question: String,
    pub(crate) errors: Vec<FieldError>,
}

impl FormState {
    /// The error to show beside `field`.
    pub(crate) fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

/// Renders a page.
pub(crate) fn render(page: &impl Template) -> Result<Html<String>, PageError> {
    page.render()
        .map(Html)
        .map_err(|e| PageError::Api(ApiError::Internal(e.to_string())))
}

/// Why a page could not be shown, answered as a page.
#[derive(Debug)]
pub(crate) enum PageError {
    /// A form that could not be read.
    BadForm,
    /// A form without its CSRF token, or with another browser's.
    StaleForm,
    /// A page for signed-in visitors, and no valid session: off to the login page.
    SignIn,
    /// Signed in, in a role this page is not for.
    NoAccess,
    Api(ApiError),
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

impl From<k911_commands::Error> for PageError {
    fn from(error: k911_commands::Error) -> Self {
        Self::Api(error.into())
    }
}

impl From<k911_projections::ReadError> for PageError {
    fn from(error: k911_projections::ReadError) -> Self {
        Self::Api(error.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    heading: &'static str,
    text: &'static str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, heading, text) = match self {
            Self::BadForm => (
                StatusCode::BAD_REQUEST,
                "Форма не прочитана",
                "Отправьте форму ещё раз со страницы сайта.",
            ),
            Self::StaleForm => (
                StatusCode::FORBIDDEN,
                "Форма устарела",
                "Обновите страницу и отправьте форму ещё раз.",
            ),
            Self::SignIn => return Redirect::to("/login").into_response(),
            Self::NoAccess => (
                StatusCode::FORBIDDEN,
                "Нет доступа",
                "Эта страница не для вашей учётной записи.",
            ),
            Self::Api(error) => {
                let (heading, text) = match error.status() {
                    StatusCode::NOT_FOUND => ("Страница не найдена", "Такой страницы нет."),
                    StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => {
                        ("Нет доступа", "Войдите под нужной учётной записью.")
                    }
                    StatusCode::TOO_MANY_REQUESTS => (
                        "Слишком много попыток",
                        "Подождите минуту и попробуйте снова.",
                    ),
                    s if s.is_server_error() => (
                        "Сервис временно недоступен",
                        "Попробуйте через минуту или позвоните на горячую линию.",
                    ),
                    _ => ("Не получилось", "Проверьте данные и попробуйте снова."),
                };
                // The API's answer logs the cause and sets Retry-After; the browser gets a page
                // in place of its problem document.
                let mut response = error.into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("text/html; charset=utf-8"),
                );
                *response.body_mut() = page(heading, text).into_response().into_body();
                return response;
            }
        };
        (status, page(heading, text)).into_response()
    }
}

fn page(heading: &'static str, text: &'static str) -> Html<String> {
    Html(
        ErrorPage { heading, text }
            .render()
            .unwrap_or_else(|_| heading.to_string()),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn hotlines_become_tel_numbers() {
        assert_eq!(super::tel("8 800 100-57-57"), "+78001005757");
        assert_eq!(super::tel("+7 (495) 123-45-67"), "+74951234567");
    }
}
