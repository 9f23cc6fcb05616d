/// Why a support ticket refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupportTicketError {
    #[error("the ticket was already submitted")]
    AlreadySubmitted,
    #[error("no such ticket")]
    NotFound,
    #[error("the ticket is no longer waiting in the queue")]
    NotWaiting,
    #[error("the ticket has not been taken from the queue")]
    NotAssigned,
    #[error("the ticket is assigned to another agent")]
    AssignedToAnotherAgent,
    #[error("the ticket is closed")]
    Closed,
}
