//! A repayment that came in from an outside channel. Its id derives from `(channel,
//! external_id)`, so this aggregate is the global reservation of each payment: the first report
//! records where the money goes (a loan, or the staff's queue when no loan can take it), and every
//! later report, whatever contract number it names, finds it and changes nothing. Money received
//! is never dropped; a held payment waits until staff match it to one loan.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::Kopecks;
use crate::EVENT_VERSION_1;

/// The outside channels repayments come in from (API.md: `sberbank_online` | `terminal`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum PaymentChannel {
    SberbankOnline,
    Terminal,
}

impl PaymentChannel {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What an outside channel reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalPayment {
    pub channel: PaymentChannel,
    pub external_id: String,
    /// As the payer typed it.
    pub contract_number: String,
    pub amount: Kopecks,
    pub paid_at: DateTime<Utc>,
}

/// How far ahead of our clock a channel's `paid_at` may be (the channel's clock may run fast):
/// a payment dated later than that has not happened, and would charge interest to its date.
pub const PAID_AT_SKEW: chrono::Duration = chrono::Duration::minutes(5);

impl ExternalPayment {
    /// Checks a reported payment's fields, the same for a notification and a registry row,
    /// received at `now`: every failure with the field it concerns.
    pub fn check(
        channel: PaymentChannel,
        external_id: &str,
        contract_number: &str,
        amount_kopecks: i64,
        paid_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Self, Vec<(&'static str, String)>> {
        let mut errors = vec![];
        let mut text = |field: &'static str, value: &str, max: usize| {
            let value = value.trim();
            if value.is_empty() || value.chars().count() > max {
                errors.push((field, format!("must be 1 to {max} characters")));
            }
            value.to_string()
        };
        let external_id = text("external_id", external_id, 100);
        let contract_number = text("contract_number", contract_number, 50);
        let amount = Kopecks::new(amount_kopecks)
            .ok()
            .filter(|k| *k > Kopecks::ZERO);
        if amount.is_none() {
            errors.push(("amount_kopecks", "must be more than zero".to_string()));
        }
        if paid_at > now + PAID_AT_SKEW {
            errors.push(("paid_at", "is in the future".to_string()));
        }
        match amount {
            Some(amount) if errors.is_empty() => Ok(Self {
                channel,
                external_id,
                contract_number,
                amount,
                paid_at,
            }),
            _ => Err(errors),
        }
    }

    /// The payment's id: the same for every report of the same payment.
    pub fn id(&self) -> Uuid {
        const NAMESPACE: Uuid = Uuid::from_u128(0x6b39_3131_7061_796d_656e_7400_0000_0001);
        Uuid::new_v5(
            &NAMESPACE,
            format!("{}/{}", self.channel, self.external_id).as_bytes(),
        )
    }
}

/// Where a payment goes when it is first reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Destination {
    /// The loan of the contract it names, which takes it.
    Loan(Uuid),
    /// The staff's queue: no loan can take it, for this reason.
    Held(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum IncomingPaymentCommand {
    /// Records a payment reported for the first time and where it goes; a payment reported
    /// before is refused ([`IncomingPaymentError::AlreadyReceived`]), whatever it names now.
    Receive {
        payment: ExternalPayment,
        destination: Destination,
        at: DateTime<Utc>,
    },
    /// A staff member found the loan the payment was meant for.
    Match {
        loan_id: Uuid,
        staff_id: Uuid,
        at: DateTime<Utc>,
    },
}

#[derive(
    Debug,
    Clone,
    PartialEq,
    Serialize,
    Deserialize,
    strum::VariantNames,
    strum::IntoStaticStr,
    strum::EnumDiscriminants,
)]
/// `IncomingPaymentEventType` names each event type, for followers of the log (`IncomingPaymentEventType::X.into()`).
#[strum_discriminants(name(IncomingPaymentEventType), derive(strum::IntoStaticStr))]
pub enum IncomingPaymentEvent {
    /// The payment goes to the loan of the contract it names (the loan applies it under its
    /// channel and external id).
    PaymentAssigned {
        payment: ExternalPayment,
        loan_id: Uuid,
        received_at: DateTime<Utc>,
    },
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
        <&'static str>::from(self).to_string()
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
    #[error("this payment was reported before")]
    AlreadyReceived,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct IncomingPayment {
    payment: Option<ExternalPayment>,
    /// Whether it waited in the staff's queue.
    held: bool,
    /// The loan it went to: at once, or by a staff member's match.
    loan_id: Option<Uuid>,
}

impl IncomingPayment {
    /// Whether this payment was already received.
    pub fn received(&self) -> bool {
        self.payment.is_some()
    }

