//! The borrower's cabinet: their own profile, applying again with only what changed, and their
//! password.

use chrono::{DateTime, Utc};
use k911_aggregates::account::{AccountCommand, AccountKind};
use k911_aggregates::loan_application::applicant::{Applicant, PayoutMethod, ProfileChanges};
use k911_aggregates::loan_application::LoanRequest;
use k911_aggregates::values::{Email, MessageText, Phone};
use k911_event_store::credentials;
use k911_projections::cabinet::{self, ApplicationRow};
use uuid::Uuid;

use crate::auth::{hash_password, verify_password};
use crate::onboarding::ApplicationForm;
use crate::support::{opened, sealed};
use crate::{App, CommandMeta, Error, Written};

/// A repeat application: the loan, and whatever changed since the last one.
#[derive(Debug, Clone)]
pub struct RepeatForm {
    pub loan: LoanRequest,
    pub changes: ProfileChanges,
}

/// What the cabinet shows a customer about themselves, personal data opened.
#[derive(Debug, Clone)]
pub struct CustomerView {
    pub customer_id: Uuid,
    /// `registered` | `open`
    pub status: String,
    /// `email` | `phone`: how the customer logs in.
    pub login: String,
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

impl App {
    /// `GET /api/v1/me`: the customer's own data, from the cabinet read model.
    pub async fn customer_view(&self, customer_id: Uuid) -> Result<CustomerView, Error> {
        let client = self.db.pg.get().await?;
        let row = cabinet::customer(&**client, customer_id)
            .await?
            .ok_or(Error::NotFound)?;
        drop(client);
        let profile = match row.profile {
            Some(stored) => Some(self.keys.open(&sealed::<Applicant>(&stored)?).await?),
            None => None,
        };
        let payout = match row.payout {
            Some(stored) => Some(self.keys.open(&sealed::<PayoutMethod>(&stored)?).await?),
            None => None,
        };
        let email = match row.email {
            Some(stored) => Some(self.keys.open(&sealed::<Email>(&stored)?).await?),
            None => None,
        };
        Ok(CustomerView {
            customer_id,
            status: row.status,
            login: row.login,
            registered_at: row.registered_at,
            opened_at: row.opened_at,
            phone: self.keys.open(&sealed::<Phone>(&row.phone)?).await?,
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
    ) -> Result<Vec<ApplicationRow>, Error> {
        let client = self.db.pg.get().await?;
        Ok(cabinet::customer_applications(&**client, customer_id, limit, offset).await?)
    }

    /// One of the customer's own applications; another customer's is [`Error::NotFound`] as if
    /// it did not exist.
    pub async fn customer_application(
        &self,
        customer_id: Uuid,
        application_id: Uuid,
    ) -> Result<ApplicationRow, Error> {
        let client = self.db.pg.get().await?;
        cabinet::application(&**client, application_id)
            .await?
            .filter(|row| row.customer_id == customer_id)
            .ok_or(Error::NotFound)
    }

    /// `GET /api/v1/staff/applications?status=`: the underwriters' queue, oldest first, with
    /// the reasons of rejections opened.
    pub async fn applications_with_status(
        &self,
        status: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<StaffApplication>, Error> {
        let client = self.db.pg.get().await?;
        let rows = cabinet::applications_with_status(&**client, status, limit, offset).await?;
        drop(client);
        let mut applications = Vec::with_capacity(rows.len());
        for row in rows {
            applications.push(self.for_staff(row).await?);
        }
        Ok(applications)
    }

    async fn for_staff(&self, row: ApplicationRow) -> Result<StaffApplication, Error> {
        let rejection_reason = match &row.rejection_reason {
            Some(stored) => opened(self.keys.open(&sealed::<MessageText>(stored)?).await)?,
            None => None,
        };
        Ok(StaffApplication {
            row,
            rejection_reason,
        })
    }

    /// An application for its underwriter, the applicant's personal data opened; the read is
    /// recorded (who, whose, why) before anything is shown.
    pub async fn application_for_underwriter(
        &self,
        application_id: Uuid,
        underwriter_id: Uuid,
        purpose: &str,
        meta: &CommandMeta,
    ) -> Result<(StaffApplication, Applicant, PayoutMethod), Error> {
        let client = self.db.pg.get().await?;
        let row = cabinet::application(&**client, application_id)
            .await?
            .ok_or(Error::NotFound)?;
        drop(client);
        // The sealed profile comes from the application's own events.
        let application = self.load(&self.application_store, application_id).await?;
        let (applicant, payout) = application.profile().ok_or(Error::NotFound)?;
        self.record_personal_data_read(underwriter_id, row.customer_id, purpose, meta)
            .await?;
        Ok((
            self.for_staff(row).await?,
            self.keys.open(applicant).await?,
            self.keys.open(payout).await?,
        ))
    }

    /// The customer's profile and payout method as their latest decided application has them:
    /// what a repeat application starts from. Only for an opened cabinet.
    pub async fn current_profile(
        &self,
        customer_id: Uuid,
    ) -> Result<(Applicant, PayoutMethod), Error> {
        let account = self.load(&self.account_store, customer_id).await?;
        let AccountKind::Customer {
            latest_application,
            opened_by: Some(_),
            ..
        } = account.kind()
        else {
            return Err(Error::NotFound);
        };
        let application = self
            .load(&self.application_store, *latest_application)
            .await?;
        let (applicant, payout) = application.profile().ok_or(Error::NotFound)?;
        Ok((
            self.keys.open(applicant).await?,
            self.keys.open(payout).await?,
        ))
    }

    /// `POST /api/v1/me/applications`: a new application prefilled from `profile` (the
    /// customer's [`current_profile`](Self::current_profile), which the form was checked
    /// against). The changes are recorded on the account (sealed), the full profile travels with
    /// the application as the underwriter will judge it.
    pub async fn apply_again(
        &self,
        customer_id: Uuid,
        profile: (Applicant, PayoutMethod),
        form: RepeatForm,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        self.settings
            .product
            .check(form.loan.amount, form.loan.term_days)?;
        if let Some(payout) = &form.changes.payout {
            self.check_payout(payout).await?;
        }
        let (applicant, payout) = profile;
        if let Some(passport) = &form.changes.passport {
            let hash = self.keys.lookup_hash(&passport.identity());
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
            Some((self.keys.seal(customer_id, &form.changes).await?, fields))
        };
        let (applicant, payout) = form.changes.applied_to(applicant, payout);
        let application = ApplicationForm {
            applicant,
            loan: form.loan,
            payout,
            referral_code: None,
        };
        self.start_and_submit(customer_id, application, changes, true, meta)
            .await
    }

    /// `PUT /api/v1/me/password`: the current password proves it is the holder; every other
    /// session of the account ends.
    pub async fn change_password(
        &self,
        account_id: Uuid,
        current_token: &str,
        current_password: &str,
        new_password: &str,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let throttle = self.throttle_key(&format!("password-change:{account_id}"));
        let now = self.clock.now();
        let attempt = self.take_attempt(&throttle, now).await?;
        let account = self.load(&self.account_store, account_id).await?;
        let credential = match account.kind() {
            AccountKind::Staff { password, .. } => Some(*password),
            AccountKind::Customer { password, .. } => *password,
            AccountKind::None => None,
        };
        let hash = match credential {
            Some(credential) => {
                credentials::password_hash(&self.db.sqlx, account_id, credential).await?
            }
            None => None,
        };
        let Some(hash) = hash else {
            return Err(k911_aggregates::account::AccountError::NoPassword.into());
        };
        let (current, new) = (current_password.to_string(), new_password.to_string());
        let new_hash = self
            .hashing(move || verify_password(&current, &hash).then(|| hash_password(&new)))
            .await?;
        let Some(password_hash) = new_hash else {
            self.failed_attempt(&throttle, attempt, now).await?;
            return Err(Error::WrongCurrentPassword);
        };
        self.forget_attempts(&throttle).await?;
        let password = credentials::store(&self.db.sqlx, account_id, &password_hash).await?;
        let command = AccountCommand::ChangePassword { password, at: now };
        let written = self
            .execute(&self.accounts, account_id, command, meta)
            .await?;
        self.end_other_sessions(account_id, current_token).await?;
        Ok(written)
    }
}
