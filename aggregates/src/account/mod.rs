//! An account: who may log in, with which role and credentials. Staff accounts are created by an
//! administrator; customer accounts (created by a first loan application and opened on its
//! approval) join this aggregate as further variants of [`AccountKind`].

mod commands;
mod consent;
mod erasure;
mod error;
mod events;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

pub use commands::{AccountCommand, CreditTerms};
pub use consent::{CreditHistoryConsent, NoLiveConsent};
pub use erasure::{ErasureBlock, ErasureCase, ErasureFacts, ErasureRefusal, ErasureRules};
pub use error::AccountError;
pub use events::{AccountEvent, AccountEventType};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::calendar::moscow_date;
use crate::loan::law::{CreditRecord, Unlawful};
use crate::money::Kopecks;
use crate::values::{CredentialId, Email, Phone, Role};
use crate::Sealed;
use erasure::erasable_from;

/// Which kind of account this is, with what it needs for logging in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountKind {
    #[default]
    None,
    Staff {
        login: Email,
        role: Role,
        password: CredentialId,
    },
    /// A borrower. Contacts are sealed with the customer's own key (the account id).
    Customer {
        phone: Sealed<Phone>,
        email: Option<Sealed<Email>>,
        /// The approved application that opened the cabinet; `None` until then, and no
        /// credential works meanwhile.
        opened_by: Option<Uuid>,
        password: Option<CredentialId>,
        /// The customer's latest decided application: its profile is what the next one starts
        /// from.
        latest_application: Uuid,
        /// The application waiting for a decision, if any.
        pending_application: Option<Uuid>,
        /// OpenID Connect providers with a linked account (one account per provider).
        social_providers: Vec<String>,
    },
}

/// How an application ended, as far as the account is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationOutcome {
    Approved,
    Rejected,
    /// Started but never submitted (the submission failed).
    Abandoned,
}

/// How long a reservation counts without the approval it was made for: an approving request
/// reserves and approves within moments; one that died in between leaves a reservation that must
/// not block the customer for ever.
pub const RESERVATION_LAPSES_AFTER: chrono::Duration = chrono::Duration::minutes(10);

/// A loan the customer owes here, or owed lately, or is about to be approved: what the law's
/// limits count. Kept on the account so that approvals of one customer are decided one after
/// another against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commitment {
    pub application_id: Uuid,
    pub psk_percent: Decimal,
    pub monthly_payment: Kopecks,
    /// `None` while in force.
    pub repaid_on: Option<NaiveDate>,
    /// When it was reserved, while no approval has confirmed it.
    pub reserved_at: Option<DateTime<Utc>>,
    /// The bureau's loans at other lenders when it was reserved.
    pub elsewhere: Vec<CreditRecord>,
}

impl Commitment {
    /// Whether it counts at `at` for these very terms.
    fn stands_for(&self, credit: &CreditTerms, at: DateTime<Utc>) -> bool {
        self.counts_at(at)
            && self.psk_percent == credit.psk_percent
            && self.monthly_payment == credit.monthly_payment
    }
}

