//! The cabinet's read models: `read.customers` (one row per customer, personal data sealed) and
//! `read.loan_applications` (every application with its decision), for the borrower's own pages,
//! the underwriters' queue and analysts.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use k911_aggregates::account::AccountEventType;
use k911_aggregates::account::{Account, AccountEvent};
use k911_aggregates::loan_application::applicant::{Applicant, PayoutMethod};
use k911_aggregates::loan_application::LoanApplicationEventType;
use k911_aggregates::loan_application::{LoanApplication, LoanApplicationEvent};
use k911_aggregates::values::{Email, MessageText, Phone};
use k911_event_store::log::RecordedEvent;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use k911_event_store::follower::{aggregate_uuid, payload, BatchTx, Follower, FollowerError, Kind};

use crate::json;
use crate::reader::{ReadError, Reader};

k911_event_store::text_enum! {
    /// Where a customer stands.
    #[derive(utoipa::ToSchema)]
    pub enum CustomerState {
        /// Applied; the first application is not approved yet.
        Registered,
        /// The cabinet is open.
        Open,
    }
}

k911_event_store::text_enum! {
    /// How a customer logs in.
    #[derive(utoipa::ToSchema)]
    pub enum LoginKind {
        /// E-mail and password.
        Email,
        /// Phone and a one-time SMS code.
        Phone,
    }
}

k911_event_store::text_enum! {
    /// Where an application stands in `read.loan_applications`.
    #[derive(utoipa::ToSchema)]
    pub enum ApplicationState {
        /// Waiting for an underwriter (again, if one returned it).
        Submitted,
        Approved,
        Rejected,
    }
}

/// `read.customers`.
pub struct Customers;
/// `read.loan_applications`.
pub struct LoanApplications;

pub const CUSTOMERS: &str = "customers";
pub const APPLICATIONS: &str = "loan_applications";

const CREATE_CUSTOMERS: &str = r#"
CREATE TABLE IF NOT EXISTS read.customers (
    customer_id          uuid PRIMARY KEY,
    status               text        NOT NULL,
    login                text        NOT NULL,
    registered_at        timestamptz NOT NULL,
    opened_at            timestamptz,
    first_application_id uuid        NOT NULL,
    applications         integer     NOT NULL DEFAULT 0,
    phone                jsonb       NOT NULL,
    email                jsonb,
    profile              jsonb,
    payout               jsonb,
    last_position        bigint      NOT NULL
);
COMMENT ON TABLE read.customers IS 'Borrowers: one row per customer, from the first application on.';
COMMENT ON COLUMN read.customers.customer_id IS 'The Account aggregate''s id: one per borrower.';
COMMENT ON COLUMN read.customers.registered_at IS 'When the first application registered the customer.';
COMMENT ON COLUMN read.customers.opened_at IS 'When the cabinet opened (the first approval); null until then.';
COMMENT ON COLUMN read.customers.first_application_id IS 'The application that registered the customer.';
COMMENT ON COLUMN read.customers.last_position IS 'The log position of the last event applied to the row.';
COMMENT ON COLUMN read.customers.status IS 'registered (first application not approved) | open';
COMMENT ON COLUMN read.customers.login IS 'email (password login) | phone (SMS codes)';
COMMENT ON COLUMN read.customers.applications IS 'Applications submitted, first included.';
COMMENT ON COLUMN read.customers.phone IS 'Sealed with the customer''s key (personal data).';
COMMENT ON COLUMN read.customers.email IS 'Sealed like phone; null for phone-only customers.';
COMMENT ON COLUMN read.customers.profile IS
    'The applicant form as of the latest application, sealed like phone.';
COMMENT ON COLUMN read.customers.payout IS 'The latest payout method (card token or wallet), sealed.';
CREATE TABLE IF NOT EXISTS read.customer_social_links (
    customer_id uuid        NOT NULL,
    provider    text        NOT NULL,
    linked_at   timestamptz NOT NULL,
    PRIMARY KEY (customer_id, provider)
);
COMMENT ON TABLE read.customer_social_links IS
    'OpenID Connect accounts linked to customers (the subject stays in the sealed event).';
COMMENT ON COLUMN read.customer_social_links.customer_id IS 'The borrower (read.customers).';
COMMENT ON COLUMN read.customer_social_links.provider IS 'The social login provider''s configured name (vk, facebook, or an OpenID Connect provider).';
COMMENT ON COLUMN read.customer_social_links.linked_at IS 'When the account was linked.';
"#;

