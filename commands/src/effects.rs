//! The effects worker: performs what process managers put in the effects outbox (SMS, e-mail,
//! money out), each effect once.
//!
//! - A worker takes due effects under a short lease in one statement, performs them with no
//!   transaction open, and records each answer in another short statement.
//! - The effect's id is the provider's idempotency key: a worker that dies between the call and
//!   recording its answer leaves the effect to be taken again when the lease runs out, and the
//!   resend carries the same key, so the provider acts once.
//! - A failure is tried again with doubling pauses; after [`EffectRules::max_attempts`] tries
//!   the effect is parked as dead for an admin (`GET /api/v1/staff/effects?status=dead`), who can
//!   give it another round. A done effect is never performed again, whatever is replayed.

use std::time::Duration;

use futures::StreamExt;
use k911_event_store::keys::KeyError;
use k911_event_store::outbox::{self, Claimed, Effect, EffectKind, EffectRow, EffectStatus};
use strum::VariantArray;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::app::Core;
use crate::metrics::EffectLabels;
use crate::payout::{PayoutOrder, PayoutOutcome};
use crate::{App, Error};

/// Effects of one kind taken per claim.
const BATCH: i64 = 16;
/// Effects of one kind performed at once.
const CONCURRENT: usize = 8;
/// How often an idle worker looks for due effects.
const POLL: Duration = Duration::from_millis(100);
/// How long payout providers keep an idempotency key (ЮKassa: 24 h), less a margin.
const PROVIDER_KEY_KEPT: Duration = Duration::from_secs(23 * 3600);

/// How effects are retried.
#[derive(Debug, Clone)]
pub struct EffectRules {
    /// Tries before an effect is parked as dead (`K911_EFFECT_MAX_ATTEMPTS`).
    pub max_attempts: i32,
    /// The pause after the first failure; each next one doubles (30 s: 8 tries span about an
    /// hour).
    pub first_retry: Duration,
    /// How long a worker holds an effect it took: longer than any provider call may take (their
    /// clients time out at 20 s), or a second worker would ask again while the first waits.
    pub lease: Duration,
}

impl Default for EffectRules {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            first_retry: Duration::from_secs(30),
            lease: Duration::from_secs(60),
        }
    }
}

impl EffectRules {
    /// The pause after the `attempts`-th failed try.
    pub fn retry_in(&self, attempts: i32) -> Duration {
        let doublings = attempts.clamp(1, 16) as u32 - 1;
        self.first_retry
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(Duration::from_secs(6 * 3600))
    }
}

/// What performing an effect came to.
enum Performed {
    Done,
    /// Nothing could be sent, and trying again would not change that.
    Nothing(&'static str),
}

impl App {
    /// Starts the effects worker; it runs until the task is aborted. Each kind of effect has
    /// its own lane: a payout provider slow to answer holds up no SMS or e-mail.
    pub fn start_effects_worker(&self) -> JoinHandle<()> {
        let app = self.clone();
        tokio::spawn(async move {
            // Bureau reports leave as files (`k911 bureau export`), not through a port.
            let lanes = EffectKind::VARIANTS
                .iter()
                .filter(|&&kind| kind != EffectKind::BureauReport)
                .map(|&kind| app.effects_lane(kind));
            futures::future::join_all(lanes).await;
        })
    }

