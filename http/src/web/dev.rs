//! Development only: a back-office page that plays a payment channel, so a person can try a
//! repayment by hand. It signs the notification with the channel's secret and hands it to the
//! same code as `POST /api/v1/payments/notifications`.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use k911_aggregates::incoming_payment::PaymentChannel;
use k911_aggregates::values::Role;
use k911_commands::payments::Payments;
use serde::Deserialize;
use serde_json::json;

use super::csrf::{CheckedForm, CsrfToken, WithCsrf};
use super::frame::{Frame, Visit};
use super::session::Signed;
use super::{render, PageError};
use crate::error::ApiError;
use crate::routes::payments::accept;
use crate::routes::support::PublicMeta;
use crate::AppState;

#[derive(Template)]
#[template(path = "staff_dev_payment.html")]
struct PaymentPage {
    frame: Frame,
    external_id: String,
    error: Option<String>,
}

fn dev_only(state: &AppState) -> Result<(), PageError> {
    if state.dev_routes {
        Ok(())
    } else {
        Err(ApiError::NotFound("page").into())
    }
}

/// `/staff/dev/payment`.
pub(crate) async fn payment_page(
    State(state): State<AppState>,
    visit: Visit,
) -> Result<Response, PageError> {
    dev_only(&state)?;
    let visit = visit.of(&Role::STAFF)?;
    let page = PaymentPage {
        frame: visit.frame(),
        external_id: state.app.core.ids.new_id().simple().to_string(),
        error: None,
    };
    visit.answer(&page)
}

#[derive(Deserialize)]
pub(crate) struct PaymentForm {
    csrf: String,
    channel: PaymentChannel,
    contract_number: String,
    amount: String,
    external_id: String,
}

impl WithCsrf for PaymentForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /staff/dev/payment`: signed as the channel and received; the answer as a notice.
pub(crate) async fn send_payment(
    State(state): State<AppState>,
    State(payments): State<Payments>,
    PublicMeta(meta): PublicMeta,
    signed: Signed,
    csrf: CsrfToken,
    CheckedForm(form): CheckedForm<PaymentForm>,
) -> Result<Response, PageError> {
    dev_only(&state)?;
    let caller = signed.require(&Role::STAFF)?;
    let kopecks = rust_decimal::Decimal::from_str_exact(&form.amount.trim().replace(',', "."))
        .ok()
        .and_then(|roubles| {
            (roubles * rust_decimal::Decimal::ONE_HUNDRED)
                .trunc()
                .try_into()
                .ok()
        });
    let failed = |message: String| -> Result<Response, PageError> {
        let page = PaymentPage {
            frame: Frame::new(&caller, csrf.token.clone(), true),
            external_id: form.external_id.clone(),
            error: Some(message),
        };
        Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            csrf.jar.clone(),
            render(&page)?,
        )
            .into_response())
    };
    let Some(amount_kopecks) = kopecks.filter(|k: &i64| *k > 0) else {
        return failed("Сумма — положительное число рублей.".into());
    };
    let body = json!({
        "channel": form.channel,
        "external_id": form.external_id.trim(),
        "contract_number": form.contract_number.trim(),
        "amount_kopecks": amount_kopecks,
        "paid_at": state.app.core.clock.now(),
    })
    .to_string();
    let Some(signature) = payments.sign_as_channel(form.channel, body.as_bytes()) else {
        return failed(format!(
            "Канал закрыт: задайте K911_PAYMENT_SECRET_{}.",
            form.channel.as_str().to_uppercase()
        ));
    };
    match accept(&payments, meta, body.as_bytes(), &signature).await {
        Ok(answer) => {
            let done = match answer.status {
                "applied" => "payment_applied",
                "duplicate" => "payment_duplicate",
                _ => "payment_unmatched",
            };
            Ok(Redirect::to(&format!("/staff/dev/payment?done={done}")).into_response())
        }
        Err(ApiError::Invalid(errors)) => failed(format!(
            "Платёж не принят: {}",
            errors
                .iter()
                .map(|e| format!("{} — {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        )),
        Err(other) => Err(other.into()),
    }
}
