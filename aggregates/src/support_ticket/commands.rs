use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Requester, TicketContact, TicketKind};
use crate::values::MessageText;
use crate::Sealed;

/// What can be asked of a support ticket. Times come from the service's clock, personal data
/// arrives already sealed with the requester's key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SupportTicketCommand {
    /// The feedback form was sent: the ticket joins the end of the queue.
    Submit {
        kind: TicketKind,
        requester: Requester,
        contact: Sealed<TicketContact>,
        question: Sealed<MessageText>,
        at: DateTime<Utc>,
    },
    /// A support agent takes the ticket from the queue.
    Assign { agent_id: Uuid, at: DateTime<Utc> },
    /// The assigned agent answers; the answer goes to the requester's contact.
    Reply {
        agent_id: Uuid,
        answer: Sealed<MessageText>,
        at: DateTime<Utc>,
    },
    /// The assigned agent closes the ticket.
    Close { agent_id: Uuid, at: DateTime<Utc> },
}