const CREATE_APPLICATIONS: &str = r#"
CREATE TABLE IF NOT EXISTS read.loan_applications (
    application_id           uuid PRIMARY KEY,
    arrival                  bigint      NOT NULL,
    customer_id              uuid        NOT NULL,
    repeat                   boolean     NOT NULL,
    status                   text        NOT NULL,
    requested_amount_kopecks bigint      NOT NULL,
    requested_term_days      integer     NOT NULL,
    approved_amount_kopecks  bigint,
    approved_term_days       integer,
    daily_rate               numeric,
    referral_code            text,
    submitted_at             timestamptz NOT NULL,
    decided_at               timestamptz,
    decided_by               uuid,
    rejection_reason         jsonb,
    pdn_percent              numeric,
    returned_reason          text,
    last_position            bigint      NOT NULL
);
ALTER TABLE read.loan_applications ADD COLUMN IF NOT EXISTS returned_reason text;
-- Reasons were once kept in clear; they are sealed now, and the clear ones are not read any more.
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
                WHERE table_schema = 'read' AND table_name = 'loan_applications'
                  AND column_name = 'rejection_reason' AND data_type = 'text') THEN
        ALTER TABLE read.loan_applications DROP COLUMN rejection_reason;
        ALTER TABLE read.loan_applications ADD COLUMN rejection_reason jsonb;
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS loan_applications_status ON read.loan_applications (status, arrival);
CREATE INDEX IF NOT EXISTS loan_applications_customer
    ON read.loan_applications (customer_id, arrival);
COMMENT ON TABLE read.loan_applications IS 'Loan applications, first and repeat, with decisions.';
COMMENT ON COLUMN read.loan_applications.application_id IS 'The LoanApplication aggregate''s id.';
COMMENT ON COLUMN read.loan_applications.customer_id IS 'The applicant (read.customers).';
COMMENT ON COLUMN read.loan_applications.repeat IS 'Whether the customer had applied before (a repeat application, prefilled).';
COMMENT ON COLUMN read.loan_applications.requested_amount_kopecks IS 'The amount asked for, in kopecks.';
COMMENT ON COLUMN read.loan_applications.requested_term_days IS 'The term asked for, in days.';
COMMENT ON COLUMN read.loan_applications.approved_amount_kopecks IS 'The amount the underwriter approved, in kopecks (null unless approved).';
COMMENT ON COLUMN read.loan_applications.approved_term_days IS 'The term the underwriter approved, in days (null unless approved).';
COMMENT ON COLUMN read.loan_applications.referral_code IS 'The agent''s code the application carried (kept only when it was live).';
COMMENT ON COLUMN read.loan_applications.submitted_at IS 'When the application was submitted.';
COMMENT ON COLUMN read.loan_applications.decided_at IS 'When it was approved or rejected (null while waiting).';
COMMENT ON COLUMN read.loan_applications.last_position IS 'The log position of the last event applied to the row.';
COMMENT ON COLUMN read.loan_applications.arrival IS
    'Global log position of the submission: the underwriters'' queue is served in this order.';
COMMENT ON COLUMN read.loan_applications.status IS 'submitted | approved | rejected';
COMMENT ON COLUMN read.loan_applications.daily_rate IS 'Approved rate, percent per day.';
COMMENT ON COLUMN read.loan_applications.decided_by IS 'The underwriter''s account id.';
COMMENT ON COLUMN read.loan_applications.returned_reason IS
    'Why an approval came back to the queue (its terms could not become a lawful contract).';
COMMENT ON COLUMN read.loan_applications.rejection_reason IS
    'Why it was rejected, sealed with the customer''s key (personal data, not readable in SQL).';
COMMENT ON COLUMN read.loan_applications.pdn_percent IS
    'Debt-to-income ratio with the approved loan (353-FZ art. 5.1), %; null without income.';
"#;

