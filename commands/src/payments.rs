//! Repayments from outside channels (Sberbank Online, payment terminals): notifications signed
//! per channel and registry files, each payment applied exactly once, whichever way and however
//! often it arrives. A payment no loan can take is held for staff, never dropped.

use k911_aggregates::incoming_payment::IncomingPaymentEventType;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cqrs_es::{Aggregate, AggregateError};
use futures::StreamExt;
use hmac::{Hmac, Mac};
use k911_aggregates::incoming_payment::{
    Destination, ExternalPayment, IncomingPayment, IncomingPaymentCommand, IncomingPaymentError,
    IncomingPaymentEvent, PaymentChannel,
};
use k911_aggregates::loan::{contract_digits, Loan, LoanCommand, LoanError};
use k911_event_store::follower::{aggregate_uuid, payload, BatchTx, Follower, FollowerError, Kind};
use k911_event_store::log::RecordedEvent;
use k911_event_store::store::{Cqrs, Store};
use sha2::Sha256;
use uuid::Uuid;

use crate::app::Core;
use crate::clock::moscow_date;
use crate::error::{step_failed, StepFailure};
use crate::execute::run_retrying;
use crate::registry::{self, RegistryLayout};
use crate::{CommandMeta, Error};

/// The HMAC secret of each open channel; a channel without one takes no notifications.
pub type ChannelSecrets = BTreeMap<PaymentChannel, String>;

impl From<IncomingPaymentError> for Error {
    fn from(e: IncomingPaymentError) -> Self {
        match e {
            IncomingPaymentError::NotHeld => Error::NotFound,
            IncomingPaymentError::AlreadyReceived => Error::AlreadyReceived,
            other => Error::PaymentMatch(other.to_string()),
        }
    }
}

/// What became of a reported payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    Applied,
    Duplicate,
    Unmatched,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Duplicate => "duplicate",
            Self::Unmatched => "unmatched",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentReceipt {
    pub status: PaymentStatus,
    pub payment_id: Uuid,
    /// The log position of the payment's last event (0 when nothing was ever written).
    pub position: i64,
}

/// Repayments from outside channels: received once per `(channel, external_id)`, applied to the
/// loan they name, or held for staff to match.
#[derive(Clone)]
pub struct Payments {
    pub(crate) core: Core,
    pub(crate) incoming: Arc<Cqrs<IncomingPayment>>,
    pub(crate) incoming_store: Arc<Store<IncomingPayment>>,
    pub(crate) loans: Arc<Cqrs<Loan>>,
    pub(crate) loan_store: Arc<Store<Loan>>,
}

impl Payments {
    /// Whether `signature` (hex) is the HMAC-SHA256 of `body` under `channel`'s secret. A
    /// closed channel verifies nothing.
    pub fn payment_signature_ok(
        &self,
        channel: PaymentChannel,
        body: &[u8],
        signature: &str,
    ) -> bool {
        let Some(secret) = self.core.settings.payment_secrets.get(&channel) else {
            return false;
        };
        let Ok(signature) = hex::decode(signature.trim()) else {
            return false;
        };
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(body);
        // Constant-time comparison.
        mac.verify_slice(&signature).is_ok()
    }

    /// The signature a channel would send with `body` (hex HMAC-SHA256 under its secret), for
    /// the development page that plays a channel; `None` for a closed channel.
    pub fn sign_as_channel(&self, channel: PaymentChannel, body: &[u8]) -> Option<String> {
        let secret = self.core.settings.payment_secrets.get(&channel)?;
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(body);
        Some(hex::encode(mac.finalize().into_bytes()))
    }

    /// A reported payment's fields, checked as received now: every failure with its field.
    pub fn reported_payment(
        &self,
        channel: PaymentChannel,
        external_id: &str,
        contract_number: &str,
        amount_kopecks: i64,
        paid_at: DateTime<Utc>,
    ) -> Result<ExternalPayment, Vec<(&'static str, String)>> {
        ExternalPayment::check(
            channel,
            external_id,
            contract_number,
            amount_kopecks,
            paid_at,
            self.core.clock.now(),
        )
    }

