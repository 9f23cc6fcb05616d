//! Process manager `support_notifications`: when an agent answers a ticket, the answer is put in
//! the notification outbox for the requester's phone and e-mail. Outbox ids derive from the event,
//! so a replay or a rebuild sends nothing twice.

use async_trait::async_trait;
use cqrs_es::Aggregate;
use k911_aggregates::support_ticket::{SupportTicket, SupportTicketEvent, SupportTicketEventType};
use k911_event_store::log::RecordedEvent;
use k911_event_store::outbox::{self, Channel, Effect};
use strum::VariantArray;

use k911_event_store::follower::{payload, BatchTx, Follower, FollowerError, Kind};

pub struct SupportNotifications;

#[async_trait]
impl Follower for SupportNotifications {
    fn name(&self) -> &'static str {
        "support_notifications"
    }

    fn event_types(&self) -> Vec<&'static str> {
        vec![SupportTicketEventType::TicketAnswered.into()]
    }

    fn kind(&self) -> Kind {
        Kind::ProcessManager
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        let SupportTicketEvent::TicketAnswered { answer, .. } = payload(event)? else {
            return Ok(());
        };
        // The contact is in the ticket's first event, committed before this one.
        let first = tx
            .first_payload(SupportTicket::TYPE, &event.aggregate_id)
            .await?;
        let contact = match serde_json::from_value(first) {
            Ok(SupportTicketEvent::TicketSubmitted { contact, .. }) => contact,
            Ok(_) => return Err(FollowerError::bad_event(event, "ticket without submission")),
            Err(e) => return Err(FollowerError::bad_event(event, e)),
        };
        let message = Effect::TicketAnswer { contact, answer };
        for &channel in Channel::VARIANTS {
            outbox::enqueue(
                tx.transaction(),
                outbox::message_id(event.position(), channel),
                channel,
                &message,
            )
            .await?;
        }
        Ok(())
    }
}
