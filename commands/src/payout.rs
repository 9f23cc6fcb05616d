//! The payout provider port. Cards are tokenised by the provider, so a card number never reaches
//! the service: an application names a token, and the provider confirms the token is its own.
//! The development driver is a sandbox with its own card vault (`POST /sandbox/cards`).

use std::sync::Arc;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use chrono::Datelike;
use k911_aggregates::loan_application::applicant::PayoutMethod;
use k911_aggregates::money::Kopecks;
use k911_event_store::outbox::PayoutPurpose;
use sqlx::PgPool;
use uuid::Uuid;

use crate::clock::{moscow_date, Clock};
use crate::{App, Error};

/// A loan to pay out.
#[derive(Debug, Clone)]
pub struct PayoutOrder {
    /// The provider pays each id once, however often it is asked.
    pub payout_id: Uuid,
    pub loan_id: Uuid,
    pub purpose: PayoutPurpose,
    pub amount: Kopecks,
    pub method: PayoutMethod,
}

/// What became of a payout, as the provider tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutOutcome {
    /// Not answered yet (or never asked).
    Pending,
    Paid,
    Failed(String),
}

#[async_trait]
pub trait PayoutProvider: Send + Sync {
    /// Whether `token` can be a live card of this provider's with the masked number
    /// `masked_pan` (a provider that cannot look tokens up answers by the token's shape; a bad
    /// token then fails at the payout).
    async fn card_matches(&self, token: &str, masked_pan: &str) -> Result<bool, String>;

    /// Asks for a payout. Idempotent by `payout_id`.
    async fn pay_out(&self, order: &PayoutOrder) -> Result<(), String>;

    /// The provider's answer about a payout (providers answer later than they are asked).
    async fn outcome(&self, payout_id: Uuid) -> Result<PayoutOutcome, String>;

    /// The sandbox, when this is it (it also tokenises cards for development clients).
    fn sandbox(&self) -> Option<&SandboxPayouts> {
        None
    }
}

/// Why a card cannot be tokenised, by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardRejected {
    Pan(&'static str),
    ExpMonth,
    Expired,
}

/// A tokenised card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardToken {
    pub card_token: String,
    pub masked_pan: String,
}

/// Whether `digits` passes the Luhn check that every payment card number carries.
pub fn luhn_ok(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            match (i % 2 == 1, d * 2) {
                (false, _) => d,
                (true, doubled) if doubled > 9 => doubled - 9,
                (true, doubled) => doubled,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// `220000******0004`: the first six digits (the issuer) and the last four, as card schemes allow
/// to be shown.
pub fn mask(pan: &str) -> String {
    let stars = "*".repeat(pan.len() - 10);
    format!("{}{stars}{}", &pan[..6], &pan[pan.len() - 4..])
}

/// Sandbox cards whose number ends so refuse payouts (`2200 0000 0002 0002` is Luhn-valid).
pub const DECLINING_CARD_SUFFIX: &str = "0002";

pub struct SandboxPayouts {
    pool: PgPool,
    clock: Arc<dyn Clock>,
    /// How long the sandbox takes to answer a payout it has just executed, as a slow provider
    /// does (`K911_SANDBOX_ANSWER_DELAY_MS`): what a test needs to stop the service between the
    /// money moving and its answer arriving.
    answer_delay: std::time::Duration,
}

impl SandboxPayouts {
    pub fn new(pool: PgPool, clock: Arc<dyn Clock>) -> Self {
        Self {
            pool,
            clock,
            answer_delay: std::time::Duration::ZERO,
        }
    }

    /// The same sandbox, answering a newly executed payout only after `delay`.
    pub fn answering_after(self, delay: std::time::Duration) -> Self {
        Self {
            answer_delay: delay,
            ..self
        }
    }

    /// Checks a card as a provider would (number, expiry) and keeps it under a new token.
    pub async fn tokenise(
        &self,
        pan: &str,
        exp_month: u32,
        exp_year: i32,
        secret: [u8; 32],
    ) -> Result<Result<CardToken, CardRejected>, String> {
        let pan: String = pan.chars().filter(|c| !c.is_whitespace()).collect();
        if !(13..=19).contains(&pan.len()) || !pan.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Err(CardRejected::Pan("must be 13 to 19 digits")));
        }
        if !luhn_ok(&pan) {
            return Ok(Err(CardRejected::Pan(
                "is not a valid card number (Luhn check)",
            )));
        }
        if !(1..=12).contains(&exp_month) {
            return Ok(Err(CardRejected::ExpMonth));
        }
        let today = moscow_date(self.clock.now());
        if (exp_year, exp_month) < (today.year(), today.month()) {
            return Ok(Err(CardRejected::Expired));
        }
        // The sandbox's test card for a refused payout, as real sandboxes have them.
        let declines_payouts = pan.ends_with(DECLINING_CARD_SUFFIX);
        let card = CardToken {
            card_token: format!("tok_{}", B64URL.encode(&secret[..18])),
            masked_pan: mask(&pan),
        };
        sqlx::query(
            "INSERT INTO sandbox_cards (card_token, masked_pan, exp_month, exp_year, created_at,
                                        declines_payouts)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&card.card_token)
        .bind(&card.masked_pan)
        .bind(exp_month as i32)
        .bind(exp_year)
        .bind(self.clock.now())
        .bind(declines_payouts)
        .execute(&self.pool)
        .await
        .map_err(|e| e.to_string())?;
        Ok(Ok(card))
    }

    /// What the sandbox received, oldest first.
    pub async fn received(&self) -> Result<Vec<SandboxPayout>, String> {
        let rows: Vec<(Uuid, String, i64, i32, i32)> = sqlx::query_as(
            "SELECT payout_id, kind, amount, requests, executions FROM sandbox_payouts
              ORDER BY requested_at, payout_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| e.to_string())?;
        Ok(rows
            .into_iter()
            .map(
                |(payout_id, kind, amount, requests, executions)| SandboxPayout {
                    payout_id,
                    kind,
                    amount: Kopecks::new(amount).unwrap_or(Kopecks::ZERO),
                    requests,
                    executions,
                },
            )
            .collect())
    }
}

