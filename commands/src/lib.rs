//! The application layer: runs commands through cqrs-es with the services the domain needs
//! (clock, ids, personal-data keys, password hashing), answers with the command's log position,
//! and keeps the read models moving.

pub mod agents;
pub mod app;
pub mod auth;
pub mod bureau;
pub mod cabinet;
pub mod clock;
pub mod compliance;
pub mod content;
pub mod contract;
pub mod credit;
pub mod credit_history;
pub mod effects;
pub mod erasure;
pub mod error;
pub mod execute;
pub mod ids;
pub mod lending;
pub mod metrics;
pub mod notify;
pub mod onboarding;
pub mod otp;
pub mod payments;
pub mod payout;
mod pdf;
pub mod profile;
pub mod registry;
pub mod sessions;
pub mod smsru;
pub mod social;
pub mod statement;
pub mod support;
pub mod support_notifications;
pub mod yookassa;

pub use app::{App, Settings};
pub use error::Error;
pub use execute::{CommandMeta, Written};
