//! The k911 domain: aggregates with their commands, events and errors, and the values they are
//! made of. Nothing here does I/O: what a decision needs from outside (the time, a password hash,
//! encrypted personal data) is prepared by the `commands` crate and carried in the command.

pub mod account;
pub mod agent;
pub mod calendar;
pub mod compliance_read;
pub mod credit_report;
pub mod disclosure;
pub mod document;
pub mod faq;
pub mod incoming_payment;
pub mod loan;
pub mod loan_application;
pub mod money;
pub mod regions;
pub mod replay;
pub mod sealed;
pub mod support_ticket;
pub mod upcast;
pub mod values;
pub mod working_days;

pub use sealed::Sealed;

/// Version written with every event of the first release of a type. Events are never edited after
/// release: a changed shape gets a new version and an upcaster.
pub const EVENT_VERSION_1: &str = "1.0";

/// A first release's shape with fields added (optional, so a 1.0 row reads as it is).
pub const EVENT_VERSION_1_1: &str = "1.1";

/// A hash of this crate's source (see `build.rs`): a snapshot of an aggregate's state is used only
/// by the code that took it.
pub const CODE_VERSION: &str = env!("K911_AGGREGATES_CODE");

/// Every event type of every aggregate as the log names them, `(aggregate type, event type)`:
/// read from the events' enums, so a follower of the log can be checked against them.
pub fn event_types() -> Vec<(&'static str, &'static str)> {
    use cqrs_es::Aggregate;
    use strum::VariantNames;
    let of = |aggregate: &'static str, names: &'static [&'static str]| {
        names.iter().map(move |name| (aggregate, *name))
    };
    of(account::Account::TYPE, account::AccountEvent::VARIANTS)
        .chain(of(agent::Agent::TYPE, agent::AgentEvent::VARIANTS))
        .chain(of(
            compliance_read::ComplianceRead::TYPE,
            compliance_read::ComplianceReadEvent::VARIANTS,
        ))
        .chain(of(
            disclosure::Disclosure::TYPE,
            disclosure::DisclosureEvent::VARIANTS,
        ))
        .chain(of(
            document::Document::TYPE,
            document::DocumentEvent::VARIANTS,
        ))
        .chain(of(faq::FaqEntry::TYPE, faq::FaqEvent::VARIANTS))
        .chain(of(
            incoming_payment::IncomingPayment::TYPE,
            incoming_payment::IncomingPaymentEvent::VARIANTS,
        ))
        .chain(of(loan::Loan::TYPE, loan::LoanEvent::VARIANTS))
        .chain(of(
            loan_application::LoanApplication::TYPE,
            loan_application::LoanApplicationEvent::VARIANTS,
        ))
        .chain(of(
            support_ticket::SupportTicket::TYPE,
            support_ticket::SupportTicketEvent::VARIANTS,
        ))
        .collect()
}

#[cfg(test)]
mod tests {
    /// The log is filtered by event type alone: two aggregates with one event name would feed
    /// each other's followers (it nearly happened with `PaymentReceived`).
    #[test]
    fn event_type_names_are_unique_across_aggregates() {
        let mut seen = std::collections::BTreeMap::new();
        for (aggregate, event) in super::event_types() {
            if let Some(other) = seen.insert(event, aggregate) {
                panic!("{event} is an event of both {other} and {aggregate}");
            }
        }
        assert!(seen.contains_key("PaymentAssigned") && seen.contains_key("ContractSigned"));
    }
}