#[async_trait]
impl Follower for Customers {
    fn name(&self) -> &'static str {
        CUSTOMERS
    }

    fn event_types(&self) -> Vec<&'static str> {
        vec![
            AccountEventType::CustomerRegistered.into(),
            AccountEventType::CustomerAccountOpened.into(),
            LoanApplicationEventType::ApplicationSubmitted.into(),
            AccountEventType::SocialAccountLinked.into(),
            AccountEventType::SocialAccountUnlinked.into(),
        ]
    }

    fn kind(&self) -> Kind {
        Kind::ReadModel {
            create_sql: CREATE_CUSTOMERS,
            tables: &["read.customers", "read.customer_social_links"],
            views: &[],
        }
    }

    /// The customers' rows change through [`CustomerChanges`], written at the batch's end; social
    /// links are a statement each, in log order.
    async fn apply_all(
        &self,
        tx: &BatchTx<'_>,
        events: &[RecordedEvent],
    ) -> Result<(), FollowerError> {
        let mut changes = CustomerChanges::default();
        for event in events {
            let position = event.position();
            if event.of::<Account>() {
                let customer_id = aggregate_uuid(event)?;
                match payload(event)? {
                    AccountEvent::CustomerRegistered {
                        application_id,
                        phone,
                        email,
                        registered_at,
                    } => {
                        changes.of(customer_id, position).registered = Some(Registration {
                            login: if email.is_some() {
                                LoginKind::Email
                            } else {
                                LoginKind::Phone
                            },
                            registered_at,
                            application_id,
                            phone: json(&phone),
                            email: email.as_ref().map(json),
                        });
                    }
                    AccountEvent::CustomerAccountOpened { opened_at, .. } => {
                        changes.of(customer_id, position).opened_at = Some(opened_at);
                    }
                    AccountEvent::SocialAccountLinked {
                        provider,
                        linked_at,
                        ..
                    } => {
                        tx.execute(
                            "INSERT INTO read.customer_social_links (customer_id, provider, linked_at)
                             VALUES ($1, $2, $3)",
                            &[&customer_id, &provider, &linked_at],
                        )
                        .await?;
                    }
                    AccountEvent::SocialAccountUnlinked { provider, .. } => {
                        tx.execute(
                            "DELETE FROM read.customer_social_links
                              WHERE customer_id = $1 AND provider = $2",
                            &[&customer_id, &provider],
                        )
                        .await?;
                    }
                    _ => {}
                }
            } else if event.of::<LoanApplication>() {
                if let LoanApplicationEvent::ApplicationSubmitted {
                    customer_id,
                    applicant,
                    payout,
                    ..
                } = payload(event)?
                {
                    let change = changes.of(customer_id, position);
                    change.profile = Some((json(&applicant), json(&payout)));
                    change.applications += 1;
                }
            }
        }
        changes.write(tx).await
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        self.apply_all(tx, std::slice::from_ref(event)).await
    }
}

/// A batch's changes to `read.customers`, folded per customer in log order (a later event's
/// value wins) and written at the batch's end: one INSERT of the customers it registers, one
/// UPDATE of the others. No statement of the batch reads the table, and a customer registered,
/// applying and opened in one batch (a rebuild, a catch-up) is written once, not three times.
#[derive(Default)]
struct CustomerChanges(HashMap<Uuid, CustomerChange>);

#[derive(Default)]
struct CustomerChange {
    /// Set when the batch registers the customer: their row is new.
    registered: Option<Registration>,
    opened_at: Option<DateTime<Utc>>,
    /// The latest application's form and payout method (sealed).
    profile: Option<(serde_json::Value, serde_json::Value)>,
    /// Applications submitted in the batch.
    applications: i32,
    /// The last event's position.
    at: i64,
}

struct Registration {
    login: LoginKind,
    registered_at: DateTime<Utc>,
    application_id: Uuid,
    phone: serde_json::Value,
    email: Option<serde_json::Value>,
}

impl CustomerChanges {
    fn of(&mut self, customer_id: Uuid, at: i64) -> &mut CustomerChange {
        let change = self.0.entry(customer_id).or_default();
        change.at = at;
        change
    }

