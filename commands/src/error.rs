//! Why a use case failed. The HTTP layer maps each variant to one status; user mistakes carry
//! enough to say what is wrong, infrastructure failures are logged and never echoed.

use k911_aggregates::account::AccountError;
use k911_aggregates::compliance_read::ComplianceReadError;
use k911_aggregates::document::DocumentError;
use k911_aggregates::faq::FaqError;
use k911_aggregates::loan_application::LoanApplicationError;
use k911_aggregates::support_ticket::SupportTicketError;
use k911_event_store::follower::FollowerError;
use k911_event_store::keys::KeyError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Ticket(#[from] SupportTicketError),
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Faq(#[from] FaqError),
    #[error(transparent)]
    ComplianceRead(#[from] ComplianceReadError),
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
    /// The aggregate kept changing under us: retried from fresh loads, then given up.
    #[error("the resource was changed by another request; try again")]
    Conflict,
    #[error("not found")]
    NotFound,
    /// A person k911 holds no data of.
    #[error("no such person")]
    UnknownSubject,
    /// The person's data was erased: there is nothing left to disclose.
    #[error("this person's data has been erased")]
    SubjectErased,
    #[error(transparent)]
    Disclosure(#[from] k911_aggregates::disclosure::DisclosureError),
    /// The payment was reported before (by another request at the same moment).
    #[error("this payment was reported before")]
    AlreadyReceived,
    /// A payout asked of the provider longer ago than it keeps the idempotency key.
    #[error(
        "this payout was first asked more than a day ago: the provider may have forgotten its \
         key, so it is reconciled with the provider by hand, not retried"
    )]
    PayoutTooOldToRetry,
    /// Only a dead effect can be retried: a pending one will be, and a done one never again.
    #[error("the effect is not dead: only a dead effect can be retried")]
    NotDead,
    #[error("the login is already taken")]
    LoginTaken,
    #[error("wrong login or password")]
    BadCredentials,
    #[error(transparent)]
    Agent(#[from] k911_aggregates::agent::AgentError),
    /// The client showed an older text of a consent than the one in force.
    #[error("the text of the {0} consent has changed: show the current one and ask again")]
    ConsentTextChanged(&'static str),
    /// No credit bureau may be asked: the customer's consent is not live.
    #[error("{}", .0.explained())]
    NoLiveConsent(k911_aggregates::account::NoLiveConsent),
    /// A consent's document is not published: no application can be taken.
    #[error("the text of the {0} consent is not published")]
    ConsentTextMissing(&'static str),
    #[error("too many failed attempts; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error("the read models are behind: {0}")]
    NotReady(#[from] FollowerError),
    #[error("personal data unavailable: {0}")]
    Keys(KeyError),
    /// The database cannot be reached for now (a lost or refused connection, a pool with none
    /// free, a server shutting down): the client may retry, with its Idempotency-Key if it sent a
    /// command whose outcome it did not hear.
    #[error("the database is unavailable for now: {0}")]
    Unavailable(String),
    #[error("storage failure: {0}")]
    Storage(String),
}

use k911_event_store::connect::{sqlx_unavailable, unavailable_state};

fn pg_unavailable(e: &tokio_postgres::Error) -> bool {
    let io = std::error::Error::source(e).is_some_and(|source| source.is::<std::io::Error>());
    e.is_closed() || io || e.code().is_some_and(|code| unavailable_state(code.code()))
}

impl From<KeyError> for Error {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Database(db) if sqlx_unavailable(&db) => Self::Unavailable(db.to_string()),
            other => Self::Keys(other),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        if sqlx_unavailable(&e) {
            return Self::Unavailable(e.to_string());
        }
        Self::Storage(e.to_string())
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        if pg_unavailable(&e) {
            return Self::Unavailable(e.to_string());
        }
        Self::Storage(e.to_string())
    }
}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        let unavailable = match &e {
            deadpool_postgres::PoolError::Backend(pg) => pg_unavailable(pg),
            _ => true,
        };
        if unavailable {
            return Self::Unavailable(e.to_string());
        }
        Self::Storage(e.to_string())
    }
}

impl Error {
    /// A command's failure that is not the aggregate's answer: the database out of reach, or
    /// something wrong with the store.
    /// A command's failure: the aggregate's refusal as itself, the store's trouble as such.
    pub(crate) fn from_command<E>(e: cqrs_es::AggregateError<E>) -> Self
    where
        E: std::error::Error,
        Error: From<E>,
    {
        match e {
            cqrs_es::AggregateError::UserError(refusal) => refusal.into(),
            other => Self::from_store(other),
        }
    }

    pub(crate) fn from_store<T: std::error::Error>(e: cqrs_es::AggregateError<T>) -> Self {
        use cqrs_es::AggregateError as E;
        match &e {
            E::DatabaseConnectionError(_) => Self::Unavailable(e.to_string()),
            E::UnexpectedError(cause)
                if cause
                    .downcast_ref::<sqlx::Error>()
                    .is_some_and(sqlx_unavailable) =>
            {
                Self::Unavailable(e.to_string())
            }
            _ => Self::Storage(e.to_string()),
        }
    }
}

impl From<cqrs_es::persist::PersistenceError> for Error {
    fn from(e: cqrs_es::persist::PersistenceError) -> Self {
        Self::from_store(cqrs_es::AggregateError::<std::convert::Infallible>::from(e))
    }
}

/// How a process manager's failed step bears on the log: either it is about the event (it can
/// never be handled: it is set aside, recorded, and the events behind it go on), or it is "not
/// now" (the database or a provider is out of reach, a race was lost: the batch is tried again).
pub(crate) trait StepFailure: std::fmt::Display {
    /// Whether trying again later may succeed.
    fn not_now(&self) -> bool {
        false
    }
}

impl StepFailure for Error {
    fn not_now(&self) -> bool {
        match self {
            Error::Unavailable(_)
            | Error::Storage(_)
            | Error::Conflict
            | Error::NotReady(_)
            | Error::ProviderUnavailable(_) => true,
            Error::Keys(e) => e.not_now(),
            _ => false,
        }
    }
}

impl StepFailure for KeyError {
    fn not_now(&self) -> bool {
        matches!(self, KeyError::Database(_))
    }
}

impl<E: std::error::Error> StepFailure for cqrs_es::AggregateError<E> {
    fn not_now(&self) -> bool {
        !matches!(self, cqrs_es::AggregateError::UserError(_))
    }
}

impl StepFailure for &str {}
impl StepFailure for uuid::Error {}
impl StepFailure for chrono::OutOfRangeError {}

/// The follower's error for a step that failed on `event`.
pub(crate) fn step_failed(
    event: &k911_event_store::log::RecordedEvent,
    failure: &dyn StepFailure,
) -> FollowerError {
    if failure.not_now() {
        FollowerError::NotNow(failure.to_string())
    } else {
        FollowerError::bad_event(event, failure.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only trouble that may pass is tried again; a refusal or a broken event is set aside, or
    /// one borrower's event would stop everyone's.
    #[test]
    fn a_step_is_tried_again_only_for_trouble_that_may_pass() {
        let not_now: [&dyn StepFailure; 4] = [
            &Error::Unavailable("pool timed out".into()),
            &Error::Conflict,
            &Error::ProviderUnavailable("ЮKassa 503".into()),
            &cqrs_es::AggregateError::<AccountError>::AggregateConflict,
        ];
        assert!(not_now.iter().all(|failure| failure.not_now()));
        let about_the_event: [&dyn StepFailure; 4] = [
            &Error::NotFound,
            &Error::Account(AccountError::AlreadyOpen),
            &cqrs_es::AggregateError::UserError(AccountError::AlreadyOpen),
            &"payment without receipt",
        ];
        assert!(about_the_event.iter().all(|failure| !failure.not_now()));
    }

    #[test]
    fn a_database_out_of_reach_is_unavailable_and_a_bad_statement_is_not() {
        assert!(matches!(
            Error::from(sqlx::Error::PoolTimedOut),
            Error::Unavailable(_)
        ));
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(matches!(
            Error::from(sqlx::Error::Io(refused)),
            Error::Unavailable(_)
        ));
        assert!(matches!(
            Error::from(sqlx::Error::RowNotFound),
            Error::Storage(_)
        ));
        let lost: cqrs_es::AggregateError<std::io::Error> =
            cqrs_es::AggregateError::UnexpectedError(Box::new(sqlx::Error::PoolTimedOut));
        assert!(matches!(Error::from_store(lost), Error::Unavailable(_)));
    }
}