impl Commitment {
    /// Whether it counts at `at`: confirmed, or reserved lately.
    fn counts_at(&self, at: DateTime<Utc>) -> bool {
        self.reserved_at
            .is_none_or(|reserved| at < reserved + RESERVATION_LAPSES_AFTER)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Account {
    kind: AccountKind,
    /// The customer's loans here, approved and not released, in the order they were approved.
    credit: Vec<Commitment>,
    /// Why the latest commitment of an application was refused, until it is committed.
    refusals: Vec<(Uuid, Unlawful)>,
    /// The customer's deletion request, once made.
    #[serde(default)]
    erasure: Option<ErasureCase>,
    /// The latest consent to request the customer's credit history.
    #[serde(default)]
    credit_history_consent: Option<CreditHistoryConsent>,
    /// Applications whose credit history request was refused for want of a live consent.
    #[serde(default)]
    history_refusals: Vec<(Uuid, NoLiveConsent)>,
}

impl Account {
    pub fn kind(&self) -> &AccountKind {
        &self.kind
    }

    /// The customer's loans here as a credit history shows them at `at` (in force or about to
    /// be, or repaid), besides the application's own.
    pub fn credit_history(&self, besides: Uuid, at: DateTime<Utc>) -> Vec<CreditRecord> {
        self.counted(at, Some(besides))
            .map(|c| CreditRecord {
                psk_percent: c.psk_percent,
                repaid_on: c.repaid_on,
            })
            .collect()
    }

    /// What the loans in force weigh a month at `at`, besides the application's own.
    pub fn monthly_payments(&self, besides: Uuid, at: DateTime<Utc>) -> Kopecks {
        self.counted(at, Some(besides))
            .filter(|c| c.repaid_on.is_none())
            .map(|c| c.monthly_payment)
            .sum()
    }

    /// Whether the application's loan is counted, confirmed or reserved, at `at`.
    pub fn counts(&self, application_id: Uuid, at: DateTime<Utc>) -> bool {
        self.counted(at, None)
            .any(|c| c.application_id == application_id)
    }

    fn counted(
        &self,
        at: DateTime<Utc>,
        except: Option<Uuid>,
    ) -> impl Iterator<Item = &Commitment> + '_ {
        self.credit
            .iter()
            .filter(move |c| c.counts_at(at) && Some(c.application_id) != except)
    }

    /// The limits of `rules` for one more loan of `psk_percent` at `at`, besides the
    /// application's own (its earlier reservation) and with the loans `elsewhere`.
    fn check_credit(
        &self,
        application_id: Uuid,
        credit: &CreditTerms,
        elsewhere: Vec<CreditRecord>,
        at: DateTime<Utc>,
    ) -> Result<(), Unlawful> {
        let mut history = self.credit_history(application_id, at);
        history.extend(elsewhere);
        credit
            .rules
            .check_high_cost(credit.psk_percent, &history, moscow_date(at))
    }

    /// Counts `commitment` in place of whatever its application had, refusal included.
    fn count(&mut self, commitment: Commitment) {
        let id = commitment.application_id;
        self.refusals.retain(|(refused, _)| *refused != id);
        self.credit.retain(|c| c.application_id != id);
        self.credit.push(commitment);
    }

    fn find_credit(&self, application_id: Uuid) -> Option<&Commitment> {
        self.credit
            .iter()
            .find(|c| c.application_id == application_id)
    }

    /// Why the application's loan was refused, if its latest commitment was.
    pub fn credit_refusal(&self, application_id: Uuid) -> Option<&Unlawful> {
        self.refusals
            .iter()
            .find(|(id, _)| *id == application_id)
            .map(|(_, why)| why)
    }

    /// Why the credit history request of `application_id` was refused, if its latest was.
    pub fn credit_history_refusal(&self, application_id: Uuid) -> Option<NoLiveConsent> {
        self.history_refusals
            .iter()
            .find(|(id, _)| *id == application_id)
            .map(|(_, why)| *why)
    }

    /// The customer's deletion request, if they made one.
    pub fn erasure(&self) -> Option<&ErasureCase> {
        self.erasure.as_ref()
    }

    /// Whether the customer's personal data was erased.
    pub fn erased(&self) -> bool {
        self.erasure.as_ref().is_some_and(|c| c.erased_at.is_some())
    }

    /// What stops erasing the customer at `at`, if anything: an application being decided, a
    /// loan in force, or the retention period after the last loan ended.
    fn erasure_block(
        &self,
        at: DateTime<Utc>,
        retention_years: u32,
        facts: ErasureFacts,
    ) -> Option<ErasureRefusal> {
        let waiting = |reason| {
            Some(ErasureRefusal {
                reason,
                possible_from: None,
            })
        };
        let pending = matches!(
            self.kind,
            AccountKind::Customer {
                pending_application: Some(_),
                ..
            }
        );
        if pending || facts.application_waiting {
            return waiting(ErasureBlock::ApplicationPending);
        }
        if self.counted(at, None).any(|c| c.repaid_on.is_none()) {
            return waiting(ErasureBlock::LoanInForce);
        }
        let last_repaid = self.credit.iter().filter_map(|c| c.repaid_on).max();
        if let Some(possible_from) = last_repaid.map(|day| erasable_from(day, retention_years)) {
            if moscow_date(at) < possible_from {
                return Some(ErasureRefusal {
                    reason: ErasureBlock::RetentionPeriod,
                    possible_from: Some(possible_from),
                });
            }
        }
        if facts.reports_pending {
            return waiting(ErasureBlock::ReportsPending);
        }
        None
    }

    /// Decides an open request at `at`: the refusal, unless it is the one recorded already, or
    /// (`facts` known) the erasure. Without the facts (a loan's close) only a new refusal is
    /// recorded; what would erase is left to the scheduler's erase, which knows them.
    async fn decide_erasure(
        &mut self,
        retention_years: u32,
        facts: Option<ErasureFacts>,
        at: DateTime<Utc>,
        sink: &EventSink<Self>,
    ) {
        let Some(case) = &self.erasure else { return };
        let event = match self.erasure_block(at, retention_years, facts.unwrap_or_default()) {
            // The customer was told this already.
            Some(refusal) if case.refused == Some(refusal) => return,
            Some(refusal) => AccountEvent::ErasureRefused {
                reason: refusal.reason,
                possible_from: refusal.possible_from,
                retention_years,
                refused_at: at,
            },
            None if facts.is_none() => return,
            None => AccountEvent::CustomerErased { erased_at: at },
        };
        sink.write(event, self).await;
    }

    /// The linked providers of an opened customer's cabinet; social accounts link only there.
    fn open_customer_providers(&self) -> Result<&[String], AccountError> {
        match &self.kind {
            AccountKind::Customer {
                opened_by: None, ..
            } => Err(AccountError::NotOpen),
            AccountKind::Customer {
                social_providers, ..
            } => Ok(social_providers),
            _ => Err(AccountError::NotACustomer),
        }
    }
}

impl Aggregate for Account {
    const TYPE: &'static str = "Account";
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = AccountError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        // Nobody acts for an erased customer any more (what ends their past, a replayed close,
        // still finds nothing to do).
        let acting = matches!(
            command,
            AccountCommand::OpenCustomer { .. }
                | AccountCommand::StartApplication { .. }
                | AccountCommand::LinkSocial { .. }
                | AccountCommand::UnlinkSocial { .. }
                | AccountCommand::ChangePassword { .. }
                | AccountCommand::ReserveCredit { .. }
                | AccountCommand::CommitCredit { .. }
                | AccountCommand::WithdrawCreditHistoryConsent { .. }
                | AccountCommand::RequestCreditHistory { .. }
        );
        if acting && self.erased() {
            return Err(AccountError::Erased);
        }
        match command {
            AccountCommand::RequestErasure {
                ticket_id,
                rules,
                at,
            } => {
                if !matches!(self.kind, AccountKind::Customer { .. }) {
                    return Err(AccountError::NotACustomer);
                }
                // One case at a time: a second request while one stands changes nothing.
                if self.erasure.is_none() {
                    let requested = AccountEvent::ErasureRequested {
                        ticket_id,
                        deadline: rules.deadline(at),
                        requested_at: at,
                    };
                    sink.write(requested, self).await;
                }
            }
            AccountCommand::Erase { rules, facts, at } => {
                if !matches!(self.kind, AccountKind::Customer { .. }) {
                    return Err(AccountError::NotACustomer);
                }
                if self.erased() {
                    return Ok(());
                }
                // A request received otherwise (on paper, by post) opens its case here.
                if self.erasure.is_none() {
                    let requested = AccountEvent::ErasureRequested {
                        ticket_id: None,
                        deadline: rules.deadline(at),
                        requested_at: at,
                    };
                    sink.write(requested, self).await;
                }
                self.decide_erasure(rules.retention_years, Some(facts), at, sink)
                    .await;
            }
            AccountCommand::WithdrawCreditHistoryConsent { at } => {
                if !matches!(self.kind, AccountKind::Customer { .. }) {
                    return Err(AccountError::NotACustomer);
                }
                match self.credit_history_consent {
                    Some(CreditHistoryConsent {
                        withdrawn_at: None, ..
                    }) => {
                        let withdrawn =
                            AccountEvent::CreditHistoryConsentWithdrawn { withdrawn_at: at };
                        sink.write(withdrawn, self).await;
                    }
                    _ => return Err(AccountError::NoConsent),
                }
            }
            AccountCommand::RequestCreditHistory { application_id, at } => {
                if !matches!(self.kind, AccountKind::Customer { .. }) {
                    return Err(AccountError::NotACustomer);
                }
                // A refusal is an outcome to record: the caller reads it back
                // (`credit_history_refusal`) and asks no bureau.
                let event = match self.credit_history_consent {
                    None => AccountEvent::CreditHistoryRequestRefused {
                        application_id,
                        reason: NoLiveConsent::Missing,
                        refused_at: at,
                    },
                    Some(consent) => match consent.refusal_at(at) {
                        Some(reason) => AccountEvent::CreditHistoryRequestRefused {
                            application_id,
                            reason,
                            refused_at: at,
                        },
                        None => AccountEvent::CreditHistoryRequested {
                            application_id,
                            consent_given_at: consent.given_at,
                            requested_at: at,
                        },
                    },
                };
                sink.write(event, self).await;
            }
            AccountCommand::CreateStaff {
                login,
                role,
                password,
                at,
            } => {
                if self.kind != AccountKind::None {
                    return Err(AccountError::AlreadyExists);
                }
                if !role.has_staff_login() {
                    return Err(AccountError::NotAStaffRole(role));
                }
                let event = AccountEvent::StaffAccountCreated {
                    login,
                    role,
                    password,
                    created_at: at,
                };
                sink.write(event, self).await;
            }
            AccountCommand::RegisterCustomer {
                application_id,
                phone,
                email,
                at,
            } => {
                if self.kind != AccountKind::None {
                    return Err(AccountError::AlreadyExists);
                }
                let event = AccountEvent::CustomerRegistered {
                    application_id,
                    phone,
                    email,
                    registered_at: at,
                };
                sink.write(event, self).await;
            }
            AccountCommand::OpenCustomer {
                application_id,
                password,
                at,
            } => {
                let AccountKind::Customer { opened_by, .. } = &self.kind else {
                    return Err(AccountError::NotACustomer);
                };
                let event = match (opened_by, password) {
                    (None, password) => AccountEvent::CustomerAccountOpened {
                        application_id,
                        password,
                        opened_at: at,
                    },
                    (Some(by), Some(password)) if *by == application_id => {
                        AccountEvent::PasswordIssued {
                            password,
                            issued_at: at,
                        }
                    }
                    // Phone-only: nothing was lost, there is nothing to reissue.
                    (Some(by), None) if *by == application_id => return Ok(()),
                    (Some(_), _) => return Err(AccountError::AlreadyOpen),
                };
                sink.write(event, self).await;
            }
            AccountCommand::StartApplication {
                application_id,
                changes,
                credit_history_consent,
                at,
            } => {
                // From the cabinet, or, for someone whose first application was rejected (no
                // cabinet), from the public form again.
                let AccountKind::Customer {
                    pending_application,
                    ..
                } = &self.kind
                else {
                    return Err(AccountError::NotACustomer);
                };
                if pending_application.is_some() {
                    return Err(AccountError::ApplicationPending);
                }
                if let Some((changes, fields)) = changes {
                    let changed = AccountEvent::ProfileChanged {
                        application_id,
                        changes,
                        fields,
                        changed_at: at,
                    };
                    sink.write(changed, self).await;
                }
                let started = AccountEvent::ApplicationStarted {
                    application_id,
                    credit_history_consent,
                    started_at: at,
                };
                sink.write(started, self).await;
            }
            AccountCommand::CloseApplication {
                application_id,
                outcome,
                at,
            } => {
                let AccountKind::Customer {
                    pending_application,
                    ..
                } = &self.kind
                else {
                    return Err(AccountError::NotACustomer);
                };
                // Closing what is not pending (a replay, an opened first application) is a no-op.
                if *pending_application == Some(application_id) {
                    let closed = AccountEvent::ApplicationClosed {
                        application_id,
                        outcome,
                        closed_at: at,
                    };
                    sink.write(closed, self).await;
                }
            }
            AccountCommand::LinkSocial {
                provider,
                subject,
                at,
            } => {
                let providers = self.open_customer_providers()?;
                if providers.contains(&provider) {
                    return Err(AccountError::AlreadyLinked(provider));
                }
                let linked = AccountEvent::SocialAccountLinked {
                    provider,
                    subject,
                    linked_at: at,
                };
                sink.write(linked, self).await;
            }
            AccountCommand::ReserveCredit {
                application_id,
                credit,
                elsewhere,
                at,
            } => {
                if !matches!(self.kind, AccountKind::Customer { .. }) {
                    return Err(AccountError::NotACustomer);
                }
                // Counted already for these terms (a retry); other terms are checked anew.
                let counted = self.find_credit(application_id);
                if counted.is_some_and(|c| c.stands_for(&credit, at)) {
                    return Ok(());
                }
                // A refusal is an outcome to record: whoever asked reads it back
                // (`credit_refusal`).
                let event = match self.check_credit(application_id, &credit, elsewhere.clone(), at)
                {
                    Ok(()) => AccountEvent::CreditReserved {
                        application_id,
                        psk_percent: credit.psk_percent,
                        monthly_payment: credit.monthly_payment,
                        elsewhere,
                        reserved_at: at,
                    },
                    Err(reason) => AccountEvent::CreditRefused {
                        application_id,
                        reason,
                        refused_at: at,
                    },
                };
                sink.write(event, self).await;
            }
            AccountCommand::CommitCredit {
                application_id,
                credit,
                at,
            } => {
                if !matches!(self.kind, AccountKind::Customer { .. }) {
                    return Err(AccountError::NotACustomer);
                }
                let reservation = self.find_credit(application_id);
                if reservation.is_some_and(|c| c.reserved_at.is_none()) {
                    return Ok(());
                }
                // Reserved lately for these terms: confirmed as it stands. Otherwise the limits
                // decide now, with the bureau's loans the reservation saw.
                let live = reservation.is_some_and(|c| c.stands_for(&credit, at));
                let elsewhere = reservation.map(|c| c.elsewhere.clone()).unwrap_or_default();
                let checked = match live {
                    true => Ok(()),
                    false => self.check_credit(application_id, &credit, elsewhere, at),
                };
                let event = match checked {
                    Ok(()) => AccountEvent::CreditCommitted {
                        application_id,
                        psk_percent: credit.psk_percent,
                        monthly_payment: credit.monthly_payment,
                        committed_at: at,
                    },
                    Err(reason) => AccountEvent::CreditRefused {
                        application_id,
                        reason,
                        refused_at: at,
                    },
                };
                sink.write(event, self).await;
            }
            AccountCommand::EndCredit {
                application_id,
                repaid_on,
                at,
            } => {
                let Some(commitment) = self.find_credit(application_id) else {
                    return Ok(());
                };
                let event = match repaid_on {
                    Some(_) if commitment.repaid_on.is_some() => return Ok(()),
                    Some(repaid_on) => AccountEvent::CreditRepaid {
                        application_id,
                        repaid_on,
                    },
                    None => AccountEvent::CreditReleased {
                        application_id,
                        released_at: at,
                    },
                };
                sink.write(event, self).await;
                // A request refused while the loan was in force is decided again at its close.
                if let Some(ErasureCase {
                    refused: Some(refused),
                    retention_years,
                    ..
                }) = self.erasure
                {
                    if refused.reason == ErasureBlock::LoanInForce {
                        self.decide_erasure(retention_years, None, at, sink).await;
                    }
                }
            }
            AccountCommand::UnlinkSocial { provider, at } => {
                let providers = self.open_customer_providers()?;
                if !providers.contains(&provider) {
                    return Err(AccountError::NotLinked(provider));
                }
                let unlinked = AccountEvent::SocialAccountUnlinked {
                    provider,
                    unlinked_at: at,
                };
                sink.write(unlinked, self).await;
            }
            AccountCommand::ChangePassword { password, at } => {
                match &self.kind {
                    AccountKind::Staff { .. } => {}
                    AccountKind::Customer {
                        opened_by: None, ..
                    } => return Err(AccountError::NotOpen),
                    AccountKind::Customer { password: None, .. } => {
                        return Err(AccountError::NoPassword)
                    }
                    AccountKind::Customer { .. } => {}
                    AccountKind::None => return Err(AccountError::NotACustomer),
                }
                let changed = AccountEvent::PasswordChanged {
                    password,
                    changed_at: at,
                };
                sink.write(changed, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            AccountEvent::StaffAccountCreated {
                login,
                role,
                password,
                ..
            } => {
                self.kind = AccountKind::Staff {
                    login,
                    role,
                    password,
                }
            }
            AccountEvent::CustomerRegistered {
                phone,
                email,
                application_id,
                registered_at,
            } => {
                // The first application is given with all its consents.
                self.credit_history_consent = Some(CreditHistoryConsent {
                    given_at: registered_at,
                    withdrawn_at: None,
                });
                self.kind = AccountKind::Customer {
                    phone,
                    email,
                    opened_by: None,
                    password: None,
                    latest_application: application_id,
                    pending_application: Some(application_id),
                    social_providers: vec![],
                }
            }
            AccountEvent::CustomerAccountOpened {
                application_id,
                password: hash,
                ..
            } => {
                if let AccountKind::Customer {
                    opened_by,
                    password,
                    pending_application,
                    ..
                } = &mut self.kind
                {
                    *opened_by = Some(application_id);
                    *password = hash;
                    // Opening is the first application's approval.
                    *pending_application = None;
                }
            }
            AccountEvent::PasswordIssued { password: hash, .. }
            | AccountEvent::PasswordChanged { password: hash, .. } => match &mut self.kind {
                AccountKind::Customer { password, .. } => *password = Some(hash),
                AccountKind::Staff { password, .. } => *password = hash,
                AccountKind::None => {}
            },
            AccountEvent::ApplicationStarted {
                application_id,
                credit_history_consent,
                started_at,
            } => {
                if credit_history_consent.is_some() {
                    self.credit_history_consent = Some(CreditHistoryConsent {
                        given_at: started_at,
                        withdrawn_at: None,
                    });
                }
                if let AccountKind::Customer {
                    pending_application,
                    ..
                } = &mut self.kind
                {
                    *pending_application = Some(application_id);
                }
            }
            AccountEvent::ApplicationClosed {
                application_id,
                outcome,
                ..
            } => {
                if let AccountKind::Customer {
                    latest_application,
                    pending_application,
                    ..
                } = &mut self.kind
                {
                    *pending_application = None;
                    // An abandoned application was never submitted: it has no profile.
                    if outcome != ApplicationOutcome::Abandoned {
                        *latest_application = application_id;
                    }
                }
            }
            // The changed profile travels with the application it came with.
            AccountEvent::ProfileChanged { .. } => {}
            AccountEvent::SocialAccountLinked { provider, .. } => {
                if let AccountKind::Customer {
                    social_providers, ..
                } = &mut self.kind
                {
                    social_providers.push(provider);
                }
            }
            AccountEvent::SocialAccountUnlinked { provider, .. } => {
                if let AccountKind::Customer {
                    social_providers, ..
                } = &mut self.kind
                {
                    social_providers.retain(|p| *p != provider);
                }
            }
            AccountEvent::CreditReserved {
                application_id,
                psk_percent,
                monthly_payment,
                elsewhere,
                reserved_at,
            } => self.count(Commitment {
                application_id,
                psk_percent,
                monthly_payment,
                repaid_on: None,
                reserved_at: Some(reserved_at),
                elsewhere,
            }),
            AccountEvent::CreditCommitted {
                application_id,
                psk_percent,
                monthly_payment,
                ..
            } => self.count(Commitment {
                application_id,
                psk_percent,
                monthly_payment,
                repaid_on: None,
                reserved_at: None,
                elsewhere: vec![],
            }),
            AccountEvent::CreditRefused {
                application_id,
                reason,
                ..
            } => {
                self.refusals.retain(|(id, _)| *id != application_id);
                self.refusals.push((application_id, reason));
            }
            AccountEvent::CreditRepaid {
                application_id,
                repaid_on,
            } => {
                if let Some(c) = self
                    .credit
                    .iter_mut()
                    .find(|c| c.application_id == application_id)
                {
                    c.repaid_on = Some(repaid_on);
                }
            }
            AccountEvent::CreditReleased { application_id, .. } => {
                self.credit.retain(|c| c.application_id != application_id);
            }
            AccountEvent::CreditHistoryConsentWithdrawn { withdrawn_at } => {
                if let Some(consent) = &mut self.credit_history_consent {
                    consent.withdrawn_at = Some(withdrawn_at);
                }
            }
            AccountEvent::CreditHistoryRequested { application_id, .. } => {
                self.history_refusals
                    .retain(|(id, _)| *id != application_id);
            }
            AccountEvent::CreditHistoryRequestRefused {
                application_id,
                reason,
                ..
            } => {
                self.history_refusals
                    .retain(|(id, _)| *id != application_id);
                self.history_refusals.push((application_id, reason));
            }
            AccountEvent::ErasureRequested {
                ticket_id,
                deadline,
                requested_at,
            } => {
                self.erasure = Some(ErasureCase {
                    ticket_id,
                    requested_at,
                    deadline,
                    refused: None,
                    retention_years: 0,
                    erased_at: None,
                })
            }
            AccountEvent::ErasureRefused {
                reason,
                possible_from,
                retention_years,
                ..
            } => {
                if let Some(case) = &mut self.erasure {
                    case.refused = Some(ErasureRefusal {
                        reason,
                        possible_from,
                    });
                    case.retention_years = retention_years;
                }
            }
            AccountEvent::CustomerErased { erased_at } => {
                if let Some(case) = &mut self.erasure {
                    case.refused = None;
                    case.erased_at = Some(erased_at);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::loan_application::applicant::ProfileChanges;

    fn create(role: Role) -> AccountCommand {
        AccountCommand::CreateStaff {
            login: Email::parse("anna@k911.ru").unwrap(),
            role,
            password: cred(0),
            at: Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap(),
        }
    }

    fn created() -> AccountEvent {
        AccountEvent::StaffAccountCreated {
            login: Email::parse("anna@k911.ru").unwrap(),
            role: Role::Support,
            password: cred(0),
            created_at: Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap(),
        }
    }

    #[test]
    fn an_administrator_creates_a_staff_account() {
        TestFramework::<Account>::with(())
            .given_no_previous_events()
            .when(create(Role::Support))
            .then_expect_events(vec![created()]);
    }

    #[test]
    fn a_staff_account_cannot_be_created_twice() {
        TestFramework::<Account>::with(())
            .given(vec![created()])
            .when(create(Role::Support))
            .then_expect_error(AccountError::AlreadyExists);
    }

    const APPLICATION: Uuid = Uuid::from_u128(7);

    fn cred(n: u128) -> CredentialId {
        CredentialId(Uuid::from_u128(1000 + n))
    }

    fn at() -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap()
    }

    fn phone() -> Sealed<Phone> {
        Sealed::new(Uuid::from_u128(9), "n".into(), "c".into())
    }

    fn registered() -> AccountEvent {
        AccountEvent::CustomerRegistered {
            application_id: APPLICATION,
            phone: phone(),
            email: None,
            registered_at: at(),
        }
    }

    fn open(application_id: Uuid, hash: Option<CredentialId>) -> AccountCommand {
        AccountCommand::OpenCustomer {
            application_id,
            password: hash,
            at: at(),
        }
    }

    fn opened(hash: Option<CredentialId>) -> AccountEvent {
        AccountEvent::CustomerAccountOpened {
            application_id: APPLICATION,
            password: hash,
            opened_at: at(),
        }
    }

    #[test]
    fn a_first_application_registers_a_customer_once() {
        let register = AccountCommand::RegisterCustomer {
            application_id: APPLICATION,
            phone: phone(),
            email: None,
            at: at(),
        };
        TestFramework::<Account>::with(())
            .given_no_previous_events()
            .when(register.clone())
            .then_expect_events(vec![registered()]);
        TestFramework::<Account>::with(())
            .given(vec![registered()])
            .when(register)
            .then_expect_error(AccountError::AlreadyExists);
    }

    #[test]
    fn approval_opens_the_cabinet_with_or_without_a_password() {
        for hash in [Some(cred(3)), None] {
            TestFramework::<Account>::with(())
                .given(vec![registered()])
                .when(open(APPLICATION, hash))
                .then_expect_events(vec![opened(hash)]);
        }
    }

    #[test]
    fn opening_again_for_the_same_application_replaces_a_lost_password() {
        TestFramework::<Account>::with(())
            .given(vec![registered(), opened(Some(cred(1)))])
            .when(open(APPLICATION, Some(cred(2))))
            .then_expect_events(vec![AccountEvent::PasswordIssued {
                password: cred(2),
                issued_at: at(),
            }]);
        TestFramework::<Account>::with(())
            .given(vec![registered(), opened(None)])
            .when(open(APPLICATION, None))
            .then_expect_events(vec![]);
    }

    #[test]
    fn another_application_cannot_open_an_open_cabinet_and_staff_are_not_customers() {
        TestFramework::<Account>::with(())
            .given(vec![registered(), opened(None)])
            .when(open(Uuid::from_u128(8), Some(cred(3))))
            .then_expect_error(AccountError::AlreadyOpen);
        TestFramework::<Account>::with(())
            .given(vec![created()])
            .when(open(APPLICATION, None))
            .then_expect_error(AccountError::NotACustomer);
    }

    fn start(id: u128, changes: Option<(Sealed<ProfileChanges>, Vec<String>)>) -> AccountCommand {
        AccountCommand::StartApplication {
            application_id: Uuid::from_u128(id),
            changes,
            credit_history_consent: None,
            at: at(),
        }
    }

    fn started(id: u128) -> AccountEvent {
        AccountEvent::ApplicationStarted {
            application_id: Uuid::from_u128(id),
            credit_history_consent: None,
            started_at: at(),
        }
    }

    fn close(id: u128, outcome: ApplicationOutcome) -> AccountCommand {
        AccountCommand::CloseApplication {
            application_id: Uuid::from_u128(id),
            outcome,
            at: at(),
        }
    }

    fn closed(id: u128, outcome: ApplicationOutcome) -> AccountEvent {
        AccountEvent::ApplicationClosed {
            application_id: Uuid::from_u128(id),
            outcome,
            closed_at: at(),
        }
    }

    #[test]
    fn a_customer_applies_again_from_an_open_cabinet_recording_what_changed() {
        let changes: Sealed<ProfileChanges> =
            Sealed::new(Uuid::from_u128(9), "n".into(), "c".into());
        let fields = vec!["monthly_income_kopecks".to_string()];
        TestFramework::<Account>::with(())
            .given(vec![registered(), opened(None)])
            .when(start(20, Some((changes.clone(), fields.clone()))))
            .then_expect_events(vec![
                AccountEvent::ProfileChanged {
                    application_id: Uuid::from_u128(20),
                    changes,
                    fields,
                    changed_at: at(),
                },
                started(20),
            ]);
    }

    #[test]
    fn one_application_at_a_time() {
        TestFramework::<Account>::with(())
            .given(vec![registered(), opened(None), started(20)])
            .when(start(21, None))
            .then_expect_error(AccountError::ApplicationPending);
        // The first application is pending from registration on.
        TestFramework::<Account>::with(())
            .given(vec![registered()])
            .when(start(21, None))
            .then_expect_error(AccountError::ApplicationPending);
        // Rejected without a cabinet: the person may apply again.
        TestFramework::<Account>::with(())
            .given(vec![
                registered(),
                closed(APPLICATION.as_u128(), ApplicationOutcome::Rejected),
            ])
            .when(start(21, None))
            .then_expect_events(vec![started(21)]);
        TestFramework::<Account>::with(())
            .given(vec![created()])
            .when(start(21, None))
            .then_expect_error(AccountError::NotACustomer);
        // Once decided, the next may come.
        TestFramework::<Account>::with(())
            .given(vec![
                registered(),
                opened(None),
                started(20),
                closed(20, ApplicationOutcome::Rejected),
            ])
            .when(start(21, None))
            .then_expect_events(vec![started(21)]);
    }

    #[test]
    fn closing_an_application_that_is_not_pending_changes_nothing() {
        TestFramework::<Account>::with(())
            .given(vec![registered(), opened(None), started(20)])
            .when(close(20, ApplicationOutcome::Approved))
            .then_expect_events(vec![closed(20, ApplicationOutcome::Approved)]);
        TestFramework::<Account>::with(())
            .given(vec![
                registered(),
                opened(None),
                started(20),
                closed(20, ApplicationOutcome::Approved),
            ])
            .when(close(20, ApplicationOutcome::Approved))
            .then_expect_events(vec![]);
        // The first application closes by opening the cabinet.
        TestFramework::<Account>::with(())
            .given(vec![registered(), opened(None)])
            .when(close(APPLICATION.as_u128(), ApplicationOutcome::Approved))
            .then_expect_events(vec![]);
        TestFramework::<Account>::with(())
            .given(vec![created()])
            .when(close(20, ApplicationOutcome::Rejected))
            .then_expect_error(AccountError::NotACustomer);
    }

    #[test]
    fn a_password_is_changed_by_staff_and_by_customers_who_have_one() {
        let change = || AccountCommand::ChangePassword {
            password: cred(9),
            at: at(),
        };
        let changed = AccountEvent::PasswordChanged {
            password: cred(9),
            changed_at: at(),
        };
        for given in [vec![created()], vec![registered(), opened(Some(cred(3)))]] {
            TestFramework::<Account>::with(())
                .given(given)
                .when(change())
                .then_expect_events(vec![changed.clone()]);
        }
        TestFramework::<Account>::with(())
            .given(vec![registered(), opened(None)])
            .when(change())
            .then_expect_error(AccountError::NoPassword);
        TestFramework::<Account>::with(())
            .given(vec![registered()])
            .when(change())
            .then_expect_error(AccountError::NotOpen);
        TestFramework::<Account>::with(())
            .given_no_previous_events()
            .when(change())
            .then_expect_error(AccountError::NotACustomer);
    }

    #[test]
    fn one_social_account_per_provider_is_linked_and_unlinked_in_an_open_cabinet() {
        let subject: Sealed<String> = Sealed::new(Uuid::from_u128(9), "n".into(), "c".into());
        let link = || AccountCommand::LinkSocial {
            provider: "vk".into(),
            subject: subject.clone(),
            at: at(),
        };
        let linked = AccountEvent::SocialAccountLinked {
            provider: "vk".into(),
            subject: subject.clone(),
            linked_at: at(),
        };
        let unlink = || AccountCommand::UnlinkSocial {
            provider: "vk".into(),
            at: at(),
        };
        let unlinked = AccountEvent::SocialAccountUnlinked {
            provider: "vk".into(),
            unlinked_at: at(),
        };
        TestFramework::<Account>::with(())
            .given(vec![registered(), opened(None)])
            .when(link())
            .then_expect_events(vec![linked.clone()]);
        TestFramework::<Account>::with(())
            .given(vec![registered(), opened(None), linked.clone()])
            .when(link())
            .then_expect_error(AccountError::AlreadyLinked("vk".into()));
        TestFramework::<Account>::with(())
            .given(vec![registered(), opened(None), linked.clone()])
            .when(unlink())
            .then_expect_events(vec![unlinked.clone()]);
        TestFramework::<Account>::with(())
            .given(vec![registered(), opened(None), linked, unlinked])
            .when(unlink())
            .then_expect_error(AccountError::NotLinked("vk".into()));
        TestFramework::<Account>::with(())
            .given(vec![registered()])
            .when(link())
            .then_expect_error(AccountError::NotOpen);
        TestFramework::<Account>::with(())
            .given(vec![created()])
            .when(link())
            .then_expect_error(AccountError::NotACustomer);
    }

    #[test]
    fn a_borrower_is_not_created_as_staff() {
        TestFramework::<Account>::with(())
            .given_no_previous_events()
            .when(create(Role::Borrower))
            .then_expect_error(AccountError::NotAStaffRole(Role::Borrower));
    }

    fn credit() -> CreditTerms {
        CreditTerms {
            psk_percent: Decimal::from(292),
            monthly_payment: Kopecks::new(1_752_000).unwrap(),
            rules: Box::new(
                crate::loan::law::LawEditions::default()
                    .for_contract(at().date_naive())
                    .clone(),
            ),
        }
    }

    fn reserve(application_id: Uuid, at: DateTime<Utc>) -> AccountCommand {
        AccountCommand::ReserveCredit {
            application_id,
            credit: credit(),
            elsewhere: vec![],
            at,
        }
    }

    fn reserved(application_id: Uuid) -> AccountEvent {
        AccountEvent::CreditReserved {
            application_id,
            psk_percent: Decimal::from(292),
            monthly_payment: Kopecks::new(1_752_000).unwrap(),
            elsewhere: vec![],
            reserved_at: at(),
        }
    }

    fn commit(application_id: Uuid, at: DateTime<Utc>) -> AccountCommand {
        AccountCommand::CommitCredit {
            application_id,
            credit: credit(),
            at,
        }
    }

    fn committed(application_id: Uuid) -> AccountEvent {
        AccountEvent::CreditCommitted {
            application_id,
            psk_percent: Decimal::from(292),
            monthly_payment: Kopecks::new(1_752_000).unwrap(),
            committed_at: at(),
        }
    }

    fn held_two() -> Unlawful {
        Unlawful::HighCostLoansHeld {
            held: 2,
            above: Decimal::from(200),
        }
    }

    #[test]
    fn a_third_high_cost_loan_is_refused_on_the_account_and_the_refusal_recorded() {
        let (first, second, third) = (
            Uuid::from_u128(11),
            Uuid::from_u128(12),
            Uuid::from_u128(13),
        );
        TestFramework::<Account>::with(())
            .given(vec![registered()])
            .when(reserve(first, at()))
            .then_expect_events(vec![reserved(first)]);
        // Asked again (a retry): counted once.
        TestFramework::<Account>::with(())
            .given(vec![registered(), reserved(first)])
            .when(reserve(first, at()))
            .then_expect_events(vec![]);
        // A reservation counts at once, before its approval is confirmed.
        let refused = AccountEvent::CreditRefused {
            application_id: third,
            reason: held_two(),
            refused_at: at(),
        };
        TestFramework::<Account>::with(())
            .given(vec![registered(), committed(first), reserved(second)])
            .when(reserve(third, at()))
            .then_expect_events(vec![refused]);
        // One of them never became a loan: the next one may.
        let released = AccountEvent::CreditReleased {
            application_id: second,
            released_at: at(),
        };
        TestFramework::<Account>::with(())
            .given(vec![registered(), committed(first), committed(second)])
            .when(AccountCommand::EndCredit {
                application_id: second,
                repaid_on: None,
                at: at(),
            })
            .then_expect_events(vec![released.clone()]);
        TestFramework::<Account>::with(())
            .given(vec![
                registered(),
                committed(first),
                committed(second),
                released,
            ])
            .when(reserve(third, at()))
            .then_expect_events(vec![reserved(third)]);
    }

    #[test]
    fn a_reservation_is_confirmed_as_it_stands_or_checked_again_once_it_lapsed() {
        let (first, second, third) = (
            Uuid::from_u128(11),
            Uuid::from_u128(12),
            Uuid::from_u128(13),
        );
        let confirmed = |id| AccountEvent::CreditCommitted {
            application_id: id,
            psk_percent: Decimal::from(292),
            monthly_payment: Kopecks::new(1_752_000).unwrap(),
            committed_at: at(),
        };
        TestFramework::<Account>::with(())
            .given(vec![
                registered(),
                committed(first),
                committed(second),
                reserved(third),
            ])
            .when(commit(third, at()))
            .then_expect_events(vec![confirmed(third)]);
        TestFramework::<Account>::with(())
            .given(vec![registered(), committed(first)])
            .when(commit(first, at()))
            .then_expect_events(vec![]);
        // The approving request died: its reservation stops counting, and a late confirmation
        // meets the limits again.
        let later = at() + RESERVATION_LAPSES_AFTER;
        TestFramework::<Account>::with(())
            .given(vec![registered(), committed(first), reserved(third)])
            .when(reserve(second, later))
            .then_expect_events(vec![AccountEvent::CreditReserved {
                application_id: second,
                psk_percent: Decimal::from(292),
                monthly_payment: Kopecks::new(1_752_000).unwrap(),
                elsewhere: vec![],
                reserved_at: later,
            }]);
        let late = AccountEvent::CreditReserved {
            application_id: second,
            psk_percent: Decimal::from(292),
            monthly_payment: Kopecks::new(1_752_000).unwrap(),
            elsewhere: vec![],
            reserved_at: later,
        };
        TestFramework::<Account>::with(())
            .given(vec![registered(), committed(first), reserved(third), late])
            .when(commit(third, later))
            .then_expect_events(vec![AccountEvent::CreditRefused {
                application_id: third,
                reason: held_two(),
                refused_at: later,
            }]);
    }

    #[test]
    fn a_repaid_loan_leaves_the_monthly_payments_and_still_counts_in_the_history() {
        let (first, other) = (Uuid::from_u128(11), Uuid::from_u128(99));
        let mut account = Account::default();
        for event in [
            registered(),
            committed(first),
            AccountEvent::CreditRepaid {
                application_id: first,
                repaid_on: at().date_naive(),
            },
        ] {
            account.apply(event);
        }
        assert_eq!(account.monthly_payments(other, at()), Kopecks::ZERO);
        assert_eq!(
            account.credit_history(other, at()),
            vec![CreditRecord {
                psk_percent: Decimal::from(292),
                repaid_on: Some(at().date_naive()),
            }]
        );
    }

    #[test]
    fn a_reservation_for_other_terms_is_checked_again_and_a_lapsed_one_with_the_bureaus_loans() {
        let (first, second) = (Uuid::from_u128(11), Uuid::from_u128(12));
        // Reserved for a loan at 100 % a year (under the limit), redone at 292 %: checked again.
        let cheap = AccountEvent::CreditReserved {
            application_id: second,
            psk_percent: Decimal::from(100),
            monthly_payment: Kopecks::new(1_000_000).unwrap(),
            elsewhere: vec![],
            reserved_at: at(),
        };
        let elsewhere = CreditRecord {
            psk_percent: Decimal::from(250),
            repaid_on: None,
        };
        TestFramework::<Account>::with(())
            .given(vec![registered(), committed(first), cheap])
            .when(AccountCommand::ReserveCredit {
                application_id: second,
                credit: credit(),
                elsewhere: vec![elsewhere],
                at: at(),
            })
            .then_expect_events(vec![AccountEvent::CreditRefused {
                application_id: second,
                reason: held_two(),
                refused_at: at(),
            }]);
        // A lapsed reservation is confirmed only if the limits, with the bureau's loans it saw,
        // still allow it.
        let seen_elsewhere = AccountEvent::CreditReserved {
            application_id: second,
            psk_percent: Decimal::from(292),
            monthly_payment: Kopecks::new(1_752_000).unwrap(),
            elsewhere: vec![elsewhere],
            reserved_at: at(),
        };
        let later = at() + RESERVATION_LAPSES_AFTER;
        TestFramework::<Account>::with(())
            .given(vec![registered(), committed(first), seen_elsewhere])
            .when(commit(second, later))
            .then_expect_events(vec![AccountEvent::CreditRefused {
                application_id: second,
                reason: held_two(),
                refused_at: later,
            }]);
    }
}
