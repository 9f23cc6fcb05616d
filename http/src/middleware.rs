//! Cross-cutting request handling: tracing spans, `X-Min-Position`, `Idempotency-Key`.

use axum::body::{to_bytes, Body};
use axum::extract::{MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use k911_commands::metrics::{RequestLabels, RouteLabels};
use k911_commands::CommandMeta;
use k911_event_store::follower::FollowerError;
use k911_event_store::idempotency::{self, Reservation};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ApiError;
use crate::{AppState, MIN_POSITION_WAIT};

/// The route that takes documents (PDF as base64), and its body limit; every other route takes
/// [`crate::BODY_LIMIT`].
pub(crate) const DOCUMENT_UPLOAD: &str = "/api/v1/staff/documents";
/// A PDF of 10 MiB is about 14 MiB of base64.
pub(crate) const DOCUMENT_BODY_LIMIT: usize = 15 * 1024 * 1024;

/// One span per request with its id, method and route; never a body, header or query value that
/// might carry personal data.
pub(crate) fn span(request: &Request) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", request_id, method = %request.method(), path = %request.uri().path())
}

/// The metadata recorded with the events a request causes.
pub(crate) fn request_meta(parts: &Parts, channel: &'static str) -> CommandMeta {
    CommandMeta {
        request_id: parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        client_ip: parts
            .extensions
            .get::<crate::limits::ClientAddr>()
            .map(|client| client.0),
        channel,
        ..CommandMeta::default()
    }
}

/// `X-Min-Position: n` on a GET waits (up to 5 s) until the read models have applied event `n`;
/// a position beyond the log's head is 422 at once.
pub(crate) async fn min_position(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == Method::GET {
        if let Some(raw) = request.headers().get("x-min-position") {
            let position = match raw.to_str().ok().and_then(|v| v.trim().parse::<i64>().ok()) {
                Some(n) if n >= 0 => n,
                _ => {
                    return ApiError::Malformed(
                        "X-Min-Position must be a non-negative integer".into(),
                    )
                    .into_response()
                }
            };
            match state
                .app
                .followers
                .wait_for(position, MIN_POSITION_WAIT)
                .await
            {
                Ok(()) => {}
                Err(error @ FollowerError::BeyondHead(_)) => {
                    return ApiError::invalid("X-Min-Position", error).into_response()
                }
                Err(error) => return ApiError::Unavailable(error.to_string()).into_response(),
            }
        }
    }
    next.run(request).await
}

/// `Idempotency-Key` on a POST/PUT/DELETE: the first answer is stored (sealed) and replayed for
/// the same request; the same key with a different request is 422. It runs after routing (an
/// unknown route reserves nothing) and after authentication: a request with a bearer token that
/// names no session goes to its handler (401) without touching the keys, and the keys of a
/// logged-in caller are theirs, whatever token they use. The body is read up to the route's own
/// limit, and a key is kept for a day.
pub(crate) async fn idempotency(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(raw) = request.headers().get("idempotency-key") else {
        return next.run(request).await;
    };
    if request.method() == Method::GET {
        return next.run(request).await;
    }
    let Some(key) = raw
        .to_str()
        .ok()
        .and_then(|v| Uuid::parse_str(v.trim()).ok())
    else {
        return ApiError::Malformed("Idempotency-Key must be a UUID".into()).into_response();
    };
    let scope = match crate::auth::bearer_of(request.headers()) {
        None => "anonymous".to_string(),
        Some(token) => match state.app.access.authenticate(token).await {
            Ok(Some(principal)) => principal.account_id.to_string(),
            // The handler answers 401; nothing is reserved for a caller we do not know.
            Ok(None) => return next.run(request).await,
            Err(e) => return ApiError::from(e).into_response(),
        },
    };
    let limit = match request.extensions().get::<MatchedPath>() {
        Some(path) if path.as_str() == DOCUMENT_UPLOAD => DOCUMENT_BODY_LIMIT,
        _ => crate::BODY_LIMIT,
    };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, limit).await else {
        return ApiError::TooLarge.into_response();
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update([0]);
    hasher.update(parts.uri.path());
    hasher.update([0]);
    hasher.update(&bytes);
    let request_hash = hasher.finalize();
    let pool = &state.app.core.db.sqlx;
    let keys = &state.app.core.keys;
    match idempotency::reserve(pool, &scope, key, &request_hash).await {
        Err(e) => ApiError::from(k911_commands::Error::from(e)).into_response(),
        Ok(Reservation::Mismatch) => ApiError::Unprocessable(
            "this Idempotency-Key was already used for a different request".into(),
        )
        .into_response(),
        Ok(Reservation::InProgress) => {
            ApiError::Conflict("a request with this Idempotency-Key is still running".into())
                .into_response()
        }
        Ok(Reservation::Replay { status, body }) => match keys.open_answer(key, &body) {
            Some(body) => replay(status, body),
            None => {
                ApiError::Internal("a stored answer could not be opened".into()).into_response()
            }
        },
        Ok(Reservation::Reserved) => {
            let response = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            let status = response.status();
            let (head, body) = response.into_parts();
            let Ok(body) = to_bytes(body, usize::MAX).await else {
                let _ = idempotency::release(pool, &scope, key).await;
                return ApiError::Internal("response body could not be read".into())
                    .into_response();
            };
            // Our own failures are not final answers: free the key so the client may retry.
            let stored = if status.is_server_error() {
                idempotency::release(pool, &scope, key).await
            } else {
                let sealed = keys.seal_answer(key, &body);
                idempotency::complete(pool, &scope, key, status.as_u16(), &sealed).await
            };
            if let Err(e) = stored {
                tracing::error!(error = %e, "idempotency answer not stored");
            }
            Response::from_parts(head, Body::from(body))
        }
    }
}

fn replay(status: u16, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let content_type = if status.is_success() {
        "application/json"
    } else {
        "application/problem+json"
    };
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// Counts every answer and its latency by route template.
pub(crate) async fn metrics(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    let metrics = &state.app.core.metrics;
    metrics
        .latency
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}
