//! Repayments from outside channels (Sberbank Online, payment terminals): notifications signed
//! per channel and registry files, each payment applied exactly once, whichever way and however
//! often it arrives. A payment no loan can take is held for staff, never dropped.

use k911_aggregates::incoming_payment::IncomingPaymentEventType;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cqrs_es::persist::PersistenceError;
use cqrs_es::{Aggregate, AggregateError};
use futures::StreamExt;
use hmac::{Hmac, Mac};
use k911_aggregates::incoming_payment::{
    Destination, ExternalPayment, IncomingPayment, IncomingPaymentCommand, IncomingPaymentError,
    IncomingPaymentEvent, PaymentChannel,
};
use k911_aggregates::loan::{
    contract_digits, Loan, LoanCommand, LoanError, LoanEvent, LoanEventType,
};
use k911_event_store::batch::{self, Batch};
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

/// Rows a registry import decides and appends together: its reads and its one append are spread
/// over this many payments.
const ROWS_AT_ONCE: usize = 256;
/// Batches in flight at once: one is decided in the service while another is in PostgreSQL.
const BATCHES_AT_ONCE: usize = 4;

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

/// A registry's rows to one contract, in the file's order.
type ContractRows = Vec<(u64, ExternalPayment)>;
/// What became of each row of a batch.
type Outcomes = Vec<(u64, Result<PaymentStatus, Error>)>;

