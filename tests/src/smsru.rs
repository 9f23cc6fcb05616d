//! A local stand-in for the SMS.ru gateway, speaking its `POST /sms/send` API (form-encoded,
//! `json=1` answers), so the real adapter is tested over real HTTP.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::post;
use axum::{Form, Json, Router};
use serde_json::{json, Value};

/// A message the stand-in accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub to: String,
    pub msg: String,
    pub from: Option<String>,
}

#[derive(Clone)]
pub struct SmsRuStandIn {
    pub url: String,
    pub api_id: String,
    received: Arc<Mutex<Vec<Received>>>,
}

/// Numbers the stand-in refuses, as the gateway refuses numbers on its stop list.
pub const REFUSED_NUMBER: &str = "79990000000";

impl SmsRuStandIn {
    pub async fn start(api_id: &str) -> Self {
        let received = Arc::new(Mutex::new(vec![]));
        let state = (api_id.to_string(), received.clone());
        let router = Router::new()
            .route("/sms/send", post(send))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self {
            url,
            api_id: api_id.to_string(),
            received,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

type StandInState = (String, Arc<Mutex<Vec<Received>>>);

async fn send(
    State((api_id, received)): State<StandInState>,
    Form(form): Form<HashMap<String, String>>,
) -> Json<Value> {
    if form.get("api_id") != Some(&api_id) {
        return Json(
            json!({"status": "ERROR", "status_code": 200, "status_text": "Неправильный api_id"}),
        );
    }
    if form.get("json").map(String::as_str) != Some("1") {
        return Json(
            json!({"status": "ERROR", "status_code": 100, "status_text": "plain answers are not spoken here"}),
        );
    }
    let (Some(to), Some(msg)) = (form.get("to"), form.get("msg")) else {
        return Json(
            json!({"status": "ERROR", "status_code": 202, "status_text": "Неправильно указан получатель"}),
        );
    };
    let number = if to == REFUSED_NUMBER {
        json!({"status": "ERROR", "status_code": 207, "status_text": "На этот номер нельзя отправлять сообщения"})
    } else {
        received.lock().unwrap().push(Received {
            to: to.clone(),
            msg: msg.clone(),
            from: form.get("from").cloned(),
        });
        json!({"status": "OK", "status_code": 100, "sms_id": "000000-10000000"})
    };
    Json(json!({"status": "OK", "status_code": 100, "sms": {to: number}, "balance": 4122.56}))
}
