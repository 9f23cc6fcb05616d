//! A repayment that came in from an outside channel but could not be applied to a loan (no
//! contract with its number, or a loan not issued yet). It waits in the staff's queue; money
//! received is never dropped. Its id derives from `(channel, external_id)`, so the same payment
//! arriving again finds it.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::Kopecks;
use crate::EVENT_VERSION_1;

/// What an outside channel reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalPayment {
    /// `sberbank_online` | `terminal`
    pub channel: String,
    pub external_id: String,
    /// As the payer typed it.
    pub contract_number: String,
    pub amount: Kopecks,
    pub paid_at: DateTime<Utc>,
}

impl ExternalPayment {
    /// The payment's id: the same for every report of the same payment.
    pub fn id(&self) -> Uuid {
        const NAMESPACE: Uuid = Uuid::from_u128(0x6b39_3131_7061_796d_656e_7400_0000_0001);
        Uuid::new_v5(
            &NAMESPACE,
            format!("{}/{}", self.channel, self.external_id).as_bytes(),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum IncomingPaymentCommand {
    /// Keeps a payment no loan could take, with why.
    Hold {
        payment: ExternalPayment,
        reason: String,
        at: DateTime<Utc>,
    },
    /// A staff member found the loan the payment was meant for.
    Match {
        loan_id: Uuid,
        staff_id: Uuid,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum IncomingPaymentEvent {
    PaymentUnmatched {
        payment: ExternalPayment,
        reason: String,
        received_at: DateTime<Utc>,
    },
    /// The payment goes to this loan (applied there under its channel and external id).
    PaymentMatched {
        loan_id: Uuid,
        staff_id: Uuid,
        matched_at: DateTime<Utc>,
    },
}

impl DomainEvent for IncomingPaymentEvent {
    fn event_type(&self) -> String {
        match self {
            Self::PaymentUnmatched { .. } => "PaymentUnmatched".to_string(),
            Self::PaymentMatched { .. } => "PaymentMatched".to_string(),
        }
    }

    fn event_version(&self) -> String {
        EVENT_VERSION_1.to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncomingPaymentError {
    #[error("no such unmatched payment")]
    NotHeld,
    #[error("the payment was already matched to loan {0}")]
    AlreadyMatched(Uuid),
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct IncomingPayment {
    payment: Option<ExternalPayment>,
    matched_to: Option<Uuid>,
}

impl IncomingPayment {
    /// Whether this payment was already received (and held).
    pub fn received(&self) -> bool {
        self.payment.is_some()
    }

    pub fn payment(&self) -> Option<&ExternalPayment> {
        self.payment.as_ref()
    }

    pub fn matched_to(&self) -> Option<Uuid> {
        self.matched_to
    }
}

impl Aggregate for IncomingPayment {
    const TYPE: &'static str = "IncomingPayment";
    type Command = IncomingPaymentCommand;
    type Event = IncomingPaymentEvent;
    type Error = IncomingPaymentError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            IncomingPaymentCommand::Hold {
                payment,
                reason,
                at,
            } => {
                // The same payment reported again: it is here already.
                if self.payment.is_none() {
                    let held = IncomingPaymentEvent::PaymentUnmatched {
                        payment,
                        reason,
                        received_at: at,
                    };
                    sink.write(held, self).await;
                }
            }
            IncomingPaymentCommand::Match {
                loan_id,
                staff_id,
                at,
            } => {
                if self.payment.is_none() {
                    return Err(IncomingPaymentError::NotHeld);
                }
                match self.matched_to {
                    // Asked again (a retry after the loan took it): done already.
                    Some(matched) if matched == loan_id => {}
                    Some(matched) => return Err(IncomingPaymentError::AlreadyMatched(matched)),
                    None => {
                        let matched = IncomingPaymentEvent::PaymentMatched {
                            loan_id,
                            staff_id,
                            matched_at: at,
                        };
                        sink.write(matched, self).await;
                    }
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            IncomingPaymentEvent::PaymentUnmatched { payment, .. } => self.payment = Some(payment),
            IncomingPaymentEvent::PaymentMatched { loan_id, .. } => self.matched_to = Some(loan_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;

    use super::*;

    fn payment(external_id: &str) -> ExternalPayment {
        ExternalPayment {
            channel: "terminal".into(),
            external_id: external_id.into(),
            contract_number: "911-000000-000000".into(),
            amount: Kopecks::new(100_000).unwrap(),
            paid_at: Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap(),
        }
    }

    fn hold() -> IncomingPaymentCommand {
        IncomingPaymentCommand::Hold {
            payment: payment("t-1"),
            reason: "no contract with this number".into(),
            at: Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 5).unwrap(),
        }
    }

    fn held() -> IncomingPaymentEvent {
        IncomingPaymentEvent::PaymentUnmatched {
            payment: payment("t-1"),
            reason: "no contract with this number".into(),
            received_at: Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 5).unwrap(),
        }
    }

    #[test]
    fn an_unmatched_payment_is_held_once() {
        TestFramework::<IncomingPayment>::with(())
            .given_no_previous_events()
            .when(hold())
            .then_expect_events(vec![held()]);
        TestFramework::<IncomingPayment>::with(())
            .given(vec![held()])
            .when(hold())
            .then_expect_events(vec![]);
    }

    #[test]
    fn staff_match_a_held_payment_to_one_loan() {
        let at = Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap();
        let (loan, other, staff) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let match_to = |loan_id| IncomingPaymentCommand::Match {
            loan_id,
            staff_id: staff,
            at,
        };
        let matched = IncomingPaymentEvent::PaymentMatched {
            loan_id: loan,
            staff_id: staff,
            matched_at: at,
        };
        TestFramework::<IncomingPayment>::with(())
            .given(vec![held()])
            .when(match_to(loan))
            .then_expect_events(vec![matched.clone()]);
        TestFramework::<IncomingPayment>::with(())
            .given(vec![held(), matched.clone()])
            .when(match_to(loan))
            .then_expect_events(vec![]);
        TestFramework::<IncomingPayment>::with(())
            .given(vec![held(), matched])
            .when(match_to(other))
            .then_expect_error(IncomingPaymentError::AlreadyMatched(loan));
        TestFramework::<IncomingPayment>::with(())
            .given_no_previous_events()
            .when(match_to(loan))
            .then_expect_error(IncomingPaymentError::NotHeld);
    }

    #[test]
    fn a_payment_is_known_by_its_channel_and_external_id() {
        assert_eq!(payment("t-1").id(), payment("t-1").id());
        assert_ne!(payment("t-1").id(), payment("t-2").id());
        let mut other_channel = payment("t-1");
        other_channel.channel = "sberbank_online".into();
        assert_ne!(payment("t-1").id(), other_channel.id());
    }
}
