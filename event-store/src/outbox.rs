//! The notification outbox: what process managers ask to be sent, sealed until sending.

use k911_aggregates::support_ticket::TicketContact;
use k911_aggregates::values::{Email, MessageText, Phone};
use k911_aggregates::Sealed;
use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;
use uuid::Uuid;

/// Which way a notification travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Email,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Sms, Channel::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }
}

/// A notification to a customer; its recipient and text are personal data, kept sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OutboxMessage {
    /// A support agent answered a ticket: the answer goes to the requester's contact.
    TicketAnswer {
        contact: Sealed<TicketContact>,
        answer: Sealed<MessageText>,
    },
    /// A text for a customer's phone, composed by a process manager (it may carry a password,
    /// so it is sealed like the number).
    Sms {
        phone: Sealed<Phone>,
        text: Sealed<String>,
    },
    /// A notice to a staff member at their work login (not personal data: stored plainly, and
    /// it must carry none).
    StaffEmail {
        to: Email,
        subject: String,
        body: String,
    },
}

/// Adds a notification inside the caller's transaction. The id derives from the triggering event
/// (see [`message_id`]), so enqueueing the same event twice adds one row.
pub async fn enqueue(
    client: &impl GenericClient,
    id: Uuid,
    channel: Channel,
    message: &OutboxMessage,
) -> Result<(), tokio_postgres::Error> {
    let message = serde_json::to_value(message).expect("outbox messages serialize");
    client
        .execute(
            "INSERT INTO notification_outbox (id, channel, message) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO NOTHING",
            &[&id, &channel.as_str(), &message],
        )
        .await?;
    Ok(())
}

/// Whether the notification `id` was already enqueued (a process manager's proof that it
/// finished its work for an event).
pub async fn exists(client: &impl GenericClient, id: Uuid) -> Result<bool, tokio_postgres::Error> {
    let row = client
        .query_opt("SELECT 1 FROM notification_outbox WHERE id = $1", &[&id])
        .await?;
    Ok(row.is_some())
}

/// A stable id for the notification `channel` caused by event `position`.
pub fn message_id(position: i64, channel: Channel) -> Uuid {
    const NAMESPACE: Uuid = Uuid::from_u128(0x6b39_3131_6f75_7462_6f78_0000_0000_0001);
    Uuid::new_v5(
        &NAMESPACE,
        format!("{position}/{}", channel.as_str()).as_bytes(),
    )
}
