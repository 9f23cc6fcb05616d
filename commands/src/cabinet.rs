//! The borrower's cabinet: their own profile, applying again with only what changed, and their
//! password.

use k911_aggregates::account::{AccountCommand, AccountKind};
use k911_aggregates::loan_application::applicant::{Applicant, PayoutMethod, ProfileChanges};
use k911_aggregates::loan_application::LoanRequest;
use k911_event_store::credentials;
use uuid::Uuid;

use crate::auth::{hash_password, verify_password};
use crate::onboarding::ApplicationForm;
use crate::{App, CommandMeta, Error, Written};

/// A repeat application: the loan, and whatever changed since the last one.
#[derive(Debug, Clone)]
pub struct RepeatForm {
    pub loan: LoanRequest,
    pub changes: ProfileChanges,
}

impl App {
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
        let application = self.load(&self.application_store, application_id).await?;
        let (Some(customer_id), Some((applicant, payout))) =
            (application.customer_id(), application.profile())
        else {
            return Err(Error::NotFound);
        };
        self.record_personal_data_read(underwriter_id, customer_id, purpose, meta)
            .await?;
        Ok((
            self.keys.open(applicant).await?,
            self.keys.open(payout).await?,
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
