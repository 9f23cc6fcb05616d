//! The sandbox payout provider: its card tokenisation (what a real provider's payment page does,
//! so that development clients can get a card token) and what it received, so a double send is
//! visible from outside. Served only with the sandbox driver.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json as JsonResponse;
use k911_commands::payout::CardRejected;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::Json;
use crate::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CardRequest {
    /// The card number, 13 to 19 digits.
    pan: String,
    exp_month: u32,
    /// Four digits.
    exp_year: i32,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Card {
    card_token: String,
    masked_pan: String,
}

#[utoipa::path(post, path = "/sandbox/cards", tag = "sandbox", request_body = CardRequest, responses((status = 201, body = Card), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn tokenise(
    State(state): State<AppState>,
    Json(body): Json<CardRequest>,
) -> Result<(StatusCode, JsonResponse<Card>), ApiError> {
    let tokenised = state
        .app
        .sandbox_tokenise(&body.pan, body.exp_month, body.exp_year)
        .await?
        .ok_or(ApiError::NotFound("route"))?;
    match tokenised {
        Ok(card) => Ok((
            StatusCode::CREATED,
            JsonResponse(Card {
                card_token: card.card_token,
                masked_pan: card.masked_pan,
            }),
        )),
        Err(CardRejected::Pan(why)) => Err(ApiError::invalid("pan", why)),
        Err(CardRejected::ExpMonth) => Err(ApiError::invalid("exp_month", "must be 1 to 12")),
        Err(CardRejected::Expired) => Err(ApiError::invalid("exp_year", "the card has expired")),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ReceivedPayout {
    payout_id: Uuid,
    /// `loan` | `refund` | `commission`
    kind: String,
    amount_kopecks: i64,
    /// Requests received under this id.
    requests: i32,
    /// Times money moved under it: at most 1 (the id is the idempotency key, kept a day).
    executions: i32,
}

#[utoipa::path(get, path = "/sandbox/payouts", tag = "sandbox", responses((status = 200, body = Vec<ReceivedPayout>)))]
pub(crate) async fn payouts(
    State(state): State<AppState>,
) -> Result<JsonResponse<Vec<ReceivedPayout>>, ApiError> {
    let received = state
        .app
        .sandbox_payouts()
        .await?
        .ok_or(ApiError::NotFound("route"))?;
    Ok(JsonResponse(
        received
            .into_iter()
            .map(|p| ReceivedPayout {
                payout_id: p.payout_id,
                kind: p.kind,
                amount_kopecks: p.amount.get(),
                requests: p.requests,
                executions: p.executions,
            })
            .collect(),
    ))
}