    async fn write(self, tx: &BatchTx<'_>) -> Result<(), FollowerError> {
        let mut new = NewCustomers::default();
        let mut ids = Vec::new();
        let (mut opened_at, mut status, mut profile, mut payout) = (vec![], vec![], vec![], vec![]);
        let (mut applications, mut at) = (vec![], vec![]);
        for (customer_id, mut change) in self.0 {
            if let Some(registration) = change.registered.take() {
                new.push(customer_id, registration, change);
                continue;
            }
            ids.push(customer_id);
            status.push(change.opened_at.map(|_| CustomerState::Open.as_str()));
            opened_at.push(change.opened_at);
            let (form, method) = change.profile.unzip();
            profile.push(form);
            payout.push(method);
            applications.push(change.applications);
            at.push(change.at);
        }
        if !new.ids.is_empty() {
            new.insert(tx).await?;
        }
        if ids.is_empty() {
            return Ok(());
        }
        tx.execute(
            "UPDATE read.customers c
                SET status = COALESCE(d.status, c.status),
                    opened_at = COALESCE(d.opened_at, c.opened_at),
                    profile = COALESCE(d.profile, c.profile),
                    payout = COALESCE(d.payout, c.payout),
                    applications = c.applications + d.applications,
                    last_position = GREATEST(c.last_position, d.at)
               FROM UNNEST($1::uuid[], $2::text[], $3::timestamptz[], $4::jsonb[], $5::jsonb[],
                           $6::int[], $7::bigint[])
                    AS d (customer_id, status, opened_at, profile, payout, applications, at)
              WHERE c.customer_id = d.customer_id",
            &[
                &ids,
                &status,
                &opened_at,
                &profile,
                &payout,
                &applications,
                &at,
            ],
        )
        .await?;
        Ok(())
    }
}

/// The columns of the customers a batch registers, for one INSERT.
#[derive(Default)]
struct NewCustomers {
    ids: Vec<Uuid>,
    status: Vec<&'static str>,
    login: Vec<&'static str>,
    registered_at: Vec<DateTime<Utc>>,
    first_application: Vec<Uuid>,
    phone: Vec<serde_json::Value>,
    email: Vec<Option<serde_json::Value>>,
    opened_at: Vec<Option<DateTime<Utc>>>,
    applications: Vec<i32>,
    profile: Vec<Option<serde_json::Value>>,
    payout: Vec<Option<serde_json::Value>>,
    at: Vec<i64>,
}

impl NewCustomers {
    fn push(&mut self, customer_id: Uuid, registration: Registration, change: CustomerChange) {
        let status = match change.opened_at {
            Some(_) => CustomerState::Open,
            None => CustomerState::Registered,
        };
        let (form, method) = change.profile.unzip();
        self.ids.push(customer_id);
        self.status.push(status.as_str());
        self.login.push(registration.login.as_str());
        self.registered_at.push(registration.registered_at);
        self.first_application.push(registration.application_id);
        self.phone.push(registration.phone);
        self.email.push(registration.email);
        self.opened_at.push(change.opened_at);
        self.applications.push(change.applications);
        self.profile.push(form);
        self.payout.push(method);
        self.at.push(change.at);
    }

    async fn insert(self, tx: &BatchTx<'_>) -> Result<(), FollowerError> {
        tx.execute(
            "INSERT INTO read.customers (customer_id, status, login, registered_at,
                 first_application_id, phone, email, opened_at, applications, profile, payout,
                 last_position)
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[],
                                  $5::uuid[], $6::jsonb[], $7::jsonb[], $8::timestamptz[],
                                  $9::int[], $10::jsonb[], $11::jsonb[], $12::bigint[])",
            &[
                &self.ids,
                &self.status,
                &self.login,
                &self.registered_at,
                &self.first_application,
                &self.phone,
                &self.email,
                &self.opened_at,
                &self.applications,
                &self.profile,
                &self.payout,
                &self.at,
            ],
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl Follower for LoanApplications {
    fn name(&self) -> &'static str {
        APPLICATIONS
    }

