//! Borrower onboarding: the first application registers the customer; an underwriter decides;
//! the decision opens the cabinet and is sent by SMS (process manager [`Onboarding`]).

use std::sync::Arc;

use async_trait::async_trait;
use cqrs_es::{Aggregate, AggregateError};
use k911_aggregates::account::{
    Account, AccountCommand, AccountError, AccountKind, ApplicationOutcome,
};
use k911_aggregates::agent::Agent;
use k911_aggregates::document::Document;
use k911_aggregates::loan::law::CreditRecord;
use k911_aggregates::loan::psk::LoanCost;
use k911_aggregates::loan_application::applicant::{Applicant, PayoutMethod, ProfileChanges};
use k911_aggregates::loan_application::consents::{Consent, ConsentTexts, TextVersion};
use k911_aggregates::loan_application::{
    Assessment, DeclaredFinances, LendingPolicy, LoanApplication, LoanApplicationCommand,
    LoanApplicationError, LoanApplicationEvent, LoanApplicationEventType, LoanRequest, Product,
};
use k911_aggregates::money::{DailyRate, Kopecks};
use k911_aggregates::values::{Email, MessageText};
use k911_aggregates::Sealed;
use k911_event_store::credentials;
use k911_event_store::follower::{payload, BatchTx, Follower, FollowerError, Kind};
use k911_event_store::keys::KeyStore;
use k911_event_store::log::RecordedEvent;
use k911_event_store::outbox::{self, Channel, Effect};
use k911_event_store::store::{Cqrs, Store};
use uuid::Uuid;

use crate::agents::{referral, Referral};
use crate::app::Core;
use crate::auth::{generate_password, hash_password};
use crate::clock::Clock;
use crate::content::seed_document_id;
use crate::credit;
use crate::credit_history::CreditHistory;
use crate::error::{step_failed, StepFailure};
use crate::execute::run_retrying;
use crate::ids::IdGenerator;
use crate::payout::PayoutProvider;
use crate::{CommandMeta, Error, Written};

/// How long a reservation of a phone, e-mail or passport may stand without its customer's first
/// event before another application may take it over (the first one failed half-way).
const ORPHAN_AFTER_SECS: f64 = 60.0;

/// How long an application started on an account (a registration, or a repeat application) may
/// wait for its submission before the account lets it go: the request that started it died.
pub const UNSUBMITTED_RELEASED_AFTER: chrono::Duration = chrono::Duration::minutes(30);

/// A first application, validated at the edge.
#[derive(Debug, Clone)]
pub struct ApplicationForm {
    pub applicant: Applicant,
    pub loan: LoanRequest,
    pub payout: PayoutMethod,
    pub referral_code: Option<String>,
    /// The consent texts' versions (SHA-256) the applicant was shown, if the client says: each
    /// must still be the one in force.
    pub seen_consents: Vec<(Consent, String)>,
    /// The texts the consents were given to, as recorded (filled in when the form is accepted).
    pub consents: Option<ConsentTexts>,
}

/// An underwriter's approval: what is not given stays as asked.
#[derive(Debug, Clone, Default)]
pub struct Approval {
    pub amount: Option<Kopecks>,
    pub term_days: Option<u16>,
    pub daily_rate: Option<DailyRate>,
}

/// A repeat application: the loan, and whatever changed since the last one.
#[derive(Debug, Clone)]
pub struct RepeatForm {
    pub loan: LoanRequest,
    pub changes: ProfileChanges,
    /// The consent to request the credit history given anew: the version (SHA-256) of the text
    /// the client showed, empty if it does not say.
    pub credit_history_consent: Option<String>,
}

/// Loan applications: the first one registers the customer, a repeat one starts from the profile;
/// underwriters approve (the loan counted on the customer's account first) or reject.
#[derive(Clone)]
pub struct Onboarding {
    pub(crate) core: Core,
    pub(crate) accounts: Arc<Cqrs<Account>>,
    pub(crate) applications: Arc<Cqrs<LoanApplication>>,
    pub(crate) account_store: Arc<Store<Account>>,
    pub(crate) application_store: Arc<Store<LoanApplication>>,
    /// Borrowers' loans at other lenders (the development driver: a local table).
    pub(crate) credit_history: Arc<dyn CreditHistory>,
    /// Checks that a card token is the provider's.
    pub(crate) payout: Arc<dyn PayoutProvider>,
    /// The consents' texts (published documents).
    pub(crate) documents: Arc<Store<Document>>,
    /// Agents, whose codes new customers' applications may carry.
    pub(crate) agent_store: Arc<Store<Agent>>,
}

