//! The production SMS driver: the HTTP API of SMS.ru (`POST /sms/send`, form-encoded, `json=1`).
//! <https://sms.ru/api/send>. An answer of status `OK` for the number means the gateway took
//! the message; anything else is an error for the dispatcher to retry. Errors never carry the
//! number or the text: they end up in logs.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use k911_aggregates::values::Phone;
use serde::Deserialize;

use crate::notify::SmsSender;

/// The public endpoint; tests point the adapter at a local stand-in instead.
pub const SMSRU_URL: &str = "https://sms.ru";

pub struct SmsRu {
    client: reqwest::Client,
    base_url: String,
    api_id: String,
    /// An approved sender name; the gateway's default when `None`.
    from: Option<String>,
}

impl SmsRu {
    pub fn new(base_url: &str, api_id: &str, from: Option<String>) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            api_id: api_id.to_string(),
            from,
        })
    }
}

/// The gateway's answer (only what is checked).
#[derive(Debug, Deserialize)]
struct Answer {
    status: String,
    status_code: i32,
    #[serde(default)]
    status_text: Option<String>,
    #[serde(default)]
    sms: HashMap<String, NumberAnswer>,
}

#[derive(Debug, Deserialize)]
struct NumberAnswer {
    status: String,
    status_code: i32,
    #[serde(default)]
    status_text: Option<String>,
}

#[async_trait]
impl SmsSender for SmsRu {
    async fn send_sms(&self, to: &Phone, text: &str) -> Result<(), String> {
        // SMS.ru takes numbers without the plus.
        let number = to.as_str().trim_start_matches('+');
        let mut form = vec![
            ("api_id", self.api_id.as_str()),
            ("to", number),
            ("msg", text),
            ("json", "1"),
        ];
        if let Some(from) = &self.from {
            form.push(("from", from));
        }
        let response = self
            .client
            .post(format!("{}/sms/send", self.base_url))
            .form(&form)
            .send()
            .await
            // reqwest's error names the URL only, never the form.
            .map_err(|e| format!("sms.ru unreachable: {}", e.without_url()))?;
        if !response.status().is_success() {
            return Err(format!("sms.ru answered HTTP {}", response.status()));
        }
        let answer: Answer = response
            .json()
            .await
            .map_err(|e| format!("sms.ru answer unreadable: {}", e.without_url()))?;
        if answer.status != "OK" {
            return Err(format!(
                "sms.ru refused the request: {} {}",
                answer.status_code,
                answer.status_text.unwrap_or_default()
            ));
        }
        match answer.sms.get(number) {
            Some(n) if n.status == "OK" => Ok(()),
            Some(n) => Err(format!(
                "sms.ru refused the message: {} {}",
                n.status_code,
                n.status_text.clone().unwrap_or_default()
            )),
            None => Err("sms.ru answered without the number's status".to_string()),
        }
    }
}