    /// Receives a reported payment once, whatever contract a repeat names: the payment is first
    /// reserved under its `(channel, external_id)` with where it goes (its [`IncomingPayment`]),
    /// then the loan applies it (here, and by the [`PaymentAssignment`] process manager should
    /// this process die in between). A payment no loan can take is held for staff.
    pub async fn receive_payment(
        &self,
        payment: ExternalPayment,
        meta: &CommandMeta,
    ) -> Result<PaymentReceipt, Error> {
        let payment_id = payment.id();
        let receipt = |status, position| PaymentReceipt {
            status,
            payment_id,
            position,
        };
        let inbox: IncomingPayment = self.core.load(&self.incoming_store, payment_id).await?;
        if inbox.received() {
            return self.duplicate(payment_id).await;
        }
        let loan_id: Option<Uuid> =
            sqlx::query_scalar("SELECT loan_id FROM contracts WHERE digits = $1")
                .bind(contract_digits(&payment.contract_number))
                .fetch_optional(&self.core.db.sqlx)
                .await?;
        let destination = match loan_id {
            None => Destination::Held("no contract with this number".to_string()),
            Some(loan_id) => {
                let loan = self.core.load(&self.loan_store, loan_id).await?;
                match loan.takes_payment_on(moscow_date(payment.paid_at)) {
                    Ok(()) => Destination::Loan(loan_id),
                    Err(LoanError::NotIssued) => Destination::Held(
                        "the loan under this contract has not been issued".to_string(),
                    ),
                    Err(refused) => return Err(refused.into()),
                }
            }
        };
        let receive = IncomingPaymentCommand::Receive {
            payment: payment.clone(),
            destination: destination.clone(),
            at: self.core.clock.now(),
        };
        let written = match self
            .core
            .execute(&self.incoming, payment_id, receive, meta)
            .await
        {
            Ok(written) => written,
            // Reported at the same moment by another request, which reserved it first.
            Err(Error::AlreadyReceived) => return self.duplicate(payment_id).await,
            Err(other) => return Err(other),
        };
        match destination {
            Destination::Held(_) => Ok(receipt(PaymentStatus::Unmatched, written.position)),
            Destination::Loan(loan_id) => {
                let written = self.apply_to_loan(loan_id, &payment, meta).await?;
                Ok(receipt(PaymentStatus::Applied, written.position))
            }
        }
    }

    /// The answer to a payment reported before: where it went, at its last position there.
    async fn duplicate(&self, payment_id: Uuid) -> Result<PaymentReceipt, Error> {
        let inbox: IncomingPayment = self.core.load(&self.incoming_store, payment_id).await?;
        let position = match inbox.loan_id() {
            Some(loan_id) => self.position_of(Loan::TYPE, loan_id).await?,
            None => self.position_of(IncomingPayment::TYPE, payment_id).await?,
        };
        Ok(PaymentReceipt {
            status: PaymentStatus::Duplicate,
            payment_id,
            position,
        })
    }

    /// The loan applies the payment under its channel and external id (a repeat is a no-op).
    async fn apply_to_loan(
        &self,
        loan_id: Uuid,
        payment: &ExternalPayment,
        meta: &CommandMeta,
    ) -> Result<crate::Written, Error> {
        self.core
            .execute(&self.loans, loan_id, apply_payment(payment), meta)
            .await
    }

    async fn position_of(&self, aggregate_type: &str, id: Uuid) -> Result<i64, Error> {
        Ok(
            k911_event_store::store::last_checkpoint(
                &self.core.db,
                aggregate_type,
                &id.to_string(),
            )
            .await?
            .map_or(0, |c| c.global_position),
        )
    }
}

impl Payments {
    /// A staff member sends a held payment to the loan of `contract_number`: the match is
    /// recorded, and the loan applies the payment as its consequence (here at once, and by the
    /// [`PaymentAssignment`] process manager should this process die in between).
    pub async fn match_payment(
        &self,
        payment_id: Uuid,
        contract_number: &str,
        staff_id: Uuid,
        meta: &CommandMeta,
    ) -> Result<crate::Written, Error> {
        let inbox: IncomingPayment = self.core.load(&self.incoming_store, payment_id).await?;
        let payment = inbox.payment().cloned().ok_or(Error::NotFound)?;
        let loan_id: Uuid = sqlx::query_scalar("SELECT loan_id FROM contracts WHERE digits = $1")
            .bind(contract_digits(contract_number))
            .fetch_optional(&self.core.db.sqlx)
            .await?
            .ok_or(Error::UnknownContract)?;
        let loan = self.core.load(&self.loan_store, loan_id).await?;
        loan.takes_payment_on(moscow_date(payment.paid_at))?;
        let matched = IncomingPaymentCommand::Match {
            loan_id,
            staff_id,
            at: self.core.clock.now(),
        };
        self.core
            .execute(&self.incoming, payment_id, matched, meta)
            .await?;
        self.apply_to_loan(loan_id, &payment, meta).await
    }
}

/// Contracts a registry import works on at once: each payment waits mostly on PostgreSQL, so
/// as many as the daily close's loans (give the import as many write connections, README).
const CONTRACTS_AT_ONCE: usize = 32;

/// What an import did, row by row.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub applied: usize,
    pub duplicate: usize,
    pub unmatched: usize,
    pub rejected: usize,
    /// `(line, why)` of every rejected row.
    pub errors: Vec<(u64, String)>,
}