    pub fn payment(&self) -> Option<&ExternalPayment> {
        self.payment.as_ref()
    }

    /// The loan the payment went to, if it went to one.
    pub fn loan_id(&self) -> Option<Uuid> {
        self.loan_id
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
            IncomingPaymentCommand::Receive {
                payment,
                destination,
                at,
            } => {
                if self.payment.is_some() {
                    return Err(IncomingPaymentError::AlreadyReceived);
                }
                let received = match destination {
                    Destination::Loan(loan_id) => IncomingPaymentEvent::PaymentAssigned {
                        payment,
                        loan_id,
                        received_at: at,
                    },
                    Destination::Held(reason) => IncomingPaymentEvent::PaymentUnmatched {
                        payment,
                        reason,
                        received_at: at,
                    },
                };
                sink.write(received, self).await;
            }
            IncomingPaymentCommand::Match {
                loan_id,
                staff_id,
                at,
            } => {
                if !self.held {
                    return Err(IncomingPaymentError::NotHeld);
                }
                match self.loan_id {
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
            IncomingPaymentEvent::PaymentAssigned {
                payment, loan_id, ..
            } => {
                self.payment = Some(payment);
                self.loan_id = Some(loan_id);
            }
            IncomingPaymentEvent::PaymentUnmatched { payment, .. } => {
                self.payment = Some(payment);
                self.held = true;
            }
            IncomingPaymentEvent::PaymentMatched { loan_id, .. } => self.loan_id = Some(loan_id),
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
            channel: PaymentChannel::Terminal,
            external_id: external_id.into(),
            contract_number: "911-000000-000000".into(),
            amount: Kopecks::new(100_000).unwrap(),
            paid_at: Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap(),
        }
    }

    fn hold() -> IncomingPaymentCommand {
        IncomingPaymentCommand::Receive {
            payment: payment("t-1"),
            destination: Destination::Held("no contract with this number".into()),
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
            .then_expect_error(IncomingPaymentError::AlreadyReceived);
    }

    #[test]
    fn a_payment_goes_to_one_loan_whatever_contract_a_later_report_names() {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 5).unwrap();
        let (loan, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let receive = |loan_id| IncomingPaymentCommand::Receive {
            payment: payment("t-1"),
            destination: Destination::Loan(loan_id),
            at,
        };
        let received = IncomingPaymentEvent::PaymentAssigned {
            payment: payment("t-1"),
            loan_id: loan,
            received_at: at,
        };
        TestFramework::<IncomingPayment>::with(())
            .given_no_previous_events()
            .when(receive(loan))
            .then_expect_events(vec![received.clone()]);
        TestFramework::<IncomingPayment>::with(())
            .given(vec![received.clone()])
            .when(receive(other))
            .then_expect_error(IncomingPaymentError::AlreadyReceived);
        // Applied at once: not in the staff's queue, so not theirs to match.
        TestFramework::<IncomingPayment>::with(())
            .given(vec![received])
            .when(IncomingPaymentCommand::Match {
                loan_id: other,
                staff_id: Uuid::from_u128(3),
                at,
            })
            .then_expect_error(IncomingPaymentError::NotHeld);
    }

    #[test]
    fn a_payment_dated_in_the_future_is_refused_naming_paid_at() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let check = |paid_at| {
            ExternalPayment::check(PaymentChannel::Terminal, "t-1", "911-1", 100, paid_at, now)
                .map_err(|errors| errors.into_iter().map(|(f, _)| f).collect::<Vec<_>>())
        };
        assert!(check(now + PAID_AT_SKEW).is_ok());
        assert_eq!(
            check(now + PAID_AT_SKEW + chrono::Duration::seconds(1)),
            Err(vec!["paid_at"])
        );
        assert!(check(now - chrono::Duration::days(3)).is_ok());
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
        other_channel.channel = PaymentChannel::SberbankOnline;
        assert_ne!(payment("t-1").id(), other_channel.id());
    }
}
