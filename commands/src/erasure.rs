//! Erasure of a customer's personal data (issue #16): the deletion request becomes a case on the
//! account, compliance carries it out (or the scheduler on the day a refusal named), and the
//! process manager `erasure` does what an erasure means outside the log.
//!
//! The events stay: the customer's data in them is sealed with their key, and destroying the key
//! (crypto-shredding) leaves every sealed value unreadable, in the log, the read models and the
//! effects outbox alike. What sits outside the log for a purpose goes in the same transaction:
//! password hashes, lookup hashes of phone, e-mail, passport and social accounts, sessions, codes,
//! idempotent replies, and what the development drivers recorded in clear.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use k911_aggregates::account::{
    Account, AccountCommand, AccountError, AccountEvent, AccountEventType, AccountKind,
    ErasureBlock, ErasureCase, ErasureFacts, ErasureRules,
};
use k911_aggregates::loan_application::{ApplicationStatus, LoanApplication};
use k911_aggregates::support_ticket::{
    Requester, SupportTicketEvent, SupportTicketEventType, TicketKind,
};
use k911_event_store::follower::{payload, BatchTx, Follower, FollowerError, Kind};
use k911_event_store::keys::{KeyError, KeyStore, ERASED};
use k911_event_store::log::RecordedEvent;
use k911_event_store::outbox::{self, Channel, Effect};
use k911_event_store::store::Cqrs;
use uuid::Uuid;

use crate::compliance::Compliance;
use crate::error::{step_failed, StepFailure};
use crate::execute::run_retrying;
use crate::notify::registered_contacts;
use crate::sessions::SessionCache;
use crate::{CommandMeta, Error};

/// What came of carrying out a deletion request.
#[derive(Debug, Clone)]
pub struct ErasureOutcome {
    pub customer_id: Uuid,
    pub case: ErasureCase,
    /// Where the decision stands in the log.
    pub position: i64,
}

impl Compliance {
    /// Carries out `customer_id`'s deletion request (opening the case if it came otherwise):
    /// erased if nothing stops it, else the refusal recorded and the customer told. Once erased,
    /// the answer waits until the process manager has destroyed the key and the rest.
    pub async fn erase(
        &self,
        customer_id: Uuid,
        meta: &CommandMeta,
    ) -> Result<ErasureOutcome, Error> {
        let command = AccountCommand::Erase {
            rules: self.core.settings.erasure,
            facts: self.erasure_facts(customer_id).await?,
            at: self.core.clock.now(),
        };
        let written = match self
            .core
            .execute(&self.accounts, customer_id, command, meta)
            .await
        {
            Err(Error::Account(AccountError::NotACustomer)) => return Err(Error::NotFound),
            other => other?,
        };
        let account: Account = self.core.load(&self.account_store, customer_id).await?;
        let case = account.erasure().cloned().ok_or(Error::NotFound)?;
        if case.erased_at.is_some() {
            self.followers
                .wait_for_named(
                    ERASURE,
                    written.position,
                    self.core.settings.read_your_writes_timeout,
                )
                .await?;
        }
        Ok(ErasureOutcome {
            customer_id,
            case,
            position: written.position,
        })
    }

    /// The scheduler's turn: each refused request whose day came is decided again. One
    /// customer's failure is logged and skipped.
    pub async fn erase_due(&self, customers: &[Uuid]) -> usize {
        let meta = CommandMeta::system("scheduler");
        let mut erased = 0;
        for &customer_id in customers {
            let decided = async {
                let command = AccountCommand::Erase {
                    rules: self.core.settings.erasure,
                    facts: self.erasure_facts(customer_id).await?,
                    at: self.core.clock.now(),
                };
                self.core
                    .run(&self.accounts, customer_id, command, &meta)
                    .await
            };
            match decided.await {
                Ok(Some(_)) => erased += 1,
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(customer = %customer_id, %error, "a due erasure could not be decided; skipped")
                }
            }
        }
        erased
    }
}

