//! The back office's other sections: payments no loan could take (support and admins match
//! them), the site's FAQ and documents, and for admins the effects that need a person.

use askama::Template;
use axum::extract::{Multipart, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use k911_aggregates::values::{MessageText, Role};
use k911_commands::content::Content;
use k911_commands::effects::Effects;
use k911_commands::payments::Payments;
use k911_commands::Error as AppError;
use k911_event_store::outbox::EffectStatus;
use k911_projections::Reader;
use serde::Deserialize;
use uuid::Uuid;

use super::csrf::{matches_cookie, CheckedForm, WithCsrf};
use super::format;
use super::forms::{CsrfForm, TextForm};
use super::frame::{Frame, Visit};
use super::session::Signed;
use super::PageError;
use crate::error::ApiError;
use crate::extract::IdPath;
use crate::routes::content::checked_document;

/// Who edits content and matches payments.
const EDITORS: [Role; 2] = [Role::Support, Role::Admin];

pub(crate) struct UnmatchedCard {
    id: Uuid,
    channel: &'static str,
    amount: String,
    paid_at: String,
    typed_contract: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "staff_payments.html")]
struct PaymentsPage {
    frame: Frame,
    rows: Vec<UnmatchedCard>,
}

/// `/staff/payments`: money received that no loan could take, oldest first.
pub(crate) async fn payments(
    State(reader): State<Reader>,
    visit: Visit,
) -> Result<Response, PageError> {
    let visit = visit.of(&EDITORS)?;
    let rows = reader.unmatched_payments(100, 0).await?;
    let page = PaymentsPage {
        frame: visit.frame(),
        rows: rows
            .into_iter()
            .map(|p| UnmatchedCard {
                id: p.payment_id,
                channel: match p.channel {
                    k911_aggregates::incoming_payment::PaymentChannel::SberbankOnline => {
                        "Сбербанк Онлайн"
                    }
                    k911_aggregates::incoming_payment::PaymentChannel::Terminal => "терминал",
                },
                amount: format::money(p.amount_kopecks),
                paid_at: format::moment(p.paid_at),
                typed_contract: p.contract_number,
                reason: p.reason,
            })
            .collect(),
    };
    visit.answer(&page)
}

/// `POST /staff/payments/{id}/match`: the payment goes to the loan of the contract named.
pub(crate) async fn match_payment(
    State(payments): State<Payments>,
    signed: Signed,
    IdPath(id): IdPath,
    CheckedForm(form): CheckedForm<TextForm>,
) -> Result<Response, PageError> {
    let caller = signed.require(&EDITORS)?;
    let done = match payments
        .match_payment(
            id,
            form.text.trim(),
            caller.principal.account_id,
            &caller.meta,
        )
        .await
    {
        Ok(_) => "matched",
        Err(AppError::NotFound) => "no_contract",
        Err(other) => match ApiError::from(other) {
            ApiError::Conflict(_) | ApiError::Invalid(_) | ApiError::Unprocessable(_) => {
                "match_refused"
            }
            other => return Err(other.into()),
        },
    };
    Ok(Redirect::to(&format!("/staff/payments?done={done}")).into_response())
}

#[derive(Template)]
#[template(path = "staff_content.html")]
struct ContentPage {
    frame: Frame,
    faq: Vec<(Uuid, String)>,
    documents: Vec<(Uuid, String)>,
    admin: bool,
}

/// `/staff/content`: the FAQ and the "Documents" section.
pub(crate) async fn content(
    State(reader): State<Reader>,
    visit: Visit,
) -> Result<Response, PageError> {
    let visit = visit.of(&EDITORS)?;
    let caller = &visit.caller;
    let faq = reader.faq(1000, 0).await?;
    let documents = reader.documents(1000, 0).await?;
    let page = ContentPage {
        admin: caller.principal.role == Role::Admin,
        frame: visit.frame(),
        faq: faq.into_iter().map(|f| (f.faq_id, f.question)).collect(),
        documents: documents
            .into_iter()
            .map(|d| (d.document_id, d.title))
            .collect(),
    };
    visit.answer(&page)
}

#[derive(Deserialize)]
pub(crate) struct FaqForm {
    csrf: String,
    question: String,
    answer: String,
}

