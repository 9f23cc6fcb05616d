//! Read models and the projector runtime that keeps them current from the global log.
//!
//! Every read model is a set of typed SQL tables in the `read` schema, documented with
//! `COMMENT ON` for analysts. A projector applies a batch of events and moves its checkpoint in one
//! transaction, so each event is applied exactly once per read model, whatever crashes.

pub mod cabinet;
pub mod content;
pub mod loans;
pub mod notifications;
pub mod runtime;
pub mod support;

use std::sync::Arc;

pub use runtime::{Projection, ProjectionError, Projectors};

/// Every read model the service keeps, in the order they are started.
pub fn all(queue_receipts: &support::Receipts) -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(support::SupportTickets {
            receipts: queue_receipts.clone(),
        }),
        Arc::new(notifications::SupportNotifications),
        Arc::new(content::Faq),
        Arc::new(content::Documents),
        Arc::new(cabinet::Customers),
        Arc::new(cabinet::LoanApplications),
        Arc::new(loans::Loans),
        Arc::new(loans::UnmatchedPayments),
    ]
}