    fn event_types(&self) -> Vec<&'static str> {
        vec![
            LoanApplicationEventType::ApplicationSubmitted.into(),
            LoanApplicationEventType::ApplicationApproved.into(),
            LoanApplicationEventType::ApplicationRejected.into(),
            LoanApplicationEventType::ApplicationReturned.into(),
            LoanApplicationEventType::DebtToIncomeAssessed.into(),
        ]
    }

    fn kind(&self) -> Kind {
        Kind::ReadModel {
            create_sql: CREATE_APPLICATIONS,
            tables: &["read.loan_applications"],
            views: &[],
        }
    }

    /// The applications' rows change through [`ApplicationChanges`], written at the batch's end.
    async fn apply_all(
        &self,
        tx: &BatchTx<'_>,
        events: &[RecordedEvent],
    ) -> Result<(), FollowerError> {
        let mut changes = ApplicationChanges::default();
        for event in events.iter().filter(|event| event.of::<LoanApplication>()) {
            let change = changes.of(aggregate_uuid(event)?, event.position());
            match payload(event)? {
                LoanApplicationEvent::ApplicationSubmitted {
                    customer_id,
                    loan,
                    referral_code,
                    repeat,
                    submitted_at,
                    ..
                } => {
                    change.submitted = Some(Submission {
                        arrival: event.position(),
                        customer_id,
                        repeat,
                        amount: loan.amount.get(),
                        term_days: i32::from(loan.term_days),
                        referral_code,
                        submitted_at,
                    });
                    change.status = Some(ApplicationState::Submitted);
                }
                LoanApplicationEvent::ApplicationApproved {
                    underwriter_id,
                    amount,
                    term_days,
                    daily_rate,
                    approved_at,
                } => {
                    change.status = Some(ApplicationState::Approved);
                    change.approved =
                        Some((amount.get(), i32::from(term_days), daily_rate.to_string()));
                    change.decided = Some((approved_at, underwriter_id));
                }
                LoanApplicationEvent::DebtToIncomeAssessed { pdn_percent, .. } => {
                    change.pdn_percent = Some(pdn_percent.map(|p| p.to_string()));
                }
                LoanApplicationEvent::ApplicationRejected {
                    underwriter_id,
                    reason,
                    rejected_at,
                } => {
                    change.status = Some(ApplicationState::Rejected);
                    change.rejection_reason = Some(reason.as_ref().map(json));
                    change.decided = Some((rejected_at, underwriter_id));
                }
                LoanApplicationEvent::ApplicationReturned { reason, .. } => {
                    // Back in the queue at its original place: it waited its turn once already.
                    change.status = Some(ApplicationState::Submitted);
                    change.returned_reason = Some(reason);
                }
            }
        }
        changes.write(tx).await
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        self.apply_all(tx, std::slice::from_ref(event)).await
    }
}

/// A batch's changes to `read.loan_applications`, folded per application in log order (a later
/// event's value wins) and written at the batch's end: one INSERT of the applications submitted
/// in it, one UPDATE of the others (as [`CustomerChanges`]).
#[derive(Default)]
struct ApplicationChanges(HashMap<Uuid, ApplicationChange>);

#[derive(Default)]
struct ApplicationChange {
    /// Set when the batch submits the application: its row is new.
    submitted: Option<Submission>,
    status: Option<ApplicationState>,
    /// Amount, term and daily rate approved.
    approved: Option<(i64, i32, String)>,
    /// When and by whom it was approved or rejected.
    decided: Option<(DateTime<Utc>, Uuid)>,
    /// `Some` when the batch sets it (to a sealed reason, or to none).
    rejection_reason: Option<Option<serde_json::Value>>,
    /// `Some` when the batch sets it (to a ratio, or to none without income).
    pdn_percent: Option<Option<String>>,
    returned_reason: Option<String>,
    /// The last event's position.
    at: i64,
}

struct Submission {
    arrival: i64,
    customer_id: Uuid,
    repeat: bool,
    amount: i64,
    term_days: i32,
    referral_code: Option<String>,
    submitted_at: DateTime<Utc>,
}

/// The columns both statements of [`ApplicationChanges`] write.
#[derive(Default)]
struct ApplicationColumns {
    ids: Vec<Uuid>,
    status: Vec<Option<&'static str>>,
    approved_amount: Vec<Option<i64>>,
    approved_term: Vec<Option<i32>>,
    daily_rate: Vec<Option<String>>,
    decided_at: Vec<Option<DateTime<Utc>>>,
    decided_by: Vec<Option<Uuid>>,
    reason_set: Vec<bool>,
    rejection_reason: Vec<Option<serde_json::Value>>,
    pdn_set: Vec<bool>,
    pdn_percent: Vec<Option<String>>,
    returned_reason: Vec<Option<String>>,
    at: Vec<i64>,
}

impl ApplicationColumns {
    fn push(&mut self, application_id: Uuid, change: ApplicationChange) {
        let (amount, term, rate) = match change.approved {
            Some((amount, term, rate)) => (Some(amount), Some(term), Some(rate)),
            None => (None, None, None),
        };
        let (decided_at, decided_by) = change.decided.unzip();
        self.ids.push(application_id);
        self.status
            .push(change.status.map(ApplicationState::as_str));
        self.approved_amount.push(amount);
        self.approved_term.push(term);
        self.daily_rate.push(rate);
        self.decided_at.push(decided_at);
        self.decided_by.push(decided_by);
        self.reason_set.push(change.rejection_reason.is_some());
        self.rejection_reason
            .push(change.rejection_reason.flatten());
        self.pdn_set.push(change.pdn_percent.is_some());
        self.pdn_percent.push(change.pdn_percent.flatten());
        self.returned_reason.push(change.returned_reason);
        self.at.push(change.at);
    }
}