/// What a loan would cost if approved as asked today: the calculator's answer, shown before
/// applying as 353-FZ art. 5 part 9 asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    pub amount: Kopecks,
    pub term_days: u16,
    pub daily_rate: DailyRate,
    pub cost: LoanCost,
}

impl Onboarding {
    /// The consents' texts in force: each consent's document as published now.
    pub async fn consent_texts(&self) -> Result<ConsentTexts, Error> {
        let version = |consent: Consent| async move {
            let document_id = seed_document_id(consent.document_slug());
            let document = self.core.load(&self.documents, document_id).await?;
            let file = document
                .live_file()
                .ok_or(Error::ConsentTextMissing(consent.as_str()))?;
            Ok::<_, Error>(TextVersion {
                document_id,
                sha256: file.sha256.clone(),
            })
        };
        Ok(ConsentTexts {
            personal_data: version(Consent::PersonalData).await?,
            credit_history_check: version(Consent::CreditHistoryCheck).await?,
            terms: version(Consent::Terms).await?,
        })
    }

    /// What the product lends: amounts, terms and its rate.
    pub fn product(&self) -> &Product {
        &self.core.settings.product
    }

    /// The product's terms for `amount` over `term_days`, priced by the same code as an offer
    /// (the product's rate, the edition of the law in force today and its caps).
    pub fn quote(&self, amount: Kopecks, term_days: u16) -> Result<Quote, LoanApplicationError> {
        let settings = &self.core.settings;
        settings.product.check(amount, term_days)?;
        let today = crate::clock::moscow_date(self.core.clock.now());
        let daily_rate = settings.product.daily_rate;
        let cost = settings
            .law
            .for_contract(today)
            .lawful_cost(amount, term_days, daily_rate)
            .map_err(LoanApplicationError::Unlawful)?;
        Ok(Quote {
            amount,
            term_days,
            daily_rate,
            cost,
        })
    }

    /// The first application: registers the customer and submits the application. A known
    /// phone, e-mail or passport is [`Error::KnownCustomer`]: that person logs in instead.
    pub async fn apply(
        &self,
        mut form: ApplicationForm,
        meta: &CommandMeta,
    ) -> Result<(Written, Option<Referral>), Error> {
        let texts = self.consent_texts().await?;
        if let Some((consent, _)) = form
            .seen_consents
            .iter()
            .find(|(consent, seen)| texts.of(*consent).sha256 != *seen)
        {
            return Err(Error::ConsentTextChanged(consent.as_str()));
        }
        form.consents = Some(texts);
        // Checked before the customer is registered: a refused application writes nothing.
        self.core
            .settings
            .product
            .check(form.loan.amount, form.loan.term_days)?;
        crate::payout::check_card(self.payout.as_ref(), &form.payout).await?;
        let customer_id = self.core.ids.new_id();
        let application_id = self.core.ids.new_id();
        let applicant = &form.applicant;
        let mut identities = vec![
            (
                "phone",
                self.core.keys.lookup_hash(applicant.phone.as_str()),
            ),
            (
                "passport",
                self.core.keys.lookup_hash(&applicant.passport.identity()),
            ),
        ];
        if let Some(email) = &applicant.email {
            identities.push(("email", self.core.keys.lookup_hash(&email_key(email))));
        }
        let code = form.referral_code.take();
        match self.reserve_identities(customer_id, &identities).await {
            Ok(()) => {}
            Err(Error::KnownCustomer) => {
                // Someone registered before: a code on their application changes nothing.
                let referral = code.map(|c| Referral::refused(c, "existing_customer"));
                let written = self.apply_after_rejection(form, &identities, meta).await?;
                return Ok((written, referral));
            }
            Err(other) => return Err(other),
        }
        // The code is kept on the application only when its agent takes new clients now; the
        // attribution itself follows from the submission (`AgentAttribution`).
        let referral = match code {
            Some(code) => Some(referral(&self.core, &self.agent_store, &code).await?),
            None => None,
        };
        form.referral_code = referral
            .as_ref()
            .filter(|r| r.attributed())
            .map(|r| r.code.clone());
        let meta = &meta.about(customer_id);
        let written = self.register(customer_id, application_id, form, meta).await;
        if written.is_err() {
            sqlx::query("DELETE FROM customer_identities WHERE customer_id = $1")
                .bind(customer_id)
                .execute(&self.core.db.sqlx)
                .await?;
        }
        Ok((written?, referral))
    }

