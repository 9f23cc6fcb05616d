//! Notification ports (SMS, e-mail) and their drivers; the effects worker (`effects.rs`) hands
//! them what process managers put in the effects outbox.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k911_aggregates::values::{Email, Phone};
use k911_event_store::outbox::Channel;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sqlx::PgPool;

use crate::clock::Clock;
use crate::payout::{PayoutProvider, SandboxPayouts};
use crate::{App, Error};

/// Sends an SMS.
#[async_trait]
pub trait SmsSender: Send + Sync {
    async fn send_sms(&self, to: &Phone, text: &str) -> Result<(), String>;
}

/// Sends an e-mail.
#[async_trait]
pub trait EmailSender: Send + Sync {
    async fn send_email(&self, to: &Email, subject: &str, body: &str) -> Result<(), String>;
}

/// The drivers of the outside world: notifications and payouts.
#[derive(Clone)]
pub struct Ports {
    pub sms: Arc<dyn SmsSender>,
    pub email: Arc<dyn EmailSender>,
    pub payout: Arc<dyn PayoutProvider>,
}

impl Ports {
    /// Development drivers: notifications land in the `dev_outbox` table (`GET /dev/sms`),
    /// payouts go to the sandbox provider.
    pub fn development(pool: PgPool, clock: Arc<dyn Clock>) -> Self {
        Self::development_answering_after(pool, clock, std::time::Duration::ZERO)
    }

    /// [`Self::development`] with a sandbox that answers a payout it executed after `delay`.
    pub fn development_answering_after(
        pool: PgPool,
        clock: Arc<dyn Clock>,
        delay: std::time::Duration,
    ) -> Self {
        let payout =
            Arc::new(SandboxPayouts::new(pool.clone(), clock.clone()).answering_after(delay));
        let outbox = Arc::new(DevOutbox { pool, clock });
        Self {
            sms: outbox.clone(),
            email: outbox,
            payout,
        }
    }
}

/// The development driver of both ports: records instead of sending.
pub struct DevOutbox {
    pool: PgPool,
    clock: Arc<dyn Clock>,
}

impl DevOutbox {
    async fn record(
        &self,
        channel: Channel,
        to: &str,
        subject: Option<&str>,
        body: &str,
    ) -> Result<(), String> {
        sqlx::query("INSERT INTO dev_outbox (channel, recipient, subject, body, sent_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(channel.as_str())
            .bind(to)
            .bind(subject)
            .bind(body)
            .bind(self.clock.now())
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

#[async_trait]
impl SmsSender for DevOutbox {
    async fn send_sms(&self, to: &Phone, text: &str) -> Result<(), String> {
        self.record(Channel::Sms, to.as_str(), None, text).await
    }
}

#[async_trait]
impl EmailSender for DevOutbox {
    async fn send_email(&self, to: &Email, subject: &str, body: &str) -> Result<(), String> {
        self.record(Channel::Email, to.as_str(), Some(subject), body)
            .await
    }
}

/// E-mail over SMTP (`lettre`), e.g. `smtps://user:pass@smtp.example.ru` or, for a relay on the
/// same host, `smtp://localhost:25`.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(url: &str, from: &str) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("SMTP URL: {e}"))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from = from.parse().map_err(|e| format!("sender address: {e}"))?;
        Ok(Self { transport, from })
    }
}

#[async_trait]
impl EmailSender for SmtpMailer {
    async fn send_email(&self, to: &Email, subject: &str, body: &str) -> Result<(), String> {
        let to: Mailbox = to.as_str().parse().map_err(|e| format!("recipient: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .body(body.to_string())
            .map_err(|e| e.to_string())?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// A message a development driver recorded.
#[derive(Debug, Clone)]
pub struct DevMessage {
    pub recipient: String,
    pub subject: Option<String>,
    pub body: String,
    pub sent_at: chrono::DateTime<chrono::Utc>,
}

impl App {
    /// What the development drivers sent to `recipient` over `channel`, oldest first.
    pub async fn dev_outbox(
        &self,
        channel: Channel,
        recipient: &str,
    ) -> Result<Vec<DevMessage>, Error> {
        let rows: Vec<(
            String,
            Option<String>,
            String,
            chrono::DateTime<chrono::Utc>,
        )> = sqlx::query_as(
            "SELECT recipient, subject, body, sent_at FROM dev_outbox
              WHERE channel = $1 AND recipient = $2 ORDER BY id",
        )
        .bind(channel.as_str())
        .bind(recipient)
        .fetch_all(&self.core.db.sqlx)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(recipient, subject, body, sent_at)| DevMessage {
                recipient,
                subject,
                body,
                sent_at,
            })
            .collect())
    }
}

/// A customer's contacts as they registered them (their account's first event), sealed: where
/// process managers send what they tell them.
pub(crate) async fn registered_contacts(
    tx: &k911_event_store::follower::BatchTx<'_>,
    event: &k911_event_store::log::RecordedEvent,
    customer_id: uuid::Uuid,
) -> Result<
    (
        k911_aggregates::Sealed<Phone>,
        Option<k911_aggregates::Sealed<Email>>,
    ),
    k911_event_store::follower::FollowerError,
> {
    use cqrs_es::Aggregate;
    use k911_aggregates::account::{Account, AccountEvent};
    let registered = tx
        .first_payload(Account::TYPE, &customer_id.to_string())
        .await?;
    match serde_json::from_value(registered) {
        Ok(AccountEvent::CustomerRegistered { phone, email, .. }) => Ok((phone, email)),
        _ => Err(k911_event_store::follower::FollowerError::bad_event(
            event,
            "customer without registration",
        )),
    }
}
