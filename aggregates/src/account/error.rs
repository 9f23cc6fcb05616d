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
}
