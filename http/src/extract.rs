//! Extractors whose rejections are problem documents naming the field at fault.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::{ApiError, FieldError};
use crate::AppState;

/// A JSON body. Not JSON: 400. Wrong content type: 415. Too large: 413. Wrong shape (missing or
/// unknown field, wrong type): 422 naming the field.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let RawJson(bytes) = RawJson::from_request(req, state).await?;
        parse_json(&bytes).map(Json)
    }
}

/// The bytes of a JSON body, unparsed: for bodies whose signature is checked over the exact
/// bytes before anything in them is trusted. Content type and size are checked as for [`Json`].
pub struct RawJson(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| match e {
            BytesRejection::FailedToBufferBody(inner)
                if inner.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                ApiError::TooLarge
            }
            other => ApiError::Malformed(other.body_text()),
        })?;
        Ok(RawJson(bytes))
    }
}

/// A JSON body that may be left out entirely (an empty body reads as `T::default()`).
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let empty = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .is_some_and(|len| len == "0")
            || (req.headers().get(CONTENT_TYPE).is_none()
                && !req
                    .headers()
                    .contains_key(axum::http::header::TRANSFER_ENCODING));
        if empty {
            return Ok(Self(T::default()));
        }
        Json::from_request(req, state).await.map(|Json(v)| Self(v))
    }
}

/// Deserializes a JSON document, telling syntax errors (400) from shape errors (422). A string
/// holding U+0000 is refused naming its field: no text column or `jsonb` value can keep it.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let document: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::Malformed(format!("the body is not valid JSON: {e}")))?;
    if let Some(field) = nul_in(&document, "") {
        let field = if field.is_empty() {
            "body".to_string()
        } else {
            field
        };
        return Err(ApiError::invalid(
            &field,
            "must not contain the NUL character (U+0000)",
        ));
    }
    serde_path_to_error::deserialize(document).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = strip_position(&inner.to_string());
        ApiError::Invalid(vec![FieldError::new(field_name(&path, &message), message)])
    })
}

/// The path (`a.b[0]`) of the first key or string that holds U+0000, if one does.
fn nul_in(value: &serde_json::Value, path: &str) -> Option<String> {
    match value {
        serde_json::Value::String(text) => text.contains('\0').then(|| path.to_string()),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_in(item, &format!("{path}[{i}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let inner = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if key.contains('\0') {
                return Some(inner);
            }
            nul_in(item, &inner)
        }),
        _ => None,
    }
}

/// serde reports a missing field at the path of its parent, naming the field in the message.
fn field_name(path: &str, message: &str) -> String {
    let named = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (path, named) {
        (".", Some(name)) => name.to_string(),
        (parent, Some(name)) => format!("{parent}.{name}"),
        (".", None) => "body".to_string(),
        (path, None) => path.to_string(),
    }
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// A UUID in the path; anything else names nothing that exists (404).
pub struct IdPath(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<Uuid>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| IdPath(id))
            .map_err(|_| ApiError::NotFound("resource"))
    }
}

/// `?limit=N&offset=M`: default 100, at most 1000.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        #[derive(Deserialize)]
        struct Raw {
            limit: Option<String>,
            offset: Option<String>,
        }
        let Query(raw) = Query::<Raw>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::Malformed(e.body_text()))?;
        let number = |field: &str, value: Option<String>, default: i64, max: i64| match value {
            None => Ok(default),
            Some(text) => match text.parse::<i64>() {
                Ok(n) if (0..=max).contains(&n) => Ok(n),
                _ => Err(FieldError::new(
                    field,
                    format!("must be a whole number from 0 to {max}"),
                )),
            },
        };
        let limit = number("limit", raw.limit, 100, 1000);
        let offset = number("offset", raw.offset, 0, i64::MAX);
        match (limit, offset) {
            (Ok(limit), Ok(offset)) => Ok(Page { limit, offset }),
            (limit, offset) => Err(ApiError::Invalid(
                [limit.err(), offset.err()].into_iter().flatten().collect(),
            )),
        }
    }
}

/// Keeps a parsed value, or notes why the field is wrong: every field of a form is checked and
/// every failure reported at once.
pub(crate) fn check<T, E: ToString>(
    errors: &mut Vec<crate::error::FieldError>,
    field: &str,
    result: Result<T, E>,
) -> Option<T> {
    result
        .map_err(|e| errors.push(crate::error::FieldError::new(field, e)))
        .ok()
}

/// An optional text field left blank counts as not given.
pub(crate) fn given(field: Option<String>) -> Option<String> {
    field.filter(|v| !v.trim().is_empty())
}

/// Today in Moscow by the service's clock: the day forms are checked against and overdue days
/// counted to.
pub(crate) struct Today(pub chrono::NaiveDate);

impl FromRequestParts<AppState> for Today {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Today(k911_commands::clock::moscow_date(
            state.app.core.clock.now(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Form {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: i64,
    }

    fn field_of(body: &str) -> String {
        match parse_json::<Form>(body.as_bytes()) {
            Err(ApiError::Invalid(errors)) => errors[0].field.clone(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn shape_errors_name_the_field() {
        assert_eq!(field_of(r#"{}"#), "name");
        assert_eq!(field_of(r#"{"name": "a", "extra": 1}"#), "extra");
        assert_eq!(field_of(r#"{"name": 5}"#), "name");
        assert_eq!(field_of(r#"{"name": "a", "inner": {"n": "x"}}"#), "inner.n");
        assert_eq!(
            field_of(r#"{"name": "a", "inner": {"n": 1, "m": 2}}"#),
            "inner.m"
        );
    }

    #[test]
    fn syntax_errors_are_malformed() {
        assert!(matches!(
            parse_json::<Form>(b"{"),
            Err(ApiError::Malformed(_))
        ));
        assert!(matches!(
            parse_json::<Form>(br#"{"name":"a"} x"#),
            Err(ApiError::Malformed(_))
        ));
    }
}
