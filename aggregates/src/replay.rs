//! An aggregate's state at a point of its history (issue #16), by the same code that decides
//! its commands: its stored events, upcast as every reader does, applied in order to a new
//! aggregate. Nothing here knows a rule; a second implementation would drift from the first.

use cqrs_es::Aggregate;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::upcast::upcast;

/// One event as the log stores it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReplayError {
    #[error("no aggregate of type {0}")]
    UnknownType(String),
    #[error("event {sequence} ({event_type}) cannot be read: {reason}")]
    Unreadable {
        sequence: usize,
        event_type: String,
        reason: String,
    },
}

/// The state of an aggregate of `aggregate_type` after `events` (its own, from its first, in
/// sequence order), as it serializes: what its snapshots hold.
pub fn state_of(aggregate_type: &str, events: &[Stored]) -> Result<Value, ReplayError> {
    use crate::*;
    match aggregate_type {
        account::Account::TYPE => replay::<account::Account>(events),
        agent::Agent::TYPE => replay::<agent::Agent>(events),
        compliance_read::ComplianceRead::TYPE => replay::<compliance_read::ComplianceRead>(events),
        disclosure::Disclosure::TYPE => replay::<disclosure::Disclosure>(events),
        document::Document::TYPE => replay::<document::Document>(events),
        faq::FaqEntry::TYPE => replay::<faq::FaqEntry>(events),
        incoming_payment::IncomingPayment::TYPE => {
            replay::<incoming_payment::IncomingPayment>(events)
        }
        loan::Loan::TYPE => replay::<loan::Loan>(events),
        loan_application::LoanApplication::TYPE => {
            replay::<loan_application::LoanApplication>(events)
        }
        support_ticket::SupportTicket::TYPE => replay::<support_ticket::SupportTicket>(events),
        other => Err(ReplayError::UnknownType(other.to_string())),
    }
}

fn replay<A: Aggregate>(events: &[Stored]) -> Result<Value, ReplayError> {
    let mut state = A::default();
    for (index, stored) in events.iter().enumerate() {
        let payload = upcast(
            &stored.event_type,
            &stored.event_version,
            stored.payload.clone(),
        );
        let event: A::Event =
            serde_json::from_value(payload).map_err(|e| ReplayError::Unreadable {
                sequence: index + 1,
                event_type: stored.event_type.clone(),
                reason: e.to_string(),
            })?;
        state.apply(event);
    }
    Ok(serde_json::to_value(&state).expect("aggregates serialize (their snapshots do)"))
}

/// The person an event's payload names: a `customer_id` anywhere in it, else the subject whose
/// key seals a value in it (or a `subject_id` it names outright). The names of these fields are
/// kept by every version of every event.
pub fn named_subject(payload: &Value) -> Option<Uuid> {
    let uuid_at = |key: &'static str| {
        move |map: &Map<String, Value>| map.get(key)?.as_str()?.parse::<Uuid>().ok()
    };
    find(payload, &uuid_at("customer_id")).or_else(|| find(payload, &uuid_at("subject_id")))
}

/// The loan a payload names (`loan_id` anywhere in it).
pub fn named_loan(payload: &Value) -> Option<Uuid> {
    find(payload, &|map: &Map<String, Value>| {
        map.get("loan_id")?.as_str()?.parse::<Uuid>().ok()
    })
}

/// The first value `pick` finds in `value` or any object inside it, depth first.
fn find<T>(value: &Value, pick: &impl Fn(&Map<String, Value>) -> Option<T>) -> Option<T> {
    match value {
        Value::Object(map) => pick(map).or_else(|| map.values().find_map(|v| find(v, pick))),
        Value::Array(items) => items.iter().find_map(|v| find(v, pick)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use cqrs_es::DomainEvent;
    use serde_json::json;

    use super::*;
    use crate::faq::FaqEvent;
    use crate::values::MessageText;

    fn stored(event: FaqEvent) -> Stored {
        Stored {
            event_type: event.event_type(),
            event_version: event.event_version(),
            payload: serde_json::to_value(&event).unwrap(),
        }
    }

    #[test]
    fn the_state_after_some_events_is_what_the_aggregate_makes_of_them() {
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap();
        let published = stored(FaqEvent::FaqEntryPublished {
            question: MessageText::parse("?").unwrap(),
            answer: MessageText::parse("!").unwrap(),
            published_at: at,
        });
        let withdrawn = stored(FaqEvent::FaqEntryWithdrawn { withdrawn_at: at });
        assert_eq!(
            state_of("FaqEntry", std::slice::from_ref(&published)).unwrap(),
            json!({"live": true, "exists": true})
        );
        assert_eq!(
            state_of("FaqEntry", &[published, withdrawn]).unwrap(),
            json!({"live": false, "exists": true})
        );
        assert_eq!(
            state_of("FaqEntry", &[]).unwrap(),
            json!({"live": false, "exists": false})
        );
    }

    #[test]
    fn an_unknown_type_or_an_unreadable_event_is_named() {
        assert_eq!(
            state_of("Spaceship", &[]),
            Err(ReplayError::UnknownType("Spaceship".into()))
        );
        let odd = Stored {
            event_type: "FaqEntryPublished".into(),
            event_version: "1.0".into(),
            payload: json!({"FaqEntryPublished": {}}),
        };
        assert!(matches!(
            state_of("FaqEntry", &[odd]),
            Err(ReplayError::Unreadable { sequence: 1, .. })
        ));
    }

    const CUSTOMER: &str = "0b7e4c1a-3f2d-4e5b-8a9c-1d2e3f4a5b6c";
    const AUTHOR: &str = "9a8b7c6d-5e4f-4a3b-9c1d-0e1f2a3b4c5d";

    #[test]
    fn a_customer_named_anywhere_comes_before_a_sealed_value() {
        let offered = json!({"LoanOffered": {"terms": {
            "payout": {"subject_id": AUTHOR, "nonce": "n", "ciphertext": "c"},
            "customer_id": CUSTOMER
        }}});
        assert_eq!(named_subject(&offered), Some(CUSTOMER.parse().unwrap()));
        let submitted = json!({"TicketSubmitted": {"contact":
            {"subject_id": AUTHOR, "nonce": "n", "ciphertext": "c"}}});
        assert_eq!(named_subject(&submitted), Some(AUTHOR.parse().unwrap()));
        assert_eq!(named_subject(&json!({"FaqEntryPublished": {}})), None);
        assert_eq!(
            named_loan(&json!({"PaymentAssigned": {"loan_id": CUSTOMER}})),
            Some(CUSTOMER.parse().unwrap())
        );
    }
}
