//! Public content (FAQ, documents, contacts) and its management by staff.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json as JsonResponse;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::NaiveDate;
use k911_aggregates::loan_application::consents::Consent;
use k911_aggregates::values::{MessageText, Title};
use k911_commands::content::{Content, MAX_DOCUMENT_BYTES};
use k911_commands::onboarding::Onboarding;
use k911_projections::Reader;
use serde::{Deserialize, Serialize};
use strum::VariantArray;
use uuid::Uuid;

use crate::auth::{Admin, Editor};
use crate::error::{ApiError, FieldError};
use crate::extract::{IdPath, Json, Page};
use crate::AppState;

/// Who manages public content.

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct FaqItem {
    id: Uuid,
    question: String,
    answer: String,
}

#[utoipa::path(get, path = "/api/v1/faq", tag = "content", params(("limit" = Option<i64>, Query, description = "1..1000, default 100"), ("offset" = Option<i64>, Query, description = "default 0")), responses((status = 200, body = Vec<FaqItem>)))]
pub(crate) async fn faq(
    State(reader): State<Reader>,
    page: Page,
) -> Result<JsonResponse<Vec<FaqItem>>, ApiError> {
    let rows = reader.faq(page.limit, page.offset).await?;
    Ok(JsonResponse(
        rows.into_iter()
            .map(|r| FaqItem {
                id: r.faq_id,
                question: r.question,
                answer: r.answer,
            })
            .collect(),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaqRequest {
    question: String,
    answer: String,
}

impl FaqRequest {
    fn parse(self) -> Result<(MessageText, MessageText), ApiError> {
        match (
            MessageText::parse(&self.question),
            MessageText::parse(&self.answer),
        ) {
            (Ok(q), Ok(a)) => Ok((q, a)),
            (q, a) => Err(ApiError::Invalid(
                [
                    q.err().map(|e| FieldError::new("question", e)),
                    a.err().map(|e| FieldError::new("answer", e)),
                ]
                .into_iter()
                .flatten()
                .collect(),
            )),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Changed {
    id: Uuid,
    position: i64,
}

impl From<k911_commands::Written> for Changed {
    fn from(w: k911_commands::Written) -> Self {
        Self {
            id: w.id,
            position: w.position,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/staff/faq", tag = "content", security(("bearer" = [])), request_body = FaqRequest, responses((status = 201, body = Changed), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn publish_faq(
    State(content): State<Content>,
    Editor(caller): Editor,
    Json(body): Json<FaqRequest>,
) -> Result<(StatusCode, JsonResponse<Changed>), ApiError> {
    let (question, answer) = body.parse()?;
    let written = content.publish_faq(question, answer, &caller.meta).await?;
    Ok((StatusCode::CREATED, JsonResponse(written.into())))
}

#[utoipa::path(put, path = "/api/v1/staff/faq/{id}", tag = "content", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), request_body = FaqRequest, responses((status = 200, body = Changed), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn edit_faq(
    State(content): State<Content>,
    Editor(caller): Editor,
    IdPath(id): IdPath,
    Json(body): Json<FaqRequest>,
) -> Result<JsonResponse<Changed>, ApiError> {
    let (question, answer) = body.parse()?;
    let written = content.edit_faq(id, question, answer, &caller.meta).await?;
    Ok(JsonResponse(written.into()))
}

#[utoipa::path(delete, path = "/api/v1/staff/faq/{id}", tag = "content", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), responses((status = 200, body = Changed), (status = 404, body = crate::error::Problem)))]
pub(crate) async fn withdraw_faq(
    State(content): State<Content>,
    Editor(caller): Editor,
    IdPath(id): IdPath,
) -> Result<JsonResponse<Changed>, ApiError> {
    let written = content.withdraw_faq(id, &caller.meta).await?;
    Ok(JsonResponse(written.into()))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DocumentItem {
    id: Uuid,
    title: String,
    content_type: String,
    url: String,
    published_on: NaiveDate,
}

#[utoipa::path(get, path = "/api/v1/documents", tag = "content", params(("limit" = Option<i64>, Query, description = "1..1000, default 100"), ("offset" = Option<i64>, Query, description = "default 0")), responses((status = 200, body = Vec<DocumentItem>)))]
pub(crate) async fn documents(
    State(reader): State<Reader>,
    page: Page,
) -> Result<JsonResponse<Vec<DocumentItem>>, ApiError> {
    let rows = reader.documents(page.limit, page.offset).await?;
    Ok(JsonResponse(
        rows.into_iter()
            .map(|r| DocumentItem {
                url: format!("/api/v1/documents/{}/file", r.document_id),
                id: r.document_id,
                title: r.title,
                content_type: r.content_type,
                published_on: r.published_on,
            })
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/documents/{id}/file", tag = "content", params(("id" = uuid::Uuid, Path)), responses((status = 200, description = "The PDF", content_type = "application/pdf"), (status = 404, body = crate::error::Problem)))]
pub(crate) async fn document_file(
    State(reader): State<Reader>,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    let (row, bytes) = reader.document_file(id).await?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&row.content_type).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("inline; filename=\"{}.pdf\"", row.document_id))
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    // Content-addressed: the bytes of a document id never change.
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&format!("\"{}\"", row.sha256))
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(response)
}

/// A document to publish: a title, and a PDF within the size limit (`file_field` names where
/// its bytes came from). Every failure at once.
pub(crate) fn checked_document(
    title: &str,
    bytes: Result<Vec<u8>, &'static str>,
    file_field: &str,
) -> Result<(Title, Vec<u8>), ApiError> {
    let mut errors = vec![];
    let title = Title::parse(title)
        .map_err(|e| errors.push(FieldError::new("title", e)))
        .ok();
    let bytes = match bytes {
        Err(why) => {
            errors.push(FieldError::new(file_field, why));
            None
        }
        Ok(bytes) if !bytes.starts_with(b"%PDF-") => {
            errors.push(FieldError::new(file_field, "must be a PDF document"));
            None
        }
        Ok(bytes) if bytes.len() > MAX_DOCUMENT_BYTES => {
            errors.push(FieldError::new(
                file_field,
                format!("must be at most {MAX_DOCUMENT_BYTES} bytes"),
            ));
            None
        }
        Ok(bytes) => Some(bytes),
    };
    match (title, bytes) {
        (Some(title), Some(bytes)) => Ok((title, bytes)),
        _ => Err(ApiError::Invalid(errors)),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DocumentUpload {
    title: String,
    #[serde(default)]
    published_on: Option<NaiveDate>,
    /// The PDF, base64.
    content_base64: String,
}

#[utoipa::path(post, path = "/api/v1/staff/documents", tag = "content", security(("bearer" = [])), request_body = DocumentUpload, responses((status = 201, body = Changed), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn upload_document(
    State(content): State<Content>,
    Admin(caller): Admin,
    Json(body): Json<DocumentUpload>,
) -> Result<(StatusCode, JsonResponse<Changed>), ApiError> {
    let bytes = B64
        .decode(body.content_base64.trim())
        .map_err(|_| "must be base64");
    let (title, bytes) = checked_document(&body.title, bytes, "content_base64")?;
    let written = content
        .upload_document(title, body.published_on, &bytes, &caller.meta)
        .await?;
    Ok((StatusCode::CREATED, JsonResponse(written.into())))
}

#[utoipa::path(delete, path = "/api/v1/staff/documents/{id}", tag = "content", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), responses((status = 200, body = Changed), (status = 404, body = crate::error::Problem)))]
pub(crate) async fn withdraw_document(
    State(content): State<Content>,
    Admin(caller): Admin,
    IdPath(id): IdPath,
) -> Result<JsonResponse<Changed>, ApiError> {
    let written = content.withdraw_document(id, &caller.meta).await?;
    Ok(JsonResponse(written.into()))
}

/// How customers reach support; from configuration.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Contacts {
    pub hotline: String,
    pub whatsapp: String,
    pub support_hours: String,
}

#[utoipa::path(get, path = "/api/v1/contacts", tag = "content", responses((status = 200, body = Contacts)))]
pub(crate) async fn contacts(State(state): State<AppState>) -> JsonResponse<Contacts> {
    JsonResponse(state.contacts.as_ref().clone())
}

/// One consent's text in force.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ConsentText {
    /// `personal_data` | `credit_history_check` | `terms`
    consent: &'static str,
    document_id: Uuid,
    /// SHA-256 of the text's file: send it back in the application's `consents.versions`.
    version: String,
    /// The text as a PDF.
    url: String,
}

/// The texts the application's consents are given to, in their versions in force.
#[utoipa::path(get, path = "/api/v1/consents", tag = "content", responses((status = 200, body = Vec<ConsentText>)))]
pub(crate) async fn consents(
    State(onboarding): State<Onboarding>,
) -> Result<JsonResponse<Vec<ConsentText>>, ApiError> {
    let texts = onboarding.consent_texts().await?;
    Ok(JsonResponse(
        Consent::VARIANTS
            .iter()
            .map(|&consent| {
                let text = texts.of(consent);
                ConsentText {
                    consent: consent.as_str(),
                    document_id: text.document_id,
                    version: text.sha256.clone(),
                    url: format!("/api/v1/documents/{}/file", text.document_id),
                }
            })
            .collect(),
    ))
}