impl Payments {
    /// `k911 payments import`: every row of a registry, each payment applied once (a row seen
    /// before, by file or by notification, is a duplicate). A bad row is reported with its line
    /// and the rest go on; `progress` hears how many rows are done as they are. Fails only when
    /// the file cannot be read as CSV with the registry's header.
    ///
    /// Payments to one contract are applied in the file's order, each to the debt the one before
    /// left. The rows go in batches of whole contracts ([`ROWS_AT_ONCE`] rows or so), each
    /// decided by the aggregates in memory and appended at once ([`Self::import_batch`]).
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
        let mut contracts: HashMap<String, ContractRows> = HashMap::new();
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
        let mut batches: Vec<Vec<ContractRows>> = vec![];
        let mut filled = ROWS_AT_ONCE;
        for rows in contracts.into_values() {
            if filled >= ROWS_AT_ONCE {
                batches.push(vec![]);
                filled = 0;
            }
            filled += rows.len();
            batches.last_mut().expect("a batch was pushed").push(rows);
        }
        let meta = &meta;
        let mut applied = futures::stream::iter(batches)
            .map(|batch| self.import_batch(batch, meta))
            .buffer_unordered(BATCHES_AT_ONCE);
        let mut done = 0;
        while let Some(outcomes) = applied.next().await {
            for (line, outcome) in outcomes? {
                match outcome {
                    Ok(PaymentStatus::Applied) => report.applied += 1,
                    Ok(PaymentStatus::Duplicate) => report.duplicate += 1,
                    Ok(PaymentStatus::Unmatched) => report.unmatched += 1,
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

    /// A batch of contracts' rows, each received as [`Self::receive_payment`] would, but together:
    /// the payments' and loans' aggregates loaded in two reads each, every row decided by them in
    /// memory, and all their events appended at once. Should another writer have touched any of
    /// them meanwhile (a notification of the same payment, a staff action on a loan), nothing of
    /// the batch is written and its rows go one at a time.
    async fn import_batch(
        &self,
        contracts: Vec<ContractRows>,
        meta: &CommandMeta,
    ) -> Result<Outcomes, Error> {
        match self.decide_batch(&contracts, meta).await? {
            Decided::Written(outcomes) => Ok(outcomes),
            Decided::Conflict => {
                let mut outcomes = vec![];
                for (line, payment) in contracts.into_iter().flatten() {
                    let outcome = self.receive_payment(payment, meta).await;
                    outcomes.push((line, outcome.map(|receipt| receipt.status)));
                }
                Ok(outcomes)
            }
        }
    }

    async fn decide_batch(
        &self,
        contracts: &[ContractRows],
        meta: &CommandMeta,
    ) -> Result<Decided, Error> {
        let rows = || contracts.iter().flatten();
        let payment_ids: Vec<String> = rows().map(|(_, p)| p.id().to_string()).collect();
        let mut inboxes = batch::load_many::<IncomingPayment>(&self.core.db, &payment_ids)
            .await
            .map_err(Error::from_store)?;
        // A payment received before needs no loan.
        let digits: Vec<String> = rows()
            .filter(|(_, p)| !inboxes[&p.id().to_string()].aggregate.received())
            .map(|(_, p)| contract_digits(&p.contract_number))
            .collect();
        let loan_of: HashMap<String, Uuid> =
            sqlx::query_as("SELECT digits, loan_id FROM contracts WHERE digits = ANY($1)")
                .bind(&digits)
                .fetch_all(&self.core.db.sqlx)
                .await?
                .into_iter()
                .collect();
        let loan_ids: Vec<String> = loan_of.values().map(Uuid::to_string).collect();
        let mut loans = batch::load_many::<Loan>(&self.core.db, &loan_ids)
            .await
            .map_err(Error::from_store)?;
        let metadata = self.core.metadata(meta).await?;
        let law = &self.core.settings.law;
        let now = self.core.clock.now();
        let mut written = Batch::default();
        let (mut received, mut applied) = (0, 0);
        let mut outcomes = Vec::with_capacity(payment_ids.len());
        for (line, payment) in rows() {
            let inbox = inboxes
                .get_mut(&payment.id().to_string())
                .expect("every row's payment was loaded");
            if inbox.aggregate.received() {
                outcomes.push((*line, Ok(PaymentStatus::Duplicate)));
                continue;
            }
            let loan = loan_of
                .get(&contract_digits(&payment.contract_number))
                .map(|id| (*id, loans.get_mut(&id.to_string()).expect("loaded")));
            let destination = match &loan {
                None => Destination::Held("no contract with this number".to_string()),
                Some((loan_id, loan)) => {
                    match loan
                        .aggregate
                        .takes_payment_on(moscow_date(payment.paid_at))
                    {
                        Ok(()) => Destination::Loan(*loan_id),
                        Err(LoanError::NotIssued) => Destination::Held(
                            "the loan under this contract has not been issued".to_string(),
                        ),
                        Err(refused) => {
                            outcomes.push((*line, Err(refused.into())));
                            continue;
                        }
                    }
                }
            };
            let receive = IncomingPaymentCommand::Receive {
                payment: payment.clone(),
                destination: destination.clone(),
                at: now,
            };
            let events = batch::decide(&mut inbox.aggregate, receive, &()).await?;
            written.record(inbox, events, &metadata)?;
            received += 1;
            let outcome = match (destination, loan) {
                (Destination::Loan(_), Some((_, loan))) => {
                    match batch::decide(&mut loan.aggregate, apply_payment(payment), law).await {
                        Ok(events) => {
                            written.record(loan, events, &metadata)?;
                            applied += 1;
                            Ok(PaymentStatus::Applied)
                        }
                        // As one at a time: the payment stays reserved for the loan, and the
                        // process manager's attempt is logged for staff.
                        Err(refused) => Err(refused.into()),
                    }
                }
                _ => Ok(PaymentStatus::Unmatched),
            };
            outcomes.push((*line, outcome));
        }
        match written.commit(&self.core.db).await {
            Ok(()) => {
                self.core.count_commands(IncomingPayment::TYPE, received);
                self.core.count_commands(Loan::TYPE, applied);
                Ok(Decided::Written(outcomes))
            }
            Err(PersistenceError::OptimisticLockError) => Ok(Decided::Conflict),
            Err(other) => Err(other.into()),
        }
    }
}

/// What became of a batch decided in memory.
enum Decided {
    Written(Outcomes),
    /// Another writer got to one of its aggregates first: nothing was written.
    Conflict,
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
            LoanEventType::PaymentReceived.into(),
        ]
    }

    fn kind(&self) -> Kind {
        Kind::ProcessManager
    }

    async fn apply(&self, _: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        let bad = |e: &dyn StepFailure| step_failed(event, e);
        // The loans' receipts are read only to know what needs nothing (`apply_all`).
        if !event.of::<IncomingPayment>() {
            return Ok(());
        }
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

    /// Nearly always the receiving request or the registry import applied the payment already,
    /// and the loan's receipt follows the reservation in the log, often in the same batch: such a
    /// payment needs nothing more. Any other is given to its loan.
    async fn apply_all(
        &self,
        tx: &BatchTx<'_>,
        events: &[RecordedEvent],
    ) -> Result<(), FollowerError> {
        let mut received = HashSet::new();
        for event in events.iter().filter(|event| event.of::<Loan>()) {
            if let LoanEvent::PaymentReceived {
                channel,
                external_id,
                ..
            } = payload(event)?
            {
                received.insert((aggregate_uuid(event)?, channel, external_id));
            }
        }
        for event in events.iter().filter(|event| event.of::<IncomingPayment>()) {
            if let IncomingPaymentEvent::PaymentAssigned {
                payment, loan_id, ..
            } = payload(event)?
            {
                if received.contains(&(loan_id, payment.channel, payment.external_id)) {
                    continue;
                }
            }
            self.apply(tx, event).await?;
        }
        Ok(())
    }
}
