//! Lending: an approval becomes a loan offer (with a contract number and a signing code by SMS),
//! the borrower signs with the code, the payout provider pays the loan out (process manager
//! [`LendingProcess`]), and the scheduled jobs' steps on the loans they are given: interest, reminders,
//! lapsed offers, the provider's answers (the HTTP layer's `jobs` says which loans).

use k911_aggregates::loan::LoanEventType;
use k911_aggregates::loan_application::LoanApplicationEventType;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cqrs_es::{Aggregate, AggregateError};
use futures::StreamExt;
use k911_aggregates::account::{
    Account, AccountCommand, AccountEvent, AccountEventType, AccountKind,
};
use k911_aggregates::loan::law::{LawEditions, Unlawful};
use k911_aggregates::loan::{ContractNumber, Loan, LoanCommand, LoanEvent, LoanStatus, OfferTerms};
use k911_aggregates::loan_application::{
    pdn_warning, LoanApplication, LoanApplicationCommand, LoanApplicationEvent,
};
use k911_aggregates::values::Phone;
use k911_event_store::follower::{payload, BatchTx, Follower, FollowerError, Kind};
use k911_event_store::log::RecordedEvent;
use k911_event_store::outbox::{self, Channel, Effect, EffectKind, PayoutPurpose};
use k911_event_store::store::{Cqrs, Store};
use uuid::Uuid;

use crate::app::Core;
use crate::clock::moscow_date;
use crate::contract::ContractFacts;
use crate::credit;
use crate::error::{step_failed, StepFailure};
use crate::execute::run_retrying;
use crate::metrics::JobLabels;
use crate::notify::registered_contacts;
use crate::otp::{Codes, OneTimeCode, OtpPurpose};
use crate::payout::PayoutOutcome;
use crate::payout::PayoutProvider;
use crate::{CommandMeta, Error, Written};

/// Makes `number` find the loan: what payments from outside channels are matched by (the
/// customer types it in Sberbank Online or at a terminal). Once per contract.
pub async fn register_contract(
    client: &impl tokio_postgres::GenericClient,
    number: &ContractNumber,
    loan_id: Uuid,
    customer_id: Uuid,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO contracts (digits, contract_number, loan_id, customer_id)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[&number.digits(), &number.as_str(), &loan_id, &customer_id],
        )
        .await?;
    Ok(())
}

/// Loans a scheduled job works on at once: each command waits mostly on PostgreSQL, so many in
/// flight keep both the service and the database busy and the group commit batches their
/// appends. Measured on 10 000 loans (`k911-bench book`): 8 at once closed 511 loans/s, 32 at once
/// 798/s with 12 connections and 2 116/s with 32 (`K911_WRITE_POOL_SIZE`).
const LOANS_AT_ONCE: usize = 32;

const NAMESPACE: Uuid = Uuid::from_u128(0x6b39_3131_6c65_6e64_696e_6700_0000_0001);

/// The loan an approval becomes: one per approval (the application's event number `approval`),
/// so a replay finds it, and an application approved again after its terms came back gets a new
/// loan.
pub fn loan_id_for(application_id: Uuid, approval: i64) -> Uuid {
    Uuid::new_v5(
        &NAMESPACE,
        format!("loan/{application_id}/{approval}").as_bytes(),
    )
}

/// The payout of a loan: one per loan, whoever asks and however often.
pub fn payout_id_for(loan_id: Uuid) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("payout/{loan_id}").as_bytes())
}

/// The SMS the process manager sends for the event at `position`.
fn sms_id(position: i64) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("sms/{position}").as_bytes())
}

/// Whether a recorded ratio (as `read.loans` keeps it) calls for the warning.
pub fn pdn_needs_warning(pdn_percent: Option<&str>) -> bool {
    let pdn = pdn_percent.and_then(|p| p.parse::<rust_decimal::Decimal>().ok());
    pdn_warning(pdn).is_some()
}

fn system_meta() -> std::collections::HashMap<String, String> {
    CommandMeta::system("lending").to_map()
}

/// Process manager `lending`.
pub struct LendingProcess {
    pub(crate) loans: Arc<Cqrs<Loan>>,
    pub(crate) applications: Arc<Cqrs<LoanApplication>>,
    pub(crate) application_store: Arc<Store<LoanApplication>>,
    pub(crate) accounts: Arc<Cqrs<Account>>,
    pub(crate) account_store: Arc<Store<Account>>,
    pub(crate) loan_store: Arc<Store<Loan>>,
    pub(crate) codes: Codes,
    pub(crate) offer_ttl: Duration,
    pub(crate) law: LawEditions,
}