impl ApplicationChanges {
    fn of(&mut self, application_id: Uuid, at: i64) -> &mut ApplicationChange {
        let change = self.0.entry(application_id).or_default();
        change.at = at;
        change
    }

    async fn write(self, tx: &BatchTx<'_>) -> Result<(), FollowerError> {
        let (mut new, mut changed) = (ApplicationColumns::default(), ApplicationColumns::default());
        let mut submissions = Vec::new();
        for (application_id, mut change) in self.0 {
            match change.submitted.take() {
                Some(submission) => {
                    submissions.push(submission);
                    new.push(application_id, change);
                }
                None => changed.push(application_id, change),
            }
        }
        if !submissions.is_empty() {
            let arrival: Vec<i64> = submissions.iter().map(|s| s.arrival).collect();
            let customer_id: Vec<Uuid> = submissions.iter().map(|s| s.customer_id).collect();
            let repeat: Vec<bool> = submissions.iter().map(|s| s.repeat).collect();
            let amount: Vec<i64> = submissions.iter().map(|s| s.amount).collect();
            let term_days: Vec<i32> = submissions.iter().map(|s| s.term_days).collect();
            let referral_code: Vec<Option<&str>> = submissions
                .iter()
                .map(|s| s.referral_code.as_deref())
                .collect();
            let submitted_at: Vec<DateTime<Utc>> =
                submissions.iter().map(|s| s.submitted_at).collect();
            tx.execute(
                "INSERT INTO read.loan_applications (application_id, arrival, customer_id,
                     repeat, status, requested_amount_kopecks, requested_term_days,
                     referral_code, submitted_at, approved_amount_kopecks, approved_term_days,
                     daily_rate, decided_at, decided_by, rejection_reason, pdn_percent,
                     returned_reason, last_position)
                 SELECT id, arrival, customer_id, repeat, status, amount, term, referral_code,
                        submitted_at, approved_amount, approved_term, rate::numeric, decided_at,
                        decided_by, reason, pdn::numeric, returned_reason, at
                   FROM UNNEST($1::uuid[], $2::bigint[], $3::uuid[], $4::boolean[], $5::text[],
                               $6::bigint[], $7::int[], $8::text[], $9::timestamptz[],
                               $10::bigint[], $11::int[], $12::text[], $13::timestamptz[],
                               $14::uuid[], $15::jsonb[], $16::text[], $17::text[],
                               $18::bigint[])
                        AS d (id, arrival, customer_id, repeat, status, amount, term,
                              referral_code, submitted_at, approved_amount, approved_term, rate,
                              decided_at, decided_by, reason, pdn, returned_reason, at)",
                &[
                    &new.ids,
                    &arrival,
                    &customer_id,
                    &repeat,
                    &new.status,
                    &amount,
                    &term_days,
                    &referral_code,
                    &submitted_at,
                    &new.approved_amount,
                    &new.approved_term,
                    &new.daily_rate,
                    &new.decided_at,
                    &new.decided_by,
                    &new.rejection_reason,
                    &new.pdn_percent,
                    &new.returned_reason,
                    &new.at,
                ],
            )
            .await?;
        }
        if changed.ids.is_empty() {
            return Ok(());
        }
        tx.execute(
            "UPDATE read.loan_applications a
                SET status = COALESCE(d.status, a.status),
                    approved_amount_kopecks = COALESCE(d.approved_amount,
                                                       a.approved_amount_kopecks),
                    approved_term_days = COALESCE(d.approved_term, a.approved_term_days),
                    daily_rate = COALESCE(d.rate::numeric, a.daily_rate),
                    decided_at = COALESCE(d.decided_at, a.decided_at),
                    decided_by = COALESCE(d.decided_by, a.decided_by),
                    rejection_reason = CASE WHEN d.reason_set THEN d.reason
                                            ELSE a.rejection_reason END,
                    pdn_percent = CASE WHEN d.pdn_set THEN d.pdn::numeric
                                       ELSE a.pdn_percent END,
                    returned_reason = COALESCE(d.returned_reason, a.returned_reason),
                    last_position = GREATEST(a.last_position, d.at)
               FROM UNNEST($1::uuid[], $2::text[], $3::bigint[], $4::int[], $5::text[],
                           $6::timestamptz[], $7::uuid[], $8::boolean[], $9::jsonb[],
                           $10::boolean[], $11::text[], $12::text[], $13::bigint[])
                    AS d (application_id, status, approved_amount, approved_term, rate,
                          decided_at, decided_by, reason_set, reason, pdn_set, pdn,
                          returned_reason, at)
              WHERE a.application_id = d.application_id",
            &[
                &changed.ids,
                &changed.status,
                &changed.approved_amount,
                &changed.approved_term,
                &changed.daily_rate,
                &changed.decided_at,
                &changed.decided_by,
                &changed.reason_set,
                &changed.rejection_reason,
                &changed.pdn_set,
                &changed.pdn_percent,
                &changed.returned_reason,
                &changed.at,
            ],
        )
        .await?;
        Ok(())
    }
}

