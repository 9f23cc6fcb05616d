//! Notification ports (SMS, e-mail), their drivers, and the dispatcher that empties the outbox.
//!
//! The outbox is filled by process managers; the dispatcher opens each message with the subject's
//! key at the last moment and hands it to the configured driver. Delivery is at least once: a
//! message is marked sent only after its driver accepted it, and retried with back-off otherwise.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k911_aggregates::values::{Email, Phone};
use k911_event_store::keys::KeyError;
use k911_event_store::outbox::{Channel, OutboxMessage};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sqlx::PgPool;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::clock::Clock;
use crate::payout::{PayoutProvider, SandboxPayouts};
use crate::{App, Error};

/// Messages sent per dispatcher transaction.
const BATCH: i64 = 20;
/// How often the dispatcher looks for due messages.
const POLL: Duration = Duration::from_millis(100);
/// Longest pause between two attempts at a failing message.
const MAX_BACKOFF_SECS: i32 = 3600;

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
        let payout = Arc::new(SandboxPayouts::new(pool.clone(), clock.clone()));
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

/// What a message turned out to be when opened.
enum Delivery {
    Sms(Phone, String),
    Email(Email, String, String),
    /// No such contact, or the personal data was erased: nothing to send.
    Nothing(&'static str),
}

impl App {
    /// Starts the outbox dispatcher; it runs until the task is aborted.
    pub fn start_dispatcher(&self) -> JoinHandle<()> {
        let app = self.clone();
        tokio::spawn(async move {
            loop {
                match app.dispatch_notifications().await {
                    Ok(n) if n > 0 => continue,
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "notification dispatch failed"),
                }
                tokio::time::sleep(POLL).await;
            }
        })
    }

    /// Sends the due messages of one batch; returns how many were handled.
    pub async fn dispatch_notifications(&self) -> Result<usize, Error> {
        let mut tx = self.db.sqlx.begin().await?;
        // SKIP LOCKED: several instances share the outbox without sending a message twice.
        let due: Vec<(Uuid, String, serde_json::Value, i32)> = sqlx::query_as(
            "SELECT id, channel, message, attempts FROM notification_outbox
              WHERE sent_at IS NULL AND next_attempt_at <= now()
              ORDER BY created_at, id LIMIT $1
              FOR UPDATE SKIP LOCKED",
        )
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        for (id, channel, message, attempts) in &due {
            let outcome = match self.open_message(channel, message).await {
                Ok(Delivery::Sms(phone, text)) => {
                    self.ports.sms.send_sms(&phone, &text).await.map(|_| None)
                }
                Ok(Delivery::Email(to, subject, body)) => self
                    .ports
                    .email
                    .send_email(&to, &subject, &body)
                    .await
                    .map(|_| None),
                Ok(Delivery::Nothing(why)) => Ok(Some(why)),
                Err(e) => Err(e.to_string()),
            };
            match outcome {
                Ok(note) => {
                    sqlx::query("UPDATE notification_outbox SET sent_at = now(), last_error = $2 WHERE id = $1")
                        .bind(id)
                        .bind(note)
                        .execute(&mut *tx)
                        .await?;
                }
                Err(error) => {
                    tracing::warn!(message_id = %id, %error, "notification not delivered; will retry");
                    let backoff = 2i32
                        .saturating_pow((*attempts).clamp(0, 12) as u32)
                        .min(MAX_BACKOFF_SECS);
                    sqlx::query(
                        "UPDATE notification_outbox
                            SET attempts = attempts + 1, last_error = $2,
                                next_attempt_at = now() + make_interval(secs => $3)
                          WHERE id = $1",
                    )
                    .bind(id)
                    .bind(&error)
                    .bind(backoff as f64)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(due.len())
    }

    async fn open_message(
        &self,
        channel: &str,
        message: &serde_json::Value,
    ) -> Result<Delivery, Error> {
        let message: OutboxMessage =
            serde_json::from_value(message.clone()).map_err(|e| Error::Storage(e.to_string()))?;
        match message {
            OutboxMessage::TicketAnswer { contact, answer } => {
                let (contact, answer) = match (
                    self.keys.open(&contact).await,
                    self.keys.open(&answer).await,
                ) {
                    (Ok(contact), Ok(answer)) => (contact, answer),
                    (Err(KeyError::Erased(_)), _) | (_, Err(KeyError::Erased(_))) => {
                        return Ok(Delivery::Nothing("personal data erased"))
                    }
                    (Err(e), _) | (_, Err(e)) => return Err(e.into()),
                };
                let text = format!("k911: ответ на ваше обращение: {}", answer.as_str());
                Ok(match (channel, contact.phone, contact.email) {
                    ("sms", Some(phone), _) => Delivery::Sms(phone, text),
                    ("email", _, Some(email)) => Delivery::Email(
                        email,
                        "Ответ на ваше обращение в k911".to_string(),
                        format!(
                            "Здравствуйте, {}!\n\n{}\n\nСлужба поддержки k911",
                            contact.name.as_str(),
                            answer.as_str()
                        ),
                    ),
                    _ => Delivery::Nothing("no contact for this channel"),
                })
            }
            OutboxMessage::StaffEmail { to, subject, body } => {
                Ok(Delivery::Email(to, subject, body))
            }
            OutboxMessage::Sms { phone, text } => {
                match (self.keys.open(&phone).await, self.keys.open(&text).await) {
                    (Ok(phone), Ok(text)) => Ok(Delivery::Sms(phone, text)),
                    (Err(KeyError::Erased(_)), _) | (_, Err(KeyError::Erased(_))) => {
                        Ok(Delivery::Nothing("personal data erased"))
                    }
                    (Err(e), _) | (_, Err(e)) => Err(e.into()),
                }
            }
        }
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
        .fetch_all(&self.db.sqlx)
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
