//! The cabinet's read models: `read.customers` (one row per customer, personal data sealed) and
//! `read.loan_applications` (every application with its decision), for the borrower's own pages,
//! the underwriters' queue and analysts.

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
            drop_sql: "DROP TABLE IF EXISTS read.customers, read.customer_social_links",
        }
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        let position = event.position();
        if event.of::<Account>() {
            {
                let customer_id = aggregate_uuid(event)?;
                match payload(event)? {
                    AccountEvent::CustomerRegistered {
                        application_id,
                        phone,
                        email,
                        registered_at,
                    } => {
                        let login = if email.is_some() {
                            LoginKind::Email
                        } else {
                            LoginKind::Phone
                        };
                        tx.execute(
                            "INSERT INTO read.customers (customer_id, status, login, registered_at,
                                 first_application_id, phone, email, last_position)
                             VALUES ($1, $8, $2, $3, $4, $5, $6, $7)",
                            &[
                                &customer_id,
                                &login,
                                &registered_at,
                                &application_id,
                                &json(&phone),
                                &email.as_ref().map(json),
                                &position,
                                &CustomerState::Registered,
                            ],
                        )
                        .await?;
                    }
                    AccountEvent::CustomerAccountOpened { opened_at, .. } => {
                        tx.execute(
                            "UPDATE read.customers
                                SET status = $4, opened_at = $2, last_position = $3
                              WHERE customer_id = $1",
                            &[&customer_id, &opened_at, &position, &CustomerState::Open],
                        )
                        .await?;
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
            }
        } else if event.of::<LoanApplication>() {
            {
                if let LoanApplicationEvent::ApplicationSubmitted {
                    customer_id,
                    applicant,
                    payout,
                    ..
                } = payload(event)?
                {
                    tx.execute(
                        "UPDATE read.customers
                            SET profile = $2, payout = $3, applications = applications + 1,
                                last_position = $4
                          WHERE customer_id = $1",
                        &[&customer_id, &json(&applicant), &json(&payout), &position],
                    )
                    .await?;
                }
            }
        }
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
            drop_sql: "DROP TABLE IF EXISTS read.loan_applications",
        }
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        if !event.of::<LoanApplication>() {
            return Ok(());
        }
        let application_id = aggregate_uuid(event)?;
        let position = event.position();
        match payload(event)? {
            LoanApplicationEvent::ApplicationSubmitted {
                customer_id,
                loan,
                referral_code,
                repeat,
                submitted_at,
                ..
            } => {
                tx.execute(
                    "INSERT INTO read.loan_applications (application_id, arrival, customer_id,
                         repeat, status, requested_amount_kopecks, requested_term_days,
                         referral_code, submitted_at, last_position)
                     VALUES ($1, $2, $3, $4, $9, $5, $6, $7, $8, $2)",
                    &[
                        &application_id,
                        &position,
                        &customer_id,
                        &repeat,
                        &loan.amount.get(),
                        &i32::from(loan.term_days),
                        &referral_code,
                        &submitted_at,
                        &ApplicationState::Submitted,
                    ],
                )
                .await?;
            }
            LoanApplicationEvent::ApplicationApproved {
                underwriter_id,
                amount,
                term_days,
                daily_rate,
                approved_at,
            } => {
                tx.execute(
                    "UPDATE read.loan_applications
                        SET status = $8, approved_amount_kopecks = $2,
                            approved_term_days = $3, daily_rate = $4::text::numeric,
                            decided_at = $5, decided_by = $6, last_position = $7
                      WHERE application_id = $1",
                    &[
                        &application_id,
                        &amount.get(),
                        &i32::from(term_days),
                        &daily_rate.to_string(),
                        &approved_at,
                        &underwriter_id,
                        &position,
                        &ApplicationState::Approved,
                    ],
                )
                .await?;
            }
            LoanApplicationEvent::DebtToIncomeAssessed { pdn_percent, .. } => {
                tx.execute(
                    "UPDATE read.loan_applications
                        SET pdn_percent = $2::text::numeric, last_position = $3
                      WHERE application_id = $1",
                    &[
                        &application_id,
                        &pdn_percent.map(|p| p.to_string()),
                        &position,
                    ],
                )
                .await?;
            }
            LoanApplicationEvent::ApplicationRejected {
                underwriter_id,
                reason,
                rejected_at,
            } => {
                tx.execute(
                    "UPDATE read.loan_applications
                        SET status = $6, rejection_reason = $2, decided_at = $3,
                            decided_by = $4, last_position = $5
                      WHERE application_id = $1",
                    &[
                        &application_id,
                        &reason.as_ref().map(json),
                        &rejected_at,
                        &underwriter_id,
                        &position,
                        &ApplicationState::Rejected,
                    ],
                )
                .await?;
            }
            LoanApplicationEvent::ApplicationReturned { reason, .. } => {
                // Back in the queue at its original place: it waited its turn once already.
                tx.execute(
                    "UPDATE read.loan_applications
                        SET status = $4, returned_reason = $2, last_position = $3
                      WHERE application_id = $1",
                    &[
                        &application_id,
                        &reason,
                        &position,
                        &ApplicationState::Submitted,
                    ],
                )
                .await?;
            }
        }
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
