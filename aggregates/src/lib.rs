//! The k911 domain: aggregates with their commands, events and errors, and the values they are
//! made of. Nothing here does I/O: what a decision needs from outside (the time, a password hash,
//! encrypted personal data) is prepared by the `commands` crate and carried in the command.

pub mod account;
pub mod calendar;
pub mod document;
pub mod faq;
pub mod incoming_payment;
pub mod loan;
pub mod loan_application;
pub mod money;
pub mod regions;
pub mod sealed;
pub mod support_ticket;
pub mod values;

pub use sealed::Sealed;

/// Version written with every event of the first release of a type. Events are never edited after
/// release: a changed shape gets a new version and an upcaster.
pub const EVENT_VERSION_1: &str = "1.0";