impl WithCsrf for FaqForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /staff/content/faq`.
pub(crate) async fn publish_faq(
    State(content): State<Content>,
    signed: Signed,
    CheckedForm(form): CheckedForm<FaqForm>,
) -> Result<Response, PageError> {
    let caller = signed.require(&EDITORS)?;
    let (Ok(question), Ok(answer)) = (
        MessageText::parse(&form.question),
        MessageText::parse(&form.answer),
    ) else {
        return Ok(Redirect::to("/staff/content?done=faq_incomplete").into_response());
    };
    content.publish_faq(question, answer, &caller.meta).await?;
    Ok(Redirect::to("/staff/content?done=saved").into_response())
}

/// `POST /staff/content/faq/{id}/withdraw`.
pub(crate) async fn withdraw_faq(
    State(content): State<Content>,
    signed: Signed,
    IdPath(id): IdPath,
    CheckedForm(_): CheckedForm<CsrfForm>,
) -> Result<Response, PageError> {
    let caller = signed.require(&EDITORS)?;
    content.withdraw_faq(id, &caller.meta).await?;
    Ok(Redirect::to("/staff/content?done=saved").into_response())
}

/// `POST /staff/content/documents` (admins): a PDF published in "Документы", checked as the
/// API checks an upload.
pub(crate) async fn upload_document(
    State(content): State<Content>,
    signed: Signed,
    jar: CookieJar,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Admin])?;
    let (mut csrf, mut title, mut file) = (String::new(), String::new(), None);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|_| PageError::BadForm)?
    {
        match field.name() {
            Some("csrf") => csrf = field.text().await.map_err(|_| PageError::BadForm)?,
            Some("title") => title = field.text().await.map_err(|_| PageError::BadForm)?,
            Some("file") => {
                file = Some(
                    field
                        .bytes()
                        .await
                        .map_err(|_| PageError::BadForm)?
                        .to_vec(),
                )
            }
            _ => {}
        }
    }
    if !matches_cookie(&jar, &csrf) {
        return Err(PageError::StaleForm);
    }
    let bytes = file.filter(|f| !f.is_empty()).ok_or("must be given");
    let done = match checked_document(&title, bytes, "file") {
        Ok((title, bytes)) => {
            content
                .upload_document(title, None, &bytes, &caller.meta)
                .await?;
            "saved"
        }
        Err(ApiError::Invalid(_)) => "document_refused",
        Err(other) => return Err(other.into()),
    };
    Ok(Redirect::to(&format!("/staff/content?done={done}")).into_response())
}

/// `POST /staff/content/documents/{id}/withdraw` (admins).
pub(crate) async fn withdraw_document(
    State(content): State<Content>,
    signed: Signed,
    IdPath(id): IdPath,
    CheckedForm(_): CheckedForm<CsrfForm>,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Admin])?;
    content.withdraw_document(id, &caller.meta).await?;
    Ok(Redirect::to("/staff/content?done=saved").into_response())
}

#[derive(Template)]
#[template(path = "staff_effects.html")]
struct EffectsPage {
    frame: Frame,
    /// Id, kind, attempts, last error, created.
    rows: Vec<(Uuid, &'static str, i32, String, String)>,
}

/// `/staff/effects`: the dead effects, for an admin to give another round.
pub(crate) async fn effects(
    State(effects): State<Effects>,
    visit: Visit,
) -> Result<Response, PageError> {
    let visit = visit.of(&[Role::Admin])?;
    let rows = effects.list(EffectStatus::Dead, 100, 0).await?;
    let page = EffectsPage {
        frame: visit.frame(),
        rows: rows
            .into_iter()
            .map(|e| {
                (
                    e.id,
                    e.kind.as_str(),
                    e.attempts,
                    e.last_error.unwrap_or_default(),
                    format::moment(e.created_at),
                )
            })
            .collect(),
    };
    visit.answer(&page)
}

/// `POST /staff/effects/{id}/retry`.
pub(crate) async fn retry_effect(
    State(effects): State<Effects>,
    signed: Signed,
    IdPath(id): IdPath,
    CheckedForm(_): CheckedForm<CsrfForm>,
) -> Result<Response, PageError> {
    signed.require(&[Role::Admin])?;
    let done = match effects.retry(id).await {
        Ok(()) => "retried",
        Err(AppError::PayoutTooOldToRetry) => "too_old",
        Err(AppError::NotDead) => "not_dead",
        Err(other) => return Err(other.into()),
    };
    Ok(Redirect::to(&format!("/staff/effects?done={done}")).into_response())
}
