//! A local stand-in for ЮKassa's payouts API (`POST /v3/payouts`, `GET /v3/payouts/{id}`): Basic
//! auth, `Idempotence-Key` (a repeated key gets the first payout back), payouts pending until
//! asked about once, then succeeded — or canceled for the synonym [`DECLINED_TOKEN`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

pub const GATEWAY: &str = "506751";
pub const SECRET: &str = "test_secret_key";
/// A card synonym whose payouts the bank cancels.
pub const DECLINED_TOKEN: &str = "declined-synonym";
/// A card synonym ЮKassa refuses outright (400).
pub const INVALID_TOKEN: &str = "not-a-synonym";

#[derive(Default)]
struct Book {
    by_key: HashMap<String, String>,
    payouts: HashMap<String, (Value, u32)>,
}

#[derive(Clone)]
pub struct YooKassaStandIn {
    pub url: String,
    book: Arc<Mutex<Book>>,
}

impl YooKassaStandIn {
    pub async fn start() -> Self {
        let book = Arc::new(Mutex::new(Book::default()));
        let router = Router::new()
            .route("/v3/payouts", post(create))
            .route("/v3/payouts/{id}", get(status))
            .with_state(book.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { url, book }
    }

    /// The payout bodies received, one per distinct idempotence key.
    pub fn payouts(&self) -> Vec<Value> {
        self.book
            .lock()
            .unwrap()
            .payouts
            .values()
            .map(|(body, _)| body.clone())
            .collect()
    }
}

type Shared = Arc<Mutex<Book>>;

fn authorised(headers: &HeaderMap) -> bool {
    let expected = format!("Basic {}", B64.encode(format!("{GATEWAY}:{SECRET}")));
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str())
}

fn error(status: StatusCode, code: &str) -> Response {
    (status, Json(json!({"type": "error", "code": code}))).into_response()
}

async fn create(
    State(book): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !authorised(&headers) {
        return error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let Some(key) = headers.get("idempotence-key").and_then(|v| v.to_str().ok()) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    if body["amount"]["currency"] != "RUB" || body["amount"]["value"].as_str().is_none() {
        return error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    if body["payout_token"] == INVALID_TOKEN {
        return error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let mut book = book.lock().unwrap();
    let id = match book.by_key.get(key) {
        Some(id) => id.clone(),
        None => {
            let id = format!("po-{}", uuid::Uuid::new_v4().simple());
            book.by_key.insert(key.to_string(), id.clone());
            book.payouts.insert(id.clone(), (body, 0));
            id
        }
    };
    Json(json!({"id": id, "status": "pending"})).into_response()
}

async fn status(
    State(book): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !authorised(&headers) {
        return error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let mut book = book.lock().unwrap();
    let Some((body, asked)) = book.payouts.get_mut(&id) else {
        return error(StatusCode::NOT_FOUND, "not_found");
    };
    *asked += 1;
    let answer = if *asked == 1 {
        json!({"id": id, "status": "pending"})
    } else if body["payout_token"] == DECLINED_TOKEN {
        json!({"id": id, "status": "canceled",
               "cancellation_details": {"party": "issuer", "reason": "rejected_by_issuer"}})
    } else {
        json!({"id": id, "status": "succeeded"})
    };
    Json(answer).into_response()
}