    async fn register(
        &self,
        customer_id: Uuid,
        application_id: Uuid,
        form: ApplicationForm,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let now = self.core.clock.now();
        let phone = self
            .core
            .keys
            .seal(customer_id, &form.applicant.phone)
            .await?;
        let email = match &form.applicant.email {
            Some(email) => Some(self.core.keys.seal(customer_id, email).await?),
            None => None,
        };
        let register = AccountCommand::RegisterCustomer {
            application_id,
            phone,
            email,
            at: now,
        };
        self.core
            .create(&self.accounts, customer_id, register, meta)
            .await?;
        self.submit(customer_id, application_id, form, false, now, meta)
            .await
    }

    /// Submits an application of `customer_id`, its personal data sealed with their key.
    async fn submit(
        &self,
        customer_id: Uuid,
        application_id: Uuid,
        form: ApplicationForm,
        repeat: bool,
        at: chrono::DateTime<chrono::Utc>,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let submit = LoanApplicationCommand::Submit {
            customer_id,
            applicant: self.core.keys.seal(customer_id, &form.applicant).await?,
            loan: form.loan,
            payout: self.core.keys.seal(customer_id, &form.payout).await?,
            referral_code: form.referral_code,
            repeat,
            consents: form.consents.map(Box::new),
            at,
        };
        self.core
            .create(&self.applications, application_id, submit, meta)
            .await
    }

    /// A registered customer's next application: started on the account (one at a time, with
    /// any profile changes) and submitted; should the submission fail, the account is freed.
    pub(crate) async fn start_and_submit(
        &self,
        customer_id: Uuid,
        form: ApplicationForm,
        changes: Option<(Sealed<ProfileChanges>, Vec<String>)>,
        repeat: bool,
        credit_history_consent: Option<TextVersion>,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let application_id = self.core.ids.new_id();
        let now = self.core.clock.now();
        let start = AccountCommand::StartApplication {
            application_id,
            changes,
            credit_history_consent,
            at: now,
        };
        self.core
            .execute(&self.accounts, customer_id, start, meta)
            .await?;
        let written = self
            .submit(customer_id, application_id, form, repeat, now, meta)
            .await;
        if written.is_err() {
            let abandon = AccountCommand::CloseApplication {
                application_id,
                outcome: ApplicationOutcome::Abandoned,
                at: self.core.clock.now(),
            };
            self.core
                .execute(&self.accounts, customer_id, abandon, meta)
                .await?;
        }
        written
    }

    /// A person whose first application was rejected applies again through the public form (they
    /// have no cabinet to apply from). Allowed when everything known of them belongs to that one
    /// registration, with the same phone and e-mail, and nothing is pending; anyone else known
    /// is [`Error::KnownCustomer`].
    async fn apply_after_rejection(
        &self,
        form: ApplicationForm,
        identities: &[(&str, Vec<u8>)],
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let mut holders: Vec<(String, Uuid)> = vec![];
        for (kind, hash) in identities {
            let holder: Option<Uuid> = sqlx::query_scalar(
                "SELECT customer_id FROM customer_identities WHERE kind = $1 AND hash = $2",
            )
            .bind(kind)
            .bind(hash)
            .fetch_optional(&self.core.db.sqlx)
            .await?;
            if let Some(holder) = holder {
                holders.push((kind.to_string(), holder));
            }
        }
        let Some((_, customer_id)) = holders.first().cloned() else {
            return Err(Error::KnownCustomer);
        };
        let same_person = holders.iter().all(|(_, holder)| *holder == customer_id);
        let holds = |kind: &str| holders.iter().any(|(k, _)| k == kind);
        let account = self.core.load(&self.account_store, customer_id).await?;
        let AccountKind::Customer {
            email,
            opened_by: None,
            pending_application: None,
            ..
        } = account.kind()
        else {
            return Err(Error::KnownCustomer);
        };
        // The contacts were fixed at registration: the SMS and the login go there.
        let same_contacts = holds("phone")
            && (email.is_some() == form.applicant.email.is_some())
            && (email.is_none() || holds("email"));
        if !same_person || !same_contacts {
            return Err(Error::KnownCustomer);
        }
        // A new passport becomes theirs too.
        self.reserve_identities(customer_id, identities).await?;
        // The public form gives every consent anew, the credit history's with them.
        let consent = form
            .consents
            .as_ref()
            .map(|texts| texts.credit_history_check.clone());
        self.start_and_submit(
            customer_id,
            form,
            None,
            false,
            consent,
            &meta.about(customer_id),
        )
        .await
    }

