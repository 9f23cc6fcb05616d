//! The public site: the loan calculator, FAQ, documents, contacts and the anonymous support form.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse};
use k911_aggregates::money::Kopecks;
use k911_aggregates::support_ticket::{Requester, TicketKind};
use k911_commands::onboarding::Onboarding;
use k911_commands::support::{Support as Tickets, TicketForm};
use k911_projections::Reader;
use serde::Deserialize;

use super::csrf::{CheckedForm, CsrfToken, WithCsrf};
use super::format;
use super::{render, Chrome, FormState, PageError};
use crate::error::{ApiError, FieldError};
use crate::extract::Today;
use crate::routes::support::{PublicMeta, TicketReceipt, TicketRequest};
use crate::AppState;

/// What the calculator starts from.
const DEFAULT_ROUBLES: i64 = 15_000;
const DEFAULT_TERM_DAYS: i64 = 21;

#[derive(Deserialize)]
pub(crate) struct CalculatorQuery {
    amount: Option<String>,
    term: Option<String>,
    /// An agent's referral code (`/?ref=CODE`), carried on into the application.
    #[serde(rename = "ref")]
    referral: Option<String>,
}

/// The product's limits as the form shows them.
pub(crate) struct Limits {
    min_roubles: i64,
    max_roubles: i64,
    min_amount: String,
    max_amount: String,
    min_term: u16,
    max_term: u16,
    min_term_words: String,
    max_term_words: String,
}

/// A quote as the page shows it.
pub(crate) struct QuoteView {
    daily_rate: String,
    interest: String,
    total: String,
    due_on: String,
    psk_percent: String,
    psk_money: String,
}

#[derive(Template)]
#[template(path = "calculator.html")]
struct CalculatorPage {
    chrome: Chrome,
    limits: Limits,
    amount: String,
    term: String,
    amount_error: Option<String>,
    term_error: Option<String>,
    quote: Option<QuoteView>,
    referral: String,
}

/// `/`: the calculator. Its form is a GET, so a result is a link one can share; the price comes
/// from the same code an offer uses (the product's rate and the law's caps).
pub(crate) async fn calculator(
    State(state): State<AppState>,
    State(onboarding): State<Onboarding>,
    Today(today): Today,
    csrf: CsrfToken,
    Query(query): Query<CalculatorQuery>,
) -> Result<impl IntoResponse, PageError> {
    let product = onboarding.product();
    let limits = Limits {
        min_roubles: product.min_amount.get() / 100,
        max_roubles: product.max_amount.get() / 100,
        min_amount: format::money(product.min_amount.get()),
        max_amount: format::money(product.max_amount.get()),
        min_term: product.min_term_days,
        max_term: product.max_term_days,
        min_term_words: format::days(product.min_term_days.into()),
        max_term_words: format::days(product.max_term_days.into()),
    };
    let amount = query.amount.unwrap_or_else(|| DEFAULT_ROUBLES.to_string());
    let term = query.term.unwrap_or_else(|| DEFAULT_TERM_DAYS.to_string());
    let amount_range = format!("Сумма от {} до {}", limits.min_amount, limits.max_amount);
    let term_range = format!(
        "Срок от {} до {}",
        limits.min_term_words, limits.max_term_words
    );
    let kopecks = amount
        .trim()
        .replace([' ', '\u{a0}', '\u{202f}'], "")
        .parse::<i64>()
        .ok()
        .and_then(|roubles| roubles.checked_mul(100))
        .and_then(|k| Kopecks::new(k).ok());
    let days = term.trim().parse::<u16>().ok();
    let (mut amount_error, mut term_error, mut quote) = (None, None, None);
    match (kopecks, days) {
        (Some(kopecks), Some(days)) => match onboarding.quote(kopecks, days) {
            Ok(q) => {
                quote = Some(QuoteView {
                    daily_rate: format::percent(q.daily_rate.percent()),
                    interest: format::money(q.cost.interest.get()),
                    total: format::money(q.cost.total.get()),
                    due_on: format::date(today + chrono::Days::new(days.into())),
                    psk_percent: format::percent(q.cost.psk_percent),
                    // The ПСК in money is everything paid above the principal: the interest.
                    psk_money: format::money(q.cost.interest.get()),
                })
            }
            Err(error) => match ApiError::application(error, "") {
                ApiError::Invalid(errors) if errors[0].field == "term_days" => {
                    term_error = Some(term_range)
                }
                _ => amount_error = Some(amount_range),
            },
        },
        (kopecks, _) => {
            if kopecks.is_none() {
                amount_error = Some(amount_range);
            }
            if days.is_none() {
                term_error = Some(term_range);
            }
        }
    }
    let page = CalculatorPage {
        chrome: Chrome::new(&state, csrf.token),
        limits,
        amount,
        term,
        amount_error,
        term_error,
        quote,
        referral: query.referral.unwrap_or_default(),
    };
    Ok((csrf.jar, render(&page)?))
}

