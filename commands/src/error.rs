//! Why a use case failed. The HTTP layer maps each variant to one status; user mistakes carry
//! enough to say what is wrong, infrastructure failures are logged and never echoed.

use k911_aggregates::account::AccountError;
use k911_aggregates::document::DocumentError;
use k911_aggregates::faq::FaqError;
use k911_aggregates::loan_application::LoanApplicationError;
use k911_aggregates::support_ticket::SupportTicketError;
use k911_event_store::keys::KeyError;
use k911_projections::ProjectionError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Ticket(#[from] SupportTicketError),
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Faq(#[from] FaqError),
    #[error(transparent)]
    Document(#[from] DocumentError),
    #[error(transparent)]
    Application(#[from] LoanApplicationError),
    /// A first application from someone already registered (same phone, e-mail or passport).
    #[error("this person is already our customer: log in to the cabinet and apply from there")]
    KnownCustomer,
    /// A repeat application names a passport that another customer registered.
    #[error("this passport is registered to another customer; please contact support")]
    PassportOfAnotherCustomer,
    /// The card token is not the payout provider's, or names another card.
    #[error("unknown card token: tokenise the card with the payout provider first")]
    UnknownCard,
    #[error("no such login provider")]
    UnknownProvider,
    /// The provider's discovery document or keys could not be fetched.
    #[error("the login provider is unavailable: {0}")]
    ProviderUnavailable(String),
    /// The `state` names no flow in progress (unknown, used, expired, or another purpose).
    #[error("unknown or expired login attempt; start again")]
    BadSocialState,
    /// The provider did not vouch for the customer (bad code, bad ID token).
    #[error("the login provider did not confirm the account: {0}")]
    SocialRefused(String),
    #[error("this social account is linked to another customer")]
    SocialAccountTaken,
    #[error(transparent)]
    Loan(#[from] k911_aggregates::loan::LoanError),
    /// The offered terms break the law's edition of the signing day: the offer lapsed and the
    /// application went back to the underwriters.
    #[error(
        "the contract cannot be signed: {0}; the offer has lapsed and the application is back \
         in review"
    )]
    SigningRefused(k911_aggregates::loan::law::Unlawful),
    #[error("no contract with this number")]
    UnknownContract,
    #[error("{0}")]
    PaymentMatch(String),
    /// A one-time code that does not match (or is used, expired, burnt).
    #[error("wrong or expired code; ask for a new one")]
    WrongCode,
    #[error("the current password is wrong")]
    WrongCurrentPassword,
    #[error("no agent has this referral code")]
    UnknownReferralCode,
    /// The aggregate kept changing under us: retried from fresh loads, then given up.
    #[error("the resource was changed by another request; try again")]
    Conflict,
    #[error("not found")]
    NotFound,
    /// The payment was reported before (by another request at the same moment).
    #[error("this payment was reported before")]
    AlreadyReceived,
    /// Only a dead effect can be retried: a pending one will be, and a done one never again.
    #[error("the effect is not dead: only a dead effect can be retried")]
    NotDead,
    #[error("the login is already taken")]
    LoginTaken,
    #[error("wrong login or password")]
    BadCredentials,
    #[error("too many failed attempts; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error("the read models are behind: {0}")]
    NotReady(#[from] ProjectionError),
    #[error("personal data unavailable: {0}")]
    Keys(#[from] KeyError),
    #[error("storage failure: {0}")]
    Storage(String),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Self::Storage(e.to_string())
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Storage(e.to_string())
    }
}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::Storage(e.to_string())
    }
}