/// A customer as `read.customers` holds them (personal data still sealed).
#[derive(Debug, Clone)]
pub struct CustomerRow {
    pub customer_id: Uuid,
    pub status: CustomerState,
    pub login: LoginKind,
    pub registered_at: DateTime<Utc>,
    pub opened_at: Option<DateTime<Utc>>,
    pub applications: i32,
    pub phone: serde_json::Value,
    pub email: Option<serde_json::Value>,
    pub profile: Option<serde_json::Value>,
    pub payout: Option<serde_json::Value>,
    /// Linked OpenID Connect providers and when, in the order linked.
    pub social_links: Vec<(String, DateTime<Utc>)>,
}

pub async fn customer(
    client: &impl GenericClient,
    customer_id: Uuid,
) -> Result<Option<CustomerRow>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT * FROM read.customers WHERE customer_id = $1",
            &[&customer_id],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let social_links = client
        .query(
            "SELECT provider, linked_at FROM read.customer_social_links
              WHERE customer_id = $1 ORDER BY linked_at, provider",
            &[&customer_id],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    Ok(Some(CustomerRow {
        customer_id: row.get("customer_id"),
        status: row.get("status"),
        login: row.get("login"),
        registered_at: row.get("registered_at"),
        opened_at: row.get("opened_at"),
        applications: row.get("applications"),
        phone: row.get("phone"),
        email: row.get("email"),
        profile: row.get("profile"),
        payout: row.get("payout"),
        social_links,
    }))
}

/// An application as `read.loan_applications` holds it.
#[derive(Debug, Clone)]
pub struct ApplicationRow {
    pub application_id: Uuid,
    pub customer_id: Uuid,
    pub repeat: bool,
    pub status: ApplicationState,
    pub requested_amount_kopecks: i64,
    pub requested_term_days: i32,
    pub approved_amount_kopecks: Option<i64>,
    pub approved_term_days: Option<i32>,
    /// Percent per day, as written (`"0.8"`).
    pub daily_rate: Option<String>,
    pub submitted_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    /// Sealed (`Sealed<MessageText>` as JSON).
    pub rejection_reason: Option<serde_json::Value>,
}

impl ApplicationRow {
    fn from_row(row: &Row) -> Self {
        Self {
            application_id: row.get("application_id"),
            customer_id: row.get("customer_id"),
            repeat: row.get("repeat"),
            status: row.get("status"),
            requested_amount_kopecks: row.get("requested_amount_kopecks"),
            requested_term_days: row.get("requested_term_days"),
            approved_amount_kopecks: row.get("approved_amount_kopecks"),
            approved_term_days: row.get("approved_term_days"),
            daily_rate: row.get("daily_rate"),
            submitted_at: row.get("submitted_at"),
            decided_at: row.get("decided_at"),
            rejection_reason: row.get("rejection_reason"),
        }
    }
}

const SELECT_APPLICATION: &str = "SELECT application_id, customer_id, repeat, status,
        requested_amount_kopecks, requested_term_days, approved_amount_kopecks,
        approved_term_days, daily_rate::text AS daily_rate, submitted_at, decided_at,
        rejection_reason
   FROM read.loan_applications";

pub async fn application(
    client: &impl GenericClient,
    application_id: Uuid,
) -> Result<Option<ApplicationRow>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            &format!("{SELECT_APPLICATION} WHERE application_id = $1"),
            &[&application_id],
        )
        .await?;
    Ok(row.as_ref().map(ApplicationRow::from_row))
}

/// One customer's applications, oldest first.
pub async fn customer_applications(
    client: &impl GenericClient,
    customer_id: Uuid,
    limit: i64,
    offset: i64,
) -> Result<Vec<ApplicationRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!(
                "{SELECT_APPLICATION} WHERE customer_id = $1 ORDER BY arrival LIMIT $2 OFFSET $3"
            ),
            &[&customer_id, &limit, &offset],
        )
        .await?;
    Ok(rows.iter().map(ApplicationRow::from_row).collect())
}