/// A payout id as the sandbox saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPayout {
    pub payout_id: Uuid,
    /// `loan` | `refund` | `commission`
    pub kind: String,
    pub amount: Kopecks,
    /// HTTP requests received for it.
    pub requests: i32,
    /// Times money moved for it.
    pub executions: i32,
}

#[async_trait]
impl PayoutProvider for SandboxPayouts {
    async fn card_matches(&self, token: &str, masked_pan: &str) -> Result<bool, String> {
        let card: Option<(String, i32, i32)> = sqlx::query_as(
            "SELECT masked_pan, exp_month, exp_year FROM sandbox_cards WHERE card_token = $1",
        )
        .bind(token)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| e.to_string())?;
        let today = moscow_date(self.clock.now());
        Ok(card.is_some_and(|(masked, month, year)| {
            masked == masked_pan && (year, month as u32) >= (today.year(), today.month())
        }))
    }

    async fn pay_out(&self, order: &PayoutOrder) -> Result<(), String> {
        let destination = match &order.method {
            PayoutMethod::Card { card_token, .. } => card_token.clone(),
            wallet => wallet.masked(),
        };
        // Like ЮKassa, the sandbox keeps an idempotency key for a day: a request repeated within
        // it moves no money, one repeated later moves it again. So `executions` shows any
        // double send, however late.
        let first_request: bool = sqlx::query_scalar(
            "INSERT INTO sandbox_payouts
                    (payout_id, loan_id, kind, amount, destination, requested_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (payout_id) DO UPDATE
                SET requests = sandbox_payouts.requests + 1,
                    executions = sandbox_payouts.executions
                        + (EXCLUDED.requested_at > sandbox_payouts.requested_at
                                                   + interval '24 hours')::int,
                    requested_at = CASE
                        WHEN EXCLUDED.requested_at > sandbox_payouts.requested_at
                                                   + interval '24 hours'
                        THEN EXCLUDED.requested_at ELSE sandbox_payouts.requested_at END
             RETURNING requests = 1",
        )
        .bind(order.payout_id)
        .bind(order.loan_id)
        .bind(order.purpose.as_str())
        .bind(order.amount.get())
        .bind(destination)
        .bind(self.clock.now())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| e.to_string())?;
        // The money moved just now (its first request): the answer takes its time.
        if first_request && !self.answer_delay.is_zero() {
            tokio::time::sleep(self.answer_delay).await;
        }
        Ok(())
    }

    async fn outcome(&self, payout_id: Uuid) -> Result<PayoutOutcome, String> {
        let payout: Option<(String, Option<bool>)> = sqlx::query_as(
            "SELECT p.destination, c.declines_payouts
               FROM sandbox_payouts p LEFT JOIN sandbox_cards c ON c.card_token = p.destination
              WHERE p.payout_id = $1",
        )
        .bind(payout_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| e.to_string())?;
        Ok(match payout {
            None => PayoutOutcome::Pending,
            Some((_, Some(true))) => {
                PayoutOutcome::Failed("the card's issuer refused the transfer".to_string())
            }
            Some(_) => PayoutOutcome::Paid,
        })
    }

    fn sandbox(&self) -> Option<&SandboxPayouts> {
        Some(self)
    }
}

impl App {
    /// `GET /sandbox/payouts`: `None` when the payout driver is not the sandbox.
    pub async fn sandbox_payouts(&self) -> Result<Option<Vec<SandboxPayout>>, Error> {
        let Some(sandbox) = self.ports.payout.sandbox() else {
            return Ok(None);
        };
        Ok(Some(sandbox.received().await.map_err(Error::Storage)?))
    }

    /// `POST /sandbox/cards`: `None` when the payout driver is not the sandbox.
    pub async fn sandbox_tokenise(
        &self,
        pan: &str,
        exp_month: u32,
        exp_year: i32,
    ) -> Result<Option<Result<CardToken, CardRejected>>, Error> {
        let Some(sandbox) = self.ports.payout.sandbox() else {
            return Ok(None);
        };
        let tokenised = sandbox
            .tokenise(pan, exp_month, exp_year, self.core.ids.secret())
            .await
            .map_err(Error::Storage)?;
        Ok(Some(tokenised))
    }
}

/// A card given for payouts must be a token of the provider's with its masked number; an
/// e-wallet needs no check.
pub(crate) async fn check_card(
    provider: &dyn PayoutProvider,
    payout: &PayoutMethod,
) -> Result<(), Error> {
    let PayoutMethod::Card {
        card_token,
        masked_pan,
    } = payout
    else {
        return Ok(());
    };
    let known = provider
        .card_matches(card_token, masked_pan)
        .await
        .map_err(Error::Storage)?;
    if known {
        Ok(())
    } else {
        Err(Error::UnknownCard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_luhn_check_catches_one_wrong_digit() {
        assert!(luhn_ok("2200000000000004"));
        assert!(luhn_ok("4111111111111111"));
        assert!(!luhn_ok("2200000000000005"));
        assert!(!luhn_ok("4111111111111121"));
    }

    #[test]
    fn a_mask_keeps_the_issuer_and_the_last_four_digits() {
        assert_eq!(mask("2200000000000004"), "220000******0004");
        assert_eq!(mask("2200123456789012345"), "220012*********2345");
    }
}
