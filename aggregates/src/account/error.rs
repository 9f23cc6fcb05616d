use crate::values::Role;

/// Why an account refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("the account already exists")]
    AlreadyExists,
    #[error("{0} is not a staff role")]
    NotAStaffRole(Role),
    #[error("no customer account")]
    NotACustomer,
    #[error("the account was already opened by another application")]
    AlreadyOpen,
    #[error("the cabinet is not open yet: it opens when the first application is approved")]
    NotOpen,
    #[error("an application is already being considered; wait for its decision")]
    ApplicationPending,
    #[error("this cabinet logs in with SMS codes: it has no password to change")]
    NoPassword,
    #[error("an account of {0} is already linked; unlink it first")]
    AlreadyLinked(String),
    #[error("no account of {0} is linked")]
    NotLinked(String),
    #[error("the customer's personal data was erased")]
    Erased,
    #[error("no consent to request the credit history is in force")]
    NoConsent,
}
