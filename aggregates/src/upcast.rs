//! Upcasters: how events written in an older shape are read today.
//!
//! Released events are never edited. When a shape changes, the new one gets a new version and the
//! old rows are rewritten here, on read, into the new shape: by cqrs-es when an aggregate is loaded
//! ([`Upcasters`]) and by the log followers ([`upcast`]), the same function for both.
//!
//! Version 2.0 took personal data and secrets out of the clear:
//! - `StaffAccountCreated`, `CustomerAccountOpened`, `PasswordIssued`, `PasswordChanged` carried
//!   an argon2 hash; now they name a credential (`password`), the hash being kept in a mutable
//!   table that erasure can empty. A 1.0 hash becomes the credential [`legacy_credential`] names,
//!   which `k911 migrate` copies into that table.
//! - `ApplicationRejected` carried the reason in clear; `DebtToIncomeAssessed` the declared
//!   income and payments. Now they are sealed with the customer's key. Clear 1.0 values cannot be
//!   sealed on read (that needs the key store), so they are dropped: they read as not recorded.

use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::values::CredentialId;

/// The version of the event shapes changed in 2.0.
pub const EVENT_VERSION_2: &str = "2.0";

const CREDENTIAL_EVENTS: [&str; 4] = [
    "StaffAccountCreated",
    "CustomerAccountOpened",
    "PasswordIssued",
    "PasswordChanged",
];

/// The credential a 1.0 event's password hash stands for: derived from the hash itself, so the
/// migration that stores the hash and every later read agree without a lookup table. (SQL:
/// `encode(substr(sha256(convert_to(hash, 'UTF8')), 1, 16), 'hex')::uuid`.)
pub fn legacy_credential(password_hash: &str) -> CredentialId {
    let digest = Sha256::digest(password_hash.as_bytes());
    let bytes: [u8; 16] = digest[..16].try_into().expect("sha256 is 32 bytes");
    CredentialId(Uuid::from_bytes(bytes))
}

/// `payload` of an event `event_type` written at `version`, in today's shape. Whether it needed
/// anything is not reported: a payload already current comes back unchanged.
pub fn upcast(event_type: &str, version: &str, mut payload: Value) -> Value {
    if version != crate::EVENT_VERSION_1 {
        return payload;
    }
    let Some(fields) = payload.get_mut(event_type).and_then(Value::as_object_mut) else {
        return payload;
    };
    if CREDENTIAL_EVENTS.contains(&event_type) {
        let hash = fields.remove("password_hash").unwrap_or(Value::Null);
        let credential = hash
            .as_str()
            .map(|hash| Value::from(legacy_credential(hash).0.to_string()))
            .unwrap_or(Value::Null);
        fields.insert("password".into(), credential);
    } else if event_type == "ApplicationRejected" {
        fields.insert("reason".into(), Value::Null);
    } else if event_type == "DebtToIncomeAssessed" {
        fields.remove("monthly_income");
        fields.remove("monthly_payments");
        fields.insert("declared".into(), Value::Null);
    }
    payload
}

/// [`upcast`] for cqrs-es, which loads aggregates through it.
pub struct Upcasters;

impl EventUpcaster for Upcasters {
    fn can_upcast(&self, event_type: &str, event_version: &str) -> bool {
        event_version == crate::EVENT_VERSION_1
            && (CREDENTIAL_EVENTS.contains(&event_type)
                || event_type == "ApplicationRejected"
                || event_type == "DebtToIncomeAssessed")
    }

    fn upcast(&self, mut event: SerializedEvent) -> SerializedEvent {
        event.payload = upcast(&event.event_type, &event.event_version, event.payload);
        event.event_version = EVENT_VERSION_2.to_string();
        event
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::account::AccountEvent;
    use crate::loan_application::LoanApplicationEvent;

    #[test]
    fn a_1_0_password_hash_becomes_the_credential_derived_from_it() {
        let v1 = json!({"PasswordChanged": {"password_hash": "$argon2id$h", "changed_at": "2026-11-27T09:00:00Z"}});
        let event: AccountEvent =
            serde_json::from_value(upcast("PasswordChanged", "1.0", v1)).unwrap();
        let AccountEvent::PasswordChanged { password, .. } = event else {
            panic!("{event:?}");
        };
        assert_eq!(password, legacy_credential("$argon2id$h"));
        assert_ne!(password, legacy_credential("$argon2id$other"));
    }

    #[test]
    fn a_phone_only_opening_of_1_0_names_no_credential() {
        let v1 = json!({"CustomerAccountOpened": {"application_id": Uuid::nil(), "password_hash": null, "opened_at": "2026-11-27T09:00:00Z"}});
        let event: AccountEvent =
            serde_json::from_value(upcast("CustomerAccountOpened", "1.0", v1)).unwrap();
        assert!(matches!(
            event,
            AccountEvent::CustomerAccountOpened { password: None, .. }
        ));
    }

    #[test]
    fn clear_1_0_reasons_and_incomes_are_not_read_any_more() {
        let rejected = json!({"ApplicationRejected": {"underwriter_id": Uuid::nil(), "reason": "долги", "rejected_at": "2026-11-27T09:00:00Z"}});
        let event: LoanApplicationEvent =
            serde_json::from_value(upcast("ApplicationRejected", "1.0", rejected)).unwrap();
        assert!(matches!(
            event,
            LoanApplicationEvent::ApplicationRejected { reason: None, .. }
        ));
        let assessed = json!({"DebtToIncomeAssessed": {"monthly_income": 8000000, "monthly_payments": 1200000, "pdn_percent": "15", "assessed_at": "2026-11-27T09:00:00Z"}});
        let upcast = upcast("DebtToIncomeAssessed", "1.0", assessed);
        assert!(!upcast.to_string().contains("8000000"));
        let event: LoanApplicationEvent = serde_json::from_value(upcast).unwrap();
        assert!(matches!(
            event,
            LoanApplicationEvent::DebtToIncomeAssessed {
                declared: None,
                pdn_percent: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn current_events_pass_unchanged() {
        let v2 = json!({"PasswordChanged": {"password": Uuid::nil(), "changed_at": "2026-11-27T09:00:00Z"}});
        assert_eq!(upcast("PasswordChanged", "2.0", v2.clone()), v2);
        assert!(!Upcasters.can_upcast("PasswordChanged", "2.0"));
        assert!(!Upcasters.can_upcast("ContractSigned", "1.0"));
    }
}