pub(crate) struct FaqView {
    question: String,
    answer: String,
}

#[derive(Template)]
#[template(path = "faq.html")]
struct FaqPage {
    chrome: Chrome,
    items: Vec<FaqView>,
}

/// `/faq`: "Вопросы".
pub(crate) async fn faq(
    State(state): State<AppState>,
    State(reader): State<Reader>,
    csrf: CsrfToken,
) -> Result<impl IntoResponse, PageError> {
    let rows = reader.faq(1000, 0).await.map_err(ApiError::from)?;
    let page = FaqPage {
        chrome: Chrome::new(&state, csrf.token),
        items: rows
            .into_iter()
            .map(|r| FaqView {
                question: r.question,
                answer: r.answer,
            })
            .collect(),
    };
    Ok((csrf.jar, render(&page)?))
}

pub(crate) struct DocumentView {
    title: String,
    url: String,
    published_on: String,
}

#[derive(Template)]
#[template(path = "documents.html")]
struct DocumentsPage {
    chrome: Chrome,
    items: Vec<DocumentView>,
}

/// `/documents`: "Документы", the PDFs served by the API.
pub(crate) async fn documents(
    State(state): State<AppState>,
    State(reader): State<Reader>,
    csrf: CsrfToken,
) -> Result<impl IntoResponse, PageError> {
    let rows = reader.documents(1000, 0).await.map_err(ApiError::from)?;
    let page = DocumentsPage {
        chrome: Chrome::new(&state, csrf.token),
        items: rows
            .into_iter()
            .map(|r| DocumentView {
                url: format!("/api/v1/documents/{}/file", r.document_id),
                title: r.title,
                published_on: format::date(r.published_on),
            })
            .collect(),
    };
    Ok((csrf.jar, render(&page)?))
}

#[derive(Template)]
#[template(path = "contacts.html")]
struct ContactsPage {
    chrome: Chrome,
}

/// `/contacts`: the hotline as a `tel:` link, WhatsApp and the hours.
pub(crate) async fn contacts(
    State(state): State<AppState>,
    csrf: CsrfToken,
) -> Result<impl IntoResponse, PageError> {
    let page = ContactsPage {
        chrome: Chrome::new(&state, csrf.token),
    };
    Ok((csrf.jar, render(&page)?))
}

#[derive(Deserialize)]
pub(crate) struct SupportForm {
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    question: String,
}

impl WithCsrf for SupportForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

#[derive(Template)]
#[template(path = "support.html")]
struct SupportPage {
    chrome: Chrome,
    receipt: Option<TicketReceipt>,
}

/// `POST /support`: the support panel's form, anonymous, checked as the API checks it. On an
/// error the panel comes back open with what was typed and the errors beside their fields.
pub(crate) async fn support(
    State(state): State<AppState>,
    State(tickets): State<Tickets>,
    State(reader): State<Reader>,
    PublicMeta(meta): PublicMeta,
    csrf: CsrfToken,
    CheckedForm(form): CheckedForm<SupportForm>,
) -> Result<(axum::http::StatusCode, Html<String>), PageError> {
    let request = TicketRequest::new(&form.name, &form.phone, &form.email, &form.question);
    let mut chrome = Chrome::new(&state, csrf.token);
    let parsed = match request.parse() {
        Ok(parsed) => Ok(parsed),
        Err(ApiError::Invalid(errors)) => Err(errors),
        Err(other) => return Err(other.into()),
    };
    match parsed {
        Ok((contact, question)) => {
            let ticket = TicketForm {
                kind: TicketKind::Question,
                requester: Requester::Anonymous,
                contact,
                question,
            };
            let written = tickets
                .submit_ticket(ticket, &meta)
                .await
                .map_err(ApiError::from)?;
            let receipt = TicketReceipt::of(&reader, written).await;
            let page = SupportPage {
                chrome,
                receipt: Some(receipt),
            };
            Ok((axum::http::StatusCode::CREATED, render(&page)?))
        }
        Err(errors) => {
            chrome.support = FormState {
                errors: errors
                    .iter()
                    .map(|e| support_error(e, form.phone.trim().is_empty()))
                    .collect(),
                name: form.name,
                phone: form.phone,
                email: form.email,
                question: form.question,
            };
            chrome.support_open = true;
            let page = SupportPage {
                chrome,
                receipt: None,
            };
            Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&page)?))
        }
    }
}

/// A support form's error in the reader's language.
fn support_error(error: &FieldError, no_phone: bool) -> FieldError {
    let message = match error.field.as_str() {
        "name" => "Укажите, как к вам обращаться",
        "phone" if no_phone => "Укажите телефон или e-mail, чтобы мы могли ответить",
        "phone" => "Телефон в формате +7 900 000-00-00",
        "email" => "Проверьте адрес электронной почты",
        "question" => "Напишите вопрос",
        _ => "Проверьте это поле",
    };
    FieldError::new(error.field.clone(), message)
}