impl Payments {
    /// `k911 payments import`: every row of a registry, each payment applied once (a row seen
    /// before, by file or by notification, is a duplicate). A bad row is reported with its line
    /// and the rest go on; `progress` hears how many rows are done as they are. Fails only when
    /// the file cannot be read as CSV with the registry's header.
    ///
    /// Payments to one contract are applied in the file's order, each to the debt the one before
    /// left; [`CONTRACTS_AT_ONCE`] contracts are worked on at a time.
    pub async fn import_payments(
        &self,
        channel: PaymentChannel,
        layout: RegistryLayout,
        file: impl std::io::Read,
        mut progress: impl FnMut(u64),
    ) -> Result<ImportReport, Error> {
        let rows =
            registry::rows(layout, channel, self.core.clock.now(), file).map_err(Error::Storage)?;
        let meta = CommandMeta {
            actor_role: Some(format!("payment_registry:{channel}")),
            channel: "registry",
            ..CommandMeta::default()
        };
        let mut report = ImportReport::default();
        let mut contracts: HashMap<String, Vec<(u64, ExternalPayment)>> = HashMap::new();
        for (line, row) in rows {
            match row {
                Ok(payment) => contracts
                    .entry(contract_digits(&payment.contract_number))
                    .or_default()
                    .push((line, payment)),
                Err(why) => {
                    report.rejected += 1;
                    report.errors.push((line, why));
                }
            }
        }
        let meta = &meta;
        let mut applied = futures::stream::iter(contracts.into_values())
            .map(|payments| async move {
                let mut outcomes = Vec::with_capacity(payments.len());
                for (line, payment) in payments {
                    outcomes.push((line, self.receive_payment(payment, meta).await));
                }
                outcomes
            })
            .buffer_unordered(CONTRACTS_AT_ONCE);
        let mut done = 0;
        while let Some(outcomes) = applied.next().await {
            for (line, outcome) in outcomes {
                match outcome {
                    Ok(receipt) => match receipt.status {
                        PaymentStatus::Applied => report.applied += 1,
                        PaymentStatus::Duplicate => report.duplicate += 1,
                        PaymentStatus::Unmatched => report.unmatched += 1,
                    },
                    // The loan refuses the row (dated before its issue): reported, the rest go on.
                    Err(Error::Loan(refused)) => {
                        report.rejected += 1;
                        report.errors.push((line, format!("paid_at: {refused}")));
                    }
                    Err(other) => return Err(other),
                }
                done += 1;
            }
            progress(done);
        }
        report.errors.sort_by_key(|(line, _)| *line);
        Ok(report)
    }
}

/// The loan's command that applies `payment`.
fn apply_payment(payment: &ExternalPayment) -> LoanCommand {
    LoanCommand::ApplyPayment {
        channel: payment.channel,
        external_id: payment.external_id.clone(),
        amount: payment.amount,
        paid_at: payment.paid_at,
        paid_on: moscow_date(payment.paid_at),
    }
}

/// Process manager `payment_assignment`: a payment reserved for a loan, or matched to one by
/// staff, is applied by that loan. The receiving request does it at once; this makes sure a crash
/// between the reservation and the loan's command cannot lose the money. The loan applies each
/// `(channel, external_id)` once, so doing it twice is harmless.
pub struct PaymentAssignment {
    pub(crate) loans: Arc<Cqrs<Loan>>,
    pub(crate) incoming_store: Arc<Store<IncomingPayment>>,
}

#[async_trait]
impl Follower for PaymentAssignment {
    fn name(&self) -> &'static str {
        "payment_assignment"
    }

    fn event_types(&self) -> Vec<&'static str> {
        vec![
            IncomingPaymentEventType::PaymentAssigned.into(),
            IncomingPaymentEventType::PaymentMatched.into(),
        ]
    }

    fn kind(&self) -> Kind {
        Kind::ProcessManager
    }

    async fn apply(&self, _: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        let bad = |e: &dyn StepFailure| step_failed(event, e);
        let loan_id = match payload::<IncomingPaymentEvent>(event)? {
            IncomingPaymentEvent::PaymentAssigned { loan_id, .. }
            | IncomingPaymentEvent::PaymentMatched { loan_id, .. } => loan_id,
            IncomingPaymentEvent::PaymentUnmatched { .. } => return Ok(()),
        };
        let payment_id = aggregate_uuid(event)?;
        let inbox = crate::execute::load(&self.incoming_store, payment_id)
            .await
            .map_err(|e| bad(&e))?;
        let payment = inbox
            .payment()
            .ok_or_else(|| bad(&"payment without receipt"))?;
        let meta = CommandMeta::system("payments");
        let apply = apply_payment(payment);
        if let Err(error) =
            run_retrying(&self.loans, &loan_id.to_string(), apply, meta.to_map()).await
        {
            if let AggregateError::UserError(refusal) = error {
                // Checked before the reservation; a loan that refuses now is for staff to see.
                tracing::error!(payment = %payment_id, loan = %loan_id, %refusal, "a reserved payment was refused by its loan");
                return Ok(());
            }
            return Err(bad(&error));
        }
        Ok(())
    }
}