impl Compliance {
    /// What the account cannot see of itself (write-side state all the same): whether its
    /// latest application is back in the underwriters' queue, and whether reports about the
    /// customer are still owed to the credit bureau.
    async fn erasure_facts(&self, customer_id: Uuid) -> Result<ErasureFacts, Error> {
        let account: Account = self.core.load(&self.account_store, customer_id).await?;
        let application_waiting = match account.kind() {
            AccountKind::Customer {
                latest_application, ..
            } => {
                let application: LoanApplication = self
                    .core
                    .load(&self.application_store, *latest_application)
                    .await?;
                application.status() == ApplicationStatus::Submitted
            }
            _ => false,
        };
        let reports_pending: bool = self
            .core
            .db
            .pg
            .get()
            .await?
            .query_one(REPORTS_PENDING, &[&customer_id])
            .await?
            .get(0);
        Ok(ErasureFacts {
            application_waiting,
            reports_pending,
        })
    }
}

/// Whether reports about the customer (`$1`) are still owed to the credit bureau: through the
/// index of pending reports by customer (migration 26).
pub const REPORTS_PENDING: &str = "
SELECT EXISTS (SELECT 1 FROM effects
                WHERE kind = 'bureau_report' AND status = 'pending'
                  AND request -> 'BureauReport' ->> 'customer_id' = $1::uuid::text)";

/// The process manager's name (the erase route waits for it).
pub const ERASURE: &str = "erasure";

/// Process manager `erasure`: a deletion ticket from the cabinet opens the case on the account;
/// a refusal is told to the customer by SMS and e-mail; an erasure destroys the key and every
/// copy of the person's data outside the log, in the follower's own transaction.
pub struct ErasureProcess {
    pub(crate) accounts: Arc<Cqrs<Account>>,
    pub(crate) keys: KeyStore,
    pub(crate) sessions: SessionCache,
    pub(crate) rules: ErasureRules,
}

#[async_trait]
impl Follower for ErasureProcess {
    fn name(&self) -> &'static str {
        ERASURE
    }

    fn event_types(&self) -> Vec<&'static str> {
        vec![
            SupportTicketEventType::TicketSubmitted.into(),
            AccountEventType::ErasureRefused.into(),
            AccountEventType::CustomerErased.into(),
        ]
    }

    fn kind(&self) -> Kind {
        Kind::ProcessManager
    }

    /// It reads every ticket submitted to find the deletion requests: woken by each, it would
    /// slow the ticket path; a case opened half a second later loses nothing (the erase route
    /// wakes it when it waits).
    fn trails(&self) -> bool {
        true
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        if event.of::<k911_aggregates::support_ticket::SupportTicket>() {
            if let SupportTicketEvent::TicketSubmitted {
                kind: TicketKind::Deletion,
                requester: Requester::Customer { customer_id },
                submitted_at,
                ..
            } = payload(event)?
            {
                let ticket_id = event.aggregate_id.parse().ok();
                self.open_case(event, customer_id, ticket_id, submitted_at)
                    .await?;
            }
            return Ok(());
        }
        if !event.of::<Account>() {
            return Ok(());
        }
        let customer_id: Uuid = event
            .aggregate_id
            .parse()
            .map_err(|e| FollowerError::bad_event(event, e))?;
        match payload(event)? {
            AccountEvent::ErasureRefused {
                reason,
                possible_from,
                ..
            } => {
                let when = match possible_from {
                    Some(day) => format!("Мы удалим их автоматически {}.", day.format("%d.%m.%Y")),
                    None => match reason {
                        ErasureBlock::LoanInForce => {
                            "Мы вернёмся к запросу, когда заём будет погашен.".to_string()
                        }
                        ErasureBlock::ReportsPending => {
                            "Мы удалим их, как только передадим сведения в бюро.".to_string()
                        }
                        _ => "Мы вернёмся к запросу, когда по заявке будет принято решение."
                            .to_string(),
                    },
                };
                let text = format!(
                    "k911: ваш запрос на удаление персональных данных получен. Удалить их сейчас \
                     нельзя: {}. {when}",
                    reason.explained()
                );
                self.tell(tx, event, customer_id, text).await?;
            }
            AccountEvent::CustomerErased { erased_at } => {
                self.shred(tx, event, customer_id, erased_at).await?
            }
            _ => {}
        }
        Ok(())
    }
}

impl ErasureProcess {
    async fn open_case(
        &self,
        event: &RecordedEvent,
        customer_id: Uuid,
        ticket_id: Option<Uuid>,
        at: DateTime<Utc>,
    ) -> Result<(), FollowerError> {
        let command = AccountCommand::RequestErasure {
            ticket_id,
            rules: self.rules,
            at,
        };
        let meta = CommandMeta::system("erasure").about(customer_id).to_map();
        run_retrying(&self.accounts, &customer_id.to_string(), command, meta)
            .await
            .map_err(|error| step_failed(event, &Error::from_command(error)))
    }

