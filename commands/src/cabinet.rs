//! The cabinet's password change.

use k911_aggregates::account::{AccountCommand, AccountKind};
use k911_event_store::credentials;
use uuid::Uuid;

use crate::auth::Access;
use crate::auth::{hash_password, verify_password};
use crate::{CommandMeta, Error, Written};

impl Access {
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
        let now = self.core.clock.now();
        let attempt = self.take_attempt(&throttle, now).await?;
        let account = self.core.load(&self.account_store, account_id).await?;
        let credential = match account.kind() {
            AccountKind::Staff { password, .. } => Some(*password),
            AccountKind::Customer { password, .. } => *password,
            AccountKind::None => None,
        };
        let hash = match credential {
            Some(credential) => {
                credentials::password_hash(&self.core.db.sqlx, account_id, credential).await?
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
        let password = credentials::store(&self.core.db.sqlx, account_id, &password_hash).await?;
        let command = AccountCommand::ChangePassword { password, at: now };
        let written = self
            .core
            .execute(&self.accounts, account_id, command, meta)
            .await?;
        self.end_other_sessions(account_id, current_token).await?;
        Ok(written)
    }
}