#[async_trait]
impl Follower for LendingProcess {
    fn name(&self) -> &'static str {
        "lending"
    }

    fn event_types(&self) -> Vec<&'static str> {
        vec![
            LoanApplicationEventType::ApplicationApproved.into(),
            LoanEventType::ContractSigned.into(),
            LoanEventType::SigningRefused.into(),
            LoanEventType::PayoutFailed.into(),
            LoanEventType::OverdueReminderSent.into(),
            LoanEventType::RefundRequested.into(),
            LoanEventType::OfferExpired.into(),
            LoanEventType::LoanRepaid.into(),
        ]
    }

    fn kind(&self) -> Kind {
        Kind::ProcessManager
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        let bad = |e: &dyn StepFailure| step_failed(event, e);
        let id: Uuid = event.aggregate_id.parse().map_err(|e| bad(&e))?;
        // An event of its types that does not decode is an error, never skipped.
        if event.of::<LoanApplication>() {
            {
                if let LoanApplicationEvent::ApplicationApproved {
                    amount,
                    term_days,
                    daily_rate,
                    approved_at,
                    ..
                } = payload(event)?
                {
                    let approved = Approved {
                        application_id: id,
                        approval: event.sequence,
                        principal: amount,
                        term_days,
                        daily_rate,
                        approved_at,
                    };
                    self.offer(tx, event, approved).await?;
                }
            }
        } else if event.of::<Loan>() {
            match payload(event)? {
                LoanEvent::ContractSigned { signed_at, .. } => {
                    self.pay_out(tx, id, signed_at).await.map_err(|e| bad(&e))?
                }
                LoanEvent::SigningRefused { reason, refused_at } => {
                    let loan = self.load(id).await.map_err(|e| bad(&e))?;
                    let terms = loan.terms().cloned().ok_or_else(|| bad(&"no offer"))?;
                    let whose = (terms.application_id, terms.customer_id);
                    self.give_back(tx, event, id, whose, &reason, refused_at)
                        .await?
                }
                LoanEvent::OfferExpired { expired_at } => self
                    .end_loan_credit(tx, id, None, expired_at)
                    .await
                    .map_err(|e| bad(&e))?,
                LoanEvent::LoanRepaid { closed_on } => self
                    .end_loan_credit(tx, id, Some(closed_on), event.recorded_at)
                    .await
                    .map_err(|e| bad(&e))?,
                LoanEvent::PayoutFailed { failed_at, .. } => {
                    self.end_loan_credit(tx, id, None, failed_at)
                        .await
                        .map_err(|e| bad(&e))?;
                    self.tell(tx, event, id, |number| {
                        format!(
                            "k911: не удалось перечислить заём по договору № {number} на выбранную \
                             карту или кошелёк. Подайте новую заявку с другим способом получения \
                             или обратитесь в поддержку."
                        )
                    })
                    .await?
                }
                LoanEvent::RefundRequested { refund_id, .. } => {
                    self.refund(tx, id, refund_id).await.map_err(|e| bad(&e))?
                }
                LoanEvent::OverdueReminderSent {
                    days_overdue, owed, ..
                } => {
                    self.tell(tx, event, id, |number| {
                        format!(
                            "k911: платёж по договору № {number} просрочен на {days_overdue} дн. \
                             Задолженность {owed}. Оплатите в Сбербанк Онлайн или в терминале \
                             по номеру договора."
                        )
                    })
                    .await?
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// What the approval decided.
struct Approved {
    application_id: Uuid,
    /// The approval's event number within the application.
    approval: i64,
    principal: k911_aggregates::money::Kopecks,
    term_days: u16,
    daily_rate: k911_aggregates::money::DailyRate,
    approved_at: DateTime<Utc>,
}

impl LendingProcess {
    /// The loan's current state from its events.
    async fn load(&self, loan_id: Uuid) -> Result<Loan, Error> {
        crate::execute::load(&self.loan_store, loan_id).await
    }

    /// The approval becomes an offer with its contract number; the borrower gets the signing
    /// code by SMS.
    async fn offer(
        &self,
        tx: &BatchTx<'_>,
        event: &RecordedEvent,
        approved: Approved,
    ) -> Result<(), FollowerError> {
        let bad = |e: &dyn StepFailure| step_failed(event, e);
        let loan_id = loan_id_for(approved.application_id, approved.approval);
        let submitted = tx
            .first_payload(LoanApplication::TYPE, &approved.application_id.to_string())
            .await?;
        let Ok(LoanApplicationEvent::ApplicationSubmitted {
            customer_id,
            applicant,
            payout,
            ..
        }) = serde_json::from_value(submitted)
        else {
            return Err(bad(&"application without submission"));
        };
        let (phone, _) = registered_contacts(tx, event, customer_id).await?;
        let mut loan = self.load(loan_id).await.map_err(|e| bad(&e))?;
        let existing = loan.terms().cloned();
        let (contract_number, pdn_percent) = match existing {
            Some(terms) => (terms.contract_number, terms.pdn_percent),
            None => {
                let application =
                    crate::execute::load(&self.application_store, approved.application_id)
                        .await
                        .map_err(|e| bad(&e))?;
                // Taken back since (refused on the account by the approving request): nothing
                // to offer.
                let approved_at = application.approved().map(|a| a.approved_at);
                if approved_at != Some(approved.approved_at) {
                    return Ok(());
                }
                // Counted on the account before it is offered.
                let refused = self
                    .commit_credit(approved.application_id, &application, approved.approved_at)
                    .await
                    .map_err(|e| bad(&e))?;
                if let Some(reason) = refused {
                    let whose = (approved.application_id, customer_id);
                    return self
                        .give_back(tx, event, loan_id, whose, &reason, approved.approved_at)
                        .await;
                }
                let row = tx
                    .transaction()
                    .query_one("SELECT nextval('contract_number_seq')", &[])
                    .await?;
                let serial: i64 = row.get(0);
                let contract_date = moscow_date(approved.approved_at);
                let number = ContractNumber::new(contract_date, serial);
                let ttl = chrono::Duration::from_std(self.offer_ttl).map_err(|e| bad(&e))?;
                let assessed = tx
                    .latest_payload_before(
                        LoanApplication::TYPE,
                        &approved.application_id.to_string(),
                        LoanApplicationEventType::DebtToIncomeAssessed.into(),
                        approved.approval,
                    )
                    .await?;
                let pdn_percent = match assessed.map(serde_json::from_value) {
                    Some(Ok(LoanApplicationEvent::DebtToIncomeAssessed {
                        pdn_percent, ..
                    })) => pdn_percent,
                    _ => None,
                };
                let applicant: k911_aggregates::loan_application::applicant::Applicant = self
                    .codes
                    .keys
                    .open(&applicant)
                    .await
                    .map_err(|e| bad(&e))?;
                let terms = OfferTerms {
                    time_zone: applicant.time_zone,
                    application_id: approved.application_id,
                    customer_id,
                    contract_number: number.clone(),
                    principal: approved.principal,
                    term_days: approved.term_days,
                    daily_rate: approved.daily_rate,
                    payout,
                    contract_date,
                    rules: self.law.for_contract(contract_date).clone(),
                    expires_at: approved.approved_at + ttl,
                    pdn_percent,
                };
                let offer = LoanCommand::Offer {
                    terms: Box::new(terms),
                    at: approved.approved_at,
                };
                run_retrying(&self.loans, &loan_id.to_string(), offer, system_meta())
                    .await
                    .map_err(|e| bad(&e))?;
                // What the offer came to: offered, or refused.
                loan = self.load(loan_id).await.map_err(|e| bad(&e))?;
                (number, pdn_percent)
            }
        };
        // The loan records a refusal instead of failing: tell the borrower, give the application
        // back to the underwriters, and go on to the next event.
        if let Some(refusal) = loan.refusal() {
            let terms = loan.terms().cloned().ok_or_else(|| bad(&"no offer"))?;
            let whose = (terms.application_id, terms.customer_id);
            return self
                .give_back(tx, event, loan_id, whose, &refusal, approved.approved_at)
                .await;
        }
        register_contract(tx.transaction(), &contract_number, loan_id, customer_id).await?;
        let message_id = sms_id(event.position());
        if outbox::exists(tx.transaction(), message_id).await? {
            return Ok(());
        }
        let phone_number: Phone = self.codes.keys.open(&phone).await.map_err(|e| bad(&e))?;
        let purpose = OtpPurpose::Sign {
            loan_id,
            contract_number,
            warning: pdn_warning(pdn_percent),
        };
        self.codes
            .send(
                &phone_number,
                &purpose,
                Some((customer_id, phone)),
                Some(message_id),
            )
            .await
            .map_err(|e| bad(&e))?;
        Ok(())
    }

    /// A signed contract is paid out: requested once on the loan, and the payout put in the
    /// effects outbox under the loan's payout id (the worker sends it; nothing leaves from here).
    async fn pay_out(
        &self,
        tx: &BatchTx<'_>,
        loan_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<(), Error> {
        let payout_id = payout_id_for(loan_id);
        let request = LoanCommand::RequestPayout { payout_id, at };
        let id = loan_id.to_string();
        if let Err(error) = run_retrying(&self.loans, &id, request, system_meta()).await {
            if let AggregateError::UserError(refusal) = error {
                // The loan refuses (no longer signed): an outcome, not a reason to stop here.
                tracing::warn!(loan = %loan_id, %refusal, "payout not requested");
                return Ok(());
            }
            return Err(Error::Storage(error.to_string()));
        }
        let loan = self.load(loan_id).await?;
        // Issued or failed already (a replay long after): the money's fate is known.
        if loan.status() != LoanStatus::PayoutRequested {
            return Ok(());
        }
        let terms = loan.terms().ok_or(Error::NotFound)?;
        let payout = Effect::Payout {
            payout_id,
            loan_id,
            purpose: PayoutPurpose::Loan,
            amount: terms.principal,
            method: terms.payout.clone(),
        };
        outbox::enqueue(tx.transaction(), payout_id, EffectKind::Payout, &payout).await?;
        Ok(())
    }

    /// Held money goes back to the loan's payout method: the refund is put in the effects
    /// outbox under its id, while the loan still waits for it.
    async fn refund(&self, tx: &BatchTx<'_>, loan_id: Uuid, refund_id: Uuid) -> Result<(), Error> {
        let loan = self.load(loan_id).await?;
        let Some((pending, amount)) = loan.pending_refund().filter(|(id, _)| *id == refund_id)
        else {
            // Settled already (a replay long after).
            return Ok(());
        };
        let terms = loan.terms().ok_or(Error::NotFound)?;
        let refund = Effect::Payout {
            payout_id: pending,
            loan_id,
            purpose: PayoutPurpose::Refund,
            amount,
            method: terms.payout.clone(),
        };
        outbox::enqueue(tx.transaction(), pending, EffectKind::Payout, &refund).await?;
        Ok(())
    }

    /// Terms that could not become a lawful contract (loan `loan_id`): the borrower is told by
    /// SMS, the application goes back to the underwriters' queue with the reason, and the loan no
    /// longer counts on the customer's account. Nothing, if the application was approved again
    /// since (this event handled again): what is given back is only ever the loan's own approval.
    async fn give_back(
        &self,
        tx: &BatchTx<'_>,
        event: &RecordedEvent,
        loan_id: Uuid,
        (application_id, customer_id): (Uuid, Uuid),
        reason: &Unlawful,
        at: DateTime<Utc>,
    ) -> Result<(), FollowerError> {
        let bad = |e: &dyn StepFailure| step_failed(event, e);
        if !self.approval_stands(tx, loan_id, application_id).await? {
            return Ok(());
        }
        let give_back = LoanApplicationCommand::Return {
            reason: reason.to_string(),
            at,
        };
        let id = application_id.to_string();
        run_retrying(&self.applications, &id, give_back, system_meta())
            .await
            .map_err(|e| bad(&e))?;
        self.end_credit((application_id, customer_id), None, at)
            .await
            .map_err(|e| bad(&e))?;
        tracing::info!(
            application = %application_id,
            reason = %reason,
            "approved terms could not become a contract; the application is back in the queue"
        );
        self.tell_underwriter(tx, event, application_id, reason)
            .await?;
        let text = "k911: договор на одобренных условиях не может быть заключён: они не \
                    соответствуют требованиям закона. Заявка возвращена на рассмотрение, мы \
                    сообщим о решении.";
        self.tell_customer(tx, event, customer_id, text.to_string())
            .await
    }

    /// Counts the approved loan on the customer's account before it is offered (a no-op when the
    /// approving request did); `Some` why the law forbids it. The bureau's loans were weighed by
    /// the approval; here this lender's own loans are counted one approval after another.
    async fn commit_credit(
        &self,
        application_id: Uuid,
        application: &LoanApplication,
        at: DateTime<Utc>,
    ) -> Result<Option<Unlawful>, Error> {
        let (Some(customer_id), Some(approved)) =
            (application.customer_id(), application.approved())
        else {
            return Ok(None);
        };
        // Terms this deployment's law forbids (an approval made under other rules) are refused.
        let cost = match approved.cost(&self.law) {
            Ok(cost) => cost,
            Err(unlawful) => return Ok(Some(unlawful)),
        };
        // Weighed under the approval's edition, counted as of now: a reservation that lapsed
        // while this waited is checked again.
        let now = self.codes.clock.now();
        let commit = AccountCommand::CommitCredit {
            application_id,
            credit: credit::terms(&cost, &self.law, at),
            at: now,
        };
        run_retrying(
            &self.accounts,
            &customer_id.to_string(),
            commit,
            system_meta(),
        )
        .await
        .map_err(Error::from_command)?;
        let account = crate::execute::load(&self.account_store, customer_id).await?;
        Ok(credit::refusal(&account, application_id, now))
    }

    /// The loan of an approved application ended: repaid on a day, or never issued (`None`).
    async fn end_credit(
        &self,
        (application_id, customer_id): (Uuid, Uuid),
        repaid_on: Option<chrono::NaiveDate>,
        at: DateTime<Utc>,
    ) -> Result<(), Error> {
        let end = AccountCommand::EndCredit {
            application_id,
            repaid_on,
            at,
        };
        run_retrying(&self.accounts, &customer_id.to_string(), end, system_meta())
            .await
            .map_err(Error::from_command)?;
        Ok(())
    }

    /// [`Self::end_credit`] for the loan `loan_id`.
    async fn end_loan_credit(
        &self,
        tx: &BatchTx<'_>,
        loan_id: Uuid,
        repaid_on: Option<chrono::NaiveDate>,
        at: DateTime<Utc>,
    ) -> Result<(), Error> {
        let loan = self.load(loan_id).await?;
        let terms = loan.terms().ok_or(Error::NotFound)?;
        // The account counts credit per application: a loan of an approval given back since
        // must not end the credit of the approval in force.
        if !self
            .approval_stands(tx, loan_id, terms.application_id)
            .await?
        {
            return Ok(());
        }
        self.end_credit((terms.application_id, terms.customer_id), repaid_on, at)
            .await
    }

    /// Whether `loan_id` is the loan of the application's latest approval (not of one given back
    /// and approved again since).
    async fn approval_stands(
        &self,
        tx: &BatchTx<'_>,
        loan_id: Uuid,
        application_id: Uuid,
    ) -> Result<bool, tokio_postgres::Error> {
        let latest = tx
            .latest_sequence(
                LoanApplication::TYPE,
                &application_id.to_string(),
                LoanApplicationEventType::ApplicationApproved.into(),
            )
            .await?;
        let stands = latest.is_none_or(|approval| loan_id_for(application_id, approval) == loan_id);
        if !stands {
            tracing::info!(loan = %loan_id, application = %application_id, "the loan's approval was given back and the application approved again: nothing to end");
        }
        Ok(stands)
    }

    /// The underwriter who approved the application hears why it came back, by e-mail to their
    /// work login (staff have no phone on file), once per event.
    async fn tell_underwriter(
        &self,
        tx: &BatchTx<'_>,
        event: &RecordedEvent,
        application_id: Uuid,
        reason: &Unlawful,
    ) -> Result<(), FollowerError> {
        let approval = tx
            .latest_payload_before(
                LoanApplication::TYPE,
                &application_id.to_string(),
                LoanApplicationEventType::ApplicationApproved.into(),
                i64::MAX,
            )
            .await?;
        let Some(Ok(LoanApplicationEvent::ApplicationApproved { underwriter_id, .. })) =
            approval.map(serde_json::from_value)
        else {
            return Ok(());
        };
        let staff = tx
            .latest_payload_before(
                Account::TYPE,
                &underwriter_id.to_string(),
                AccountEventType::StaffAccountCreated.into(),
                i64::MAX,
            )
            .await?;
        let Some(Ok(AccountEvent::StaffAccountCreated { login, .. })) =
            staff.map(serde_json::from_value)
        else {
            // Approved by no staff account we know (another system's decision): the queue tells.
            return Ok(());
        };
        let message = Effect::StaffEmail {
            to: login,
            subject: format!("Заявка {application_id} возвращена в очередь"),
            body: format!(
                "Одобренные условия по заявке {application_id} не могут стать договором: \
                 {reason}.\n\nЗаявка снова ждёт решения в очереди андеррайтинга."
            ),
        };
        let id = outbox::message_id(event.position(), Channel::Email);
        outbox::enqueue(tx.transaction(), id, Channel::Email, &message).await?;
        Ok(())
    }

    /// Tells the borrower by SMS what `text` says (given the contract number), once per event.
    async fn tell(
        &self,
        tx: &BatchTx<'_>,
        event: &RecordedEvent,
        loan_id: Uuid,
        text: impl FnOnce(&ContractNumber) -> String,
    ) -> Result<(), FollowerError> {
        let bad = |e: &dyn StepFailure| step_failed(event, e);
        let loan = self.load(loan_id).await.map_err(|e| bad(&e))?;
        let terms = loan.terms().cloned().ok_or_else(|| bad(&"no offer"))?;
        let text = text(&terms.contract_number);
        self.tell_customer(tx, event, terms.customer_id, text).await
    }

    /// Tells the customer by SMS, once per event.
    async fn tell_customer(
        &self,
        tx: &BatchTx<'_>,
        event: &RecordedEvent,
        customer_id: Uuid,
        text: String,
    ) -> Result<(), FollowerError> {
        let bad = |e: &dyn StepFailure| step_failed(event, e);
        let message_id = sms_id(event.position());
        if outbox::exists(tx.transaction(), message_id).await? {
            return Ok(());
        }
        let (phone, _) = registered_contacts(tx, event, customer_id).await?;
        let text = self
            .codes
            .keys
            .seal(customer_id, &text)
            .await
            .map_err(|e| bad(&e))?;
        let message = Effect::Sms {
            phone,
            text,
            secret: false,
        };
        outbox::enqueue(tx.transaction(), message_id, Channel::Sms, &message).await?;
        Ok(())
    }
}

/// Loans as their borrowers act on them (signing with the SMS code, the contract PDF, a refund,
/// the time zone) and the scheduled jobs' steps on the loans they are given.
#[derive(Clone)]
pub struct Lending {
    pub(crate) core: Core,
    pub(crate) codes: Codes,
    pub(crate) loans: Arc<Cqrs<Loan>>,
    pub(crate) loan_store: Arc<Store<Loan>>,
    pub(crate) application_store: Arc<Store<LoanApplication>>,
    pub(crate) account_store: Arc<Store<Account>>,
    /// Asked what came of a payout or a refund.
    pub(crate) payout: Arc<dyn PayoutProvider>,
}

impl Lending {
    /// The loan's own state, if it is the customer's.
    async fn own_loan(
        &self,
        customer_id: Uuid,
        loan_id: Uuid,
    ) -> Result<(Loan, OfferTerms), Error> {
        let loan = self.core.load(&self.loan_store, loan_id).await?;
        let terms = loan
            .terms()
            .filter(|t| t.customer_id == customer_id)
            .cloned()
            .ok_or(Error::NotFound)?;
        Ok((loan, terms))
    }

    /// The customer's phone, opened, and as the account keeps it.
    async fn customer_phone(
        &self,
        customer_id: Uuid,
    ) -> Result<(Phone, k911_aggregates::Sealed<Phone>), Error> {
        let account = self.core.load(&self.account_store, customer_id).await?;
        let AccountKind::Customer { phone, .. } = account.kind() else {
            return Err(Error::NotFound);
        };
        Ok((self.core.keys.open(phone).await?, phone.clone()))
    }

    /// `POST /api/v1/me/loans/{id}/sign`: the code from the offer's SMS signs the contract.
    pub async fn sign_loan(
        &self,
        customer_id: Uuid,
        loan_id: Uuid,
        code: &str,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let (loan, terms) = self.own_loan(customer_id, loan_id).await?;
        if loan.status() != LoanStatus::Offered {
            return Err(k911_aggregates::loan::LoanError::NotSignable.into());
        }
        let (phone, _) = self.customer_phone(customer_id).await?;
        let purpose = OtpPurpose::Sign {
            loan_id,
            contract_number: terms.contract_number,
            warning: None,
        };
        let Some(code) = OneTimeCode::parse(code) else {
            return Err(Error::WrongCode);
        };
        if self.codes.accept(&phone, &purpose, &code).await?.is_none() {
            return Err(Error::WrongCode);
        }
        let sign = LoanCommand::Sign {
            at: self.core.clock.now(),
        };
        let written = self.core.execute(&self.loans, loan_id, sign, meta).await?;
        // A refusal is recorded on the loan (the offer lapses): the borrower hears why.
        let loan = self.core.load(&self.loan_store, loan_id).await?;
        match loan.refusal() {
            Some(reason) => Err(Error::SigningRefused(reason)),
            None => Ok(written),
        }
    }

    /// The contract's individual conditions as a PDF, from the loan's own figures.
    pub async fn contract_pdf(&self, customer_id: Uuid, loan_id: Uuid) -> Result<Vec<u8>, Error> {
        let (loan, terms) = self.own_loan(customer_id, loan_id).await?;
        let cost = loan.cost().ok_or(Error::NotFound)?;
        let application = self
            .core
            .load(&self.application_store, terms.application_id)
            .await?;
        let (applicant, _) = application.profile().ok_or(Error::NotFound)?;
        let applicant: k911_aggregates::loan_application::applicant::Applicant =
            self.core.keys.open(applicant).await?;
        let payout: k911_aggregates::loan_application::applicant::PayoutMethod =
            self.core.keys.open(&terms.payout).await?;
        let facts = ContractFacts {
            contract_number: terms.contract_number,
            contract_date: terms.contract_date,
            borrower: applicant.full_name(),
            principal: terms.principal,
            term_days: terms.term_days,
            daily_rate: terms.daily_rate,
            interest_for_term: cost.interest_for_term,
            total_to_repay: cost.total_to_repay,
            psk_percent: cost.psk_percent,
            due_on: loan.due_on(),
            payout: payout.masked(),
            rules: terms.rules,
            pdn_warning: pdn_warning(terms.pdn_percent),
            signed_at: loan.signed_at(),
        };
        // Drawing and subsetting the font is CPU work: off the async threads.
        tokio::task::spawn_blocking(move || facts.pdf())
            .await
            .map_err(|e| Error::Storage(e.to_string()))
    }

    /// A new signing code for an offer still open; returns when the next may be asked for.
    pub async fn resend_signing_code(
        &self,
        customer_id: Uuid,
        loan_id: Uuid,
    ) -> Result<DateTime<Utc>, Error> {
        let (loan, terms) = self.own_loan(customer_id, loan_id).await?;
        if loan.status() != LoanStatus::Offered {
            return Err(k911_aggregates::loan::LoanError::NotSignable.into());
        }
        let (phone, sealed) = self.customer_phone(customer_id).await?;
        let purpose = OtpPurpose::Sign {
            loan_id,
            contract_number: terms.contract_number,
            warning: pdn_warning(terms.pdn_percent),
        };
        self.codes
            .send(&phone, &purpose, Some((customer_id, sealed)), None)
            .await
    }

    /// `PUT /api/v1/me/time-zone`: every one of `loans` (the customer's, as the caller listed
    /// them) not yet closed keeps its reminders' quiet hours in `zone` from now on. Returns the
    /// loans changed and the last position.
    pub async fn change_time_zone(
        &self,
        customer_id: Uuid,
        zone: k911_aggregates::regions::LocalTimeZone,
        loans: &[Uuid],
        meta: &CommandMeta,
    ) -> Result<(Vec<Uuid>, Option<i64>), Error> {
        let (mut changed, mut position) = (vec![], None);
        for &loan_id in loans {
            // Whose the loan is and whether it is still in force is the loan's own state, not
            // the list's.
            let (loan, _) = self.own_loan(customer_id, loan_id).await?;
            if !loan.status().in_force() {
                continue;
            }
            let change = LoanCommand::ChangeTimeZone {
                time_zone: zone,
                at: self.core.clock.now(),
            };
            let written = self
                .core
                .execute(&self.loans, loan_id, change, meta)
                .await?;
            changed.push(loan_id);
            position = Some(written.position);
        }
        Ok((changed, position))
    }

    /// `POST /api/v1/me/loans/{id}/refund`: the overpayment held on the loan goes back to the
    /// payout method.
    pub async fn request_refund(
        &self,
        customer_id: Uuid,
        loan_id: Uuid,
        meta: &CommandMeta,
    ) -> Result<(Uuid, k911_aggregates::money::Kopecks, Written), Error> {
        let (loan, _) = self.own_loan(customer_id, loan_id).await?;
        let amount = loan.held();
        let refund_id = self.core.ids.new_id();
        let request = LoanCommand::RequestRefund {
            refund_id,
            at: self.core.clock.now(),
        };
        let written = self
            .core
            .execute(&self.loans, loan_id, request, meta)
            .await?;
        Ok((refund_id, amount, written))
    }

    /// Asks the payout provider about each `(loan, payout)` and records its answer.
    pub async fn settle_payouts(&self, payouts: &[(Uuid, Uuid)]) {
        let meta = CommandMeta::system("payouts");
        for &(loan_id, payout_id) in payouts {
            let step = self.settle_payout(loan_id, payout_id, &meta);
            self.isolated("payout_poll", loan_id, step).await;
        }
    }

    /// Asks the payout provider about each `(loan, refund)` and records its answer.
    pub async fn settle_refunds(&self, refunds: &[(Uuid, Uuid)]) {
        let meta = CommandMeta::system("payouts");
        for &(loan_id, refund_id) in refunds {
            let step = self.settle_refund(loan_id, refund_id, &meta);
            self.isolated("refund_poll", loan_id, step).await;
        }
    }

    /// The provider's answer about a loan's payout, recorded on the loan once it has one.
    async fn settle_payout(
        &self,
        loan_id: Uuid,
        payout_id: Uuid,
        meta: &CommandMeta,
    ) -> Result<(), Error> {
        let at = self.core.clock.now();
        let command = match self
            .payout
            .outcome(payout_id)
            .await
            .map_err(Error::Storage)?
        {
            PayoutOutcome::Pending => return Ok(()),
            PayoutOutcome::Paid => LoanCommand::ConfirmPayout {
                payout_id,
                on: moscow_date(at),
                at,
            },
            PayoutOutcome::Failed(reason) => LoanCommand::FailPayout {
                payout_id,
                reason,
                at,
            },
        };
        self.core
            .execute(&self.loans, loan_id, command, meta)
            .await?;
        Ok(())
    }

    /// The provider's answer about a refund, recorded on the loan once it has one.
    async fn settle_refund(
        &self,
        loan_id: Uuid,
        refund_id: Uuid,
        meta: &CommandMeta,
    ) -> Result<(), Error> {
        let failure = match self
            .payout
            .outcome(refund_id)
            .await
            .map_err(Error::Storage)?
        {
            PayoutOutcome::Pending => return Ok(()),
            PayoutOutcome::Paid => None,
            PayoutOutcome::Failed(reason) => Some(reason),
        };
        let settle = LoanCommand::SettleRefund {
            refund_id,
            failure,
            at: self.core.clock.now(),
        };
        self.core
            .execute(&self.loans, loan_id, settle, meta)
            .await?;
        Ok(())
    }

    /// Records the fall overdue of each loan past its due date, with its charges through today
    /// in Moscow: a turn in the course of its charges. The days between such turns are not
    /// recorded one by one; the figures for any day are derived from the course (see
    /// `k911_aggregates::loan::course`). Idempotent: a loan charged already changes nothing.
    pub async fn record_falls_overdue(&self, loans: &[Uuid]) {
        let through = moscow_date(self.core.clock.now());
        self.on_each_loan("fall_overdue", loans, || LoanCommand::Accrue { through })
            .await;
    }

    /// Reminders on each loan past its due date, where the law lets one go now (the loan
    /// decides).
    pub async fn remind(&self, loans: &[Uuid]) {
        self.on_each_loan("reminder", loans, || LoanCommand::Remind {
            at: self.core.clock.now(),
            rules: self.core.settings.reminders.clone(),
        })
        .await;
    }

    /// Lapses each unsigned offer whose time is up (the loan checks that it is).
    pub async fn expire_offers(&self, loans: &[Uuid]) {
        self.on_each_loan("offer_expiry", loans, || LoanCommand::Expire {
            at: self.core.clock.now(),
        })
        .await;
    }

    /// The scheduler's `command` on each of `loans`, [`LOANS_AT_ONCE`] at a time, one loan's
    /// failure isolated.
    async fn on_each_loan(
        &self,
        job: &'static str,
        loans: &[Uuid],
        command: impl Fn() -> LoanCommand,
    ) {
        let meta = CommandMeta::system("scheduler");
        futures::stream::iter(loans)
            .for_each_concurrent(LOANS_AT_ONCE, |&loan_id| {
                let step = self.core.run(&self.loans, loan_id, command(), &meta);
                self.isolated(job, loan_id, step)
            })
            .await;
    }

    /// One loan's step of a scheduled job: a failure is logged, counted
    /// (`k911_scheduled_job_failures_total`) and skipped, so one bad loan never holds up accrual,
    /// payouts and reminders of the others.
    async fn isolated<T>(
        &self,
        job: &'static str,
        loan_id: Uuid,
        step: impl std::future::Future<Output = Result<T, Error>>,
    ) {
        if let Err(error) = step.await {
            tracing::warn!(job, loan = %loan_id, %error, "scheduled job failed on a loan; skipped");
            let labels = JobLabels {
                job: job.to_string(),
            };
            self.core.metrics.job_failures.get_or_create(&labels).inc();
        }
    }
}