    /// Reserves every identity for `customer_id`, or none. One held by a registered customer
    /// refuses the application; one left behind by a failed application is taken over.
    pub async fn reserve_identities(
        &self,
        customer_id: Uuid,
        identities: &[(&str, Vec<u8>)],
    ) -> Result<(), Error> {
        let mut tx = self.core.db.sqlx.begin().await?;
        for (kind, hash) in identities {
            let holder: Option<(Uuid, bool)> = sqlx::query_as(
                "SELECT i.customer_id,
                        exists(SELECT 1 FROM events e WHERE e.aggregate_type = 'Account'
                                  AND e.aggregate_id = i.customer_id::text)
                        OR i.created_at > now() - make_interval(secs => $3)
                   FROM customer_identities i WHERE kind = $1 AND hash = $2
                    FOR UPDATE",
            )
            .bind(kind)
            .bind(hash)
            .bind(ORPHAN_AFTER_SECS)
            .fetch_optional(&mut *tx)
            .await?;
            match holder {
                // A customer's own identity (a repeat application naming the same passport).
                Some((holder, _)) if holder == customer_id => {}
                Some((_, true)) => return Err(Error::KnownCustomer),
                Some((_, false)) => {
                    sqlx::query(
                        "UPDATE customer_identities SET customer_id = $3, created_at = now()
                          WHERE kind = $1 AND hash = $2",
                    )
                    .bind(kind)
                    .bind(hash)
                    .bind(customer_id)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    let inserted = sqlx::query(
                        "INSERT INTO customer_identities (kind, hash, customer_id)
                         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    )
                    .bind(kind)
                    .bind(hash)
                    .bind(customer_id)
                    .execute(&mut *tx)
                    .await?;
                    // Someone else's reservation committed meanwhile.
                    if inserted.rows_affected() == 0 {
                        return Err(Error::KnownCustomer);
                    }
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn approve_application(
        &self,
        application_id: Uuid,
        underwriter_id: Uuid,
        approval: Approval,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let (assessment, elsewhere) = self.assess(application_id, meta).await?;
        let at = self.core.clock.now();
        let application = self
            .core
            .load(&self.application_store, application_id)
            .await?;
        // The loan is counted on the customer's account before the approval is written: another
        // approval of theirs at the same moment is decided after this one, against it.
        if let Some(customer_id) = application.customer_id() {
            let policy = self.lending_policy();
            let (_, _, _, cost) = application.approval_terms(
                approval.amount,
                approval.term_days,
                approval.daily_rate,
                &policy,
                at,
            )?;
            let reserve = AccountCommand::ReserveCredit {
                application_id,
                credit: credit::terms(&cost, &self.core.settings.law, at),
                elsewhere,
                at,
            };
            self.core
                .execute(&self.accounts, customer_id, reserve, meta)
                .await?;
            let account = self.core.load(&self.account_store, customer_id).await?;
            if let Some(reason) = credit::refusal(&account, application_id, at) {
                return Err(LoanApplicationError::Unlawful(reason).into());
            }
        }
        let command = LoanApplicationCommand::Approve {
            underwriter_id,
            amount: approval.amount,
            term_days: approval.term_days,
            daily_rate: approval.daily_rate,
            assessment,
            at,
        };
        // Should this fail (decided meanwhile by someone else), the reservation lapses by itself.
        self.core
            .execute(&self.applications, application_id, command, meta)
            .await
    }

    /// The applicant's declared income and the loans they hold here (as their account counts
    /// them) and at other lenders (as a bureau reports them, returned apart too), for the
    /// decision.
    async fn assess(
        &self,
        application_id: Uuid,
        meta: &CommandMeta,
    ) -> Result<(Assessment, Vec<CreditRecord>), Error> {
        let application = self
            .core
            .load(&self.application_store, application_id)
            .await?;
        let (Some(customer_id), Some((applicant, _))) =
            (application.customer_id(), application.profile())
        else {
            return Err(LoanApplicationError::NotSubmitted.into());
        };
        let applicant: Applicant = self.core.keys.open(applicant).await?;
        // No bureau is asked without a live consent: the request, or its refusal, is recorded
        // on the account first.
        let request = AccountCommand::RequestCreditHistory {
            application_id,
            at: self.core.clock.now(),
        };
        self.core
            .execute(&self.accounts, customer_id, request, meta)
            .await?;
        let account = self.core.load(&self.account_store, customer_id).await?;
        if let Some(reason) = account.credit_history_refusal(application_id) {
            return Err(Error::NoLiveConsent(reason));
        }
        let elsewhere = self
            .credit_history
            .loans(&applicant.passport)
            .await
            .map_err(Error::Storage)?;
        let now = self.core.clock.now();
        let mut credit_history = account.credit_history(application_id, now);
        credit_history.extend(elsewhere.iter().copied());
        let declared = DeclaredFinances {
            monthly_income: applicant.monthly_income,
            monthly_payments: account.monthly_payments(application_id, now),
        };
        let assessment = Assessment {
            monthly_income: declared.monthly_income,
            monthly_payments: declared.monthly_payments,
            credit_history,
            declared: self.core.keys.seal(customer_id, &declared).await?,
        };
        Ok((assessment, elsewhere))
    }

    /// Releases every application started on an account more than
    /// [`UNSUBMITTED_RELEASED_AFTER`] ago and never submitted (its request died between the two
    /// commands): the account records it abandoned, so the person may apply again instead of
    /// hearing "already our customer" for ever. Read from the log, not from a read model: only
    /// the registrations after the job's mark (`housekeeping_marks`), which then moves past every
    /// one old enough to be settled now. Returns how many were released.
    pub async fn release_unsubmitted_applications(&self) -> Result<usize, Error> {
        const JOB: &str = "release_unsubmitted_applications";
        let before = self.core.clock.now() - UNSUBMITTED_RELEASED_AFTER;
        let mark: i64 =
            sqlx::query_scalar("SELECT position FROM housekeeping_marks WHERE job = $1")
                .bind(JOB)
                .fetch_optional(&self.core.db.sqlx)
                .await?
                .unwrap_or(0);
        // Every registration after the mark, in the log's order: when it was made, and whether
        // its application was submitted or closed since.
        let registrations: Vec<(i64, String, String, bool, bool)> = sqlx::query_as(
            "SELECT e.global_position, e.aggregate_id,
                    e.payload -> e.event_type ->> 'application_id',
                    COALESCE(e.payload -> 'CustomerRegistered' ->> 'registered_at',
                             e.payload -> 'ApplicationStarted' ->> 'started_at')::timestamptz < $2,
                    EXISTS (
                        SELECT 1 FROM events s
                         WHERE s.aggregate_type = 'LoanApplication'
                           AND s.aggregate_id = e.payload -> e.event_type ->> 'application_id')
                    OR EXISTS (
                        SELECT 1 FROM events c
                         WHERE c.aggregate_type = 'Account' AND c.aggregate_id = e.aggregate_id
                           AND c.event_type = 'ApplicationClosed'
                           AND c.payload -> 'ApplicationClosed' ->> 'application_id'
                               = e.payload -> e.event_type ->> 'application_id')
               FROM events e
              WHERE e.aggregate_type = 'Account'
                AND e.event_type IN ('CustomerRegistered', 'ApplicationStarted')
                AND e.global_position > $1
              ORDER BY e.global_position",
        )
        .bind(mark)
        .bind(before)
        .fetch_all(&self.core.db.sqlx)
        .await?;
        let meta = CommandMeta::system("scheduler");
        let mut released = 0;
        for (_, customer_id, application_id, old, settled) in &registrations {
            if !old || *settled {
                continue;
            }
            let (Ok(customer_id), Ok(application_id)) =
                (customer_id.parse(), application_id.parse())
            else {
                continue;
            };
            let abandon = AccountCommand::CloseApplication {
                application_id,
                outcome: ApplicationOutcome::Abandoned,
                at: self.core.clock.now(),
            };
            self.core
                .execute(&self.accounts, customer_id, abandon, &meta)
                .await?;
            tracing::info!(customer = %customer_id, application = %application_id, "an application never submitted was released");
            released += 1;
        }
        // Up to the first one too young to judge, all are settled now (a registration still being
        // written is younger than any old enough, so it lies beyond).
        let settled = registrations
            .iter()
            .take_while(|(_, _, _, old, _)| *old)
            .last()
            .map(|(position, ..)| *position);
        if let Some(position) = settled {
            sqlx::query(
                "INSERT INTO housekeeping_marks (job, position) VALUES ($1, $2)
                 ON CONFLICT (job) DO UPDATE SET position = GREATEST(housekeeping_marks.position,
                     EXCLUDED.position), moved_at = now()",
            )
            .bind(JOB)
            .bind(position)
            .execute(&self.core.db.sqlx)
            .await?;
        }
        Ok(released)
    }

    pub async fn reject_application(
        &self,
        application_id: Uuid,
        underwriter_id: Uuid,
        reason: MessageText,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        // The reason speaks about a person: sealed with the applicant's key.
        let application = self
            .core
            .load(&self.application_store, application_id)
            .await?;
        let customer_id = application
            .customer_id()
            .ok_or(LoanApplicationError::NotSubmitted)?;
        let command = LoanApplicationCommand::Reject {
            underwriter_id,
            reason: self.core.keys.seal(customer_id, &reason).await?,
            at: self.core.clock.now(),
        };
        self.core
            .execute(&self.applications, application_id, command, meta)
            .await
    }

    /// What an approval is checked against: the product and the law's editions.
    pub(crate) fn lending_policy(&self) -> LendingPolicy {
        LendingPolicy {
            product: self.core.settings.product.clone(),
            law: self.core.settings.law.clone(),
        }
    }

    /// The applicant's personal data of an application, opened for its underwriter; the read is
    /// recorded (who, whose, why) before anything is shown.
    pub async fn applicant_for_underwriter(
        &self,
        application_id: Uuid,
        underwriter_id: Uuid,
        purpose: &str,
        meta: &CommandMeta,
    ) -> Result<(Applicant, PayoutMethod), Error> {
        // The sealed profile comes from the application's own events.
        let application = self
            .core
            .load(&self.application_store, application_id)
            .await?;
        let (Some(customer_id), Some((applicant, payout))) =
            (application.customer_id(), application.profile())
        else {
            return Err(Error::NotFound);
        };
        self.core
            .record_personal_data_read(underwriter_id, customer_id, purpose, meta)
            .await?;
        Ok((
            self.core.keys.open(applicant).await?,
            self.core.keys.open(payout).await?,
        ))
    }

    /// `POST /api/v1/me/applications`: a new application prefilled from `profile` (the
    /// customer's current profile, [`Profiles::current`](crate::profile::Profiles::current), which the form was checked
    /// against). The changes are recorded on the account (sealed), the full profile travels with
    /// the application as the underwriter will judge it.
    pub async fn apply_again(
        &self,
        customer_id: Uuid,
        profile: (Applicant, PayoutMethod),
        form: RepeatForm,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        self.core
            .settings
            .product
            .check(form.loan.amount, form.loan.term_days)?;
        if let Some(payout) = &form.changes.payout {
            crate::payout::check_card(self.payout.as_ref(), payout).await?;
        }
        let (applicant, payout) = profile;
        if let Some(passport) = &form.changes.passport {
            let hash = self.core.keys.lookup_hash(&passport.identity());
            self.reserve_identities(customer_id, &[("passport", hash)])
                .await
                .map_err(|e| match e {
                    Error::KnownCustomer => Error::PassportOfAnotherCustomer,
                    other => other,
                })?;
        }
        let fields = form.changes.fields();
        let changes = if fields.is_empty() {
            None
        } else {
            Some((
                self.core.keys.seal(customer_id, &form.changes).await?,
                fields,
            ))
        };
        // Consented with the first application; the credit history consent, which lapses, may
        // be given anew: recorded with the text in force (the one the client showed, if it says).
        let consent = match form.credit_history_consent {
            None => None,
            Some(seen) => {
                let text = self.consent_texts().await?.credit_history_check;
                if !seen.is_empty() && text.sha256 != seen {
                    return Err(Error::ConsentTextChanged(
                        Consent::CreditHistoryCheck.as_str(),
                    ));
                }
                Some(text)
            }
        };
        let (applicant, payout) = form.changes.applied_to(applicant, payout);
        let application = ApplicationForm {
            applicant,
            loan: form.loan,
            payout,
            referral_code: None,
            seen_consents: vec![],
            consents: None,
        };
        self.start_and_submit(customer_id, application, changes, true, consent, meta)
            .await
    }
}

/// The key an e-mail is looked up by: addresses differ only in case are the same mailbox to a
/// person typing their login.
pub fn email_key(email: &Email) -> String {
    email.as_str().to_lowercase()
}

/// Process manager `onboarding`: a decided first application opens the cabinet (with a generated
/// password when there is an e-mail to log in with) and tells the applicant by SMS.
///
/// Exactly once: the SMS's outbox id derives from the decision event, and the outbox row commits
/// with this projector's checkpoint. Should the process stop after the account opened but before
/// that commit, the next run finds no SMS, so the account issues a new password (the first one
/// was never sent) and the SMS carries that one.
pub struct OnboardingProcess {
    pub(crate) accounts: Arc<Cqrs<k911_aggregates::account::Account>>,
    pub(crate) keys: KeyStore,
    /// Where the generated password's hash is stored.
    pub(crate) db: sqlx::PgPool,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ids: Arc<dyn IdGenerator>,
}

#[async_trait]
impl Follower for OnboardingProcess {
    fn name(&self) -> &'static str {
        "onboarding"
    }

    fn event_types(&self) -> Vec<&'static str> {
        vec![
            LoanApplicationEventType::ApplicationApproved.into(),
            LoanApplicationEventType::ApplicationRejected.into(),
        ]
    }

    fn kind(&self) -> Kind {
        Kind::ProcessManager
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        let bad = |e: &dyn StepFailure| step_failed(event, e);
        let sms_id = outbox::message_id(event.position(), Channel::Sms);
        if outbox::exists(tx.transaction(), sms_id).await? {
            return Ok(());
        }
        let decision: LoanApplicationEvent = payload(event)?;
        let submitted = tx
            .first_payload(LoanApplication::TYPE, &event.aggregate_id)
            .await?;
        let (customer_id, repeat) = match serde_json::from_value(submitted) {
            Ok(LoanApplicationEvent::ApplicationSubmitted {
                customer_id,
                repeat,
                ..
            }) => (customer_id, repeat),
            _ => return Err(bad(&"application without submission")),
        };
        let (phone, email) = crate::notify::registered_contacts(tx, event, customer_id).await?;
        let application_id: Uuid = event.aggregate_id.parse().map_err(|e| bad(&e))?;
        // An approval whose terms could not become a contract came back for a new decision: the
        // first one already opened the cabinet and freed the customer for the next application.
        let redecided = tx
            .latest_payload_before(
                LoanApplication::TYPE,
                &event.aggregate_id,
                LoanApplicationEventType::ApplicationReturned.into(),
                event.sequence,
            )
            .await?
            .is_some();
        let text = match &decision {
            LoanApplicationEvent::ApplicationApproved {
                amount, term_days, ..
            } => {
                let granted = format!(
                    "k911: заявка одобрена: {amount} на {term_days} дн. Подпишите договор в личном кабинете."
                );
                if repeat || redecided {
                    granted
                } else {
                    let login = self
                        .open_cabinet(customer_id, application_id, email)
                        .await
                        .map_err(|e| bad(&e))?;
                    format!("{granted} {login}")
                }
            }
            LoanApplicationEvent::ApplicationRejected { .. } => {
                "k911: по вашей заявке на заём принято отрицательное решение. Спасибо, что обратились к нам.".to_string()
            }
            LoanApplicationEvent::ApplicationSubmitted { .. }
            | LoanApplicationEvent::ApplicationReturned { .. }
            | LoanApplicationEvent::DebtToIncomeAssessed { .. } => return Ok(()),
        };
        // The first approval's message carries the password (or the login instructions).
        let secret = matches!(decision, LoanApplicationEvent::ApplicationApproved { .. })
            && !(repeat || redecided);
        let outcome = match decision {
            LoanApplicationEvent::ApplicationRejected { .. } => ApplicationOutcome::Rejected,
            _ => ApplicationOutcome::Approved,
        };
        if !redecided {
            self.close_application(customer_id, application_id, outcome)
                .await
                .map_err(|e| bad(&e))?;
        }
        let text = self
            .keys
            .seal(customer_id, &text)
            .await
            .map_err(|e| bad(&e))?;
        let message = Effect::Sms {
            phone,
            text,
            secret,
        };
        outbox::enqueue(tx.transaction(), sms_id, Channel::Sms, &message).await?;
        Ok(())
    }
}

impl OnboardingProcess {
    fn meta() -> std::collections::HashMap<String, String> {
        CommandMeta::system("onboarding").to_map()
    }

    /// Frees the customer to apply again (a no-op for an application that opened the cabinet).
    async fn close_application(
        &self,
        customer_id: Uuid,
        application_id: Uuid,
        outcome: ApplicationOutcome,
    ) -> Result<(), AggregateError<AccountError>> {
        let command = AccountCommand::CloseApplication {
            application_id,
            outcome,
            at: self.clock.now(),
        };
        run_retrying(
            &self.accounts,
            &customer_id.to_string(),
            command,
            Self::meta(),
        )
        .await
    }

    /// Opens the cabinet and says how to log in: with the e-mail and a new password, or by phone
    /// and a code.
    async fn open_cabinet(
        &self,
        customer_id: Uuid,
        application_id: Uuid,
        email: Option<Sealed<Email>>,
    ) -> Result<String, Error> {
        let email = match email {
            Some(sealed) => Some(self.keys.open(&sealed).await?),
            None => None,
        };
        let password = email.as_ref().map(|_| generate_password(self.ids.secret()));
        let credential = match password.clone() {
            Some(password) => {
                let hash = tokio::task::spawn_blocking(move || hash_password(&password))
                    .await
                    .map_err(|e| Error::Storage(e.to_string()))?;
                Some(credentials::store(&self.db, customer_id, &hash).await?)
            }
            None => None,
        };
        let command = AccountCommand::OpenCustomer {
            application_id,
            password: credential,
            at: self.clock.now(),
        };
        match run_retrying(
            &self.accounts,
            &customer_id.to_string(),
            command,
            Self::meta(),
        )
        .await
        {
            Ok(()) => {}
            // Opened by an earlier application: this approval opens nothing new.
            Err(AggregateError::UserError(AccountError::AlreadyOpen)) => {
                return Ok("Вход в личный кабинет — как прежде.".to_string())
            }
            Err(other) => return Err(Error::from_command(other)),
        }
        Ok(match (email, password) {
            (Some(email), Some(password)) => format!(
                "Личный кабинет: логин {}, пароль {password}",
                email.as_str()
            ),
            _ => "Вход в личный кабинет — по номеру телефона и коду из SMS.".to_string(),
        })
    }
}

impl Onboarding {
    /// The customer withdraws their consent to request their credit history: no bureau is asked
    /// for them until they give it again with an application.
    pub async fn withdraw_credit_history_consent(
        &self,
        customer_id: Uuid,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let command = AccountCommand::WithdrawCreditHistoryConsent {
            at: self.core.clock.now(),
        };
        self.core
            .execute(&self.accounts, customer_id, command, meta)
            .await
    }
}