/// Applications in `status`, oldest first (the underwriters' queue).
pub async fn applications_with_status(
    client: &impl GenericClient,
    status: ApplicationState,
    limit: i64,
    offset: i64,
) -> Result<Vec<ApplicationRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!("{SELECT_APPLICATION} WHERE status = $1 ORDER BY arrival LIMIT $2 OFFSET $3"),
            &[&status, &limit, &offset],
        )
        .await?;
    Ok(rows.iter().map(ApplicationRow::from_row).collect())
}

/// What the cabinet shows a customer about themselves, personal data opened.
#[derive(Debug, Clone)]
pub struct CustomerView {
    pub customer_id: Uuid,
    pub status: CustomerState,
    pub login: LoginKind,
    pub registered_at: DateTime<Utc>,
    pub opened_at: Option<DateTime<Utc>>,
    pub phone: Phone,
    pub email: Option<Email>,
    pub profile: Option<Applicant>,
    pub payout: Option<PayoutMethod>,
    /// Linked OpenID Connect providers and when.
    pub social_links: Vec<(String, DateTime<Utc>)>,
}

/// An application as staff see it: the rejection's reason opened (`None` if there is none, or
/// the customer's data was erased).
#[derive(Debug, Clone)]
pub struct StaffApplication {
    pub row: ApplicationRow,
    pub rejection_reason: Option<MessageText>,
}

impl Reader {
    /// `GET /api/v1/me`: the customer's own data. Erased data is not found.
    pub async fn customer_view(&self, customer_id: Uuid) -> Result<CustomerView, ReadError> {
        let row = customer(&**self.client().await?, customer_id)
            .await?
            .ok_or(ReadError::NotFound)?;
        let profile = match &row.profile {
            Some(stored) => self.open::<Applicant>(stored).await?,
            None => None,
        };
        let payout = match &row.payout {
            Some(stored) => self.open::<PayoutMethod>(stored).await?,
            None => None,
        };
        let email = match &row.email {
            Some(stored) => self.open::<Email>(stored).await?,
            None => None,
        };
        Ok(CustomerView {
            customer_id,
            phone: self.open(&row.phone).await?.ok_or(ReadError::NotFound)?,
            status: row.status,
            login: row.login,
            registered_at: row.registered_at,
            opened_at: row.opened_at,
            email,
            profile,
            payout,
            social_links: row.social_links,
        })
    }

    /// `GET /api/v1/me/applications`: the customer's applications, oldest first.
    pub async fn customer_applications(
        &self,
        customer_id: Uuid,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<ApplicationRow>, ReadError> {
        let client = self.client().await?;
        Ok(customer_applications(&**client, customer_id, limit, offset).await?)
    }

    /// One of the customer's own applications; another customer's is not found, as if it did
    /// not exist.
    pub async fn customer_application(
        &self,
        customer_id: Uuid,
        application_id: Uuid,
    ) -> Result<ApplicationRow, ReadError> {
        application(&**self.client().await?, application_id)
            .await?
            .filter(|row| row.customer_id == customer_id)
            .ok_or(ReadError::NotFound)
    }

    /// `GET /api/v1/staff/applications?status=`: the underwriters' queue, oldest first, with
    /// the reasons of rejections opened.
    pub async fn applications_with_status(
        &self,
        status: ApplicationState,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<StaffApplication>, ReadError> {
        let client = self.client().await?;
        let rows = applications_with_status(&**client, status, limit, offset).await?;
        drop(client);
        let mut applications = Vec::with_capacity(rows.len());
        for row in rows {
            applications.push(self.for_staff(row).await?);
        }
        Ok(applications)
    }

    /// One application as staff see it.
    pub async fn staff_application(
        &self,
        application_id: Uuid,
    ) -> Result<StaffApplication, ReadError> {
        let row = application(&**self.client().await?, application_id)
            .await?
            .ok_or(ReadError::NotFound)?;
        self.for_staff(row).await
    }

    async fn for_staff(&self, row: ApplicationRow) -> Result<StaffApplication, ReadError> {
        let rejection_reason = match &row.rejection_reason {
            Some(stored) => self.open(stored).await?,
            None => None,
        };
        Ok(StaffApplication {
            row,
            rejection_reason,
        })
    }
}
