/// Why a loan refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoanError {
    #[error("the loan was already offered")]
    AlreadyOffered,
    #[error("no such loan")]
    NotOffered,
    #[error("the offer is no longer open for signing")]
    NotSignable,
    #[error("the offer expired unsigned")]
    OfferExpired,
    #[error("the contract is not signed")]
    NotSigned,
    #[error("no payout {0} was requested for this loan")]
    UnknownPayout(uuid::Uuid),
    #[error("the loan has not been issued")]
    NotIssued,
    /// Money cannot repay a loan before it was lent: such a date is a channel's mistake.
    #[error("the payment is dated before the loan was issued on {0}")]
    PaidBeforeIssue(chrono::NaiveDate),
    #[error("nothing is held on this loan to refund")]
    NothingToRefund,
    #[error("a refund is already under way")]
    RefundPending,
}
