//! Repayment notifications from outside channels (Sberbank Online, terminals), signed per channel
//! with HMAC-SHA256 over the exact body.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json as JsonResponse;
use chrono::{DateTime, Utc};
use k911_aggregates::incoming_payment::PaymentChannel;
use k911_commands::payments::Payments;
use k911_commands::CommandMeta;
use k911_projections::Reader;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Editor;
use crate::error::{ApiError, FieldError};
use crate::extract::{parse_json, IdPath, Json, Page, RawJson};
use crate::routes::support::PublicMeta;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Notification {
    /// `sberbank_online` | `terminal`
    #[schema(value_type = String)]
    channel: PaymentChannel,
    /// The channel's own id of the payment: each is applied once.
    external_id: String,
    /// As the payer typed it; dashes and spaces do not matter.
    contract_number: String,
    amount_kopecks: i64,
    paid_at: DateTime<Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PaymentAnswer {
    /// `applied` | `duplicate` | `unmatched`
    pub(crate) status: &'static str,
    payment_id: Uuid,
    position: i64,
}

/// Just enough of the body to know whose secret signs it.
#[derive(Deserialize)]
struct Channel {
    channel: PaymentChannel,
}

/// A channel reports a repayment. The signature (`X-Signature`: hex HMAC-SHA256 of the raw body
/// under the channel's secret) is checked before anything else; a bad one stores nothing.
#[utoipa::path(post, path = "/api/v1/payments/notifications", tag = "payments", request_body = Notification, params(("X-Signature" = String, Header, description = "hex(HMAC-SHA256(channel secret, raw body))")), responses((status = 200, body = PaymentAnswer), (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem, description = "Bad signature, or a closed channel"), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn notification(
    State(payments): State<Payments>,
    PublicMeta(meta): PublicMeta,
    headers: HeaderMap,
    RawJson(body): RawJson,
) -> Result<JsonResponse<PaymentAnswer>, ApiError> {
    let signature = headers
        .get("x-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Ok(JsonResponse(
        accept(&payments, meta, &body, signature).await?,
    ))
}

/// A signed notification, checked and received as a channel sends it (the API's route, and the
/// development page that plays a channel).
pub(crate) async fn accept(
    payments: &Payments,
    meta: CommandMeta,
    body: &[u8],
    signature: &str,
) -> Result<PaymentAnswer, ApiError> {
    let Channel { channel } = serde_json::from_slice(body).map_err(|_| ApiError::Unauthorized)?;
    if !payments.payment_signature_ok(channel, body, signature) {
        return Err(ApiError::Unauthorized);
    }
    let n: Notification = parse_json(body)?;
    let payment = payments
        .reported_payment(
            n.channel,
            &n.external_id,
            &n.contract_number,
            n.amount_kopecks,
            n.paid_at,
        )
        .map_err(|errors| {
            ApiError::Invalid(
                errors
                    .into_iter()
                    .map(|(field, why)| FieldError::new(field, why))
                    .collect(),
            )
        })?;
    let meta = CommandMeta {
        actor_role: Some(format!("payment_channel:{}", n.channel)),
        channel: "payments",
        ..meta
    };
    let receipt = payments.receive_payment(payment, &meta).await?;
    Ok(PaymentAnswer {
        status: receipt.status.as_str(),
        payment_id: receipt.payment_id,
        position: receipt.position,
    })
}

/// A payment waiting for staff: no loan could take it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Unmatched {
    payment_id: Uuid,
    channel: &'static str,
    external_id: String,
    /// As the payer typed it.
    contract_number: String,
    amount_kopecks: i64,
    paid_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
    reason: String,
}

#[utoipa::path(get, path = "/api/v1/staff/payments/unmatched", tag = "payments", security(("bearer" = [])), params(("limit" = Option<i64>, Query, description = "1..1000, default 100"), ("offset" = Option<i64>, Query, description = "default 0"), ("X-Min-Position" = Option<i64>, Header, description = "wait until the read models applied this position")), responses((status = 200, body = Vec<Unmatched>), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
pub(crate) async fn unmatched(
    State(reader): State<Reader>,
    _: Editor,
    page: Page,
) -> Result<JsonResponse<Vec<Unmatched>>, ApiError> {
    let rows = reader.unmatched_payments(page.limit, page.offset).await?;
    Ok(JsonResponse(
        rows.into_iter()
            .map(|r| Unmatched {
                payment_id: r.payment_id,
                channel: r.channel.as_str(),
                external_id: r.external_id,
                contract_number: r.contract_number,
                amount_kopecks: r.amount_kopecks,
                paid_at: r.paid_at,
                received_at: r.received_at,
                reason: r.reason,
            })
            .collect(),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MatchRequest {
    /// The contract the payment was meant for.
    contract_number: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Matched {
    payment_id: Uuid,
    loan_id: Uuid,
    position: i64,
}

/// Sends a held payment to the loan it was meant for; the loan applies it in the law's order.
#[utoipa::path(post, path = "/api/v1/staff/payments/{id}/match", tag = "payments", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), request_body = MatchRequest, responses((status = 200, body = Matched), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn match_payment(
    State(payments): State<Payments>,
    Editor(caller): Editor,
    IdPath(payment_id): IdPath,
    Json(body): Json<MatchRequest>,
) -> Result<JsonResponse<Matched>, ApiError> {
    let written = payments
        .match_payment(
            payment_id,
            &body.contract_number,
            caller.principal.account_id,
            &caller.meta,
        )
        .await?;
    Ok(JsonResponse(Matched {
        payment_id,
        loan_id: written.id,
        position: written.position,
    }))
}
