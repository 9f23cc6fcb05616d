use super::values::Month;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    #[error("the agent is registered already")]
    AlreadyRegistered,
    #[error("no such agent")]
    NotRegistered,
    #[error("the taxpayer number does not fit the kind of agent (10 digits for a company, 12 for a person)")]
    InnDoesNotFitKind,
    #[error("a commission plan's percentage is from 0 to 100")]
    InvalidPlan,
    #[error("the agent is suspended")]
    Suspended,
    #[error("the agent is not suspended")]
    NotSuspended,
    #[error("a plan cannot take effect in the past")]
    PlanInThePast,
    #[error("a plan takes effect after the latest one: plans are never rewritten")]
    PlanWouldRewrite,
    #[error("the client is attributed to this agent already")]
    AlreadyAttributed,
    #[error("no commission of this loan to take back")]
    NothingToReverse,
    #[error("{0} has not ended yet")]
    MonthNotOver(Month),
    #[error("{0} is closed already")]
    MonthClosed(Month),
    #[error("{0} has no closed statement")]
    StatementNotClosed(Month),
    #[error("the statement of {0} has nothing to pay")]
    NothingPayable(Month),
    #[error("the statement of {0} is approved for payment already")]
    PaymentApprovedAlready(Month),
    #[error("no payment of {0} is awaited")]
    NoPaymentAwaited(Month),
}