    async fn effects_lane(&self, kind: EffectKind) {
        loop {
            match self.perform_due_effects(kind).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "effects worker could not claim"),
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Takes the due effects of `kind` of one claim and performs them; returns how many were
    /// taken.
    pub async fn perform_due_effects(&self, kind: EffectKind) -> Result<usize, Error> {
        let claimed = {
            let client = self.core.db.pg.get().await?;
            outbox::claim(&**client, kind, BATCH, self.core.settings.effects.lease).await?
        };
        let taken = claimed.len();
        futures::stream::iter(claimed)
            .for_each_concurrent(CONCURRENT, |effect| async move {
                let id = effect.id;
                if let Err(error) = self.perform_one(effect).await {
                    // The lease runs out and the effect is taken again.
                    tracing::warn!(effect = %id, %error, "effect's answer not recorded");
                }
            })
            .await;
        Ok(taken)
    }

    /// Performs one effect and records the answer.
    async fn perform_one(&self, claimed: Claimed) -> Result<(), Error> {
        let Claimed {
            id,
            kind,
            effect,
            attempts,
        } = claimed;
        let rules = &self.core.settings.effects;
        let outcome = match effect {
            // Past its lease another worker may take the effect: a provider that does not answer
            // by then gets a failure recorded (fenced, should the other worker have it), and the
            // next attempt asks it what came of this one first.
            Ok(effect) => tokio::time::timeout(rules.lease, self.perform(kind, effect))
                .await
                .unwrap_or_else(|_| Err("no answer within the lease".to_string())),
            Err(unreadable) => Err(format!("unreadable effect: {unreadable}")),
        }
        .map_err(|error| redacted(&error));
        let client = self.core.db.pg.get().await?;
        let label = |outcome: &str| EffectLabels {
            kind: kind.as_str().to_string(),
            outcome: outcome.to_string(),
        };
        match outcome {
            Ok(performed) => {
                let note = match performed {
                    Performed::Done => None,
                    Performed::Nothing(why) => Some(why),
                };
                if !outbox::done(&**client, id, attempts, note).await? {
                    tracing::warn!(effect = %id, "lease lost before the answer was recorded");
                }
                self.core
                    .metrics
                    .effects
                    .get_or_create(&label("done"))
                    .inc();
            }
            Err(error) => {
                let dead = attempts >= rules.max_attempts;
                let retry_in = rules.retry_in(attempts);
                if !outbox::failed(&**client, id, attempts, &error, retry_in, dead).await? {
                    tracing::warn!(effect = %id, "lease lost before the failure was recorded");
                    return Ok(());
                }
                if dead {
                    tracing::error!(effect = %id, kind = kind.as_str(), attempts, %error, "effect parked as dead");
                    self.core
                        .metrics
                        .effects
                        .get_or_create(&label("dead"))
                        .inc();
                } else {
                    tracing::warn!(effect = %id, kind = kind.as_str(), attempts, %error, "effect failed; will retry");
                    self.core
                        .metrics
                        .effects
                        .get_or_create(&label("failed"))
                        .inc();
                }
            }
        }
        Ok(())
    }

    /// Opens the effect's sealed data at the last moment and hands it to its port.
    async fn perform(&self, kind: EffectKind, effect: Effect) -> Result<Performed, String> {
        let erased = |e: &KeyError| matches!(e, KeyError::Erased(_));
        match effect {
            Effect::TicketAnswer { contact, answer } => {
                let (contact, answer) = match (
                    self.core.keys.open(&contact).await,
                    self.core.keys.open(&answer).await,
                ) {
                    (Ok(contact), Ok(answer)) => (contact, answer),
                    (Err(e), _) | (_, Err(e)) if erased(&e) => {
                        return Ok(Performed::Nothing("personal data erased"))
                    }
                    (Err(e), _) | (_, Err(e)) => return Err(e.to_string()),
                };
                let text = format!("k911: ответ на ваше обращение: {}", answer.as_str());
                match (kind, contact.phone, contact.email) {
                    (EffectKind::Sms, Some(phone), _) => {
                        self.ports.sms.send_sms(&phone, &text).await?
                    }
                    (EffectKind::Email, _, Some(email)) => {
                        let body = format!(
                            "Здравствуйте, {}!\n\n{}\n\nСлужба поддержки k911",
                            contact.name.as_str(),
                            answer.as_str()
                        );
                        self.ports
                            .email
                            .send_email(&email, "Ответ на ваше обращение в k911", &body)
                            .await?
                    }
                    _ => return Ok(Performed::Nothing("no contact for this channel")),
                }
            }
            Effect::CustomerEmail {
                email,
                subject,
                body,
            } => match (
                self.core.keys.open(&email).await,
                self.core.keys.open(&body).await,
            ) {
                (Ok(email), Ok(body)) => {
                    self.ports.email.send_email(&email, &subject, &body).await?
                }
                (Err(e), _) | (_, Err(e)) if erased(&e) => {
                    return Ok(Performed::Nothing("personal data erased"))
                }
                (Err(e), _) | (_, Err(e)) => return Err(e.to_string()),
            },
            Effect::BureauReport(_) => {
                return Err("a bureau report is exported as a file, not performed".to_string())
            }
            Effect::StaffEmail { to, subject, body } => {
                self.ports.email.send_email(&to, &subject, &body).await?
            }
            Effect::Sms { phone, text, .. } => {
                match (
                    self.core.keys.open(&phone).await,
                    self.core.keys.open(&text).await,
                ) {
                    (Ok(phone), Ok(text)) => self.ports.sms.send_sms(&phone, &text).await?,
                    (Err(e), _) | (_, Err(e)) if erased(&e) => {
                        return Ok(Performed::Nothing("personal data erased"))
                    }
                    (Err(e), _) | (_, Err(e)) => return Err(e.to_string()),
                }
            }
            Effect::Payout {
                payout_id,
                loan_id,
                purpose,
                amount,
                method,
            } => {
                // The provider may have answered an earlier try whose answer was lost: then the
                // money's fate is known and nothing is sent.
                if self.ports.payout.outcome(payout_id).await? != PayoutOutcome::Pending {
                    return Ok(Performed::Nothing("the provider had answered already"));
                }
                // Erased data cannot be paid to: that is for a person to look at, so it fails.
                let method = self
                    .core
                    .keys
                    .open(&method)
                    .await
                    .map_err(|e| e.to_string())?;
                let order = PayoutOrder {
                    payout_id,
                    loan_id,
                    purpose,
                    amount,
                    method,
                };
                self.ports.payout.pay_out(&order).await?
            }
        }
        Ok(Performed::Done)
    }
}

/// The outbox as admins tend it: what is pending, done or dead, and another round for the dead.
#[derive(Clone)]
pub struct Effects {
    pub(crate) core: Core,
}

/// What the copy says of a message that carried a password or a one-time code.
const WITHHELD: &str = "— (пароль или одноразовый код: текст в копию не включается)";

/// A message sent to a customer, as their own copy of their data shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MessageSent {
    /// `sms` | `email`
    pub channel: &'static str,
    pub sent_at: chrono::DateTime<chrono::Utc>,
    /// `null`: an SMS.
    pub subject: Option<String>,
    pub text: String,
}

impl Effects {
    /// The SMS and e-mails sent to `customer_id`, their texts opened with the customer's key
    /// (152-FZ art. 14: what was sent to them is data held about them).
    pub async fn sent_to(&self, customer_id: Uuid) -> Result<Vec<MessageSent>, Error> {
        let sent = {
            let client = self.core.db.pg.get().await?;
            outbox::sent_to(&**client, customer_id).await?
        };
        let mut messages = Vec::with_capacity(sent.len());
        for (kind, sent_at, effect) in sent {
            let (subject, text) = match effect.map_err(Error::Storage)? {
                Effect::Sms { secret: true, .. } => (None, WITHHELD.to_string()),
                Effect::Sms { text, .. } => (None, self.core.keys.open(&text).await?),
                Effect::CustomerEmail { subject, body, .. } => {
                    (Some(subject), self.core.keys.open(&body).await?)
                }
                Effect::TicketAnswer { answer, .. } => (
                    Some("Ответ на ваше обращение".to_string()),
                    self.core.keys.open(&answer).await?.as_str().to_string(),
                ),
                other => {
                    return Err(Error::Storage(format!(
                        "a {} effect found among messages: {other:?}",
                        kind.as_str()
                    )))
                }
            };
            messages.push(MessageSent {
                channel: kind.as_str(),
                sent_at,
                subject,
                text,
            });
        }
        Ok(messages)
    }

