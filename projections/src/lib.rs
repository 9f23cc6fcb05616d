//! Read models, kept current from the global log by the follower runtime of `event-store`.
//!
//! Every read model is a set of typed SQL tables in the `read` schema, documented with
//! `COMMENT ON` for analysts. A projector applies a batch of events and moves its checkpoint in one
//! transaction, so each event is applied exactly once per read model, whatever crashes.

pub mod agents;
pub mod audit;
pub mod cabinet;
pub mod consents;
pub mod content;
pub mod dictionary;
pub mod disclosures;
pub mod erasures;
pub mod loans;
pub mod reader;
pub mod support;

use std::str::FromStr;
use std::sync::Arc;

use k911_event_store::follower::Follower;
pub use reader::{ReadError, Reader};
use tokio_postgres::Row;

/// A value as a `jsonb` column keeps it (sealed personal data, a plan).
pub(crate) fn json(value: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(value).expect("sealed values serialize")
}

/// A `text` column holding a domain type's name (a payment channel, a ticket kind). Only the
/// projector writes it, from the type itself, so a value that does not parse is a bug, and it
/// panics like `Row::get` on a mismatched column.
fn parsed<T: FromStr>(row: &Row, column: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    let text: &str = row.get(column);
    text.parse()
        .unwrap_or_else(|e| panic!("read model column {column} holds {text:?}: {e:?}"))
}

/// Every read model the service keeps, in the order they are started: the loan book's first,
/// since they have the most of the log to replay and a rebuild starts a few at a time (the audit
/// trail's subjects read the whole log).
pub fn all(queue_receipts: &support::Receipts) -> Vec<Arc<dyn Follower>> {
    vec![
        Arc::new(loans::Loans),
        Arc::new(audit::AuditSubjects),
        Arc::new(cabinet::Customers),
        Arc::new(cabinet::LoanApplications),
        Arc::new(support::SupportTickets {
            receipts: queue_receipts.clone(),
        }),
        Arc::new(content::Faq),
        Arc::new(content::Documents),
        Arc::new(loans::UnmatchedPayments),
        Arc::new(agents::Agents),
        Arc::new(disclosures::Disclosures),
        Arc::new(erasures::ErasureCases),
        Arc::new(consents::Consents),
    ]
}

#[cfg(test)]
mod tests {
    use k911_event_store::follower::unknown_event_types;

    /// Every read model reads only event types some aggregate records.
    #[test]
    fn every_read_model_reads_known_event_types() {
        for projection in crate::all(&crate::support::Receipts::default()) {
            assert_eq!(
                unknown_event_types(projection.as_ref()),
                Vec::<&str>::new(),
                "{}",
                projection.name()
            );
        }
    }
}
