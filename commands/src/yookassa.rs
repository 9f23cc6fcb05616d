//! A real payout provider: the payouts API of ЮKassa (`POST /v3/payouts`, `GET
//! /v3/payouts/{id}`, HTTP Basic auth with the gateway id and secret key, `Idempotence-Key`).
//! Cards arrive as ЮKassa card synonyms (`payout_token`, from its payout widget); e-wallets must
//! be ЮMoney wallets. A refusal of the request itself is recorded as the payout's answer, not
//! retried; only an unreachable provider is tried again.

use std::time::Duration;

use async_trait::async_trait;
use k911_aggregates::loan_application::applicant::PayoutMethod;
use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use k911_event_store::outbox::PayoutPurpose;

use crate::payout::{PayoutOrder, PayoutOutcome, PayoutProvider};

/// ЮKassa's API; tests point the adapter at a local stand-in instead.
pub const YOOKASSA_URL: &str = "https://api.yookassa.ru";

pub struct YooKassaPayouts {
    client: reqwest::Client,
    base_url: String,
    gateway_id: String,
    secret_key: String,
    pool: PgPool,
}

#[derive(Debug, Deserialize)]
struct Payout {
    id: String,
    status: String,
    #[serde(default)]
    cancellation_details: Option<Cancellation>,
}

#[derive(Debug, Deserialize)]
struct Cancellation {
    reason: String,
}

impl YooKassaPayouts {
    pub fn new(
        base_url: &str,
        gateway_id: &str,
        secret_key: &str,
        pool: PgPool,
    ) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            gateway_id: gateway_id.to_string(),
            secret_key: secret_key.to_string(),
            pool,
        })
    }

    async fn record(
        &self,
        payout_id: Uuid,
        provider_id: Option<&str>,
        refused: Option<&str>,
    ) -> Result<(), String> {
        sqlx::query(
            "INSERT INTO provider_payouts (payout_id, provider_id, refused) VALUES ($1, $2, $3)
             ON CONFLICT (payout_id) DO NOTHING",
        )
        .bind(payout_id)
        .bind(provider_id)
        .bind(refused)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
    }
}

/// `15000.00`: kopecks as the API's decimal string.
fn rub(kopecks: i64) -> String {
    format!("{}.{:02}", kopecks / 100, kopecks % 100)
}

#[async_trait]
impl PayoutProvider for YooKassaPayouts {
    async fn card_matches(&self, token: &str, masked_pan: &str) -> Result<bool, String> {
        // A card synonym cannot be looked up; ЮKassa checks it when paying out.
        Ok(!token.trim().is_empty() && masked_pan.len() >= 10)
    }

    async fn pay_out(&self, order: &PayoutOrder) -> Result<(), String> {
        let destination = match &order.method {
            PayoutMethod::Card { card_token, .. } => json!({ "payout_token": card_token }),
            PayoutMethod::Ewallet {
                provider,
                wallet_id,
            } if provider == "yoomoney" => json!({
                "payout_destination_data": {"type": "yoo_money", "account_number": wallet_id}
            }),
            PayoutMethod::Ewallet { provider, .. } => {
                let why = format!("ЮKassa pays out to ЮMoney wallets only, not {provider}");
                return self.record(order.payout_id, None, Some(&why)).await;
            }
        };
        let mut body = json!({
            "amount": {"value": rub(order.amount.get()), "currency": "RUB"},
            "description": match order.purpose {
                PayoutPurpose::Loan => "Выдача займа",
                PayoutPurpose::Refund => "Возврат переплаты по займу",
                PayoutPurpose::Commission => "Агентское вознаграждение",
            },
            "metadata": {"loan_id": order.loan_id, "payout_id": order.payout_id},
        });
        if let (Some(body), Some(destination)) = (body.as_object_mut(), destination.as_object()) {
            body.extend(destination.clone());
        }
        let response = self
            .client
            .post(format!("{}/v3/payouts", self.base_url))
            .basic_auth(&self.gateway_id, Some(&self.secret_key))
            // ЮKassa answers a repeated key with the first payout: paid once per id.
            .header("Idempotence-Key", order.payout_id.to_string())
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("ЮKassa unreachable: {}", e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            let payout: Payout = response
                .json()
                .await
                .map_err(|e| format!("ЮKassa answer unreadable: {}", e.without_url()))?;
            return self.record(order.payout_id, Some(&payout.id), None).await;
        }
        if status.is_client_error() && status.as_u16() != 401 && status.as_u16() != 429 {
            // The request itself was refused (bad token, limits): that is the payout's answer.
            let why = format!("ЮKassa refused the payout (HTTP {})", status.as_u16());
            return self.record(order.payout_id, None, Some(&why)).await;
        }
        Err(format!("ЮKassa answered HTTP {status}; will try again"))
    }

    async fn outcome(&self, payout_id: Uuid) -> Result<PayoutOutcome, String> {
        let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT provider_id, refused FROM provider_payouts WHERE payout_id = $1",
        )
        .bind(payout_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| e.to_string())?;
        let provider_id = match row {
            None => return Ok(PayoutOutcome::Pending),
            Some((_, Some(refused))) => return Ok(PayoutOutcome::Failed(refused)),
            Some((Some(id), None)) => id,
            Some((None, None)) => return Ok(PayoutOutcome::Pending),
        };
        let response = self
            .client
            .get(format!("{}/v3/payouts/{provider_id}", self.base_url))
            .basic_auth(&self.gateway_id, Some(&self.secret_key))
            .send()
            .await
            .map_err(|e| format!("ЮKassa unreachable: {}", e.without_url()))?;
        if !response.status().is_success() {
            return Err(format!("ЮKassa answered HTTP {}", response.status()));
        }
        let payout: Payout = response
            .json()
            .await
            .map_err(|e| format!("ЮKassa answer unreadable: {}", e.without_url()))?;
        Ok(match payout.status.as_str() {
            "succeeded" => PayoutOutcome::Paid,
            "canceled" => PayoutOutcome::Failed(
                payout
                    .cancellation_details
                    .map_or("canceled".to_string(), |c| c.reason),
            ),
            _ => PayoutOutcome::Pending,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kopecks_are_written_as_the_apis_decimal_roubles() {
        assert_eq!(rub(1_500_000), "15000.00");
        assert_eq!(rub(105), "1.05");
    }
}