    /// Tells the customer `text` by SMS and, if they gave one, by e-mail, once per event.
    async fn tell(
        &self,
        tx: &BatchTx<'_>,
        event: &RecordedEvent,
        customer_id: Uuid,
        text: String,
    ) -> Result<(), FollowerError> {
        let bad = |e: &dyn StepFailure| step_failed(event, e);
        let (phone, email) = registered_contacts(tx, event, customer_id).await?;
        let sealed = self
            .keys
            .seal(customer_id, &text)
            .await
            .map_err(|e| bad(&Error::from(e)))?;
        let sms = Effect::Sms {
            phone,
            text: sealed.clone(),
            secret: false,
        };
        let id = outbox::message_id(event.position(), Channel::Sms);
        outbox::enqueue(tx.transaction(), id, Channel::Sms, &sms).await?;
        if let Some(email) = email {
            let message = Effect::CustomerEmail {
                email,
                subject: "Запрос на удаление персональных данных".to_string(),
                body: sealed,
            };
            let id = outbox::message_id(event.position(), Channel::Email);
            outbox::enqueue(tx.transaction(), id, Channel::Email, &message).await?;
        }
        Ok(())
    }

    /// Destroys the customer's key and every copy of their data kept outside the log.
    async fn shred(
        &self,
        tx: &BatchTx<'_>,
        event: &RecordedEvent,
        customer_id: Uuid,
        erased_at: DateTime<Utc>,
    ) -> Result<(), FollowerError> {
        let bad = |e: &dyn StepFailure| step_failed(event, e);
        // What the development drivers recorded went to these addresses in clear: found while
        // the key still opens them (a replay after the erasure finds them erased, and nothing
        // left to delete).
        let (phone, email) = registered_contacts(tx, event, customer_id).await?;
        let mut addresses = Vec::new();
        match self.keys.open(&phone).await {
            Ok(phone) => addresses.push(phone.as_str().to_string()),
            Err(KeyError::Erased(_)) => {}
            Err(other) => return Err(bad(&Error::from(other))),
        }
        if let Some(email) = email {
            match self.keys.open(&email).await {
                Ok(email) => addresses.push(email.as_str().to_string()),
                Err(KeyError::Erased(_)) => {}
                Err(other) => return Err(bad(&Error::from(other))),
            }
        }
        let client = tx.transaction();
        let id = &customer_id;
        for statement in ERASE_OUTSIDE_THE_LOG {
            client.execute(*statement, &[id]).await?;
        }
        client
            .execute(
                "DELETE FROM dev_outbox WHERE recipient = ANY($1)",
                &[&addresses],
            )
            .await?;
        // Failed logins are counted under a keyed hash of the login typed.
        let throttles: Vec<String> = addresses
            .iter()
            .map(|address| crate::auth::throttle_key(&self.keys, address))
            .collect();
        client
            .execute(
                "DELETE FROM login_failures WHERE login = ANY($1)",
                &[&throttles],
            )
            .await?;
        client
            .execute(
                "UPDATE sandbox_payouts SET destination = $2
                  WHERE loan_id IN (SELECT loan_id FROM contracts WHERE customer_id = $1)",
                &[id, &ERASED],
            )
            .await?;
        KeyStore::destroy(client, customer_id, erased_at).await?;
        self.keys.forget(customer_id);
        self.sessions.forget_account(customer_id);
        Ok(())
    }
}

/// What an erasure deletes outside the log, each keyed by the customer's id: credentials, lookup
/// hashes, sessions, one-time codes, login flows and idempotent replies.
const ERASE_OUTSIDE_THE_LOG: &[&str] = &[
    "DELETE FROM credentials WHERE account_id = $1",
    "DELETE FROM customer_identities WHERE customer_id = $1",
    "DELETE FROM social_identities WHERE account_id = $1",
    "DELETE FROM account_logins WHERE account_id = $1",
    // Every instance forgets the sessions when this commits.
    crate::sessions::DELETE_ALL,
    "DELETE FROM otp_codes WHERE account_id = $1",
    "DELETE FROM oidc_flows WHERE account_id = $1",
    "DELETE FROM idempotency_keys WHERE scope = $1::uuid::text",
];