    /// `GET /api/v1/staff/effects`: effects in `status`, oldest first.
    pub async fn list(
        &self,
        status: EffectStatus,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<EffectRow>, Error> {
        let client = self.core.db.pg.get().await?;
        Ok(outbox::list(&**client, status, limit, offset).await?)
    }

    /// `POST /api/v1/staff/effects/{id}/retry`: a dead effect gets a new round of tries. Not a
    /// payout first asked longer ago than providers keep an idempotency key (a day): sent again,
    /// it could pay twice, so it is reconciled with the provider by hand.
    pub async fn retry(&self, id: Uuid) -> Result<(), Error> {
        let client = self.core.db.pg.get().await?;
        if outbox::payout_older_than(&**client, id, PROVIDER_KEY_KEPT).await? {
            return Err(Error::PayoutTooOldToRetry);
        }
        match outbox::revive(&**client, id).await? {
            None => Err(Error::NotFound),
            Some(EffectStatus::Dead) => Ok(()),
            Some(_) => Err(Error::NotDead),
        }
    }
}

/// A provider's error without the addresses and numbers it may echo (an SMTP server repeats the
/// recipient, a gateway the phone): it is stored, shown to admins and logged.
fn redacted(error: &str) -> String {
    error
        .split(' ')
        .map(|word| {
            let digits = word.chars().filter(char::is_ascii_digit).count();
            if word.contains('@') {
                "<address>"
            } else if digits >= 10 {
                "<number>"
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_providers_error_keeps_no_address_or_phone() {
        assert_eq!(
            redacted("550 5.1.1 <ivan@example.ru>: Recipient address rejected"),
            "550 5.1.1 <address> Recipient address rejected"
        );
        assert_eq!(
            redacted("number +79161234567 is blocked"),
            "number <number> is blocked"
        );
        assert_eq!(
            redacted("provider answered HTTP 503"),
            "provider answered HTTP 503"
        );
    }

    #[test]
    fn eight_tries_span_about_an_hour_and_pauses_double() {
        let rules = EffectRules::default();
        assert_eq!(rules.retry_in(1), Duration::from_secs(30));
        assert_eq!(rules.retry_in(2), Duration::from_secs(60));
        let waited: Duration = (1..rules.max_attempts).map(|n| rules.retry_in(n)).sum();
        assert_eq!(waited, Duration::from_secs(3810));
    }

    #[test]
    fn a_pause_never_grows_past_six_hours() {
        let rules = EffectRules::default();
        assert_eq!(rules.retry_in(40), Duration::from_secs(6 * 3600));
    }
}
